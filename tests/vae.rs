//! The VAE end to end on lavapipe: it learns, it is reproducible, it refuses nonsense, and
//! its files load back.
#![cfg(not(target_arch = "wasm32"))] // native only; the browser suite is tests/browser.rs

mod common;

use genlab::autodiff::Tape;
use genlab::data::device::DeviceDataset;
use genlab::data::{moons, MoonJitter};
use genlab::gpu::block_on;
use genlab::kernels::reparam;
use genlab::kernels::rng::Stream;
use genlab::models::vae::{reparameterize, Vae, VaeConfig, VaeHeader};
use genlab::nn::Param;
use genlab::selftest::test_data;
use genlab::{Error, Tensor};

fn small_config(seed: u64) -> VaeConfig {
    VaeConfig { hidden: 64, latent: 4, batch: 32, kl_warmup: 20, learning_rate: 2e-3, seed, ..VaeConfig::default() }
}

fn train(seed: u64, steps: u32, autoencoder: bool) -> (genlab::Gpu, Vae, DeviceDataset) {
    let gpu = common::gpu();
    let ds = moons(200, 3, &MoonJitter::NONE).unwrap();
    let data = DeviceDataset::upload(&gpu, &ds).unwrap();
    let mut vae = Vae::new(&gpu, VaeConfig { autoencoder, ..small_config(seed) }, ds.image_len()).unwrap();
    vae.monitor.set_every(1);
    for _ in 0..steps {
        vae.train_step(&gpu, &data).unwrap();
    }
    block_on(vae.monitor.flush()).unwrap();
    (gpu, vae, data)
}

#[test]
fn loss_falls_on_moons_and_reconstructions_approach_the_input() {
    let (gpu, vae, data) = train(7, 150, false);
    let losses: Vec<f32> = vae.monitor.history.iter().map(|r| r.values[1]).collect();
    let first = losses[..5].iter().sum::<f32>() / 5.0;
    let last = losses[losses.len() - 5..].iter().sum::<f32>() / 5.0;
    assert!(last < 0.6 * first, "reconstruction {first} → {last} did not fall enough");

    // decode(encode(x)) is close to x for held-out moons after this short training.
    let x = data.heldout.range(&gpu, 0, 8).unwrap().reshape([8, vae.image_len]).unwrap();
    let codes = block_on(vae.encode(&gpu, &x)).unwrap();
    let back = vae.decode_codes(&gpu, &codes).unwrap().to_vec_blocking(&gpu).unwrap();
    let original = x.to_vec_blocking(&gpu).unwrap();
    let rms = (back.iter().zip(&original).map(|(a, b)| (a - b).powi(2)).sum::<f32>() / back.len() as f32).sqrt();
    assert!(rms < 0.2, "reconstruction RMS error {rms}");

    // One submission per training step.
    let mut vae = vae;
    let before = gpu.submissions();
    vae.train_step(&gpu, &data).unwrap();
    assert_eq!(gpu.submissions() - before, 1);
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let weights = |seed| {
        let (gpu, vae, _) = train(seed, 5, false);
        vae.params().iter().map(|p| p.value.to_vec_blocking(&gpu).unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(weights(11), weights(11));
    assert_ne!(weights(11), weights(12));
}

#[test]
fn evaluation_bounds_hold() {
    let (gpu, vae, data) = train(5, 60, false);
    let eval = block_on(vae.evaluate(&gpu, &data.heldout, 16, 16)).unwrap();
    let elbo = eval.heldout_neg_elbo_nats.unwrap();
    let iw = eval.heldout_nll_iw_nats.unwrap();
    assert!(elbo.is_finite() && iw.is_finite());
    // The importance-weighted bound is tighter than the ELBO (up to sampling noise), and
    // −ELBO exceeds its own reconstruction term by the (non-negative) KL.
    assert!(iw <= elbo + 1.0, "IW {iw} vs ELBO {elbo}");
    assert!(elbo >= eval.heldout_reconstruction_nats - 1e-3);

    let (gpu, ae, data) = train(5, 10, true);
    let eval = block_on(ae.evaluate(&gpu, &data.heldout, 16, 16)).unwrap();
    assert!(eval.heldout_neg_elbo_nats.is_none() && eval.heldout_nll_iw_nats.is_none());
}

#[test]
fn bad_configurations_are_refused_with_reasons() {
    let gpu = common::gpu();
    let refuse = |config: VaeConfig, needle: &str| match Vae::new(&gpu, config, 784) {
        Err(e) => assert!(e.to_string().contains(needle), "{e}"),
        Ok(_) => panic!("accepted a bad config, expected {needle:?}"),
    };
    refuse(VaeConfig { latent: 0, ..VaeConfig::default() }, "latent size 0");
    refuse(VaeConfig { learning_rate: f32::NAN, ..VaeConfig::default() }, "learning rate NaN");
    refuse(VaeConfig { beta: -1.0, ..VaeConfig::default() }, "β");

    let ds = moons(20, 1, &MoonJitter::NONE).unwrap();
    let data = DeviceDataset::upload(&gpu, &ds).unwrap();
    let mut vae = Vae::new(&gpu, VaeConfig { batch: 1000, ..small_config(1) }, ds.image_len()).unwrap();
    let e = vae.train_step(&gpu, &data).unwrap_err();
    assert!(e.to_string().contains("batch size 1000"), "{e}");
}

#[test]
fn weights_round_trip_and_wrong_files_leave_the_model_alone() {
    let (gpu, vae, _) = train(3, 5, false);
    let header =
        VaeHeader { config: vae.config.clone(), height: 28, width: 28, channels: 1, dataset: "moons".into(), steps: 5 };
    let bytes = block_on(vae.save(&gpu, &header)).unwrap();
    let (loaded, back) = Vae::load(&gpu, &bytes).unwrap();
    assert_eq!(back, header);
    for (a, b) in vae.params().iter().zip(loaded.params()) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.value.to_vec_blocking(&gpu).unwrap(), b.value.to_vec_blocking(&gpu).unwrap());
    }
    assert!(matches!(Vae::load(&gpu, &bytes[..bytes.len() / 2]), Err(Error::Tensors(_))));
    let other = genlab::io::safetensors::save_tensors(&[("x", &[1], &[1.0])], &[("model", "gan")]).unwrap();
    let e = Vae::load(&gpu, &other).err().expect("a GAN file is not a VAE");
    assert!(e.to_string().contains("\"gan\""), "{e}");

    // A file whose shapes do not fit is refused before any parameter changes.
    let before: Vec<Vec<f32>> = loaded.params().iter().map(|p| p.value.to_vec_blocking(&gpu).unwrap()).collect();
    let wrong = genlab::io::safetensors::save_tensors(&[("encoder.0.weight", &[1], &[1.0])], &[]).unwrap();
    let e = genlab::nn::checkpoint::load(&gpu, &loaded.params(), &wrong).unwrap_err();
    assert!(e.to_string().contains("encoder.0.weight"), "{e}");
    let after: Vec<Vec<f32>> = loaded.params().iter().map(|p| p.value.to_vec_blocking(&gpu).unwrap()).collect();
    assert_eq!(before, after);
}

#[test]
fn interpolation_on_the_gpu_decodes_the_line_between_the_codes() {
    for autoencoder in [false, true] {
        let (gpu, vae, data) = train(5, 10, autoencoder);
        let len = vae.image_len;
        let pair = data.heldout.select(&gpu, &[0, 3]).unwrap().reshape([2, len]).unwrap();
        let path = block_on(vae.interpolate(&gpu, &pair, 7).unwrap().to_vec(&gpu)).unwrap();
        // The same line made on the CPU from the codes read back, and decoded.
        let codes = block_on(vae.encode(&gpu, &pair)).unwrap();
        let line = genlab::models::latent::lerp_codes(&codes[0], &codes[1], 7);
        let want = block_on(vae.decode_codes(&gpu, &line).unwrap().to_vec(&gpu)).unwrap();
        assert_eq!(path.len(), 7 * len);
        let worst = path.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "autoencoder {autoencoder}: the paths differ by {worst}");
        assert!(vae.interpolate(&gpu, &pair, 1).is_err());
    }
}

/// The KL node on the tape: its term is the batch mean of the rows' KL, it enters the total
/// loss with its weight, and its gradient (sent in the reparameterisation's one backward
/// launch, beside z's path or alone when nothing uses z) matches finite differences of the
/// tape's total loss, BCE(z) + β·KL.
#[test]
fn the_kl_node_reports_its_mean_and_its_gradient_matches_finite_differences() {
    let gpu = common::gpu();
    let (rows, latent, kl_weight) = (3, 2, 0.7f32);
    let values = test_data(6, rows * 2 * latent, 0.8);
    let stats =
        Param::from_tensor(&gpu, "stats", Tensor::from_slice(&gpu, [rows, 2 * latent], &values).unwrap()).unwrap();
    let targets: Vec<f32> = test_data(7, rows * latent, 0.5).iter().map(|v| v + 0.5).collect();
    let targets = Tensor::from_slice(&gpu, [rows, latent], &targets).unwrap();
    let noise = Stream::new(5);
    let set = |values: &[f32]| {
        gpu.copy(&Tensor::from_slice(&gpu, [rows, 2 * latent], values).unwrap(), &stats.value).unwrap();
    };
    for uses_z in [true, false] {
        let record = || {
            let tape = Tape::new(&gpu);
            let (z, kl) = reparameterize(&tape, tape.param(&stats), noise, kl_weight).unwrap();
            let reconstruction = uses_z.then(|| tape.bce_with_logits(z, &targets, 1.0).unwrap());
            (tape, reconstruction, kl)
        };
        let total = |values: &[f32]| {
            set(values);
            let (tape, _, _) = record();
            tape.loss_report(&[]).unwrap().to_vec_blocking(&gpu).unwrap()[0] as f64
        };
        set(&values);
        let (tape, reconstruction, kl) = record();
        let report = tape.loss_report(&[kl]).unwrap().to_vec_blocking(&gpu).unwrap();
        let (_, kl_rows) = reparam::cpu::forward(&values, latent, &reparam::cpu::noise(Some(noise), rows * latent));
        let mean_kl = kl_rows.iter().sum::<f32>() / rows as f32;
        assert!((report[1] - mean_kl).abs() < 1e-5, "KL term {} vs the CPU twin's mean {mean_kl}", report[1]);
        let reconstruction = reconstruction.map_or(0.0, |r| tape.value(r).to_vec_blocking(&gpu).unwrap()[0]);
        let expected = reconstruction + kl_weight * report[1];
        assert!((report[0] - expected).abs() < 1e-5, "loss {} vs reconstruction + β·KL = {expected}", report[0]);

        tape.backward().unwrap();
        let analytic = stats.grad.to_vec_blocking(&gpu).unwrap();
        let eps = 1e-2f32;
        for i in 0..values.len() {
            let mut nudged = values.clone();
            nudged[i] = values[i] + eps;
            let up = total(&nudged);
            nudged[i] = values[i] - eps;
            let down = total(&nudged);
            let numeric = (up - down) / (2.0 * eps as f64);
            let error = (numeric - analytic[i] as f64).abs() / (numeric.abs().max(analytic[i].abs() as f64) + 1e-2);
            assert!(
                error < 5e-3,
                "uses z {uses_z}, stats [{i}]: analytic {} vs finite difference {numeric}",
                analytic[i]
            );
        }
        set(&values);
    }
}

/// Runs `genlab` with `args`; its stdout's last line as JSON.
fn genlab_json(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_genlab")).args(args).output().unwrap();
    assert!(out.status.success(), "genlab {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[test]
fn train_and_eval_report_the_random_code_figures_on_moons() {
    let dir = std::env::temp_dir().join(format!("genlab-random-codes-{}", std::process::id()));
    // Few codes and pairs: each decoded image is scored against the moon manifold on the CPU.
    let data =
        ["--data", "moons", "--phases", "2", "--count", "60", "--iw-samples", "2", "--codes", "24", "--pairs", "8"];
    let mut figures = Vec::new();
    for (name, extra) in [("vae", None), ("ae", Some("--ae"))] {
        let out = dir.join(name);
        let mut args = vec!["train", "vae", "--steps", "30", "--hidden", "16", "--latent", "2", "--batch", "32"];
        args.extend(data);
        args.extend(extra);
        args.extend(["--out", out.to_str().unwrap()]);
        let trained = genlab_json(&args);
        // `eval vae` measures the saved weights again, to the same figures.
        let weights = out.join("weights.safetensors");
        let mut eval = vec!["eval", "vae", "--weights", weights.to_str().unwrap()];
        eval.extend(data);
        let evaluated = genlab_json(&eval);
        assert_eq!(trained["box_moon_share"], evaluated["box_moon_share"], "{trained}\n{evaluated}");
        figures.push(evaluated);
    }
    let [vae, ae] = &figures[..] else { unreachable!() };
    for key in ["fitted_gaussian_manifold_dist", "fitted_gaussian_moon_share", "box_manifold_dist", "box_moon_share"] {
        for (model, json) in [("vae", vae), ("autoencoder", ae)] {
            assert!(json[key].is_number(), "{model} lacks {key}: {json}");
        }
    }
    for key in ["prior_manifold_dist", "prior_moon_share"] {
        assert!(vae[key].is_number(), "the VAE lacks {key}: {vae}");
        assert!(ae.get(key).is_none(), "the autoencoder has no prior, yet reports {key}: {ae}");
    }
    for (model, json) in [("vae", vae), ("autoencoder", ae)] {
        for key in ["prior_moon_share", "fitted_gaussian_moon_share", "box_moon_share"] {
            if let Some(share) = json[key].as_f64() {
                assert!((0.0..=1.0).contains(&share), "{model} {key} = {share}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
