//! What the kernels' self-test cases share: the outcome of a check, the tolerances, the
//! error measure and the test data. Each kernel module's `cases` builds on this, and
//! `selftest.rs` gathers the cases and runs them.
//!
//! Error measure: max |gpu − cpu| / max(1, max |cpu|), i.e. relative to the size of the
//! result (pure per-element relative error is meaningless near zero).

use crate::kernels::rng::{self, Stream};

/// The outcome of one case, as the page's table shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Check {
    pub kernel: String,
    pub shape: String,
    pub max_error: f64,
    pub tolerance: f64,
    pub passed: bool,
    /// Why the case did not run on this device (a kernel it cannot compile), if it did not.
    pub skipped: Option<&'static str>,
}

impl Check {
    /// A case this device cannot run: nothing was compared, so nothing failed.
    pub fn skipped(kernel: String, shape: String, why: &'static str) -> Check {
        Check { kernel, shape, max_error: 0.0, tolerance: 0.0, passed: true, skipped: Some(why) }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(why) = self.skipped {
            return write!(f, "{:<24} {:<22} skipped: {why}", self.kernel, self.shape);
        }
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

pub(crate) fn check(kernel: String, shape: String, max_error: f64, tolerance: f64) -> Check {
    Check { kernel, shape, max_error, tolerance, passed: max_error <= tolerance, skipped: None }
}

/// The worst [`max_error`] over several outputs, each measured against its own magnitude
/// (a KL of 1e8 or a loss of 80 must not hide the errors of a gradient of order 1/B).
pub(crate) fn worst(parts: &[(&[f32], &[f32])]) -> f64 {
    parts.iter().map(|(got, want)| max_error(got, want)).fold(0.0, f64::max)
}

/// What a gradient buffer holds before a backward kernel runs: values to add to when the
/// case accumulates, zeros otherwise.
pub(crate) fn prior_grad(seed: u64, n: usize, accumulate: bool) -> Vec<f32> {
    if accumulate {
        test_data(seed, n, 1.0)
    } else {
        vec![0.0; n]
    }
}

/// `a + b` elementwise: a twin's gradient on top of the prior contents.
pub(crate) fn plus(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}
