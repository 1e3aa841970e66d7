//! The PixelRNN end to end on lavapipe (issue 5): its helper kernels against their CPU twins,
//! the whole model's gradient against finite differences through the GPU path, learning on
//! small sprites, sampling and completion (every known pixel kept), reproducibility, one
//! submission per step, and refusals.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use genlab::data::device::DeviceDataset;
use genlab::data::{moons, sprites, Dataset, DatasetKind, MoonJitter};
use genlab::gpu::block_on;
use genlab::kernels::lstm::{self, LstmDims};
use genlab::kernels::pixel_rnn::{self as kernels, cpu, InputLayout};
use genlab::kernels::rng::{self, Stream};
use genlab::models::pixel_rnn::{baselines, MaskKind, PixelRnn, PixelRnnConfig, PixelRnnHeader, UNPAINTED};
use genlab::{Gpu, Tensor};

fn random_tokens(seed: u64, n: usize, classes: usize) -> Vec<u32> {
    rng::cpu::random_index(Stream::new(seed), n, classes as u32)
}

fn read_u32(gpu: &Gpu, t: &Tensor) -> Vec<u32> {
    t.to_vec_blocking(gpu).unwrap().into_iter().map(f32::to_bits).collect()
}

#[test]
fn build_inputs_matches_cpu_twin() {
    let gpu = common::gpu();
    // (height, width, classes, batch, positions, start, steps)
    let cases = [
        (1, 1, 1, 1, false, 0, 1),
        (1, 1, 2, 3, true, 0, 1),
        (3, 5, 3, 7, true, 0, 15),
        (4, 4, 16, 3, true, 5, 7),
        (2, 7, 17, 33, false, 13, 1),
        (5, 3, 256, 2, true, 1, 14),
    ];
    for (i, (height, width, classes, batch, positions, start, steps)) in cases.into_iter().enumerate() {
        let layout = InputLayout { height, width, classes, positions };
        let seq = layout.seq_len();
        let tokens = random_tokens(i as u64, batch * seq, classes);
        let t = Tensor::from_slice(&gpu, [batch, seq], &tokens).unwrap();
        let (x, targets) = kernels::build_inputs(&gpu, &t, layout, start, steps).unwrap();
        let (want_x, want_targets) = cpu::build_inputs(&tokens, layout, start, steps);
        assert_eq!(x.shape().dims(), &[steps, batch, layout.features()]);
        assert_eq!(x.to_vec_blocking(&gpu).unwrap(), want_x, "x, case {i}");
        assert_eq!(read_u32(&gpu, &targets), want_targets, "targets, case {i}");
    }
    // The start token at t = 0 and the positions of a 2×3 image, spelled out.
    let layout = InputLayout { height: 2, width: 3, classes: 2, positions: true };
    let (x, targets) = cpu::build_inputs(&[1, 0, 1, 1, 0, 0], layout, 0, 6);
    let f = layout.features(); // 3 + 2 + 3
    assert_eq!(&x[..f], &[0., 0., 1., 1., 0., 1., 0., 0.]); // start token, row 0, col 0
    assert_eq!(&x[4 * f..5 * f], &[0., 1., 0., 0., 1., 0., 1., 0.]); // after colour 1, row 1, col 1
    assert_eq!(targets, vec![1, 0, 1, 1, 0, 0]);
    // Shapes are refused with reasons.
    let t = Tensor::from_slice(&gpu, [2, 5], &[0u32; 10]).unwrap();
    let e = kernels::build_inputs(&gpu, &t, layout, 0, 6).unwrap_err();
    assert!(e.to_string().contains("[B, 6]"), "{e}");
    let t = Tensor::from_slice(&gpu, [1, 6], &[0u32; 6]).unwrap();
    assert!(kernels::build_inputs(&gpu, &t, layout, 4, 3).is_err());
}

#[test]
fn token_projection_and_its_weight_gradient_match_the_one_hot_products() {
    let gpu = common::gpu();
    // (height, width, classes, batch, hidden, positions): primes, 1×1, T not a multiple of
    // the 16-step slices, K = 256, 4H above a workgroup of 64.
    let cases = [
        (1, 1, 1, 1, 1, false),
        (3, 5, 3, 7, 5, true),
        (4, 4, 16, 3, 17, true),
        (2, 7, 17, 33, 3, false),
        (5, 9, 256, 2, 2, true),
        (16, 16, 16, 5, 20, true),
    ];
    for (i, (height, width, classes, batch, hidden, positions)) in cases.into_iter().enumerate() {
        let layout = InputLayout { height, width, classes, positions };
        let (seq, f, g4) = (layout.seq_len(), layout.features(), 4 * hidden);
        let seed = 100 + i as u64;
        let tokens = random_tokens(seed, batch * seq, classes);
        let w_x = genlab::selftest::test_data(seed + 1, f * g4, 1.0);
        let bias = genlab::selftest::test_data(seed + 2, g4, 1.0);
        let dgates = genlab::selftest::test_data(seed + 3, seq * batch * g4, 1.0);
        let tokens_t = Tensor::from_slice(&gpu, [batch, seq], &tokens).unwrap();
        let w_t = Tensor::from_slice(&gpu, [f, g4], &w_x).unwrap();
        let b_t = Tensor::from_slice(&gpu, [g4], &bias).unwrap();
        for (start, steps) in [(0, seq), (seq / 2, seq - seq / 2), (seq - 1, 1)] {
            let (x_proj, targets) = kernels::project_tokens(&gpu, &tokens_t, &w_t, &b_t, layout, start, steps).unwrap();
            let (want, want_targets) = cpu::project_tokens(&tokens, &w_x, &bias, layout, start, steps);
            assert_eq!(x_proj.shape().dims(), &[steps, batch, g4]);
            let err = genlab::selftest::max_error(&x_proj.to_vec_blocking(&gpu).unwrap(), &want);
            assert!(err < 1e-6, "case {i} steps {start}+{steps}: x_proj error {err}");
            assert_eq!(read_u32(&gpu, &targets), want_targets);
            // The same as the dense product with the explicit one-hot rows.
            let (x, _) = kernels::build_inputs(&gpu, &tokens_t, layout, start, steps).unwrap();
            let dense = lstm::project_inputs(&gpu, &x, &w_t, &b_t).unwrap();
            let err = genlab::selftest::max_error(&dense.to_vec_blocking(&gpu).unwrap(), &want);
            assert!(err < 1e-5, "case {i}: X·W_x + b differs from the token projection by {err}");
        }
        let dgates_t = Tensor::from_slice(&gpu, [seq, batch, g4], &dgates).unwrap();
        let dw = Tensor::uninit(&gpu, [f, g4]).unwrap();
        kernels::onehot_weight_grad_into(&gpu, &tokens_t, &dgates_t, layout, &dw).unwrap();
        let want = lstm::cpu::to_f32(&cpu::onehot_weight_grad(&tokens, &dgates, layout));
        let err = genlab::selftest::max_error(&dw.to_vec_blocking(&gpu).unwrap(), &want);
        assert!(err < 1e-5, "case {i}: dW_x error {err}");
    }
    // Layouts too wide for the kernels are refused with a reason.
    let wide = InputLayout { height: 64, width: 64, classes: 256, positions: true };
    assert!(wide.validate().unwrap_err().to_string().contains("input columns"));
}

/// Whether `u` lands so close to a boundary of the cumulative distribution that f32 `exp`
/// on the GPU and the CPU could legitimately pick neighbouring colours.
fn ambiguous(logits: &[f32], temperature: f32, u: f32) -> bool {
    if temperature <= 0.0 {
        let mut sorted = logits.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        return sorted.len() > 1 && sorted[0] - sorted[1] < 1e-5;
    }
    let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let w: Vec<f64> = logits.iter().map(|&v| ((v as f64 - top) / temperature as f64).exp()).collect();
    let total: f64 = w.iter().sum();
    let mut acc = 0.0;
    w.iter().any(|&x| {
        acc += x;
        (acc - u as f64 * total).abs() < 1e-4 * total
    })
}

#[test]
fn sample_step_matches_cpu_twin() {
    let gpu = common::gpu();
    let mut compared = 0;
    // (height, width, classes, batch, t)
    let cases = [(1, 1, 1, 1, 0), (2, 3, 3, 5, 0), (2, 3, 3, 65, 5), (3, 3, 17, 7, 4), (4, 4, 16, 130, 9)];
    for (i, (height, width, classes, batch, t)) in cases.into_iter().enumerate() {
        for (j, temperature) in [0.0f32, 0.5, 1.0, 3.0].into_iter().enumerate() {
            let seed = (10 * i + j) as u64;
            let layout = InputLayout { height, width, classes, positions: i % 2 == 0 };
            let seq = layout.seq_len();
            let logits = genlab::selftest::test_data(seed, batch * classes, 3.0);
            let known = random_tokens(seed + 1, batch * seq, classes);
            let mask: Vec<u32> = random_tokens(seed + 2, batch * seq, 2);
            let before: Vec<u32> = (0..batch * seq).map(|e| if mask[e] == 1 { UNPAINTED } else { known[e] }).collect();
            let stream = Stream { seed: 99 + seed, offset: 8 * seed };
            let up = |v: &[u32]| Tensor::from_slice(&gpu, [batch, seq], v).unwrap();
            let (known_t, mask_t, out_t) = (up(&known), up(&mask), up(&before));
            let logits_t = Tensor::from_slice(&gpu, [batch, classes], &logits).unwrap();
            kernels::sample_step(&gpu, layout, t, &logits_t, &known_t, &mask_t, &out_t, temperature, stream).unwrap();

            let all = rng::cpu::uniform(stream, seq * batch, 0.0, 1.0);
            let uniforms = &all[t * batch..(t + 1) * batch];
            let mut want = before.clone();
            cpu::sample_step(layout, t, &logits, &known, &mask, &mut want, temperature, uniforms);
            let got = read_u32(&gpu, &out_t);
            for b in 0..batch {
                let cell = b * seq + t;
                let row = &logits[b * classes..(b + 1) * classes];
                if mask[cell] == 1 && ambiguous(row, temperature, uniforms[b]) {
                    continue;
                }
                compared += 1;
                assert_eq!(got[cell], want[cell], "case {i} τ={temperature} row {b}");
            }
            // Every other cell is untouched; every known pixel is kept.
            for e in 0..batch * seq {
                if e % seq != t {
                    assert_eq!(got[e], before[e]);
                } else if mask[e] == 0 {
                    assert_eq!(got[e], known[e]);
                } else {
                    assert!((got[e] as usize) < classes);
                }
            }
        }
    }
    assert!(compared > 500, "only {compared} rows compared");
}

#[test]
fn sampling_follows_the_distribution() {
    // The CPU twin's draw at τ = 1 over many uniforms approaches softmax; τ → 0 is argmax;
    // a large τ flattens it.
    let logits = [0.0f32, 1.0, 2.0];
    let n = 20_000;
    let uniforms = rng::cpu::uniform(Stream::new(5), n, 0.0, 1.0);
    let freq = |temperature: f32| {
        let mut counts = [0usize; 3];
        for &u in &uniforms {
            counts[cpu::draw(&logits, temperature, u) as usize] += 1;
        }
        counts.map(|c| c as f64 / n as f64)
    };
    let total: f64 = logits.iter().map(|&v| (v as f64).exp()).sum();
    for (k, f) in freq(1.0).iter().enumerate() {
        assert!((f - (logits[k] as f64).exp() / total).abs() < 0.015, "{:?}", freq(1.0));
    }
    assert_eq!(freq(0.0), [0.0, 0.0, 1.0]);
    assert!(freq(100.0).iter().all(|&f| (f - 1.0 / 3.0).abs() < 0.02));
}

fn tiny_config(hidden: usize, layers: usize, positions: bool) -> PixelRnnConfig {
    PixelRnnConfig { hidden, layers, batch: 2, learning_rate: 1e-2, seed: 3, positions }
}

/// Mean loss per pixel of `tokens` in f64 from the GPU's per-pixel losses.
fn mean_loss(gpu: &Gpu, model: &PixelRnn, tokens: &Tensor) -> f64 {
    let rows = model.loss_rows(gpu, tokens).unwrap().to_vec_blocking(gpu).unwrap();
    rows.iter().map(|&v| v as f64).sum::<f64>() / rows.len() as f64
}

/// The whole model's mean loss per pixel on the CPU in f64, from the CPU twins: an
/// independent composition of the same maths.
fn cpu_loss(gpu: &Gpu, model: &PixelRnn, tokens: &[u32], batch: usize) -> f64 {
    let read = |t: &Tensor| lstm::cpu::to_f64(&t.to_vec_blocking(gpu).unwrap());
    let layout = model.layout();
    let seq = layout.seq_len();
    let hidden = model.config.hidden;
    let (x, targets) = cpu::build_inputs(tokens, layout, 0, seq);
    let mut input = lstm::cpu::to_f64(&x);
    let mut width = layout.features();
    for layer in &model.layers {
        let (w_x, b, w_h) = (read(&layer.w_x.value), read(&layer.bias.value), read(&layer.w_h.value));
        let g4 = 4 * hidden;
        let mut proj = vec![0.0; seq * batch * g4];
        for row in 0..seq * batch {
            for n in 0..g4 {
                proj[row * g4 + n] = b[n] + (0..width).map(|d| input[row * width + d] * w_x[d * g4 + n]).sum::<f64>();
            }
        }
        let dims = LstmDims { steps: seq, batch, hidden };
        input = lstm::cpu::lstm_forward(&proj, &w_h, None, None, dims).h;
        width = hidden;
    }
    let (w_o, b_o) = (read(&model.output.weight.value), read(&model.output.bias.value));
    let k = layout.classes;
    let mut total = 0.0;
    for (row, &target) in targets.iter().enumerate() {
        let logits: Vec<f64> = (0..k)
            .map(|c| b_o[c] + (0..hidden).map(|j| input[row * hidden + j] * w_o[j * k + c]).sum::<f64>())
            .collect();
        total += genlab::models::log_sum_exp(&logits) - logits[target as usize];
    }
    total / targets.len() as f64
}

#[test]
fn gradients_match_finite_differences_through_the_gpu() {
    let gpu = common::gpu();
    let (height, width, classes, batch) = (3, 3, 3, 2);
    let tokens = random_tokens(17, batch * height * width, classes);
    let tokens_t = Tensor::from_slice(&gpu, [batch, height * width], &tokens).unwrap();
    let mut lines = Vec::new();
    let mut failed = false;
    for (layers, positions) in [(1, true), (2, false), (2, true)] {
        let model = PixelRnn::new(&gpu, tiny_config(4, layers, positions), height, width, classes).unwrap();
        let name = format!("{layers} layer(s){}", if positions { ", positions" } else { "" });
        // The forward pass agrees with an independent CPU composition of the twins.
        let (gpu_loss, want) = (mean_loss(&gpu, &model, &tokens_t), cpu_loss(&gpu, &model, &tokens, batch));
        assert!((gpu_loss - want).abs() < 1e-5, "{name}: loss {gpu_loss} on the GPU, {want} on the CPU");

        let rows = model.loss_and_gradients(&gpu, &tokens_t).unwrap();
        let analytic_loss =
            rows.to_vec_blocking(&gpu).unwrap().iter().map(|&v| v as f64).sum::<f64>() / rows.len() as f64;
        assert!((analytic_loss - gpu_loss).abs() < 1e-6);
        for param in model.params() {
            let grad = param.grad.to_vec_blocking(&gpu).unwrap();
            let value = param.value.to_vec_blocking(&gpu).unwrap();
            // A few entries of each tensor, spread over it, and its largest gradient.
            let n = value.len();
            let largest = (0..n).max_by(|&a, &b| grad[a].abs().total_cmp(&grad[b].abs())).unwrap();
            for i in [0, n / 3, (2 * n) / 3 + 1, n - 1, largest] {
                let i = i.min(n - 1);
                let eps = 1e-2f32;
                let at = |delta: f32| {
                    let mut v = value.clone();
                    v[i] += delta;
                    gpu.copy(&Tensor::from_slice(&gpu, param.value.shape().clone(), &v).unwrap(), &param.value)
                        .unwrap();
                    mean_loss(&gpu, &model, &tokens_t)
                };
                let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
                at(0.0);
                let g = grad[i] as f64;
                let ok = (fd - g).abs() <= 2e-4 + 0.02 * fd.abs().max(g.abs());
                failed |= !ok;
                lines.push(format!(
                    "{name:<24} {:<14} [{i:>3}] analytic {g:>11.6} finite difference {fd:>11.6} {}",
                    param.name,
                    if ok { "ok" } else { "FAIL" }
                ));
            }
        }
    }
    println!("{}", lines.join("\n"));
    assert!(!failed, "gradient mismatches:\n{}", lines.join("\n"));
}

fn small_sprites() -> Dataset {
    sprites(240, 8, 5).unwrap()
}

fn small_config(seed: u64) -> PixelRnnConfig {
    PixelRnnConfig { hidden: 32, layers: 1, batch: 16, learning_rate: 1e-2, seed, positions: true }
}

fn train(gpu: &Gpu, dataset: &Dataset, config: PixelRnnConfig, steps: u32) -> (PixelRnn, DeviceDataset) {
    let data = DeviceDataset::upload(gpu, dataset).unwrap();
    let mut model = PixelRnn::for_dataset(gpu, config, dataset).unwrap();
    model.monitor.set_every(1);
    for _ in 0..steps {
        model.train_step(gpu, &data).unwrap();
    }
    block_on(model.monitor.flush()).unwrap();
    (model, data)
}

#[test]
fn loss_falls_on_small_sprites_below_both_baselines() {
    let gpu = common::gpu();
    let dataset = small_sprites();
    let started = std::time::Instant::now();
    let (mut model, data) = train(&gpu, &dataset, small_config(7), 100);
    let seconds = started.elapsed().as_secs_f64();
    let losses: Vec<f32> = model.monitor.history.iter().map(|r| r.values[0]).collect();
    assert_eq!(losses.len(), 100);
    let first = losses[..5].iter().sum::<f32>() / 5.0;
    let last = losses[losses.len() - 5..].iter().sum::<f32>() / 5.0;
    let bits = model.monitor.latest_value("bits_per_pixel").unwrap();
    assert!((bits - losses[99] / std::f32::consts::LN_2).abs() < 1e-4, "bits {bits} vs nats {}", losses[99]);
    assert!((first - (16f32).ln()).abs() < 0.5, "an untrained model is near uniform: {first}");

    let eval = block_on(model.evaluate(&gpu, &data, 1000)).unwrap();
    let base = baselines(&dataset, 1000).unwrap();
    println!(
        "100 steps in {seconds:.1} s: loss {first:.3} → {last:.3} nats/pixel; held-out {:.3} bits/pixel \
         (uniform {:.3}, unigram {:.3})",
        eval.heldout_bits_per_pixel, base.uniform_bits_per_pixel, base.unigram_bits_per_pixel
    );
    assert!(last < 0.6 * first, "loss {first} → {last} did not fall enough");
    assert_eq!(eval.heldout_images, dataset.heldout().count);
    assert_eq!(base.uniform_bits_per_pixel, 4.0);
    assert!(eval.heldout_bits_per_pixel < base.unigram_bits_per_pixel, "{eval:?} vs {base:?}");

    // One submission per training step, and the documented number of launches.
    let before = gpu.submissions();
    model.train_step(&gpu, &data).unwrap();
    model.train_step(&gpu, &data).unwrap();
    assert_eq!(gpu.submissions() - before, 2);
    gpu.submit();
    let tokens = data.train_tokens.as_ref().unwrap().range(&gpu, 0, 16).unwrap();
    let pending = gpu.pending_dispatches();
    model.loss_and_gradients(&gpu, &tokens).unwrap();
    assert_eq!(gpu.pending_dispatches() - pending, model.gradient_dispatches(&gpu));
    assert!(model.gradient_dispatches(&gpu) <= 2 * 64 + 12, "{}", model.gradient_dispatches(&gpu));
    gpu.submit();
}

#[test]
fn baselines_count_training_colours_with_add_one_smoothing() {
    // Twelve 1×2 images over three colours; check against a hand count.
    let indices: Vec<u8> = (0..24).map(|i| [0u8, 0, 1, 0, 2, 0][i % 6]).collect();
    let ds =
        Dataset::from_indices(DatasetKind::Sprites, 4, 1, 2, vec![[0, 0, 0], [9, 9, 9], [200, 0, 0]], indices).unwrap();
    let train = ds.train();
    let counts: Vec<f64> =
        (0..3u8).map(|k| train.indices.as_ref().unwrap().iter().filter(|&&c| c == k).count() as f64).collect();
    let n: f64 = counts.iter().sum();
    let heldout = ds.heldout();
    let pixels = heldout.indices.as_ref().unwrap();
    let want =
        -pixels.iter().map(|&c| ((counts[c as usize] + 1.0) / (n + 3.0)).log2()).sum::<f64>() / pixels.len() as f64;
    let got = baselines(&ds, 100).unwrap();
    assert!((got.unigram_bits_per_pixel - want).abs() < 1e-12, "{got:?} vs {want}");
    assert!((got.uniform_bits_per_pixel - 3f64.log2()).abs() < 1e-12);
    let moons = moons(20, 1, &MoonJitter::NONE).unwrap();
    assert!(baselines(&moons, 10).unwrap_err().to_string().contains("no palette"));
}

#[test]
fn completion_keeps_every_known_pixel_and_streams_its_progress() {
    let gpu = common::gpu();
    let dataset = small_sprites();
    let (model, _) = train(&gpu, &dataset, small_config(3), 20);
    let heldout = dataset.heldout();
    let seq = model.seq_len();
    let sprites = &heldout.indices.as_ref().unwrap()[..3 * seq];
    for kind in MaskKind::ALL {
        let paint = kind.mask(8, 8);
        let copies = 2;
        let mut sampler = model.completer(&gpu, sprites, &paint, copies, 1.0, Stream::new(kind as u64)).unwrap();
        assert_eq!(sampler.batch(), 6);
        // Stream a few pixels at a time, as the page does.
        assert_eq!(sampler.advance(&gpu, 7).unwrap(), 7);
        gpu.wait_idle();
        let (painted, tokens) = sampler.latest().unwrap().expect("the readback has arrived");
        assert_eq!(painted, 7);
        for (e, &token) in tokens.iter().enumerate() {
            let (row, t) = (e / seq, e % seq);
            let sprite = row / copies;
            if !paint[t] {
                assert_eq!(token, sprites[sprite * seq + t] as u32);
            } else if t >= 7 {
                assert_eq!(token, UNPAINTED, "pixel {t} not reached yet");
            } else {
                assert!((token as usize) < 16);
            }
        }
        while !sampler.is_done() {
            sampler.advance(&gpu, 19).unwrap();
        }
        let tokens = block_on(sampler.finish(&gpu)).unwrap();
        assert_eq!(tokens.len(), 6 * seq);
        for (e, &token) in tokens.iter().enumerate() {
            let (row, t) = (e / seq, e % seq);
            if !paint[t] {
                assert_eq!(token, sprites[(row / copies) * seq + t] as u32, "{kind:?}: known pixel {t} of row {row}");
            } else {
                assert!((token as usize) < 16, "{kind:?}: pixel {t} of row {row} is {token}");
            }
        }
    }

    // Unconditional samples are whole sprites of palette colours.
    let tokens = block_on(model.sampler(&gpu, 5, 1.0, Stream::new(1)).unwrap().finish(&gpu)).unwrap();
    assert_eq!(tokens.len(), 5 * seq);
    assert!(tokens.iter().all(|&t| t < 16));

    // The teacher-forced stretches and the pixel-by-pixel steps are the same network: a
    // greedy sample, completed greedily from all but its last pixel, ends the same way.
    let greedy = block_on(model.sampler(&gpu, 4, 0.0, Stream::new(2)).unwrap().finish(&gpu)).unwrap();
    let sprites: Vec<u8> = greedy.iter().map(|&t| t as u8).collect();
    let last_only: Vec<bool> = (0..seq).map(|t| t == seq - 1).collect();
    let again =
        block_on(model.completer(&gpu, &sprites, &last_only, 1, 0.0, Stream::new(9)).unwrap().finish(&gpu)).unwrap();
    assert_eq!(again, greedy);
}

#[test]
fn same_seed_same_weights_and_samples() {
    let gpu = common::gpu();
    let dataset = sprites(60, 8, 2).unwrap();
    let run = |seed| {
        let (model, _) = train(&gpu, &dataset, PixelRnnConfig { batch: 4, ..small_config(seed) }, 3);
        let weights: Vec<Vec<f32>> = model.params().iter().map(|p| p.value.to_vec_blocking(&gpu).unwrap()).collect();
        let samples = block_on(model.sampler(&gpu, 3, 1.0, Stream::new(4)).unwrap().finish(&gpu)).unwrap();
        (weights, samples)
    };
    let (a, b, c) = (run(11), run(11), run(12));
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
}

#[test]
fn bad_configurations_and_datasets_are_refused_with_reasons() {
    let gpu = common::gpu();
    let refuse = |config: PixelRnnConfig, needle: &str| match PixelRnn::new(&gpu, config, 8, 8, 16) {
        Err(e) => assert!(e.to_string().contains(needle), "{e}"),
        Ok(_) => panic!("accepted a bad config, expected {needle:?}"),
    };
    refuse(PixelRnnConfig { hidden: 0, ..PixelRnnConfig::default() }, "hidden size 0");
    refuse(PixelRnnConfig { hidden: 4096, ..PixelRnnConfig::default() }, "hidden size 4096");
    refuse(PixelRnnConfig { layers: 3, ..PixelRnnConfig::default() }, "3 LSTM layers");
    refuse(PixelRnnConfig { layers: 0, ..PixelRnnConfig::default() }, "0 LSTM layers");
    refuse(PixelRnnConfig { batch: 0, ..PixelRnnConfig::default() }, "batch size 0");
    refuse(PixelRnnConfig { learning_rate: f32::NAN, ..PixelRnnConfig::default() }, "learning rate NaN");
    refuse(PixelRnnConfig { learning_rate: -1.0, ..PixelRnnConfig::default() }, "learning rate -1");
    assert!(PixelRnn::new(&gpu, PixelRnnConfig::default(), 8, 8, 0).is_err());

    // Moons have no palette: refused when making the model and when training on them.
    let moons = moons(20, 1, &MoonJitter::NONE).unwrap();
    let e = PixelRnn::for_dataset(&gpu, PixelRnnConfig::default(), &moons).err().expect("moons refused");
    assert!(e.to_string().contains("no palette"), "{e}");
    let data = DeviceDataset::upload(&gpu, &moons).unwrap();
    let mut model = PixelRnn::new(&gpu, tiny_config(4, 1, true), 28, 28, 16).unwrap();
    let e = model.train_step(&gpu, &data).unwrap_err();
    assert!(e.to_string().contains("palette"), "{e}");

    // A batch larger than the training split.
    let ds = sprites(20, 8, 1).unwrap();
    let data = DeviceDataset::upload(&gpu, &ds).unwrap();
    let mut model = PixelRnn::for_dataset(&gpu, PixelRnnConfig { batch: 1000, ..small_config(1) }, &ds).unwrap();
    let e = model.train_step(&gpu, &data).unwrap_err();
    assert!(e.to_string().contains("batch size 1000"), "{e}");
    // Images of another size.
    let mut model = PixelRnn::new(&gpu, small_config(1), 16, 16, 16).unwrap();
    assert!(model.train_step(&gpu, &data).unwrap_err().to_string().contains("16×16"));

    // Sampling refuses nonsense.
    let model = PixelRnn::for_dataset(&gpu, small_config(1), &ds).unwrap();
    assert!(model.sampler(&gpu, 2, f32::NAN, Stream::new(1)).is_err());
    assert!(model.sampler(&gpu, 2, -1.0, Stream::new(1)).is_err());
    assert!(model.sampler(&gpu, 0, 1.0, Stream::new(1)).is_err());
    let mask = MaskKind::BottomHalf.mask(8, 8);
    assert!(model.completer(&gpu, &[0; 63], &mask, 1, 1.0, Stream::new(1)).is_err());
    assert!(model.completer(&gpu, &[0; 64], &mask[..10], 1, 1.0, Stream::new(1)).is_err());
    let e = model.completer(&gpu, &[40; 64], &mask, 1, 1.0, Stream::new(1)).err().expect("colour 40 of 16");
    assert!(e.to_string().contains("40"), "{e}");
    assert!("top-half".parse::<MaskKind>().unwrap_err().to_string().contains("bottom-half"));
    assert_eq!("right-half".parse::<MaskKind>().unwrap(), MaskKind::RightHalf);
}

#[test]
fn masks_cover_what_they_say() {
    let count = |kind: MaskKind| kind.mask(16, 16).iter().filter(|&&p| p).count();
    assert_eq!(count(MaskKind::BottomHalf), 128);
    assert_eq!(count(MaskKind::BottomThreeQuarters), 192);
    assert_eq!(count(MaskKind::RightHalf), 128);
    let m = MaskKind::BottomHalf.mask(16, 16);
    assert!(!m[7 * 16 + 15] && m[8 * 16]);
    let m = MaskKind::RightHalf.mask(16, 16);
    assert!(!m[7] && m[8] && m[255]);
}

#[test]
fn weights_round_trip_and_other_files_are_refused() {
    let gpu = common::gpu();
    let dataset = sprites(30, 8, 3).unwrap();
    let (model, _) = train(&gpu, &dataset, PixelRnnConfig { batch: 4, layers: 2, ..small_config(5) }, 2);
    let header = PixelRnnHeader {
        config: model.config.clone(),
        height: 8,
        width: 8,
        palette: dataset.palette.clone().unwrap(),
        dataset: "sprites".into(),
        steps: model.steps(),
    };
    let bytes = block_on(model.save(&gpu, &header)).unwrap();
    let (loaded, back) = PixelRnn::load(&gpu, &bytes).unwrap();
    assert_eq!(back, header);
    let names: Vec<String> = loaded.params().iter().map(|p| p.name.clone()).collect();
    assert_eq!(
        names,
        [
            "lstm.0.w_x",
            "lstm.0.w_h",
            "lstm.0.bias",
            "lstm.1.w_x",
            "lstm.1.w_h",
            "lstm.1.bias",
            "output.weight",
            "output.bias"
        ]
    );
    for (a, b) in model.params().iter().zip(loaded.params()) {
        assert_eq!(a.value.to_vec_blocking(&gpu).unwrap(), b.value.to_vec_blocking(&gpu).unwrap(), "{}", a.name);
    }
    let other = genlab::io::safetensors::save_tensors(&[("x", &[1], &[1.0])], &[("model", "vae")]).unwrap();
    let e = PixelRnn::load(&gpu, &other).err().expect("a VAE file is not a PixelRNN");
    assert!(e.to_string().contains("\"vae\""), "{e}");
    assert!(PixelRnn::load(&gpu, &bytes[..bytes.len() / 2]).is_err());
}
