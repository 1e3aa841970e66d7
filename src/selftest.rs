//! Kernel self-test: every kernel against its CPU twin on random data. The native tests,
//! the browser tests, `genlab selftest` and the page's results table all run these cases.
//!
//! Error measure: max |gpu − cpu| / max(1, max |cpu|), i.e. relative to the size of the
//! result (pure per-element relative error is meaningless near zero).

use crate::error::Result;
use crate::gpu::{Gpu, Shape, Tensor};
use crate::kernels::adam::{self, AdamConfig};
use crate::kernels::lstm::{self, LstmDims, LstmStates};
use crate::kernels::matmul::{self, Epilogue, MatmulPath, Transpose};
use crate::kernels::patches::{self, PatchGeometry};
use crate::kernels::rng::{self, Stream};
use crate::kernels::spectral_norm::{self, PowerIteration};
use crate::kernels::upsample::{self, Upsampling};
use crate::kernels::{elementwise, gan, gather, loss, minibatch_stddev, pixel_norm, reduce, reparam, Activation};

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
        path: MatmulPath,
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
        /// One lane per column (the software-GPU kernel) instead of four.
        serial: bool,
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
    /// im2col, and col2im of patches of the same shape.
    Patches {
        batch: usize,
        geometry: PatchGeometry,
    },
    /// z and the KL rows from `stats [rows, 2·latent]` (log-variances in ±`logvar_scale`;
    /// past ±20 they are clamped).
    ReparamForward {
        rows: usize,
        latent: usize,
        logvar_scale: f32,
    },
    /// d stats, with a dz or from the KL term alone, written or accumulated.
    ReparamBackward {
        rows: usize,
        latent: usize,
        dz: bool,
        accumulate: bool,
    },
    /// Logits in ±`logit_scale`, the extremes ±`logit_scale` and 0 among them.
    GanDiscriminator {
        batch: usize,
        logit_scale: f32,
        real_label: f32,
    },
    GanGenerator {
        batch: usize,
        logit_scale: f32,
    },
    /// Nearest-neighbour upsampling, and its backward written or accumulated.
    Upsample {
        batch: usize,
        upsampling: Upsampling,
        accumulate: bool,
    },
    /// Forward, and backward written or accumulated.
    MinibatchStddev {
        batch: usize,
        features: usize,
        accumulate: bool,
    },
    /// Forward, and backward written or accumulated.
    PixelNorm {
        rows: usize,
        features: usize,
        accumulate: bool,
    },
    /// `iterations` power-iteration steps on a `[rows, cols]` matrix, the division by σ, and
    /// the backward written or accumulated.
    SpectralNorm {
        rows: usize,
        cols: usize,
        iterations: u32,
        accumulate: bool,
    },
    /// Two cell launches (the first from c0, the second from the first's c).
    LstmCell {
        batch: usize,
        hidden: usize,
    },
    /// The recurrence forward and backward through time; `initial`: with h0 and c0.
    LstmSequence {
        steps: usize,
        batch: usize,
        hidden: usize,
        initial: bool,
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

/// The worst [`max_error`] over several outputs, each measured against its own magnitude
/// (a KL of 1e8 or a loss of 80 must not hide the errors of a gradient of order 1/B).
fn worst(parts: &[(&[f32], &[f32])]) -> f64 {
    parts.iter().map(|(got, want)| max_error(got, want)).fold(0.0, f64::max)
}

/// What a gradient buffer holds before a backward kernel runs: values to add to when the
/// case accumulates, zeros otherwise.
fn prior_grad(seed: u64, n: usize, accumulate: bool) -> Vec<f32> {
    if accumulate {
        test_data(seed, n, 1.0)
    } else {
        vec![0.0; n]
    }
}

/// `a + b` elementwise: a twin's gradient on top of the prior contents.
fn plus(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// Logits in [−scale, scale) with the extremes ±scale and 0 at the front.
fn logits(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut x = test_data(seed, n, scale);
    for (slot, v) in x.iter_mut().zip([scale, -scale, 0.0]) {
        *slot = v;
    }
    x
}

/// `stats [rows, 2·latent]`: means in [−2, 2), log-variances in [−logvar_scale, logvar_scale).
fn vae_stats(seed: u64, rows: usize, latent: usize, logvar_scale: f32) -> Vec<f32> {
    let n = rows * latent;
    let (means, logvars) = (test_data(seed, n, 2.0), test_data(seed + 1, n, logvar_scale));
    means.chunks(latent).zip(logvars.chunks(latent)).flat_map(|(m, s)| m.iter().chain(s).copied()).collect()
}

fn f64s(seed: u64, n: usize, scale: f32) -> Vec<f64> {
    lstm::cpu::to_f64(&test_data(seed, n, scale))
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
            Case::Matmul { m, n, k, transpose, fused, path } => {
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
                matmul::matmul_into_on(gpu, path, &at, &bt, transpose, epilogue, &out)?;
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
                let kernel = match path {
                    MatmulPath::Tiled => "matmul",
                    MatmulPath::Direct => "matmul direct",
                };
                let name = if fused {
                    format!("{kernel} {} +C+b, lrelu", transpose_name(transpose))
                } else {
                    format!("{kernel} {}", transpose_name(transpose))
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
            Case::SumCols { rows, cols, serial } => {
                let x = test_data(10, rows * cols, 1.0);
                let xt = Tensor::from_slice(gpu, [rows, cols], &x)?;
                let out = Tensor::uninit(gpu, [cols])?;
                reduce::sum_cols_into_by(gpu, &xt, 1.0, &out, false, serial)?;
                let got = gpu.read(&out).await?;
                let want = reduce::cpu::sum_cols(&x, cols, 1.0);
                let name = if serial { "sum over columns, lane per column" } else { "sum over columns" };
                Ok(check(name.into(), format!("{rows}×{cols}"), max_error(&got, &want), TOLERANCE))
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
            Case::Patches { batch, geometry: g } => {
                let images = test_data(19, batch * g.image_len(), 1.0);
                let it = Tensor::from_slice(gpu, [batch, g.image_len()], &images)?;
                let patches = gpu.read(&patches::im2col(gpu, &it, &g)?).await?;
                let d_patches = test_data(20, patches.len(), 1.0);
                let dt = Tensor::from_slice(gpu, [batch * g.positions(), g.patch_len()], &d_patches)?;
                let d_images = gpu.read(&patches::col2im(gpu, &dt, &g)?).await?;
                let error = worst(&[
                    (&patches, &patches::cpu::im2col(&images, &g)),
                    (&d_images, &patches::cpu::col2im(&d_patches, &g)),
                ]);
                let shape = format!(
                    "{batch}×{}×{}×{}, {}×{} window, stride {}, pad {}",
                    g.height, g.width, g.channels, g.kernel, g.kernel, g.stride, g.pad
                );
                // im2col copies; col2im sums at most ⌈K/S⌉² values, in another order than the twin.
                Ok(check("im2col + col2im".into(), shape, error, 1e-6))
            }
            Case::ReparamForward { rows, latent, logvar_scale } => {
                let stats = vae_stats(20, rows, latent, logvar_scale);
                let st = Tensor::from_slice(gpu, [rows, 2 * latent], &stats)?;
                // An offset off the Philox block boundary checks the counter arithmetic too.
                let stream = Stream { seed: 0x5eed_0f2a_e5e5, offset: 6 };
                let out = reparam::reparameterize(gpu, &st, Some(stream))?;
                let (z, kl) = (gpu.read(&out.z).await?, gpu.read(&out.kl_rows).await?);
                let noise = gpu.read(&out.noise).await?;
                // z and KL against the twin fed the GPU's own noise; the noise itself must be
                // the stream's normals, to the accuracy of "philox normal" (a wrong stream or
                // offset is off by order one, and is reported as the error instead).
                let noise_error = max_error(&noise, &reparam::cpu::noise(Some(stream), rows * latent));
                let (z_cpu, kl_cpu) = reparam::cpu::forward(&stats, latent, &noise);
                let mut error = worst(&[(&z, &z_cpu), (&kl, &kl_cpu)]);
                if noise_error > NORMAL_TOLERANCE {
                    error = error.max(noise_error);
                }
                Ok(check(
                    "reparam fwd (z, KL rows)".into(),
                    format!("{rows}×{latent}, |logvar|≤{logvar_scale}"),
                    error,
                    TOLERANCE,
                ))
            }
            Case::ReparamBackward { rows, latent, dz, accumulate } => {
                let stats = vae_stats(22, rows, latent, 3.0);
                let noise = reparam::cpu::noise(Some(Stream::new(24)), rows * latent);
                let dz_data = test_data(25, rows * latent, 1.0);
                let prior = prior_grad(26, stats.len(), accumulate);
                let kl_scale = 0.7 / rows as f32;
                let st = Tensor::from_slice(gpu, [rows, 2 * latent], &stats)?;
                let nt = Tensor::from_slice(gpu, [rows, latent], &noise)?;
                let dzt = if dz { Some(Tensor::from_slice(gpu, [rows, latent], &dz_data)?) } else { None };
                let dstats = if accumulate {
                    Tensor::from_slice(gpu, [rows, 2 * latent], &prior)?
                } else {
                    Tensor::uninit(gpu, [rows, 2 * latent])?
                };
                reparam::reparameterize_backward_into(gpu, &st, &nt, dzt.as_ref(), kl_scale, &dstats, accumulate)?;
                let got = gpu.read(&dstats).await?;
                let grad = reparam::cpu::backward(&stats, latent, &noise, dz.then_some(&dz_data[..]), kl_scale);
                let want = plus(&grad, &prior);
                let name = match (dz, accumulate) {
                    (true, false) => "reparam bwd",
                    (true, true) => "reparam bwd +=",
                    (false, false) => "reparam bwd, KL only",
                    (false, true) => "reparam bwd, KL only +=",
                };
                Ok(check(name.into(), format!("{rows}×{latent}"), max_error(&got, &want), TOLERANCE))
            }
            Case::GanDiscriminator { batch, logit_scale, real_label } => {
                let real = logits(27, batch, logit_scale);
                let fake = logits(28, batch, logit_scale);
                let grad_scale = 1.0 / batch as f32;
                let rt = Tensor::from_slice(gpu, [batch, 1], &real)?;
                let ft = Tensor::from_slice(gpu, [batch, 1], &fake)?;
                let out = gan::discriminator_loss(gpu, &rt, &ft, real_label, grad_scale)?;
                let real_grad = gpu.read(&out.real_grad).await?;
                let fake_grad = gpu.read(&out.fake_grad).await?;
                let stats = gpu.read(&out.stats).await?;
                let (rg, fg, st) = gan::cpu::discriminator_loss(&real, &fake, real_label, grad_scale);
                Ok(check(
                    "gan D loss (+grads)".into(),
                    format!("B={batch}, |x|≤{logit_scale}, y={real_label}"),
                    worst(&[(&real_grad, &rg), (&fake_grad, &fg), (&stats, &st)]),
                    TOLERANCE,
                ))
            }
            Case::GanGenerator { batch, logit_scale } => {
                let fake = logits(29, batch, logit_scale);
                let grad_scale = 1.0 / batch as f32;
                let out = gan::generator_loss(gpu, &Tensor::from_slice(gpu, [batch, 1], &fake)?, grad_scale)?;
                let (grad, stats) = (gpu.read(&out.grad).await?, gpu.read(&out.stats).await?);
                let (g, st) = gan::cpu::generator_loss(&fake, grad_scale);
                Ok(check(
                    "gan G loss (+grad)".into(),
                    format!("B={batch}, |x|≤{logit_scale}"),
                    worst(&[(&grad, &g), (&stats, &st)]),
                    TOLERANCE,
                ))
            }
            Case::Upsample { batch, upsampling: u, accumulate } => {
                let x = test_data(36, batch * u.input_len(), 1.0);
                let dy = test_data(37, batch * u.output_len(), 1.0);
                let prior = prior_grad(38, x.len(), accumulate);
                let xt = Tensor::from_slice(gpu, [batch, u.input_len()], &x)?;
                let y = gpu.read(&upsample::upsample(gpu, &xt, &u)?).await?;
                let dx = Tensor::from_slice(gpu, [batch, u.input_len()], &prior)?;
                let dyt = Tensor::from_slice(gpu, [batch, u.output_len()], &dy)?;
                upsample::upsample_backward_into(gpu, &dyt, &u, &dx, accumulate)?;
                let dx = gpu.read(&dx).await?;
                let dx_cpu = upsample::cpu::upsample_backward(&dy, &u);
                let want = plus(&dx_cpu, &prior);
                Ok(check(
                    if accumulate { "upsample fwd + bwd +=" } else { "upsample fwd + bwd" }.into(),
                    format!("{batch}×{}×{}×{}, ×{}", u.height, u.width, u.channels, u.factor),
                    worst(&[(&y, &upsample::cpu::upsample(&x, &u)), (&dx, &want)]),
                    TOLERANCE,
                ))
            }
            Case::MinibatchStddev { batch, features, accumulate } => {
                let x = test_data(33, batch * features, 2.0);
                let dy = test_data(34, batch * (features + 1), 1.0);
                let prior = prior_grad(35, x.len(), accumulate);
                let xt = Tensor::from_slice(gpu, [batch, features], &x)?;
                let y = gpu.read(&minibatch_stddev::forward(gpu, &xt)?).await?;
                let dx = Tensor::from_slice(gpu, [batch, features], &prior)?;
                let dyt = Tensor::from_slice(gpu, [batch, features + 1], &dy)?;
                minibatch_stddev::backward_into(gpu, &xt, &dyt, &dx, accumulate)?;
                let dx = gpu.read(&dx).await?;
                let dx_cpu = minibatch_stddev::cpu::backward(&x, &dy, batch);
                let want = plus(&dx_cpu, &prior);
                Ok(check(
                    if accumulate { "minibatch stddev fwd + bwd +=" } else { "minibatch stddev fwd + bwd" }.into(),
                    format!("B={batch} F={features}"),
                    worst(&[(&y, &minibatch_stddev::cpu::forward(&x, batch)), (&dx, &want)]),
                    TOLERANCE,
                ))
            }
            Case::PixelNorm { rows, features, accumulate } => {
                let x = test_data(40, rows * features, 2.0);
                let dy = test_data(41, rows * features, 1.0);
                let prior = prior_grad(42, x.len(), accumulate);
                let xt = Tensor::from_slice(gpu, [rows, features], &x)?;
                let y = gpu.read(&pixel_norm::forward(gpu, &xt)?).await?;
                let dx = Tensor::from_slice(gpu, [rows, features], &prior)?;
                let dyt = Tensor::from_slice(gpu, [rows, features], &dy)?;
                pixel_norm::backward_into(gpu, &xt, &dyt, &dx, accumulate)?;
                let dx = gpu.read(&dx).await?;
                let want = plus(&pixel_norm::cpu::backward(&x, &dy, features), &prior);
                Ok(check(
                    if accumulate { "pixel norm fwd + bwd +=" } else { "pixel norm fwd + bwd" }.into(),
                    format!("B={rows} F={features}"),
                    worst(&[(&y, &pixel_norm::cpu::forward(&x, features)), (&dx, &want)]),
                    TOLERANCE,
                ))
            }
            Case::SpectralNorm { rows, cols, iterations, accumulate } => {
                let (w, u0) = (test_data(36, rows * cols, 1.0), test_data(37, rows, 1.0));
                let g = test_data(38, rows * cols, 1.0);
                let prior = prior_grad(39, w.len(), accumulate);
                let wt = Tensor::from_slice(gpu, [rows, cols], &w)?;
                let state = PowerIteration::new(gpu, Tensor::from_slice(gpu, [rows], &u0)?, cols)?;
                // All but the last step, then the last inside `normalise`.
                state.iterate(gpu, &wt, iterations - 1)?;
                let normalised = state.normalise(gpu, &wt)?;
                let dw = Tensor::from_slice(gpu, [rows, cols], &prior)?;
                normalised.backward_into(gpu, &Tensor::from_slice(gpu, [rows, cols], &g)?, &dw, accumulate)?;
                let got_u = gpu.read(&normalised.u).await?;
                let got_v = gpu.read(&normalised.v).await?;
                let got_sigma = gpu.read(&normalised.sigma).await?;
                let got_w = gpu.read(&normalised.weight).await?;
                let got_dw = gpu.read(&dw).await?;
                let (u, v, sigma) = spectral_norm::cpu::power_iteration(&w, rows, &u0, iterations);
                let w_sn = spectral_norm::cpu::divide(&w, sigma);
                let want_dw = plus(&spectral_norm::cpu::backward(&g, &w_sn, &u, &v, sigma), &prior);
                Ok(check(
                    if accumulate { "spectral norm fwd + bwd +=" } else { "spectral norm fwd + bwd" }.into(),
                    format!("{rows}×{cols}, {iterations} steps"),
                    worst(&[(&got_u, &u), (&got_v, &v), (&got_sigma, &[sigma]), (&got_w, &w_sn), (&got_dw, &want_dw)]),
                    TOLERANCE,
                ))
            }
            Case::LstmCell { batch, hidden } => {
                let dims = LstmDims { steps: 2, batch, hidden };
                let (g4, plane) = (lstm::GATES * hidden, batch * hidden);
                let c0 = f64s(30, plane, 1.0);
                let pre = [f64s(31, batch * g4, 2.0), f64s(32, batch * g4, 2.0)];
                let c0_t = Tensor::from_slice(gpu, [batch, hidden], &lstm::cpu::to_f32(&c0))?;
                let states = LstmStates::new(gpu, dims, None, Some(&c0_t))?;
                for (t, pre) in pre.iter().enumerate() {
                    let pre_t = Tensor::from_slice(gpu, [batch, g4], &lstm::cpu::to_f32(pre))?;
                    lstm::cell_forward(gpu, &pre_t, &states, t)?;
                }
                let step0 = lstm::cpu::cell_forward(&pre[0], &c0, batch, hidden);
                let step1 = lstm::cpu::cell_forward(&pre[1], &step0.c, batch, hidden);
                let both = |a: &[f64], b: &[f64]| lstm::cpu::to_f32(&[a, b].concat());
                let (gates, c, h) =
                    (both(&step0.gates, &step1.gates), both(&step0.c, &step1.c), both(&step0.h, &step1.h));
                let got = [gpu.read(&states.gates).await?, gpu.read(&states.c).await?, gpu.read(&states.h).await?];
                Ok(check(
                    "lstm cell fwd ×2".into(),
                    format!("B={batch} H={hidden}"),
                    worst(&[(&got[0], &gates), (&got[1], &c), (&got[2], &h)]),
                    TOLERANCE,
                ))
            }
            Case::LstmSequence { steps, batch, hidden, initial } => {
                let dims = LstmDims { steps, batch, hidden };
                let (g4, plane) = (lstm::GATES * hidden, batch * hidden);
                // Pre-activations of order one whatever H is.
                let x_proj = f64s(33, steps * batch * g4, 1.0);
                let w_h = f64s(34, hidden * g4, 1.5 / (hidden as f32).sqrt());
                let h0 = initial.then(|| f64s(35, plane, 1.0));
                let c0 = initial.then(|| f64s(36, plane, 1.0));
                let dh = f64s(37, steps * plane, 1.0);
                let upload = |shape: Shape, v: &[f64]| Tensor::from_slice(gpu, shape, &lstm::cpu::to_f32(v));
                let h0_t = h0.as_deref().map(|v| upload(dims.state_shape(), v)).transpose()?;
                let c0_t = c0.as_deref().map(|v| upload(dims.state_shape(), v)).transpose()?;
                let w_h_t = upload(dims.w_h_shape(), &w_h)?;
                let states = lstm::lstm_forward(
                    gpu,
                    &upload(dims.gates_shape(), &x_proj)?,
                    &w_h_t,
                    h0_t.as_ref(),
                    c0_t.as_ref(),
                )?;
                let grads = lstm::lstm_backward(gpu, &states, &w_h_t, &upload(dims.seq_shape(), &dh)?)?;

                let want = lstm::cpu::lstm_forward(&x_proj, &w_h, h0.as_deref(), c0.as_deref(), dims);
                let want_grads = lstm::cpu::lstm_backward(&want, &w_h, &dh);
                let mut outputs = vec![
                    (&states.h, want.h),
                    (&states.c, want.c),
                    (&states.gates, want.gates),
                    (&grads.dgates, want_grads.dgates),
                    (&grads.dw_h, want_grads.dw_h),
                ];
                outputs.extend(grads.dh0.as_ref().map(|t| (t, want_grads.dh0)));
                outputs.extend(grads.dc0.as_ref().map(|t| (t, want_grads.dc0)));
                let mut error = if outputs.len() == 5 + 2 * initial as usize { 0.0 } else { f64::INFINITY };
                for (tensor, want) in outputs {
                    error = error.max(max_error(&gpu.read(tensor).await?, &lstm::cpu::to_f32(&want)));
                }
                Ok(check(
                    "lstm seq fwd+bwd".into(),
                    format!("T={steps} B={batch} H={hidden}{}", if initial { ", h0 c0" } else { "" }),
                    error,
                    TOLERANCE,
                ))
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
    // Both kernels on every adapter: each must match the twin wherever it might be chosen.
    for path in [MatmulPath::Tiled, MatmulPath::Direct] {
        for &(m, n, k) in shapes {
            for transpose in [Transpose::NONE, Transpose::A, Transpose::B] {
                cases.push(Case::Matmul { m, n, k, transpose, fused: false, path });
            }
        }
        let (m, n, k) = shapes[shapes.len() - 1];
        for transpose in [Transpose::NONE, Transpose { a: true, b: true }] {
            cases.push(Case::Matmul { m, n, k, transpose, fused: true, path });
        }
        // Weight gradients' shapes, few outputs and a long K: split-K with uneven chunks, and
        // one thread per output when a side is thin (3 colour channels).
        let tall: &[(usize, usize, usize)] =
            if small { &[(33, 17, 1100), (20, 7, 1100)] } else { &[(65, 33, 4099), (144, 3, 16_391)] };
        for &(m, n, k) in tall {
            for fused in [false, true] {
                cases.push(Case::Matmul { m, n, k, transpose: Transpose::A, fused, path });
            }
        }
    }
    cases
}

fn geometry(height: usize, width: usize, channels: usize, kernel: usize, stride: usize, pad: usize) -> PatchGeometry {
    PatchGeometry { height, width, channels, kernel, stride, pad }
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
        Case::SumCols { rows: 37, cols: 131, serial: false },
        Case::SumCols { rows: 37, cols: 131, serial: true },
        Case::SumCols { rows: 1, cols: 1, serial: true },
        Case::SumAll { n: 1 },
        Case::SumAll { n: if small { 10_007 } else { 1_000_003 } },
        Case::Bce { rows: 5, cols: 300, logit_scale: 8.0 },
        Case::Bce { rows: 3, cols: 17, logit_scale: 100.0 },
        // More rows than one 64-thread workgroup holds (one thread per row).
        Case::Bce { rows: 131, cols: 7, logit_scale: 8.0 },
        Case::SoftmaxCrossEntropy { rows: 37, classes: 16, logit_scale: 8.0 },
        Case::SoftmaxCrossEntropy { rows: 5, classes: 167, logit_scale: 100.0 },
        Case::Adam { n: 1031, steps: 5 },
        Case::RngWords { n: 4099, offset: 0 },
        Case::RngWords { n: 1001, offset: (1 << 32) - 3 },
        Case::RngUniform { n: 4099 },
        Case::RngNormal { n: 4099 },
        Case::Gather { source_rows: 50, cols: 9, rows: 31 },
        // DCGAN's 4×4 stride-2 window on a sprite, a moon-sized odd case, and a window as large
        // as the padded image.
        Case::Patches { batch: 3, geometry: geometry(16, 16, 3, 4, 2, 1) },
        Case::Patches { batch: 2, geometry: geometry(7, 5, 2, 3, 2, 2) },
        Case::Patches { batch: 1, geometry: geometry(2, 3, 1, 4, 1, 1) },
        Case::ReparamForward { rows: 7, latent: 3, logvar_scale: 3.0 },
        // Log-variances past the ±20 clamp.
        Case::ReparamForward { rows: 5, latent: 4, logvar_scale: 30.0 },
        Case::ReparamBackward { rows: 7, latent: 3, dz: true, accumulate: false },
        Case::ReparamBackward { rows: 7, latent: 3, dz: false, accumulate: true },
        Case::GanDiscriminator { batch: 7, logit_scale: 80.0, real_label: 1.0 },
        Case::GanDiscriminator { batch: 257, logit_scale: 80.0, real_label: 0.9 },
        Case::GanDiscriminator { batch: 64, logit_scale: 3.0, real_label: 1.0 },
        Case::GanGenerator { batch: 7, logit_scale: 80.0 },
        Case::GanGenerator { batch: 257, logit_scale: 3.0 },
        // A generator's doubling, and an odd image grown threefold.
        Case::Upsample {
            batch: 3,
            upsampling: Upsampling { height: 4, width: 4, channels: 32, factor: 2 },
            accumulate: false,
        },
        Case::Upsample {
            batch: 2,
            upsampling: Upsampling { height: 3, width: 5, channels: 2, factor: 3 },
            accumulate: true,
        },
        // The least batch, and more features than a workgroup has threads.
        Case::MinibatchStddev { batch: 2, features: 1, accumulate: false },
        Case::MinibatchStddev { batch: 7, features: 300, accumulate: true },
        // One value, and rows longer than a workgroup is wide by an odd amount.
        Case::PixelNorm { rows: 1, features: 1, accumulate: false },
        Case::PixelNorm { rows: 7, features: 131, accumulate: true },
        // A 1×1 matrix, and more columns than a workgroup has threads.
        Case::SpectralNorm { rows: 1, cols: 1, iterations: 1, accumulate: false },
        Case::SpectralNorm { rows: 7, cols: 300, iterations: 3, accumulate: true },
        Case::LstmCell { batch: 3, hidden: 7 },
        Case::LstmSequence { steps: 3, batch: 2, hidden: 5, initial: true },
    ]);
    if !small {
        cases.extend([
            Case::ReparamForward { rows: 256, latent: 32, logvar_scale: 3.0 },
            Case::ReparamForward { rows: 65, latent: 33, logvar_scale: 3.0 },
            Case::ReparamBackward { rows: 65, latent: 33, dz: true, accumulate: true },
            Case::ReparamBackward { rows: 256, latent: 32, dz: false, accumulate: false },
            Case::GanDiscriminator { batch: 1000, logit_scale: 80.0, real_label: 1.0 },
            Case::GanGenerator { batch: 1000, logit_scale: 80.0 },
            Case::MinibatchStddev { batch: 64, features: 513, accumulate: false },
            // A generation chunk of G's hidden rows, and short rows (lanes left idle).
            Case::PixelNorm { rows: 256, features: 128, accumulate: false },
            Case::PixelNorm { rows: 65, features: 3, accumulate: true },
            // The MLP discriminator's first layer on sprites, and a tall matrix.
            Case::SpectralNorm { rows: 768, cols: 128, iterations: 20, accumulate: false },
            Case::SpectralNorm { rows: 1025, cols: 3, iterations: 2, accumulate: true },
            Case::LstmCell { batch: 5, hidden: 65 },
            Case::LstmCell { batch: 32, hidden: 128 },
            Case::LstmSequence { steps: 1, batch: 3, hidden: 7, initial: false },
            Case::LstmSequence { steps: 17, batch: 4, hidden: 33, initial: true },
            Case::LstmSequence { steps: 5, batch: 32, hidden: 128, initial: false },
            Case::LstmSequence { steps: 3, batch: 6, hidden: 300, initial: true },
        ]);
    }
    cases
}

/// The whole self-test; `small` keeps it quick on software GPUs (the page, the browser tests).
pub fn all_cases(small: bool) -> Vec<Case> {
    let mut cases = matmul_cases(small);
    cases.extend(other_cases(small));
    cases
}
