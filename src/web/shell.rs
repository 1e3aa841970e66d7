//! The page around the labs: the header's adapter line, the tabs, the notices about a link
//! that had problems, and the message for browsers without WebGPU.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use super::dom;
use crate::link::{Lab, Link, Notice};

/// Shows tab `lab` and hides the others; the address bar gets that lab's link.
pub fn select(lab: Lab, active: &Cell<Lab>, links: &RefCell<HashMap<Lab, Link>>) {
    active.set(lab);
    for other in Lab::ALL {
        let on = other == lab;
        dom::show(&format!("lab-{}", other.name()), on);
        if let Ok(tab) = dom::by_id(&format!("tab-{}", other.name())) {
            let _ = tab.set_attribute("aria-selected", if on { "true" } else { "false" });
            let _ = tab.set_attribute("tabindex", if on { "0" } else { "-1" });
        }
    }
    let query = links.borrow().get(&lab).map_or_else(|| Link::for_lab(lab).to_query(), Link::to_query);
    dom::replace_link(&query);
    if let Some(body) = dom::document().body() {
        let _ = body.set_attribute("data-lab", lab.name());
    }
}

/// Clicks (and arrow keys) on the tab bar switch labs.
pub fn wire_tabs(active: Rc<Cell<Lab>>, links: Rc<RefCell<HashMap<Lab, Link>>>) {
    for lab in Lab::ALL {
        let (active, links) = (active.clone(), links.clone());
        dom::on_id::<web_sys::Event>(&format!("tab-{}", lab.name()), "click", move |_| select(lab, &active, &links));
    }
    let (a, l) = (active.clone(), links.clone());
    dom::on_id::<web_sys::KeyboardEvent>("tabs", "keydown", move |e| {
        let i = Lab::ALL.iter().position(|&x| x == a.get()).unwrap_or(0);
        let next = match e.key().as_str() {
            "ArrowRight" => (i + 1) % Lab::ALL.len(),
            "ArrowLeft" => (i + Lab::ALL.len() - 1) % Lab::ALL.len(),
            _ => return,
        };
        select(Lab::ALL[next], &a, &l);
        if let Some(tab) = dom::try_get::<web_sys::HtmlElement>(&format!("tab-{}", Lab::ALL[next].name())) {
            let _ = tab.focus();
        }
    });
}

/// Lists what was wrong with the link the page was opened with.
pub fn show_notices(notices: &[Notice]) {
    if notices.is_empty() {
        return;
    }
    let Ok(list) = dom::by_id("notice-list") else { return };
    for n in notices {
        if let Ok(li) = dom::document().create_element("li") {
            li.set_text_content(Some(&n.to_string()));
            let _ = list.append_child(&li);
        }
    }
    dom::show("notices", true);
    dom::on_id::<web_sys::Event>("notices-close", "click", |_| dom::show("notices", false));
}

pub fn show_adapter(text: &str) {
    dom::set_text("adapter", text);
}

/// No WebGPU: says which browsers and settings have it. The explanations stay readable.
pub fn no_webgpu(why: &str) {
    dom::set_text("adapter", "no WebGPU adapter");
    dom::set_text("no-webgpu-why", why);
    dom::show("no-webgpu", true);
    if let Some(body) = dom::document().body() {
        let _ = body.set_attribute("data-webgpu", "none");
    }
}

/// Something the page did not expect: shown at the top rather than lost in the console.
pub fn fatal(message: &str) {
    dom::set_text("no-webgpu-why", message);
    dom::set_text("no-webgpu-title", "The page stopped with an error");
    dom::show("no-webgpu", true);
}
