//! The page (wasm only). For now: the adapter in use and a live kernel self-test table —
//! the skeleton the three labs grow into.

use wasm_bindgen::prelude::*;
use web_sys::{Document, Element};

use crate::gpu::Gpu;
use crate::selftest;

/// The page's entry point, run when the module loads. Does nothing on a page without the
/// genlab markup (e.g. the wasm-bindgen-test harness).
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    if by_id("adapter").is_err() {
        return;
    }
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = run().await {
            show_error(&format!("{e:?}"));
        }
    });
}

fn document() -> Document {
    web_sys::window().and_then(|w| w.document()).expect("a page has a document")
}

fn by_id(id: &str) -> Result<Element, JsValue> {
    document().get_element_by_id(id).ok_or_else(|| JsValue::from_str(&format!("index.html lacks #{id}")))
}

fn show_error(message: &str) {
    if let Ok(status) = by_id("status") {
        status.set_text_content(Some(message));
        status.set_class_name("status error");
    }
}

fn cell(row: &Element, tag: &str, text: &str, class: &str) -> Result<(), JsValue> {
    let c = document().create_element(tag)?;
    c.set_text_content(Some(text));
    if !class.is_empty() {
        c.set_class_name(class);
    }
    row.append_child(&c)?;
    Ok(())
}

/// Lets the browser paint between kernel checks, so the table fills in live.
async fn next_frame() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = web_sys::window().expect("window").request_animation_frame(&resolve);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

async fn run() -> Result<(), JsValue> {
    let adapter = by_id("adapter")?;
    let status = by_id("status")?;
    let gpu = match Gpu::new().await {
        Ok(gpu) => gpu,
        Err(e) => {
            adapter.set_text_content(Some("no WebGPU adapter"));
            show_error(&e.to_string());
            return Ok(());
        }
    };
    adapter.set_text_content(Some(&gpu.summary().to_string()));
    status.set_text_content(Some("running the kernel self-test…"));

    let body = by_id("selftest-rows")?;
    let cases = selftest::all_cases(true);
    let (mut passed, total) = (0, cases.len());
    for case in cases {
        let row = document().create_element("tr")?;
        match case.run(&gpu).await {
            Ok(check) => {
                passed += check.passed as usize;
                cell(&row, "td", &check.kernel, "")?;
                cell(&row, "td", &check.shape, "")?;
                cell(&row, "td", &format!("{:.2e}", check.max_error), "num")?;
                let (word, class) = if check.passed { ("pass", "pass") } else { ("FAIL", "fail") };
                cell(&row, "td", word, class)?;
            }
            Err(e) => {
                cell(&row, "td", &format!("{case:?}"), "")?;
                cell(&row, "td", "", "")?;
                cell(&row, "td", &e.to_string(), "")?;
                cell(&row, "td", "FAIL", "fail")?;
            }
        }
        body.append_child(&row)?;
        next_frame().await;
    }
    let verdict = format!("{passed} / {total} kernel checks passed");
    status.set_text_content(Some(&verdict));
    status.set_class_name(if passed == total { "status ok" } else { "status error" });
    document()
        .body()
        .expect("body")
        .set_attribute("data-selftest", if passed == total { "passed" } else { "failed" })?;
    Ok(())
}
