//! What every lab shares: the frame loop that drives it, and the command queue that event
//! handlers fill and that loop drains. The page controls that feed the queue (buttons,
//! settings form, dataset picker, status lines) are in [`controls`]; the training runner
//! that fits steps into the frame budget in [`runner`]; the models a lab trains, kept alike
//! by every lab, in [`trained`]; how often views and plots redraw in [`pace`]; what survives
//! a lost GPU or a diverging run in [`survival`].
//!
//! Each lab is one async loop that owns its model: it wakes every animation frame, applies
//! the queued commands, records as many training steps as fit in ~12 ms, and redraws.
//! Event handlers never touch the model, so nothing is borrowed across an `await`. The loop,
//! and the commands every lab answers alike, are written once here ([`run`]); a lab supplies
//! what is its own through [`LiveLab`].

mod commands;
mod controls;
pub mod gan;
mod moon_judge;
mod pace;
pub mod pixel_rnn;
mod runner;
pub mod survival;
mod trained;
pub mod vae;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use super::canvas::Display;
use super::dom;
use crate::data::{Dataset, DatasetKind};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::link::{DataLink, Lab, Link};
use crate::models::model::Header;
use crate::models::Model;
use crate::nn::snapshot::Resumable;
pub use commands::{Cmd, Queue};
pub use controls::build_controls;
use controls::{
    build_form, copy_link, download_model, fill_form, load_bundled, make_dataset, on_bundled_data, show_loss,
    show_running, show_step_count, show_steps, status, wire_buttons, wire_form, wire_sheet_input,
};
use pace::{Pace, ScreenPace};
pub use runner::Runner;
use trained::Trained;

/// What every lab gets: the device, the shared display pipeline, which tab is showing, and
/// each lab's current link (the address bar shows the active one).
#[derive(Clone)]
pub struct Ctx {
    pub gpu: Gpu,
    pub display: Rc<Display>,
    /// The page's device as it is now: a lab whose `gpu` was lost moves onto a newer one.
    pub devices: Rc<survival::Devices>,
    /// The generation of `gpu` (how many devices came before it).
    pub generation: u32,
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

/// What every lab holds besides its views: its setup, its models and what keeps them.
struct Core<M> {
    ctx: Ctx,
    /// The lab's setup; its `steps` are those of the link the page was opened with (replayed
    /// at the start), not the steps taken since.
    link: Link,
    queue: Queue,
    runner: Runner,
    /// The models and their dataset; None while there is no dataset.
    models: Option<Trained<M>>,
    /// The sprite sheet last chosen (a sheet dataset is cut from it).
    sheet: Option<Vec<u8>>,
    /// Whether the tab was showing last frame: showing it again publishes the lab's link.
    was_active: bool,
    /// Snapshots of the models, for a lost device or a diverging run.
    checkpoints: survival::Checkpoints,
    /// Set from the frame the device was found lost until the lab is on a new one.
    lost: Option<survival::Lost>,
    /// Devices lost and recovered from so far.
    recoveries: u32,
    /// A frame failed while training ran: if the device turns out lost (its loss may be
    /// reported a moment after the failed readback), training resumes on the new one.
    interrupted: bool,
    screen: ScreenPace,
}

impl<M> Core<M> {
    /// Wires the lab's buttons, settings form and sprite-sheet input to a fresh queue.
    fn new(ctx: Ctx, link: Link) -> Result<Core<M>> {
        let queue = Queue::default();
        wire_buttons(link.lab, &queue);
        build_form(link.lab)?;
        wire_form(&link, &queue);
        wire_sheet_input(link.lab, &queue)?;
        Ok(Core {
            ctx,
            link,
            queue,
            runner: Runner::new(),
            models: None,
            sheet: None,
            was_active: false,
            checkpoints: survival::Checkpoints::default(),
            lost: None,
            recoveries: 0,
            interrupted: false,
            screen: ScreenPace::default(),
        })
    }

    /// The dataset the link describes.
    fn dataset(&self) -> Result<Dataset> {
        make_dataset(&self.link, self.sheet.as_deref())
    }
}

/// What a lab tells the shared frame loop ([`run`]); everything else about the lab is its own.
/// `redraw` and `apply_own` are async because some of their work reads back from the GPU
/// (the VAE's codes, an export's weights).
trait LiveLab {
    /// What the lab trains.
    type Model: Model + 'static;
    const LAB: Lab;
    /// The bundled trained models (in www/pretrained/, made with the command line), loaded in
    /// this order by "No time?".
    const PRETRAINED: &'static [&'static str];
    /// The end of the status line after a setting changed: "the GAN starts again from step 0."
    const STARTS_AGAIN: &'static str;
    /// The status line's words for a refused model file: "the GAN is unchanged".
    const UNCHANGED: &'static str;
    /// Whether the views show what the models make, and so are out of date after training.
    const VIEWS_FOLLOW_TRAINING: bool = true;

    fn core(&self) -> &Core<Self::Model>;
    fn core_mut(&mut self) -> &mut Core<Self::Model>;

    fn models(&self) -> Option<&Trained<Self::Model>> {
        self.core().models.as_ref()
    }

    /// Steps the model has taken (an imported one counts those it came with); None while
    /// there is no model (no dataset).
    fn steps(&self) -> Option<u32> {
        self.models().map(Trained::steps)
    }

    /// The latest step whose figures have come back from the GPU (0 with no model).
    fn arrived(&self) -> u32 {
        self.models().map_or(0, Trained::arrived)
    }

    /// Drops the models and what was drawn from them, then makes the dataset and fresh
    /// models from the link (on failure there are none).
    fn remake(&mut self) -> Result<()>;

    /// Records this frame's training steps through `core.runner`; returns how many.
    fn train(&mut self) -> Result<u32> {
        let core = self.core_mut();
        let Some(models) = core.models.as_mut() else { return Ok(0) };
        let steps = models.train(&mut core.runner, &core.ctx.gpu)?;
        if steps > 0 && Self::VIEWS_FOLLOW_TRAINING {
            self.stale();
        }
        Ok(steps)
    }

    /// Everything drawn is out of date.
    fn stale(&mut self);

    /// Moves the figures that have come back from the GPU into the plots, and shows them
    /// when `show` (a screen update, see [`ScreenPace`]).
    fn collect_figures(&mut self, show: bool) -> Result<()>;

    /// Redraws what changed: every frame while paused, in screen updates while training.
    async fn redraw(&mut self) -> Result<()>;

    /// The tab is showing again: what changed while it was hidden must be drawn.
    fn shown(&mut self);

    /// Setting `key` has just changed in the link (not yet fixed): returns whether the models
    /// must be made again, as they must for most settings.
    fn edited(&mut self, _key: &str) -> bool {
        true
    }

    /// Setting `key` has just changed and is one the models can take as they are (a learning
    /// rate): they take it, and the words say so; None when they cannot.
    fn retune(&mut self, _key: &str) -> Option<String> {
        None
    }

    /// The dataset as a sheet just cut it ("12 tiles of 16×16"); None when it failed.
    fn sheet_summary(&self) -> Option<String>;

    /// Loads a model file where it fits the lab, and says what it loaded; a file that does
    /// not fit leaves everything as it was.
    fn import(&mut self, bytes: &[u8]) -> Result<String>;

    /// The bundled models have just been imported, trained `steps` steps: say what to do next.
    fn pretrained_loaded(&mut self, steps: u32);

    /// The commands only some labs have (export, pick, complete, …).
    async fn apply_own(&mut self, cmd: Cmd) -> Result<()>;

    /// A frame failed and training has stopped: whatever else the lab was doing stops too.
    fn frame_failed(&mut self) {}

    /// The models that train, in a fixed order (the VAE lab: the VAE, then the autoencoder);
    /// their snapshots survive a lost device and a diverging run.
    fn nets(&self) -> Vec<&dyn Resumable> {
        self.models().map_or_else(Vec::new, |m| m.nets.iter().map(|n| n as &dyn Resumable).collect())
    }

    fn nets_mut(&mut self) -> Vec<&mut dyn Resumable> {
        match self.core_mut().models.as_mut() {
            Some(m) => m.nets.iter_mut().map(|n| n as &mut dyn Resumable).collect(),
            None => Vec::new(),
        }
    }

    /// Makes the views again on the current display (the device was replaced).
    fn remake_views(&mut self) -> Result<()>;

    /// The models were just restored from snapshots; the first model had taken `offset`
    /// steps before this page trained it (an imported model's). Everything drawn is stale.
    fn restored(&mut self, offset: u32) {
        if let Some(models) = self.core_mut().models.as_mut() {
            models.restored(offset);
        }
        self.stale();
    }

    fn can_train(&self) -> bool {
        self.steps().is_some()
    }

    /// The link of what is on screen now, with the steps taken.
    fn current_link(&self) -> Link {
        let mut link = self.core().link.clone();
        link.steps = self.steps().unwrap_or(0);
        link
    }
}

/// Starts every model lab: the one the page opened with on `opened`, the others on their
/// defaults.
pub fn start(ctx: &Ctx, opened: &Link) {
    let link_for = |lab: Lab| if opened.lab == lab { opened.clone() } else { Link::for_lab(lab) };
    pixel_rnn::start(ctx.clone(), link_for(Lab::PixelRnn));
    vae::start(ctx.clone(), link_for(Lab::Vae));
    gan::start(ctx.clone(), link_for(Lab::Gan));
}

/// Starts a lab's life ([`run`]) once it is made; a lab that could not be made says why.
fn launch<L: LiveLab + 'static>(lab: Result<L>) {
    match lab {
        Ok(lab) => wasm_bindgen_futures::spawn_local(run(lab)),
        Err(e) => status(L::LAB, &format!("This lab cannot run on this page: {e}"), true),
    }
}

/// A lab's life: its first models (training on to the link's step count, if it has one),
/// then a frame every animation frame. A failed frame stops training and says why.
async fn run<L: LiveLab>(mut lab: L) {
    let replay = lab.core().link.steps;
    rebuild(&mut lab, false);
    if replay > 0 && lab.can_train() {
        lab.core_mut().runner.start(Some(replay));
        status(L::LAB, &format!("Replaying the link: training to step {replay}…"), false);
    }
    loop {
        dom::next_frame().await;
        match frame(&mut lab).await {
            Ok(()) => {}
            // The next frame moves onto a new device; training resumes if it was running.
            Err(Error::DeviceLost(_)) => lab.frame_failed(),
            Err(e @ Error::Diverged { .. }) => {
                lab.core_mut().runner.stop();
                lab.frame_failed();
                let words = survival::after_divergence(&mut lab, &e);
                status(L::LAB, &words, true);
                show_running(L::LAB, false, lab.can_train());
            }
            Err(e) => {
                let core = lab.core_mut();
                // A lost device can fail several frames before `device.lost` says so: the
                // second must not forget that the first stopped training.
                core.interrupted |= core.runner.running;
                core.runner.stop();
                lab.frame_failed();
                status(L::LAB, &e.to_string(), true);
            }
        }
    }
}

/// One frame: the queued commands, and while the tab shows, a slice of training, the figures
/// that came back, and the views.
async fn frame<L: LiveLab>(lab: &mut L) -> Result<()> {
    if !survival::ensure_device(lab).await {
        // No device: exports work (from the last checkpoint); the rest waits for one.
        let (exports, rest): (Vec<Cmd>, Vec<Cmd>) =
            lab.core().queue.take().into_iter().partition(|cmd| matches!(cmd, Cmd::Export(_)));
        for cmd in rest {
            lab.core().queue.push(cmd);
        }
        for cmd in exports {
            if let Err(e) = lab.apply_own(cmd).await {
                status(L::LAB, &e.to_string(), true);
            }
        }
        return Ok(());
    }
    lab.core().ctx.gpu.health()?;
    let active = lab.core().ctx.is_active(L::LAB);
    if active && !lab.core().was_active {
        lab.core().ctx.publish(&lab.current_link());
        lab.shown();
    }
    lab.core_mut().was_active = active;
    for cmd in lab.core().queue.take() {
        // One command failing (a download refused, say) must not drop the ones after it.
        if let Err(e) = apply(lab, cmd).await {
            status(L::LAB, &e.to_string(), true);
        }
    }
    if !active {
        return Ok(());
    }
    // The screen changes in one frame now and then (see [`ScreenPace`]): figures, plots and
    // views together, views first. They wait for a moment when little training is queued
    // ahead of them: a draw or a readback waits behind every step already submitted, and on
    // a slow GPU one step can take longer than many frames; so while an update is due, no
    // new step is recorded until the queue is short. Training is recorded after the views.
    let now = dom::now();
    let (done, arrived) = (lab.steps().unwrap_or(0), lab.arrived());
    let core = lab.core_mut();
    core.screen.frame(now, core.runner.running);
    let due = core.screen.due(now, core.runner.running);
    let queue_is_short = core.runner.queue_is_short(&core.ctx.gpu, done, arrived);
    let update = due && queue_is_short;
    lab.collect_figures(update)?;
    if update {
        lab.redraw().await?;
        lab.core_mut().screen.updated(now);
    }
    lab.core_mut().runner.held = due && !queue_is_short;
    let was_running = lab.core().runner.running;
    train_slice(lab, update)?;
    survival::tick(lab)?;
    show_holdings(&lab.core().ctx.gpu);
    if was_running && !lab.core().runner.running {
        // A replay or a single step just finished.
        lab.core().ctx.publish(&lab.current_link());
        let replayed = lab.core().link.steps;
        if replayed > 0 && lab.steps() == Some(replayed) {
            status(L::LAB, &format!("Replayed the link's {replayed} steps: this is the model it describes."), false);
        }
    }
    Ok(())
}

/// Records the frame's training steps; shows the step line when `show_figures`.
fn train_slice<L: LiveLab>(lab: &mut L, show_figures: bool) -> Result<()> {
    if !lab.can_train() {
        lab.core_mut().runner.running = false;
        show_running(L::LAB, false, false);
        return Ok(());
    }
    lab.train()?;
    let core = lab.core();
    let runner = &core.runner;
    // How the runner paces the steps, for bench/frames.mjs.
    if let (Ok(el), (Some(ms), slices)) = (dom::by_id(&format!("lab-{}", L::LAB.name())), runner.pacing()) {
        let _ = el.set_attribute("data-step-ms", &format!("{ms:.1}"));
        let _ = el.set_attribute("data-slices", &slices.to_string());
        let _ = el.set_attribute("data-screen-ms", &format!("{:.0}", core.screen.interval()));
    }
    show_running(L::LAB, runner.running, true);
    let steps = lab.steps().unwrap_or(0);
    if show_figures || !runner.running {
        show_steps(L::LAB, steps, runner.rate(), runner.running);
    } else {
        show_step_count(L::LAB, steps);
    }
    Ok(())
}

/// Makes the dataset and fresh models from the link. `keep_running`: carry on training.
fn rebuild<L: LiveLab>(lab: &mut L, keep_running: bool) {
    let runner = &mut lab.core_mut().runner;
    runner.target = None;
    runner.forget_rate();
    runner.running &= keep_running;
    let error_box = format!("{}-data-error", L::LAB.name());
    dom::show(&error_box, false);
    lab.core_mut().checkpoints.reset();
    match lab.remake() {
        Ok(()) => status(L::LAB, "Ready. Press Train.", false),
        Err(e) => {
            dom::set_text(&error_box, &e.to_string());
            dom::show(&error_box, true);
            status(L::LAB, "No dataset: see above.", true);
        }
    }
    show_steps(L::LAB, 0, None, false);
    show_running(L::LAB, lab.core().runner.running, lab.can_train());
    fill_form(&lab.core().link);
    lab.core().ctx.publish(&lab.current_link());
}

/// The commands every lab answers alike; the rest go to the lab.
async fn apply<L: LiveLab>(lab: &mut L, cmd: Cmd) -> Result<()> {
    let running = lab.core().runner.running;
    // What the person asks for now replaces what a failed frame interrupted.
    lab.core_mut().interrupted = false;
    match cmd {
        Cmd::Train => {
            if lab.can_train() {
                lab.core_mut().runner.start(None);
                status(L::LAB, "Training…", false);
            }
        }
        Cmd::Pause => {
            lab.core_mut().runner.stop();
            status(L::LAB, "Paused.", false);
            lab.core().ctx.publish(&lab.current_link());
        }
        Cmd::Step => {
            if let Some(steps) = lab.steps() {
                lab.core_mut().runner.start(Some(steps + 1));
            }
        }
        Cmd::Reset => rebuild(lab, running),
        Cmd::Edit(key, value) => edit(lab, &key, &value),
        Cmd::Sheet(name, bytes) => {
            let core = lab.core_mut();
            core.sheet = Some(bytes);
            core.link.data.kind = DatasetKind::Sheet;
            // A sheet is a new value of the `data` setting.
            lab.edited("data");
            lab.core_mut().link.fix();
            rebuild(lab, running);
            if let Some(summary) = lab.sheet_summary() {
                status(L::LAB, &format!("{name}: {summary}"), false);
                dom::set_text(&format!("{}-sheet-name", L::LAB.name()), &name);
            }
        }
        Cmd::FileError(e) => status(L::LAB, &e, true),
        Cmd::CopyLink => copy_link(&lab.current_link()),
        Cmd::Import(name, bytes) => match lab.import(&bytes) {
            Ok(what) => {
                // A model that arrives with its own step count is not a jump in speed.
                lab.core_mut().runner.forget_rate();
                lab.core_mut().checkpoints.reset();
                status(L::LAB, &format!("{name}: {what}"), false)
            }
            Err(e) => status(L::LAB, &format!("{name} was not loaded, {}: {e}", L::UNCHANGED), true),
        },
        Cmd::Pretrained => load_pretrained(lab).await,
        own => lab.apply_own(own).await?,
    }
    Ok(())
}

/// Shows what a model file just brought (its settings in the form and the link, its steps)
/// and says what it was: `what` ("a GAN") and the file's header.
fn show_imported<L: LiveLab>(lab: &L, what: &str, header: &impl Header) -> String {
    let core = lab.core();
    fill_form(&core.link);
    core.ctx.publish(&lab.current_link());
    show_steps(L::LAB, header.steps(), None, core.runner.running);
    format!("loaded {what} trained {} steps on {}.", header.steps(), header.dataset())
}

/// A setting changed in the form: a value the link refuses is reported and shown as it was;
/// any other (as the link fixes it) makes new models, unless the lab takes it as it is.
fn edit<L: LiveLab>(lab: &mut L, key: &str, value: &str) {
    let link = &mut lab.core_mut().link;
    if let Err(e) = link.set_value(key, value) {
        status(L::LAB, &format!("{e}; kept {}", link.value(key).unwrap_or_default()), true);
        fill_form(link);
        return;
    }
    if let Some(words) = lab.retune(key) {
        status(L::LAB, &words, false);
        lab.core().ctx.publish(&lab.current_link());
        return;
    }
    if !lab.edited(key) {
        return;
    }
    let fixed = lab.core_mut().link.fix();
    let running = lab.core().runner.running;
    rebuild(lab, running);
    if !fixed.is_empty() {
        let words: Vec<String> = fixed.iter().map(ToString::to_string).collect();
        status(L::LAB, &words.join(" · "), false);
    } else if lab.can_train() {
        status(L::LAB, &format!("{key} changed: {}", L::STARTS_AGAIN), false);
    }
}

/// Loads the lab's bundled models, first switching to the data they were trained on where
/// the lab shows other data (or none). Training stops: the models arrive as they were saved.
async fn load_pretrained<L: LiveLab>(lab: &mut L) {
    if !on_bundled_data(&lab.core().link) || !lab.can_train() {
        lab.core_mut().link.data = DataLink::default_for(L::LAB);
        // The bundled data is a new value of the `data` setting.
        lab.edited("data");
        lab.core_mut().link.fix();
        rebuild(lab, false);
    }
    lab.core_mut().runner.stop();
    for file in L::PRETRAINED {
        if load_bundled(L::LAB, file, |bytes| lab.import(bytes)).await.is_none() {
            return;
        }
    }
    lab.core_mut().runner.forget_rate();
    lab.core_mut().checkpoints.reset();
    lab.pretrained_loaded(lab.steps().unwrap_or(0));
}

/// What genlab holds on the GPU, as data attributes of the page's body (bench/soak.mjs
/// watches them for leaks over a long session).
fn show_holdings(gpu: &Gpu) {
    let Some(body) = dom::document().body() else { return };
    let h = gpu.holdings();
    for (name, value) in [
        ("data-gpu-buffers", h.buffers_in_use + h.buffers_free + h.readbacks),
        ("data-gpu-bytes", h.bytes_in_use + h.bytes_free),
        ("data-gpu-bind-groups", h.bind_groups),
    ] {
        let _ = body.set_attribute(name, &value.to_string());
    }
}

/// Scale that makes an image about `target` CSS pixels tall.
fn scale_for(height: usize, target: usize) -> usize {
    (target / height.max(1)).max(1)
}
