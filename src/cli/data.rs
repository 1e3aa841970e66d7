//! `--data sprites|moons|sheet --input PATH --count N --size S`: the dataset every command
//! starts from, and `genlab dataset`, which writes one out.

use std::path::{Path, PathBuf};

use clap::Args;
use genlab::data::dump::save_dataset;
use genlab::data::{self, Dataset, DatasetKind, MoonJitter, SheetOptions};
use genlab::io::png::contact_sheet;
use genlab::{Error, Result};

#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// Which images: generated monster sprites, moon phases, or your own sprite sheet.
    #[arg(long = "data", visible_alias = "kind", default_value = "sprites", value_parser = parse_kind)]
    pub kind: DatasetKind,
    /// The sprite sheet PNG (with --data sheet), or a data.safetensors written by
    /// `genlab dataset` (any kind).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Number of generated images (sprites, moons).
    #[arg(long, default_value_t = 6000)]
    pub count: usize,
    /// Sprite side / sheet tile side in pixels (8–32).
    #[arg(long, default_value_t = 16)]
    pub size: usize,
    /// Palette size for a sprite sheet (2–167).
    #[arg(long, default_value_t = 16)]
    pub colors: usize,
    /// Moons only: K evenly spaced phases instead of the continuum, starting at the full
    /// moon (2: the full and the new moon), each image a jittered copy of one of them.
    #[arg(long)]
    pub phases: Option<usize>,
    /// Seed of the images and of the train/held-out split.
    #[arg(long = "data-seed", default_value_t = 1)]
    pub data_seed: u64,
}

fn parse_kind(s: &str) -> Result<DatasetKind> {
    s.parse()
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Invalid(format!("cannot read {}: {e}", path.display())))
}

pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::Invalid(format!("cannot write {}: {e}", path.display())))
}

pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Invalid(format!("cannot create {}: {e}", dir.display())))
}

impl DataArgs {
    pub fn load(&self) -> Result<Dataset> {
        if self.phases.is_some() && (self.kind != DatasetKind::Moons || self.input.is_some()) {
            return Err(Error::Invalid(
                "--phases picks the phases of generated moons: use it with --data moons and no --input".into(),
            ));
        }
        if let Some(path) = &self.input {
            let bytes = read(path)?;
            let is_dump = path.extension().is_some_and(|e| e == "safetensors");
            if is_dump {
                let ds = genlab::data::dump::load_dataset(&bytes)?;
                if ds.kind != self.kind {
                    return Err(Error::Invalid(format!(
                        "{} holds a {} dataset but --data says {}",
                        path.display(),
                        ds.kind,
                        self.kind
                    )));
                }
                return Ok(ds);
            }
            if self.kind != DatasetKind::Sheet {
                return Err(Error::Invalid(format!(
                    "--input {} is a PNG: give --data sheet to cut it into tiles",
                    path.display()
                )));
            }
            let opts = SheetOptions { tile: self.size, colors: self.colors, seed: self.data_seed };
            return data::sheet_from_png(&bytes, &opts);
        }
        match self.kind {
            DatasetKind::Sprites => data::sprites(self.count, self.size, self.data_seed),
            DatasetKind::Moons => match self.phases {
                Some(k) => data::moons_at_phases(self.count, k, self.data_seed, &MoonJitter::default()),
                None => data::moons(self.count, self.data_seed, &MoonJitter::default()),
            },
            DatasetKind::Sheet => Err(Error::Invalid("--data sheet needs --input PATH.png, your sprite sheet".into())),
        }
    }
}

/// A PNG contact sheet of images `[n, h, w, c]` in [0, 1], `cols` per row, scaled up.
pub fn sheet_png(pixels: &[f32], height: usize, width: usize, channels: usize, cols: usize) -> Result<Vec<u8>> {
    let scale = if height >= 24 { 3 } else { 4 };
    contact_sheet(genlab::io::png::Images { pixels, height, width, channels }, cols, scale, 2)
}

#[derive(Args, Debug)]
pub struct DatasetCommand {
    #[command(flatten)]
    pub data: DataArgs,
    /// Seed (same as --data-seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Folder to write sheet.png and data.safetensors into.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn dataset(cmd: DatasetCommand) -> Result<()> {
    let mut args = cmd.data.clone();
    if let Some(seed) = cmd.seed {
        args.data_seed = seed;
    }
    let ds = args.load()?;
    create_dir(&cmd.out)?;
    let shown = ds.count.min(64);
    let sheet = sheet_png(&ds.pixels[..shown * ds.image_len()], ds.height, ds.width, ds.channels, 8)?;
    write(&cmd.out.join("sheet.png"), &sheet)?;
    write(&cmd.out.join("data.safetensors"), &save_dataset(&ds)?)?;
    let heldout = ds.split.iter().filter(|&&s| s == 1).count();
    eprintln!(
        "{} {} images of {}×{}×{} ({} train, {} held out{}) → {}",
        ds.count,
        ds.kind,
        ds.height,
        ds.width,
        ds.channels,
        ds.count - heldout,
        heldout,
        ds.num_colors().map(|k| format!(", {k} colours")).unwrap_or_default(),
        cmd.out.display()
    );
    Ok(())
}
