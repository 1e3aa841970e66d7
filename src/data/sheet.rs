//! The user's own sprite sheet: a PNG cut into square tiles, empty tiles skipped, colours
//! quantised with k-means to a palette of at most K colours, giving the same kind of
//! [`Dataset`] as the generated sprites.
//!
//! Rules:
//! - The image must be a PNG of at most [`MAX_SHEET_SIDE`] pixels a side, whose width and
//!   height are multiples of the tile size (nothing is cropped silently).
//! - Tiles are taken row by row, left to right. A tile is empty, and skipped, when all of its
//!   pixels are transparent (alpha below [`ALPHA_THRESHOLD`]) or all are the same colour.
//! - Index 0 is the background. If any kept pixel is transparent, every transparent pixel is
//!   index 0, shown in the sprite background colour, and the opaque pixels are quantised to
//!   K − 1 colours (indices 1..K). Otherwise all pixels are quantised to K colours and the
//!   cluster holding the most tile-border pixels becomes index 0.
//! - The other indices are ordered by pixel count, most common first. The palette has fewer
//!   than K colours when the sheet has fewer distinct colours.

use std::collections::HashMap;

use super::kmeans::{kmeans, nearest};
use super::sprites::SPRITE_PALETTE;
use super::{Dataset, DatasetKind};
use crate::error::{Error, Result};
use crate::io::png::{decode, RgbaImage};

/// Largest accepted sheet side in pixels (so at most 16,777,216 pixels).
pub const MAX_SHEET_SIDE: usize = 4096;
/// Smallest accepted tile side.
pub const MIN_TILE: usize = 4;
/// Largest accepted tile side.
pub const MAX_TILE: usize = 64;
/// Fewest palette colours (background and one more).
pub const MIN_COLORS: usize = 2;
/// Most palette colours (as in the lecture's sheet).
pub const MAX_COLORS: usize = 167;
/// Pixels with alpha below this are transparent.
pub const ALPHA_THRESHOLD: u8 = 128;
/// Beyond this many distinct colours, k-means runs on 5-bit-per-channel buckets.
const MAX_KMEANS_POINTS: usize = 1 << 16;

/// How to cut and quantise a sheet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SheetOptions {
    /// Tile side in pixels ([`MIN_TILE`]..=[`MAX_TILE`]).
    pub tile: usize,
    /// Palette size K including the background ([`MIN_COLORS`]..=[`MAX_COLORS`]).
    pub colors: usize,
    /// Seeds k-means++ and the train/held-out split.
    pub seed: u64,
}

impl Default for SheetOptions {
    fn default() -> SheetOptions {
        SheetOptions { tile: 16, colors: 16, seed: 0 }
    }
}

/// A sprite sheet from PNG bytes; see the module docs for the rules.
pub fn sheet_from_png(png: &[u8], opts: &SheetOptions) -> Result<Dataset> {
    check_options(opts)?;
    let image = decode(png, MAX_SHEET_SIDE)?;
    sheet_from_rgba(&image, opts)
}

fn check_options(opts: &SheetOptions) -> Result<()> {
    if !(MIN_TILE..=MAX_TILE).contains(&opts.tile) {
        return Err(Error::Invalid(format!(
            "tile size {} is out of range: use {MIN_TILE} to {MAX_TILE} pixels, the size of one \
             sprite on the sheet",
            opts.tile
        )));
    }
    if !(MIN_COLORS..=MAX_COLORS).contains(&opts.colors) {
        return Err(Error::Invalid(format!(
            "palette size K = {} is out of range: use {MIN_COLORS} to {MAX_COLORS} colours \
             (including the background)",
            opts.colors
        )));
    }
    Ok(())
}

/// A sprite sheet from decoded RGBA pixels; see the module docs for the rules.
pub fn sheet_from_rgba(image: &RgbaImage, opts: &SheetOptions) -> Result<Dataset> {
    check_options(opts)?;
    let (w, h, t) = (image.width, image.height, opts.tile);
    if w == 0 || h == 0 {
        return Err(Error::Image("the image is empty (0 pixels)".into()));
    }
    if w > MAX_SHEET_SIDE || h > MAX_SHEET_SIDE {
        return Err(too_large(w, h));
    }
    if !w.is_multiple_of(t) || !h.is_multiple_of(t) {
        let fix = |n: usize| {
            if n.is_multiple_of(t) {
                format!("{n}")
            } else {
                format!("{} or {}", n / t * t, n.div_ceil(t) * t)
            }
        };
        return Err(Error::Image(format!(
            "the {w}×{h} image does not divide into {t}×{t} tiles ({} px left over across, {} \
             down): crop or pad it to {}×{} px, or pick the tile size the sheet was drawn with",
            w % t,
            h % t,
            fix(w),
            fix(h)
        )));
    }
    if image.rgba.len() != w * h * 4 {
        return Err(Error::Image(format!("{} RGBA bytes do not make a {w}×{h} image", image.rgba.len())));
    }

    // Tiles as RGBA with transparency normalised, empty ones dropped.
    let (tiles_x, tiles_y) = (w / t, h / t);
    let mut tiles: Vec<Vec<Option<[u8; 3]>>> = Vec::new();
    for ty in 0..tiles_y {
        for tx in 0..tiles_x {
            let mut tile = Vec::with_capacity(t * t);
            for y in ty * t..(ty + 1) * t {
                for x in tx * t..(tx + 1) * t {
                    let p = &image.rgba[(y * w + x) * 4..(y * w + x) * 4 + 4];
                    tile.push((p[3] >= ALPHA_THRESHOLD).then_some([p[0], p[1], p[2]]));
                }
            }
            if tile.iter().any(|p| *p != tile[0]) {
                tiles.push(tile);
            }
        }
    }
    if tiles.is_empty() {
        return Err(Error::Image(format!(
            "no non-empty tile: each of the {} {t}×{t} tiles of the {w}×{h} image is fully \
             transparent or a single colour; check the tile size, or use a sheet with sprites \
             on it",
            tiles_x * tiles_y
        )));
    }
    let transparent = tiles.iter().flatten().any(Option::is_none);

    // Distinct opaque colours with their pixel counts, and how often each sits on a tile edge.
    let mut hist: HashMap<[u8; 3], (u32, u32)> = HashMap::new();
    for tile in &tiles {
        for (i, p) in tile.iter().enumerate() {
            if let Some(c) = p {
                let (x, y) = (i % t, i / t);
                let edge = x == 0 || y == 0 || x == t - 1 || y == t - 1;
                let e = hist.entry(*c).or_insert((0, 0));
                e.0 += 1;
                e.1 += edge as u32;
            }
        }
    }
    let mut colours: Vec<([u8; 3], u32, u32)> = hist.into_iter().map(|(c, (n, e))| (c, n, e)).collect();
    colours.sort_unstable_by_key(|&(c, _, _)| c);

    // k-means on the distinct colours (or on coarse buckets of them when there are very many).
    let (points, weights) = kmeans_points(&colours);
    let k = if transparent { opts.colors - 1 } else { opts.colors };
    let clusters = kmeans(&points, &weights, k, opts.seed);
    let centroids: Vec<[u8; 3]> =
        clusters.centroids.iter().map(|c| c.map(|v| v.round().clamp(0.0, 255.0) as u8)).collect();

    // Per cluster: pixel count and border-pixel count, from the exact colours.
    let float = |c: &[u8; 3]| c.map(|v| v as f32);
    let cf: Vec<[f32; 3]> = clusters.centroids.clone();
    let colour_cluster: HashMap<[u8; 3], usize> =
        colours.iter().map(|(c, _, _)| (*c, nearest(&cf, &float(c)).0)).collect();
    let mut count = vec![0u64; cf.len()];
    let mut border = vec![0u64; cf.len()];
    for (c, n, e) in &colours {
        let j = colour_cluster[c];
        count[j] += *n as u64;
        border[j] += *e as u64;
    }

    // Palette order: background first, then by count (most first), then by colour.
    let mut order: Vec<usize> = (0..cf.len()).collect();
    order.sort_by(|&a, &b| count[b].cmp(&count[a]).then(centroids[a].cmp(&centroids[b])));
    let mut palette = Vec::with_capacity(cf.len() + 1);
    if transparent {
        palette.push(SPRITE_PALETTE[0]);
    } else {
        let bg = *order
            .iter()
            .max_by(|&&a, &&b| border[a].cmp(&border[b]).then(count[a].cmp(&count[b])).then(b.cmp(&a)))
            .expect("at least one cluster");
        order.retain(|&j| j != bg);
        order.insert(0, bg);
    }
    let offset = palette.len();
    let mut index_of_cluster = vec![0u8; cf.len()];
    for (pos, &j) in order.iter().enumerate() {
        palette.push(centroids[j]);
        index_of_cluster[j] = (offset + pos) as u8;
    }

    let mut indices = Vec::with_capacity(tiles.len() * t * t);
    for tile in &tiles {
        for p in tile {
            indices.push(match p {
                None => 0,
                Some(c) => index_of_cluster[colour_cluster[c]],
            });
        }
    }
    Dataset::from_indices(DatasetKind::Sheet, opts.seed, t, t, palette, indices)
}

fn too_large(w: usize, h: usize) -> Error {
    Error::Image(format!(
        "the image is {w}×{h} px, larger than the {MAX_SHEET_SIDE}×{MAX_SHEET_SIDE} limit: \
         crop the sheet or split it into smaller sheets"
    ))
}

/// k-means input: the distinct colours weighted by pixel count, or, past
/// [`MAX_KMEANS_POINTS`] colours, the count-weighted means of 5-bit-per-channel buckets.
fn kmeans_points(colours: &[([u8; 3], u32, u32)]) -> (Vec<[f32; 3]>, Vec<f32>) {
    if colours.len() <= MAX_KMEANS_POINTS {
        return (
            colours.iter().map(|(c, _, _)| c.map(|v| v as f32)).collect(),
            colours.iter().map(|&(_, n, _)| n as f32).collect(),
        );
    }
    let mut buckets: HashMap<[u8; 3], ([f64; 3], f64)> = HashMap::new();
    for &(c, n, _) in colours {
        let e = buckets.entry(c.map(|v| v >> 3)).or_insert(([0.0; 3], 0.0));
        for (sum, v) in e.0.iter_mut().zip(c) {
            *sum += v as f64 * n as f64;
        }
        e.1 += n as f64;
    }
    let mut b: Vec<([u8; 3], [f64; 3], f64)> = buckets.into_iter().map(|(k, (s, n))| (k, s, n)).collect();
    b.sort_unstable_by_key(|&(k, _, _)| k);
    (
        b.iter().map(|(_, s, n)| [(s[0] / n) as f32, (s[1] / n) as f32, (s[2] / n) as f32]).collect(),
        b.iter().map(|&(_, _, n)| n as f32).collect(),
    )
}
