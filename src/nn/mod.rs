//! Layers built on the tape: dense and convolution layers, MLPs, and the Adam optimiser.
//! Their parameters are the tape's own [`Param`]s, re-exported here.

pub mod checkpoint;
pub mod snapshot;

use std::rc::Rc;

pub use crate::autodiff::{Init, Param};
use crate::autodiff::{Tape, Var};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::adam::{self, AdamConfig};
use crate::kernels::patches::PatchGeometry;
use crate::kernels::rng::Stream;
use crate::kernels::Activation;

/// `y = act(x·W + b)` with W of shape [inputs, outputs].
pub struct Linear {
    pub weight: Rc<Param>,
    pub bias: Rc<Param>,
    pub activation: Activation,
}

impl Linear {
    /// He-style initialisation (std = gain / sqrt(inputs)), zero bias.
    pub fn new(
        gpu: &Gpu,
        name: &str,
        inputs: usize,
        outputs: usize,
        activation: Activation,
        stream: &mut Stream,
    ) -> Result<Linear> {
        let gain = match activation {
            Activation::Relu | Activation::LeakyRelu(_) => 2f32.sqrt(),
            _ => 1.0,
        };
        let std = gain / (inputs as f32).sqrt();
        Ok(Linear {
            weight: Param::new(
                gpu,
                &format!("{name}.weight"),
                [inputs, outputs],
                Init::Normal { std, stream: stream.take(inputs * outputs) },
            )?,
            bias: Param::new(gpu, &format!("{name}.bias"), [outputs], Init::Zeros)?,
            activation,
        })
    }

    pub fn forward(&self, tape: &Tape, x: Var) -> Result<Var> {
        let w = tape.param(&self.weight);
        let b = tape.param(&self.bias);
        tape.linear(x, w, Some(b), self.activation)
    }

    pub fn params(&self) -> Vec<Rc<Param>> {
        vec![self.weight.clone(), self.bias.clone()]
    }
}

/// A convolution `y = act(conv(x, W) + b)` over NHWC images, W of shape
/// [K·K·C_in, C_out] (see [`Tape::conv2d`]): the same small filters applied at every window
/// position, which a dense layer cannot share.
pub struct Conv2d {
    pub weight: Rc<Param>,
    pub bias: Rc<Param>,
    pub activation: Activation,
    pub geometry: PatchGeometry,
}

impl Conv2d {
    /// He-style initialisation over the window (std = gain / sqrt(K·K·C_in)), zero bias.
    pub fn new(
        gpu: &Gpu,
        name: &str,
        geometry: PatchGeometry,
        out_channels: usize,
        activation: Activation,
        stream: &mut Stream,
    ) -> Result<Conv2d> {
        geometry.validate()?;
        if out_channels == 0 {
            return Err(Error::Invalid(format!("{name}: a convolution needs at least one output channel")));
        }
        // Its weights have a linear layer's shape and start the same way.
        let Linear { weight, bias, activation } =
            Linear::new(gpu, name, geometry.patch_len(), out_channels, activation, stream)?;
        Ok(Conv2d { weight, bias, activation, geometry })
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.bias.numel()
    }

    /// Values per output image: OH · OW · C_out.
    pub fn output_len(&self) -> usize {
        self.geometry.positions() * self.out_channels()
    }

    pub fn forward(&self, tape: &Tape, x: Var) -> Result<Var> {
        let w = tape.param(&self.weight);
        let b = tape.param(&self.bias);
        tape.conv2d(x, w, Some(b), self.activation, &self.geometry)
    }

    pub fn params(&self) -> Vec<Rc<Param>> {
        vec![self.weight.clone(), self.bias.clone()]
    }
}

/// A transposed convolution layer ([`Tape::conv_transpose2d`]): each input pixel paints a
/// K×K window of `geometry.channels` output channels onto the larger output image that
/// `geometry` describes; weights `[C_in, K·K·C_out]`, bias `[C_out]`.
pub struct ConvTranspose2d {
    pub weight: Rc<Param>,
    pub bias: Rc<Param>,
    pub activation: Activation,
    pub geometry: PatchGeometry,
}

impl ConvTranspose2d {
    /// He-style initialisation over what reaches one output pixel: C_in channels of about
    /// (K / stride)² input pixels; zero bias.
    pub fn new(
        gpu: &Gpu,
        name: &str,
        in_channels: usize,
        geometry: PatchGeometry,
        activation: Activation,
        stream: &mut Stream,
    ) -> Result<ConvTranspose2d> {
        geometry.validate()?;
        if in_channels == 0 {
            return Err(Error::Invalid(format!("{name}: a transposed convolution needs at least one input channel")));
        }
        let gain = match activation {
            Activation::Relu | Activation::LeakyRelu(_) => 2f32.sqrt(),
            _ => 1.0,
        };
        let overlap = (geometry.kernel as f32 / geometry.stride as f32).max(1.0).powi(2);
        let std = gain / (in_channels as f32 * overlap).sqrt();
        let window = geometry.patch_len();
        Ok(ConvTranspose2d {
            weight: Param::new(
                gpu,
                &format!("{name}.weight"),
                [in_channels, window],
                Init::Normal { std, stream: stream.take(in_channels * window) },
            )?,
            bias: Param::new(gpu, &format!("{name}.bias"), [geometry.channels], Init::Zeros)?,
            activation,
            geometry,
        })
    }

    /// Values per input image: OH · OW · C_in (OH × OW = the window positions).
    pub fn input_len(&self) -> usize {
        self.geometry.positions() * self.weight.value.shape().as_matrix().0
    }

    /// Values per output image: H · W · C_out.
    pub fn output_len(&self) -> usize {
        self.geometry.image_len()
    }

    pub fn forward(&self, tape: &Tape, x: Var) -> Result<Var> {
        let w = tape.param(&self.weight);
        let b = tape.param(&self.bias);
        tape.conv_transpose2d(x, w, b, self.activation, &self.geometry)
    }

    pub fn params(&self) -> Vec<Rc<Param>> {
        vec![self.weight.clone(), self.bias.clone()]
    }
}

/// A stack of dense layers: `sizes` = [inputs, hidden…, outputs]; `hidden` activation
/// between layers and `output` activation at the end.
pub struct Mlp {
    pub layers: Vec<Linear>,
}

impl Mlp {
    pub fn new(
        gpu: &Gpu,
        name: &str,
        sizes: &[usize],
        hidden: Activation,
        output: Activation,
        stream: &mut Stream,
    ) -> Result<Mlp> {
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(Error::Invalid(format!(
                "{name}: layer sizes {sizes:?} need at least an input and an output size, all ≥ 1"
            )));
        }
        let last = sizes.len() - 2;
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, pair)| {
                let act = if i == last { output } else { hidden };
                Linear::new(gpu, &format!("{name}.{i}"), pair[0], pair[1], act, stream)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Mlp { layers })
    }

    pub fn forward(&self, tape: &Tape, x: Var) -> Result<Var> {
        self.layers.iter().try_fold(x, |h, layer| layer.forward(tape, h))
    }

    pub fn params(&self) -> Vec<Rc<Param>> {
        self.layers.iter().flat_map(Linear::params).collect()
    }
}

/// Adam over a set of parameters; the step count lives here, on the host, and reaches the
/// GPU inside each launch's parameters.
pub struct Adam {
    pub config: AdamConfig,
    step: u32,
}

impl Adam {
    pub fn new(config: AdamConfig) -> Result<Adam> {
        config.validate()?;
        Ok(Adam { config, step: 0 })
    }

    pub fn steps_taken(&self) -> u32 {
        self.step
    }

    /// Takes steps of `lr` from now on (moments and step count are kept).
    pub fn set_learning_rate(&mut self, lr: f32) -> Result<()> {
        AdamConfig { lr, ..self.config }.validate()?;
        self.config.lr = lr;
        Ok(())
    }

    /// Carries on from a snapshot taken after `steps` updates (the step count sets Adam's
    /// bias correction).
    pub fn resume_at(&mut self, steps: u32) {
        self.step = steps;
    }

    /// Records one update of every parameter whose gradient the last backward pass wrote.
    pub fn step(&mut self, gpu: &Gpu, params: &[Rc<Param>]) -> Result<()> {
        self.step += 1;
        for param in params {
            if param.take_grad_fresh() {
                adam::adam_step(gpu, &self.config, self.step, &param.grad, &param.value, &param.m, &param.v)?;
            }
        }
        Ok(())
    }
}
