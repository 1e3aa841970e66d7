//! The Kernels tab: every WGSL kernel runs on this GPU and is compared, live, with its CPU
//! twin in Rust. It starts the first time the tab is opened (it would slow the labs down
//! otherwise), and fills the table row by row.

use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen::JsValue;
use web_sys::Element;

use super::dom;
use crate::gpu::Gpu;
use crate::link::Lab;
use crate::selftest;
use crate::web::labs::survival::Devices;

pub fn start(devices: Rc<Devices>, active: Rc<Cell<Lab>>) {
    dom::set_text("status", "opens when you open this tab…");
    wasm_bindgen_futures::spawn_local(async move {
        while active.get() != Lab::Kernels {
            dom::sleep(100).await;
        }
        if let Err(e) = run(&devices.gpu()).await {
            if let Ok(status) = dom::by_id("status") {
                status.set_text_content(Some(&format!("{e:?}")));
                status.set_class_name("status error");
            }
        }
    });
}

fn cell(row: &Element, text: &str, class: &str) -> Result<(), JsValue> {
    let c = dom::document().create_element("td")?;
    c.set_text_content(Some(text));
    if !class.is_empty() {
        c.set_class_name(class);
    }
    row.append_child(&c)?;
    Ok(())
}

async fn run(gpu: &Gpu) -> Result<(), JsValue> {
    let status = dom::by_id("status")?;
    status.set_text_content(Some("running the kernel self-test…"));
    let body = dom::by_id("selftest-rows")?;
    let cases = selftest::all_cases(true);
    let (mut passed, mut skipped, total) = (0, 0, cases.len());
    for case in cases {
        let row = dom::document().create_element("tr")?;
        match case.run(gpu).await {
            Ok(check) => {
                cell(&row, &check.kernel, "")?;
                cell(&row, &check.shape, "")?;
                if let Some(why) = check.skipped {
                    skipped += 1;
                    cell(&row, why, "")?;
                    cell(&row, "skip", "")?;
                } else {
                    passed += check.passed as usize;
                    cell(&row, &format!("{:.2e}", check.max_error), "num")?;
                    let (word, class) = if check.passed { ("pass", "pass") } else { ("FAIL", "fail") };
                    cell(&row, word, class)?;
                }
            }
            Err(e) => {
                cell(&row, &format!("{case:?}"), "")?;
                cell(&row, "", "")?;
                cell(&row, &e.to_string(), "")?;
                cell(&row, "FAIL", "fail")?;
            }
        }
        body.append_child(&row)?;
        dom::next_frame().await;
    }
    let ran = total - skipped;
    let mut verdict = format!("{passed} / {ran} kernel checks passed");
    if skipped > 0 {
        verdict += &format!(" ({skipped} skipped: kernels this device cannot run)");
    }
    status.set_text_content(Some(&verdict));
    status.set_class_name(if passed == ran { "status ok" } else { "status error" });
    if let Some(body) = dom::document().body() {
        body.set_attribute("data-selftest", if passed == ran { "passed" } else { "failed" })?;
    }
    Ok(())
}
