//! The engine in a real browser: wasm-bindgen-test in headless Chromium with WebGPU
//! (SwiftShader). Small shapes: software GPUs are slow.
#![cfg(target_arch = "wasm32")]

use genlab::autodiff::Tape;
use genlab::kernels::adam::AdamConfig;
use genlab::kernels::rng::{self, Stream};
use genlab::kernels::Activation;
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
