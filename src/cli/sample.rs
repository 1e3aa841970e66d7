//! `genlab sample`: new images from saved weights, written as a safetensors file.

use std::path::Path;

use clap::Args;
use genlab::gpu::{block_on, Gpu};
use genlab::models::model::{Header, Model};
use genlab::models::{stream, Purpose};
use genlab::{Error, Result};

use super::data::write;

// What every `genlab sample` command takes (a plain comment: clap would make a doc comment
// the about text of every command that flattens this).
#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A weights file written by `genlab train` (weights.safetensors, or a GAN's smaller
    /// generator.safetensors).
    #[arg(long)]
    pub weights: std::path::PathBuf,
    /// Images to write.
    #[arg(long, default_value_t = 64)]
    pub count: usize,
    /// Sampling seed (the training seed gives the training run's sample sheet first).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output safetensors file with `rgb` (u8 [N, H, W, C]); a PixelRNN's adds `indices`
    /// (u8 [N, H, W]) and, for completions, `mask` (u8 [N, H, W], 1 = painted by the model).
    #[arg(long)]
    pub out: std::path::PathBuf,
}

impl SampleArgs {
    /// The weights file's bytes, once the other arguments are known to make sense.
    pub fn read_weights(&self) -> Result<Vec<u8>> {
        if self.count == 0 {
            return Err(Error::Invalid("--count must be at least 1".into()));
        }
        std::fs::read(&self.weights).map_err(|e| Error::Invalid(format!("cannot read {}: {e}", self.weights.display())))
    }
}

/// `genlab sample <model>`: `--count` images the saved model draws from `--seed`'s sampling
/// stream, written to `--out` as one tensor `rgb`, u8 [N, H, W, C].
pub fn sample<M: Model>(gpu: &Gpu, args: SampleArgs) -> Result<()> {
    let (model, header) = M::load(gpu, &args.read_weights()?)?;
    let pixels = block_on(model.draw(gpu, &header, stream(args.seed, Purpose::Sampling), args.count))?;
    let (height, width, channels) = header.geometry();
    let bytes: Vec<u8> = pixels.iter().map(|&v| genlab::io::png::to_u8(v)).collect();
    write_u8_tensors(&args.out, &[("rgb", vec![args.count, height, width, channels], bytes)])?;
    eprintln!("{} {} samples → {}", args.count, M::NAME, args.out.display());
    Ok(())
}

/// A safetensors file of u8 tensors.
pub fn write_u8_tensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<u8>)]) -> Result<()> {
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
