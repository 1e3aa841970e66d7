//! Kernel self-test: every kernel against its CPU twin on random data. Each kernel module
//! brings its own cases (its `cases` module, built on [`crate::kernels::check`]); this
//! gathers and runs them. The native tests, the browser tests, `genlab selftest` and the
//! page's results table all run these cases.

use crate::error::Result;
use crate::gpu::Gpu;
pub use crate::kernels::check::{max_error, test_data, Check, NORMAL_TOLERANCE, TOLERANCE};
use crate::kernels::rng;
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
