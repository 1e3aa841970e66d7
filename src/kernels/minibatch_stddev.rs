//! The minibatch standard deviation feature (Karras et al. 2018): a batch of feature rows
//! `[B, F]` gets one more column, the same in every row, holding how much the batch varies
//! (the mean over features of each feature's standard deviation over the batch). A
//! discriminator that sees it can tell a generator that draws one monster for every z from
//! a batch of real, varied ones, which no single image gives away. See
//! minibatch_stddev.wgsl for the formulas; forward and backward are one launch each.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Gpu, Tensor};
use crate::kernels::{feature_rows, same_shape, source};

kernel_specs! {
    shader: "minibatch_stddev.wgsl", sources: [source::WORKGROUP_SUM, source::MINIBATCH_STDDEV], params: Params;
    FORWARD = "forward" [x: Read, out: ReadWrite];
    BACKWARD = "backward" [x: Read, out: ReadWrite, dy: Read];
}

/// Added to each variance before its square root: keeps the gradient finite for a feature
/// that is the same in every row (a collapsed generator's, exactly the case to punish).
pub const EPSILON: f32 = 1e-8;

kernel_params! {
    struct Params {
        /// B
        batch: u32,
        /// F
        features: u32,
        /// backward: 1 adds into dx, 0 overwrites it
        accumulate: u32,
        epsilon: f32,
    }
}

/// (B, F) of a batch of feature rows, refusing anything that is not a matrix with at least
/// two rows (one row has no spread to measure).
fn rows_and_features(op: &'static str, x: &Tensor) -> Result<(usize, usize)> {
    let why = "expected a batch of at least 2 feature rows [B, F]: the spread of one sample is undefined";
    feature_rows(op, x, 2, why)
}

/// `x` `[B, F]` → `[B, F + 1]`, the last column the batch's mean standard deviation.
pub fn forward(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let (batch, features) = rows_and_features("minibatch_stddev", x)?;
    let y = Tensor::uninit(gpu, [batch, features + 1])?;
    let params = Params { batch: batch as u32, features: features as u32, accumulate: 0, epsilon: EPSILON };
    gpu.dispatch(&FORWARD, &params, &[x, &y], [1, 1, 1]);
    Ok(y)
}

/// d loss / d x from `dy` = d loss / d y (`[B, F + 1]`) into `dx` (`[B, F]`), adding to it
/// when `accumulate`.
pub fn backward_into(gpu: &Gpu, x: &Tensor, dy: &Tensor, dx: &Tensor, accumulate: bool) -> Result<()> {
    let op = "minibatch_stddev_backward";
    let (batch, features) = rows_and_features(op, x)?;
    if dy.shape().dims() != [batch, features + 1] {
        return Err(Error::shape(op, "dy must be [B, F + 1] for x [B, F]", x.shape(), dy.shape()));
    }
    same_shape(op, "dx must have x's shape", x, dx)?;
    let params =
        Params { batch: batch as u32, features: features as u32, accumulate: accumulate as u32, epsilon: EPSILON };
    gpu.dispatch(&BACKWARD, &params, &[x, dx, dy], grid_1d(features, 256));
    Ok(())
}

pub mod cpu {
    //! The twin, in f64, written straight from the definition.

    use super::EPSILON;

    /// Per feature: (mean, standard deviation) over the `batch` rows of `x`.
    fn column_stats(x: &[f32], batch: usize) -> Vec<(f64, f64)> {
        let features = x.len() / batch;
        (0..features)
            .map(|f| {
                let column = (0..batch).map(|b| x[b * features + f] as f64);
                let mean = column.clone().sum::<f64>() / batch as f64;
                let variance = column.map(|v| (v - mean).powi(2)).sum::<f64>() / batch as f64;
                (mean, (variance + EPSILON as f64).sqrt())
            })
            .collect()
    }

    pub fn forward(x: &[f32], batch: usize) -> Vec<f32> {
        let features = x.len() / batch;
        let stats = column_stats(x, batch);
        let s = stats.iter().map(|&(_, sigma)| sigma).sum::<f64>() / features as f64;
        x.chunks(features).flat_map(|row| row.iter().copied().chain([s as f32])).collect()
    }

    pub fn backward(x: &[f32], dy: &[f32], batch: usize) -> Vec<f32> {
        let features = x.len() / batch;
        let stats = column_stats(x, batch);
        let g: f64 = (0..batch).map(|b| dy[b * (features + 1) + features] as f64).sum();
        (0..batch * features)
            .map(|i| {
                let (b, f) = (i / features, i % features);
                let (mean, sigma) = stats[f];
                let through_s = g * (x[i] as f64 - mean) / (features as f64 * batch as f64 * sigma);
                (dy[b * (features + 1) + f] as f64 + through_s) as f32
            })
            .collect()
    }
}

/// The self-test's cases: these kernels against their [`cpu`] twins, on awkward sizes.
pub mod cases {
    use crate::error::Result;
    use crate::gpu::{Gpu, Tensor};
    use crate::kernels::check::{check, plus, prior_grad, test_data, worst, Check, TOLERANCE};
    use crate::kernels::minibatch_stddev;

    /// Forward, and backward written or accumulated.
    #[derive(Clone, Debug)]
    pub struct MinibatchStddevCase {
        batch: usize,
        features: usize,
        accumulate: bool,
    }

    impl MinibatchStddevCase {
        pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
            let MinibatchStddevCase { batch, features, accumulate } = *self;
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
    }

    /// The least batch, and more features than a workgroup has threads.
    pub fn all(small: bool) -> Vec<MinibatchStddevCase> {
        let mut cases = vec![
            MinibatchStddevCase { batch: 2, features: 1, accumulate: false },
            MinibatchStddevCase { batch: 7, features: 300, accumulate: true },
        ];
        if !small {
            cases.push(MinibatchStddevCase { batch: 64, features: 513, accumulate: false });
        }
        cases
    }
}
