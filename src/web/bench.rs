//! Speed, in the page. `index.html?bench=vae_step,gan_step,lstm_step,matmul_1024&steps=5`
//! runs [`crate::bench`] instead of the labs and writes its JSON into `<pre id="bench-out">`,
//! where bench/compare reads it beside jax-js's and TF.js's. The Kernels tab's profile card
//! says where one training step's GPU time goes, per kernel family.

use wasm_bindgen::JsValue;

use super::dom;
use crate::bench::{self, Case};
use crate::gpu::Gpu;
use crate::web::labs::survival::Devices;

/// The cases and step count the address asks for (`?bench=…&steps=…`), if it asks for any.
pub fn requested() -> Option<(String, String)> {
    let search = dom::window().location().search().ok()?;
    let mut cases = None;
    let mut steps = String::from("5");
    for pair in search.trim_start_matches('?').split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = js_sys::decode_uri_component(value).map(String::from).unwrap_or_else(|_| value.to_string());
        match key {
            "bench" => cases = Some(value),
            "steps" => steps = value,
            _ => {}
        }
    }
    cases.map(|cases| (cases, steps))
}

/// Runs the requested cases and writes the report (or why there is none) into #bench-out.
pub async fn run(gpu: Option<&Gpu>, cases: &str, steps: &str) -> Result<(), JsValue> {
    let out = match dom::by_id("bench-out") {
        Ok(out) => out,
        Err(_) => {
            let pre = dom::document().create_element("pre")?;
            pre.set_id("bench-out");
            dom::document().body().ok_or("the page has no body")?.append_child(&pre)?;
            pre
        }
    };
    let json = match (gpu, parse(cases, steps)) {
        (None, _) => serde_json::json!({ "engine": "genlab", "error": "no WebGPU adapter" }).to_string(),
        (_, Err(e)) => serde_json::json!({ "engine": "genlab", "error": e }).to_string(),
        (Some(gpu), Ok((cases, steps))) => {
            let report = bench::run(gpu, &cases, steps).await;
            serde_json::to_string(&report).map_err(|e| JsValue::from_str(&e.to_string()))?
        }
    };
    out.set_text_content(Some(&json));
    Ok(())
}

fn parse(cases: &str, steps: &str) -> Result<(Vec<Case>, u32), String> {
    let cases = bench::parse_cases(cases).map_err(|e| e.to_string())?;
    let steps = match steps.parse::<u32>() {
        Ok(n @ 1..=1000) => n,
        _ => return Err(format!("steps={steps} is not a whole number from 1 to 1000; try steps=5")),
    };
    Ok((cases, steps))
}

/// The Kernels tab's profile button: profiles the chosen case and fills the table.
pub fn wire_profile(devices: std::rc::Rc<Devices>) {
    dom::on_id::<web_sys::Event>("profile-run", "click", move |_| {
        let gpu = devices.gpu();
        wasm_bindgen_futures::spawn_local(async move {
            dom::set_disabled("profile-run", true);
            let choice =
                dom::try_get::<web_sys::HtmlSelectElement>("profile-case").map(|s| s.value()).unwrap_or_default();
            let result = match choice.parse::<Case>() {
                Ok(case) => {
                    dom::set_text("profile-status", &format!("profiling one {case}…"));
                    bench::profile(&gpu, case).await.map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            match result.and_then(|profile| show_profile(&profile).map_err(|e| format!("{e:?}"))) {
                Ok(()) => {}
                Err(e) => dom::set_text("profile-status", &e),
            }
            dom::set_disabled("profile-run", false);
        });
    });
}

fn show_profile(profile: &bench::Profile) -> Result<(), JsValue> {
    dom::set_text("profile-status", &profile.summary());
    let body = dom::by_id("profile-rows")?;
    body.set_inner_html("");
    let total = profile.sum_ms.max(1e-9);
    let row = |cells: [(String, &str); 4]| -> Result<(), JsValue> {
        let row = dom::document().create_element("tr")?;
        for (text, class) in cells {
            let cell = dom::document().create_element("td")?;
            cell.set_text_content(Some(&text));
            cell.set_class_name(class);
            row.append_child(&cell)?;
        }
        body.append_child(&row)?;
        Ok(())
    };
    // The families, then under a heading the slowest kernels, indented.
    for (shares, class) in [(&profile.families, ""), (&profile.kernels, "sub")] {
        if class == "sub" {
            row([("slowest kernels".into(), "sub"), (String::new(), ""), (String::new(), ""), (String::new(), "")])?;
        }
        for share in shares {
            row([
                (share.name.clone(), class),
                (share.count.to_string(), "num"),
                (format!("{:.2}", share.ms), "num"),
                (format!("{:.1}%", 100.0 * share.ms / total), "num"),
            ])?;
        }
    }
    Ok(())
}
