//! The variational autoencoder, as the lecture tells it.
//!
//! An autoencoder maps an image to one code and back; nothing shapes the space between two
//! codes, so decoding the point halfway between a full moon and a crescent gives whatever
//! the decoder happens to do there. The VAE's encoder instead outputs a Gaussian — a mean m
//! and a log-variance σ per latent dimension — and the decoder sees a sample of it,
//!
//!   z = m + exp(σ/2) · e,   e ~ N(0, I)          (the reparameterisation trick),
//!
//! while the loss adds to the reconstruction error the KL divergence of that Gaussian from
//! N(0, I):  KL = Σ (exp(σ) − (1 + σ) + m²) / 2.
//! Codes are blurred into overlapping clouds pulled towards the origin, so every point
//! between two codes has been decoded during training, and decodes to something real.
//!
//! With `autoencoder: true` the same network runs with no noise and no KL: the baseline.

use std::future::Future;
use std::rc::Rc;

use crate::autodiff::{Tape, Var};
use crate::data::device::{DeviceDataset, DeviceRows};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};
use crate::kernels::adam::AdamConfig;
use crate::kernels::elementwise::{self, Activation};
use crate::kernels::matmul::{self, Epilogue, Transpose};
use crate::kernels::reparam;
use crate::kernels::rng::{self, Stream};
use crate::models::model::{header_json, read_header, ImageHeader, Model};
use crate::models::{check_batch, check_learning_rate, log_sum_exp, stream, Monitor, Purpose};
use crate::nn::checkpoint::Source;
use crate::nn::snapshot::Resumable;
use crate::nn::{Adam, Mlp, Param};
use crate::settings::{batch, hidden, learning_rate, Declared, Setting};
use crate::{number, whole};

/// Figures the VAE reports each monitored step, in this order.
pub const FIGURES: &[&str] = &["loss", "reconstruction", "kl"];

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VaeConfig {
    /// Width of the encoder's and the decoder's hidden layer.
    pub hidden: usize,
    /// Latent dimensions D (2 gives a latent map).
    pub latent: usize,
    /// Weight of the KL term (1 = the true ELBO).
    pub beta: f32,
    /// Steps over which the KL weight ramps from 0 up to `beta` (0 = no warm-up).
    pub kl_warmup: u32,
    /// The baseline: no noise, no KL.
    pub autoencoder: bool,
    pub batch: usize,
    pub learning_rate: f32,
    pub seed: u64,
}

impl Default for VaeConfig {
    fn default() -> VaeConfig {
        VaeConfig {
            hidden: 256,
            latent: 8,
            beta: 1.0,
            kl_warmup: 500,
            autoencoder: false,
            batch: 64,
            learning_rate: 1e-3,
            seed: 1,
        }
    }
}

crate::model_config!(VaeConfig);

impl Declared for VaeConfig {
    /// The VAE's settings: the page's form and links, and the command line's flags.
    const SETTINGS: &'static [Setting<VaeConfig>] = &[
        hidden("Width of the encoder's and the decoder's hidden layer.", whole!(hidden: usize, 1, 1024)),
        Setting {
            key: "latent",
            flag: Some("latent"),
            label: "Latent size",
            unit: "",
            help: "Latent dimensions; 2 draws the latent map.",
            field: whole!(latent: usize, 1, 32),
        },
        batch("Images per training step.", whole!(batch: usize, 1, 512)),
        learning_rate(number!(learning_rate, above 0.0, 1.0)),
        Setting {
            key: "beta",
            flag: Some("beta"),
            label: "KL weight β",
            unit: "",
            help: "Weight of the KL term (1 is the ELBO; 0 leaves a noisy autoencoder).",
            field: number!(beta, 0.0, 10.0),
        },
        Setting {
            key: "warmup",
            flag: Some("kl-warmup"),
            label: "KL warm-up steps",
            unit: "",
            help: "Steps over which the KL weight ramps up from 0.",
            field: whole!(kl_warmup: u32, 0, 100_000),
        },
    ];
}

impl VaeConfig {
    /// The VAE the page trains: a latent of 2, so the lab draws its latent map, and a
    /// narrower, faster network than the command line's, for a software GPU in a tab.
    pub fn in_the_tab() -> VaeConfig {
        VaeConfig { hidden: 128, latent: 2, batch: 32, learning_rate: 2e-3, kl_warmup: 200, ..VaeConfig::default() }
    }

    pub fn validate(&self) -> Result<()> {
        if self.latent == 0 || self.latent > 256 {
            return Err(Error::Invalid(format!("latent size {} is outside 1..=256; try 2 or 8", self.latent)));
        }
        if self.hidden == 0 || self.hidden > 4096 {
            return Err(Error::Invalid(format!("hidden size {} is outside 1..=4096; try 256", self.hidden)));
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(Error::Invalid(format!("KL weight β = {} must be a number ≥ 0; 1 is the ELBO", self.beta)));
        }
        check_learning_rate(self.learning_rate)
    }

    /// The KL weight at step `step` (1-based) under the warm-up.
    pub fn kl_weight(&self, step: u32) -> f32 {
        if self.autoencoder {
            0.0
        } else if self.kl_warmup == 0 {
            self.beta
        } else {
            self.beta * (step as f32 / self.kl_warmup as f32).min(1.0)
        }
    }
}

/// Held-out figures, in nats per image.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Evaluation {
    /// Reconstruction term alone (Bernoulli likelihood of the pixels, continuous targets).
    pub heldout_reconstruction_nats: f64,
    /// −ELBO with one posterior sample per image (None for the autoencoder: no posterior).
    pub heldout_neg_elbo_nats: Option<f64>,
    /// Importance-weighted estimate of −log p(x) with k posterior samples.
    pub heldout_nll_iw_nats: Option<f64>,
}

pub struct Vae {
    pub config: VaeConfig,
    /// x → hidden → (m, σ) — or, for the autoencoder, x → hidden → z.
    pub encoder: Mlp,
    /// z → hidden → pixel logits.
    pub decoder: Mlp,
    pub image_len: usize,
    optimizer: Adam,
    batches: Stream,
    noise: Stream,
    pub monitor: Monitor,
}

impl Vae {
    pub fn new(gpu: &Gpu, config: VaeConfig, image_len: usize) -> Result<Vae> {
        config.validate()?;
        let mut init = stream(config.seed, Purpose::Init);
        let code = if config.autoencoder { config.latent } else { 2 * config.latent };
        let encoder = Mlp::new(
            gpu,
            "encoder",
            &[image_len, config.hidden, code],
            Activation::Relu,
            Activation::Identity,
            &mut init,
        )?;
        let decoder = Mlp::new(
            gpu,
            "decoder",
            &[config.latent, config.hidden, image_len],
            Activation::Relu,
            Activation::Identity,
            &mut init,
        )?;
        let optimizer = Adam::new(AdamConfig { lr: config.learning_rate, ..AdamConfig::default() })?;
        Ok(Vae {
            batches: stream(config.seed, Purpose::Batches),
            noise: stream(config.seed, Purpose::Noise),
            config,
            encoder,
            decoder,
            image_len,
            optimizer,
            monitor: Monitor::new(FIGURES, 10),
        })
    }

    pub fn params(&self) -> Vec<Rc<Param>> {
        let mut params = self.encoder.params();
        params.extend(self.decoder.params());
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

    /// One step of Adam on a minibatch drawn on the GPU: forward, backward and update,
    /// recorded and submitted as one command buffer. Figures reach `self.monitor` later.
    pub fn train_step(&mut self, gpu: &Gpu, data: &DeviceDataset) -> Result<()> {
        check_batch(self.config.batch, data.train.count)?;
        if data.image_len() != self.image_len {
            return Err(Error::Invalid(format!(
                "this VAE was made for images of {} values, the dataset has {}",
                self.image_len,
                data.image_len()
            )));
        }
        let step = self.steps() + 1;
        let batch = self.config.batch;
        let x = data.train.sample(gpu, &mut self.batches, batch)?.reshape([batch, self.image_len])?;

        // loss = reconstruction + β·KL: the tape's loss roots, the KL recorded with weight β
        // (warming up) and the reconstruction with 1. The autoencoder has no KL.
        let tape = Tape::new(gpu);
        let input = tape.constant(&x);
        let code = self.encoder.forward(&tape, input)?;
        let (z, kl) = if self.config.autoencoder {
            (code, None)
        } else {
            let noise = self.noise.take(batch * self.config.latent);
            let (z, kl) = reparameterize(&tape, code, noise, self.config.kl_weight(step))?;
            (z, Some(kl))
        };
        let logits = self.decoder.forward(&tape, z)?;
        let reconstruction = tape.bce_with_logits(logits, &x, 1.0)?;
        tape.backward()?;
        self.optimizer.step(gpu, &self.params())?;

        if self.monitor.wants(step) {
            let shown: Vec<Var> = [Some(reconstruction), kl].into_iter().flatten().collect();
            let report = tape.loss_report(&shown)?;
            // The autoencoder's KL figure stays 0.
            let figures = Tensor::zeros(gpu, [FIGURES.len()])?;
            gpu.copy_region(&report, 0, &figures, 0, report.len())?;
            self.monitor.schedule(gpu, step, &figures);
        }
        gpu.submit();
        self.monitor.poll()
    }

    /// The encoder's output for `x [n, image_len]`: `[n, 2D]` (means, then log-variances)
    /// for the VAE, `[n, D]` codes for the autoencoder.
    pub fn encode_stats(&self, gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
        let tape = Tape::new(gpu);
        let input = tape.constant(x);
        Ok(tape.value(self.encoder.forward(&tape, input)?))
    }

    /// The code of each image: the posterior mean m (VAE) or the code (autoencoder).
    pub async fn encode(&self, gpu: &Gpu, x: &Tensor) -> Result<Vec<Vec<f32>>> {
        let stats = self.encode_stats(gpu, x)?;
        let width = stats.shape().as_matrix().1;
        let values = stats.to_vec(gpu).await?;
        Ok(values.chunks(width).map(|row| row[..self.config.latent].to_vec()).collect())
    }

    /// Pixel probabilities `[n, image_len]` for codes `z [n, D]`, left on the GPU.
    pub fn decode(&self, gpu: &Gpu, z: &Tensor) -> Result<Tensor> {
        if z.shape().as_matrix().1 != self.config.latent {
            return Err(Error::BadShape {
                op: "decode",
                why: format!("codes must have {} columns", self.config.latent),
                shape: z.shape().clone(),
            });
        }
        let tape = Tape::new(gpu);
        let code = tape.constant(z);
        let logits = tape.value(self.decoder.forward(&tape, code)?);
        elementwise::bias_act(gpu, &logits, None, Activation::Sigmoid)
    }

    /// Decodes host-side codes (rows of D values).
    pub fn decode_codes(&self, gpu: &Gpu, codes: &[Vec<f32>]) -> Result<Tensor> {
        let flat: Vec<f32> = codes.iter().flatten().copied().collect();
        if codes.is_empty() || flat.len() != codes.len() * self.config.latent {
            return Err(Error::Invalid(format!("decode: need codes of {} values each", self.config.latent)));
        }
        let z = Tensor::from_slice(gpu, [codes.len(), self.config.latent], &flat)?;
        self.decode(gpu, &z)
    }

    /// `steps` points on the segment between the codes of the two images of `pair`
    /// (`[2, image_len]`), decoded: `[steps, image_len]` on the GPU. The codes never come to
    /// the CPU: the segment is one small product W·codes, W's rows (1 − t, t), so that a
    /// page redrawing its strips does not wait for a readback while training is queued.
    pub fn interpolate(&self, gpu: &Gpu, pair: &Tensor, steps: usize) -> Result<Tensor> {
        if pair.shape().as_matrix().0 != 2 || steps < 2 {
            return Err(Error::Invalid("interpolate: give two images and at least 2 steps".into()));
        }
        let stats = self.encode_stats(gpu, pair)?;
        let (width, latent) = (stats.shape().as_matrix().1, self.config.latent);
        // The means (the VAE's first D columns; all of the autoencoder's code).
        let codes = Tensor::uninit(gpu, [2, latent])?;
        gpu.copy_region(&stats, 0, &codes, 0, latent)?;
        gpu.copy_region(&stats, width, &codes, latent, latent)?;
        let weights: Vec<f32> = (0..steps)
            .flat_map(|i| {
                let t = i as f32 / (steps - 1) as f32;
                [1.0 - t, t]
            })
            .collect();
        let weights = Tensor::from_slice(gpu, [steps, 2], &weights)?;
        let path = matmul::matmul(gpu, &weights, &codes, Transpose::NONE, Epilogue::default())?;
        self.decode(gpu, &path)
    }

    /// `count` images decoded from z ~ N(0, I).
    pub fn sample(&self, gpu: &Gpu, stream: Stream, count: usize) -> Result<Tensor> {
        let z = rng::normal(gpu, stream, [count, self.config.latent], 0.0, 1.0)?;
        self.decode(gpu, &z)
    }

    /// Held-out reconstruction, −ELBO and the importance-weighted −log p(x) with `k`
    /// samples (Burda et al. 2016):  log p(x) ≈ log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x).
    pub async fn evaluate(&self, gpu: &Gpu, heldout: &DeviceRows, k: usize, max_images: usize) -> Result<Evaluation> {
        let images = heldout.count.min(max_images.max(1));
        let seed = stream(self.config.seed, Purpose::Evaluation);
        let mut eval_stream = seed;
        let (mut recon_total, mut elbo_total, mut iw_total) = (0.0f64, 0.0f64, 0.0f64);
        let chunk = 64usize;
        for start in (0..images).step_by(chunk) {
            let n = chunk.min(images - start);
            let x = heldout.range(gpu, start, n)?.reshape([n, self.image_len])?;
            // One posterior sample: −ELBO = reconstruction + KL.
            let (recon, kl) = self.reconstruction_rows(gpu, &x, Some(eval_stream.take(n * self.config.latent)))?;
            let recon = recon.to_vec(gpu).await?;
            recon_total += recon.iter().map(|&v| v as f64).sum::<f64>();
            if let Some(kl) = kl {
                let kl = kl.to_vec(gpu).await?;
                elbo_total += recon.iter().zip(&kl).map(|(&r, &q)| (r + q) as f64).sum::<f64>();
            }
            if !self.config.autoencoder && k > 0 {
                iw_total += self.importance_weighted(gpu, heldout, start, n, k, &mut eval_stream).await?;
            }
        }
        let per = |total: f64| total / images as f64;
        let vae = !self.config.autoencoder;
        Ok(Evaluation {
            heldout_reconstruction_nats: per(recon_total),
            heldout_neg_elbo_nats: vae.then(|| per(elbo_total)),
            heldout_nll_iw_nats: (vae && k > 0).then(|| per(iw_total)),
        })
    }

    /// Per-row reconstruction loss (nats) and, for the VAE, per-row KL, for `x` coded with
    /// `noise` (None: decode the mean).
    fn reconstruction_rows(&self, gpu: &Gpu, x: &Tensor, noise: Option<Stream>) -> Result<(Tensor, Option<Tensor>)> {
        let stats = self.encode_stats(gpu, x)?;
        let (z, kl) = if self.config.autoencoder {
            (stats, None)
        } else {
            let sampled = reparam::reparameterize(gpu, &stats, noise)?;
            (sampled.z, Some(sampled.kl_rows))
        };
        let tape = Tape::new(gpu);
        let code = tape.constant(&z);
        let logits = tape.value(self.decoder.forward(&tape, code)?);
        let loss = crate::kernels::loss::bce_with_logits(gpu, &logits, x, 0.0)?;
        Ok((loss.loss_rows, kl))
    }

    /// Σ over held-out rows `start..start+n` of −log p̂(x) from `k` importance samples each.
    async fn importance_weighted(
        &self,
        gpu: &Gpu,
        heldout: &DeviceRows,
        start: usize,
        n: usize,
        k: usize,
        noise: &mut Stream,
    ) -> Result<f64> {
        let d = self.config.latent;
        // Each image repeated k times, so one pass scores all k samples of it.
        let ids: Vec<u32> = (start..start + n).flat_map(|i| std::iter::repeat_n(i as u32, k)).collect();
        let x = heldout.select(gpu, &ids)?.reshape([n * k, self.image_len])?;
        let stats = self.encode_stats(gpu, &x)?;
        let sampled = reparam::reparameterize(gpu, &stats, Some(noise.take(n * k * d)))?;
        let tape = Tape::new(gpu);
        let code = tape.constant(&sampled.z);
        let logits = tape.value(self.decoder.forward(&tape, code)?);
        let recon = crate::kernels::loss::bce_with_logits(gpu, &logits, &x, 0.0)?.loss_rows;
        let (recon, stats, z, e) = (
            recon.to_vec(gpu).await?,
            stats.to_vec(gpu).await?,
            sampled.z.to_vec(gpu).await?,
            sampled.noise.to_vec(gpu).await?,
        );
        let mut total = 0.0;
        for image in 0..n {
            let log_w: Vec<f64> = (0..k)
                .map(|s| {
                    let row = image * k + s;
                    let logvar = &stats[row * 2 * d + d..(row + 1) * 2 * d];
                    // log p(z) − log q(z|x); the 2π terms cancel.
                    let prior: f64 = z[row * d..(row + 1) * d].iter().map(|&v| -0.5 * (v as f64).powi(2)).sum();
                    let posterior: f64 = e[row * d..(row + 1) * d]
                        .iter()
                        .zip(logvar)
                        .map(|(&e, &s)| {
                            let s = (s as f64).clamp(reparam::LOGVAR_MIN as f64, reparam::LOGVAR_MAX as f64);
                            -0.5 * ((e as f64).powi(2) + s)
                        })
                        .sum();
                    -(recon[row] as f64) + prior - posterior
                })
                .collect();
            total -= log_sum_exp(&log_w) - (k as f64).ln();
        }
        Ok(total)
    }
}

/// The reparameterisation trick on the tape: z = m + exp(σ/2)·e from the encoder's `stats`
/// (e number `row·D + j` of `noise`), and the KL term, a loss root holding each row's
/// KL(N(m, exp σ) ‖ N(0, I)), whose mean enters the loss with `kl_weight`. One fused launch
/// forward; one backward, which sends d stats of both z's path and the KL.
pub fn reparameterize(tape: &Tape, stats: Var, noise: Stream, kl_weight: f32) -> Result<(Var, Var)> {
    let stats_value = tape.value(stats);
    let sampled = reparam::reparameterize(tape.gpu(), &stats_value, Some(noise))?;
    let noise = sampled.noise;
    Ok(tape.custom_with_loss(sampled.z, sampled.kl_rows, kl_weight, move |tape, dz, kl_row_grad| {
        let dstats = reparam::reparameterize_backward(tape.gpu(), &stats_value, &noise, dz.as_ref(), kl_row_grad)?;
        tape.send_grad(stats, &dstats)
    }))
}

/// Codes on an n×n grid over [−extent, extent]² (2-D latents): the latent map, row-major
/// with the second dimension growing to the right and the first growing downwards.
pub fn latent_grid(n: usize, extent: f32) -> Vec<Vec<f32>> {
    let at = |i: usize| -extent + 2.0 * extent * i as f32 / (n - 1).max(1) as f32;
    (0..n).flat_map(|r| (0..n).map(move |c| vec![at(r), at(c)])).collect()
}

impl Resumable for Vae {
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
        vec![self.steps() as u64, self.batches.offset, self.noise.offset]
    }

    fn resume_counters(&mut self, counters: &[u64]) -> Result<()> {
        let &[steps, batches, noise] = counters else {
            return Err(Error::Invalid("the checkpoint's counters are not a VAE's".into()));
        };
        self.optimizer.resume_at(steps as u32);
        (self.batches.offset, self.noise.offset) = (batches, noise);
        self.monitor.rewind(steps as u32);
        Ok(())
    }
}

impl Model for Vae {
    type Header = VaeHeader;
    type Config = VaeConfig;
    const TAG: &'static str = "vae";
    const NAME: &'static str = "VAE";
    const TRAINING_STEPS: u32 = 3000;

    crate::field_accessors!(monitor, monitor_mut: Monitor);

    fn for_dataset(gpu: &Gpu, config: VaeConfig, data: &Dataset) -> Result<Vae> {
        Vae::new(gpu, config, data.image_len())
    }

    /// Decoded codes drawn from the prior N(0, I).
    async fn draw(&self, gpu: &Gpu, _: &VaeHeader, sampling: Stream, count: usize) -> Result<Vec<f32>> {
        self.sample(gpu, sampling, count)?.to_vec(gpu).await
    }

    fn train_step(&mut self, gpu: &Gpu, data: &DeviceDataset) -> Result<()> {
        Vae::train_step(self, gpu, data)
    }

    fn header(&self, data: &Dataset, steps: u32) -> VaeHeader {
        ImageHeader::new(&self.config, data, steps)
    }

    fn save<'a>(&'a self, source: Source<'a>, header: &'a VaeHeader) -> impl Future<Output = Result<Vec<u8>>> + 'a {
        Vae::save(self, source, header)
    }

    fn load(gpu: &Gpu, bytes: &[u8]) -> Result<(Vae, VaeHeader)> {
        Vae::load(gpu, bytes)
    }
}

/// What a saved VAE needs besides its tensors: the config and the image geometry.
pub type VaeHeader = ImageHeader<VaeConfig>;

impl Vae {
    /// A safetensors file: `encoder.{0,1}.{weight,bias}`, `decoder.{0,1}.{weight,bias}`, and
    /// metadata `model` = `vae` and `header` = the [`VaeHeader`] as JSON.
    pub async fn save(&self, source: impl Into<Source<'_>>, header: &VaeHeader) -> Result<Vec<u8>> {
        let json = header_json(header)?;
        crate::nn::checkpoint::save(source.into(), &self.params(), &[("model", Self::TAG), ("header", &json)]).await
    }

    /// A VAE rebuilt from a file written by [`Vae::save`], with fresh optimiser state.
    pub fn load(gpu: &Gpu, bytes: &[u8]) -> Result<(Vae, VaeHeader)> {
        let (_, header) = read_header::<Vae>(bytes)?;
        let vae = Vae::new(gpu, header.config.clone(), header.height * header.width * header.channels)?;
        crate::nn::checkpoint::load(gpu, &vae.params(), bytes)?;
        Ok((vae, header))
    }
}
