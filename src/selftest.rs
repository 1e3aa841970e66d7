//! Kernel self-test: every kernel against its CPU twin on random data. The native tests,
//! the browser tests, `genlab selftest` and the page's results table all run these cases.
//!
//! Error measure: max |gpu − cpu| / max(1, max |cpu|), i.e. relative to the size of the
//! result (pure per-element relative error is meaningless near zero).

use crate::error::Result;
use crate::gpu::{Gpu, Tensor};
use crate::kernels::adam::{self, AdamConfig};
use crate::kernels::matmul::{self, Epilogue, Transpose};
use crate::kernels::rng::{self, Stream};
use crate::kernels::{elementwise, gather, loss, reduce, Activation};

/// One case of the self-test.
#[derive(Clone, Debug)]
pub enum Case {
    Matmul {
        m: usize,
        n: usize,
        k: usize,
        transpose: Transpose,
        /// Bias + activation + accumulate epilogue.
        fused: bool,
    },
    BiasAct {
        rows: usize,
        cols: usize,
        act: Activation,
    },
    ActivationBackward {
        n: usize,
        act: Activation,
    },
    SumRows {
        rows: usize,
        cols: usize,
    },
    SumCols {
        rows: usize,
        cols: usize,
    },
    SumAll {
        n: usize,
    },
    Bce {
        rows: usize,
        cols: usize,
        logit_scale: f32,
    },
    SoftmaxCrossEntropy {
        rows: usize,
        classes: usize,
        logit_scale: f32,
    },
    Adam {
        n: usize,
        steps: u32,
    },
    RngWords {
        n: usize,
        offset: u64,
    },
    RngUniform {
        n: usize,
    },
    RngNormal {
        n: usize,
    },
    Gather {
        source_rows: usize,
        cols: usize,
        rows: usize,
    },
}

/// The outcome of one case, as the page's table shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Check {
    pub kernel: String,
    pub shape: String,
    pub max_error: f64,
    pub tolerance: f64,
    pub passed: bool,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<24} {:<22} max error {:.2e} (tolerance {:.0e}) {}",
            self.kernel,
            self.shape,
            self.max_error,
            self.tolerance,
            if self.passed { "pass" } else { "FAIL" }
        )
    }
}

/// The tolerance the issue asks for, for everything computed with plain arithmetic.
pub const TOLERANCE: f64 = 1e-4;

/// For Box–Muller normals, bounded by WGSL's accuracy for sin and cos (not correctly rounded).
pub const NORMAL_TOLERANCE: f64 = 1e-3;

/// Relative-to-magnitude max error (see the module docs). NaN anywhere is infinite error.
pub fn max_error(gpu: &[f32], cpu: &[f32]) -> f64 {
    if gpu.len() != cpu.len() {
        return f64::INFINITY;
    }
    let scale = cpu.iter().fold(1.0f64, |m, &v| m.max((v as f64).abs()));
    gpu.iter()
        .zip(cpu)
        .map(|(&g, &c)| {
            let d = (g as f64 - c as f64).abs();
            if d.is_nan() {
                f64::INFINITY
            } else {
                d / scale
            }
        })
        .fold(0.0, f64::max)
}

/// Uniform test data in [-scale, scale) from the CPU Philox twin (no `rand` needed, and the
/// same data on every platform).
pub fn test_data(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    rng::cpu::uniform(Stream::new(seed), n, -scale, scale)
}

fn check(kernel: String, shape: String, max_error: f64, tolerance: f64) -> Check {
    Check { kernel, shape, max_error, tolerance, passed: max_error <= tolerance }
}

fn transpose_name(t: Transpose) -> &'static str {
    match (t.a, t.b) {
        (false, false) => "A·B",
        (true, false) => "Aᵀ·B",
        (false, true) => "A·Bᵀ",
        (true, true) => "Aᵀ·Bᵀ",
    }
}

impl Case {
    pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
        match *self {
            Case::Matmul { m, n, k, transpose, fused } => {
                let a = test_data(1, m * k, 1.0);
                let b = test_data(2, k * n, 1.0);
                let a_shape = if transpose.a { [k, m] } else { [m, k] };
                let b_shape = if transpose.b { [n, k] } else { [k, n] };
                let at = Tensor::from_slice(gpu, a_shape, &a)?;
                let bt = Tensor::from_slice(gpu, b_shape, &b)?;
                let (bias, start, act) = if fused {
                    (test_data(3, n, 1.0), test_data(4, m * n, 1.0), Activation::LeakyRelu(0.2))
                } else {
                    (vec![], vec![], Activation::Identity)
                };
                let out = if fused { Tensor::from_slice(gpu, [m, n], &start)? } else { Tensor::uninit(gpu, [m, n])? };
                let bias_t = if fused { Some(Tensor::from_slice(gpu, [n], &bias)?) } else { None };
                let epilogue = Epilogue { accumulate: fused, bias: bias_t.as_ref(), activation: act };
                matmul::matmul_into(gpu, &at, &bt, transpose, epilogue, &out)?;
                let got = gpu.read(&out).await?;
                let want = matmul::cpu::matmul(
                    &a,
                    &b,
                    m,
                    n,
                    k,
                    transpose,
                    fused.then_some(&bias[..]),
                    act,
                    fused.then_some(&start[..]),
                );
                let name = if fused {
                    format!("matmul {} +C+b, lrelu", transpose_name(transpose))
                } else {
                    format!("matmul {}", transpose_name(transpose))
                };
                Ok(check(name, format!("{m}×{n}×{k}"), max_error(&got, &want), TOLERANCE))
            }
            Case::BiasAct { rows, cols, act } => {
                let x = test_data(5, rows * cols, 4.0);
                let bias = test_data(6, cols, 1.0);
                let xt = Tensor::from_slice(gpu, [rows, cols], &x)?;
                let bt = Tensor::from_slice(gpu, [cols], &bias)?;
                let y = elementwise::bias_act(gpu, &xt, Some(&bt), act)?;
                let got = gpu.read(&y).await?;
                let want = elementwise::cpu::bias_act(&x, cols, Some(&bias), act);
                Ok(check(format!("bias+{}", act.name()), format!("{rows}×{cols}"), max_error(&got, &want), TOLERANCE))
            }
            Case::ActivationBackward { n, act } => {
                let x = test_data(7, n, 4.0);
                let dy = test_data(8, n, 1.0);
                let y: Vec<f32> = x.iter().map(|&v| act.apply(v)).collect();
                let dyt = Tensor::from_slice(gpu, [n], &dy)?;
                let yt = Tensor::from_slice(gpu, [n], &y)?;
                let dx = Tensor::uninit(gpu, [n])?;
                elementwise::activation_backward_into(gpu, &dyt, &yt, act, &dx, false)?;
                let got = gpu.read(&dx).await?;
                let want = elementwise::cpu::activation_backward(&dy, &y, act);
                Ok(check(format!("{} backward", act.name()), format!("{n}"), max_error(&got, &want), TOLERANCE))
            }
            Case::SumRows { rows, cols } => {
                let x = test_data(9, rows * cols, 1.0);
                let xt = Tensor::from_slice(gpu, [rows, cols], &x)?;
                let got = gpu.read(&reduce::mean_rows(gpu, &xt)?).await?;
                let want = reduce::cpu::sum_rows(&x, cols, 1.0 / cols as f32);
                Ok(check("mean over rows".into(), format!("{rows}×{cols}"), max_error(&got, &want), TOLERANCE))
            }
            Case::SumCols { rows, cols } => {
                let x = test_data(10, rows * cols, 1.0);
                let xt = Tensor::from_slice(gpu, [rows, cols], &x)?;
                let got = gpu.read(&reduce::sum_cols(gpu, &xt, 1.0)?).await?;
                let want = reduce::cpu::sum_cols(&x, cols, 1.0);
                Ok(check("sum over columns".into(), format!("{rows}×{cols}"), max_error(&got, &want), TOLERANCE))
            }
            Case::SumAll { n } => {
                let x = test_data(11, n, 1.0);
                let xt = Tensor::from_slice(gpu, [n], &x)?;
                let sum = gpu.read(&reduce::sum_all(gpu, &xt, 1.0)?).await?;
                let mean = gpu.read(&reduce::mean_all(gpu, &xt)?).await?;
                let want = [reduce::cpu::sum_all(&x, 1.0), reduce::cpu::sum_all(&x, 1.0 / n as f32)];
                let got = [sum[0], mean[0]];
                Ok(check("sum, mean (all)".into(), format!("{n}"), max_error(&got, &want), TOLERANCE))
            }
            Case::Bce { rows, cols, logit_scale } => {
                let logits = test_data(12, rows * cols, logit_scale);
                let targets: Vec<f32> = test_data(13, rows * cols, 0.5).iter().map(|v| v + 0.5).collect();
                let lt = Tensor::from_slice(gpu, [rows, cols], &logits)?;
                let tt = Tensor::from_slice(gpu, [rows, cols], &targets)?;
                let scale = 1.0 / rows as f32;
                let out = loss::bce_with_logits(gpu, &lt, &tt, scale)?;
                let mut got = gpu.read(&out.loss_rows).await?;
                got.extend(gpu.read(&out.grad).await?);
                let (mut want, grad) = loss::cpu::bce_with_logits(&logits, &targets, cols, scale);
                want.extend(grad);
                Ok(check(
                    "bce with logits (+grad)".into(),
                    format!("{rows}×{cols}, |x|≤{logit_scale}"),
                    max_error(&got, &want),
                    TOLERANCE,
                ))
            }
            Case::SoftmaxCrossEntropy { rows, classes, logit_scale } => {
                let logits = test_data(14, rows * classes, logit_scale);
                let targets = rng::cpu::random_index(Stream::new(15), rows, classes as u32);
                let lt = Tensor::from_slice(gpu, [rows, classes], &logits)?;
                let tt = Tensor::from_slice(gpu, [rows], &targets)?;
                let scale = 1.0 / rows as f32;
                let out = loss::softmax_cross_entropy(gpu, &lt, &tt, scale)?;
                let mut got = gpu.read(&out.loss_rows).await?;
                got.extend(gpu.read(&out.grad).await?);
                let (mut want, grad) = loss::cpu::softmax_cross_entropy(&logits, &targets, classes, scale);
                want.extend(grad);
                Ok(check(
                    "softmax xent (+grad)".into(),
                    format!("{rows}×{classes}, |x|≤{logit_scale}"),
                    max_error(&got, &want),
                    TOLERANCE,
                ))
            }
            Case::Adam { n, steps } => {
                let config = AdamConfig::default();
                let mut p = test_data(16, n, 1.0);
                let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
                let pt = Tensor::from_slice(gpu, [n], &p)?;
                let mt = Tensor::zeros(gpu, [n])?;
                let vt = Tensor::zeros(gpu, [n])?;
                for t in 1..=steps {
                    let g = test_data(100 + t as u64, n, 1.0);
                    let gt = Tensor::from_slice(gpu, [n], &g)?;
                    adam::adam_step(gpu, &config, t, &gt, &pt, &mt, &vt)?;
                    adam::cpu::adam_step(&config, t, &g, &mut p, &mut m, &mut v);
                }
                let got = gpu.read(&pt).await?;
                Ok(check(format!("adam ×{steps} steps"), format!("{n}"), max_error(&got, &p), TOLERANCE))
            }
            Case::RngWords { n, offset } => {
                let stream = Stream { seed: 0x1234_5678_9abc_def0, offset };
                let got: Vec<u32> =
                    gpu.read(&rng::words(gpu, stream, n)?).await?.into_iter().map(f32::to_bits).collect();
                let want = rng::cpu::words(stream, n);
                let mismatches = got.iter().zip(&want).filter(|(g, w)| g != w).count();
                Ok(check("philox words (bitwise)".into(), format!("{n} @ offset {offset}"), mismatches as f64, 0.0))
            }
            Case::RngUniform { n } => {
                let stream = Stream { seed: 42, offset: 7 };
                let got = gpu.read(&rng::uniform(gpu, stream, [n], 0.0, 1.0)?).await?;
                let want = rng::cpu::uniform(stream, n, 0.0, 1.0);
                let mismatches = got.iter().zip(&want).filter(|(g, w)| g.to_bits() != w.to_bits()).count();
                Ok(check("philox uniform (bitwise)".into(), format!("{n}"), mismatches as f64, 0.0))
            }
            Case::RngNormal { n } => {
                let stream = Stream { seed: 43, offset: 2 };
                let got = gpu.read(&rng::normal(gpu, stream, [n], 0.0, 1.0)?).await?;
                let want = rng::cpu::normal(stream, n, 0.0, 1.0);
                // WGSL only promises sin/cos to 2⁻¹¹ absolute error (SwiftShader uses that
                // latitude); times a Box–Muller radius ≤ 6 and over max |z| ≈ 4, that is ≤ 1e-3.
                Ok(check("philox normal".into(), format!("{n}"), max_error(&got, &want), NORMAL_TOLERANCE))
            }
            Case::Gather { source_rows, cols, rows } => {
                let source = test_data(17, source_rows * cols, 1.0);
                let index = rng::cpu::random_index(Stream::new(18), rows, source_rows as u32);
                let st = Tensor::from_slice(gpu, [source_rows, cols], &source)?;
                let it = Tensor::from_slice(gpu, [rows], &index)?;
                let got = gpu.read(&gather::gather_rows(gpu, &st, &it)?).await?;
                let want = gather::cpu::gather_rows(&source, cols, &index);
                Ok(check("gather rows".into(), format!("{rows} of {source_rows}×{cols}"), max_error(&got, &want), 0.0))
            }
        }
    }
}

const ACTIVATIONS: [Activation; 5] =
    [Activation::Identity, Activation::Relu, Activation::LeakyRelu(0.2), Activation::Tanh, Activation::Sigmoid];

/// Matmul cases on awkward shapes: 1×1×1, primes, non-multiples of the 64-wide tile.
pub fn matmul_cases(small: bool) -> Vec<Case> {
    let shapes: &[(usize, usize, usize)] = if small {
        &[(1, 1, 1), (7, 13, 5), (65, 33, 17)]
    } else {
        &[(1, 1, 1), (7, 13, 5), (65, 129, 33), (64, 64, 64), (127, 61, 300), (256, 256, 256)]
    };
    let mut cases = Vec::new();
    for &(m, n, k) in shapes {
        for transpose in [Transpose::NONE, Transpose::A, Transpose::B] {
            cases.push(Case::Matmul { m, n, k, transpose, fused: false });
        }
    }
    let (m, n, k) = shapes[shapes.len() - 1];
    for transpose in [Transpose::NONE, Transpose { a: true, b: true }] {
        cases.push(Case::Matmul { m, n, k, transpose, fused: true });
    }
    cases
}

/// Every other kernel, on awkward sizes.
pub fn other_cases(small: bool) -> Vec<Case> {
    let mut cases = Vec::new();
    for act in ACTIVATIONS {
        cases.push(Case::BiasAct { rows: 13, cols: 7, act });
        cases.push(Case::ActivationBackward { n: 1001, act });
    }
    cases.extend([
        Case::SumRows { rows: 1, cols: 1 },
        Case::SumRows { rows: 33, cols: 517 },
        Case::SumCols { rows: 37, cols: 131 },
        Case::SumAll { n: 1 },
        Case::SumAll { n: if small { 10_007 } else { 1_000_003 } },
        Case::Bce { rows: 5, cols: 300, logit_scale: 8.0 },
        Case::Bce { rows: 3, cols: 17, logit_scale: 100.0 },
        Case::SoftmaxCrossEntropy { rows: 37, classes: 16, logit_scale: 8.0 },
        Case::SoftmaxCrossEntropy { rows: 5, classes: 167, logit_scale: 100.0 },
        Case::Adam { n: 1031, steps: 5 },
        Case::RngWords { n: 4099, offset: 0 },
        Case::RngWords { n: 1001, offset: (1 << 32) - 3 },
        Case::RngUniform { n: 4099 },
        Case::RngNormal { n: 4099 },
        Case::Gather { source_rows: 50, cols: 9, rows: 31 },
    ]);
    cases
}

/// The whole self-test; `small` keeps it quick on software GPUs (the page, the browser tests).
pub fn all_cases(small: bool) -> Vec<Case> {
    let mut cases = matmul_cases(small);
    cases.extend(other_cases(small));
    cases
}
