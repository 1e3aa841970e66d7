//! The page controls every lab has, tied to its command queue: the Train / Pause / Step /
//! Reset, share, export and import buttons, the settings form (checked by the same rules as
//! links), the dataset picker with sprite-sheet import, the bundled models, and the status
//! lines the labs write to.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    DocumentFragment, DragEvent, Element, HtmlElement, HtmlInputElement, HtmlSelectElement, HtmlTemplateElement,
};

use super::{Cmd, Queue};
use crate::data::{self, Dataset, DatasetKind, MoonJitter, SheetOptions};
use crate::error::{Error, Result};
use crate::link::{Input, Lab, LabSetting, Link};
use crate::web::dom;

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

/// Builds the lab's controls column (`#{lab}-controls`) from the page's one
/// `<template id="lab-controls">`: its ids `LAB-…` become `{lab}-…`, and each of its slots
/// (`data-slot="…"`) gives way to the lab's own elements that fill it (`data-fills="…"`:
/// the bundled-model button, the export buttons).
pub fn build_controls(lab: Lab) -> Result<()> {
    let js = |e: JsValue| Error::Invalid(format!("the page could not build the {} controls: {e:?}", lab.title()));
    let template: HtmlTemplateElement = dom::get("lab-controls")?;
    let column: Element = dom::get(&format!("{}-controls", lab.name()))?;
    let copy: DocumentFragment = template.content().clone_node_with_deep(true).map_err(js)?.unchecked_into();
    let named = copy.query_selector_all("[id]").map_err(js)?;
    for element in (0..named.length()).filter_map(|i| named.item(i)?.dyn_into::<Element>().ok()) {
        element.set_id(&element.id().replacen("LAB-", &format!("{}-", lab.name()), 1));
    }
    let slots = copy.query_selector_all("[data-slot]").map_err(js)?;
    for slot in (0..slots.length()).filter_map(|i| slots.item(i)?.dyn_into::<Element>().ok()) {
        let name = slot.get_attribute("data-slot").unwrap_or_default();
        let fills = column.query_selector_all(&format!("[data-fills=\"{name}\"]")).map_err(js)?;
        let parent = slot.parent_node().ok_or_else(|| Error::Invalid("a template slot has no parent".into()))?;
        for fill in (0..fills.length()).filter_map(|i| fills.item(i)) {
            parent.insert_before(&fill, Some(&slot)).map_err(js)?;
        }
        slot.remove();
    }
    column.append_child(&copy).map_err(js)?;
    Ok(())
}

/// Builds the lab's forms from the declared settings: the dataset's into
/// `#{lab}-data-settings` and the model's into `#{lab}-settings`. Each setting becomes a
/// number box, a list or a checkbox, its help the tooltip; a field's label is
/// `#{lab}-{key}-field` and its words `#{lab}-{key}-label`, for the views that change them.
/// A setting whose element the page already has (the PixelRNN's temperature slider) keeps
/// that one.
pub fn build_form(lab: Lab) -> Result<()> {
    let name = lab.name();
    build_fields(lab, &format!("{name}-data-settings"), lab.data_settings(), true)?;
    build_fields(lab, &format!("{name}-settings"), lab.form_settings(), false)
}

/// `settings` as fields in `#{container_id}`: number boxes in a two-column grid, lists in it
/// too or (`lists_above`) full width above it, checkboxes below it.
fn build_fields(lab: Lab, container_id: &str, settings: Vec<LabSetting>, lists_above: bool) -> Result<()> {
    let js = |e: JsValue| Error::Invalid(format!("the page could not build the {} form: {e:?}", lab.title()));
    let container: Element = dom::get(container_id)?;
    // A lab rebuilt on a new device builds its form again.
    container.set_text_content(None);
    let document = dom::document();
    let element = |tag: &str| document.create_element(tag).map_err(js);
    let grid = element("div")?;
    grid.set_class_name("field-grid");
    let (mut above, mut below) = (Vec::new(), Vec::new());
    for setting in settings {
        let about = setting.about();
        let id = format!("{}-{}", lab.name(), about.key);
        if dom::try_get::<Element>(&id).is_some() {
            continue;
        }
        let label = element("label")?;
        label.set_id(&format!("{id}-field"));
        label.set_attribute("title", about.help).map_err(js)?;
        let words = element("span")?;
        words.set_id(&format!("{id}-label"));
        let text =
            if about.unit.is_empty() { about.label.to_string() } else { format!("{} ({})", about.label, about.unit) };
        let control = match about.input {
            Input::Number { min, max, whole } => {
                let input = element("input")?;
                input.set_attribute("type", "number").map_err(js)?;
                input.set_attribute("min", &min.to_string()).map_err(js)?;
                input.set_attribute("max", &max.to_string()).map_err(js)?;
                if !whole {
                    input.set_attribute("step", "any").map_err(js)?;
                }
                input
            }
            Input::Checkbox => {
                let input = element("input")?;
                input.set_attribute("type", "checkbox").map_err(js)?;
                input
            }
            Input::Select { .. } => {
                let select = element("select")?;
                for (name, title) in lab.choices(setting) {
                    let option = element("option")?;
                    option.set_attribute("value", name).map_err(js)?;
                    option.set_text_content(Some(title));
                    select.append_child(&option).map_err(js)?;
                }
                select
            }
        };
        control.set_id(&id);
        if about.input == Input::Checkbox {
            label.set_class_name("check");
            words.set_text_content(Some(&format!(" {text}")));
            label.append_child(&control).map_err(js)?;
            label.append_child(&words).map_err(js)?;
            below.push(label);
        } else {
            label.set_class_name("field");
            words.set_text_content(Some(&text));
            label.append_child(&words).map_err(js)?;
            label.append_child(&control).map_err(js)?;
            if lists_above && matches!(about.input, Input::Select { .. }) {
                above.push(label);
            } else {
                grid.append_child(&label).map_err(js)?;
            }
        }
    }
    for part in above.iter().chain([&grid]).chain(&below) {
        container.append_child(part).map_err(js)?;
    }
    Ok(())
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
    for setting in link.lab.data_settings() {
        dom::show(&format!("{lab}-{}-field", setting.key()), link.data.uses(setting.key()));
    }
    let kind = link.data.kind;
    dom::set_text(
        &format!("{lab}-size-label"),
        if kind == DatasetKind::Sheet { "Tile size (px)" } else { "Sprite size (px)" },
    );
}

/// The sheet file input and drag-and-drop onto the lab: both send [`Cmd::Sheet`].
pub fn wire_sheet_input(lab: Lab, queue: &Queue) -> Result<()> {
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
    let input: HtmlInputElement = dom::get(&format!("{name}-sheet"))?;
    {
        let send = send.clone();
        let input2 = input.clone();
        dom::on::<web_sys::Event>(input.as_ref(), "change", move |_| {
            if let Some(file) = dom::take_file(&input2) {
                send(file);
            }
        });
    }
    let zone: HtmlElement = dom::get(&format!("lab-{name}"))?;
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
    Ok(())
}

/// The dataset a link describes; a sheet needs its file's bytes.
pub fn make_dataset(link: &Link, sheet: Option<&[u8]>) -> Result<Dataset> {
    let d = &link.data;
    match d.kind {
        DatasetKind::Sprites => data::sprites(d.count, d.size, d.seed),
        DatasetKind::Moons => data::moons(d.count, d.seed, &MoonJitter::default()),
        DatasetKind::Sheet => match sheet {
            Some(bytes) => data::sheet_from_png(bytes, &SheetOptions { tile: d.size, colors: d.colors, seed: d.seed }),
            None => Err(Error::Invalid(
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

/// True when `link` holds the dataset the lab's bundled models were trained on (its default
/// kind of generated images, at the default size).
pub fn on_bundled_data(link: &Link) -> bool {
    let bundled = crate::link::DataLink::default_for(link.lab);
    (link.data.kind, link.data.size) == (bundled.kind, bundled.size)
}

/// Fetches `file` from the models bundled with the page (www/pretrained/) and hands it to
/// `import`. On failure the lab's status line says why, and `None` comes back.
pub async fn load_bundled(lab: Lab, file: &str, import: impl FnOnce(&[u8]) -> Result<String>) -> Option<()> {
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

/// Sets a lab's status line; `error` styles it as a problem.
pub fn status(lab: Lab, text: &str, error: bool) {
    let id = format!("{}-status", lab.name());
    dom::set_text(&id, text);
    if let Ok(e) = dom::by_id(&id) {
        let class = if error { "status error" } else { "status" };
        if e.class_name() != class {
            e.set_class_name(class);
        }
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
    show_step_count(lab, steps);
}

/// The step count as a data attribute for tests, which changes nothing on screen.
pub fn show_step_count(lab: Lab, steps: u32) {
    if let Ok(e) = dom::by_id(&format!("lab-{}", lab.name())) {
        let _ = e.set_attribute("data-steps", &steps.to_string());
    }
}

/// The latest loss and its step as data attributes of the lab, for tests.
pub fn show_loss(lab: Lab, loss: f32, step: u32) {
    if let Ok(e) = dom::by_id(&format!("lab-{}", lab.name())) {
        let _ = e.set_attribute("data-loss", &format!("{loss}"));
        let _ = e.set_attribute("data-loss-step", &step.to_string());
    }
}

/// Downloads a saved model (`bytes`, from `save`) as `genlab-{model}-{dataset}-step{steps}`
/// and says so in the status line, where `title` names it.
pub fn download_model(link: &Link, model: &str, title: &str, steps: u32, bytes: Vec<u8>) -> Result<()> {
    dom::download(&bytes, &export_name(model, link.data.kind.name(), steps))
        .map_err(|e| Error::Invalid(format!("the browser refused the download: {e:?}")))?;
    status(link.lab, &format!("Exported {title} at step {steps} ({} kB).", bytes.len() / 1024), false);
    Ok(())
}

/// A file name for an exported model.
pub fn export_name(model: &str, dataset: &str, steps: u32) -> String {
    format!("genlab-{model}-{dataset}-step{steps}.safetensors")
}
