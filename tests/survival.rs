//! Nothing lost: snapshots carry training on exactly where it was, on the same device or a
//! new one; a lost device is an error, not a panic, and its snapshot still writes a weights
//! file; the divergence guard stops a run and `genlab train` keeps the last good weights.
#![cfg(not(target_arch = "wasm32"))] // native only; the page's survival tests are in tests/page

mod common;

use std::process::Command;
use std::rc::Rc;

use genlab::data::device::{DeviceDataset, DeviceRows};
use genlab::data::{moons, sprites, Dataset, MoonJitter};
use genlab::gpu::{block_on, Gpu};
use genlab::models::gan::{Gan, GanConfig, GanOutput, SampleShape};
use genlab::models::monitor::Monitor;
use genlab::models::pixel_rnn::{PixelRnn, PixelRnnConfig};
use genlab::models::vae::{Vae, VaeConfig, VaeHeader};
use genlab::nn::snapshot::{Keeper, PendingSnapshot, Resumable, Snapshot};
use genlab::nn::Param;
use genlab::Error;

fn vae_config() -> VaeConfig {
    VaeConfig { hidden: 32, latent: 3, batch: 16, kl_warmup: 5, learning_rate: 2e-3, seed: 4, ..VaeConfig::default() }
}

/// 120 two-moons points, on the device too, and a fresh VAE for them.
fn moons_vae(gpu: &Gpu) -> (Dataset, DeviceDataset, Vae) {
    let ds = moons(120, 3, &MoonJitter::NONE).unwrap();
    let data = DeviceDataset::upload(gpu, &ds).unwrap();
    let vae = Vae::new(gpu, vae_config(), ds.image_len()).unwrap();
    (ds, data, vae)
}

/// Trains `steps` more steps of whatever `step` trains.
fn run<M>(model: &mut M, steps: u32, mut step: impl FnMut(&mut M)) {
    for _ in 0..steps {
        step(model);
    }
}

/// Trains `steps` steps and snapshots, trains `steps` more and reads the weights; then
/// restores the snapshot and trains the same steps again: the weights must come out the same.
fn assert_resumes<M: Resumable>(
    gpu: &Gpu,
    model: &mut M,
    steps: u32,
    mut step: impl FnMut(&mut M),
    params: impl Fn(&M) -> Vec<Rc<Param>>,
    what: &str,
) -> Snapshot {
    run(model, steps, &mut step);
    let snapshot = block_on(PendingSnapshot::take(gpu, model).finish()).unwrap();
    run(model, steps, &mut step);
    let straight = common::values(gpu, &params(model));
    snapshot.restore(gpu, model).unwrap();
    run(model, steps, &mut step);
    assert_eq!(common::values(gpu, &params(model)), straight, "{what}");
    snapshot
}

#[test]
fn a_restored_vae_trains_on_exactly_as_if_nothing_happened() {
    let gpu = common::gpu();
    let (ds, data, mut vae) = moons_vae(&gpu);
    let step = |v: &mut Vae| v.train_step(&gpu, &data).unwrap();
    run(&mut vae, 4, step);
    let snapshot = block_on(PendingSnapshot::take(&gpu, &vae).finish()).unwrap();
    assert_eq!(snapshot.step(), 4);
    run(&mut vae, 3, step);
    let straight = common::values(&gpu, &vae.params());

    // Back to step 4 on the same model: the same three steps (batches, noise, Adam's
    // moments and bias correction) give the same weights.
    snapshot.restore(&gpu, &mut vae).unwrap();
    assert_eq!(vae.steps(), 4);
    run(&mut vae, 3, step);
    assert_eq!(common::values(&gpu, &vae.params()), straight);

    // And on a new device, into a model made from scratch, as the page does after a loss.
    let other = common::gpu();
    let other_data = DeviceDataset::upload(&other, &ds).unwrap();
    let mut fresh = Vae::new(&other, vae_config(), ds.image_len()).unwrap();
    snapshot.restore(&other, &mut fresh).unwrap();
    run(&mut fresh, 3, |v| v.train_step(&other, &other_data).unwrap());
    assert_eq!(common::values(&other, &fresh.params()), straight);
}

#[test]
fn a_restored_gan_and_pixel_rnn_train_on_exactly() {
    let gpu = common::gpu();
    let ring: Vec<f32> = (0..256).flat_map(|i| [(i as f32 * 0.7).cos(), (i as f32 * 0.7).sin()]).collect();
    let rows = DeviceRows::upload(&gpu, &ring, &[2]).unwrap();
    let config = GanConfig {
        z_dim: 3,
        hidden: 16,
        batch: 16,
        output: GanOutput::Identity,
        d_conv_channels: 0,
        d_spectral_norm: true,
        seed: 2,
        ..GanConfig::default()
    };
    let mut gan = Gan::new(&gpu, config, SampleShape::points(2)).unwrap();
    let step = |g: &mut Gan| g.train_step(&gpu, &rows).unwrap();
    assert_resumes(&gpu, &mut gan, 3, step, Gan::params, "GAN (with spectral norm and the averaged generator)");

    let ds = sprites(40, 8, 2).unwrap();
    let data = DeviceDataset::upload(&gpu, &ds).unwrap();
    let config = PixelRnnConfig { hidden: 8, layers: 1, batch: 2, learning_rate: 1e-2, seed: 3, positions: true };
    let mut model = PixelRnn::for_dataset(&gpu, config, &ds).unwrap();
    let step = |m: &mut PixelRnn| m.train_step(&gpu, &data).unwrap();
    let snapshot = assert_resumes(&gpu, &mut model, 2, step, PixelRnn::params, "PixelRNN");

    // A snapshot of one model does not go into another.
    let mut vae = Vae::new(&gpu, vae_config(), 64).unwrap();
    assert!(snapshot.restore(&gpu, &mut vae).is_err());
}

#[test]
fn a_lost_device_is_an_error_and_its_snapshot_still_writes_weights() {
    let gpu = common::gpu();
    let (ds, data, mut vae) = moons_vae(&gpu);
    vae.monitor.set_every(1);
    let mut keeper = Keeper::new();
    run(&mut vae, 3, |v| v.train_step(&gpu, &data).unwrap());
    block_on(keeper.take_now(&gpu, &vae)).unwrap();
    let kept = common::values(&gpu, &vae.params());

    gpu.destroy();
    assert!(gpu.lost().is_some());
    // Whatever touches the GPU now fails in words; nothing panics.
    let failures = [
        vae.train_step(&gpu, &data).and_then(|_| block_on(vae.monitor.flush())),
        block_on(vae.params()[0].value.to_vec(&gpu)).map(drop),
        block_on(keeper.take_now(&gpu, &vae)),
    ];
    for failure in failures {
        match failure {
            Err(e @ Error::DeviceLost(_)) => assert!(e.to_string().contains("lost"), "{e}"),
            other => panic!("expected DeviceLost, got {other:?}"),
        }
    }
    assert!(matches!(gpu.health(), Err(Error::DeviceLost(_))));

    // The snapshot taken before the loss writes a file that loads on a new device.
    let snapshot = keeper.latest().expect("the snapshot survives the device");
    let (height, width, channels) = (ds.height, ds.width, ds.channels);
    let header = VaeHeader { config: vae.config.clone(), height, width, channels, dataset: "moons".into(), steps: 3 };
    let bytes = block_on(vae.save(snapshot, &header)).unwrap();
    let other = common::gpu();
    let (loaded, _) = Vae::load(&other, &bytes).unwrap();
    assert_eq!(common::values(&other, &loaded.params()), kept);
}

#[test]
fn the_guard_stops_a_leaping_loss_and_a_nan_but_not_a_wandering_one() {
    let gpu = common::gpu();
    let figures = |monitor: &mut Monitor, values: &[[f32; 2]]| -> genlab::Result<()> {
        for (i, v) in values.iter().enumerate() {
            let t = genlab::Tensor::from_slice(&gpu, [2], v).unwrap();
            monitor.schedule(&gpu, i as u32 + 1, &t);
            gpu.submit();
        }
        block_on(monitor.flush())
    };
    let wandering = [[2.0, 0.5], [1.5, 0.01], [3.0, 0.9], [0.8, 0.0], [40.0, 0.3]];
    assert!(figures(&mut Monitor::new(&["loss", "p"], 1), &wandering).is_ok());
    let leaping = [[2.0, 0.5], [1.9, 0.5], [1.8, 0.5], [1e4, 0.5]];
    match figures(&mut Monitor::new(&["loss", "p"], 1), &leaping) {
        Err(e @ Error::Diverged { step: 4, figure: "loss", .. }) => {
            assert!(e.to_string().contains("median 1.9"), "{e}")
        }
        other => panic!("expected divergence at step 4, got {other:?}"),
    }
    let mut unguarded = Monitor::new(&["loss", "p"], 1);
    unguarded.guard = false;
    assert!(figures(&mut unguarded, &leaping).is_ok());
    let nan = [[2.0, 0.5], [f32::NAN, 0.5]];
    assert!(matches!(figures(&mut unguarded, &nan), Err(Error::Diverged { step: 2, .. })));
}

/// Runs `genlab` with `args`; returns its exit status and stderr.
fn genlab(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_genlab")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn train_stops_a_diverging_run_and_keeps_finite_weights_from_before() {
    let dir = std::env::temp_dir().join(format!("genlab-diverge-{}", std::process::id()));
    let runs: [(&str, &[&str]); 3] = [
        ("vae", &["train", "vae", "--data", "moons", "--count", "300", "--hidden", "32", "--lr", "1e6"]),
        (
            "gan",
            &[
                "train",
                "gan",
                "--count",
                "300",
                "--size",
                "8",
                "--hidden",
                "32",
                "--d-lr",
                "1e6",
                "--g-lr",
                "1e6",
                "--pr-samples",
                "20",
            ],
        ),
        ("pixelrnn", &["train", "pixelrnn", "--count", "60", "--size", "8", "--hidden", "8", "--lr", "1e6"]),
    ];
    let gpu = common::gpu();
    for (model, args) in runs {
        let out = dir.join(model);
        let out_arg = out.to_str().unwrap();
        let mut args = args.to_vec();
        args.extend(["--steps", "200", "--out", out_arg]);
        let (ok, stderr) = genlab(&args);
        assert!(!ok, "{model}: a diverging run must exit non-zero");
        assert!(stderr.contains("diverged") && stderr.contains("Lower the learning rate"), "{model}: {stderr}");
        assert!(stderr.contains("last ones known to be good"), "{model}: {stderr}");
        assert!(!stderr.contains("panicked"), "{model}: {stderr}");
        let bytes = std::fs::read(out.join("weights.safetensors")).unwrap();
        // Loading refuses any tensor that is not finite.
        let steps = match model {
            "vae" => Vae::load(&gpu, &bytes).map(|(_, h)| h.steps),
            "gan" => Gan::load(&gpu, &bytes).map(|(_, h)| h.steps),
            _ => PixelRnn::load(&gpu, &bytes).map(|(_, h)| h.steps),
        };
        let steps = steps.unwrap_or_else(|e| panic!("{model}: the kept weights must load: {e}"));
        assert!(steps < 200, "{model}: kept step {steps}");
        assert!(stderr.contains(&format!("weights of step {steps}")), "{model}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_short_soak_holds_the_same_gpu_buffers_from_sample_to_sample() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_genlab")).args(["soak", "--steps", "300", "--every", "100"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json = stdout.lines().last().unwrap();
    let reports: serde_json::Value = serde_json::from_str(json).unwrap();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 3, "{json}");
    for report in reports {
        let model = report["model"].as_str().unwrap();
        let samples = report["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 3, "{model}: one sample per 100 steps");
        assert!(report["rss_growth_percent"].is_number(), "{model}: {report}");
        // What genlab holds on the device is the same after every 100 steps: a leak of
        // tensors, readbacks or bind groups would grow it.
        for key in ["buffers_in_use", "bytes_in_use", "bind_groups"] {
            let values: Vec<u64> = samples.iter().map(|s| s[key].as_u64().unwrap()).collect();
            assert!(values.windows(2).all(|w| w[0] == w[1]), "{model}: {key} {values:?}");
        }
        assert!(samples.iter().all(|s| s["readbacks"].as_u64().unwrap() <= 4), "{model}: {report}");
    }
    let (ok, stderr) = genlab(&["soak", "--steps", "100", "--every", "100"]);
    assert!(!ok && stderr.contains("--every 100 must be at least 1 and below --steps 100"), "{stderr}");
}

#[test]
fn the_bind_group_cache_stays_bounded_however_many_combinations_it_meets() {
    let gpu = common::gpu();
    // 70 live tensors, every ordered pair launched once: 4830 bind groups, more than the
    // cache keeps (4096). It sheds its least recently used half instead of growing.
    let tensors: Vec<genlab::Tensor> = (0..70).map(|_| genlab::Tensor::zeros(&gpu, [4]).unwrap()).collect();
    let mut most = 0;
    for (i, x) in tensors.iter().enumerate() {
        for (j, y) in tensors.iter().enumerate() {
            if i != j {
                genlab::kernels::elementwise::axpby(&gpu, 1.0, x, 0.5, y).unwrap();
            }
        }
        gpu.submit();
        most = most.max(gpu.holdings().bind_groups);
    }
    let now = gpu.holdings().bind_groups;
    assert!(most <= 4096, "the cache grew to {most}");
    assert!(now >= 2048, "the cache kept only {now}: it should shed half, not start over");
}
