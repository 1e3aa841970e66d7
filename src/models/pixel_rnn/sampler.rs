//! Painting with a trained PixelRNN, one pixel at a time on the GPU: new sprites from
//! nothing, or completions of covered sprites (known pixels fed in, covered ones sampled).

use std::collections::VecDeque;

use super::PixelRnn;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Readback, Tensor};
use crate::kernels::loss;
use crate::kernels::lstm;
use crate::kernels::matmul::{self, Epilogue, Transpose};
use crate::kernels::pixel_rnn::{self as kernels, InputLayout};
use crate::kernels::rng::Stream;

impl PixelRnn {
    /// A sampler for `count` new sprites, every pixel painted by the model.
    pub fn sampler(&self, gpu: &Gpu, count: usize, temperature: f32, stream: Stream) -> Result<Sampler> {
        let seq = self.seq_len();
        Sampler::new(gpu, self, &vec![0; count * seq], &vec![true; count * seq], temperature, stream)
    }

    /// A sampler that completes `sprites` (palette indices `[n, T]`), `copies` times each
    /// (rows ordered sprite by sprite: row = sprite·copies + copy): pixels where `paint` is
    /// true are painted by the model, the others kept. `paint` is one mask of T pixels for
    /// all sprites, or one per sprite (`[n, T]`).
    pub fn completer(
        &self,
        gpu: &Gpu,
        sprites: &[u8],
        paint: &[bool],
        copies: usize,
        temperature: f32,
        stream: Stream,
    ) -> Result<Sampler> {
        let seq = self.seq_len();
        if sprites.is_empty() || !sprites.len().is_multiple_of(seq) || copies == 0 {
            return Err(Error::Invalid(format!(
                "completion needs whole {}×{} sprites ({} indices given) and at least one copy",
                self.height,
                self.width,
                sprites.len()
            )));
        }
        let n = sprites.len() / seq;
        if paint.len() != seq && paint.len() != n * seq {
            return Err(Error::Invalid(format!(
                "a completion mask has {} entries: give one per pixel ({seq}) or per pixel of every sprite ({})",
                paint.len(),
                n * seq
            )));
        }
        let mut known = Vec::with_capacity(n * copies * seq);
        let mut mask = Vec::with_capacity(n * copies * seq);
        for (s, sprite) in sprites.chunks(seq).enumerate() {
            let sprite_mask = if paint.len() == seq { paint } else { &paint[s * seq..(s + 1) * seq] };
            for _ in 0..copies {
                known.extend(sprite.iter().map(|&c| c as u32));
                mask.extend_from_slice(sprite_mask);
            }
        }
        Sampler::new(gpu, self, &known, &mask, temperature, stream)
    }
}

/// Which pixels a completion paints (the rest are shown to the model).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskKind {
    BottomHalf,
    BottomThreeQuarters,
    RightHalf,
}

impl MaskKind {
    pub const ALL: [MaskKind; 3] = [MaskKind::BottomHalf, MaskKind::BottomThreeQuarters, MaskKind::RightHalf];

    pub fn name(self) -> &'static str {
        match self {
            MaskKind::BottomHalf => "bottom-half",
            MaskKind::BottomThreeQuarters => "bottom-three-quarters",
            MaskKind::RightHalf => "right-half",
        }
    }

    /// `[height·width]`, true where the model paints.
    pub fn mask(self, height: usize, width: usize) -> Vec<bool> {
        (0..height * width)
            .map(|i| {
                let (row, col) = (i / width, i % width);
                match self {
                    MaskKind::BottomHalf => row >= height / 2,
                    MaskKind::BottomThreeQuarters => row >= height / 4,
                    MaskKind::RightHalf => col >= width / 2,
                }
            })
            .collect()
    }
}

impl std::str::FromStr for MaskKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<MaskKind> {
        MaskKind::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            Error::Invalid(format!("unknown mask {s:?}: use bottom-half, bottom-three-quarters or right-half"))
        })
    }
}

/// One layer's weights as the sampler reads them (the model's own buffers: a sampler made
/// while training goes on sees the weights as they are when each step runs).
struct LayerWeights {
    w_x: Tensor,
    w_h: Tensor,
    bias: Tensor,
}

/// Paints B sequences pixel by pixel on the GPU, a few pixels per call, never waiting.
///
/// [`Sampler::advance`] records the next n pixels — for each: the input projection and the
/// cell of every layer (2 launches each; layer 1 projects the previous pixel's token straight
/// from the output sequence), the output layer (1) and the sampling kernel (1), which writes
/// the colour into the output sequence — then schedules a readback of the tokens so far and
/// submits once. Stretches where every sequence's pixels are known (the top half, for a
/// bottom-half completion) are fed in as one teacher-forced sequence instead: one
/// projection per layer for the whole stretch, one launch per step, no output layer.
/// [`Sampler::latest`] hands back the newest tokens that have arrived, so a page can paint
/// pixels as they come.
pub struct Sampler {
    layout: InputLayout,
    hidden: usize,
    batch: usize,
    layers: Vec<LayerWeights>,
    w_o: Tensor,
    b_o: Tensor,
    known: Tensor,
    mask: Tensor,
    /// `[B, T]` u32: known pixels from the start, painted pixels as they are drawn,
    /// [`UNPAINTED`] elsewhere.
    out: Tensor,
    /// Per step, whether every sequence knows the pixel.
    all_known: Vec<bool>,
    /// Each layer's (h, c) `[B, H]` after the last step (None before the first).
    state: Vec<Option<(Tensor, Tensor)>>,
    position: usize,
    temperature: f32,
    stream: Stream,
    pending: VecDeque<(usize, Readback)>,
    latest: Option<(usize, Vec<u32>)>,
}

/// What the tokens of a sampler hold at pixels not painted yet.
pub const UNPAINTED: u32 = u32::MAX;

impl Sampler {
    /// B = `known.len() / T` sequences: `known` `[B, T]` palette indices (ignored where
    /// painted), `paint` `[B, T]` (true: the model paints the pixel). Pixel t of sequence b
    /// uses uniform number t·B + b of `stream`.
    pub fn new(
        gpu: &Gpu,
        model: &PixelRnn,
        known: &[u32],
        paint: &[bool],
        temperature: f32,
        stream: Stream,
    ) -> Result<Sampler> {
        let layout = model.layout();
        let seq = layout.seq_len();
        if known.is_empty() || !known.len().is_multiple_of(seq) || paint.len() != known.len() {
            return Err(Error::Invalid(format!(
                "sampling needs whole sequences of {seq} pixels: {} known pixels and {} mask entries given",
                known.len(),
                paint.len()
            )));
        }
        if !(temperature.is_finite() && temperature >= 0.0) {
            return Err(Error::Invalid(format!(
                "sampling temperature {temperature} must be a number ≥ 0 (1 = the model's own distribution)"
            )));
        }
        let batch = known.len() / seq;
        let shown: Vec<u32> = known.iter().zip(paint).filter(|(_, p)| !**p).map(|(&k, _)| k).collect();
        loss::check_classes(&shown, layout.classes)?;
        let out: Vec<u32> = known.iter().zip(paint).map(|(&k, &p)| if p { UNPAINTED } else { k }).collect();
        let mask: Vec<u32> = paint.iter().map(|&p| p as u32).collect();
        let all_known = (0..seq).map(|t| (0..batch).all(|b| !paint[b * seq + t])).collect();
        Ok(Sampler {
            layout,
            hidden: model.config.hidden,
            batch,
            layers: model
                .layers
                .iter()
                .map(|l| LayerWeights {
                    w_x: l.w_x.value.clone(),
                    w_h: l.w_h.value.clone(),
                    bias: l.bias.value.clone(),
                })
                .collect(),
            w_o: model.output.weight.value.clone(),
            b_o: model.output.bias.value.clone(),
            known: Tensor::from_slice(gpu, [batch, seq], known)?,
            mask: Tensor::from_slice(gpu, [batch, seq], &mask)?,
            out: Tensor::from_slice(gpu, [batch, seq], &out)?,
            all_known,
            state: vec![None; model.layers.len()],
            position: 0,
            temperature,
            stream,
            pending: VecDeque::new(),
            latest: None,
        })
    }

    /// Sequences painted side by side.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Pixels of every sequence recorded so far (submitted, not necessarily finished).
    pub fn position(&self) -> usize {
        self.position
    }

    pub fn is_done(&self) -> bool {
        self.position == self.layout.seq_len()
    }

    /// Records the next `pixels` pixels of every sequence (fewer at the end), schedules a
    /// readback of the tokens, and submits once. Returns the pixels recorded.
    pub fn advance(&mut self, gpu: &Gpu, pixels: usize) -> Result<usize> {
        let (start, end) = (self.position, (self.position + pixels).min(self.layout.seq_len()));
        while self.position < end {
            let run = self.all_known[self.position..end].iter().take_while(|&&k| k).count();
            if run > 0 {
                self.teacher_force(gpu, run)?;
            } else {
                self.paint_pixel(gpu)?;
            }
        }
        if end > start {
            self.pending.push_back((end, gpu.read_later(&self.out)));
        }
        gpu.submit();
        Ok(end - start)
    }

    /// The newest tokens the GPU has delivered, without waiting: (pixels painted, tokens
    /// `[B, T]`, [`UNPAINTED`] where nothing is painted yet).
    pub fn latest(&mut self) -> Result<Option<(usize, &[u32])>> {
        while let Some((position, readback)) = self.pending.front_mut() {
            let position = *position;
            match readback.try_take() {
                None => break,
                Some(values) => {
                    self.pending.pop_front();
                    self.latest = Some((position, values?.into_iter().map(f32::to_bits).collect()));
                }
            }
        }
        Ok(self.latest.as_ref().map(|(p, tokens)| (*p, tokens.as_slice())))
    }

    /// Paints every remaining pixel and returns all tokens `[B, T]`.
    pub async fn finish(mut self, gpu: &Gpu) -> Result<Vec<u32>> {
        let remaining = self.layout.seq_len() - self.position;
        self.advance(gpu, remaining)?;
        match self.pending.pop_back() {
            Some((_, readback)) => readback.wait_u32().await,
            None => Ok(gpu.read(&self.out).await?.into_iter().map(f32::to_bits).collect()),
        }
    }

    fn previous_state(&self, layer: usize) -> (Option<Tensor>, Option<Tensor>) {
        match &self.state[layer] {
            Some((h, c)) => (Some(h.clone()), Some(c.clone())),
            None => (None, None),
        }
    }

    /// Layer `l`'s gate pre-activations from its input for steps start .. start + steps:
    /// the tokens of the output sequence for layer 1, `below` (the h of layer l − 1) above.
    fn project(&self, gpu: &Gpu, l: usize, below: &Tensor, start: usize, steps: usize) -> Result<Tensor> {
        let w = &self.layers[l];
        if l == 0 {
            Ok(kernels::project_tokens(gpu, &self.out, &w.w_x, &w.bias, self.layout, start, steps)?.0)
        } else {
            lstm::project_inputs(gpu, below, &w.w_x, &w.bias)
        }
    }

    /// Steps position .. position + m, every pixel of which is known (or already painted):
    /// the recurrence over the stretch as one teacher-forced sequence.
    fn teacher_force(&mut self, gpu: &Gpu, m: usize) -> Result<()> {
        let plane = self.batch * self.hidden;
        let mut below = self.out.clone();
        for l in 0..self.layers.len() {
            let x_proj = self.project(gpu, l, &below, self.position, m)?;
            let (h0, c0) = self.previous_state(l);
            let states = lstm::lstm_forward(gpu, &x_proj, &self.layers[l].w_h, h0.as_ref(), c0.as_ref())?;
            let h = Tensor::uninit(gpu, [self.batch, self.hidden])?;
            let c = Tensor::uninit(gpu, [self.batch, self.hidden])?;
            gpu.copy_region(&states.h, (m - 1) * plane, &h, 0, plane)?;
            gpu.copy_region(&states.c, (m - 1) * plane, &c, 0, plane)?;
            self.state[l] = Some((h, c));
            below = states.h;
        }
        self.position += m;
        Ok(())
    }

    /// One step: the cells, the logits, and the sampling kernel.
    fn paint_pixel(&mut self, gpu: &Gpu) -> Result<()> {
        let t = self.position;
        let mut below = self.out.clone();
        for l in 0..self.layers.len() {
            let x_proj = self.project(gpu, l, &below, t, 1)?;
            let (h0, c0) = self.previous_state(l);
            let states = lstm::lstm_forward(gpu, &x_proj, &self.layers[l].w_h, h0.as_ref(), c0.as_ref())?;
            let state_shape = [self.batch, self.hidden];
            self.state[l] = Some((states.h.reshape(state_shape)?, states.c.reshape(state_shape)?));
            below = states.h;
        }
        let h = below.reshape([self.batch, self.hidden])?;
        let bias = Epilogue { bias: Some(&self.b_o), ..Epilogue::default() };
        let logits = matmul::matmul(gpu, &h, &self.w_o, Transpose::NONE, bias)?;
        kernels::sample_step(
            gpu,
            self.layout,
            t,
            &logits,
            &self.known,
            &self.mask,
            &self.out,
            self.temperature,
            self.stream,
        )?;
        self.position += 1;
        Ok(())
    }
}
