//! Losses fused with their gradients (see loss.wgsl).

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Gpu, Tensor};
use crate::kernels::source;

kernel_specs! {
    shader: "loss.wgsl", sources: [source::GRID, source::ACTIVATION, source::LOSS], params: Params;
    BCE = "bce_with_logits" [bce_logits: Read, bce_targets: Read, bce_loss_rows: ReadWrite, bce_grad: ReadWrite];
    SOFTMAX_XENT = "softmax_cross_entropy" [
        sce_logits: Read,
        sce_targets: Read(u32),
        sce_loss_rows: ReadWrite,
        sce_grad: ReadWrite,
    ];
}

kernel_params! {
    struct Params {
        rows: u32,
        cols: u32,
        /// usually weight / rows
        grad_scale: f32,
    }
}

/// A loss's per-row values (nats) and its gradient with respect to the logits.
pub struct LossAndGrad {
    pub loss_rows: Tensor,
    pub grad: Tensor,
}

/// Sigmoid binary cross-entropy of `logits` against `targets` in [0, 1]; the gradient is
/// scaled by `grad_scale` (weight / rows for a weighted mean over rows).
pub fn bce_with_logits(gpu: &Gpu, logits: &Tensor, targets: &Tensor, grad_scale: f32) -> Result<LossAndGrad> {
    if logits.shape() != targets.shape() {
        return Err(Error::shape(
            "bce_with_logits",
            "logits and targets differ in shape",
            logits.shape(),
            targets.shape(),
        ));
    }
    let (rows, cols) = logits.shape().as_matrix();
    let loss_rows = Tensor::uninit(gpu, [rows])?;
    let grad = Tensor::uninit(gpu, logits.shape().clone())?;
    let params = Params { rows: rows as u32, cols: cols as u32, grad_scale };
    gpu.dispatch(&BCE, &params, &[logits, targets, &loss_rows, &grad], grid_1d(rows, 64));
    Ok(LossAndGrad { loss_rows, grad })
}

/// Softmax cross-entropy of `logits` [rows, classes] against `targets` (u32 class per row).
/// Host-provided targets must be checked by the caller (see [`check_classes`]).
pub fn softmax_cross_entropy(gpu: &Gpu, logits: &Tensor, targets: &Tensor, grad_scale: f32) -> Result<LossAndGrad> {
    let (rows, classes) = logits.shape().as_matrix();
    if targets.len() != rows {
        return Err(Error::shape(
            "softmax_cross_entropy",
            "one target per row of logits",
            logits.shape(),
            targets.shape(),
        ));
    }
    let loss_rows = Tensor::uninit(gpu, [rows])?;
    let grad = Tensor::uninit(gpu, logits.shape().clone())?;
    let params = Params { rows: rows as u32, cols: classes as u32, grad_scale };
    gpu.dispatch(&SOFTMAX_XENT, &params, &[logits, targets, &loss_rows, &grad], grid_1d(rows, 256));
    Ok(LossAndGrad { loss_rows, grad })
}

/// Refuses class indices outside [0, classes) before they reach the GPU.
pub fn check_classes(targets: &[u32], classes: usize) -> Result<()> {
    match targets.iter().position(|&t| t as usize >= classes) {
        Some(i) => {
            Err(Error::Invalid(format!("target {} at position {i} is not a class index in 0..{classes}", targets[i])))
        }
        None => Ok(()),
    }
}

pub mod cpu {
    /// (per-row loss, gradient)
    pub fn bce_with_logits(logits: &[f32], targets: &[f32], cols: usize, grad_scale: f32) -> (Vec<f32>, Vec<f32>) {
        let mut loss = Vec::new();
        let mut grad = Vec::with_capacity(logits.len());
        for (row, trow) in logits.chunks(cols).zip(targets.chunks(cols)) {
            let mut s = 0.0f64;
            for (&x, &t) in row.iter().zip(trow) {
                let (x64, t64) = (x as f64, t as f64);
                s += x64.max(0.0) - x64 * t64 + (-x64.abs()).exp().ln_1p();
                grad.push((crate::kernels::elementwise::cpu::sigmoid(x) - t) * grad_scale);
            }
            loss.push(s as f32);
        }
        (loss, grad)
    }

    pub fn softmax_cross_entropy(
        logits: &[f32],
        targets: &[u32],
        classes: usize,
        grad_scale: f32,
    ) -> (Vec<f32>, Vec<f32>) {
        let mut loss = Vec::new();
        let mut grad = Vec::with_capacity(logits.len());
        for (row, &t) in logits.chunks(classes).zip(targets) {
            let top = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let log_total = row.iter().map(|&v| (v as f64 - top).exp()).sum::<f64>().ln();
            loss.push((log_total + top - row[t as usize] as f64) as f32);
            for (j, &v) in row.iter().enumerate() {
                let prob = (v as f64 - top - log_total).exp();
                let onehot = (j == t as usize) as u32 as f64;
                grad.push(((prob - onehot) * grad_scale as f64) as f32);
            }
        }
        (loss, grad)
    }
}

/// The self-test's cases: these kernels against their [`cpu`] twins, on awkward sizes.
pub mod cases {
    use crate::error::Result;
    use crate::gpu::{Gpu, Tensor};
    use crate::kernels::check::{check, max_error, test_data, Check, TOLERANCE};
    use crate::kernels::loss;
    use crate::kernels::rng::{self, Stream};

    #[derive(Clone, Debug)]
    pub enum LossCase {
        Bce { rows: usize, cols: usize, logit_scale: f32 },
        SoftmaxCrossEntropy { rows: usize, classes: usize, logit_scale: f32 },
    }

    impl LossCase {
        pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
            match *self {
                LossCase::Bce { rows, cols, logit_scale } => {
                    let logits = test_data(12, rows * cols, logit_scale);
                    let targets: Vec<f32> = test_data(13, rows * cols, 0.5).iter().map(|v| v + 0.5).collect();
                    let lt = Tensor::from_slice(gpu, [rows, cols], &logits)?;
                    let tt = Tensor::from_slice(gpu, [rows, cols], &targets)?;
                    let scale = 1.0 / rows as f32;
                    let out = loss::bce_with_logits(gpu, &lt, &tt, scale)?;
                    let want = loss::cpu::bce_with_logits(&logits, &targets, cols, scale);
                    let shape = format!("{rows}×{cols}, |x|≤{logit_scale}");
                    check_loss(gpu, "bce with logits (+grad)", shape, &out, want).await
                }
                LossCase::SoftmaxCrossEntropy { rows, classes, logit_scale } => {
                    let logits = test_data(14, rows * classes, logit_scale);
                    let targets = rng::cpu::random_index(Stream::new(15), rows, classes as u32);
                    let lt = Tensor::from_slice(gpu, [rows, classes], &logits)?;
                    let tt = Tensor::from_slice(gpu, [rows], &targets)?;
                    let scale = 1.0 / rows as f32;
                    let out = loss::softmax_cross_entropy(gpu, &lt, &tt, scale)?;
                    let want = loss::cpu::softmax_cross_entropy(&logits, &targets, classes, scale);
                    let shape = format!("{rows}×{classes}, |x|≤{logit_scale}");
                    check_loss(gpu, "softmax xent (+grad)", shape, &out, want).await
                }
            }
        }
    }

    /// A fused loss's rows, then its gradient, against the twin's (rows, gradient).
    async fn check_loss(
        gpu: &Gpu,
        name: &str,
        shape: String,
        out: &loss::LossAndGrad,
        (mut want, grad): (Vec<f32>, Vec<f32>),
    ) -> Result<Check> {
        let mut got = gpu.read(&out.loss_rows).await?;
        got.extend(gpu.read(&out.grad).await?);
        want.extend(grad);
        Ok(check(name.into(), shape, max_error(&got, &want), TOLERANCE))
    }

    /// Moderate and extreme logits.
    pub fn all(_small: bool) -> Vec<LossCase> {
        vec![
            LossCase::Bce { rows: 5, cols: 300, logit_scale: 8.0 },
            LossCase::Bce { rows: 3, cols: 17, logit_scale: 100.0 },
            // More rows than one 64-thread workgroup holds (one thread per row).
            LossCase::Bce { rows: 131, cols: 7, logit_scale: 8.0 },
            LossCase::SoftmaxCrossEntropy { rows: 37, classes: 16, logit_scale: 8.0 },
            LossCase::SoftmaxCrossEntropy { rows: 5, classes: 167, logit_scale: 100.0 },
        ]
    }
}
