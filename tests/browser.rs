//! The engine in a real browser: wasm-bindgen-test in headless Chromium with WebGPU
//! (SwiftShader). Small shapes: software GPUs are slow.
#![cfg(target_arch = "wasm32")]

use genlab::autodiff::Tape;
use genlab::data::device::DeviceDataset;
use genlab::data::{moons, MoonJitter};
use genlab::io::safetensors::load_tensors;
use genlab::kernels::adam::AdamConfig;
use genlab::kernels::rng::{self, Stream};
use genlab::kernels::Activation;
use genlab::models::vae::{Vae, VaeConfig, VaeHeader};
use genlab::nn::{Adam, Mlp};
use genlab::selftest::{self, test_data};
use genlab::{Gpu, Tensor};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn gpu() -> Gpu {
    Gpu::new().await.expect("the browser offers a WebGPU adapter")
}

#[wasm_bindgen_test]
async fn adapter_is_webgpu() {
    let gpu = gpu().await;
    assert_eq!(gpu.summary().backend, "BrowserWebGpu", "{}", gpu.summary());
}

#[wasm_bindgen_test]
async fn kernels_match_cpu_twins() {
    let gpu = gpu().await;
    let mut failures = Vec::new();
    for case in selftest::all_cases(true) {
        let check = case.run(&gpu).await.expect("case runs");
        if !check.passed {
            failures.push(check.to_string());
        }
    }
    assert!(failures.is_empty(), "failed:\n{}", failures.join("\n"));
}

#[wasm_bindgen_test]
async fn rng_is_bit_identical_to_the_cpu_twin() {
    let gpu = gpu().await;
    let stream = Stream { seed: 99, offset: 5 };
    let got = gpu.read(&rng::uniform(&gpu, stream, [1000], 0.0, 1.0).unwrap()).await.unwrap();
    let want = rng::cpu::uniform(stream, 1000, 0.0, 1.0);
    assert!(got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()));
}

#[wasm_bindgen_test]
async fn a_small_mlp_trains_with_one_submission_per_step() {
    let gpu = gpu().await;
    let mut stream = Stream::new(1);
    let mlp = Mlp::new(&gpu, "mlp", &[6, 8, 3], Activation::Tanh, Activation::Identity, &mut stream).unwrap();
    let x = Tensor::from_slice(&gpu, [4, 6], &test_data(2, 24, 1.0)).unwrap();
    let targets: Vec<f32> = test_data(3, 12, 0.5).iter().map(|v| v + 0.5).collect();
    let targets = Tensor::from_slice(&gpu, [4, 3], &targets).unwrap();
    let mut adam = Adam::new(AdamConfig { lr: 0.05, ..AdamConfig::default() }).unwrap();
    let params = mlp.params();
    let mut losses = Vec::new();
    for _ in 0..20 {
        let before = gpu.submissions();
        let tape = Tape::new(&gpu);
        let y = mlp.forward(&tape, tape.constant(&x)).unwrap();
        let loss = tape.bce_with_logits(y, &targets, 1.0).unwrap();
        tape.backward().unwrap();
        adam.step(&gpu, &params).unwrap();
        let readback = gpu.read_later(&tape.value(loss));
        gpu.submit();
        assert_eq!(gpu.submissions(), before + 1);
        losses.push(readback.wait().await.unwrap()[0]);
    }
    assert!(losses[19] < 0.9 * losses[0], "loss fell: {losses:?}");
}

/// A tiny VAE on a few moons: the page's model, trained a few steps in the browser.
async fn tiny_vae(gpu: &Gpu, seed: u64) -> (Vae, DeviceDataset) {
    let ds = moons(40, 1, &MoonJitter::default()).unwrap();
    let data = DeviceDataset::upload(gpu, &ds).unwrap();
    let config =
        VaeConfig { hidden: 16, latent: 2, batch: 8, kl_warmup: 0, learning_rate: 5e-3, seed, ..VaeConfig::default() };
    let mut vae = Vae::new(gpu, config, ds.image_len()).unwrap();
    vae.monitor.set_every(1);
    (vae, data)
}

#[wasm_bindgen_test]
async fn the_vae_trains_in_the_browser_and_its_loss_falls() {
    let gpu = gpu().await;
    let (mut vae, data) = tiny_vae(&gpu, 3).await;
    let started = js_sys::Date::now();
    for _ in 0..30 {
        vae.train_step(&gpu, &data).unwrap();
    }
    vae.monitor.flush().await.unwrap();
    let ms = js_sys::Date::now() - started;
    web_sys::console::log_1(&format!("30 tiny VAE steps: {ms:.0} ms").into());
    let losses: Vec<f32> = vae.monitor.history.iter().map(|r| r.values[0]).collect();
    assert_eq!(losses.len(), 30);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    let first: f32 = losses[..5].iter().sum::<f32>() / 5.0;
    let last: f32 = losses[25..].iter().sum::<f32>() / 5.0;
    assert!(last < first, "loss fell: {first} → {last} ({losses:?})");
}

#[wasm_bindgen_test]
async fn the_same_seed_trains_the_same_vae_in_the_browser() {
    let gpu = gpu().await;
    let mut weights = Vec::new();
    for _ in 0..2 {
        let (mut vae, data) = tiny_vae(&gpu, 11).await;
        for _ in 0..5 {
            vae.train_step(&gpu, &data).unwrap();
        }
        let header = VaeHeader {
            config: vae.config.clone(),
            height: data.height,
            width: data.width,
            channels: data.channels,
            dataset: "moons".into(),
            steps: vae.steps(),
        };
        weights.push(vae.save(&gpu, &header).await.unwrap());
    }
    // Two runs from one seed (what a link replays) give identical weights and metadata.
    let (a, b) = (load_tensors(&weights[0]).unwrap(), load_tensors(&weights[1]).unwrap());
    assert_eq!(a.metadata, b.metadata);
    assert_eq!(a.tensors.len(), 8);
    for (x, y) in a.tensors.iter().zip(&b.tensors) {
        assert_eq!(x.name, y.name);
        assert!(x.data.iter().zip(&y.data).all(|(p, q)| p.to_bits() == q.to_bits()), "{} differs", x.name);
    }
    let (vae, _) = Vae::load(&gpu, &weights[0]).unwrap();
    assert_eq!(vae.config.seed, 11);
}

/// The datasets are made in the tab: the same seed gives the same bytes there as natively.
#[wasm_bindgen_test]
fn datasets_are_deterministic_in_the_browser() {
    let sprites = |seed| genlab::data::sprites(64, 16, seed).unwrap();
    assert_eq!(sprites(7).indices, sprites(7).indices);
    assert_eq!(sprites(7).split, sprites(7).split);
    assert_ne!(sprites(7).indices, sprites(8).indices);
    let moon = |seed| moons(32, seed, &MoonJitter::default()).unwrap();
    assert_eq!(moon(3).pixels, moon(3).pixels);
    assert_ne!(moon(3).pixels, moon(4).pixels);
    // A fixed fingerprint of sprite 0 of seed 7, the same on every platform (FNV-1a).
    let fingerprint = genlab::data::generate_sprite(7, 0, 16)
        .unwrap()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    assert_eq!(fingerprint, 0x9516_9f9a_bccf_8eeb, "the native suite checks the same value");
}
