//! `genlab train gan` and `genlab sample gan`.

use clap::Args;
use genlab::data::device::DeviceDataset;
use genlab::gpu::{block_on, Gpu, Readback};
use genlab::models::gan::{Gan, GanConfig, GanOutput, SampleShape, Upsampler};
use genlab::models::metrics::{coarse, precision_recall, PrecisionRecall, COARSE_CELL, DEFAULT_K};
use genlab::models::Model;
use genlab::models::{stream, Purpose};
use genlab::{Error, Result};

use super::data::{create_dir, sheet_png, write, DataArgs};
use super::guard::{self, RunArgs, RunFigures};
use super::settings::ModelFlags;
use super::SampleArgs;

/// Fixed-noise images per row of progress.png.
const PROGRESS_COLUMNS: usize = 16;
/// Shares of training after which progress.png gets a row (0 = the untrained generator).
const PROGRESS_AT: [f64; 5] = [0.0, 0.1, 0.25, 0.5, 1.0];

#[derive(Args, Debug)]
pub struct TrainGan {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 6000)]
    pub steps: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub model: ModelFlags<GanConfig>,
    /// Learning rate of both networks (default: the generator's 5e-4 and the
    /// discriminator's 2e-3; see --g-lr, --d-lr).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Generated and real images compared for precision and recall.
    #[arg(long, default_value_t = 1000)]
    pub pr_samples: usize,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(serde::Serialize)]
struct Summary {
    #[serde(flatten)]
    run: RunFigures,
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
    adapter: String,
}

pub fn train(gpu: &Gpu, args: TrainGan) -> Result<()> {
    let dataset = args.data.load()?;
    // `--lr` sets both networks' rates, except where `--g-lr` or `--d-lr` says otherwise.
    let mut config = GanConfig { output: GanOutput::Sigmoid, seed: args.seed, ..args.model.config.clone() };
    if let Some(lr) = args.lr {
        if !args.model.given("g-lr") {
            config.g_learning_rate = lr;
        }
        if !args.model.given("d-lr") {
            config.d_learning_rate = lr;
        }
    }
    let data = DeviceDataset::upload(gpu, &dataset)?;
    genlab::models::check_batch(config.batch, data.train.count)?;
    let mut gan = Gan::new(gpu, config, SampleShape::image(dataset.height, dataset.width, dataset.channels))?;
    gan.start_from_mean(gpu, &dataset.train().mean_image())?;
    create_dir(&args.run.out)?;

    // Precision and recall against the first training images, before and after.
    let train_split = dataset.train();
    let pr_count = args.pr_samples.min(train_split.count);
    if pr_count <= DEFAULT_K {
        return Err(Error::Invalid(format!(
            "--pr-samples {} leaves {pr_count} images: precision and recall need at least {}",
            args.pr_samples,
            DEFAULT_K + 1
        )));
    }
    let real = &train_split.pixels[..pr_count * dataset.image_len()];
    let geometry = (dataset.height, dataset.width, dataset.channels);
    let untrained = measure(gpu, &gan, real, pr_count, geometry)?;
    // What a perfect generator would score: held-out real images in place of generated ones.
    let heldout = dataset.heldout();
    let heldout_count = pr_count.min(heldout.count);
    let reference = (heldout_count > DEFAULT_K)
        .then(|| scores(real, &heldout.pixels[..heldout_count * dataset.image_len()], geometry))
        .transpose()?;

    let progress_steps: Vec<u32> = {
        let mut at: Vec<u32> = PROGRESS_AT.iter().map(|f| (f * args.steps as f64).round() as u32).collect();
        at.dedup();
        at
    };
    let mut progress_rows: Vec<Readback> = Vec::new();
    let columns = PROGRESS_COLUMNS.min(genlab::models::gan::FIXED_SAMPLES);
    let read_progress = |gan: &Gan, progress_rows: &mut Vec<Readback>| -> Result<()> {
        if progress_steps.contains(&gan.steps()) {
            // Recorded into the next step's submission; read when training is over.
            let row = gan.fixed_samples(gpu)?.reshape([genlab::models::gan::FIXED_SAMPLES, gan.data_len])?;
            let first = genlab::Tensor::uninit(gpu, [columns * gan.data_len])?;
            gpu.copy_region(&row, 0, &first, 0, columns * gan.data_len)?;
            progress_rows.push(gpu.read_later(&first));
        }
        Ok(())
    };

    read_progress(&gan, &mut progress_rows)?;
    let ran = guard::train(gpu, &mut gan, &data, args.steps, &args.run.guard, "gan", |gan, progress| {
        read_progress(gan, &mut progress_rows)?;
        if let Some(r) = gan.monitor.latest() {
            let [d_loss, g_loss, d_real, d_fake] = ["d_loss", "g_loss", "d_real", "d_fake"].map(|f| r.figure(f));
            progress
                .set_message(format!("D loss {d_loss:.2}  G loss {g_loss:.2}  D(x) {d_real:.2}  D(G(z)) {d_fake:.2}"));
        }
        Ok(())
    });

    let (h, w, c) = (dataset.height, dataset.width, dataset.channels);
    let weights = guard::write_weights(gpu, &gan, &dataset, &args.run.out)?;
    let header = gan.header(&dataset, gan.steps());
    write(&args.run.out.join("generator.safetensors"), &block_on(gan.save_generator(gpu, &header))?)?;
    let seconds = ran.verdict(&weights)?;
    let mut rows = Vec::new();
    for readback in progress_rows {
        rows.extend(block_on(readback.wait())?);
    }
    write(&args.run.out.join("progress.png"), &sheet_png(&rows, h, w, c, columns)?)?;
    let fixed = block_on(gan.fixed_samples(gpu)?.to_vec(gpu))?;
    write(&args.run.out.join("samples.png"), &sheet_png(&fixed, h, w, c, 8)?)?;
    let walks = block_on(latent_walks(gpu, &gan, 8, 10))?;
    write(&args.run.out.join("walk.png"), &sheet_png(&walks, h, w, c, 10)?)?;

    let trained = measure(gpu, &gan, real, pr_count, geometry)?;
    if trained.coarse.looks_collapsed() {
        eprintln!(
            "genlab: warning: coarse recall {:.3} with precision {:.3}: the samples look real but cover \
             little of the data (mode collapse?). Try more --steps, another --seed, or --real-label 0.9.",
            trained.coarse.recall, trained.coarse.precision
        );
    }
    let mean = |name| gan.monitor.recent_mean(name, 10);
    let summary = Summary {
        run: RunFigures::new("gan", &gan, &dataset, args.steps, seconds),
        d_loss: mean("d_loss"),
        g_loss: mean("g_loss"),
        d_real: mean("d_real"),
        d_fake: mean("d_fake"),
        precision: trained.pixels.precision,
        recall: trained.pixels.recall,
        precision_untrained: untrained.pixels.precision,
        recall_untrained: untrained.pixels.recall,
        coarse_precision: trained.coarse.precision,
        coarse_recall: trained.coarse.recall,
        coarse_precision_untrained: untrained.coarse.precision,
        coarse_recall_untrained: untrained.coarse.recall,
        heldout_precision: reference.as_ref().map(|r| r.pixels.precision),
        heldout_recall: reference.as_ref().map(|r| r.pixels.recall),
        heldout_coarse_precision: reference.as_ref().map(|r| r.coarse.precision),
        heldout_coarse_recall: reference.as_ref().map(|r| r.coarse.recall),
        heldout_images: heldout_count,
        pr_samples: pr_count,
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
        adapter: gpu.summary().to_string(),
    };
    super::print_json(&summary)
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
    for r in 0..rows.min(genlab::models::gan::FIXED_SAMPLES / 2) {
        let (a, b) = (&noise[2 * r * z..(2 * r + 1) * z], &noise[(2 * r + 1) * z..(2 * r + 2) * z]);
        out.extend(gan.latent_walk(gpu, a, b, steps)?.to_vec(gpu).await?);
    }
    Ok(out)
}

pub fn sample(gpu: &Gpu, args: SampleArgs) -> Result<()> {
    let (gan, header) = Gan::load(gpu, &args.read_weights()?)?;
    if gan.config.output != GanOutput::Sigmoid {
        return Err(Error::Invalid("these weights generate points, not images: nothing to write as rgb".into()));
    }
    let images = gan.sample(gpu, stream(args.seed, Purpose::Sampling), args.count)?;
    args.write_images(gpu, &images, &header, "GAN")
}
