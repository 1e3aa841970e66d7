//! The PixelRNN's own small kernels (see pixel_rnn.wgsl): input rows from palette tokens, the
//! first layer's input projection `X·W_x + b` and its weight gradient `Xᵀ·dgates` computed
//! from the tokens (X is one-hot: each is a sum of rows, not a matmul), and one step of
//! sampling with teacher-forced known pixels. Each has a CPU twin below.
//!
//! Token tensors hold u32 palette indices, batch-major `[B, T]` with T = height·width in
//! raster order (as `data::device::DeviceDataset` gathers them); the network's
//! sequences are time-major `[T, B, ·]` (as [`crate::kernels::lstm`] reads them).

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Gpu, Tensor};
use crate::kernels::rng::Stream;
use crate::kernels::source;

kernel_specs! {
    shader: "pixel_rnn.wgsl", sources: [source::GRID, source::PHILOX, source::PIXEL_RNN], params: Params;
    BUILD_INPUTS = "build_inputs" [bi_tokens: Read(u32), bi_x: ReadWrite, bi_targets: ReadWrite(u32)];
    PROJECT_TOKENS = "project_tokens" [
        pt_tokens: Read(u32),       // [B, T]
        pt_w: Read,                 // W_x [F, 4H]
        pt_bias: Read,              // [4H]
        pt_out: ReadWrite,          // [steps, B, 4H]
        pt_targets: ReadWrite(u32), // [steps·B]
    ];
    ONEHOT_GRAD = "onehot_grad" [
        og_tokens: Read(u32),   // [B, T]
        og_dgates: Read,        // [T, B, 4H]
        og_partials: ReadWrite, // [slices, F, 4H]
    ];
    SAMPLE_STEP = "sample_step" [
        ss_logits: Read,        // [B, K]
        ss_known: Read(u32),    // [B, T]
        ss_mask: Read(u32),     // [B, T], 1 = paint
        ss_out: ReadWrite(u32), // [B, T]
    ];
}

/// The most input columns a layout may have (MAX_FEATURES in pixel_rnn.wgsl: the size of
/// onehot_grad's per-thread accumulator).
pub const MAX_FEATURES: usize = 352;

/// Time steps per slice of [`onehot_weight_grad_into`]: one thread sums this many steps of
/// one column, and the slices are added up afterwards.
const SLICE_STEPS: usize = 16;

kernel_params! {
    #[derive(Default)]
    struct Params {
        /// B sequences
        batch: u32,
        /// build_inputs: how many time steps to build
        steps: u32,
        /// build_inputs: the first step built; sample_step: the step t sampled
        start: u32,
        /// T = height · width, tokens per image
        seq: u32,
        width: u32,
        height: u32,
        /// K palette colours
        classes: u32,
        /// F columns of an input row
        features: u32,
        flags: u32,
        /// sample_step: 0 = the most likely colour
        temperature: f32,
        /// sample_step: the Philox stream of the uniforms
        seed_lo: u32,
        seed_hi: u32,
        offset_lo: u32,
        offset_hi: u32,
        /// 4H, the columns of W_x
        gates: u32,
    }

    /// Flag: rows carry the pixel's row and column one-hot.
    const POSITIONS: u32 = 1;
}

/// What one input row holds: the previous pixel's colour one-hot over K colours plus the
/// start token (K + 1 columns), then optionally the predicted pixel's row and column
/// one-hot (H + W columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputLayout {
    pub height: usize,
    pub width: usize,
    /// K, the palette size.
    pub classes: usize,
    pub positions: bool,
}

impl InputLayout {
    /// T = height·width: pixels per image, steps per sequence.
    pub fn seq_len(&self) -> usize {
        self.height * self.width
    }

    /// F, the columns of an input row.
    pub fn features(&self) -> usize {
        self.classes + 1 + if self.positions { self.height + self.width } else { 0 }
    }

    /// The start token: the "previous colour" of pixel 0.
    pub fn start_token(&self) -> u32 {
        self.classes as u32
    }

    pub fn validate(&self) -> Result<()> {
        if self.height == 0 || self.width == 0 || self.classes == 0 {
            return Err(Error::Invalid(format!(
                "PixelRNN inputs of {}×{} pixels over {} colours: all three must be at least 1",
                self.height, self.width, self.classes
            )));
        }
        if self.classes > 256 {
            return Err(Error::Invalid(format!("{} palette colours: at most 256", self.classes)));
        }
        if self.features() > MAX_FEATURES {
            return Err(Error::Invalid(format!(
                "{}×{} images over {} colours need {} input columns, more than the {MAX_FEATURES} the \
                 PixelRNN's kernels hold: use smaller images (or turn the position inputs off)",
                self.height,
                self.width,
                self.classes,
                self.features()
            )));
        }
        Ok(())
    }

    fn params(&self, batch: usize, start: usize, steps: usize) -> Params {
        Params {
            batch: batch as u32,
            steps: steps as u32,
            start: start as u32,
            seq: self.seq_len() as u32,
            width: self.width as u32,
            height: self.height as u32,
            classes: self.classes as u32,
            features: self.features() as u32,
            flags: if self.positions { POSITIONS } else { 0 },
            ..Params::default()
        }
    }

    /// B of a `[B, T]` token tensor, which must hold whole sequences (of a valid layout).
    fn batch_of(&self, op: &'static str, tokens: &Tensor) -> Result<usize> {
        self.validate()?;
        let (batch, seq) = tokens.shape().as_matrix();
        if seq != self.seq_len() {
            return Err(Error::BadShape {
                op,
                why: format!(
                    "tokens must be [B, {}] (one {}×{} image per row)",
                    self.seq_len(),
                    self.height,
                    self.width
                ),
                shape: tokens.shape().clone(),
            });
        }
        Ok(batch)
    }
}

/// The network's inputs for steps `start .. start + steps` of every sequence in `tokens`
/// (`[B, T]` u32): `x` `[steps, B, F]` and the targets `[steps·B]` (u32, the colour each row
/// must predict). Only pixels `start − 1 .. start + steps` are read. One launch.
pub fn build_inputs(
    gpu: &Gpu,
    tokens: &Tensor,
    layout: InputLayout,
    start: usize,
    steps: usize,
) -> Result<(Tensor, Tensor)> {
    let op = "pixel_rnn build_inputs";
    let batch = batch_and_steps(op, tokens, layout, start, steps)?;
    let x = Tensor::uninit(gpu, [steps, batch, layout.features()])?;
    let targets = Tensor::uninit(gpu, [steps * batch])?;
    gpu.dispatch(&BUILD_INPUTS, &layout.params(batch, start, steps), &[tokens, &x, &targets], grid_1d(x.len(), 256));
    Ok((x, targets))
}

/// The first layer's gate pre-activations `X·W_x + b` for steps `start .. start + steps` of
/// `tokens` (`[B, T]` u32), where X is what [`build_inputs`] would build, computed as the sum
/// of X's active rows of `w_x` (`[F, 4H]`) and `bias` (`[4H]`): `[steps, B, 4H]`, and the
/// targets `[steps·B]` as [`build_inputs`] gives them. A token above K (a pixel not painted
/// yet) adds no colour row. One launch.
pub fn project_tokens(
    gpu: &Gpu,
    tokens: &Tensor,
    w_x: &Tensor,
    bias: &Tensor,
    layout: InputLayout,
    start: usize,
    steps: usize,
) -> Result<(Tensor, Tensor)> {
    let op = "pixel_rnn project_tokens";
    let batch = batch_and_steps(op, tokens, layout, start, steps)?;
    let (rows, gates) = w_x.shape().as_matrix();
    if rows != layout.features() || bias.len() != gates {
        return Err(Error::shape(op, "W_x must be [F, 4H] and the bias [4H]", w_x.shape(), bias.shape()));
    }
    let x_proj = Tensor::uninit(gpu, [steps, batch, gates])?;
    let targets = Tensor::uninit(gpu, [steps * batch])?;
    let params = Params { gates: gates as u32, ..layout.params(batch, start, steps) };
    gpu.dispatch(&PROJECT_TOKENS, &params, &[tokens, w_x, bias, &x_proj, &targets], grid_1d(x_proj.len(), 256));
    Ok((x_proj, targets))
}

/// `out (= Xᵀ·dgates)`, the first layer's `dW_x` `[F, 4H]`, for X built from the whole of
/// `tokens` (`[B, T]` u32) and `dgates` `[T, B, 4H]`: each dgates row added into its active
/// inputs' rows. Two launches: per-slice sums of 16 time steps, and their total.
pub fn onehot_weight_grad_into(
    gpu: &Gpu,
    tokens: &Tensor,
    dgates: &Tensor,
    layout: InputLayout,
    out: &Tensor,
) -> Result<()> {
    let op = "pixel_rnn onehot_weight_grad";
    let batch = layout.batch_of(op, tokens)?;
    let seq = layout.seq_len();
    let (rows, gates) = dgates.shape().as_matrix();
    if rows != seq * batch {
        return Err(Error::shape(op, "dgates must be [T, B, 4H] for tokens [B, T]", dgates.shape(), tokens.shape()));
    }
    if out.shape().as_matrix() != (layout.features(), gates) {
        return Err(Error::shape(op, "out must be [F, 4H]", out.shape(), &[layout.features(), gates].into()));
    }
    let slices = seq.div_ceil(SLICE_STEPS);
    let partials = Tensor::uninit(gpu, [slices, layout.features() * gates])?;
    let params = Params { gates: gates as u32, ..layout.params(batch, 0, SLICE_STEPS) };
    gpu.dispatch(&ONEHOT_GRAD, &params, &[tokens, dgates, &partials], [gates.div_ceil(64) as u32, slices as u32, 1]);
    crate::kernels::reduce::sum_cols_into(gpu, &partials, 1.0, out, false)
}

/// B of `tokens` (see [`InputLayout`]), and steps `start .. start + steps` checked to be a
/// non-empty part of its sequences.
fn batch_and_steps(
    op: &'static str,
    tokens: &Tensor,
    layout: InputLayout,
    start: usize,
    steps: usize,
) -> Result<usize> {
    let batch = layout.batch_of(op, tokens)?;
    if steps == 0 || start + steps > layout.seq_len() {
        return Err(Error::BadShape {
            op,
            why: format!("steps {start}..{} are not a non-empty part of 0..{}", start + steps, layout.seq_len()),
            shape: tokens.shape().clone(),
        });
    }
    Ok(batch)
}

/// Step `t` of sampling, for every sequence b of the batch: where `mask[b, t]` is 0 the
/// pixel is known and `known[b, t]` is kept; where it is 1 the colour is drawn from
/// softmax(`logits[b]` / `temperature`) (`temperature` 0: the most likely colour) with
/// uniform number `t·B + b` of `stream`. The colour is written to `out[b, t]`, where
/// [`project_tokens`] finds it as step t+1's input. `known`, `mask`, `out`: u32 `[B, T]`;
/// `logits`: `[B, K]`. One launch.
#[allow(clippy::too_many_arguments)]
pub fn sample_step(
    gpu: &Gpu,
    layout: InputLayout,
    t: usize,
    logits: &Tensor,
    known: &Tensor,
    mask: &Tensor,
    out: &Tensor,
    temperature: f32,
    stream: Stream,
) -> Result<()> {
    let op = "pixel_rnn sample_step";
    let batch = layout.batch_of(op, out)?;
    for (what, tensor) in [("known", known), ("mask", mask)] {
        if tensor.shape() != out.shape() {
            return Err(Error::BadShape {
                op,
                why: format!("{what} must be shaped like out, {}", out.shape()),
                shape: tensor.shape().clone(),
            });
        }
    }
    if logits.shape().as_matrix() != (batch, layout.classes) {
        return Err(Error::shape(op, "logits must be [B, K]", logits.shape(), &[batch, layout.classes].into()));
    }
    if t >= layout.seq_len() {
        return Err(Error::Invalid(format!("{op}: step {t} is past the last pixel {}", layout.seq_len() - 1)));
    }
    if !(temperature.is_finite() && temperature >= 0.0) {
        return Err(Error::Invalid(format!(
            "sampling temperature {temperature} must be a number ≥ 0 (1 = the model's own distribution)"
        )));
    }
    if out.same_buffer(known) || out.same_buffer(mask) || out.same_buffer(logits) {
        return Err(Error::Invalid(format!("{op}: out must not share a buffer with the inputs")));
    }
    let params = Params {
        temperature,
        seed_lo: stream.seed as u32,
        seed_hi: (stream.seed >> 32) as u32,
        offset_lo: stream.offset as u32,
        offset_hi: (stream.offset >> 32) as u32,
        ..layout.params(batch, t, 1)
    };
    gpu.dispatch(&SAMPLE_STEP, &params, &[logits, known, mask, out], [batch.div_ceil(64) as u32, 1, 1]);
    Ok(())
}

/// The CPU twins: the same layouts, and the same f32 arithmetic for sampling.
pub mod cpu {
    use super::InputLayout;

    /// Input row element `col` for predicting pixel `t` after colour `prev`.
    pub fn input_value(layout: InputLayout, prev: u32, t: usize, col: usize) -> f32 {
        let base = layout.classes + 1;
        let hit = col == prev as usize
            || (layout.positions && (col == base + t / layout.width || col == base + layout.height + t % layout.width));
        hit as u32 as f32
    }

    /// `(x [steps, B, F], targets [steps·B])` from `tokens [B, T]`.
    pub fn build_inputs(tokens: &[u32], layout: InputLayout, start: usize, steps: usize) -> (Vec<f32>, Vec<u32>) {
        let seq = layout.seq_len();
        let batch = tokens.len() / seq;
        let features = layout.features();
        let mut x = Vec::with_capacity(steps * batch * features);
        let mut targets = Vec::with_capacity(steps * batch);
        for t in start..start + steps {
            for b in 0..batch {
                let prev = if t == 0 { layout.start_token() } else { tokens[b * seq + t - 1] };
                x.extend((0..features).map(|col| input_value(layout, prev, t, col)));
                targets.push(tokens[b * seq + t]);
            }
        }
        (x, targets)
    }

    /// The colour drawn from one row of logits at `temperature` with uniform `u` in [0, 1).
    pub fn draw(logits: &[f32], temperature: f32, u: f32) -> u32 {
        let mut top = logits[0];
        let mut best = 0;
        for (k, &v) in logits.iter().enumerate().skip(1) {
            if v > top {
                top = v;
                best = k;
            }
        }
        if temperature <= 0.0 {
            return best as u32;
        }
        let inv = 1.0 / temperature;
        let total: f32 = logits.iter().map(|&v| ((v - top) * inv).exp()).sum();
        let threshold = u * total;
        let mut acc = 0.0f32;
        let mut fallback = best;
        for (k, &v) in logits.iter().enumerate() {
            let w = ((v - top) * inv).exp();
            if w > 0.0 {
                acc += w;
                fallback = k;
                if acc > threshold {
                    return k as u32;
                }
            }
        }
        fallback as u32
    }

    /// `x_proj = X·W_x + b` `[steps, B, 4H]` and the targets, summing rows as the kernel does
    /// (bias, colour row, row one-hot, column one-hot, in f32).
    pub fn project_tokens(
        tokens: &[u32],
        w_x: &[f32],
        bias: &[f32],
        layout: InputLayout,
        start: usize,
        steps: usize,
    ) -> (Vec<f32>, Vec<u32>) {
        let (seq, g4) = (layout.seq_len(), bias.len());
        let batch = tokens.len() / seq;
        let base = layout.classes + 1;
        let mut x_proj = Vec::with_capacity(steps * batch * g4);
        let mut targets = Vec::with_capacity(steps * batch);
        for t in start..start + steps {
            for b in 0..batch {
                let prev = if t == 0 { layout.start_token() } else { tokens[b * seq + t - 1] } as usize;
                for n in 0..g4 {
                    let mut v = bias[n];
                    if prev <= layout.classes {
                        v += w_x[prev * g4 + n];
                    }
                    if layout.positions {
                        v += w_x[(base + t / layout.width) * g4 + n];
                        v += w_x[(base + layout.height + t % layout.width) * g4 + n];
                    }
                    x_proj.push(v);
                }
                targets.push(tokens[b * seq + t]);
            }
        }
        (x_proj, targets)
    }

    /// `Xᵀ·dgates` `[F, 4H]` in f64, as the plain product with the X of [`build_inputs`].
    pub fn onehot_weight_grad(tokens: &[u32], dgates: &[f32], layout: InputLayout) -> Vec<f64> {
        let seq = layout.seq_len();
        let (x, _) = build_inputs(tokens, layout, 0, seq);
        let features = layout.features();
        let rows = x.len() / features;
        let g4 = dgates.len() / rows;
        let mut out = vec![0.0f64; features * g4];
        for r in 0..rows {
            for f in (0..features).filter(|&f| x[r * features + f] != 0.0) {
                for n in 0..g4 {
                    out[f * g4 + n] += x[r * features + f] as f64 * dgates[r * g4 + n] as f64;
                }
            }
        }
        out
    }

    /// Step `t` for every sequence: `uniforms[b]` is sequence b's uniform. Updates `out`
    /// `[B, T]`.
    #[allow(clippy::too_many_arguments)]
    pub fn sample_step(
        layout: InputLayout,
        t: usize,
        logits: &[f32],
        known: &[u32],
        mask: &[u32],
        out: &mut [u32],
        temperature: f32,
        uniforms: &[f32],
    ) {
        let (seq, k) = (layout.seq_len(), layout.classes);
        let batch = out.len() / seq;
        for b in 0..batch {
            let cell = b * seq + t;
            out[cell] =
                if mask[cell] != 0 { draw(&logits[b * k..(b + 1) * k], temperature, uniforms[b]) } else { known[cell] };
        }
    }
}
