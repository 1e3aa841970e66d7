//! `genlab train pixelrnn` and `genlab sample pixelrnn`.

use std::path::{Path, PathBuf};

use clap::Args;
use genlab::data::Dataset;
use genlab::gpu::{block_on, Gpu};
use genlab::models::pixel_rnn::{baselines, Baselines, Evaluation, MaskKind, PixelRnn, PixelRnnConfig, PixelRnnHeader};
use genlab::models::{stream, Model, Purpose};
use genlab::{Error, Result};

use super::data::{sheet_png, write};
use super::progress::Progress;
use super::sample::{write_u8_tensors, SampleArgs};
use super::train::{Extras, Run, TrainArgs};

#[derive(Args)]
pub struct TrainPixelRnn {
    #[command(flatten)]
    pub common: TrainArgs<PixelRnn>,
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
}

/// What `genlab train pixelrnn` adds to the shared figures.
#[derive(serde::Serialize)]
pub struct TrainFigures {
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
}

/// `genlab train pixelrnn`: bits per pixel on held-out sprites beside two baselines, new
/// sprites and completions of held-out ones.
impl Extras<PixelRnn> for &TrainPixelRnn {
    type Figures = TrainFigures;

    fn config(&self, flags: &PixelRnnConfig) -> Result<PixelRnnConfig> {
        Ok(PixelRnnConfig { positions: !self.no_positions, ..flags.clone() })
    }

    fn after_step(&mut self, _: &Gpu, model: &PixelRnn, progress: &Progress) -> Result<()> {
        if let (Some(nats), Some(bits)) =
            (model.monitor.latest_value("loss"), model.monitor.latest_value("bits_per_pixel"))
        {
            progress.set_message(format!("loss {nats:.3} nats = {bits:.3} bits/pixel"));
        }
        Ok(())
    }

    fn finish(self, gpu: &Gpu, run: &Run<PixelRnn>, args: &TrainArgs<PixelRnn>) -> Result<TrainFigures> {
        let Run { model, dataset, data } = run;
        let evaluation = block_on(model.evaluate(gpu, data, self.eval_images))?;
        let baselines = baselines(dataset, self.eval_images)?;

        let header = model.header(dataset, model.steps());
        let (height, width) = (dataset.height, dataset.width);
        let mut sampling = stream(args.seed, Purpose::Sampling);
        let seq = model.seq_len();
        let sampler = model.sampler(gpu, 64, self.temperature, sampling.take(64 * seq))?;
        let tokens = block_on(sampler.finish(gpu))?;
        write(&args.run.out.join("samples.png"), &sheet_png(&header.colours(&tokens), height, width, 3, 8)?)?;
        let sheet = completion_sheet(gpu, model, dataset, &header, self.temperature, sampling.take(36 * seq))?;
        write(&args.run.out.join("completions.png"), &sheet_png(&sheet, height, width, 3, 8)?)?;

        Ok(TrainFigures {
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
        })
    }
}

/// Six held-out sprites, one per row: the original, what the model is shown (painted pixels
/// as a grey checkerboard), and six completions of the bottom half.
fn completion_sheet(
    gpu: &Gpu,
    model: &PixelRnn,
    dataset: &Dataset,
    header: &PixelRnnHeader,
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
        sheet.extend(header.colours(&original));
        for (t, &c) in sprite.iter().enumerate() {
            if paint[t] {
                let grey = if (t / width + t % width) % 2 == 0 { 0.55 } else { 0.75 };
                sheet.extend([grey; 3]);
            } else {
                sheet.extend(header.colours(&[c as u32]));
            }
        }
        sheet.extend(header.colours(&completions[s * COPIES * seq..(s + 1) * COPIES * seq]));
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
