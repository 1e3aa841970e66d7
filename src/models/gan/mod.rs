//! The generative adversarial network, as the lecture tells it.
//!
//! Two networks evolve against each other, like a butterfly species and the bird that eats
//! it. The generator G (the butterflies) turns noise z ~ N(0, I) into images; the
//! discriminator D (the bird) learns to tell them from real ones. Each time the bird gets
//! better at spotting butterflies, the survivors are the ones that look more like the real
//! thing, and the bird must sharpen its eye again. G never sees a real image: everything it
//! learns reaches it as D's gradient.
//!
//! Each training step makes `d_steps` = k updates of D, each on a real minibatch (gathered
//! on the GPU) and a batch of fresh fakes,
//!
//!   d_loss = −mean log D(x) − mean log(1 − D(G(z))),
//!
//! then one update of G with the non-saturating loss
//!
//!   g_loss = −mean log D(G(z)).
//!
//! The minimax game as first written has G minimise log(1 − D(G(z))) instead; early on D
//! rejects every fake confidently and that loss is flat, so G would get almost no gradient.
//! Both losses are one fused kernel each (kernels/gan.rs) that also writes D(real), D(fake)
//! and the losses into a tiny stats tensor, so watching training costs no extra launches.
//! Both networks use Adam with β1 = 0.5 (DCGAN's choice: less momentum, since the target
//! each one chases keeps moving). With `real_label` < 1 (e.g. 0.9, one-sided label
//! smoothing) D is never asked to be certain, which keeps its gradient for G informative.
//!
//! Four choices make the small MLPs here learn sprites in a few thousand steps:
//!
//! * G starts at the training images' mean ([`Gan::start_from_mean`]), with its output
//!   layer's weights 10× smaller than usual ([`G_OUTPUT_INIT_SCALE`]). A plain start draws
//!   sigmoid(N(0, 1)) noise at every pixel, different for every z; an MLP discriminator
//!   (each of its units sees the whole image at once) barely notices per-pixel noise, and
//!   Adam moves each weight by about the learning rate per step, so that noise would outlive
//!   the run. Started this way, G's images have only the variation D asked for.
//! * D learns 4× faster than G (`d_learning_rate` 2e-3, `g_learning_rate` 5e-4; the
//!   "two time-scale" rule of Heusel et al. 2017): a bird that keeps up gives the
//!   butterflies a useful gradient; a slow one lets them get away with blobs.
//! * Each of G's hidden layers divides its pre-activations by their root mean square before
//!   the leaky ReLU (`g_pixel_norm`, ProGAN's pixel normalisation). Without it, G's hidden
//!   features grow through training, to sizes that differ more and more from one z to the
//!   next, and the images carry a colour speckle that grows with them. With every z's
//!   features of one size, the same 6000 steps give samples with far less speckle that
//!   cover more of the data (README).
//! * Samples come from an exponential moving average of G's weights (`g_ema` = 0.999;
//!   Yazıcı et al. 2019, as in ProGAN and StyleGAN), while the live G keeps training. The
//!   live G circles around as it chases D, and an MLP discriminator is nearly blind to
//!   per-pixel noise (each of its units sees the whole image at once), so the live G's
//!   images keep a colour speckle; the average of where it has been is steadier and cleaner.
//!
//! Images: the generator ends in a sigmoid, so its pixels lie in [0, 1] like the datasets'
//! (no rescaling to [−1, 1] anywhere). For points that are not pixels (the 2-D toy
//! distributions of the tests) the output can be the identity. The hidden layers use leaky
//! ReLU (slope 0.2) in both networks.
//!
//! Gradients never leak between the players: G's update back-propagates through D with D's
//! weights recorded as tape constants, so it writes no gradient of D's (and costs no dW
//! matmuls); D's update sees the fakes as constants, so it writes none of G's. Each
//! optimiser steps only its own network.

use std::future::Future;
use std::rc::Rc;

use crate::autodiff::Tape;
use crate::data::device::{DeviceDataset, DeviceRows};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};
use crate::kernels::adam::AdamConfig;
use crate::kernels::elementwise::{self, Activation};
use crate::kernels::rng::{self, Stream};
use crate::kernels::spectral_norm::PowerIteration;
use crate::models::latent::slerp_codes;
use crate::models::model::{ImageHeader, Model};
use crate::models::{check_batch, stream, Monitor, Purpose};
use crate::nn::checkpoint::Source;
use crate::nn::snapshot::Resumable;
use crate::nn::{Adam, Conv2d, Linear, Mlp, Param};

mod config;
mod discriminator;
mod file;
mod generator;
pub use config::{GanConfig, GanOutput};
use discriminator::{discriminator_layers, discriminator_window};
pub use file::GanHeader;
pub use generator::{Generator, Painter, Upsampler, G_OUTPUT_INIT_SCALE};

/// Figures the GAN reports each monitored step, in this order: D's loss and G's loss, and
/// the mean probability D gives "real" to a real and to a fake minibatch (last D update).
pub const FIGURES: &[&str] = &["d_loss", "g_loss", "d_real", "d_fake"];

/// Number of fixed noise vectors whose images show training progress.
pub const FIXED_SAMPLES: usize = 64;

/// Generation runs in batches of at most this many noise vectors.
const GENERATE_CHUNK: usize = 256;

/// Power-iteration steps that a fresh spectrally normalised discriminator takes at once, so
/// its first σ estimates start near the truth; training then takes one step per update.
const SPECTRAL_NORM_WARMUP: u32 = 20;

/// Slope of the leaky ReLUs.
pub const LEAKY_SLOPE: f32 = 0.2;

/// What one sample is: an image of `height × width × channels` values (NHWC), or for the
/// points of a toy distribution, 1 × D × 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleShape {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl SampleShape {
    pub fn image(height: usize, width: usize, channels: usize) -> SampleShape {
        SampleShape { height, width, channels }
    }

    /// Points with `dims` coordinates.
    pub fn points(dims: usize) -> SampleShape {
        SampleShape { height: 1, width: dims, channels: 1 }
    }

    /// Values per sample.
    pub fn len(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct Gan {
    pub config: GanConfig,
    /// The generator that trains.
    pub generator: Generator,
    /// The exponential moving average of the generator's weights (when `g_ema` > 0): the
    /// generator that samples.
    pub generator_ema: Option<Generator>,
    /// The discriminator's convolution (with `d_conv_channels` > 0): image → feature map.
    pub discriminator_conv: Option<Conv2d>,
    /// (feature map or image) → hidden → hidden → logit.
    pub discriminator: Mlp,
    /// With `d_spectral_norm`, the power iteration of each of D's weights, in layer order
    /// (the convolution first, if any); empty otherwise.
    pub discriminator_norms: Vec<PowerIteration>,
    pub shape: SampleShape,
    /// Values per generated sample (height · width · channels for images).
    pub data_len: usize,
    g_optimizer: Adam,
    d_optimizer: Adam,
    batches: Stream,
    noise: Stream,
    /// `[FIXED_SAMPLES, z_dim]`, drawn from the seed's sampling stream: the same faces all
    /// through training, so their images show what changed.
    fixed_noise: Tensor,
    pub monitor: Monitor,
}

impl Gan {
    /// A fresh GAN for samples of `shape`.
    pub fn new(gpu: &Gpu, config: GanConfig, shape: SampleShape) -> Result<Gan> {
        config.validate()?;
        let data_len = shape.len();
        if data_len == 0 {
            return Err(Error::Invalid("a GAN needs samples of at least one value".into()));
        }
        let mut init = stream(config.seed, Purpose::Init);
        let leaky = Activation::LeakyRelu(LEAKY_SLOPE);
        let h = config.hidden;
        let generator = Generator::new(gpu, "generator", &config, shape, &mut init)?;
        let discriminator_conv = match config.d_conv_channels {
            0 => None,
            channels => {
                let window = discriminator_window(shape);
                window.validate().map_err(|_| {
                    Error::Invalid(format!(
                        "a discriminator convolution needs images of at least 2×2; these samples are {}×{}: \
                         set d_conv_channels to 0",
                        shape.height, shape.width
                    ))
                })?;
                Some(Conv2d::new(gpu, "discriminator.conv", window, channels, leaky, &mut init)?)
            }
        };
        let features = discriminator_conv.as_ref().map_or(data_len, Conv2d::output_len);
        // The batch's spread, when D sees it, is one more input of the second layer.
        let spread = usize::from(config.d_minibatch_stddev);
        let discriminator = Mlp {
            layers: vec![
                Linear::new(gpu, "discriminator.0", features, h, leaky, &mut init)?,
                Linear::new(gpu, "discriminator.1", h + spread, h, leaky, &mut init)?,
                Linear::new(gpu, "discriminator.2", h, 1, Activation::Identity, &mut init)?,
            ],
        };
        let discriminator_norms = if config.d_spectral_norm {
            discriminator_layers(discriminator_conv.as_ref(), &discriminator)
                .map(|(weight, _)| {
                    let (rows, cols) = weight.value.shape().as_matrix();
                    let u = rng::normal(gpu, init.take(rows), [rows], 0.0, 1.0)?;
                    let state = PowerIteration::new(gpu, u, cols)?;
                    state.iterate(gpu, &weight.value, SPECTRAL_NORM_WARMUP)?;
                    Ok(state)
                })
                .collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        let generator_ema = (config.g_ema > 0.0).then(|| generator.copy_as(gpu, "generator_ema")).transpose()?;
        let adam = |lr| Adam::new(AdamConfig { lr, beta1: config.beta1, ..AdamConfig::default() });
        let fixed_noise =
            rng::normal(gpu, stream(config.seed, Purpose::Sampling), [FIXED_SAMPLES, config.z_dim], 0.0, 1.0)?;
        Ok(Gan {
            g_optimizer: adam(config.g_learning_rate)?,
            d_optimizer: adam(config.d_learning_rate)?,
            batches: stream(config.seed, Purpose::Batches),
            noise: stream(config.seed, Purpose::Noise),
            fixed_noise,
            generator,
            generator_ema,
            discriminator_conv,
            discriminator,
            discriminator_norms,
            shape,
            data_len,
            config,
            monitor: Monitor::new(FIGURES, 10),
        })
    }

    /// Sets G's output bias so that its first images are `mean` (the training images'
    /// mean; with the small output weights, every z then starts there). Training from
    /// scratch calls this once: a sigmoid's bias moving at Adam's pace (≈ lr per step) would
    /// otherwise spend a good part of the run just finding the background colour.
    pub fn start_from_mean(&mut self, gpu: &Gpu, mean: &[f32]) -> Result<()> {
        if mean.len() != self.data_len {
            return Err(Error::Invalid(format!(
                "a mean image of {} values for a GAN whose samples have {}",
                mean.len(),
                self.data_len
            )));
        }
        let bias: Vec<f32> = match self.config.output {
            // The logit of the mean, kept off the sigmoid's flat ends.
            GanOutput::Sigmoid => mean
                .iter()
                .map(|&m| {
                    let m = m.clamp(0.01, 0.99);
                    (m / (1.0 - m)).ln()
                })
                .collect(),
            GanOutput::Identity => mean.to_vec(),
        };
        let bias = Tensor::from_slice(gpu, [self.data_len], &bias)?;
        let generators = std::iter::once(&self.generator).chain(&self.generator_ema);
        for generator in generators {
            gpu.copy(&bias, &generator.image_bias().value)?;
        }
        gpu.submit();
        Ok(())
    }

    pub fn generator_params(&self) -> Vec<Rc<Param>> {
        self.generator.params()
    }

    /// Every parameter: the generator's, the discriminator's, then the averaged
    /// generator's (if any).
    pub fn params(&self) -> Vec<Rc<Param>> {
        let mut params = self.generator.params();
        params.extend(self.discriminator_params());
        if let Some(ema) = &self.generator_ema {
            params.extend(ema.params());
        }
        params
    }

    /// The generator that samples: the moving average if there is one.
    pub fn sampler(&self) -> &Generator {
        self.generator_ema.as_ref().unwrap_or(&self.generator)
    }

    /// Trains on at these learning rates (a diverged run restored to its last good state
    /// goes on more gently).
    pub fn set_learning_rates(&mut self, g_lr: f32, d_lr: f32) -> Result<()> {
        self.g_optimizer.set_learning_rate(g_lr)?;
        self.d_optimizer.set_learning_rate(d_lr)?;
        (self.config.g_learning_rate, self.config.d_learning_rate) = (g_lr, d_lr);
        Ok(())
    }

    /// Training steps (generator updates) taken so far.
    pub fn steps(&self) -> u32 {
        self.g_optimizer.steps_taken()
    }

    /// One training step: `d_steps` discriminator updates, then one generator update, all
    /// recorded into one command buffer and submitted once. `data` is the training split,
    /// rows of `data_len` values. Figures reach `self.monitor` later.
    pub fn train_step(&mut self, gpu: &Gpu, data: &DeviceRows) -> Result<()> {
        self.check_data(data)?;
        let step = self.steps() + 1;
        let mut d_stats = None;
        for _ in 0..self.config.d_steps {
            d_stats = Some(self.discriminator_step(gpu, data)?);
        }
        let d_stats = d_stats.expect("validate keeps d_steps ≥ 1");
        let g_stats = self.generator_step(gpu)?;
        if self.monitor.wants(step) {
            // [d_loss, g_loss, D(real), D(fake)]: D's figures from its last update, G's loss
            // from its own update (against the D it just faced).
            let figures = Tensor::uninit(gpu, [FIGURES.len()])?;
            gpu.copy_region(&d_stats, 0, &figures, 0, 1)?;
            gpu.copy_region(&g_stats, 0, &figures, 1, 1)?;
            gpu.copy_region(&d_stats, 2, &figures, 2, 2)?;
            self.monitor.schedule(gpu, step, &figures);
        }
        gpu.submit();
        self.monitor.poll()
    }

    fn check_data(&self, data: &DeviceRows) -> Result<()> {
        check_batch(self.config.batch, data.count)?;
        let row_len = data.rows.len() / data.count;
        if row_len != self.data_len {
            return Err(Error::Invalid(format!(
                "this GAN was made for samples of {} values, the dataset has {row_len}",
                self.data_len
            )));
        }
        Ok(())
    }

    /// Records one discriminator update (no submit) on a real minibatch from `data` and a
    /// batch of fakes from fresh noise. Returns D's stats `[d_loss, g_loss, D(real), D(fake)]`
    /// (before the update), on the GPU.
    pub fn discriminator_step(&mut self, gpu: &Gpu, data: &DeviceRows) -> Result<Tensor> {
        self.check_data(data)?;
        let batch = self.config.batch;
        let real = data.sample(gpu, &mut self.batches, batch)?.reshape([batch, self.data_len])?;
        let z = self.fresh_noise(gpu)?;
        let fake = {
            // Fakes from the training generator (not the average), as constants for D.
            let tape = Tape::new(gpu);
            let input = tape.constant(&z);
            tape.value(self.generator.forward(&tape, input, true)?)
        };
        let tape = Tape::new(gpu);
        let weights = self.discriminator_weights(&tape, false)?;
        let real_logits = self.discriminator_logits(&tape, tape.constant(&real), &weights)?;
        let fake_logits = self.discriminator_logits(&tape, tape.constant(&fake), &weights)?;
        let (_, stats) = tape.gan_discriminator_loss(real_logits, fake_logits, self.config.real_label)?;
        tape.backward()?;
        self.d_optimizer.step(gpu, &self.discriminator_params())?;
        Ok(stats)
    }

    /// Records one generator update (no submit): fresh noise through G, then through D with
    /// D's weights held constant; then the moving average of G moves. Returns G's stats
    /// `[g_loss, D(fake)]` on the GPU.
    pub fn generator_step(&mut self, gpu: &Gpu) -> Result<Tensor> {
        let z = self.fresh_noise(gpu)?;
        let tape = Tape::new(gpu);
        let fake = self.generator.forward(&tape, tape.constant(&z), false)?;
        let weights = self.discriminator_weights(&tape, true)?;
        let logits = self.discriminator_logits(&tape, fake, &weights)?;
        let (_, stats) = tape.gan_generator_loss(logits)?;
        tape.backward()?;
        self.g_optimizer.step(gpu, &self.generator.params())?;
        if let Some(ema) = &self.generator_ema {
            // ema ← β·ema + (1 − β)·G, with β warming up as (1 + t)/(10 + t) so that the
            // average does not drag the untrained weights along for thousands of steps.
            let t = self.g_optimizer.steps_taken() as f32;
            let beta = self.config.g_ema.min((1.0 + t) / (10.0 + t));
            for (average, live) in ema.params().iter().zip(self.generator.params()) {
                elementwise::axpby(gpu, 1.0 - beta, &live.value, beta, &average.value)?;
            }
        }
        Ok(stats)
    }

    fn fresh_noise(&mut self, gpu: &Gpu) -> Result<Tensor> {
        let (batch, z) = (self.config.batch, self.config.z_dim);
        rng::normal(gpu, self.noise.take(batch * z), [batch, z], 0.0, 1.0)
    }

    /// G(z) for noise `z [n, z_dim]` from the sampling generator (the moving average, if
    /// any): `[n, data_len]`, left on the GPU.
    pub fn generate(&self, gpu: &Gpu, z: &Tensor) -> Result<Tensor> {
        if z.shape().as_matrix().1 != self.config.z_dim {
            return Err(Error::BadShape {
                op: "generate",
                why: format!("noise must have {} columns", self.config.z_dim),
                shape: z.shape().clone(),
            });
        }
        let rows = z.shape().as_matrix().0;
        let forward = |z: &Tensor| -> Result<Tensor> {
            let tape = Tape::new(gpu);
            let input = tape.constant(z);
            Ok(tape.value(self.sampler().forward(&tape, input, true)?))
        };
        if rows <= GENERATE_CHUNK {
            return forward(z);
        }
        // In chunks: an upsampling generator's full-size patches for thousands of images would
        // pass the largest buffer a GPU binds (128 MiB on many).
        let images = Tensor::uninit(gpu, [rows, self.data_len])?;
        for start in (0..rows).step_by(GENERATE_CHUNK) {
            let n = GENERATE_CHUNK.min(rows - start);
            let chunk = Tensor::uninit(gpu, [n, self.config.z_dim])?;
            gpu.copy_region(z, start * self.config.z_dim, &chunk, 0, n * self.config.z_dim)?;
            gpu.copy_region(&forward(&chunk)?, 0, &images, start * self.data_len, n * self.data_len)?;
        }
        Ok(images)
    }

    /// Generates from host-side noise vectors (rows of `z_dim` values).
    pub fn generate_codes(&self, gpu: &Gpu, codes: &[Vec<f32>]) -> Result<Tensor> {
        let flat: Vec<f32> = codes.iter().flatten().copied().collect();
        if codes.is_empty() || flat.len() != codes.len() * self.config.z_dim {
            return Err(Error::Invalid(format!("generate: need noise vectors of {} values each", self.config.z_dim)));
        }
        let z = Tensor::from_slice(gpu, [codes.len(), self.config.z_dim], &flat)?;
        self.generate(gpu, &z)
    }

    /// `count` samples from fresh noise z ~ N(0, I) drawn from `stream`.
    pub fn sample(&self, gpu: &Gpu, stream: Stream, count: usize) -> Result<Tensor> {
        let z = rng::normal(gpu, stream, [count, self.config.z_dim], 0.0, 1.0)?;
        self.generate(gpu, &z)
    }

    /// The fixed noise batch `[FIXED_SAMPLES, z_dim]` (the seed's sampling stream, so
    /// `genlab sample gan --seed <training seed>` starts with the same images).
    pub fn fixed_noise(&self) -> &Tensor {
        &self.fixed_noise
    }

    /// The images of the fixed noise batch, `[FIXED_SAMPLES, data_len]` on the GPU.
    pub fn fixed_samples(&self, gpu: &Gpu) -> Result<Tensor> {
        self.generate(gpu, &self.fixed_noise)
    }

    /// A latent walk: `steps` images along the great circle from noise `a` to noise `b`
    /// (slerp; a straight line would pass through short vectors the generator never saw,
    /// since N(0, I) noise lives near the sphere of radius √z_dim).
    pub fn latent_walk(&self, gpu: &Gpu, a: &[f32], b: &[f32], steps: usize) -> Result<Tensor> {
        if a.len() != self.config.z_dim || b.len() != self.config.z_dim || steps < 2 {
            return Err(Error::Invalid(format!(
                "latent walk: give two noise vectors of {} values and at least 2 steps",
                self.config.z_dim
            )));
        }
        self.generate_codes(gpu, &slerp_codes(a, b, steps))
    }
}

impl Resumable for Gan {
    fn steps_taken(&self) -> u32 {
        self.steps()
    }

    fn checked_through(&self) -> u32 {
        self.monitor.checked_through()
    }

    /// Every parameter's state (the averaged generator's too), and each power iteration's `u`.
    fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut state: Vec<(String, Tensor)> = self.params().iter().flat_map(|p| p.state()).collect();
        state.extend(self.power_iteration_vectors());
        state
    }

    fn counters(&self) -> Vec<u64> {
        let (g, d) = (self.g_optimizer.steps_taken(), self.d_optimizer.steps_taken());
        vec![g as u64, d as u64, self.batches.offset, self.noise.offset]
    }

    fn resume_counters(&mut self, counters: &[u64]) -> Result<()> {
        let &[g, d, batches, noise] = counters else {
            return Err(Error::Invalid("the checkpoint's counters are not a GAN's".into()));
        };
        self.g_optimizer.resume_at(g as u32);
        self.d_optimizer.resume_at(d as u32);
        (self.batches.offset, self.noise.offset) = (batches, noise);
        self.monitor.rewind(g as u32);
        Ok(())
    }
}

impl Model for Gan {
    type Header = GanHeader;
    type Config = GanConfig;
    const TAG: &'static str = "gan";
    const NAME: &'static str = "GAN";
    const TRAINING_STEPS: u32 = 6000;

    crate::field_accessors!(monitor, monitor_mut: Monitor);

    /// A GAN of `data`'s images whose generator starts from their mean image.
    fn for_dataset(gpu: &Gpu, config: GanConfig, data: &Dataset) -> Result<Gan> {
        let mut gan = Gan::new(gpu, config, SampleShape::image(data.height, data.width, data.channels))?;
        gan.start_from_mean(gpu, &data.train().mean_image())?;
        Ok(gan)
    }

    /// What the generator makes of fresh noise (the moving average's, if it keeps one).
    async fn draw(&self, gpu: &Gpu, _: &GanHeader, sampling: Stream, count: usize) -> Result<Vec<f32>> {
        if self.config.output != GanOutput::Sigmoid {
            return Err(Error::Invalid("this GAN generates points, not images: there are no pixels to draw".into()));
        }
        self.sample(gpu, sampling, count)?.to_vec(gpu).await
    }

    /// One step on the training split.
    fn train_step(&mut self, gpu: &Gpu, data: &DeviceDataset) -> Result<()> {
        Gan::train_step(self, gpu, &data.train)
    }

    fn header(&self, data: &Dataset, steps: u32) -> GanHeader {
        ImageHeader::new(&self.config, data, steps)
    }

    fn save<'a>(&'a self, source: Source<'a>, header: &'a GanHeader) -> impl Future<Output = Result<Vec<u8>>> + 'a {
        Gan::save(self, source, header)
    }

    fn load(gpu: &Gpu, bytes: &[u8]) -> Result<(Gan, GanHeader)> {
        Gan::load(gpu, bytes)
    }
}
