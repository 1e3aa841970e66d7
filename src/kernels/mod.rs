//! One module per shader file: the launch (shapes checked, parameters packed), the CPU twin,
//! plain Rust that is obviously right, used as the oracle in tests, and the self-test's cases
//! that hold one against the other.

/// Declares a kernel module's launch parameters: a `#[repr(C)]` plain-old-data struct of
/// `u32`, `i32` and `f32` fields (and `[f32; 4]`, a WGSL `vec4<f32>`), and `LAYOUT`, where each field sits, for the module's
/// [`KernelSpec`](crate::gpu::KernelSpec)s. The shaders read it as `p`, a uniform of the WGSL
/// struct `Params` that [`KernelSpec::source`](crate::gpu::KernelSpec::source) declares from
/// `LAYOUT` before their own code, so each field is declared (and documented) once, here.
/// Constants that both sides need (flag bits, clamping bounds) may follow the struct: each is
/// a Rust constant and is declared to the shaders as a WGSL one, after the struct.
macro_rules! kernel_params {
    (
        $(#[$meta:meta])* $struct_vis:vis struct $name:ident { $($(#[$doc:meta])* $field_vis:vis $field:ident: $ty:ty),* $(,)? }
        $($(#[$const_doc:meta])* $vis:vis const $const:ident: $const_ty:ty = $value:literal;)*
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        $struct_vis struct $name {
            $($(#[$doc])* $field_vis $field: $ty),*
        }

        $($(#[$const_doc])* $vis const $const: $const_ty = $value;)*

        impl $name {
            const LAYOUT: $crate::gpu::ParamsLayout = $crate::gpu::ParamsLayout {
                size: std::mem::size_of::<$name>(),
                fields: &[$($crate::gpu::ParamsField {
                    name: stringify!($field),
                    ty: stringify!($ty),
                    offset: std::mem::offset_of!($name, $field),
                    size: std::mem::size_of::<$ty>(),
                }),*],
                consts: &[$((stringify!($const), stringify!($const_ty), stringify!($value))),*],
            };
        }
    };
}

/// Declares a kernel module's kernels: the static that launches it = the entry point's name
/// in the WGSL, then the storage buffers it binds at `@binding(1..)`, in order, each as
/// `name: Read` or `name: ReadWrite`, with its element type in brackets when it is not `f32`
/// (`tokens: Read(u32)`). The shaders declare neither these nor the uniform `p`:
/// [`KernelSpec::source`](crate::gpu::KernelSpec::source) writes them from here, so a buffer
/// is declared once. Every kernel of a module is compiled from one shader file (`shader`, the
/// module's cache key), built from `sources` (WGSL pieces concatenated, shared helpers first:
/// WGSL has no includes), and reads its parameters from `params` (a [`kernel_params!`]
/// struct). Also declares `SPECS`, the module's kernels, for checks that walk every kernel
/// (see [`specs`](crate::kernels::specs)). `subgroups: true` marks a shader that uses WGSL's
/// subgroup operations: only a device that has them may compile it ([`Gpu::has_subgroups`]).
///
/// [`Gpu::has_subgroups`]: crate::gpu::Gpu::has_subgroups
macro_rules! kernel_specs {
    (
        shader: $shader:literal, sources: $sources:tt, params: $params:ident, subgroups: $subgroups:literal;
        $($name:ident = $entry:literal [$($buffer:ident: $access:ident $(($($element:tt)+))?),+ $(,)?];)+
    ) => {
        $(pub(super) static $name: $crate::gpu::KernelSpec = $crate::gpu::KernelSpec {
            shader: $shader,
            sources: &$sources,
            subgroups: $subgroups,
            entry: $entry,
            bindings: &[$($crate::gpu::Binding {
                name: stringify!($buffer),
                access: $crate::gpu::Access::$access,
                element: kernel_specs!(@element $($($element)+)?),
            }),+],
            module: &SPECS,
            params: $params::LAYOUT,
        };)+

        /// This module's kernels, for checks that walk every kernel (see [`specs`](crate::kernels::specs)).
        pub(crate) static SPECS: &[&$crate::gpu::KernelSpec] = &[$(&$name),+];
    };
    (shader: $shader:literal, sources: $sources:tt, params: $params:ident; $($kernels:tt)+) => {
        kernel_specs! { shader: $shader, sources: $sources, params: $params, subgroups: false; $($kernels)+ }
    };
    (@element) => {
        "f32"
    };
    (@element $($element:tt)+) => {
        stringify!($($element)+)
    };
}

pub mod adam;
pub mod check;
pub mod display;
pub mod elementwise;
pub mod gan;
pub mod gather;
pub mod loss;
pub mod lstm;
pub mod matmul;
pub mod minibatch_stddev;
pub mod patches;
pub mod pixel_norm;
pub mod pixel_rnn;
pub mod reduce;
pub mod reparam;
pub mod rng;
pub mod spectral_norm;
pub mod upsample;

/// WGSL sources, compiled into the binary so the page needs no extra fetches.
pub(crate) mod source {
    pub const GRID: &str = include_str!("../../shaders/grid.wgsl");
    pub const ACTIVATION: &str = include_str!("../../shaders/activation.wgsl");
    pub const MATMUL_COMMON: &str = include_str!("../../shaders/matmul_common.wgsl");
    pub const MATMUL: &str = include_str!("../../shaders/matmul.wgsl");
    pub const MATMUL_QUAD: &str = include_str!("../../shaders/matmul_quad.wgsl");
    pub const ELEMENTWISE: &str = include_str!("../../shaders/elementwise.wgsl");
    pub const WORKGROUP_SUM: &str = include_str!("../../shaders/workgroup_sum.wgsl");
    pub const REDUCE: &str = include_str!("../../shaders/reduce.wgsl");
    pub const LOSS: &str = include_str!("../../shaders/loss.wgsl");
    pub const ADAM: &str = include_str!("../../shaders/adam.wgsl");
    pub const PHILOX: &str = include_str!("../../shaders/philox.wgsl");
    pub const RNG: &str = include_str!("../../shaders/rng.wgsl");
    pub const GATHER: &str = include_str!("../../shaders/gather.wgsl");
    pub const PATCHES: &str = include_str!("../../shaders/patches.wgsl");
    pub const REPARAM: &str = include_str!("../../shaders/reparam.wgsl");
    pub const GAN: &str = include_str!("../../shaders/gan.wgsl");
    pub const MINIBATCH_STDDEV: &str = include_str!("../../shaders/minibatch_stddev.wgsl");
    pub const LSTM: &str = include_str!("../../shaders/lstm.wgsl");
    pub const PIXEL_NORM: &str = include_str!("../../shaders/pixel_norm.wgsl");
    pub const PIXEL_RNN: &str = include_str!("../../shaders/pixel_rnn.wgsl");
    pub const UPSAMPLE: &str = include_str!("../../shaders/upsample.wgsl");
    pub const SPECTRAL_NORM: &str = include_str!("../../shaders/spectral_norm.wgsl");
}

pub use elementwise::Activation;

use crate::error::{Error, Result};
use crate::gpu::{KernelSpec, Tensor};

/// Every kernel of the crate, module by module.
pub fn specs() -> impl Iterator<Item = &'static KernelSpec> {
    [
        adam::SPECS,
        elementwise::SPECS,
        gan::SPECS,
        gather::SPECS,
        loss::SPECS,
        lstm::SPECS,
        matmul::SPECS,
        matmul::quad::SPECS,
        minibatch_stddev::SPECS,
        patches::SPECS,
        pixel_norm::SPECS,
        pixel_rnn::SPECS,
        reduce::SPECS,
        reparam::SPECS,
        rng::SPECS,
        spectral_norm::SPECS,
        upsample::SPECS,
    ]
    .into_iter()
    .flatten()
    .copied()
}

/// How many whole rows (images, patches) of `row_len` values `tensor` holds, or a shape error
/// naming `op` that says what was expected.
pub(crate) fn batch_of(op: &'static str, tensor: &Tensor, row_len: usize, what: &str) -> Result<usize> {
    if tensor.is_empty() || !tensor.len().is_multiple_of(row_len) {
        return Err(Error::BadShape {
            op,
            why: format!("expected whole {what} of {row_len} values"),
            shape: tensor.shape().clone(),
        });
    }
    Ok(tensor.len() / row_len)
}

/// (B, F) of a batch of feature rows `[B, F]` with at least `min_rows` rows and a feature,
/// or a shape error naming `op` that says what was expected (`why`).
pub(crate) fn feature_rows(op: &'static str, x: &Tensor, min_rows: usize, why: &str) -> Result<(usize, usize)> {
    match *x.shape().dims() {
        [rows, features] if rows >= min_rows && features >= 1 => Ok((rows, features)),
        _ => Err(Error::BadShape { op, why: why.into(), shape: x.shape().clone() }),
    }
}

/// Nothing, or a shape error naming `op` (`why` says which must match) when `got`'s shape is
/// not `want`'s.
pub(crate) fn same_shape(op: &'static str, why: &'static str, want: &Tensor, got: &Tensor) -> Result<()> {
    if got.shape() != want.shape() {
        return Err(Error::shape(op, why, want.shape(), got.shape()));
    }
    Ok(())
}
