//! Pixel normalisation (Karras et al. 2018): each row of a batch of feature rows `[B, F]` is
//! divided by its root mean square. In a generator's hidden layers it keeps every z's
//! features at one size, so no noise vector can drive them to extremes that the output
//! layer turns into speckle. See pixel_norm.wgsl for the formulas; forward and backward are
//! one launch each, a workgroup per row.

use crate::error::Result;
use crate::gpu::{grid_1d, Gpu, Tensor};
use crate::kernels::{feature_rows, same_shape, source};

kernel_specs! {
    shader: "pixel_norm.wgsl", sources: [source::PIXEL_NORM], params: Params;
    FORWARD = "forward" [x: Read, out: ReadWrite];
    BACKWARD = "backward" [x: Read, out: ReadWrite, dy: Read];
}

/// Added to each row's mean square before its square root: an all-zero row stays zero
/// instead of becoming NaN.
pub const EPSILON: f32 = 1e-8;

kernel_params! {
    struct Params {
        /// B
        rows: u32,
        /// F
        features: u32,
        /// backward: 1 adds into dx, 0 overwrites it
        accumulate: u32,
        epsilon: f32,
    }
}

/// (B, F) of a batch of feature rows.
fn rows_and_features(op: &'static str, x: &Tensor) -> Result<(usize, usize)> {
    feature_rows(op, x, 1, "expected a batch of feature rows [B, F] with B, F ≥ 1")
}

/// `x` `[B, F]` → `y` `[B, F]`, each row divided by its root mean square.
pub fn forward(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let (rows, features) = rows_and_features("pixel_norm", x)?;
    let y = Tensor::uninit(gpu, [rows, features])?;
    let params = Params { rows: rows as u32, features: features as u32, accumulate: 0, epsilon: EPSILON };
    gpu.dispatch(&FORWARD, &params, &[x, &y], grid_1d(rows, 1));
    Ok(y)
}

/// d loss / d x from `dy` = d loss / d y into `dx` (all `[B, F]`), adding to it when
/// `accumulate`.
pub fn backward_into(gpu: &Gpu, x: &Tensor, dy: &Tensor, dx: &Tensor, accumulate: bool) -> Result<()> {
    let op = "pixel_norm_backward";
    let (rows, features) = rows_and_features(op, x)?;
    same_shape(op, "dy must have x's shape", x, dy)?;
    same_shape(op, "dx must have x's shape", x, dx)?;
    let params =
        Params { rows: rows as u32, features: features as u32, accumulate: accumulate as u32, epsilon: EPSILON };
    gpu.dispatch(&BACKWARD, &params, &[x, dx, dy], grid_1d(rows, 1));
    Ok(())
}

pub mod cpu {
    //! The twin, in f64, written straight from the definition.

    use super::EPSILON;

    /// 1 / root mean square (+ ε) of each row of `x`.
    fn inverse_rms(x: &[f32], features: usize) -> Vec<f64> {
        x.chunks(features)
            .map(|row| {
                let mean_square = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / features as f64;
                1.0 / (mean_square + EPSILON as f64).sqrt()
            })
            .collect()
    }

    pub fn forward(x: &[f32], features: usize) -> Vec<f32> {
        let r = inverse_rms(x, features);
        x.iter().enumerate().map(|(i, &v)| (v as f64 * r[i / features]) as f32).collect()
    }

    pub fn backward(x: &[f32], dy: &[f32], features: usize) -> Vec<f32> {
        let r = inverse_rms(x, features);
        let s: Vec<f64> = x
            .chunks(features)
            .zip(dy.chunks(features))
            .map(|(xr, dr)| xr.iter().zip(dr).map(|(&a, &b)| a as f64 * b as f64).sum())
            .collect();
        (0..x.len())
            .map(|i| {
                let (b, n) = (i / features, features as f64);
                (r[b] * dy[i] as f64 - r[b].powi(3) * x[i] as f64 * s[b] / n) as f32
            })
            .collect()
    }
}

/// The self-test's cases: these kernels against their [`cpu`] twins, on awkward sizes.
pub mod cases {
    use crate::error::Result;
    use crate::gpu::{Gpu, Tensor};
    use crate::kernels::check::{check, plus, prior_grad, test_data, worst, Check, TOLERANCE};
    use crate::kernels::pixel_norm;

    /// Forward, and backward written or accumulated.
    #[derive(Clone, Debug)]
    pub struct PixelNormCase {
        rows: usize,
        features: usize,
        accumulate: bool,
    }

    impl PixelNormCase {
        pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
            let PixelNormCase { rows, features, accumulate } = *self;
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
    }

    pub fn all(small: bool) -> Vec<PixelNormCase> {
        let mut cases = vec![
            // One value, and rows longer than a workgroup is wide by an odd amount.
            PixelNormCase { rows: 1, features: 1, accumulate: false },
            PixelNormCase { rows: 7, features: 131, accumulate: true },
        ];
        if !small {
            cases.extend([
                // A generation chunk of G's hidden rows, and short rows (lanes left idle).
                PixelNormCase { rows: 256, features: 128, accumulate: false },
                PixelNormCase { rows: 65, features: 3, accumulate: true },
            ]);
        }
        cases
    }
}
