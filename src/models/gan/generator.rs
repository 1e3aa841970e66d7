//! The generator G: noise → image, as an MLP or with an upsampling stack (see
//! [`Generator`]), and the moving average of its weights that draws the samples.

use std::rc::Rc;

use crate::autodiff::{Tape, Var};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};
use crate::kernels::elementwise::{self, Activation};
use crate::kernels::patches::PatchGeometry;
use crate::kernels::rng::Stream;
use crate::kernels::upsample::Upsampling;
use crate::nn::{Conv2d, ConvTranspose2d, Init, Linear, Mlp, Param};

use super::{GanConfig, GanOutput, SampleShape, LEAKY_SLOPE};

/// G's output layer starts with weights this much smaller than a plain layer's: G begins
/// by drawing one image for every z rather than per-pixel noise, and its images gain only
/// the variation that D's gradient asks for.
pub const G_OUTPUT_INIT_SCALE: f32 = 0.1;

/// How an upsampling generator doubles its feature map's size (twice, from H/4 × W/4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Upsampler {
    /// A 4×4 transposed convolution with stride 2 (DCGAN's). Each output pixel's parity
    /// decides which filter taps paint it, so it tends to draw a checkerboard.
    #[default]
    Transposed,
    /// Nearest-neighbour 2× upsampling, then a 3×3 convolution: every output pixel is
    /// painted by the same taps, so no checkerboard (Odena et al. 2016).
    Resize,
}

impl std::str::FromStr for Upsampler {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Upsampler, String> {
        match s {
            "transposed" => Ok(Upsampler::Transposed),
            "resize" => Ok(Upsampler::Resize),
            _ => Err(format!("{s:?} is not an upsampler: use resize or transposed")),
        }
    }
}

impl Upsampler {
    pub fn name(self) -> &'static str {
        match self {
            Upsampler::Transposed => "transposed",
            Upsampler::Resize => "resize",
        }
    }
}

/// One doubling of an upsampling generator's feature map (see [`Upsampler`]).
pub enum Painter {
    Transposed(ConvTranspose2d),
    Resize { upsampling: Upsampling, conv: Conv2d },
}

impl Painter {
    /// A painter from `input_channels` at half of `output`'s size to `output`.
    fn new(
        gpu: &Gpu,
        name: &str,
        kind: Upsampler,
        input_channels: usize,
        output: (usize, usize, usize),
        activation: Activation,
        init: &mut Stream,
    ) -> Result<Painter> {
        let (height, width, channels) = output;
        Ok(match kind {
            Upsampler::Transposed => {
                let window = PatchGeometry { height, width, channels, kernel: 4, stride: 2, pad: 1 };
                Painter::Transposed(ConvTranspose2d::new(gpu, name, input_channels, window, activation, init)?)
            }
            Upsampler::Resize => {
                let upsampling =
                    Upsampling { height: height / 2, width: width / 2, channels: input_channels, factor: 2 };
                let window = PatchGeometry { height, width, channels: input_channels, kernel: 3, stride: 1, pad: 1 };
                Painter::Resize { upsampling, conv: Conv2d::new(gpu, name, window, channels, activation, init)? }
            }
        })
    }

    /// The weights that paint (the last painter's start small).
    pub fn weight(&self) -> &Rc<Param> {
        match self {
            Painter::Transposed(up) => &up.weight,
            Painter::Resize { conv, .. } => &conv.weight,
        }
    }

    fn params(&self) -> Vec<Rc<Param>> {
        match self {
            Painter::Transposed(up) => up.params(),
            Painter::Resize { conv, .. } => conv.params(),
        }
    }

    fn forward(&self, tape: &Tape, x: Var, weight: &dyn Fn(&Rc<Param>) -> Var) -> Result<Var> {
        match self {
            Painter::Transposed(up) => {
                tape.conv_transpose2d(x, weight(&up.weight), weight(&up.bias), up.activation, &up.geometry)
            }
            Painter::Resize { upsampling, conv } => {
                let grown = tape.upsample(x, upsampling)?;
                tape.conv2d(grown, weight(&conv.weight), Some(weight(&conv.bias)), conv.activation, &conv.geometry)
            }
        }
    }

    /// The same painter with `copy` applied to each weight.
    fn map(&self, copy: &dyn Fn(&Rc<Param>) -> Result<Rc<Param>>) -> Result<Painter> {
        Ok(match self {
            Painter::Transposed(up) => Painter::Transposed(ConvTranspose2d {
                weight: copy(&up.weight)?,
                bias: copy(&up.bias)?,
                activation: up.activation,
                geometry: up.geometry,
            }),
            Painter::Resize { upsampling, conv } => Painter::Resize {
                upsampling: *upsampling,
                conv: Conv2d {
                    weight: copy(&conv.weight)?,
                    bias: copy(&conv.bias)?,
                    activation: conv.activation,
                    geometry: conv.geometry,
                },
            },
        })
    }
}

/// The generator: noise → image.
///
/// As an MLP (`g_conv_channels` = 0): z → hidden → hidden → image, every pixel its own
/// output unit. With upsampling: z → hidden → an H/4 × W/4 × 2c feature map → two painters
/// that each double its size ([`Upsampler`]) → the image; each filter paints the same way
/// wherever it is, so neighbouring pixels are drawn together rather than each on its own.
///
/// With `pixel_norm`, each hidden layer's pre-activations are divided by their root mean
/// square before the leaky ReLU (the dense layers that make hidden vectors, not the image or
/// the feature map).
pub struct Generator {
    pub dense: Mlp,
    pub pixel_norm: bool,
    pub upsample: Vec<Painter>,
    /// Upsampling only: a value per output pixel added before the output activation (the
    /// image G starts from; the MLP's last bias plays this part).
    pub image_bias: Option<Rc<Param>>,
    pub output: Activation,
}

impl Generator {
    pub(super) fn new(
        gpu: &Gpu,
        name: &str,
        config: &GanConfig,
        shape: SampleShape,
        init: &mut Stream,
    ) -> Result<Generator> {
        let leaky = Activation::LeakyRelu(LEAKY_SLOPE);
        let (h, output) = (config.hidden, config.output.activation());
        let generator = match config.g_conv_channels {
            0 => Generator {
                dense: Mlp::new(gpu, name, &[config.z_dim, h, h, shape.len()], leaky, output, init)?,
                pixel_norm: config.g_pixel_norm,
                upsample: Vec::new(),
                image_bias: None,
                output,
            },
            c => {
                let SampleShape { height, width, channels } = shape;
                if height < 4 || width < 4 || height % 4 != 0 || width % 4 != 0 || config.output != GanOutput::Sigmoid {
                    return Err(Error::Invalid(format!(
                        "an upsampling generator makes images with sides divisible by 4; these samples are \
                         {height}×{width}×{channels}: set the generator's upsampling channels (g_conv_channels, \
                         --g-conv) to 0"
                    )));
                }
                let base = (height / 4) * (width / 4) * 2 * c;
                let dense = Mlp::new(gpu, name, &[config.z_dim, h, base], leaky, leaky, init)?;
                let kind = config.g_upsampler;
                let upsample = vec![
                    Painter::new(gpu, &format!("{name}.up.0"), kind, 2 * c, (height / 2, width / 2, c), leaky, init)?,
                    Painter::new(
                        gpu,
                        &format!("{name}.up.1"),
                        kind,
                        c,
                        (height, width, channels),
                        Activation::Identity,
                        init,
                    )?,
                ];
                let image_bias = Param::new(gpu, &format!("{name}.image_bias"), [shape.len()], Init::Zeros)?;
                Generator { dense, pixel_norm: config.g_pixel_norm, upsample, image_bias: Some(image_bias), output }
            }
        };
        // G's last layer starts small (see G_OUTPUT_INIT_SCALE).
        let last = generator.last_weight();
        let plain = Tensor::uninit(gpu, last.value.shape().clone())?;
        gpu.copy(&last.value, &plain)?;
        elementwise::axpby(gpu, G_OUTPUT_INIT_SCALE, &plain, 0.0, &last.value)?;
        Ok(generator)
    }

    fn last_weight(&self) -> &Rc<Param> {
        match self.upsample.last() {
            Some(painter) => painter.weight(),
            None => &self.dense.layers.last().expect("three layers").weight,
        }
    }

    /// What is added to every image before the output activation.
    pub(super) fn image_bias(&self) -> &Rc<Param> {
        match &self.image_bias {
            Some(bias) => bias,
            None => &self.dense.layers.last().expect("three layers").bias,
        }
    }

    pub fn params(&self) -> Vec<Rc<Param>> {
        let mut params = self.dense.params();
        params.extend(self.upsample.iter().flat_map(Painter::params));
        params.extend(self.image_bias.clone());
        params
    }

    /// G(z). `frozen` records the weights as tape constants (D's update and sampling: no
    /// gradient is written to G).
    pub fn forward(&self, tape: &Tape, z: Var, frozen: bool) -> Result<Var> {
        let weight = |param: &Rc<Param>| if frozen { tape.constant(&param.value) } else { tape.param(param) };
        let hidden = self.dense.layers.len() - 1;
        let features = self.dense.layers.iter().enumerate().try_fold(z, |h, (i, layer)| {
            let (w, b) = (weight(&layer.weight), Some(weight(&layer.bias)));
            if self.pixel_norm && i < hidden {
                let normalised = tape.pixel_norm(tape.linear(h, w, b, Activation::Identity)?)?;
                tape.activation(normalised, layer.activation)
            } else {
                tape.linear(h, w, b, layer.activation)
            }
        })?;
        if self.upsample.is_empty() {
            return Ok(features);
        }
        let painted = self.upsample.iter().try_fold(features, |h, painter| painter.forward(tape, h, &weight))?;
        tape.bias_act(painted, weight(self.image_bias()), self.output)
    }

    /// A copy of every weight, named `{name}.*` in place of this generator's own prefix: to
    /// hold the moving average.
    pub(super) fn copy_as(&self, gpu: &Gpu, name: &str) -> Result<Generator> {
        let copy = |param: &Rc<Param>| -> Result<Rc<Param>> {
            let value = Tensor::uninit(gpu, param.value.shape().clone())?;
            gpu.copy(&param.value, &value)?;
            let suffix = param.name.split_once('.').map_or("", |(_, rest)| rest);
            Param::from_tensor(gpu, &format!("{name}.{suffix}"), value)
        };
        let dense = Mlp {
            layers: self
                .dense
                .layers
                .iter()
                .map(|l| Ok(Linear { weight: copy(&l.weight)?, bias: copy(&l.bias)?, activation: l.activation }))
                .collect::<Result<_>>()?,
        };
        let upsample = self.upsample.iter().map(|painter| painter.map(&copy)).collect::<Result<_>>()?;
        let image_bias = self.image_bias.as_ref().map(copy).transpose()?;
        Ok(Generator { dense, pixel_norm: self.pixel_norm, upsample, image_bias, output: self.output })
    }
}
