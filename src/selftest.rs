//! Kernel self-test: every kernel against its CPU twin on random data. Each kernel module
//! brings its own cases (its `cases` module); this gathers and runs them, and holds what they
//! share. The native tests, the browser tests, `genlab selftest` and the page's results table
//! all run these cases.
//!
//! Error measure: max |gpu − cpu| / max(1, max |cpu|), i.e. relative to the size of the
//! result (pure per-element relative error is meaningless near zero).

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::rng::{self, Stream};
use crate::kernels::{
    adam, elementwise, gan, gather, loss, lstm, matmul, minibatch_stddev, patches, pixel_norm, reduce, reparam,
    spectral_norm, upsample,
};

/// One case of the self-test: a case of one kernel module.
#[derive(Clone, Debug)]
pub enum Case {
    Matmul(matmul::cases::MatmulCase),
    Elementwise(elementwise::cases::ElementwiseCase),
    Reduce(reduce::cases::ReduceCase),
    Loss(loss::cases::LossCase),
    Adam(adam::cases::AdamCase),
    Rng(rng::cases::RngCase),
    Gather(gather::cases::GatherCase),
    Patches(patches::cases::PatchesCase),
    Reparam(reparam::cases::ReparamCase),
    Gan(gan::cases::GanCase),
    Upsample(upsample::cases::UpsampleCase),
    MinibatchStddev(minibatch_stddev::cases::MinibatchStddevCase),
    PixelNorm(pixel_norm::cases::PixelNormCase),
    SpectralNorm(spectral_norm::cases::SpectralNormCase),
    Lstm(lstm::cases::LstmCase),
}

impl Case {
    pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
        match self {
            Case::Matmul(case) => case.run(gpu).await,
            Case::Elementwise(case) => case.run(gpu).await,
            Case::Reduce(case) => case.run(gpu).await,
            Case::Loss(case) => case.run(gpu).await,
            Case::Adam(case) => case.run(gpu).await,
            Case::Rng(case) => case.run(gpu).await,
            Case::Gather(case) => case.run(gpu).await,
            Case::Patches(case) => case.run(gpu).await,
            Case::Reparam(case) => case.run(gpu).await,
            Case::Gan(case) => case.run(gpu).await,
            Case::Upsample(case) => case.run(gpu).await,
            Case::MinibatchStddev(case) => case.run(gpu).await,
            Case::PixelNorm(case) => case.run(gpu).await,
            Case::SpectralNorm(case) => case.run(gpu).await,
            Case::Lstm(case) => case.run(gpu).await,
        }
    }
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

pub(crate) fn check(kernel: String, shape: String, max_error: f64, tolerance: f64) -> Check {
    Check { kernel, shape, max_error, tolerance, passed: max_error <= tolerance }
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

/// Matmul cases on awkward shapes: 1×1×1, primes, non-multiples of the 64-wide tile.
pub fn matmul_cases(small: bool) -> Vec<Case> {
    matmul::cases::all(small).into_iter().map(Case::Matmul).collect()
}

/// Every other kernel, on awkward sizes.
pub fn other_cases(small: bool) -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(elementwise::cases::all(small).into_iter().map(Case::Elementwise));
    cases.extend(reduce::cases::all(small).into_iter().map(Case::Reduce));
    cases.extend(loss::cases::all(small).into_iter().map(Case::Loss));
    cases.extend(adam::cases::all(small).into_iter().map(Case::Adam));
    cases.extend(rng::cases::all(small).into_iter().map(Case::Rng));
    cases.extend(gather::cases::all(small).into_iter().map(Case::Gather));
    cases.extend(patches::cases::all(small).into_iter().map(Case::Patches));
    cases.extend(reparam::cases::all(small).into_iter().map(Case::Reparam));
    cases.extend(gan::cases::all(small).into_iter().map(Case::Gan));
    cases.extend(upsample::cases::all(small).into_iter().map(Case::Upsample));
    cases.extend(minibatch_stddev::cases::all(small).into_iter().map(Case::MinibatchStddev));
    cases.extend(pixel_norm::cases::all(small).into_iter().map(Case::PixelNorm));
    cases.extend(spectral_norm::cases::all(small).into_iter().map(Case::SpectralNorm));
    cases.extend(lstm::cases::all(small).into_iter().map(Case::Lstm));
    cases
}

/// The whole self-test; `small` keeps it quick on software GPUs (the page, the browser tests).
pub fn all_cases(small: bool) -> Vec<Case> {
    let mut cases = matmul_cases(small);
    cases.extend(other_cases(small));
    cases
}
