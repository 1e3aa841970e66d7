//! Shared by the native test binaries.
#![allow(dead_code)]

use std::rc::Rc;

use genlab::gpu::{block_on, Gpu};
use genlab::nn::Param;

/// A device on whatever adapter there is (lavapipe in CI).
pub fn gpu() -> Gpu {
    block_on(Gpu::new())
        .expect("native tests need a Vulkan/Metal/DX12 adapter (lavapipe: apt-get install mesa-vulkan-drivers)")
}

/// (mean, variance) of `values`, summed in f64.
pub fn moments(values: &[f32]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var)
}

/// The values of `params`, in order.
pub fn values(gpu: &Gpu, params: &[Rc<Param>]) -> Vec<Vec<f32>> {
    params.iter().map(|p| p.value.to_vec_blocking(gpu).unwrap()).collect()
}
