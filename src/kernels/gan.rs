//! GAN losses at the discriminator's logits, fused with their gradients and with the
//! monitoring numbers (see gan.wgsl): one launch per loss, and one readback of a 4-float
//! buffer gives d_loss, g_loss, D(real) and D(fake).
//!
//! Logits are one per sample: `[B, 1]` (a discriminator's last Linear) or `[B]`. The real and
//! fake batches have the same shape, so that `grad_scale = weight / B` makes both gradients
//! those of `weight · d_loss`, where `d_loss = mean BCE(real, y) + mean BCE(fake, 0)`.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Shape, Tensor};
use crate::kernels::source;

kernel_specs! {
    shader: "gan.wgsl", sources: [source::ACTIVATION, source::WORKGROUP_SUM, source::GAN], params: Params;
    DISCRIMINATOR = "discriminator_loss" [
        d_real_logits: Read,
        d_fake_logits: Read,
        d_real_grad: ReadWrite,
        d_fake_grad: ReadWrite,
        d_stats: ReadWrite,
    ];
    GENERATOR = "generator_loss" [g_fake_logits: Read, g_fake_grad: ReadWrite, g_stats: ReadWrite];
}

kernel_params! {
    struct Params {
        /// samples (logits) per batch
        n: u32,
        /// 1, or e.g. 0.9 with one-sided label smoothing
        real_label: f32,
        /// usually weight / n: the gradient of weight · mean loss
        grad_scale: f32,
    }
}

/// The discriminator's loss: gradients for both batches of logits, and
/// `stats [4] = [d_loss, g_loss, D(real), D(fake)]` (see [`DiscStats`]).
pub struct DiscLoss {
    pub real_grad: Tensor,
    pub fake_grad: Tensor,
    pub stats: Tensor,
}

/// The generator's non-saturating loss: the gradient w.r.t. the fake logits, and
/// `stats [2] = [g_loss, D(fake)]` (see [`GenStats`]).
pub struct GenLoss {
    pub grad: Tensor,
    pub stats: Tensor,
}

/// The discriminator step's numbers, read from [`DiscLoss::stats`]. Losses are in nats,
/// means over the batch; D(x) is the mean probability the discriminator gives "real".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiscStats {
    pub d_loss: f32,
    /// The generator's non-saturating loss on the same fakes (before D's update).
    pub g_loss: f32,
    pub d_real: f32,
    pub d_fake: f32,
}

impl DiscStats {
    pub fn from_slice(stats: &[f32]) -> DiscStats {
        DiscStats { d_loss: stats[0], g_loss: stats[1], d_real: stats[2], d_fake: stats[3] }
    }
}

/// The generator step's numbers, read from [`GenLoss::stats`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GenStats {
    pub g_loss: f32,
    pub d_fake: f32,
}

impl GenStats {
    pub fn from_slice(stats: &[f32]) -> GenStats {
        GenStats { g_loss: stats[0], d_fake: stats[1] }
    }
}

/// Refuses logits that are not one per sample ([B] or [B, 1]).
fn check_logits(op: &'static str, logits: &Shape) -> Result<()> {
    let dims = logits.dims();
    if dims.len() >= 2 && dims[dims.len() - 1] != 1 {
        return Err(Error::BadShape {
            op,
            why: "a discriminator gives one logit per sample: [B] or [B, 1]".into(),
            shape: logits.clone(),
        });
    }
    Ok(())
}

fn check_scale(op: &'static str, grad_scale: f32) -> Result<()> {
    if !grad_scale.is_finite() {
        return Err(Error::Invalid(format!("{op}: grad_scale must be finite, not {grad_scale}")));
    }
    Ok(())
}

/// The discriminator's loss on `real_logits` (target `real_label`: 1, or e.g. 0.9 with
/// one-sided label smoothing) and `fake_logits` (target 0), with gradients scaled by
/// `grad_scale` (usually 1 / B). One launch.
pub fn discriminator_loss(
    gpu: &Gpu,
    real_logits: &Tensor,
    fake_logits: &Tensor,
    real_label: f32,
    grad_scale: f32,
) -> Result<DiscLoss> {
    let op = "discriminator_loss";
    if real_logits.shape() != fake_logits.shape() {
        return Err(Error::shape(op, "real and fake logits differ in shape", real_logits.shape(), fake_logits.shape()));
    }
    check_logits(op, real_logits.shape())?;
    if !(0.0..=1.0).contains(&real_label) {
        return Err(Error::Invalid(format!("{op}: real_label must be in [0, 1], not {real_label}")));
    }
    check_scale(op, grad_scale)?;
    let real_grad = Tensor::uninit(gpu, real_logits.shape().clone())?;
    let fake_grad = Tensor::uninit(gpu, fake_logits.shape().clone())?;
    let stats = Tensor::uninit(gpu, [4])?;
    let params = Params { n: real_logits.len() as u32, real_label, grad_scale };
    // One workgroup: it strides over the batch and reduces the means in workgroup memory.
    gpu.dispatch(&DISCRIMINATOR, &params, &[real_logits, fake_logits, &real_grad, &fake_grad, &stats], [1, 1, 1]);
    Ok(DiscLoss { real_grad, fake_grad, stats })
}

/// The generator's non-saturating loss mean softplus(−x) on `fake_logits`, with its
/// gradient σ(x) − 1 scaled by `grad_scale` (usually 1 / B). One launch.
pub fn generator_loss(gpu: &Gpu, fake_logits: &Tensor, grad_scale: f32) -> Result<GenLoss> {
    let op = "generator_loss";
    check_logits(op, fake_logits.shape())?;
    check_scale(op, grad_scale)?;
    let grad = Tensor::uninit(gpu, fake_logits.shape().clone())?;
    let stats = Tensor::uninit(gpu, [2])?;
    let params = Params { n: fake_logits.len() as u32, real_label: 1.0, grad_scale };
    gpu.dispatch(&GENERATOR, &params, &[fake_logits, &grad, &stats], [1, 1, 1]);
    Ok(GenLoss { grad, stats })
}

pub mod cpu {
    //! The twin, in f64 from f32 inputs.

    /// log(1 + e^x) without overflow.
    pub fn softplus(x: f64) -> f64 {
        x.max(0.0) + (-x.abs()).exp().ln_1p()
    }

    /// σ(x). In f64 the plain formula needs no care: e^−x overflows only where σ(x) is 0.
    pub fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    /// BCE with logits: −y·log σ(x) − (1 − y)·log(1 − σ(x)) = softplus(x) − x·y.
    pub fn bce(x: f64, y: f64) -> f64 {
        softplus(x) - x * y
    }

    /// (real_grad, fake_grad, [d_loss, g_loss, D(real), D(fake)])
    pub fn discriminator_loss(
        real: &[f32],
        fake: &[f32],
        real_label: f32,
        grad_scale: f32,
    ) -> (Vec<f32>, Vec<f32>, [f32; 4]) {
        let (y, k, n) = (real_label as f64, grad_scale as f64, real.len() as f64);
        let real_grad = real.iter().map(|&x| ((sigmoid(x as f64) - y) * k) as f32).collect();
        let fake_grad = fake.iter().map(|&x| (sigmoid(x as f64) * k) as f32).collect();
        let mean = |f: &dyn Fn(f64) -> f64, xs: &[f32]| xs.iter().map(|&x| f(x as f64)).sum::<f64>() / n;
        let d_loss = mean(&|x| bce(x, y), real) + mean(&|x| bce(x, 0.0), fake);
        let g_loss = mean(&|x| softplus(-x), fake);
        let stats = [d_loss, g_loss, mean(&sigmoid, real), mean(&sigmoid, fake)].map(|v| v as f32);
        (real_grad, fake_grad, stats)
    }

    /// (grad, [g_loss, D(fake)])
    pub fn generator_loss(fake: &[f32], grad_scale: f32) -> (Vec<f32>, [f32; 2]) {
        let (k, n) = (grad_scale as f64, fake.len() as f64);
        let grad = fake.iter().map(|&x| (-sigmoid(-x as f64) * k) as f32).collect();
        let g_loss = fake.iter().map(|&x| softplus(-x as f64)).sum::<f64>() / n;
        let d_fake = fake.iter().map(|&x| sigmoid(x as f64)).sum::<f64>() / n;
        (grad, [g_loss as f32, d_fake as f32])
    }
}

/// The self-test's cases: these kernels against their [`cpu`] twins, on awkward sizes.
pub mod cases {
    use crate::error::Result;
    use crate::gpu::{Gpu, Tensor};
    use crate::kernels::check::{check, test_data, worst, Check, TOLERANCE};
    use crate::kernels::gan;

    #[derive(Clone, Debug)]
    pub enum GanCase {
        /// Logits in ±`logit_scale`, the extremes ±`logit_scale` and 0 among them.
        Discriminator {
            batch: usize,
            logit_scale: f32,
            real_label: f32,
        },
        Generator {
            batch: usize,
            logit_scale: f32,
        },
    }

    /// Logits in [−scale, scale) with the extremes ±scale and 0 at the front.
    fn logits(seed: u64, n: usize, scale: f32) -> Vec<f32> {
        let mut x = test_data(seed, n, scale);
        for (slot, v) in x.iter_mut().zip([scale, -scale, 0.0]) {
            *slot = v;
        }
        x
    }

    impl GanCase {
        pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
            match *self {
                GanCase::Discriminator { batch, logit_scale, real_label } => {
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
                GanCase::Generator { batch, logit_scale } => {
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
            }
        }
    }

    pub fn all(small: bool) -> Vec<GanCase> {
        let mut cases = vec![
            GanCase::Discriminator { batch: 7, logit_scale: 80.0, real_label: 1.0 },
            GanCase::Discriminator { batch: 257, logit_scale: 80.0, real_label: 0.9 },
            GanCase::Discriminator { batch: 64, logit_scale: 3.0, real_label: 1.0 },
            GanCase::Generator { batch: 7, logit_scale: 80.0 },
            GanCase::Generator { batch: 257, logit_scale: 3.0 },
        ];
        if !small {
            cases.extend([
                GanCase::Discriminator { batch: 1000, logit_scale: 80.0, real_label: 1.0 },
                GanCase::Generator { batch: 1000, logit_scale: 80.0 },
            ]);
        }
        cases
    }
}
