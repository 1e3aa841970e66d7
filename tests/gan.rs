//! The GAN end to end on lavapipe — on a ring of eight Gaussians, small enough to train in
//! seconds — and the precision/recall metric on toy sets with known answers.
#![cfg(not(target_arch = "wasm32"))] // native only; the browser suite is tests/browser.rs

mod common;

use genlab::data::device::DeviceRows;
use genlab::gpu::{block_on, Gpu};
use genlab::kernels::rng::{cpu, Stream};
use genlab::kernels::spectral_norm;
use genlab::models::gan::{Gan, GanConfig, GanHeader, GanOutput, SampleShape, Upsampler, FIXED_SAMPLES};
use genlab::models::latent::slerp_codes;
use genlab::models::metrics::{coarse, precision_recall, DEFAULT_K};
use genlab::models::{stream, Purpose};
use genlab::{Error, Tensor};

const MODES: usize = 8;
const STD: f32 = 0.05;

fn mode(m: usize) -> [f32; 2] {
    let angle = 2.0 * std::f32::consts::PI * m as f32 / MODES as f32;
    [angle.cos(), angle.sin()]
}

/// `n` points of the ring of eight Gaussians (radius 1, std 0.05), flat [n, 2].
fn ring(n: usize, seed: u64) -> Vec<f32> {
    let modes = cpu::random_index(Stream::new(seed), n, MODES as u32);
    let noise = cpu::normal(Stream::new(seed + 1000), 2 * n, 0.0, STD);
    modes
        .iter()
        .enumerate()
        .flat_map(|(i, &m)| {
            let c = mode(m as usize);
            [c[0] + noise[2 * i], c[1] + noise[2 * i + 1]]
        })
        .collect()
}

fn mean_distance_to_nearest_mode(points: &[f32]) -> f32 {
    let total: f32 = points
        .chunks(2)
        .map(|p| (0..MODES).map(|m| (p[0] - mode(m)[0]).hypot(p[1] - mode(m)[1])).fold(f32::INFINITY, f32::min))
        .sum();
    total / (points.len() / 2) as f32
}

fn toy_config(seed: u64) -> GanConfig {
    GanConfig {
        z_dim: 4,
        hidden: 64,
        batch: 64,
        g_learning_rate: 2e-3,
        d_learning_rate: 5e-3,
        output: GanOutput::Identity,
        d_conv_channels: 0,
        seed,
        ..GanConfig::default()
    }
}

fn toy(gpu: &Gpu, config: GanConfig) -> (Gan, DeviceRows) {
    let data = DeviceRows::upload(gpu, &ring(2000, 5), &[2]).unwrap();
    let mut gan = Gan::new(gpu, config, SampleShape::points(2)).unwrap();
    gan.monitor.set_every(1);
    (gan, data)
}

/// A toy GAN trained for 3 steps, its data, and the header to save it under.
fn trained_toy(gpu: &Gpu, seed: u64) -> (Gan, DeviceRows, GanHeader) {
    let (mut gan, data) = toy(gpu, toy_config(seed));
    for _ in 0..3 {
        gan.train_step(gpu, &data).unwrap();
    }
    let header =
        GanHeader { config: gan.config.clone(), height: 1, width: 2, channels: 1, dataset: "ring".into(), steps: 3 };
    (gan, data, header)
}

/// 40 samples of `shape`, uniform in [lo, hi) from stream `seed`, and their upload.
fn random_images(gpu: &Gpu, shape: &SampleShape, seed: u64, lo: f32, hi: f32) -> (Vec<f32>, DeviceRows) {
    let images = cpu::uniform(Stream::new(seed), 40 * shape.len(), lo, hi);
    let data = DeviceRows::upload(gpu, &images, &[shape.len()]).unwrap();
    (images, data)
}

fn weights(gpu: &Gpu, gan: &Gan) -> Vec<Vec<f32>> {
    common::values(gpu, &gan.params())
}

fn generated_spread(gpu: &Gpu, gan: &Gan) -> f32 {
    let points = gan.sample(gpu, stream(99, Purpose::Evaluation), 512).unwrap().to_vec_blocking(gpu).unwrap();
    mean_distance_to_nearest_mode(&points)
}

#[test]
fn samples_move_onto_the_ring() {
    let gpu = common::gpu();
    let (mut gan, data) = toy(&gpu, toy_config(3));
    let before = generated_spread(&gpu, &gan);
    for _ in 0..500 {
        gan.train_step(&gpu, &data).unwrap();
    }
    block_on(gan.monitor.flush()).unwrap();
    let after = generated_spread(&gpu, &gan);
    // About 1.05 → 0.27 (the data itself: 0.06).
    eprintln!("mean distance to the nearest mode: {before:.3} → {after:.3}");
    assert!(after < before / 2.5 && after < 0.4, "mean distance to the nearest mode {before} → {after}");

    // Every figure is finite (the monitor checks) and D's probabilities are probabilities.
    assert_eq!(gan.monitor.history.len(), 500);
    for record in &gan.monitor.history {
        let (d_real, d_fake) = (record.values[2], record.values[3]);
        assert!(d_real > 0.0 && d_real < 1.0 && d_fake > 0.0 && d_fake < 1.0, "{record:?}");
        assert!(record.values[0] > 0.0 && record.values[1] > 0.0, "{record:?}");
    }
}

#[test]
fn one_submission_per_step_with_two_discriminator_updates() {
    let gpu = common::gpu();
    let (mut gan, data) = toy(&gpu, GanConfig { d_steps: 2, ..toy_config(1) });
    for _ in 0..3 {
        let before = gpu.submissions();
        gan.train_step(&gpu, &data).unwrap();
        assert_eq!(gpu.submissions() - before, 1);
    }
    assert_eq!(gan.steps(), 3);
}

#[test]
fn each_update_moves_only_its_own_network() {
    let gpu = common::gpu();
    let (mut gan, data) = toy(&gpu, toy_config(2));
    // The generator's update back-propagates through D but must leave D alone …
    let d_before = common::values(&gpu, &gan.discriminator_params());
    let g_before = common::values(&gpu, &gan.generator_params());
    gan.generator_step(&gpu).unwrap();
    gpu.submit();
    let d_after = common::values(&gpu, &gan.discriminator_params());
    let g_after = common::values(&gpu, &gan.generator_params());
    assert_eq!(d_before, d_after);
    assert_ne!(g_before, g_after);
    // The sampling average moved towards the live generator: after one step, with the
    // warm-up's β = 2/11, it is 2/11 of the old weights plus 9/11 of the new.
    let ema = common::values(&gpu, &gan.generator_ema.as_ref().unwrap().params());
    for ((e, old), new) in ema.iter().zip(&g_before).zip(&g_after) {
        for ((e, o), n) in e.iter().zip(old).zip(new) {
            assert!((e - (2.0 / 11.0 * o + 9.0 / 11.0 * n)).abs() < 1e-5, "{e} {o} {n}");
        }
    }
    // … and the discriminator's update leaves G alone.
    gan.discriminator_step(&gpu, &data).unwrap();
    gpu.submit();
    let g_again = common::values(&gpu, &gan.generator_params());
    let d_again = common::values(&gpu, &gan.discriminator_params());
    assert_eq!(g_after, g_again);
    assert_ne!(d_after, d_again);
}

#[test]
fn without_the_average_the_training_generator_samples() {
    let gpu = common::gpu();
    let (mut gan, data) = toy(&gpu, GanConfig { g_ema: 0.0, ..toy_config(8) });
    assert!(gan.generator_ema.is_none());
    assert_eq!(gan.params().len(), 12);
    gan.train_step(&gpu, &data).unwrap();
    // With no average, G's own layers draw the samples.
    let z = gan.fixed_noise().clone();
    let tape = genlab::autodiff::Tape::new(&gpu);
    let direct = tape.value(gan.generator.forward(&tape, tape.constant(&z), false).unwrap());
    assert_eq!(direct.to_vec_blocking(&gpu).unwrap(), gan.fixed_samples(&gpu).unwrap().to_vec_blocking(&gpu).unwrap());
}

/// With pixel normalisation, G's hidden layers forget how long z is: a fresh G (biases 0)
/// draws the same image for z and for 3z, through the training generator and its average
/// alike. Without it, 3z draws another image.
#[test]
fn pixel_norm_makes_the_generator_blind_to_the_length_of_z() {
    let gpu = common::gpu();
    let images = |g_pixel_norm: bool| {
        let (gan, _) = toy(&gpu, GanConfig { g_pixel_norm, ..toy_config(9) });
        let z = gan.fixed_noise();
        let longer: Vec<f32> = z.to_vec_blocking(&gpu).unwrap().iter().map(|v| 3.0 * v).collect();
        let longer = Tensor::from_slice(&gpu, z.shape().clone(), &longer).unwrap();
        let draw = |z: &Tensor| gan.generate(&gpu, z).unwrap().to_vec_blocking(&gpu).unwrap();
        let tape = genlab::autodiff::Tape::new(&gpu);
        let live = gan.generator.forward(&tape, tape.constant(&longer), true).unwrap();
        (draw(z), draw(&longer), tape.value(live).to_vec_blocking(&gpu).unwrap())
    };
    let (short, long, live) = images(true);
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-5 * (1.0 + x.abs()));
    assert!(close(&short, &long) && close(&short, &live));
    let (short, long, _) = images(false);
    assert!(!close(&short, &long));
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let gpu = common::gpu();
    let run = |seed| {
        let (mut gan, data) = toy(&gpu, toy_config(seed));
        for _ in 0..5 {
            gan.train_step(&gpu, &data).unwrap();
        }
        weights(&gpu, &gan)
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}

#[test]
fn bad_configurations_are_refused_with_reasons() {
    let gpu = common::gpu();
    let refuse = |config: GanConfig, needle: &str| match Gan::new(&gpu, config, SampleShape::points(2)) {
        Err(e) => assert!(e.to_string().contains(needle), "{e}"),
        Ok(_) => panic!("accepted a bad config, expected {needle:?}"),
    };
    refuse(GanConfig { z_dim: 0, ..toy_config(1) }, "z = 0");
    refuse(GanConfig { g_learning_rate: f32::NAN, ..toy_config(1) }, "learning rate NaN");
    refuse(GanConfig { d_learning_rate: -1.0, ..toy_config(1) }, "learning rate -1");
    refuse(GanConfig { real_label: 0.0, ..toy_config(1) }, "real label 0");
    refuse(GanConfig { real_label: 1.5, ..toy_config(1) }, "real label 1.5");
    refuse(GanConfig { d_steps: 0, ..toy_config(1) }, "discriminator steps");
    refuse(GanConfig { batch: 0, ..toy_config(1) }, "batch size 0");
    refuse(GanConfig { g_ema: 1.0, ..toy_config(1) }, "average decay 1");
    refuse(GanConfig { d_conv_channels: 65, ..toy_config(1) }, "65 convolution channels");
    refuse(GanConfig { g_conv_channels: 65, ..toy_config(1) }, "65 channels in the generator");

    let data = DeviceRows::upload(&gpu, &ring(100, 1), &[2]).unwrap();
    let mut gan = Gan::new(&gpu, GanConfig { batch: 1000, ..toy_config(1) }, SampleShape::points(2)).unwrap();
    let e = gan.train_step(&gpu, &data).unwrap_err();
    assert!(e.to_string().contains("batch size 1000"), "{e}");
    let mut gan = Gan::new(&gpu, toy_config(1), SampleShape::points(3)).unwrap();
    let e = gan.train_step(&gpu, &data).unwrap_err();
    assert!(e.to_string().contains("samples of 3 values"), "{e}");
}

#[test]
fn weights_round_trip_and_other_models_files_are_refused() {
    let gpu = common::gpu();
    let (gan, _, header) = trained_toy(&gpu, 4);
    let bytes = block_on(gan.save(&gpu, &header)).unwrap();
    let (loaded, back) = Gan::load(&gpu, &bytes).unwrap();
    assert_eq!(back, header);
    assert_eq!(weights(&gpu, &gan), weights(&gpu, &loaded));
    // Same weights, same seed: the same fixed-noise samples.
    let a = gan.fixed_samples(&gpu).unwrap().to_vec_blocking(&gpu).unwrap();
    let b = loaded.fixed_samples(&gpu).unwrap().to_vec_blocking(&gpu).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), FIXED_SAMPLES * 2);

    assert!(matches!(Gan::load(&gpu, &bytes[..bytes.len() / 2]), Err(Error::Tensors(_))));
    let vae = genlab::io::safetensors::save_tensors(&[("x", &[1], &[1.0])], &[("model", "vae")]).unwrap();
    let e = Gan::load(&gpu, &vae).err().expect("a VAE file is not a GAN");
    assert!(e.to_string().contains("\"vae\""), "{e}");
    let wrong = GanHeader { width: 3, ..header };
    assert!(block_on(gan.save(&gpu, &wrong)).is_err());
}

#[test]
fn the_generator_alone_is_a_smaller_file_that_samples_the_same() {
    let gpu = common::gpu();
    let (gan, data, header) = trained_toy(&gpu, 8);
    let full = block_on(gan.save(&gpu, &header)).unwrap();
    let small = block_on(gan.save_generator(&gpu, &header)).unwrap();
    assert!(small.len() * 2 < full.len(), "{} vs {} bytes", small.len(), full.len());
    let (loaded, back) = Gan::load(&gpu, &small).unwrap();
    assert_eq!(back, header);
    // It samples what the original's averaged generator samples, from both of its generators.
    let a = gan.fixed_samples(&gpu).unwrap().to_vec_blocking(&gpu).unwrap();
    assert_eq!(loaded.fixed_samples(&gpu).unwrap().to_vec_blocking(&gpu).unwrap(), a);
    let average =
        common::values(&gpu, &loaded.generator_ema.as_ref().expect("the toy GAN averages its generator").params());
    assert_eq!(
        common::values(&gpu, &loaded.generator.params()),
        average,
        "the training generator starts from the average"
    );
    // The discriminator is the seed's fresh one, and training goes on from there.
    let fresh = Gan::new(&gpu, gan.config.clone(), SampleShape::points(2)).unwrap();
    assert_eq!(
        common::values(&gpu, &loaded.discriminator.params()),
        common::values(&gpu, &fresh.discriminator.params())
    );
    let mut loaded = loaded;
    loaded.train_step(&gpu, &data).unwrap();
}

#[test]
fn latent_walk_goes_from_one_noise_to_the_other() {
    let gpu = common::gpu();
    let (gan, _) = toy(&gpu, toy_config(6));
    let (a, b) = ([1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]);
    let codes = slerp_codes(&a, &b, 5);
    assert_eq!(codes[0], a.to_vec());
    assert!(codes[4].iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6));
    // Halfway along the arc: both ends weighted by sin(π/4) / sin(π/2).
    let mid = &codes[2];
    let w = std::f32::consts::FRAC_1_SQRT_2;
    assert!((mid[0] - w).abs() < 1e-5 && (mid[1] - 2.0 * w).abs() < 1e-5, "{mid:?}");
    let walk = gan.latent_walk(&gpu, &a, &b, 5).unwrap().to_vec_blocking(&gpu).unwrap();
    let ends = gan.generate_codes(&gpu, &[a.to_vec(), b.to_vec()]).unwrap().to_vec_blocking(&gpu).unwrap();
    assert_eq!(walk.len(), 10);
    assert_eq!(&walk[..2], &ends[..2]);
    assert!(walk[8..].iter().zip(&ends[2..]).all(|(x, y)| (x - y).abs() < 1e-5));
    assert!(gan.latent_walk(&gpu, &a, &b[..3], 5).is_err());
    // D's opinion is a probability per row.
    let x = gan.fixed_samples(&gpu).unwrap();
    let p = gan.discriminate(&gpu, &x).unwrap().to_vec_blocking(&gpu).unwrap();
    assert_eq!(p.len(), FIXED_SAMPLES);
    assert!(p.iter().all(|&v| v > 0.0 && v < 1.0));
}

// ---- precision and recall (CPU) ----

/// `n` points around each of `centres` (2-D), spread `std`.
fn clusters(centres: &[[f32; 2]], n: usize, std: f32, seed: u64) -> Vec<f32> {
    let noise = cpu::normal(Stream::new(seed), 2 * n * centres.len(), 0.0, std);
    (0..n * centres.len())
        .flat_map(|i| {
            let c = centres[i % centres.len()];
            [c[0] + noise[2 * i], c[1] + noise[2 * i + 1]]
        })
        .collect()
}

#[test]
fn precision_recall_on_sets_with_known_answers() {
    let modes: Vec<[f32; 2]> = (0..MODES).map(mode).collect();
    let real = clusters(&modes, 40, 0.05, 1);

    // The same set: every sample is inside its own ball.
    let same = precision_recall(&real, &real, 2, DEFAULT_K).unwrap();
    assert_eq!((same.precision, same.recall), (1.0, 1.0));

    // Another draw of the same distribution: both high.
    let other = precision_recall(&real, &clusters(&modes, 40, 0.05, 2), 2, DEFAULT_K).unwrap();
    assert!(other.precision > 0.8 && other.recall > 0.8, "{other:?}");

    // Far away: nothing overlaps.
    let far = clusters(&[[50.0, 50.0], [60.0, -40.0]], 100, 0.05, 3);
    let disjoint = precision_recall(&real, &far, 2, DEFAULT_K).unwrap();
    assert_eq!((disjoint.precision, disjoint.recall), (0.0, 0.0));

    // Mode collapse: all fakes on one of the eight modes, tightly.
    let collapsed = clusters(&modes[..1], 320, 0.01, 4);
    let pr = precision_recall(&real, &collapsed, 2, DEFAULT_K).unwrap();
    assert!(pr.precision > 0.9, "{pr:?}");
    assert!(pr.looks_collapsed(), "{pr:?}");

    // Two of the eight modes, at the data's spread: recall about a quarter.
    let two = clusters(&modes[..2], 160, 0.05, 5);
    let pr = precision_recall(&real, &two, 2, DEFAULT_K).unwrap();
    assert!(pr.precision > 0.8 && pr.recall > 0.1 && pr.recall < 0.4, "{pr:?}");

    // Too few samples, or rows that do not fit the dimension, are refused.
    assert!(precision_recall(&real, &real[..6], 2, DEFAULT_K).is_err());
    assert!(precision_recall(&real, &real[..7], 2, DEFAULT_K).is_err());
    assert!(precision_recall(&real, &real, 0, DEFAULT_K).is_err());
}

#[test]
fn coarse_images_average_squares_per_channel_and_edges_hold_what_fits() {
    // One 3×5 image with 2 channels: value = 10·y + x in channel 0, its negative in channel 1.
    let (h, w, c) = (3, 5, 2);
    let image: Vec<f32> = (0..h)
        .flat_map(|y| (0..w).flat_map(move |x| [10.0 * y as f32 + x as f32, -(10.0 * y as f32 + x as f32)]))
        .collect();
    let two = [image.clone(), image.iter().map(|v| v * 2.0).collect()].concat();
    let out = coarse(&two, h, w, c, 2).unwrap();
    // Squares: rows {0,1} and {2}; columns {0,1}, {2,3} and {4}.
    let expected = [5.5, 7.5, 9.0, 20.5, 22.5, 24.0];
    assert_eq!(out.len(), 2 * 6 * 2);
    for (i, e) in expected.iter().enumerate() {
        assert_eq!(out[2 * i], *e, "square {i}");
        assert_eq!(out[2 * i + 1], -e, "square {i}, channel 1");
        assert_eq!(out[12 + 2 * i], 2.0 * e, "second image, square {i}");
    }
    // A cell of 1 changes nothing; broken shapes are refused.
    assert_eq!(coarse(&image, h, w, c, 1).unwrap(), image);
    assert!(coarse(&image[1..], h, w, c, 2).is_err());
    assert!(coarse(&image, h, w, c, 0).is_err());
}

/// The sprite setup in miniature: D starts with a convolution over 6×5×3 images. Its
/// filters are D's (D's update moves them, G's does not), they survive a save and load, and
/// a convolution over points is refused.
#[test]
fn a_convolutional_discriminator_belongs_to_d_and_round_trips() {
    let gpu = common::gpu();
    let shape = SampleShape::image(6, 5, 3);
    let (images, data) = random_images(&gpu, &shape, 3, 0.25, 0.75);
    let config = GanConfig { z_dim: 4, hidden: 16, batch: 8, d_conv_channels: 4, seed: 5, ..GanConfig::default() };
    let mut gan = Gan::new(&gpu, config.clone(), shape).unwrap();
    let conv = gan.discriminator_conv.as_ref().expect("d_conv_channels > 0 gives D a convolution");
    // 4×4 windows, stride 2, padding 1: a 3×2 map of 4 channels feeds D's dense layers.
    assert_eq!(conv.output_len(), 3 * 2 * 4);
    let names: Vec<String> = gan.discriminator_params().iter().map(|p| p.name.clone()).collect();
    assert_eq!(&names[..2], ["discriminator.conv.weight", "discriminator.conv.bias"]);
    let filters = |gan: &Gan| gan.discriminator_conv.as_ref().unwrap().weight.value.to_vec_blocking(&gpu).unwrap();

    let before = filters(&gan);
    gan.generator_step(&gpu).unwrap();
    gpu.submit();
    assert_eq!(filters(&gan), before, "G's update wrote to D's filters");
    gan.discriminator_step(&gpu, &data).unwrap();
    gpu.submit();
    assert_ne!(filters(&gan), before, "D's update left its filters alone");
    for _ in 0..3 {
        gan.train_step(&gpu, &data).unwrap();
    }

    let header = GanHeader { config, height: 6, width: 5, channels: 3, dataset: "noise".into(), steps: 4 };
    let (loaded, _) = Gan::load(&gpu, &block_on(gan.save(&gpu, &header)).unwrap()).unwrap();
    assert_eq!(weights(&gpu, &gan), weights(&gpu, &loaded));
    let probe = Tensor::from_slice(&gpu, [8, shape.len()], &images[..8 * shape.len()]).unwrap();
    let judge = |gan: &Gan| gan.discriminate(&gpu, &probe).unwrap().to_vec_blocking(&gpu).unwrap();
    assert_eq!(judge(&gan), judge(&loaded));

    let e = Gan::new(&gpu, GanConfig { d_conv_channels: 4, ..toy_config(1) }, SampleShape::points(2)).err();
    assert!(e.expect("a convolution over 1×2 points").to_string().contains("d_conv_channels"));
}

/// With `d_minibatch_stddev`, D's second layer has one more input, the batch's spread, so D
/// judges each image together with the batch it came in: the same image gets another score
/// when the rest of its batch changes (an MLP D without the feature scores it the same).
/// The setting trains, survives a save and load, and refuses batches of one.
#[test]
fn the_minibatch_spread_lets_d_judge_a_batch_and_round_trips() {
    let gpu = common::gpu();
    let shape = SampleShape::image(6, 5, 3);
    let (images, data) = random_images(&gpu, &shape, 7, 0.1, 0.9);
    let config =
        GanConfig { z_dim: 4, hidden: 16, batch: 8, d_minibatch_stddev: true, seed: 8, ..GanConfig::default() };
    let mut gan = Gan::new(&gpu, config.clone(), shape).unwrap();
    assert_eq!(gan.discriminator.layers[1].weight.value.shape().dims(), &[16 + 1, 16]);
    for _ in 0..4 {
        gan.train_step(&gpu, &data).unwrap();
    }

    // The first image, in a varied batch and in a batch of copies of one other image.
    let n = shape.len();
    let varied = images[..4 * n].to_vec();
    let mut uniform = varied.clone();
    for row in 2..4 {
        uniform.copy_within(n..2 * n, row * n);
    }
    let first_score = |gan: &Gan, batch: &[f32]| {
        let t = Tensor::from_slice(&gpu, [4, n], batch).unwrap();
        gan.discriminate(&gpu, &t).unwrap().to_vec_blocking(&gpu).unwrap()[0]
    };
    let (in_varied, in_uniform) = (first_score(&gan, &varied), first_score(&gan, &uniform));
    assert!(in_varied.is_finite() && in_uniform.is_finite());
    assert!((in_varied - in_uniform).abs() > 1e-6, "D ignored the batch: {in_varied} both times");
    let plain = Gan::new(&gpu, GanConfig { d_minibatch_stddev: false, ..config.clone() }, shape).unwrap();
    assert_eq!(plain.discriminator.layers[1].weight.value.shape().dims(), &[16, 16]);
    assert_eq!(first_score(&plain, &varied), first_score(&plain, &uniform));

    let header =
        GanHeader { config: config.clone(), height: 6, width: 5, channels: 3, dataset: "noise".into(), steps: 4 };
    let (loaded, loaded_header) = Gan::load(&gpu, &block_on(gan.save(&gpu, &header)).unwrap()).unwrap();
    assert!(loaded_header.config.d_minibatch_stddev);
    assert_eq!(weights(&gpu, &gan), weights(&gpu, &loaded));
    assert_eq!(first_score(&gan, &uniform), first_score(&loaded, &uniform));

    let e = Gan::new(&gpu, GanConfig { batch: 1, ..config }, shape).err().expect("a spread of one image");
    assert!(e.to_string().contains("at least 2"), "{e}");
}

/// With `d_spectral_norm`, every weight matrix of D (the convolution's too) is divided by
/// its largest singular value. Through training, each power iteration's `u` keeps up with
/// its moving matrix, so one more step gives σ as a long CPU iteration finds it; every D
/// parameter learns; and the vectors survive a save and load, so the loaded D judges as
/// the saved one does.
#[test]
fn a_spectrally_normalised_d_tracks_sigma_trains_and_round_trips() {
    let gpu = common::gpu();
    let shape = SampleShape::image(8, 8, 3);
    let (images, data) = random_images(&gpu, &shape, 10, 0.1, 0.9);
    let config = GanConfig {
        z_dim: 4,
        hidden: 16,
        batch: 8,
        d_conv_channels: 4,
        d_spectral_norm: true,
        seed: 11,
        ..GanConfig::default()
    };
    let mut gan = Gan::new(&gpu, config.clone(), shape).unwrap();
    assert_eq!(gan.discriminator_norms.len(), 4, "the convolution and three dense layers");
    let before = gan.discriminator_params().iter().map(|p| p.value.to_vec_blocking(&gpu).unwrap()).collect::<Vec<_>>();
    for _ in 0..30 {
        gan.train_step(&gpu, &data).unwrap();
    }
    block_on(gan.monitor.flush()).unwrap();
    let d_real = gan.monitor.latest_value("d_real").unwrap();
    assert!(d_real.is_finite() && d_real > 0.0 && d_real < 1.0, "D(real) = {d_real}");
    for (param, old) in gan.discriminator_params().iter().zip(&before) {
        assert_ne!(&param.value.to_vec_blocking(&gpu).unwrap(), old, "{} did not learn", param.name);
    }
    // One power-iteration step per use trails a moving matrix's σ a little (from below);
    // more steps on the same matrix reach it.
    let weights_of_d = gan.discriminator_params().into_iter().filter(|p| p.name.ends_with(".weight"));
    for (weight, norm) in weights_of_d.zip(&gan.discriminator_norms) {
        let w = weight.value.to_vec_blocking(&gpu).unwrap();
        let rows = weight.value.shape().as_matrix().0;
        let (_, _, sigma) = spectral_norm::cpu::power_iteration(&w, rows, &vec![1.0; rows], 2000);
        let sigma_after = |steps| {
            norm.iterate(&gpu, &weight.value, steps).unwrap();
            norm.sigma.to_vec_blocking(&gpu).unwrap()[0]
        };
        let tracked = sigma_after(1);
        assert!(
            tracked <= sigma * 1.0001 && tracked > 0.9 * sigma,
            "{}: σ tracked {tracked}, true {sigma}",
            weight.name
        );
        let converged = sigma_after(500);
        assert!(
            (converged - sigma).abs() < 1e-4 * sigma,
            "{}: σ {converged} after 500 steps, true {sigma}",
            weight.name
        );
    }

    let header =
        GanHeader { config: config.clone(), height: 8, width: 8, channels: 3, dataset: "noise".into(), steps: 30 };
    let (loaded, loaded_header) = Gan::load(&gpu, &block_on(gan.save(&gpu, &header)).unwrap()).unwrap();
    assert!(loaded_header.config.d_spectral_norm);
    let u = |gan: &Gan| gan.discriminator_norms.iter().map(|n| n.u.to_vec_blocking(&gpu).unwrap()).collect::<Vec<_>>();
    assert_eq!(u(&gan), u(&loaded));
    let probe = Tensor::from_slice(&gpu, [8, shape.len()], &images[..8 * shape.len()]).unwrap();
    let judge = |gan: &Gan| gan.discriminate(&gpu, &probe).unwrap().to_vec_blocking(&gpu).unwrap();
    assert_eq!(judge(&gan), judge(&loaded));

    // Without the setting, a GAN saves no vectors and loads without them.
    let plain = Gan::new(&gpu, GanConfig { d_spectral_norm: false, ..config }, shape).unwrap();
    let header = GanHeader { config: plain.config.clone(), ..header };
    let plain_file = block_on(plain.save(&gpu, &header)).unwrap();
    assert!(Gan::load(&gpu, &plain_file).unwrap().0.discriminator_norms.is_empty());
}

/// Many samples are generated in chunks (the GPU's largest binding caps one batch); each
/// image is the one its noise vector gives on its own.
#[test]
fn generating_in_chunks_gives_the_same_images() {
    let gpu = common::gpu();
    let gan = Gan::new(
        &gpu,
        GanConfig { g_conv_channels: 2, z_dim: 3, hidden: 8, ..GanConfig::default() },
        SampleShape::image(4, 4, 1),
    )
    .unwrap();
    let noise = cpu::normal(Stream::new(9), 300 * 3, 0.0, 1.0);
    let generate = |rows: std::ops::Range<usize>| {
        let z = Tensor::from_slice(&gpu, [rows.len(), 3], &noise[rows.start * 3..rows.end * 3]).unwrap();
        gan.generate(&gpu, &z).unwrap().to_vec_blocking(&gpu).unwrap()
    };
    let all = generate(0..300);
    assert_eq!(all.len(), 300 * 16);
    assert_eq!(all, [generate(0..100), generate(100..300)].concat());
}

/// Files written before the discriminator could convolve have no `d_conv_channels` in their
/// header; they load as the MLP discriminator they were trained with.
#[test]
fn headers_without_a_convolution_setting_mean_none() {
    let mut json = serde_json::to_value(GanConfig::default()).unwrap();
    json.as_object_mut().unwrap().remove("d_conv_channels");
    json.as_object_mut().unwrap().remove("g_conv_channels");
    json.as_object_mut().unwrap().remove("d_minibatch_stddev");
    json.as_object_mut().unwrap().remove("g_upsampler");
    json.as_object_mut().unwrap().remove("d_spectral_norm");
    json.as_object_mut().unwrap().remove("g_pixel_norm");
    let config: GanConfig = serde_json::from_value(json).unwrap();
    assert_eq!((config.d_conv_channels, config.g_conv_channels, config.d_minibatch_stddev), (0, 0, false));
    assert!(!config.d_spectral_norm && !config.g_pixel_norm);
    // Upsampling generators saved before the choice existed used transposed convolutions.
    assert_eq!(config.g_upsampler, Upsampler::Transposed);
}

/// With `g_conv_channels` = c, G's dense layers make an H/4 × W/4 × 2c map that two
/// transposed convolutions paint up to the image; the moving average, the small generator
/// file and the start from the mean image work as for the MLP generator.
#[test]
fn an_upsampling_generator_trains_round_trips_and_starts_at_the_mean() {
    // Each painter doubles the map: a 4×4 transposed convolution from 6 channels to 3
    // paints 4·4·3 values per input pixel; a 3×3 convolution after the nearest-neighbour
    // doubling reads 3·3·6 values per output pixel.
    upsampling_generator(Upsampler::Transposed, [6, 4 * 4 * 3]);
    upsampling_generator(Upsampler::Resize, [3 * 3 * 6, 3]);
}

fn upsampling_generator(g_upsampler: Upsampler, first_painter: [usize; 2]) {
    let gpu = common::gpu();
    let shape = SampleShape::image(8, 12, 3);
    let (_, data) = random_images(&gpu, &shape, 4, 0.1, 0.9);
    let config =
        GanConfig { z_dim: 4, hidden: 16, batch: 8, g_conv_channels: 3, g_upsampler, seed: 6, ..GanConfig::default() };
    let mut gan = Gan::new(&gpu, config.clone(), shape).unwrap();
    let names: Vec<String> = gan.generator_params().iter().map(|p| p.name.clone()).collect();
    assert_eq!(
        names[names.len() - 5..],
        [
            "generator.up.0.weight",
            "generator.up.0.bias",
            "generator.up.1.weight",
            "generator.up.1.bias",
            "generator.image_bias"
        ]
    );
    // z → 16 → a 2×3 map of 6 channels → 4×6×3 → 8×12×3.
    assert_eq!(gan.generator.dense.layers[1].weight.value.shape().dims(), &[16, 2 * 3 * 6]);
    assert_eq!(gan.generator.upsample[0].weight().value.shape().dims(), &first_painter);

    let mean: Vec<f32> = (0..shape.len()).map(|i| 0.2 + 0.6 * ((i * 7) % 11) as f32 / 10.0).collect();
    gan.start_from_mean(&gpu, &mean).unwrap();
    let samples = gan.fixed_samples(&gpu).unwrap().to_vec_blocking(&gpu).unwrap();
    let off = samples.chunks(shape.len()).flat_map(|s| s.iter().zip(&mean).map(|(a, b)| (a - b).abs())).sum::<f32>()
        / samples.len() as f32;
    assert!(off < 0.03, "{g_upsampler:?}: mean distance to the mean image {off}");

    let before = weights(&gpu, &gan);
    for _ in 0..3 {
        gan.train_step(&gpu, &data).unwrap();
    }
    let after = weights(&gpu, &gan);
    let generator_count = gan.generator_params().len();
    for (i, (b, a)) in before.iter().zip(&after).take(generator_count).enumerate() {
        assert_ne!(b, a, "{g_upsampler:?}: G's parameter {} did not train", names[i]);
    }

    let header = GanHeader { config, height: 8, width: 12, channels: 3, dataset: "noise".into(), steps: 3 };
    let (loaded, _) = Gan::load(&gpu, &block_on(gan.save(&gpu, &header)).unwrap()).unwrap();
    assert_eq!(weights(&gpu, &gan), weights(&gpu, &loaded));
    let (small, _) = Gan::load(&gpu, &block_on(gan.save_generator(&gpu, &header)).unwrap()).unwrap();
    let fixed = |gan: &Gan| gan.fixed_samples(&gpu).unwrap().to_vec_blocking(&gpu).unwrap();
    assert_eq!(fixed(&small), fixed(&gan));

    let refused =
        |shape: SampleShape| Gan::new(&gpu, GanConfig { g_conv_channels: 3, ..GanConfig::default() }, shape).err();
    for shape in [SampleShape::image(6, 8, 3), SampleShape::points(2)] {
        let e = refused(shape).expect("sides not divisible by 4");
        assert!(e.to_string().contains("divisible by 4"), "{e}");
    }
}

/// From scratch, G starts at the training images' mean: its output layer starts small, and
/// `start_from_mean` puts the mean into the output bias (through the sigmoid's inverse).
#[test]
fn a_fresh_generator_starts_at_the_mean_image() {
    let gpu = common::gpu();
    let shape = SampleShape::image(4, 4, 3);
    let mean: Vec<f32> = (0..shape.len()).map(|i| 0.05 + 0.9 * (i as f32 / shape.len() as f32)).collect();
    let config = GanConfig { z_dim: 8, hidden: 32, batch: 4, d_conv_channels: 0, ..GanConfig::default() };
    let mut gan = Gan::new(&gpu, config, shape).unwrap();
    let spread = |samples: &[f32]| {
        let per_sample: Vec<f32> =
            samples.chunks(shape.len()).map(|s| s.iter().zip(&mean).map(|(a, b)| (a - b).abs()).sum::<f32>()).collect();
        per_sample.iter().sum::<f32>() / (per_sample.len() * shape.len()) as f32
    };
    let before = spread(&gan.fixed_samples(&gpu).unwrap().to_vec_blocking(&gpu).unwrap());
    gan.start_from_mean(&gpu, &mean).unwrap();
    let after = spread(&gan.fixed_samples(&gpu).unwrap().to_vec_blocking(&gpu).unwrap());
    assert!(after < 0.03, "mean distance to the mean image {after} (before: {before})");
    assert!(before > 0.1, "the untouched generator was already at the mean: {before}");
    let e = gan.start_from_mean(&gpu, &mean[1..]).unwrap_err();
    assert!(e.to_string().contains("47 values"), "{e}");
}
