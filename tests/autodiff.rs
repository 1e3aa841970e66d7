//! Finite-difference gradient checks through the tape, and Adam training a small MLP.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::rc::Rc;

use genlab::autodiff::Tape;
use genlab::gpu::Gpu;
use genlab::kernels::adam::AdamConfig;
use genlab::kernels::patches::PatchGeometry;
use genlab::kernels::rng::Stream;
use genlab::kernels::spectral_norm::{self, PowerIteration};
use genlab::kernels::upsample::Upsampling;
use genlab::kernels::Activation;
use genlab::nn::{Adam, Conv2d, ConvTranspose2d, Linear, Mlp, Param};
use genlab::selftest::test_data;
use genlab::{Result, Tensor};

/// Which loss the checked network ends in.
#[derive(Clone, Copy)]
enum Head {
    Bce,
    Softmax,
}

struct Problem {
    mlp: Mlp,
    x: Tensor,
    bce_targets: Tensor,
    class_targets: Tensor,
    head: Head,
}

impl Problem {
    fn new(gpu: &Gpu, hidden: Activation, head: Head) -> Problem {
        let (rows, inputs, width, outputs) = (5, 7, 6, 4);
        let mut stream = Stream::new(11);
        let mlp = Mlp::new(gpu, "mlp", &[inputs, width, outputs], hidden, Activation::Identity, &mut stream).unwrap();
        // Nonzero biases so that the bias path is exercised away from its initial value.
        for layer in &mlp.layers {
            let b = test_data(5, layer.bias.numel(), 0.3);
            gpu.copy(&Tensor::from_slice(gpu, layer.bias.value.shape().clone(), &b).unwrap(), &layer.bias.value)
                .unwrap();
        }
        let targets: Vec<f32> = test_data(3, rows * outputs, 0.5).iter().map(|v| v + 0.5).collect();
        let classes: Vec<u32> = (0..rows as u32).map(|r| (r * 3) % outputs as u32).collect();
        Problem {
            x: Tensor::from_slice(gpu, [rows, inputs], &test_data(2, rows * inputs, 1.0)).unwrap(),
            bce_targets: Tensor::from_slice(gpu, [rows, outputs], &targets).unwrap(),
            class_targets: Tensor::from_slice(gpu, [rows], &classes).unwrap(),
            mlp,
            head,
        }
    }

    /// Loss = head(mlp(x)) + 0.5 · head(mlp(x) + mlp(x)): a shared subgraph and a reused
    /// parameter make the accumulation paths of the tape part of the check.
    fn record(&self, tape: &Tape) -> Result<()> {
        let x = tape.constant(&self.x);
        let y = self.mlp.forward(tape, x)?;
        let doubled = tape.add(y, y)?;
        for (logits, weight) in [(y, 1.0), (doubled, 0.5)] {
            match self.head {
                Head::Bce => tape.bce_with_logits(logits, &self.bce_targets, weight)?,
                Head::Softmax => tape.softmax_cross_entropy(logits, &self.class_targets, weight)?,
            };
        }
        Ok(())
    }

    fn loss(&self, gpu: &Gpu) -> f64 {
        let tape = Tape::new(gpu);
        self.record(&tape).unwrap();
        total_loss(gpu, &tape)
    }
}

fn total_loss(gpu: &Gpu, tape: &Tape) -> f64 {
    tape.losses().iter().map(|&l| tape.value(l).to_vec_blocking(gpu).unwrap()[0] as f64).sum()
}

/// A dense layer from `inputs` values to 2 logits, the loss's head after a layer under test.
fn dense_head(gpu: &Gpu, inputs: usize, stream: &mut Stream) -> Mlp {
    Mlp::new(gpu, "dense", &[inputs, 2], Activation::Identity, Activation::Identity, stream).unwrap()
}

/// Dense layers to 2 logits round a layer under test: `judge` reads its output (`judged`
/// values a row) and `skip` reads x itself, a second use of x that makes the layer's
/// backward add to a gradient already there. Both, and their parameters.
fn judge_and_skip(gpu: &Gpu, judged: usize, features: usize, stream: &mut Stream) -> (Mlp, Mlp, Vec<Rc<Param>>) {
    let act = Activation::Identity;
    let judge = Mlp::new(gpu, "judge", &[judged, 2], act, act, stream).unwrap();
    let skip = Mlp::new(gpu, "skip", &[features, 2], act, act, stream).unwrap();
    let mut params = judge.params();
    params.extend(skip.params());
    (judge, skip, params)
}

fn set(gpu: &Gpu, param: &Rc<Param>, values: &[f32]) {
    let t = Tensor::from_slice(gpu, param.value.shape().clone(), values).unwrap();
    gpu.copy(&t, &param.value).unwrap();
}

fn gradient_check(hidden: Activation, head: Head) {
    let gpu = common::gpu();
    let problem = Problem::new(&gpu, hidden, head);
    let tape = Tape::new(&gpu);
    problem.record(&tape).unwrap();
    tape.backward().unwrap();
    let eps = 1e-2f32;
    let mut worst = 0.0f64;
    for param in problem.mlp.params() {
        let analytic = param.grad.to_vec_blocking(&gpu).unwrap();
        let original = param.value.to_vec_blocking(&gpu).unwrap();
        for i in 0..original.len() {
            let mut nudged = original.clone();
            nudged[i] = original[i] + eps;
            set(&gpu, &param, &nudged);
            let up = problem.loss(&gpu);
            nudged[i] = original[i] - eps;
            set(&gpu, &param, &nudged);
            let down = problem.loss(&gpu);
            set(&gpu, &param, &original);
            let numeric = (up - down) / (2.0 * eps as f64);
            let error = (numeric - analytic[i] as f64).abs() / (numeric.abs().max(analytic[i].abs() as f64) + 1e-2);
            worst = worst.max(error);
            assert!(error < 5e-3, "{} [{i}]: analytic {} vs finite difference {numeric}", param.name, analytic[i]);
        }
    }
    println!("worst relative gradient error {worst:.2e}");
}

#[test]
fn mlp_gradients_match_finite_differences_tanh_bce() {
    gradient_check(Activation::Tanh, Head::Bce);
}

#[test]
fn mlp_gradients_match_finite_differences_sigmoid_softmax() {
    gradient_check(Activation::Sigmoid, Head::Softmax);
}

#[test]
fn mlp_gradients_match_finite_differences_leaky_relu_bce() {
    gradient_check(Activation::LeakyRelu(0.2), Head::Bce);
}

#[test]
fn input_gradient_matches_finite_differences() {
    let gpu = common::gpu();
    let problem = Problem::new(&gpu, Activation::Tanh, Head::Bce);
    let x_values = problem.x.to_vec_blocking(&gpu).unwrap();
    let loss_at = |values: &[f32]| {
        let tape = Tape::new(&gpu);
        let x = tape.input(&Tensor::from_slice(&gpu, problem.x.shape().clone(), values).unwrap());
        let y = problem.mlp.forward(&tape, x).unwrap();
        tape.bce_with_logits(y, &problem.bce_targets, 1.0).unwrap();
        (total_loss(&gpu, &tape), tape, x)
    };
    let (_, tape, x) = loss_at(&x_values);
    tape.backward().unwrap();
    let analytic = tape.grad(x).expect("input gradient").to_vec_blocking(&gpu).unwrap();
    for i in [0, 6, 17, 34] {
        let mut v = x_values.clone();
        v[i] += 1e-2;
        let up = loss_at(&v).0;
        v[i] -= 2e-2;
        let down = loss_at(&v).0;
        let numeric = (up - down) / 2e-2;
        assert!(
            (numeric - analytic[i] as f64).abs() < 2e-2 * numeric.abs().max(1e-1),
            "x[{i}]: {} vs {numeric}",
            analytic[i]
        );
    }
}

/// d loss / d (weights, bias, input) of a strided, padded convolution on odd-sized images,
/// then a dense layer and BCE, against central differences.
#[test]
fn convolution_gradients_match_finite_differences() {
    let gpu = common::gpu();
    let geometry = PatchGeometry { height: 5, width: 4, channels: 2, kernel: 3, stride: 2, pad: 1 };
    let mut stream = Stream::new(21);
    let conv = Conv2d::new(&gpu, "conv", geometry, 3, Activation::LeakyRelu(0.2), &mut stream).unwrap();
    set(&gpu, &conv.bias, &test_data(6, 3, 0.3));
    let dense = dense_head(&gpu, conv.output_len(), &mut stream);
    let x_values = test_data(7, 2 * geometry.image_len(), 1.0);
    check_input_and_params(&gpu, &conv.params(), &x_values, 2, |tape, x| {
        dense.forward(tape, conv.forward(tape, x).unwrap()).unwrap()
    });
}

/// The transposed convolution, on an output whose size the stride does not divide (so the
/// last row and column are painted by fewer windows).
#[test]
fn transposed_convolution_gradients_match_finite_differences() {
    let gpu = common::gpu();
    let geometry = PatchGeometry { height: 5, width: 4, channels: 2, kernel: 3, stride: 2, pad: 1 };
    let mut stream = Stream::new(22);
    let deconv = ConvTranspose2d::new(&gpu, "deconv", 3, geometry, Activation::Tanh, &mut stream).unwrap();
    set(&gpu, &deconv.bias, &test_data(9, 2, 0.3));
    assert_eq!((deconv.input_len(), deconv.output_len()), (3 * 2 * 3, 5 * 4 * 2));
    let dense = dense_head(&gpu, deconv.output_len(), &mut stream);
    let x_values = test_data(10, 2 * deconv.input_len(), 1.0);
    check_input_and_params(&gpu, &deconv.params(), &x_values, 2, |tape, x| {
        dense.forward(tape, deconv.forward(tape, x).unwrap()).unwrap()
    });

    // Forward: the CPU twins composed — a matmul per pixel, col2im, bias and activation.
    let tape = Tape::new(&gpu);
    let x = tape.input(&Tensor::from_slice(&gpu, [2, deconv.input_len()], &x_values).unwrap());
    let y = tape.value(deconv.forward(&tape, x).unwrap()).to_vec_blocking(&gpu).unwrap();
    let w = deconv.weight.value.to_vec_blocking(&gpu).unwrap();
    let bias = deconv.bias.value.to_vec_blocking(&gpu).unwrap();
    let windows = genlab::kernels::matmul::cpu::matmul(
        &x_values,
        &w,
        2 * geometry.positions(),
        geometry.patch_len(),
        3,
        genlab::kernels::matmul::Transpose::NONE,
        None,
        Activation::Identity,
        None,
    );
    let painted = genlab::kernels::patches::cpu::col2im(&windows, &geometry);
    let expected = genlab::kernels::elementwise::cpu::bias_act(&painted, 2, Some(&bias), Activation::Tanh);
    assert_eq!(y.len(), expected.len());
    assert!(y.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-5), "{y:?}\nvs\n{expected:?}");
}

/// The resize-convolution a generator paints with: nearest-neighbour doubling of a 2×3×2
/// map, then a 3×3 convolution. Every input value's gradient sums its 2×2 block's.
#[test]
fn upsampling_then_convolving_gradients_match_finite_differences() {
    let gpu = common::gpu();
    let upsampling = Upsampling { height: 2, width: 3, channels: 2, factor: 2 };
    let geometry = PatchGeometry { height: 4, width: 6, channels: 2, kernel: 3, stride: 1, pad: 1 };
    let mut stream = Stream::new(24);
    let conv = Conv2d::new(&gpu, "conv", geometry, 2, Activation::Tanh, &mut stream).unwrap();
    set(&gpu, &conv.bias, &test_data(13, 2, 0.3));
    let dense = dense_head(&gpu, conv.output_len(), &mut stream);
    let x_values = test_data(14, 2 * upsampling.input_len(), 1.0);
    check_input_and_params(&gpu, &conv.params(), &x_values, 2, |tape, x| {
        dense.forward(tape, conv.forward(tape, tape.upsample(x, &upsampling).unwrap()).unwrap()).unwrap()
    });
}

/// The minibatch standard deviation feature: every input value moves the batch's spread,
/// so its gradient reaches every row. The dense layer weighs that one column heavily, or
/// the pass-through part of the gradient would hide an error in the spread's. A second use
/// of x, recorded after it, makes the feature's backward add to a gradient already there.
#[test]
fn minibatch_stddev_gradients_match_finite_differences() {
    let gpu = common::gpu();
    let (batch, features) = (4, 5);
    let mut stream = Stream::new(23);
    let (judge, skip, params) = judge_and_skip(&gpu, features + 1, features, &mut stream);
    let mut weights = test_data(11, (features + 1) * 2, 0.3);
    weights[features * 2..].copy_from_slice(&[2.5, -3.0]);
    set(&gpu, &judge.layers[0].weight, &weights);
    let x_values = test_data(12, batch * features, 1.0);
    check_input_and_params(&gpu, &params, &x_values, batch, |tape, x| {
        let judged = judge.forward(tape, tape.minibatch_stddev(x).unwrap()).unwrap();
        tape.add(judged, skip.forward(tape, x).unwrap()).unwrap()
    });

    // One row has no spread: refused, not NaN.
    let tape = Tape::new(&gpu);
    let one_row = tape.constant(&Tensor::from_slice(&gpu, [1, features], &x_values[..features]).unwrap());
    let err = tape.minibatch_stddev(one_row).unwrap_err().to_string();
    assert!(err.contains("at least 2"), "{err}");
}

/// Pixel normalisation: every value of a row moves that row's root mean square, so each
/// output depends on the whole row. The rows differ in size (×0.5, ×1, ×3), so a wrong
/// power of r in the backward shows on at least one of them. A second use of x, recorded
/// after it, makes the normalisation's backward add to a gradient already there.
#[test]
fn pixel_norm_gradients_match_finite_differences() {
    let gpu = common::gpu();
    let (batch, features) = (3, 5);
    let mut stream = Stream::new(29);
    let (judge, skip, params) = judge_and_skip(&gpu, features, features, &mut stream);
    let mut x_values = test_data(13, batch * features, 1.0);
    x_values[..features].iter_mut().for_each(|v| *v *= 0.5);
    x_values[2 * features..].iter_mut().for_each(|v| *v *= 3.0);
    check_input_and_params(&gpu, &params, &x_values, batch, |tape, x| {
        let judged = judge.forward(tape, tape.pixel_norm(x).unwrap()).unwrap();
        tape.add(judged, skip.forward(tape, x).unwrap()).unwrap()
    });
}

/// Spectral normalisation: the weight's gradient passes through the division by σ(W), whose
/// own derivative is u vᵀ at the top singular vectors. The matrix has one clearly largest
/// singular value and its power iteration has converged, so each evaluation of the finite
/// differences sees σ of the nudged matrix. The weight is also used raw, so one of its two
/// gradients adds to the other.
#[test]
fn spectral_norm_gradients_match_finite_differences() {
    let gpu = common::gpu();
    let (batch, inputs, outputs) = (3, 4, 2);
    let mut stream = Stream::new(29);
    let act = Activation::Identity;
    let layer = Linear::new(&gpu, "layer", inputs, outputs, act, &mut stream).unwrap();
    let (a, b) = ([0.5f32, -0.5, 0.5, 0.5], [0.6f32, 0.8]);
    let noise = test_data(13, inputs * outputs, 0.2);
    let weights: Vec<f32> = (0..inputs * outputs).map(|i| 3.0 * a[i / outputs] * b[i % outputs] + noise[i]).collect();
    set(&gpu, &layer.weight, &weights);
    let u = Tensor::from_slice(&gpu, [inputs], &test_data(14, inputs, 1.0)).unwrap();
    let state = PowerIteration::new(&gpu, u, outputs).unwrap();
    state.iterate(&gpu, &layer.weight.value, 50).unwrap();
    let x_values = test_data(15, batch * inputs, 1.0);
    check_input_and_params(&gpu, &layer.params(), &x_values, batch, |tape, x| {
        let w = tape.param(&layer.weight);
        let normalised = tape.linear(x, tape.spectral_norm(w, &state).unwrap(), Some(tape.param(&layer.bias)), act);
        tape.add(normalised.unwrap(), tape.matmul(x, w).unwrap()).unwrap()
    });

    // What the layer uses has largest singular value 1.
    let tape = Tape::new(&gpu);
    let normalised = tape.spectral_norm(tape.param(&layer.weight), &state).unwrap();
    let values = tape.value(normalised).to_vec_blocking(&gpu).unwrap();
    let (_, _, sigma) = spectral_norm::cpu::power_iteration(&values, inputs, &[1.0, 0.3, -0.2, 0.1], 200);
    assert!((sigma - 1.0).abs() < 1e-4, "σ(W / σ(W)) = {sigma}");

    // A constant weight (D held fixed in G's update) takes the path that keeps no
    // vectors for a backward pass, and is divided by the same σ.
    let frozen = tape.spectral_norm(tape.constant(&layer.weight.value), &state).unwrap();
    let frozen_values = tape.value(frozen).to_vec_blocking(&gpu).unwrap();
    let error = frozen_values.iter().zip(&values).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(error < 1e-5, "the frozen path's W / σ differs by {error:.1e}");
}

/// Finite differences against the tape's gradients of every value of `params` and of the
/// input `x` (`batch` rows of `x_values`), for the network `forward` followed by a BCE loss
/// against fixed targets.
fn check_input_and_params(
    gpu: &Gpu,
    params: &[Rc<Param>],
    x_values: &[f32],
    batch: usize,
    forward: impl Fn(&Tape, genlab::autodiff::Var) -> genlab::autodiff::Var,
) {
    let targets: Vec<f32> = test_data(8, batch * 2, 0.5).iter().map(|v| v + 0.5).collect();
    let targets = Tensor::from_slice(gpu, [batch, 2], &targets).unwrap();
    let record = |x_values: &[f32]| {
        let tape = Tape::new(gpu);
        let x = tape.input(&Tensor::from_slice(gpu, [batch, x_values.len() / batch], x_values).unwrap());
        tape.bce_with_logits(forward(&tape, x), &targets, 1.0).unwrap();
        (tape, x)
    };
    let (tape, x) = record(x_values);
    tape.backward().unwrap();
    let eps = 1e-2f32;
    let compare = |what: &str, i: usize, analytic: f32, up: f64, down: f64| {
        let numeric = (up - down) / (2.0 * eps as f64);
        let error = (numeric - analytic as f64).abs() / (numeric.abs().max(analytic.abs() as f64) + 1e-2);
        assert!(error < 5e-3, "{what} [{i}]: analytic {analytic} vs finite difference {numeric}");
    };
    for param in params {
        let analytic = param.grad.to_vec_blocking(gpu).unwrap();
        let original = param.value.to_vec_blocking(gpu).unwrap();
        for i in 0..original.len() {
            let mut nudged = original.clone();
            let mut loss_with = |v: f32| {
                nudged[i] = v;
                set(gpu, param, &nudged);
                total_loss(gpu, &record(x_values).0)
            };
            let (up, down) = (loss_with(original[i] + eps), loss_with(original[i] - eps));
            set(gpu, param, &original);
            compare(&param.name, i, analytic[i], up, down);
        }
    }
    // Every input value, the corners and edges (which fewer windows see) included.
    let analytic = tape.grad(x).expect("input gradient").to_vec_blocking(gpu).unwrap();
    for i in 0..x_values.len() {
        let mut v = x_values.to_vec();
        v[i] += eps;
        let up = total_loss(gpu, &record(&v).0);
        v[i] -= 2.0 * eps;
        let down = total_loss(gpu, &record(&v).0);
        compare("x", i, analytic[i], up, down);
    }
}

/// Patches of data (a constant) carry no gradient: the tape spends no backward work on them.
#[test]
fn convolution_of_a_constant_leaves_no_input_gradient() {
    let gpu = common::gpu();
    let geometry = PatchGeometry { height: 4, width: 4, channels: 1, kernel: 2, stride: 2, pad: 0 };
    let conv = Conv2d::new(&gpu, "conv", geometry, 2, Activation::Identity, &mut Stream::new(3)).unwrap();
    let tape = Tape::new(&gpu);
    let x = tape.constant(&Tensor::from_slice(&gpu, [1, 16], &test_data(4, 16, 1.0)).unwrap());
    let y = conv.forward(&tape, x).unwrap();
    assert_eq!(tape.value(y).shape().dims(), &[1, 8]);
    let targets = Tensor::from_slice(&gpu, [1, 8], &[0.5f32; 8]).unwrap();
    tape.bce_with_logits(y, &targets, 1.0).unwrap();
    tape.backward().unwrap();
    assert!(tape.grad(x).is_none());
    assert!(conv.weight.grad.to_vec_blocking(&gpu).unwrap().iter().any(|&g| g != 0.0));
}

#[test]
fn a_training_step_is_one_submission_and_adam_lowers_the_loss() {
    let gpu = common::gpu();
    let problem = Problem::new(&gpu, Activation::Tanh, Head::Bce);
    let params = problem.mlp.params();
    let mut adam = Adam::new(AdamConfig { lr: 0.05, ..AdamConfig::default() }).unwrap();
    let first = problem.loss(&gpu);
    let mut last_loss = None;
    for _ in 0..60 {
        let before = gpu.submissions();
        let tape = Tape::new(&gpu);
        problem.record(&tape).unwrap();
        tape.backward().unwrap();
        adam.step(&gpu, &params).unwrap();
        last_loss = Some(gpu.read_later(&tape.value(tape.losses()[0])));
        gpu.submit();
        assert_eq!(gpu.submissions(), before + 1, "one queue.submit per step");
    }
    let last = problem.loss(&gpu);
    let streamed = genlab::gpu::block_on(last_loss.unwrap().wait()).unwrap()[0];
    assert!(streamed.is_finite() && (streamed as f64) < first, "loss read back asynchronously: {streamed}");
    assert!(last < 0.9 * first, "loss fell from {first} to {last}");
}

#[test]
fn bad_optimiser_settings_are_refused() {
    for config in [
        AdamConfig { lr: f32::NAN, ..AdamConfig::default() },
        AdamConfig { lr: -1.0, ..AdamConfig::default() },
        AdamConfig { beta1: 1.0, ..AdamConfig::default() },
    ] {
        let message = Adam::new(config).err().expect("refused").to_string();
        assert!(message.contains("lr"), "{message}");
    }
}

#[test]
fn backward_without_a_loss_is_refused() {
    let gpu = common::gpu();
    let tape = Tape::new(&gpu);
    let x = tape.input(&Tensor::zeros(&gpu, [2, 2]).unwrap());
    tape.activation(x, Activation::Tanh).unwrap();
    assert!(tape.backward().unwrap_err().to_string().contains("no loss"));
}
