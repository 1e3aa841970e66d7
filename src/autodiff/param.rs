//! Trainable parameters: the leaves of the tape whose gradients an optimiser consumes.

use std::cell::Cell;
use std::rc::Rc;

use crate::error::Result;
use crate::gpu::{Gpu, Shape, Tensor};
use crate::kernels::rng::{self, Stream};

/// A trainable tensor with its gradient and Adam's two moment estimates, all on the GPU.
pub struct Param {
    pub name: String,
    pub value: Tensor,
    pub grad: Tensor,
    pub(crate) m: Tensor,
    pub(crate) v: Tensor,
    /// Set when a backward pass wrote `grad`; the optimiser skips parameters whose
    /// gradient is left over from an earlier step.
    grad_fresh: Cell<bool>,
}

/// How a parameter starts.
#[derive(Clone, Copy, Debug)]
pub enum Init {
    Zeros,
    /// N(0, std²) from the given stream.
    Normal {
        std: f32,
        stream: Stream,
    },
}

impl Param {
    pub fn new(gpu: &Gpu, name: &str, shape: impl Into<Shape>, init: Init) -> Result<Rc<Param>> {
        let shape = shape.into();
        let value = match init {
            Init::Zeros => Tensor::zeros(gpu, shape.clone())?,
            Init::Normal { std, stream } => rng::normal(gpu, stream, shape.clone(), 0.0, std)?,
        };
        Param::from_tensor(gpu, name, value)
    }

    /// A parameter holding `value` (e.g. loaded weights).
    pub fn from_tensor(gpu: &Gpu, name: &str, value: Tensor) -> Result<Rc<Param>> {
        let shape = value.shape().clone();
        Ok(Rc::new(Param {
            name: name.to_string(),
            grad: Tensor::zeros(gpu, shape.clone())?,
            m: Tensor::zeros(gpu, shape.clone())?,
            v: Tensor::zeros(gpu, shape)?,
            value,
            grad_fresh: Cell::new(false),
        }))
    }

    pub(crate) fn mark_grad_fresh(&self) {
        self.grad_fresh.set(true);
    }

    /// Whether a backward pass wrote `grad` since the last call.
    pub(crate) fn take_grad_fresh(&self) -> bool {
        self.grad_fresh.replace(false)
    }

    pub fn numel(&self) -> usize {
        self.value.len()
    }

    /// What training changes in this parameter, by name: its value (under the parameter's
    /// own name, as weights files have it) and Adam's two moments.
    pub fn state(&self) -> [(String, Tensor); 3] {
        [
            (self.name.clone(), self.value.clone()),
            (format!("{}#adam.m", self.name), self.m.clone()),
            (format!("{}#adam.v", self.name), self.v.clone()),
        ]
    }
}
