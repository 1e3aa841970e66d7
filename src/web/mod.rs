//! The page (wasm only): a header with the adapter, three labs in the lecture's order —
//! PixelRNN, VAE, GAN — and the kernel self-test. Each lab trains its model in slices that
//! fit the frame budget and draws samples straight from GPU buffers; its setup lives in the
//! address bar (src/io/link.rs), so a link reopens and replays it.
//!
//! - [`shell`]: tabs, notices about a bad link, the no-WebGPU message
//! - [`labs`]: the shared lab machinery and one module per lab
//! - [`canvas`]: image grids rendered from storage buffers (shaders/display.wgsl)
//! - [`plot`]: live loss plots on a 2-D canvas
//! - [`selftest`]: the Kernels tab
//! - [`bench`]: `?bench=` (the speed benchmark instead of the labs) and the Kernels tab's profile

mod bench;
mod canvas;
mod dom;
mod labs;
mod plot;
mod selftest;
mod shell;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use crate::gpu::Gpu;
use crate::link::{Lab, Link};

/// The page's entry point, run when the module loads. Does nothing on a page without the
/// genlab markup (e.g. the wasm-bindgen-test harness).
#[wasm_bindgen(start)]
pub fn start() {
    // A panic is a bug; should one happen, the page says so where people look, not only in
    // the console (the wasm instance stops with it).
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        shell::fatal(&format!(
            "genlab hit a bug and stopped: {info}. Reload the page to start again, and please report it."
        ));
    }));
    if dom::by_id("adapter").is_err() {
        return;
    }
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = run().await {
            shell::fatal(&format!("{e:?}"));
        }
    });
}

async fn run() -> Result<(), JsValue> {
    if let Some((cases, steps)) = bench::requested() {
        let gpu = Gpu::new().await;
        match &gpu {
            Ok(gpu) => shell::show_adapter(&gpu.summary().to_string()),
            Err(e) => shell::no_webgpu(&e.to_string()),
        }
        bench::run(gpu.as_ref().ok(), &cases, &steps).await?;
        if let Some(body) = dom::document().body() {
            body.set_attribute("data-bench", "done")?;
        }
        return Ok(());
    }
    for lab in Lab::ALL.into_iter().filter(|lab| lab.has_model()) {
        labs::build_controls(lab).map_err(|e| JsValue::from_str(&e.to_string()))?;
    }
    let (link, notices) = Link::parse(&dom::location_link());
    shell::show_notices(&notices);
    let active = Rc::new(Cell::new(link.lab));
    let links = Rc::new(RefCell::new(HashMap::new()));
    links.borrow_mut().insert(link.lab, link.clone());
    shell::wire_tabs(active.clone(), links.clone());
    shell::select(link.lab, &active, &links);

    let gpu = match Gpu::new().await {
        Ok(gpu) => gpu,
        Err(e) => {
            shell::no_webgpu(&e.to_string());
            return Ok(());
        }
    };
    shell::show_adapter(&gpu.summary().to_string());
    let devices = labs::survival::Devices::new(gpu);
    let (gpu, display, generation) = devices.current();
    let ctx = labs::Ctx { gpu, display, devices: devices.clone(), generation, active: active.clone(), links };
    labs::start(&ctx, &link);
    bench::wire_profile(devices.clone());
    selftest::start(devices, active);
    if let Some(body) = dom::document().body() {
        body.set_attribute("data-ready", "1")?;
    }
    Ok(())
}
