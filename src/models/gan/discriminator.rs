//! The GAN's discriminator: its layers in order (a convolution first, if any), spectrally
//! normalised or not, judging samples on a tape or on their own.

use std::rc::Rc;

use super::{Gan, SampleShape};
use crate::autodiff::{Tape, Var};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};
use crate::kernels::elementwise::{self, Activation};
use crate::kernels::patches::PatchGeometry;
use crate::nn::{Conv2d, Mlp, Param};

/// D's (weight, bias) pairs in layer order: the convolution first, if any, then the dense
/// layers. Spectral normalisation keeps one power iteration per pair, in this order.
pub(super) fn discriminator_layers<'a>(
    conv: Option<&'a Conv2d>,
    dense: &'a Mlp,
) -> impl Iterator<Item = (&'a Rc<Param>, &'a Rc<Param>)> {
    let conv = conv.map(|conv| (&conv.weight, &conv.bias));
    conv.into_iter().chain(dense.layers.iter().map(|layer| (&layer.weight, &layer.bias)))
}

/// The window of the discriminator's convolution: 4×4, stride 2, one pixel of padding
/// (DCGAN's), so a 16×16 sprite gives an 8×8 map.
pub(super) fn discriminator_window(shape: SampleShape) -> PatchGeometry {
    PatchGeometry { height: shape.height, width: shape.width, channels: shape.channels, kernel: 4, stride: 2, pad: 1 }
}

impl Gan {
    pub fn discriminator_params(&self) -> Vec<Rc<Param>> {
        let mut params = self.discriminator_conv.as_ref().map(Conv2d::params).unwrap_or_default();
        params.extend(self.discriminator.params());
        params
    }

    /// D's (weight, bias) pairs on `tape`, in layer order (the convolution first, if any);
    /// with `d_spectral_norm`, each weight divided by its largest singular value. `frozen`
    /// records them as tape constants (G's update: gradients flow through D to the fakes,
    /// none is written to D). Record them once per tape and judge every batch with them:
    /// each normalisation moves its power iteration a step.
    pub(super) fn discriminator_weights(&self, tape: &Tape, frozen: bool) -> Result<Vec<(Var, Var)>> {
        let record = |param: &Rc<Param>| if frozen { tape.constant(&param.value) } else { tape.param(param) };
        discriminator_layers(self.discriminator_conv.as_ref(), &self.discriminator)
            .enumerate()
            .map(|(i, (weight, bias))| {
                let weight = match self.discriminator_norms.get(i) {
                    Some(state) => tape.spectral_norm(record(weight), state)?,
                    None => record(weight),
                };
                Ok((weight, record(bias)))
            })
            .collect()
    }

    /// D's logits for the samples in `x`, with `weights` from [`Gan::discriminator_weights`].
    pub(super) fn discriminator_logits(&self, tape: &Tape, x: Var, weights: &[(Var, Var)]) -> Result<Var> {
        let (conv_weights, dense_weights) = weights.split_at(usize::from(self.discriminator_conv.is_some()));
        let features = match (&self.discriminator_conv, conv_weights) {
            (Some(conv), &[(w, b)]) => tape.conv2d(x, w, Some(b), conv.activation, &conv.geometry)?,
            _ => x,
        };
        let layers = self.discriminator.layers.iter().zip(dense_weights);
        layers.enumerate().try_fold(features, |h, (i, (layer, &(w, b)))| {
            let h = if i == 1 && self.config.d_minibatch_stddev { tape.minibatch_stddev(h)? } else { h };
            tape.linear(h, w, Some(b), layer.activation)
        })
    }

    /// D's probability that each row of `x [n, data_len]` is real: `[n, 1]` on the GPU. With
    /// `d_minibatch_stddev`, D judges the rows as one batch (n ≥ 2), its spread included.
    /// With `d_spectral_norm`, each call moves the power iterations a step, as training does
    /// (their estimates of σ only get closer).
    pub fn discriminate(&self, gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
        if x.shape().as_matrix().1 != self.data_len {
            return Err(Error::BadShape {
                op: "discriminate",
                why: format!("samples must have {} values", self.data_len),
                shape: x.shape().clone(),
            });
        }
        let tape = Tape::new(gpu);
        let input = tape.constant(x);
        let weights = self.discriminator_weights(&tape, true)?;
        let logits = tape.value(self.discriminator_logits(&tape, input, &weights)?);
        elementwise::bias_act(gpu, &logits, None, Activation::Sigmoid)
    }

    /// Each power iteration's `u`, named after its weight (`….weight_u`): state that is not a
    /// parameter, kept in weights files and snapshots alike.
    pub(super) fn power_iteration_vectors(&self) -> impl Iterator<Item = (String, Tensor)> + '_ {
        let layers = discriminator_layers(self.discriminator_conv.as_ref(), &self.discriminator);
        layers.zip(&self.discriminator_norms).map(|((w, _), norm)| (format!("{}_u", w.name), norm.u.clone()))
    }
}
