//! One error type for the library; every message says what was wrong and what to do.

use crate::shape::Shape;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no GPU adapter found ({0}). genlab needs WebGPU in the browser (Chrome/Edge 113+, \
         Safari 26+, Firefox 141+ on Windows; on Linux start Chrome with \
         --enable-unsafe-webgpu --enable-features=Vulkan) or, natively, a Vulkan/Metal/DX12 \
         driver (on Linux without a GPU: apt-get install mesa-vulkan-drivers)"
    )]
    NoAdapter(String),
    #[error("could not open the GPU device: {0}")]
    Device(String),
    #[error("{op}: {why}: {left} vs {right}")]
    Shape { op: &'static str, why: &'static str, left: Shape, right: Shape },
    #[error("{op}: {why} (shape {shape})")]
    BadShape { op: &'static str, why: String, shape: Shape },
    #[error("tensor of shape {0} is empty: every dimension must be at least 1")]
    EmptyTensor(Shape),
    #[error(
        "a tensor of shape {shape} needs {} MiB, more than this GPU binds at once ({} MiB): use a \
         smaller batch, or fewer images at a time",
        (4 * shape.numel() as u64).div_ceil(1 << 20),
        limit >> 20
    )]
    TooLarge { shape: Shape, limit: u64 },
    #[error("{len} values do not fill a tensor of shape {shape} ({} elements)", shape.numel())]
    DataLength { shape: Shape, len: usize },
    #[error(
        "the GPU device was lost ({0}): a driver reset, a GPU-process crash, or the device was \
         destroyed. The page's labs get a new device and resume from their last checkpoint; on the \
         command line, run the command again"
    )]
    DeviceLost(String),
    #[error("the GPU reported an error: {0}")]
    Gpu(String),
    #[error("reading a result back from the GPU failed: {0}")]
    Readback(String),
    #[error(
        "training diverged at step {step}: {figure} became {}{}. Lower the learning rate \
         (or, for a GAN, the generator's), or start again from another seed",
        readable(*value),
        growth.map(|(median, factor)| format!(", over {factor}× its recent median {}", readable(median))).unwrap_or_default()
    )]
    Diverged {
        step: u32,
        figure: &'static str,
        value: f32,
        /// For a figure that grew too fast: its recent median, and the factor it grew past.
        growth: Option<(f32, f32)>,
    },
    #[error("{0}")]
    Invalid(String),
    /// A PNG that cannot be used: not a PNG, corrupt, too large, or not cut into tiles.
    #[error("image: {0}")]
    Image(String),
    /// A safetensors file that cannot be read or is not what was expected.
    #[error("safetensors: {0}")]
    Tensors(String),
}

impl Error {
    pub fn shape(op: &'static str, why: &'static str, left: &Shape, right: &Shape) -> Error {
        Error::Shape { op, why, left: left.clone(), right: right.clone() }
    }
}

/// A figure as a person reads it: 643.73, 8.03e32, NaN.
fn readable(value: f32) -> String {
    if value.is_finite() && value.abs() >= 1e6 {
        format!("{value:.2e}")
    } else if value.is_finite() {
        format!("{value:.4}").trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{value}")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
