//! Adam, in place, one launch per parameter tensor.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Gpu, Tensor};
use crate::kernels::source;

kernel_specs! {
    shader: "adam.wgsl", sources: [source::GRID, source::ADAM], params: Params;
    ADAM = "adam" [grad: Read, param: ReadWrite, m: ReadWrite, v: ReadWrite];
}

/// Adam's hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }
}

impl AdamConfig {
    /// Refuses settings that would silently wreck training.
    pub fn validate(&self) -> Result<()> {
        let ok = self.lr.is_finite()
            && self.lr > 0.0
            && (0.0..1.0).contains(&self.beta1)
            && (0.0..1.0).contains(&self.beta2)
            && self.eps.is_finite()
            && self.eps > 0.0;
        if !ok {
            return Err(Error::Invalid(format!(
                "Adam settings out of range: {self:?}; need a finite lr > 0, betas in [0, 1) and eps > 0"
            )));
        }
        Ok(())
    }
}

kernel_params! {
    struct Params {
        n: u32,
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        /// 1 − β1ᵗ
        correction1: f32,
        /// 1 − β2ᵗ
        correction2: f32,
    }
}

/// One Adam update of `param` with `grad`, at 1-based step `t`.
pub fn adam_step(
    gpu: &Gpu,
    config: &AdamConfig,
    t: u32,
    grad: &Tensor,
    param: &Tensor,
    m: &Tensor,
    v: &Tensor,
) -> Result<()> {
    for other in [grad, m, v] {
        if other.len() != param.len() {
            return Err(Error::shape("adam", "state must match the parameter", param.shape(), other.shape()));
        }
    }
    let params = Params {
        n: param.len() as u32,
        lr: config.lr,
        beta1: config.beta1,
        beta2: config.beta2,
        eps: config.eps,
        correction1: 1.0 - config.beta1.powi(t as i32),
        correction2: 1.0 - config.beta2.powi(t as i32),
    };
    gpu.dispatch(&ADAM, &params, &[grad, param, m, v], grid_1d(param.len(), 256));
    Ok(())
}

pub mod cpu {
    use super::AdamConfig;

    pub fn adam_step(config: &AdamConfig, t: u32, grad: &[f32], param: &mut [f32], m: &mut [f32], v: &mut [f32]) {
        let c1 = 1.0 - config.beta1.powi(t as i32);
        let c2 = 1.0 - config.beta2.powi(t as i32);
        for i in 0..param.len() {
            let g = grad[i];
            m[i] = config.beta1 * m[i] + (1.0 - config.beta1) * g;
            v[i] = config.beta2 * v[i] + (1.0 - config.beta2) * g * g;
            param[i] -= config.lr * (m[i] / c1) / ((v[i] / c2).sqrt() + config.eps);
        }
    }
}

/// The self-test's cases: these kernels against their [`cpu`] twins, on awkward sizes.
pub mod cases {
    use crate::error::Result;
    use crate::gpu::{Gpu, Tensor};
    use crate::kernels::adam::{self, AdamConfig};
    use crate::kernels::check::{check, max_error, test_data, Check, TOLERANCE};

    /// `steps` updates of one parameter tensor.
    #[derive(Clone, Debug)]
    pub struct AdamCase {
        n: usize,
        steps: u32,
    }

    impl AdamCase {
        pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
            let AdamCase { n, steps } = *self;
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
    }

    pub fn all(_small: bool) -> Vec<AdamCase> {
        vec![AdamCase { n: 1031, steps: 5 }]
    }
}
