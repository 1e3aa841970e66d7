//! genlab: PixelRNN, VAE and GAN trained live on the GPU with hand-written WGSL kernels.
//!
//! Layers, bottom up: [`gpu`] (device, tensors, one submission per step), [`kernels`]
//! (one module per shader, each with a CPU twin), [`autodiff`] (the tape), [`nn`] (layers and
//! the optimiser), [`selftest`] (kernel checks shared by the tests, the CLI and the page).

/// `fn $get(&self) -> &$ty` and `fn $get_mut(&mut self) -> &mut $ty` of the field `$get`:
/// what a trait asks of a type that keeps the thing in a field of that name (a model's
/// monitor, a lab's core).
#[macro_export]
macro_rules! field_accessors {
    ($get:ident, $get_mut:ident: $ty:ty) => {
        fn $get(&self) -> &$ty {
            &self.$get
        }

        fn $get_mut(&mut self) -> &mut $ty {
            &mut self.$get
        }
    };
}

pub mod autodiff;
pub mod bench;
pub mod clock;
pub mod data;
pub mod error;
pub mod gpu;
pub mod io;
pub mod kernels;
pub mod link;
pub mod models;
pub mod nn;
pub mod selftest;
pub mod settings;
pub mod shape;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
pub use gpu::{Gpu, Shape, Tensor};
