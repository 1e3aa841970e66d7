//! The datasets, made on the CPU: procedurally generated monster sprites ([`sprites`]), moon
//! phases ([`moons`]) and the user's own sprite sheet cut into tiles and quantised
//! ([`sheet`], with [`kmeans`]). All three give a [`Dataset`]: pixels in [0, 1] for the VAE and
//! the GAN, palette indices for the PixelRNN (palette datasets), and a fixed train/held-out
//! split drawn from the seed.
//!
//! Everything is deterministic from the seed, on every platform (native and wasm32).

pub mod device;
pub mod dump;
pub mod kmeans;
pub mod moons;
mod rng;
pub mod sheet;
pub mod sprites;

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::io::png::{to_u8, Images};

pub use moons::{
    moons, moons_at_phases, nearest_moon_distance, render_moon, MoonJitter, MoonManifold, MoonMatch, MoonPose,
    MOON_SIZE,
};
pub use rng::Rng;
pub use sheet::{sheet_from_png, sheet_from_rgba, SheetOptions};
pub use sprites::{generate_sprite, sprite_palette, sprites, DEFAULT_SPRITE_SIZE};

/// The share of a dataset held out from training (rounded to whole images; at least one
/// image once there are two or more).
pub const HELDOUT_FRACTION: f32 = 0.1;

/// Where a dataset came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    /// Procedurally generated monster sprites (palette-indexed RGB).
    Sprites,
    /// 28×28 greyscale moon phases, each with its phase.
    Moons,
    /// Tiles of the user's own sprite sheet, quantised with k-means (palette-indexed RGB).
    Sheet,
}

impl DatasetKind {
    pub const ALL: [DatasetKind; 3] = [DatasetKind::Sprites, DatasetKind::Moons, DatasetKind::Sheet];

    /// The name used on the command line and in saved files.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Sprites => "sprites",
            DatasetKind::Moons => "moons",
            DatasetKind::Sheet => "sheet",
        }
    }

    /// Whether images of this kind carry palette indices.
    pub fn has_palette(self) -> bool {
        !matches!(self, DatasetKind::Moons)
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<DatasetKind> {
        DatasetKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::Invalid(format!("unknown dataset kind {s:?}: use one of sprites, moons, sheet")))
    }
}

/// `count` images of `height`×`width`×`channels`, with what each model needs.
///
/// Invariants (checked by [`Dataset::validate`], kept by every constructor here):
/// `pixels.len() == count·height·width·channels`, values in [0, 1];
/// palette kinds have `channels == 3`, `indices` of `count·height·width` entries each below
/// `palette.len()` (at most 256 colours, index 0 the background) and `pixels` equal to the
/// palette colours / 255; moons have `channels == 1` and one `phase` in [0, 1) per image;
/// `split` has one entry per image, 0 = train, 1 = held out.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub kind: DatasetKind,
    /// The seed the dataset (and its split) was drawn from.
    pub seed: u64,
    pub count: usize,
    pub height: usize,
    pub width: usize,
    /// 3 for RGB, 1 for greyscale.
    pub channels: usize,
    /// [count, height, width, channels], row-major, in [0, 1].
    pub pixels: Vec<f32>,
    /// [count, height, width] palette indices (palette kinds only).
    pub indices: Option<Vec<u8>>,
    /// The palette, fixed for the whole dataset; index 0 is the background.
    pub palette: Option<Vec<[u8; 3]>>,
    /// Moon phase of each image in [0, 1): 0 new, 0.25 first quarter, 0.5 full, 0.75 last
    /// quarter (moons only).
    pub phase: Option<Vec<f32>>,
    /// 0 = train, 1 = held out; one per image.
    pub split: Vec<u8>,
}

impl Dataset {
    /// A palette dataset from its indices: pixels are the palette colours, the split is drawn
    /// from `seed`.
    pub fn from_indices(
        kind: DatasetKind,
        seed: u64,
        height: usize,
        width: usize,
        palette: Vec<[u8; 3]>,
        indices: Vec<u8>,
    ) -> Result<Dataset> {
        let plane = height * width;
        if plane == 0 || !indices.len().is_multiple_of(plane) {
            return Err(Error::Invalid(format!(
                "{} palette indices do not make whole {height}×{width} images",
                indices.len()
            )));
        }
        let count = indices.len() / plane;
        let pixels = pixels_from_indices(&palette, &indices)?;
        let ds = Dataset {
            kind,
            seed,
            count,
            height,
            width,
            channels: 3,
            pixels,
            indices: Some(indices),
            palette: Some(palette),
            phase: None,
            split: make_split(count, seed),
        };
        ds.validate()?;
        Ok(ds)
    }

    /// Values per image: height·width·channels.
    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// The pixel-wise mean of the images (`image_len` values).
    pub fn mean_image(&self) -> Vec<f32> {
        let mut sum = vec![0f64; self.image_len()];
        for image in self.pixels.chunks_exact(self.image_len()) {
            for (s, &v) in sum.iter_mut().zip(image) {
                *s += v as f64;
            }
        }
        sum.iter().map(|&s| (s / self.count.max(1) as f64) as f32).collect()
    }

    /// Pixels per image: height·width.
    pub fn plane_len(&self) -> usize {
        self.height * self.width
    }

    /// Image `i` as [height, width, channels] in [0, 1]. Panics if `i >= count`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Palette indices of image `i` as [height, width] (palette kinds only).
    pub fn image_indices(&self, i: usize) -> Option<&[u8]> {
        let n = self.plane_len();
        self.indices.as_ref().map(|ix| &ix[i * n..(i + 1) * n])
    }

    /// Number of palette colours (palette kinds only).
    pub fn num_colors(&self) -> Option<usize> {
        self.palette.as_ref().map(Vec::len)
    }

    /// Whether image `i` is held out.
    pub fn is_heldout(&self, i: usize) -> bool {
        self.split[i] == 1
    }

    /// Positions of the training images, ascending.
    pub fn train_indices(&self) -> Vec<usize> {
        (0..self.count).filter(|&i| self.split[i] == 0).collect()
    }

    /// Positions of the held-out images, ascending.
    pub fn heldout_indices(&self) -> Vec<usize> {
        (0..self.count).filter(|&i| self.split[i] == 1).collect()
    }

    /// The images at `positions`, in that order, with their split entries.
    pub fn subset(&self, positions: &[usize]) -> Dataset {
        let n = self.image_len();
        let plane = self.plane_len();
        let mut pixels = Vec::with_capacity(positions.len() * n);
        for &i in positions {
            pixels.extend_from_slice(self.image(i));
        }
        Dataset {
            kind: self.kind,
            seed: self.seed,
            count: positions.len(),
            height: self.height,
            width: self.width,
            channels: self.channels,
            pixels,
            indices: self
                .indices
                .as_ref()
                .map(|ix| positions.iter().flat_map(|&i| ix[i * plane..(i + 1) * plane].iter().copied()).collect()),
            palette: self.palette.clone(),
            phase: self.phase.as_ref().map(|p| positions.iter().map(|&i| p[i]).collect()),
            split: positions.iter().map(|&i| self.split[i]).collect(),
        }
    }

    /// The training images only.
    pub fn train(&self) -> Dataset {
        self.subset(&self.train_indices())
    }

    /// The held-out images only.
    pub fn heldout(&self) -> Dataset {
        self.subset(&self.heldout_indices())
    }

    /// All images as 8-bit RGB, [count, height, width, 3]; greyscale is replicated to three
    /// channels.
    pub fn rgb_u8(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.count * self.plane_len() * 3);
        match (&self.indices, &self.palette) {
            (Some(ix), Some(pal)) => {
                for &k in ix {
                    out.extend_from_slice(&pal[k as usize]);
                }
            }
            _ => {
                for px in self.pixels.chunks_exact(self.channels) {
                    if self.channels == 1 {
                        out.extend_from_slice(&[to_u8(px[0]); 3]);
                    } else {
                        out.extend(px.iter().take(3).map(|&v| to_u8(v)));
                    }
                }
            }
        }
        out
    }

    /// Image `i` as 8-bit RGB, [height, width, 3].
    pub fn image_rgb_u8(&self, i: usize) -> Vec<u8> {
        let one = self.subset(&[i]);
        one.rgb_u8()
    }

    /// A view of all images, e.g. for [`crate::io::png::contact_sheet`].
    pub fn images(&self) -> Images<'_> {
        Images { pixels: &self.pixels, height: self.height, width: self.width, channels: self.channels }
    }

    /// Checks the invariants listed on [`Dataset`]; says which one is broken.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(Error::Invalid(format!("{} dataset: {why}", self.kind)));
        if self.height == 0 || self.width == 0 {
            return bad(format!("image size {}×{} is empty", self.height, self.width));
        }
        let want_channels = if self.kind.has_palette() { 3 } else { 1 };
        if self.channels != want_channels {
            return bad(format!("{} channels, expected {want_channels}", self.channels));
        }
        if self.pixels.len() != self.count * self.image_len() {
            return bad(format!(
                "{} pixel values for {} images of {}×{}×{}",
                self.pixels.len(),
                self.count,
                self.height,
                self.width,
                self.channels
            ));
        }
        if let Some(v) = self.pixels.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return bad(format!("pixel value {v} outside [0, 1]"));
        }
        if self.split.len() != self.count {
            return bad(format!("{} split entries for {} images", self.split.len(), self.count));
        }
        if let Some(s) = self.split.iter().find(|&&s| s > 1) {
            return bad(format!("split entry {s}: must be 0 (train) or 1 (held out)"));
        }
        match (self.kind.has_palette(), &self.indices, &self.palette) {
            (true, Some(ix), Some(pal)) => {
                if pal.is_empty() || pal.len() > 256 {
                    return bad(format!("{} palette colours: must be 1 to 256", pal.len()));
                }
                if ix.len() != self.count * self.plane_len() {
                    return bad(format!("{} palette indices for {} images", ix.len(), self.count));
                }
                if let Some(k) = ix.iter().find(|&&k| k as usize >= pal.len()) {
                    return bad(format!("palette index {k} but only {} colours", pal.len()));
                }
                if pixels_from_indices(pal, ix)? != self.pixels {
                    return bad("pixels differ from the palette colours of the indices".into());
                }
            }
            (true, _, _) => return bad("palette indices or palette missing".into()),
            (false, None, None) => {}
            (false, _, _) => return bad("has palette data but is not a palette kind".into()),
        }
        match (self.kind == DatasetKind::Moons, &self.phase) {
            (true, Some(ph)) => {
                if ph.len() != self.count {
                    return bad(format!("{} phases for {} images", ph.len(), self.count));
                }
                if let Some(p) = ph.iter().find(|p| !(0.0..1.0).contains(*p)) {
                    return bad(format!("phase {p} outside [0, 1)"));
                }
            }
            (true, None) => return bad("phases missing".into()),
            (false, Some(_)) => return bad("has phases but is not a moons dataset".into()),
            (false, None) => {}
        }
        Ok(())
    }
}

/// `[n, 3]` pixels in [0, 1] from palette indices.
pub(crate) fn pixels_from_indices(palette: &[[u8; 3]], indices: &[u8]) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(indices.len() * 3);
    for &k in indices {
        let c = palette
            .get(k as usize)
            .ok_or_else(|| Error::Invalid(format!("palette index {k} but only {} colours", palette.len())))?;
        out.extend(c.iter().map(|&v| v as f32 / 255.0));
    }
    Ok(out)
}

/// The fixed train/held-out split for `count` images under `seed`: a deterministic shuffle
/// holds out round(count·[`HELDOUT_FRACTION`]) images (at least one once `count >= 2`).
/// 0 = train, 1 = held out.
pub fn make_split(count: usize, seed: u64) -> Vec<u8> {
    let mut held = (count as f32 * HELDOUT_FRACTION).round() as usize;
    if count >= 2 {
        held = held.max(1);
    }
    let mut order: Vec<usize> = (0..count).collect();
    Rng::stream(seed, rng::DOMAIN_SPLIT, count as u64).shuffle(&mut order);
    let mut split = vec![0u8; count];
    for &i in &order[..held] {
        split[i] = 1;
    }
    split
}
