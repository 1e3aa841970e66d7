//! The PixelRNN, as the lecture tells it.
//!
//! An image is a sequence of pixels in raster order (row by row, left to right), and each
//! pixel is one colour of a small palette of K colours. The chain rule of probability writes
//! the image's probability as a product of one prediction per pixel,
//!
//!   p(x) = Π_t p(x_t | x_0 … x_{t−1}),
//!
//! and an LSTM makes those predictions: at step t it is shown pixel t−1's colour (one-hot
//! over K colours plus a start token for t = 0, so K + 1 inputs) and, optionally, where
//! pixel t sits (its row and column one-hot, H + W more inputs); its hidden state carries
//! everything it has seen so far; a linear layer turns the state into K logits, and softmax
//! gives p(x_t | everything before). Training maximises the log-likelihood of the training
//! sprites with the true previous pixel fed in at every step (teacher forcing), and the
//! gradient flows back through all T = H·W steps (full backpropagation through time).
//!
//! The loss is reported in nats per pixel and in **bits per pixel** (nats / ln 2): the
//! number of bits an arithmetic coder driven by the model would spend per pixel. Two
//! baselines make the number meaningful: log₂ K bits for a model that knows nothing
//! (uniform), and the cross-entropy of the training set's colour frequencies (unigram).
//!
//! Sampling paints one pixel at a time: the sampled colour becomes the next step's input.
//! Cover part of a sprite and the same loop completes it: known pixels are fed in as they
//! are (teacher-forced), covered ones are sampled — the model paints the rest of the
//! monster consistent with what it was shown.
//!
//! The first layer's input rows X are one-hot, so X·W_x + b is a sum of three rows of W_x
//! (one without positions) plus the bias, and dW_x = Xᵀ·dgates adds each row of dgates into
//! three rows of dW_x: `kernels::pixel_rnn::{project_tokens, onehot_weight_grad_into}` do
//! exactly that from the tokens, and X itself is never built while training
//! (`build_inputs` builds it for display and as the tests' oracle). As dense matmuls with
//! X, those two products took about half of a training step on lavapipe.
//!
//! One training step, as launches (L layers, T steps; all of it one submission):
//! ```text
//! minibatch: random rows + gather of [B, T] tokens                      2
//! layer 1: x_proj = X·W_x + b and the targets from the tokens           1
//! layer 2: x_proj = h₁·W_x + b, one matmul over all T·B rows            1
//! per layer: the recurrence (lstm::forward_dispatches)                  T
//! logits = h·W_o + b_o over all T·B rows                                1
//! softmax cross-entropy fused with its gradient                         1
//! dW_o = hᵀ·dlogits, db_o = Σ dlogits, dh = dlogits·W_oᵀ                3 (+1)
//! per layer: backward through time (lstm::backward_dispatches)         T + 1
//!            db = Σ_rows dgates                                         1
//! layer 1: dW_x = Xᵀ·dgates from the tokens (slices, then their sum)    2
//! layer 2: dW_x = h₁ᵀ·dgates, dh₁ = dgates·W_xᵀ                          2 (+1)
//! Adam: one launch per parameter tensor                                 3L + 2
//! ```
//! = 2LT + 8L + 9 launches (L = 1, T = 256: 529), + 2 or 3 on the steps whose loss is read
//! back (its mean over the T·B pixels, and the same in bits). (+1): a weight gradient's
//! product over all T·B rows may split its long K in two launches (`matmul::launches`);
//! [`PixelRnn::gradient_dispatches`] counts them on the adapter at hand.

use std::future::Future;
use std::rc::Rc;

use crate::data::device::{DeviceDataset, DeviceRows};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};
use crate::kernels::adam::AdamConfig;
use crate::kernels::loss;
use crate::kernels::lstm::{self, Gate, LstmDims, LstmStates, GATES};
use crate::kernels::matmul::{self, Epilogue, Transpose};
use crate::kernels::pixel_rnn::{self as kernels, InputLayout};
use crate::kernels::reduce;
use crate::kernels::rng::Stream;
use crate::kernels::{elementwise, Activation};
use crate::models::model::Model;
use crate::models::{check_batch, stream, Monitor, Purpose};
use crate::nn::checkpoint::Source;
use crate::nn::snapshot::Resumable;
use crate::nn::{Adam, Init, Linear, Param};

/// Figures the PixelRNN reports each monitored step: the minibatch loss in nats per pixel,
/// and the same in bits per pixel.
pub const FIGURES: &[&str] = &["loss", "bits_per_pixel"];

mod config;
mod file;
mod sampler;
pub use config::{PixelRnnConfig, MAX_HIDDEN, MAX_LAYERS};
pub use file::PixelRnnHeader;
pub use sampler::{MaskKind, Sampler, UNPAINTED};

/// One LSTM layer's weights: W_x `[D, 4H]`, W_h `[H, 4H]`, b `[4H]`, their columns the gates
/// i, f, g, o of each unit as [`lstm::gate_column`] lays them out.
pub struct LstmLayer {
    pub w_x: Rc<Param>,
    pub w_h: Rc<Param>,
    pub bias: Rc<Param>,
}

impl LstmLayer {
    fn new(gpu: &Gpu, name: &str, inputs: usize, input_std: f32, hidden: usize, init: &mut Stream) -> Result<Self> {
        let g4 = GATES * hidden;
        let normal = |std: f32, n: usize, init: &mut Stream| Init::Normal { std, stream: init.take(n) };
        let w_x = Param::new(gpu, &format!("{name}.w_x"), [inputs, g4], normal(input_std, inputs * g4, init))?;
        let w_h_std = 1.0 / (hidden as f32).sqrt();
        let w_h = Param::new(gpu, &format!("{name}.w_h"), [hidden, g4], normal(w_h_std, hidden * g4, init))?;
        // Forget gates start open (bias 1): early in training the state carries information
        // across the 16 steps between a pixel and the one below it instead of losing it.
        let mut bias = vec![0.0f32; g4];
        for unit in 0..hidden {
            bias[lstm::gate_column(unit, Gate::Forget)] = 1.0;
        }
        let bias = Param::from_tensor(gpu, &format!("{name}.bias"), Tensor::from_slice(gpu, [g4], &bias)?)?;
        Ok(LstmLayer { w_x, w_h, bias })
    }

    fn params(&self) -> [Rc<Param>; 3] {
        [self.w_x.clone(), self.w_h.clone(), self.bias.clone()]
    }
}

/// What the forward pass keeps for the backward pass.
struct Forward {
    /// `[B, T]`: layer 1's input, as tokens.
    tokens: Tensor,
    targets: Tensor,
    states: Vec<LstmStates>,
    logits: Tensor,
}

/// Held-out likelihood.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Evaluation {
    pub heldout_nats_per_pixel: f64,
    pub heldout_bits_per_pixel: f64,
    /// Held-out images scored.
    pub heldout_images: usize,
}

/// What a model that ignores the image would score on the same held-out pixels.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Baselines {
    /// log₂ K: every colour equally likely.
    pub uniform_bits_per_pixel: f64,
    /// Cross-entropy of the held-out pixels under the training set's colour frequencies,
    /// add-one (Laplace) smoothed: p(k) = (n_k + 1) / (N + K).
    pub unigram_bits_per_pixel: f64,
}

/// The two baselines on the first `max_images` held-out images of a palette dataset.
pub fn baselines(dataset: &Dataset, max_images: usize) -> Result<Baselines> {
    let k = palette_size(dataset)?;
    let (train, heldout) = (dataset.train(), dataset.heldout());
    let (Some(train_ix), Some(heldout_ix)) = (&train.indices, &heldout.indices) else {
        return Err(no_palette(dataset));
    };
    if heldout.count == 0 {
        return Err(Error::Invalid("the dataset holds no images out: no baseline to compute".into()));
    }
    let mut counts = vec![0u64; k];
    for &c in train_ix {
        counts[c as usize] += 1;
    }
    let total = train_ix.len() as f64 + k as f64;
    let log2_p: Vec<f64> = counts.iter().map(|&n| ((n as f64 + 1.0) / total).log2()).collect();
    let scored = &heldout_ix[..heldout.count.min(max_images.max(1)) * dataset.plane_len()];
    let unigram = -scored.iter().map(|&c| log2_p[c as usize]).sum::<f64>() / scored.len() as f64;
    Ok(Baselines { uniform_bits_per_pixel: (k as f64).log2(), unigram_bits_per_pixel: unigram })
}

fn no_palette(dataset: &Dataset) -> Error {
    Error::Invalid(format!(
        "the PixelRNN paints with palette colours, and the {} dataset has no palette (its pixels are \
         grey levels): use --data sprites or --data sheet",
        dataset.kind
    ))
}

fn palette_size(dataset: &Dataset) -> Result<usize> {
    dataset.num_colors().filter(|_| dataset.indices.is_some()).ok_or_else(|| no_palette(dataset))
}

pub struct PixelRnn {
    pub config: PixelRnnConfig,
    pub height: usize,
    pub width: usize,
    /// K, the palette size.
    pub classes: usize,
    pub layers: Vec<LstmLayer>,
    /// h → K logits.
    pub output: Linear,
    optimizer: Adam,
    batches: Stream,
    pub monitor: Monitor,
}

impl PixelRnn {
    /// A PixelRNN for `height`×`width` images over `classes` palette colours.
    pub fn new(gpu: &Gpu, config: PixelRnnConfig, height: usize, width: usize, classes: usize) -> Result<PixelRnn> {
        config.validate()?;
        let layout = InputLayout { height, width, classes, positions: config.positions };
        layout.validate()?;
        let mut init = stream(config.seed, Purpose::Init);
        let hidden = config.hidden;
        // Layer 1's input row has 1 (or, with positions, 3) ones: scale its weights so that
        // the gate pre-activations start at about unit size whatever the row holds.
        let active = if config.positions { 3.0f32 } else { 1.0 };
        let mut layers = Vec::with_capacity(config.layers);
        for l in 0..config.layers {
            let (inputs, std) =
                if l == 0 { (layout.features(), 0.5 / active.sqrt()) } else { (hidden, 1.0 / (hidden as f32).sqrt()) };
            layers.push(LstmLayer::new(gpu, &format!("lstm.{l}"), inputs, std, hidden, &mut init)?);
        }
        let output = Linear::new(gpu, "output", hidden, classes, Activation::Identity, &mut init)?;
        let optimizer = Adam::new(AdamConfig { lr: config.learning_rate, ..AdamConfig::default() })?;
        Ok(PixelRnn {
            batches: stream(config.seed, Purpose::Batches),
            config,
            height,
            width,
            classes,
            layers,
            output,
            optimizer,
            monitor: Monitor::new(FIGURES, 10),
        })
    }

    /// A PixelRNN shaped for `dataset`'s images and palette; refuses datasets without one.
    pub fn for_dataset(gpu: &Gpu, config: PixelRnnConfig, dataset: &Dataset) -> Result<PixelRnn> {
        let classes = palette_size(dataset)?;
        PixelRnn::new(gpu, config, dataset.height, dataset.width, classes)
    }

    pub fn layout(&self) -> InputLayout {
        InputLayout { height: self.height, width: self.width, classes: self.classes, positions: self.config.positions }
    }

    /// T = height·width.
    pub fn seq_len(&self) -> usize {
        self.height * self.width
    }

    pub fn params(&self) -> Vec<Rc<Param>> {
        let mut params: Vec<Rc<Param>> = self.layers.iter().flat_map(LstmLayer::params).collect();
        params.extend(self.output.params());
        params
    }

    /// Trains on at learning rate `lr` (a diverged run restored to its last good state
    /// goes on more gently).
    pub fn set_learning_rate(&mut self, lr: f32) -> Result<()> {
        self.optimizer.set_learning_rate(lr)?;
        self.config.learning_rate = lr;
        Ok(())
    }

    /// Training steps taken so far.
    pub fn steps(&self) -> u32 {
        self.optimizer.steps_taken()
    }

    /// Launches [`PixelRnn::loss_and_gradients`] records for a minibatch (see the module
    /// docs; a training step adds 2 for the minibatch and 3L + 2 for Adam).
    pub fn gradient_dispatches(&self, gpu: &Gpu) -> usize {
        let dims = LstmDims { steps: self.seq_len(), batch: self.config.batch, hidden: self.config.hidden };
        let rows = dims.steps * dims.batch;
        let classes = self.output.bias.value.len();
        // logits, loss, db_o, dh, and dW_o (one launch, or two when its long K is split).
        let output = 4 + matmul::launches(gpu, dims.hidden, classes, rows);
        // Per layer the projection, the recurrence both ways and db; then layer 1's dW_x in
        // two launches, or a higher layer's dW_x (one or two) and dx.
        let recurrence = 1 + lstm::forward_dispatches(dims) + lstm::backward_dispatches(dims, false) + 1;
        let higher_dw_x = matmul::launches(gpu, dims.hidden, GATES * dims.hidden, rows);
        output + self.layers.len() * recurrence + 2 + (self.layers.len() - 1) * (higher_dw_x + 1)
    }

    /// The recurrence over `tokens` (`[B, T]` u32) with teacher forcing, up to the logits.
    fn forward(&self, gpu: &Gpu, tokens: &Tensor) -> Result<Forward> {
        let layout = self.layout();
        let first = &self.layers[0];
        let (x_proj, targets) =
            kernels::project_tokens(gpu, tokens, &first.w_x.value, &first.bias.value, layout, 0, layout.seq_len())?;
        let rows = targets.len();
        let mut states = vec![lstm::lstm_forward(gpu, &x_proj, &first.w_h.value, None, None)?];
        drop(x_proj);
        for layer in &self.layers[1..] {
            let below = &states.last().expect("layer 1 ran").h;
            let x_proj = lstm::project_inputs(gpu, below, &layer.w_x.value, &layer.bias.value)?;
            states.push(lstm::lstm_forward(gpu, &x_proj, &layer.w_h.value, None, None)?);
        }
        let h = states.last().expect("at least one layer").h.reshape([rows, self.config.hidden])?;
        let bias = Epilogue { bias: Some(&self.output.bias.value), ..Epilogue::default() };
        let logits = matmul::matmul(gpu, &h, &self.output.weight.value, Transpose::NONE, bias)?;
        Ok(Forward { tokens: tokens.clone(), targets, states, logits })
    }

    /// Per-pixel losses `[T·B]` (nats) of `tokens` (`[B, T]` u32), forward only. Recorded,
    /// not submitted.
    pub fn loss_rows(&self, gpu: &Gpu, tokens: &Tensor) -> Result<Tensor> {
        let forward = self.forward(gpu, tokens)?;
        Ok(loss::softmax_cross_entropy(gpu, &forward.logits, &forward.targets, 0.0)?.loss_rows)
    }

    /// Forward and backward on `tokens` (`[B, T]` u32): the gradient of the mean loss per
    /// pixel lands in every parameter's `grad`; returns the per-pixel losses `[T·B]` (nats).
    /// Recorded, not submitted; nothing is updated.
    pub fn loss_and_gradients(&self, gpu: &Gpu, tokens: &Tensor) -> Result<Tensor> {
        let forward = self.forward(gpu, tokens)?;
        let rows = forward.targets.len();
        let hidden = self.config.hidden;
        let computed = loss::softmax_cross_entropy(gpu, &forward.logits, &forward.targets, 1.0 / rows as f32)?;
        let dlogits = computed.grad;

        // The output layer: dW_o = hᵀ·dlogits, db_o = Σ_rows dlogits, dh = dlogits·W_oᵀ.
        let top = forward.states.last().expect("at least one layer").h.reshape([rows, hidden])?;
        let write = Epilogue::default();
        matmul::matmul_into(gpu, &top, &dlogits, Transpose::A, write, &self.output.weight.grad)?;
        reduce::sum_cols_into(gpu, &dlogits, 1.0, &self.output.bias.grad, false)?;
        let mut dh = matmul::matmul(gpu, &dlogits, &self.output.weight.value, Transpose::B, write)?;
        self.output.weight.mark_grad_fresh();
        self.output.bias.mark_grad_fresh();

        // Each layer, top down: backward through time, then the input projection's
        // gradients dW_x = xᵀ·dgates, db = Σ_rows dgates, and dx = dgates·W_xᵀ for the layer
        // below (the one-hot rows of layer 1 need none).
        for (l, layer) in self.layers.iter().enumerate().rev() {
            let grads = lstm::lstm_backward(gpu, &forward.states[l], &layer.w_h.value, &dh)?;
            gpu.copy(&grads.dw_h, &layer.w_h.grad)?;
            let dgates = grads.dgates.reshape([rows, GATES * hidden])?;
            reduce::sum_cols_into(gpu, &dgates, 1.0, &layer.bias.grad, false)?;
            if l == 0 {
                kernels::onehot_weight_grad_into(gpu, &forward.tokens, &dgates, self.layout(), &layer.w_x.grad)?;
            } else {
                let x = forward.states[l - 1].h.reshape([rows, hidden])?;
                matmul::matmul_into(gpu, &x, &dgates, Transpose::A, write, &layer.w_x.grad)?;
                dh = matmul::matmul(gpu, &dgates, &layer.w_x.value, Transpose::B, write)?;
            }
            for p in layer.params() {
                p.mark_grad_fresh();
            }
        }
        Ok(computed.loss_rows)
    }

    /// One step of Adam on a minibatch of training sprites gathered on the GPU: forward,
    /// backward and update in one submission. Figures reach `self.monitor` later.
    pub fn train_step(&mut self, gpu: &Gpu, data: &DeviceDataset) -> Result<()> {
        let tokens = self.check_data(data, true)?;
        check_batch(self.config.batch, tokens.count)?;
        let step = self.steps() + 1;
        let batch = tokens.sample(gpu, &mut self.batches, self.config.batch)?;
        let loss_rows = self.loss_and_gradients(gpu, &batch)?;
        self.optimizer.step(gpu, &self.params())?;
        if self.monitor.wants(step) {
            let nats = reduce::sum_all(gpu, &loss_rows, 1.0 / loss_rows.len() as f32)?;
            let bits = Tensor::zeros(gpu, [1])?;
            elementwise::axpby(gpu, std::f32::consts::LOG2_E, &nats, 0.0, &bits)?;
            let figures = Tensor::uninit(gpu, [FIGURES.len()])?;
            gpu.copy_region(&nats, 0, &figures, 0, 1)?;
            gpu.copy_region(&bits, 0, &figures, 1, 1)?;
            self.monitor.schedule(gpu, step, &figures);
        }
        gpu.submit();
        self.monitor.poll()
    }

    /// The training (or held-out) tokens of `data`, after checking that they fit the model.
    fn check_data<'d>(&self, data: &'d DeviceDataset, train: bool) -> Result<&'d DeviceRows> {
        let tokens = if train { &data.train_tokens } else { &data.heldout_tokens };
        let tokens = tokens.as_ref().ok_or_else(|| {
            Error::Invalid(
                "this dataset has no palette indices (moons are grey levels): the PixelRNN needs a palette \
                 dataset, sprites or a sprite sheet"
                    .into(),
            )
        })?;
        if (data.height, data.width) != (self.height, self.width) {
            return Err(Error::Invalid(format!(
                "this PixelRNN was made for {}×{} images, the dataset's are {}×{}",
                self.height, self.width, data.height, data.width
            )));
        }
        Ok(tokens)
    }

    /// Mean negative log-likelihood of the first `max_images` held-out sprites, in nats and
    /// bits per pixel (exact: the chain rule needs no sampling). Submits one chunk of 64
    /// sprites at a time and reads all sums back at the end.
    pub async fn evaluate(&self, gpu: &Gpu, data: &DeviceDataset, max_images: usize) -> Result<Evaluation> {
        let heldout = self.check_data(data, false)?;
        let images = heldout.count.min(max_images.max(1));
        let mut sums = Vec::new();
        for start in (0..images).step_by(64) {
            let n = 64.min(images - start);
            let tokens = heldout.range(gpu, start, n)?;
            let total = reduce::sum_all(gpu, &self.loss_rows(gpu, &tokens)?, 1.0)?;
            sums.push(gpu.read_later(&total));
            gpu.submit();
        }
        let mut nats = 0.0f64;
        for sum in sums {
            nats += sum.wait().await?[0] as f64;
        }
        let per_pixel = nats / (images * self.seq_len()) as f64;
        Ok(Evaluation {
            heldout_nats_per_pixel: per_pixel,
            heldout_bits_per_pixel: per_pixel / std::f64::consts::LN_2,
            heldout_images: images,
        })
    }
}

impl Resumable for PixelRnn {
    fn steps_taken(&self) -> u32 {
        self.steps()
    }

    fn checked_through(&self) -> u32 {
        self.monitor.checked_through()
    }

    fn state_tensors(&self) -> Vec<(String, Tensor)> {
        self.params().iter().flat_map(|p| p.state()).collect()
    }

    fn counters(&self) -> Vec<u64> {
        vec![self.steps() as u64, self.batches.offset]
    }

    fn resume_counters(&mut self, counters: &[u64]) -> Result<()> {
        let &[steps, batches] = counters else {
            return Err(Error::Invalid("the checkpoint's counters are not a PixelRNN's".into()));
        };
        self.optimizer.resume_at(steps as u32);
        self.batches.offset = batches;
        self.monitor.rewind(steps as u32);
        Ok(())
    }
}

impl Model for PixelRnn {
    type Header = PixelRnnHeader;
    type Config = PixelRnnConfig;
    const TAG: &'static str = "pixelrnn";
    const NAME: &'static str = "PixelRNN";
    const TRAINING_STEPS: u32 = 600;

    crate::field_accessors!(monitor, monitor_mut: Monitor);

    fn for_dataset(gpu: &Gpu, config: PixelRnnConfig, data: &Dataset) -> Result<PixelRnn> {
        PixelRnn::for_dataset(gpu, config, data)
    }

    /// New sprites painted pixel by pixel from the model's own odds, in the header's palette.
    async fn draw(&self, gpu: &Gpu, header: &PixelRnnHeader, sampling: Stream, count: usize) -> Result<Vec<f32>> {
        let tokens = self.sampler(gpu, count, 1.0, sampling)?.finish(gpu).await?;
        Ok(header.colours(&tokens))
    }

    fn train_step(&mut self, gpu: &Gpu, data: &DeviceDataset) -> Result<()> {
        PixelRnn::train_step(self, gpu, data)
    }

    /// The header of a model made for `data`'s palette.
    fn header(&self, data: &Dataset, steps: u32) -> PixelRnnHeader {
        PixelRnnHeader {
            config: self.config.clone(),
            height: data.height,
            width: data.width,
            palette: data.palette.clone().unwrap_or_default(),
            dataset: data.kind.to_string(),
            steps,
        }
    }

    fn save<'a>(
        &'a self,
        source: Source<'a>,
        header: &'a PixelRnnHeader,
    ) -> impl Future<Output = Result<Vec<u8>>> + 'a {
        PixelRnn::save(self, source, header)
    }

    fn load(gpu: &Gpu, bytes: &[u8]) -> Result<(PixelRnn, PixelRnnHeader)> {
        PixelRnn::load(gpu, bytes)
    }
}
