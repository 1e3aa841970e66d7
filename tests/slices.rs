//! A training step submitted in slices (as the page submits a step slower than a frame)
//! trains exactly as one submitted whole, for every model, whoever else submits between
//! its slices.
#![cfg(not(target_arch = "wasm32"))] // native only; the page's frames are measured by bench/frames.mjs

mod common;

use std::rc::Rc;

use genlab::data::device::{DeviceDataset, DeviceRows};
use genlab::data::{moons, sprites, MoonJitter};
use genlab::gpu::{block_on, Gpu, Tensor};
use genlab::kernels::elementwise::fill;
use genlab::models::gan::{Gan, GanConfig, GanOutput, SampleShape};
use genlab::models::pixel_rnn::{PixelRnn, PixelRnnConfig};
use genlab::models::vae::{Vae, VaeConfig};
use genlab::nn::snapshot::PendingSnapshot;
use genlab::nn::Param;

fn values(gpu: &Gpu, params: &[Rc<Param>]) -> Vec<Vec<f32>> {
    params.iter().map(|p| p.value.to_vec_blocking(gpu).unwrap()).collect()
}

/// How the steps go to the GPU.
#[derive(Clone, Copy, Debug)]
enum Submit {
    Whole,
    /// In slices of about this many multiply-adds, fed two at a time as the GPU finishes.
    Sliced(f64),
    /// In slices, of which only the first two go before something else takes every free
    /// buffer of the pool, writes NaN into it, and submits: that plain submit must send the
    /// step's other slices first, which still use buffers the pool has given back.
    SlicedThenInterrupted(f64),
}

/// Takes every free buffer of the pool, fills it with NaN, submits, and gives them back: a
/// redraw between two slices of a step at its worst.
fn scribble(gpu: &Gpu) {
    let mut taken = Vec::new();
    // The pool's size classes: eight per power of two (see gpu/pool.rs), up to 64 MiB.
    let classes = (4..26).flat_map(|p: u32| (8..16).map(move |eighth| (eighth << p) / 8));
    for bytes in classes {
        loop {
            let free = gpu.holdings().buffers_free;
            if free == 0 {
                break;
            }
            let tensor = Tensor::uninit(gpu, [bytes as usize / 4]).unwrap();
            let took = gpu.holdings().buffers_free < free;
            taken.push(tensor);
            if !took {
                break;
            }
        }
    }
    assert_eq!(gpu.holdings().buffers_free, 0, "every free buffer was taken");
    for tensor in &taken {
        fill(gpu, tensor, f32::NAN);
    }
    gpu.submit();
}

/// Trains `steps` steps with `step`, submitted as `how` says; returns the slices per step.
fn train<M>(gpu: &Gpu, model: &mut M, steps: u32, how: Submit, mut step: impl FnMut(&mut M)) -> usize {
    let mut slices = 0;
    for i in 0..steps {
        match how {
            Submit::Whole => step(model),
            Submit::Sliced(work) | Submit::SlicedThenInterrupted(work) => {
                gpu.slice_submits(Some(work));
                step(model);
                gpu.slice_submits(None);
                slices = gpu.slices_waiting();
                let interrupt = matches!(how, Submit::SlicedThenInterrupted(_)) && i + 1 < steps;
                while gpu.slices_waiting() > 0 {
                    // Batches of about two slices, two batches in flight, as the page feeds them.
                    while gpu.batches_in_flight() < 2 && gpu.submit_slices(2.0 * work) > 0 {}
                    if interrupt {
                        scribble(gpu);
                        break;
                    }
                    gpu.wait_idle();
                }
            }
        }
    }
    gpu.wait_idle();
    assert_eq!(gpu.slices_waiting(), 0);
    assert_eq!(gpu.batches_in_flight(), 0, "every batch submitted has been counted done");
    let finished = gpu.finished_batches();
    assert!(finished.iter().all(|&(work, ms)| work > 0.0 && ms >= 0.0), "{finished:?}");
    slices
}

/// Trains `model` whole with `run`, then as each of `hows` says; each time a step must go in
/// more than three slices and give what the whole steps gave (weights, and whatever else
/// `run` returns beside them).
fn same_as_whole<T: PartialEq>(model: &str, hows: &[Submit], run: impl Fn(Submit) -> (T, usize)) {
    let (whole, _) = run(Submit::Whole);
    for &how in hows {
        let (sliced, slices) = run(how);
        assert!(slices > 3, "{model}, {how:?}: a step in {slices} slices");
        assert!(sliced == whole, "{model}, {how:?}: the weights or figures differ");
    }
}

#[test]
fn a_vae_step_in_slices_trains_exactly_as_a_whole_one() {
    let ds = moons(120, 3, &MoonJitter::NONE).unwrap();
    let config = VaeConfig { hidden: 48, latent: 3, batch: 16, seed: 4, ..VaeConfig::default() };
    let run = |how| {
        let gpu = common::gpu();
        let data = DeviceDataset::upload(&gpu, &ds).unwrap();
        let mut vae = Vae::new(&gpu, config.clone(), ds.image_len()).unwrap();
        let slices = train(&gpu, &mut vae, 4, how, |v| v.train_step(&gpu, &data).unwrap());
        // The figures read back at the end of each step arrive too.
        block_on(vae.monitor.flush()).unwrap();
        let figures: Vec<Vec<f32>> = vae.monitor.history.iter().map(|r| r.values.clone()).collect();
        ((values(&gpu, &vae.params()), figures), slices)
    };
    let hows = [Submit::Sliced(20_000.0), Submit::SlicedThenInterrupted(20_000.0), Submit::Sliced(1.0)];
    same_as_whole("VAE", &hows, run);
}

#[test]
fn a_gan_and_a_pixel_rnn_step_in_slices_train_exactly_as_whole_ones() {
    let ring: Vec<f32> = (0..256).flat_map(|i| [(i as f32 * 0.7).cos(), (i as f32 * 0.7).sin()]).collect();
    let config = GanConfig {
        z_dim: 3,
        hidden: 16,
        batch: 16,
        output: GanOutput::Identity,
        d_spectral_norm: true,
        seed: 2,
        ..GanConfig::default()
    };
    let gan = |how| {
        let gpu = common::gpu();
        let rows = DeviceRows::upload(&gpu, &ring, &[2]).unwrap();
        let mut gan = Gan::new(&gpu, config.clone(), SampleShape::points(2)).unwrap();
        let slices = train(&gpu, &mut gan, 3, how, |g| g.train_step(&gpu, &rows).unwrap());
        (values(&gpu, &gan.params()), slices)
    };
    same_as_whole("GAN", &[Submit::Sliced(5_000.0), Submit::SlicedThenInterrupted(5_000.0)], gan);

    let ds = sprites(40, 8, 2).unwrap();
    let config = PixelRnnConfig { hidden: 8, layers: 1, batch: 2, learning_rate: 1e-2, seed: 3, positions: true };
    let rnn = |how| {
        let gpu = common::gpu();
        let data = DeviceDataset::upload(&gpu, &ds).unwrap();
        let mut model = PixelRnn::for_dataset(&gpu, config.clone(), &ds).unwrap();
        let slices = train(&gpu, &mut model, 2, how, |m| m.train_step(&gpu, &data).unwrap());
        (values(&gpu, &model.params()), slices)
    };
    same_as_whole("PixelRNN", &[Submit::Sliced(2_000.0), Submit::SlicedThenInterrupted(2_000.0)], rnn);
}

#[test]
fn a_snapshot_taken_behind_waiting_slices_holds_the_weights_after_the_step() {
    let ds = moons(120, 3, &MoonJitter::NONE).unwrap();
    let config = VaeConfig { hidden: 32, latent: 2, batch: 16, seed: 9, ..VaeConfig::default() };
    let gpu = common::gpu();
    let data = DeviceDataset::upload(&gpu, &ds).unwrap();
    let mut vae = Vae::new(&gpu, config, ds.image_len()).unwrap();
    vae.train_step(&gpu, &data).unwrap();
    gpu.slice_submits(Some(20_000.0));
    vae.train_step(&gpu, &data).unwrap();
    gpu.slice_submits(None);
    assert!(gpu.submit_slices(20_000.0) > 0 && gpu.slices_waiting() > 0, "the step's slices wait");
    // As the page's checkpoint does: its copies go as one more slice, behind the step's.
    gpu.slice_submits(Some(f64::INFINITY));
    let pending = PendingSnapshot::take(&gpu, &vae);
    gpu.slice_submits(None);
    while gpu.submit_slices(20_000.0) > 0 {}
    let snapshot = block_on(pending.finish()).unwrap();
    assert_eq!(snapshot.step(), 2);
    let mut restored = Vae::new(&gpu, VaeConfig { seed: 1, ..vae.config.clone() }, ds.image_len()).unwrap();
    snapshot.restore(&gpu, &mut restored).unwrap();
    assert!(values(&gpu, &restored.params()) == values(&gpu, &vae.params()), "the snapshot holds step 2's weights");
}
