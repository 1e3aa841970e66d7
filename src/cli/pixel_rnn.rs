//! `genlab train pixelrnn` and `genlab sample pixelrnn`.

use std::path::{Path, PathBuf};

use clap::Args;
use genlab::data::device::DeviceDataset;
use genlab::data::Dataset;
use genlab::gpu::{block_on, Gpu};
use genlab::models::pixel_rnn::{baselines, Baselines, Evaluation, MaskKind, PixelRnn, PixelRnnConfig, PixelRnnHeader};
use genlab::models::{stream, Purpose};
use genlab::{Error, Result};

use super::data::{create_dir, sheet_png, write, DataArgs};
use super::guard::{self, RunArgs, RunFigures};
use super::settings::ModelFlags;
use super::SampleArgs;

#[derive(Args, Debug)]
pub struct TrainPixelRnn {
    #[command(flatten)]
    pub data: DataArgs,
    /// Training steps (600 of the default model take about 8 minutes on lavapipe with two
    /// busy CPU cores).
    #[arg(long, default_value_t = 600)]
    pub steps: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub model: ModelFlags<PixelRnnConfig>,
    /// Leave out the row and column one-hot inputs (the network must count pixels itself).
    #[arg(long)]
    pub no_positions: bool,
    /// Sampling temperature for samples.png and completions.png (1 = the model's own
    /// distribution, lower = safer colours).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Held-out sprites scored for bits per pixel.
    #[arg(long, default_value_t = 1000)]
    pub eval_images: usize,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(serde::Serialize)]
struct Summary {
    #[serde(flatten)]
    run: RunFigures,
    /// Minibatch loss, nats per pixel (mean of the last 10 readings).
    train_loss: Option<f32>,
    train_bits_per_pixel: Option<f32>,
    #[serde(flatten)]
    evaluation: Evaluation,
    #[serde(flatten)]
    baselines: Baselines,
    classes: usize,
    height: usize,
    width: usize,
    hidden: usize,
    layers: usize,
    batch: usize,
    lr: f32,
    positions: bool,
    dispatches_per_step: usize,
    adapter: String,
}

pub fn train(gpu: &Gpu, args: TrainPixelRnn) -> Result<()> {
    let dataset = args.data.load()?;
    let config = PixelRnnConfig { seed: args.seed, positions: !args.no_positions, ..args.model.config.clone() };
    let mut model = PixelRnn::for_dataset(gpu, config, &dataset)?;
    let data = DeviceDataset::upload(gpu, &dataset)?;
    genlab::models::check_batch(model.config.batch, data.train.count)?;
    let palette = dataset.palette.clone().expect("PixelRnn::for_dataset refuses datasets without a palette");
    create_dir(&args.run.out)?;

    let ran = guard::train(gpu, &mut model, &data, args.steps, &args.run.guard, "pixelrnn", |model, progress| {
        if let (Some(nats), Some(bits)) =
            (model.monitor.latest_value("loss"), model.monitor.latest_value("bits_per_pixel"))
        {
            progress.set_message(format!("loss {nats:.3} nats = {bits:.3} bits/pixel"));
        }
        Ok(())
    });
    let seconds = ran.save(gpu, &model, &dataset, &args.run.out)?;
    let evaluation = block_on(model.evaluate(gpu, &data, args.eval_images))?;
    let baselines = baselines(&dataset, args.eval_images)?;

    let mut sampling = stream(args.seed, Purpose::Sampling);
    let seq = model.seq_len();
    let sampler = model.sampler(gpu, 64, args.temperature, sampling.take(64 * seq))?;
    let tokens = block_on(sampler.finish(gpu))?;
    write(
        &args.run.out.join("samples.png"),
        &sheet_png(&colours(&tokens, &palette), dataset.height, dataset.width, 3, 8)?,
    )?;
    let sheet = completion_sheet(gpu, &model, &dataset, &palette, args.temperature, sampling.take(36 * seq))?;
    write(&args.run.out.join("completions.png"), &sheet_png(&sheet, dataset.height, dataset.width, 3, 8)?)?;

    let summary = Summary {
        run: RunFigures::new("pixelrnn", &model, &dataset, args.steps, seconds),
        train_loss: model.monitor.recent_mean("loss", 10),
        train_bits_per_pixel: model.monitor.recent_mean("bits_per_pixel", 10),
        evaluation,
        baselines,
        classes: model.classes,
        height: model.height,
        width: model.width,
        hidden: model.config.hidden,
        layers: model.config.layers,
        batch: model.config.batch,
        lr: model.config.learning_rate,
        positions: model.config.positions,
        dispatches_per_step: model.gradient_dispatches(gpu) + 2 + 3 * model.config.layers + 2,
        adapter: gpu.summary().to_string(),
    };
    super::print_json(&summary)
}

/// Pixels in [0, 1] (`[n, 3]`) of palette tokens.
fn colours(tokens: &[u32], palette: &[[u8; 3]]) -> Vec<f32> {
    tokens.iter().flat_map(|&t| palette[t as usize].map(|v| v as f32 / 255.0)).collect()
}

/// Six held-out sprites, one per row: the original, what the model is shown (painted pixels
/// as a grey checkerboard), and six completions of the bottom half.
fn completion_sheet(
    gpu: &Gpu,
    model: &PixelRnn,
    dataset: &Dataset,
    palette: &[[u8; 3]],
    temperature: f32,
    sampling: genlab::kernels::rng::Stream,
) -> Result<Vec<f32>> {
    const SPRITES: usize = 6;
    const COPIES: usize = 6;
    let heldout = dataset.heldout();
    let n = heldout.count.min(SPRITES);
    let picks: Vec<usize> = (0..n).map(|i| i * heldout.count / n).collect();
    // The model was made for this dataset, and PixelRnn::for_dataset refuses one without indices.
    let sprites: Vec<u8> =
        picks.iter().flat_map(|&i| heldout.image_indices(i).expect("palette dataset").to_vec()).collect();
    let (height, width) = (dataset.height, dataset.width);
    let paint = MaskKind::BottomHalf.mask(height, width);
    let completions = block_on(model.completer(gpu, &sprites, &paint, COPIES, temperature, sampling)?.finish(gpu))?;
    let seq = height * width;
    let mut sheet = Vec::new();
    for (s, sprite) in sprites.chunks(seq).enumerate() {
        let original: Vec<u32> = sprite.iter().map(|&c| c as u32).collect();
        sheet.extend(colours(&original, palette));
        for (t, &c) in sprite.iter().enumerate() {
            if paint[t] {
                let grey = if (t / width + t % width) % 2 == 0 { 0.55 } else { 0.75 };
                sheet.extend([grey; 3]);
            } else {
                sheet.extend(palette[c as usize].map(|v| v as f32 / 255.0));
            }
        }
        sheet.extend(colours(&completions[s * COPIES * seq..(s + 1) * COPIES * seq], palette));
    }
    Ok(sheet)
}

fn parse_mask(s: &str) -> Result<MaskKind> {
    s.parse()
}

#[derive(Args, Debug)]
pub struct SamplePixelRnn {
    #[command(flatten)]
    pub sample: SampleArgs,
    /// A data.safetensors from `genlab dataset`: complete its held-out sprites instead of
    /// painting new ones (--count completions, cycling through them).
    #[arg(long)]
    pub complete: Option<PathBuf>,
    /// Which pixels to paint when completing.
    #[arg(long, default_value = "bottom-half", value_parser = parse_mask)]
    pub mask: MaskKind,
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
}

pub fn sample(gpu: &Gpu, args: SamplePixelRnn) -> Result<()> {
    let (model, header) = PixelRnn::load(gpu, &args.sample.read_weights()?)?;
    let SampleArgs { count, seed, out, .. } = args.sample;
    let (height, width) = (header.height, header.width);
    let seq = height * width;
    let sampling = stream(seed, Purpose::Sampling);
    let (tokens, mask) = match &args.complete {
        None => (block_on(model.sampler(gpu, count, args.temperature, sampling)?.finish(gpu))?, None),
        Some(path) => {
            let sprites = heldout_sprites(path, &header, count)?;
            let paint = args.mask.mask(height, width);
            let sampler = model.completer(gpu, &sprites, &paint, 1, args.temperature, sampling)?;
            (block_on(sampler.finish(gpu))?, Some(paint))
        }
    };
    let indices: Vec<u8> = tokens.iter().map(|&t| t as u8).collect();
    let rgb: Vec<u8> = tokens.iter().flat_map(|&t| header.palette[t as usize]).collect();
    let n = count;
    let mut tensors = vec![("indices", vec![n, height, width], indices), ("rgb", vec![n, height, width, 3], rgb)];
    if let Some(paint) = mask {
        let repeated: Vec<u8> = (0..n).flat_map(|_| paint.iter().map(|&p| p as u8)).collect();
        tensors.push(("mask", vec![n, height, width], repeated));
    }
    write_u8_tensors(&out, &tensors)?;
    let what = match &args.complete {
        Some(_) => format!("completions ({})", args.mask.name()),
        None => "samples".into(),
    };
    eprintln!("{n} PixelRNN {what} of {height}×{width} → {}", out.display());
    debug_assert_eq!(tokens.len(), n * seq);
    Ok(())
}

/// `count` held-out sprites of the dataset dump at `path` (cycling when there are fewer),
/// after checking that they are images this model can complete.
fn heldout_sprites(path: &Path, header: &PixelRnnHeader, count: usize) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::Invalid(format!("cannot read {}: {e}", path.display())))?;
    let dataset = genlab::data::dump::load_dataset(&bytes)?;
    let Some(palette) = &dataset.palette else {
        return Err(Error::Invalid(format!(
            "{} holds a {} dataset, which has no palette: the PixelRNN completes palette sprites",
            path.display(),
            dataset.kind
        )));
    };
    if (dataset.height, dataset.width) != (header.height, header.width) {
        return Err(Error::Invalid(format!(
            "{} holds {}×{} images; the model paints {}×{}",
            path.display(),
            dataset.height,
            dataset.width,
            header.height,
            header.width
        )));
    }
    if palette != &header.palette {
        return Err(Error::Invalid(format!(
            "{} uses another palette ({} colours) than the model was trained with ({} colours)",
            path.display(),
            palette.len(),
            header.palette.len()
        )));
    }
    let heldout = dataset.heldout();
    if heldout.count == 0 {
        return Err(Error::Invalid(format!("{} holds no held-out sprites", path.display())));
    }
    let mut sprites = Vec::new();
    for i in 0..count {
        let Some(indices) = heldout.image_indices(i % heldout.count) else {
            return Err(Error::Invalid(format!("{} has a palette but no palette indices per pixel", path.display())));
        };
        sprites.extend_from_slice(indices);
    }
    Ok(sprites)
}

/// A safetensors file of u8 tensors.
fn write_u8_tensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<u8>)]) -> Result<()> {
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::U8, shape.clone(), bytes)
                .map(|view| (*name, view))
                .map_err(|e| Error::Tensors(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let file = safetensors::serialize(views, None).map_err(|e| Error::Tensors(e.to_string()))?;
    write(path, &file)
}
