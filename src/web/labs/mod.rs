//! What every lab shares: the command queue that event handlers fill and the lab's frame
//! loop drains, the training runner that fits steps into the frame budget, the settings form
//! (checked by the same rules as links), the dataset picker with sprite-sheet import, and
//! the share and export buttons.
//!
//! Each lab is one async loop that owns its model: it wakes every animation frame, applies
//! the queued commands, records as many training steps as fit in ~12 ms, and redraws.
//! Event handlers never touch the model, so nothing is borrowed across an `await`.

pub mod gan;
pub mod pixel_rnn;
pub mod vae;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::{DragEvent, HtmlElement, HtmlInputElement, HtmlSelectElement};

use super::canvas::Display;
use super::dom;
use crate::data::{self, Dataset, DatasetKind, MoonJitter, SheetOptions};
use crate::gpu::Gpu;
use crate::io::link::{Lab, Link};

/// What every lab gets: the device, the shared display pipeline, which tab is showing, and
/// each lab's current link (the address bar shows the active one).
#[derive(Clone)]
pub struct Ctx {
    pub gpu: Gpu,
    pub display: Rc<Display>,
    pub active: Rc<Cell<Lab>>,
    pub links: Rc<RefCell<HashMap<Lab, Link>>>,
}

impl Ctx {
    /// Records `link` as its lab's setup; if that lab is showing, the address bar too.
    pub fn publish(&self, link: &Link) {
        self.links.borrow_mut().insert(link.lab, link.clone());
        if self.active.get() == link.lab {
            dom::replace_link(&link.to_query());
        }
    }

    pub fn is_active(&self, lab: Lab) -> bool {
        self.active.get() == lab
    }
}

/// User actions, queued by event handlers, applied by the lab's loop between frames.
#[derive(Debug)]
pub enum Cmd {
    Train,
    Pause,
    Step,
    Reset,
    /// A setting in the form changed: key and text.
    Edit(String, String),
    /// A sprite sheet was chosen or dropped: file name and bytes.
    Sheet(String, Vec<u8>),
    /// Reading a chosen file failed.
    FileError(String),
    CopyLink,
    /// Export model `0` (or `1`: the lab's second model).
    Export(usize),
    Import(String, Vec<u8>),
    /// A click on a picker canvas at CSS pixel (x, y) (VAE: a held-out image to interpolate).
    Pick(f64, f64),
    /// A point dragged on latent map `0` or `1`.
    Point(usize, f32, f32),
    NewNoise,
    /// Load the bundled trained models.
    Pretrained,
    /// Complete the picked sprite under its cover (PixelRNN).
    Complete,
    /// Paint new sprites from nothing (PixelRNN).
    Sample,
}

#[derive(Clone, Default)]
pub struct Queue(Rc<RefCell<VecDeque<Cmd>>>);

impl Queue {
    pub fn push(&self, cmd: Cmd) {
        let mut q = self.0.borrow_mut();
        // Drags arrive far faster than frames: keep only the latest point per map.
        if let Cmd::Point(map, ..) = cmd {
            q.retain(|c| !matches!(c, Cmd::Point(m, ..) if *m == map));
        }
        q.push_back(cmd);
    }

    pub fn take(&self) -> Vec<Cmd> {
        self.0.borrow_mut().drain(..).collect()
    }
}

/// Fits training into the frame budget and keeps the GPU from running far ahead.
pub struct Runner {
    pub running: bool,
    /// Stop when this many steps are done (replaying a link, or one Step).
    pub target: Option<u32>,
    /// Steps recorded in recent frames, with their times, for steps/second.
    history: VecDeque<(f64, u32)>,
    /// Steps recorded in the last slice (sets how often figures are read back).
    pub last_slice: u32,
}

/// CPU time per frame spent recording training steps (the rest of a 16 ms frame is the
/// page's: drawing, input).
pub const FRAME_BUDGET_MS: f64 = 12.0;
/// Most steps recorded in one frame, whatever the budget.
const MAX_STEPS_PER_FRAME: u32 = 256;

impl Runner {
    pub fn new() -> Runner {
        Runner { running: false, target: None, history: VecDeque::new(), last_slice: 1 }
    }

    /// How often the figures should be read back: about once a frame, and every step when
    /// stepping one at a time (`done` = steps taken so far).
    pub fn monitor_every(&self, done: u32) -> u32 {
        if self.target == Some(done + 1) {
            1
        } else {
            self.last_slice.clamp(1, 50)
        }
    }

    /// How many steps may be recorded beyond the last step whose figures came back: past
    /// that, the loop waits (frames keep coming) until the GPU catches up.
    pub fn max_ahead(&self) -> u32 {
        2 * self.last_slice.clamp(1, 50) + 4
    }

    /// Records steps with `step` until the frame budget is spent, the target is reached, or
    /// the GPU is too far behind (`done` = steps taken so far, `arrived` = the latest step
    /// whose figures have come back). Returns the steps recorded.
    pub fn slice(
        &mut self,
        done: u32,
        arrived: u32,
        mut step: impl FnMut() -> crate::Result<()>,
    ) -> crate::Result<u32> {
        let start = dom::now();
        let mut n = 0;
        while self.running && n < MAX_STEPS_PER_FRAME {
            let at = done + n;
            if self.target.is_some_and(|t| at >= t) {
                self.running = false;
                self.target = None;
                break;
            }
            if at.saturating_sub(arrived) >= self.max_ahead() {
                break;
            }
            step()?;
            n += 1;
            if dom::now() - start > FRAME_BUDGET_MS {
                break;
            }
        }
        if n > 0 {
            self.last_slice = n;
        }
        // Throughput is measured on steps the GPU has finished, not merely recorded.
        self.history.push_back((dom::now(), arrived));
        while self.history.len() > 2 && self.history[0].0 < dom::now() - 5000.0 {
            self.history.pop_front();
        }
        Ok(n)
    }

    /// Training steps finished per second over the last five seconds.
    pub fn rate(&self) -> Option<f64> {
        let (&(t0, s0), &(t1, s1)) = (self.history.front()?, self.history.back()?);
        (t1 - t0 > 1000.0 && s1 > s0).then(|| (s1 - s0) as f64 / ((t1 - t0) / 1000.0))
    }

    pub fn forget_rate(&mut self) {
        self.history.clear();
    }
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new()
    }
}

/// Wires the Train / Pause / Step / Reset buttons and the share and export buttons of `lab`.
pub fn wire_buttons(lab: Lab, queue: &Queue) {
    let name = lab.name();
    type Make = fn() -> Cmd;
    let simple: [(&str, Make); 5] = [
        ("train", || Cmd::Train),
        ("pause", || Cmd::Pause),
        ("step", || Cmd::Step),
        ("reset", || Cmd::Reset),
        ("copy-link", || Cmd::CopyLink),
    ];
    for (id, make) in simple {
        let q = queue.clone();
        dom::on_id::<web_sys::Event>(&format!("{name}-{id}"), "click", move |_| q.push(make()));
    }
    for which in 0..2 {
        let id = format!("{name}-export{}", if which == 0 { String::new() } else { which.to_string() });
        if dom::try_get::<HtmlElement>(&id).is_some() {
            let q = queue.clone();
            dom::on_id::<web_sys::Event>(&id, "click", move |_| q.push(Cmd::Export(which)));
        }
    }
    let pretrained_id = format!("{name}-pretrained");
    if dom::try_get::<HtmlElement>(&pretrained_id).is_some() {
        let q = queue.clone();
        dom::on_id::<web_sys::Event>(&pretrained_id, "click", move |_| q.push(Cmd::Pretrained));
    }
    let import_id = format!("{name}-import");
    if let Some(input) = dom::try_get::<HtmlInputElement>(&import_id) {
        let q = queue.clone();
        dom::on::<web_sys::Event>(input.clone().as_ref(), "change", move |_| {
            if let Some(file) = dom::take_file(&input) {
                let q = q.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    match dom::read_file(&file).await {
                        Ok(bytes) => q.push(Cmd::Import(file.name(), bytes)),
                        Err(e) => q.push(Cmd::FileError(e)),
                    }
                });
            }
        });
    }
}

/// Puts the link's values in the form (`#{lab}-{key}` inputs) and sends edits as commands.
pub fn wire_form(link: &Link, queue: &Queue) {
    for key in link.keys() {
        let id = format!("{}-{key}", link.lab.name());
        let Some(element) = dom::try_get::<HtmlElement>(&id) else { continue };
        let q = queue.clone();
        let key = key.to_string();
        let el = element.clone();
        dom::on::<web_sys::Event>(element.as_ref(), "change", move |_| {
            q.push(Cmd::Edit(key.clone(), field_value(&el)));
        });
    }
    fill_form(link);
}

fn field_value(element: &HtmlElement) -> String {
    if let Some(input) = element.dyn_ref::<HtmlInputElement>() {
        if input.type_() == "checkbox" {
            return if input.checked() { "1" } else { "0" }.into();
        }
        return input.value();
    }
    if let Some(select) = element.dyn_ref::<HtmlSelectElement>() {
        return select.value();
    }
    String::new()
}

/// Shows the link's values in the form, and only the dataset fields its kind uses.
pub fn fill_form(link: &Link) {
    let lab = link.lab.name();
    for key in link.keys() {
        let id = format!("{lab}-{key}");
        let Some(value) = link.value(key) else { continue };
        if let Some(input) = dom::try_get::<HtmlInputElement>(&id) {
            if input.type_() == "checkbox" {
                input.set_checked(value == "1");
            } else {
                input.set_value(&value);
            }
        } else if let Some(select) = dom::try_get::<HtmlSelectElement>(&id) {
            select.set_value(&value);
        }
    }
    let kind = link.data.kind;
    dom::show(&format!("{lab}-count-field"), kind != DatasetKind::Sheet);
    dom::show(&format!("{lab}-size-field"), kind != DatasetKind::Moons);
    dom::show(&format!("{lab}-colors-field"), kind == DatasetKind::Sheet);
    dom::set_text(
        &format!("{lab}-size-label"),
        if kind == DatasetKind::Sheet { "Tile size (px)" } else { "Sprite size (px)" },
    );
}

/// The sheet file input and drag-and-drop onto the lab: both send [`Cmd::Sheet`].
pub fn wire_sheet_input(lab: Lab, queue: &Queue) {
    let name = lab.name();
    let send = {
        let queue = queue.clone();
        move |file: web_sys::File| {
            let q = queue.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match dom::read_file(&file).await {
                    Ok(bytes) => q.push(Cmd::Sheet(file.name(), bytes)),
                    Err(e) => q.push(Cmd::FileError(e)),
                }
            });
        }
    };
    let input: HtmlInputElement = dom::get(&format!("{name}-sheet"));
    {
        let send = send.clone();
        let input2 = input.clone();
        dom::on::<web_sys::Event>(input.as_ref(), "change", move |_| {
            if let Some(file) = dom::take_file(&input2) {
                send(file);
            }
        });
    }
    let zone: HtmlElement = dom::get(&format!("lab-{name}"));
    let marker = zone.clone();
    dom::on::<DragEvent>(zone.as_ref(), "dragover", move |e| {
        e.prevent_default();
        dom::set_class(&marker, "dropping", true);
    });
    let marker = zone.clone();
    dom::on::<DragEvent>(zone.as_ref(), "dragleave", move |_| dom::set_class(&marker, "dropping", false));
    let marker = zone.clone();
    dom::on::<DragEvent>(zone.as_ref(), "drop", move |e| {
        e.prevent_default();
        dom::set_class(&marker, "dropping", false);
        if let Some(file) = e.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0)) {
            send(file);
        }
    });
}

/// The dataset a link describes; a sheet needs its file's bytes.
pub fn make_dataset(link: &Link, sheet: Option<&[u8]>) -> crate::Result<Dataset> {
    let d = &link.data;
    match d.kind {
        DatasetKind::Sprites => data::sprites(d.count, d.size, d.seed),
        DatasetKind::Moons => data::moons(d.count, d.seed, &MoonJitter::default()),
        DatasetKind::Sheet => match sheet {
            Some(bytes) => data::sheet_from_png(bytes, &SheetOptions { tile: d.size, colors: d.colors, seed: d.seed }),
            None => Err(crate::Error::Invalid(
                "choose your sprite sheet: a PNG cut into square tiles (drop it on the lab, or use the file picker)"
                    .into(),
            )),
        },
    }
}

/// Copies the full link of `link` to the clipboard; where the browser refuses, shows it in
/// the lab's link box for copying by hand.
pub fn copy_link(link: &Link) {
    let url = dom::full_link(&link.to_query());
    let lab = link.lab.name();
    let box_id = format!("{lab}-link-box");
    if let Some(input) = dom::try_get::<HtmlInputElement>(&box_id) {
        input.set_value(&url);
        dom::show(&box_id, true);
    }
    dom::set_text(&format!("{lab}-share-note"), "Link ready: it is in the box below.");
    // Only secure pages (https, localhost) have a clipboard; elsewhere it is undefined and
    // calling into it would throw.
    let navigator = dom::window().navigator();
    let note = format!("{lab}-share-note");
    let has_clipboard = js_sys::Reflect::get(&navigator, &"clipboard".into()).is_ok_and(|c| !c.is_undefined());
    if !has_clipboard {
        dom::set_text(&note, "This page cannot reach the clipboard: select the link below.");
        return;
    }
    let promise = navigator.clipboard().write_text(&url);
    wasm_bindgen_futures::spawn_local(async move {
        match wasm_bindgen_futures::JsFuture::from(promise).await {
            Ok(_) => dom::set_text(&note, "Link copied: it opens this setup and replays the training."),
            Err(_) => dom::set_text(&note, "The browser did not allow copying: select the link below."),
        }
    });
}

/// Sets a lab's status line; `error` styles it as a problem.
/// True when `link` holds the dataset the lab's bundled models were trained on (its default
/// kind of generated images, at the default size).
pub fn on_bundled_data(link: &Link) -> bool {
    let bundled = crate::io::link::DataLink::default_for(link.lab);
    (link.data.kind, link.data.size) == (bundled.kind, bundled.size)
}

/// Fetches `file` from the models bundled with the page (www/pretrained/) and hands it to
/// `import`. On failure the lab's status line says why, and `None` comes back.
pub async fn load_bundled(lab: Lab, file: &str, import: impl FnOnce(&[u8]) -> crate::Result<String>) -> Option<()> {
    status(lab, "Fetching the trained model…", false);
    let result = match dom::fetch_bytes(&format!("pretrained/{file}")).await {
        Ok(bytes) => import(&bytes).map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Some(()),
        Err(e) => {
            status(lab, &format!("The trained model {file} could not be loaded: {e}"), true);
            None
        }
    }
}

pub fn status(lab: Lab, text: &str, error: bool) {
    let id = format!("{}-status", lab.name());
    if let Ok(e) = dom::by_id(&id) {
        e.set_text_content(Some(text));
        e.set_class_name(if error { "status error" } else { "status" });
    }
}

/// Enables Train / Pause per the running state.
pub fn show_running(lab: Lab, running: bool, can_train: bool) {
    let name = lab.name();
    dom::set_disabled(&format!("{name}-train"), running || !can_train);
    dom::set_disabled(&format!("{name}-pause"), !running);
    dom::set_disabled(&format!("{name}-step"), running || !can_train);
    if let Ok(body) = dom::by_id(&format!("lab-{name}")) {
        let _ = body.set_attribute("data-running", if running { "1" } else { "0" });
    }
}

/// `step 1234 · 56 steps/s`, and the step count as a data attribute for tests.
pub fn show_steps(lab: Lab, steps: u32, rate: Option<f64>, running: bool) {
    let name = lab.name();
    dom::set_text(&format!("{name}-steps"), &format!("step {steps}"));
    let rate = match rate {
        _ if !running => "paused".into(),
        Some(r) if r >= 10.0 => format!("{r:.0} steps/s"),
        Some(r) => format!("{r:.1} steps/s"),
        None => "measuring…".into(),
    };
    dom::set_text(&format!("{name}-rate"), &rate);
    if let Ok(e) = dom::by_id(&format!("lab-{name}")) {
        let _ = e.set_attribute("data-steps", &steps.to_string());
    }
}

/// The same safetensors file with its JSON header's keys sorted. The writer takes the
/// metadata from a `HashMap`, whose order changes from run to run; sorted, the same weights
/// always download as the same bytes (an export, import, export round trip gives the file
/// back unchanged). The header stays padded with spaces to a multiple of 8 bytes, as the
/// format asks; the tensor data after it is untouched. Anything unexpected: the file as is.
pub fn canonical_file(bytes: Vec<u8>) -> Vec<u8> {
    let sorted = (|| {
        let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
        let header = bytes.get(8..8usize.checked_add(n)?)?;
        // serde_json's maps are BTreeMaps (no preserve_order feature): writing sorts them.
        let value: serde_json::Value = serde_json::from_slice(header).ok()?;
        let mut json = serde_json::to_vec(&value).ok()?;
        json.resize(json.len().div_ceil(8) * 8, b' ');
        let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - n);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&bytes[8 + n..]);
        Some(out)
    })();
    sorted.unwrap_or(bytes)
}

/// A file name for an exported model.
pub fn export_name(model: &str, dataset: &str, steps: u32) -> String {
    format!("genlab-{model}-{dataset}-step{steps}.safetensors")
}
