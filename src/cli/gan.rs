//! `genlab train gan`.

use std::path::Path;

use clap::Args;
use genlab::gpu::{block_on, Gpu, Readback};
use genlab::models::gan::{Gan, GanConfig, GanOutput, Upsampler, FIXED_SAMPLES};
use genlab::models::metrics::{coarse, precision_recall, PrecisionRecall, COARSE_CELL, DEFAULT_K};
use genlab::models::Model;
use genlab::models::{stream, Purpose};
use genlab::{Error, Result};

use super::data::{sheet_png, write};
use super::progress::Progress;
use super::train::{self, Extras, Run, TrainArgs};

/// Fixed-noise images per row of progress.png.
const PROGRESS_COLUMNS: usize = 16;
/// Shares of training after which progress.png gets a row (0 = the untrained generator).
const PROGRESS_AT: [f64; 5] = [0.0, 0.1, 0.25, 0.5, 1.0];

#[derive(Args)]
pub struct TrainGan {
    #[command(flatten)]
    pub common: TrainArgs<Gan>,
    /// Learning rate of both networks (default: the generator's 5e-4 and the
    /// discriminator's 2e-3; see --g-lr, --d-lr).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Generated and real images compared for precision and recall.
    #[arg(long, default_value_t = 1000)]
    pub pr_samples: usize,
}

/// What `genlab train gan` adds to the shared figures.
#[derive(serde::Serialize)]
pub struct TrainFigures {
    d_loss: Option<f32>,
    g_loss: Option<f32>,
    d_real: Option<f32>,
    d_fake: Option<f32>,
    /// In pixel space.
    precision: f64,
    recall: f64,
    precision_untrained: f64,
    recall_untrained: f64,
    /// On coarse images (COARSE_CELL-pixel squares averaged; see models::metrics).
    coarse_precision: f64,
    coarse_recall: f64,
    coarse_precision_untrained: f64,
    coarse_recall_untrained: f64,
    /// The same four figures for held-out real images in place of generated ones (absent
    /// when the held-out split is too small).
    heldout_precision: Option<f64>,
    heldout_recall: Option<f64>,
    heldout_coarse_precision: Option<f64>,
    heldout_coarse_recall: Option<f64>,
    heldout_images: usize,
    pr_samples: usize,
    z_dim: usize,
    hidden: usize,
    batch: usize,
    d_steps: u32,
    g_lr: f32,
    d_lr: f32,
    real_label: f32,
    g_ema: f32,
    d_conv_channels: usize,
    g_conv_channels: usize,
    g_upsampler: Upsampler,
    d_minibatch_stddev: bool,
    d_spectral_norm: bool,
    g_pixel_norm: bool,
}

/// `genlab train gan`: precision and recall before and after training (and of held-out
/// images, for scale), the fixed noise's images along the run, the generator file, samples
/// and latent walks.
pub fn train(gpu: &Gpu, args: &TrainGan) -> Result<()> {
    let mut progress_at: Vec<u32> = PROGRESS_AT.iter().map(|f| (f * args.common.steps as f64).round() as u32).collect();
    progress_at.dedup();
    train::train(gpu, &args.common, GanRun { args, progress_at, progress_rows: Vec::new(), untrained: None })
}

/// A `genlab train gan` under way.
struct GanRun<'a> {
    args: &'a TrainGan,
    /// Steps after which progress.png gets a row.
    progress_at: Vec<u32>,
    /// Its rows, recorded into the next step's submission and read when training is over.
    progress_rows: Vec<Readback>,
    /// What was measured before the first step.
    untrained: Option<Untrained>,
}

/// Precision and recall before training, against the first `pr_count` training images.
struct Untrained {
    pr_count: usize,
    /// Those images, which the trained generator is measured against too.
    real: Vec<f32>,
    generated: Scores,
    /// What a perfect generator would score: held-out real images in place of generated
    /// ones (none when the held-out split is too small).
    heldout: Option<Scores>,
    heldout_count: usize,
}

impl GanRun<'_> {
    /// Records a row of progress.png when `gan` has just reached a step that gets one.
    fn record_progress(&mut self, gpu: &Gpu, gan: &Gan) -> Result<()> {
        if self.progress_at.contains(&gan.steps()) {
            let columns = PROGRESS_COLUMNS.min(FIXED_SAMPLES);
            let row = gan.fixed_samples(gpu)?.reshape([FIXED_SAMPLES, gan.data_len])?;
            let first = genlab::Tensor::uninit(gpu, [columns * gan.data_len])?;
            gpu.copy_region(&row, 0, &first, 0, columns * gan.data_len)?;
            self.progress_rows.push(gpu.read_later(&first));
        }
        Ok(())
    }
}

impl Extras<Gan> for GanRun<'_> {
    type Figures = TrainFigures;

    /// `--lr` sets both networks' rates, except where `--g-lr` or `--d-lr` says otherwise.
    fn config(&self, flags: &GanConfig) -> Result<GanConfig> {
        let mut config = GanConfig { output: GanOutput::Sigmoid, ..flags.clone() };
        if let Some(lr) = self.args.lr {
            if !self.args.common.model.given("g-lr") {
                config.g_learning_rate = lr;
            }
            if !self.args.common.model.given("d-lr") {
                config.d_learning_rate = lr;
            }
        }
        Ok(config)
    }

    fn before(&mut self, gpu: &Gpu, run: &Run<Gan>) -> Result<()> {
        let (gan, dataset) = (&run.model, &run.dataset);
        let training = dataset.train_indices();
        let pr_count = self.args.pr_samples.min(training.len());
        if pr_count <= DEFAULT_K {
            return Err(Error::Invalid(format!(
                "--pr-samples {} leaves {pr_count} images: precision and recall need at least {}",
                self.args.pr_samples,
                DEFAULT_K + 1
            )));
        }
        let real = dataset.subset(&training[..pr_count]).pixels;
        let geometry = (dataset.height, dataset.width, dataset.channels);
        let heldout = dataset.heldout();
        let heldout_count = pr_count.min(heldout.count);
        self.untrained = Some(Untrained {
            pr_count,
            generated: measure(gpu, gan, &real, pr_count, geometry)?,
            heldout: (heldout_count > DEFAULT_K)
                .then(|| scores(&real, &heldout.pixels[..heldout_count * dataset.image_len()], geometry))
                .transpose()?,
            heldout_count,
            real,
        });
        self.record_progress(gpu, gan)
    }

    fn after_step(&mut self, gpu: &Gpu, gan: &Gan, progress: &Progress) -> Result<()> {
        self.record_progress(gpu, gan)?;
        if let Some(r) = gan.monitor.latest() {
            let [d_loss, g_loss, d_real, d_fake] = ["d_loss", "g_loss", "d_real", "d_fake"].map(|f| r.figure(f));
            progress
                .set_message(format!("D loss {d_loss:.2}  G loss {g_loss:.2}  D(x) {d_real:.2}  D(G(z)) {d_fake:.2}"));
        }
        Ok(())
    }

    /// The sampling generator alone, a third of the full file.
    fn save(&self, gpu: &Gpu, run: &Run<Gan>, out: &Path) -> Result<()> {
        let header = run.model.header(&run.dataset, run.model.steps());
        write(&out.join("generator.safetensors"), &block_on(run.model.save_generator(gpu, &header))?)
    }

    fn finish(self, gpu: &Gpu, run: &Run<Gan>, args: &TrainArgs<Gan>) -> Result<TrainFigures> {
        let Run { model: gan, dataset, .. } = run;
        let untrained = self.untrained.expect("before() measures the untrained generator");
        let out = &args.run.out;
        let (h, w, c) = (dataset.height, dataset.width, dataset.channels);
        let mut rows = Vec::new();
        for readback in self.progress_rows {
            rows.extend(block_on(readback.wait())?);
        }
        write(&out.join("progress.png"), &sheet_png(&rows, h, w, c, PROGRESS_COLUMNS.min(FIXED_SAMPLES))?)?;
        let fixed = block_on(gan.fixed_samples(gpu)?.to_vec(gpu))?;
        write(&out.join("samples.png"), &sheet_png(&fixed, h, w, c, 8)?)?;
        let walks = block_on(latent_walks(gpu, gan, 8, 10))?;
        write(&out.join("walk.png"), &sheet_png(&walks, h, w, c, 10)?)?;

        let trained = measure(gpu, gan, &untrained.real, untrained.pr_count, (h, w, c))?;
        if trained.coarse.looks_collapsed() {
            eprintln!(
                "genlab: warning: coarse recall {:.3} with precision {:.3}: the samples look real but cover \
                 little of the data (mode collapse?). Try more --steps, another --seed, or --real-label 0.9.",
                trained.coarse.recall, trained.coarse.precision
            );
        }
        let mean = |name| gan.monitor.recent_mean(name, 10);
        let (before, heldout) = (&untrained.generated, &untrained.heldout);
        Ok(TrainFigures {
            d_loss: mean("d_loss"),
            g_loss: mean("g_loss"),
            d_real: mean("d_real"),
            d_fake: mean("d_fake"),
            precision: trained.pixels.precision,
            recall: trained.pixels.recall,
            precision_untrained: before.pixels.precision,
            recall_untrained: before.pixels.recall,
            coarse_precision: trained.coarse.precision,
            coarse_recall: trained.coarse.recall,
            coarse_precision_untrained: before.coarse.precision,
            coarse_recall_untrained: before.coarse.recall,
            heldout_precision: heldout.as_ref().map(|r| r.pixels.precision),
            heldout_recall: heldout.as_ref().map(|r| r.pixels.recall),
            heldout_coarse_precision: heldout.as_ref().map(|r| r.coarse.precision),
            heldout_coarse_recall: heldout.as_ref().map(|r| r.coarse.recall),
            heldout_images: untrained.heldout_count,
            pr_samples: untrained.pr_count,
            z_dim: gan.config.z_dim,
            hidden: gan.config.hidden,
            batch: gan.config.batch,
            d_steps: gan.config.d_steps,
            g_lr: gan.config.g_learning_rate,
            d_lr: gan.config.d_learning_rate,
            real_label: gan.config.real_label,
            g_ema: gan.config.g_ema,
            d_conv_channels: gan.config.d_conv_channels,
            g_conv_channels: gan.config.g_conv_channels,
            g_upsampler: gan.config.g_upsampler,
            d_minibatch_stddev: gan.config.d_minibatch_stddev,
            d_spectral_norm: gan.config.d_spectral_norm,
            g_pixel_norm: gan.config.g_pixel_norm,
        })
    }
}

/// Precision and recall on pixels and on coarse images.
struct Scores {
    pixels: PrecisionRecall,
    coarse: PrecisionRecall,
}

/// Precision and recall of `count` generated images (the seed's evaluation stream) against
/// the `count` real images `real`, of `height × width × channels`.
fn measure(gpu: &Gpu, gan: &Gan, real: &[f32], count: usize, geometry: (usize, usize, usize)) -> Result<Scores> {
    let generated = gan.sample(gpu, stream(gan.config.seed, Purpose::Evaluation), count)?;
    scores(real, &block_on(generated.to_vec(gpu))?, geometry)
}

/// Precision and recall of the images `generated` against the images `real`.
fn scores(real: &[f32], generated: &[f32], (h, w, c): (usize, usize, usize)) -> Result<Scores> {
    let cells = h.div_ceil(COARSE_CELL) * w.div_ceil(COARSE_CELL) * c;
    Ok(Scores {
        pixels: precision_recall(real, generated, h * w * c, DEFAULT_K)?,
        coarse: precision_recall(
            &coarse(real, h, w, c, COARSE_CELL)?,
            &coarse(generated, h, w, c, COARSE_CELL)?,
            cells,
            DEFAULT_K,
        )?,
    })
}

/// `rows` latent walks of `steps` images each, between consecutive pairs of fixed noise
/// vectors.
async fn latent_walks(gpu: &Gpu, gan: &Gan, rows: usize, steps: usize) -> Result<Vec<f32>> {
    let z = gan.config.z_dim;
    let noise = gan.fixed_noise().to_vec(gpu).await?;
    let mut out = Vec::new();
    for r in 0..rows.min(FIXED_SAMPLES / 2) {
        let (a, b) = (&noise[2 * r * z..(2 * r + 1) * z], &noise[(2 * r + 1) * z..(2 * r + 2) * z]);
        out.extend(gan.latent_walk(gpu, a, b, steps)?.to_vec(gpu).await?);
    }
    Ok(out)
}
