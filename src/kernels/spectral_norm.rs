//! Spectral normalisation (Miyato et al. 2018): a weight matrix divided by its largest
//! singular value, so that the layer stretches no difference between two inputs by more
//! than 1. A discriminator made of such layers (with leaky ReLUs, themselves 1-Lipschitz)
//! cannot grow sharp enough to reject every fake outright, which is how a convolutional
//! discriminator used to beat every generator here; its gradient stays smooth enough for
//! the generator to follow. See spectral_norm.wgsl for the formulas.
//!
//! The largest singular value comes from power iteration on a persistent vector `u` that
//! every forward pass moves one step: the weights change little between steps, so one step
//! a step keeps `u` on the top singular vector.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Gpu, Tensor};
use crate::kernels::source;

kernel_specs! {
    shader: "spectral_norm.wgsl", sources: [source::GRID, source::WORKGROUP_SUM, source::SPECTRAL_NORM], params: Params;
    POWER_ITERATION = "power_iteration" [w: Read, u: ReadWrite, v: ReadWrite, sigma: ReadWrite];
    DIVIDE = "divide" [w_in: Read, sigma_in: Read, w_sn: ReadWrite];
    BACKWARD = "backward" [g: Read, normalised: Read, u_in: Read, v_in: Read, sigma_at: Read, dw: ReadWrite];
}

kernel_params! {
    struct Params {
        /// R
        rows: u32,
        /// C
        cols: u32,
        /// power-iteration steps (power_iteration only)
        iterations: u32,
        /// backward: 1 adds into dw, 0 overwrites it
        accumulate: u32,
    }
}

/// The power iteration's state for one weight matrix `[R, C]`: `u` persists from call to
/// call (and is saved with the model); `v` and `sigma` hold the last call's results, which
/// the backward pass of that call reads.
pub struct PowerIteration {
    pub u: Tensor,
    pub v: Tensor,
    pub sigma: Tensor,
}

/// What one normalisation made: `W / σ`, and the state it was made with.
pub struct Normalised {
    pub weight: Tensor,
    pub sigma: Tensor,
    pub u: Tensor,
    pub v: Tensor,
}

impl PowerIteration {
    /// State for a `[rows, cols]` matrix starting from `u` (any nonzero vector of `rows`
    /// values; random is best, since it must not be orthogonal to the top singular vector).
    pub fn new(gpu: &Gpu, u: Tensor, cols: usize) -> Result<PowerIteration> {
        if cols == 0 || u.is_empty() || u.shape().dims().len() != 1 {
            return Err(Error::BadShape {
                op: "spectral_norm",
                why: format!("u must be a vector of the matrix's rows, and the matrix needs columns (has {cols})"),
                shape: u.shape().clone(),
            });
        }
        Ok(PowerIteration { u, v: Tensor::zeros(gpu, [cols])?, sigma: Tensor::zeros(gpu, [1])? })
    }

    fn check(&self, op: &'static str, w: &Tensor) -> Result<(usize, usize)> {
        let (rows, cols) = w.shape().as_matrix();
        if w.shape().dims().len() != 2 || rows != self.u.len() || cols != self.v.len() {
            return Err(Error::shape(op, "the weights must be [len(u), len(v)]", w.shape(), self.u.shape()));
        }
        Ok((rows, cols))
    }

    /// Moves `u` `iterations` steps of power iteration on `w` and records σ(w) and `v`.
    pub fn iterate(&self, gpu: &Gpu, w: &Tensor, iterations: u32) -> Result<()> {
        let (rows, cols) = self.check("spectral_norm", w)?;
        let params = Params { rows: rows as u32, cols: cols as u32, iterations, accumulate: 0 };
        gpu.dispatch(&POWER_ITERATION, &params, &[w, &self.u, &self.v, &self.sigma], [1, 1, 1]);
        Ok(())
    }

    /// One step of power iteration, then `w / σ(w)`, with a snapshot of the vectors (the
    /// next call moves `u` on) so that the backward pass of this call sees this call's.
    pub fn normalise(&self, gpu: &Gpu, w: &Tensor) -> Result<Normalised> {
        let weight = self.normalise_frozen(gpu, w)?;
        let snapshot = |t: &Tensor| -> Result<Tensor> {
            let copy = Tensor::uninit(gpu, t.shape().clone())?;
            gpu.copy(t, &copy)?;
            Ok(copy)
        };
        Ok(Normalised { weight, sigma: snapshot(&self.sigma)?, u: snapshot(&self.u)?, v: snapshot(&self.v)? })
    }

    /// One step of power iteration, then `w / σ(w)`, for a use with no backward pass
    /// (the weights held constant): nothing is kept.
    pub fn normalise_frozen(&self, gpu: &Gpu, w: &Tensor) -> Result<Tensor> {
        self.iterate(gpu, w, 1)?;
        let weight = Tensor::uninit(gpu, w.shape().clone())?;
        let (rows, cols) = w.shape().as_matrix();
        let params = Params { rows: rows as u32, cols: cols as u32, iterations: 0, accumulate: 0 };
        gpu.dispatch(&DIVIDE, &params, &[w, &self.sigma, &weight], grid_1d(w.len(), 256));
        Ok(weight)
    }
}

impl Normalised {
    /// d loss / d W from `g` = d loss / d (W / σ), into `dw`, adding to it when `accumulate`.
    pub fn backward_into(&self, gpu: &Gpu, g: &Tensor, dw: &Tensor, accumulate: bool) -> Result<()> {
        let op = "spectral_norm_backward";
        if g.shape() != self.weight.shape() || dw.shape() != self.weight.shape() {
            return Err(Error::shape(op, "g and dw must have the weights' shape", self.weight.shape(), g.shape()));
        }
        let (rows, cols) = self.weight.shape().as_matrix();
        let params = Params { rows: rows as u32, cols: cols as u32, iterations: 0, accumulate: accumulate as u32 };
        gpu.dispatch(&BACKWARD, &params, &[g, &self.weight, &self.u, &self.v, &self.sigma, dw], [1, 1, 1]);
        Ok(())
    }
}

pub mod cpu {
    //! The twin, in f64, step for step the shader's power iteration.

    fn normalised(x: Vec<f64>) -> (Vec<f64>, f64) {
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        (x.into_iter().map(|v| v / norm).collect(), norm)
    }

    /// `iterations` steps from `u` on the `[rows, cols]` matrix `w`: (u, v, σ).
    pub fn power_iteration(w: &[f32], rows: usize, u: &[f32], iterations: u32) -> (Vec<f32>, Vec<f32>, f32) {
        let cols = w.len() / rows;
        let at = |r: usize, c: usize| w[r * cols + c] as f64;
        let mut u: Vec<f64> = u.iter().map(|&x| x as f64).collect();
        let (mut v, mut sigma) = (vec![0.0; cols], 0.0);
        for _ in 0..iterations {
            v = normalised((0..cols).map(|c| (0..rows).map(|r| at(r, c) * u[r]).sum()).collect()).0;
            (u, sigma) = normalised((0..rows).map(|r| (0..cols).map(|c| at(r, c) * v[c]).sum()).collect());
        }
        let to_f32 = |x: Vec<f64>| x.into_iter().map(|v| v as f32).collect();
        (to_f32(u), to_f32(v), sigma as f32)
    }

    /// `w / σ`.
    pub fn divide(w: &[f32], sigma: f32) -> Vec<f32> {
        w.iter().map(|&x| (x as f64 / sigma as f64) as f32).collect()
    }

    /// d loss / d W = (G − (Σ G ∘ W_sn) u vᵀ) / σ.
    pub fn backward(g: &[f32], normalised: &[f32], u: &[f32], v: &[f32], sigma: f32) -> Vec<f32> {
        let cols = v.len();
        let along: f64 = g.iter().zip(normalised).map(|(&a, &b)| a as f64 * b as f64).sum();
        (0..g.len())
            .map(|i| ((g[i] as f64 - along * u[i / cols] as f64 * v[i % cols] as f64) / sigma as f64) as f32)
            .collect()
    }
}

/// The self-test's cases: these kernels against their [`cpu`] twins, on awkward sizes.
pub mod cases {
    use crate::error::Result;
    use crate::gpu::{Gpu, Tensor};
    use crate::kernels::check::{check, plus, prior_grad, test_data, worst, Check, TOLERANCE};
    use crate::kernels::spectral_norm::{self, PowerIteration};

    /// `iterations` power-iteration steps on a `[rows, cols]` matrix, the division by σ, and the
    /// backward written or accumulated.
    #[derive(Clone, Debug)]
    pub struct SpectralNormCase {
        rows: usize,
        cols: usize,
        iterations: u32,
        accumulate: bool,
    }

    impl SpectralNormCase {
        pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
            let SpectralNormCase { rows, cols, iterations, accumulate } = *self;
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
    }

    pub fn all(small: bool) -> Vec<SpectralNormCase> {
        let mut cases = vec![
            // A 1×1 matrix, and more columns than a workgroup has threads.
            SpectralNormCase { rows: 1, cols: 1, iterations: 1, accumulate: false },
            SpectralNormCase { rows: 7, cols: 300, iterations: 3, accumulate: true },
        ];
        if !small {
            cases.extend([
                // The MLP discriminator's first layer on sprites, and a tall matrix.
                SpectralNormCase { rows: 768, cols: 128, iterations: 20, accumulate: false },
                SpectralNormCase { rows: 1025, cols: 3, iterations: 2, accumulate: true },
            ]);
        }
        cases
    }
}
