//! Procedurally generated monster sprites: little left–right symmetric creatures with a
//! shaded body, limbs (legs, tentacles, arms, horns, antennae, ears, spikes, crests), eyes
//! (white with a dark pupil), often a mouth, and a dark outline, on a plain background.
//!
//! Sprite `i` under seed `s` is drawn from its own random stream, so it is the same whatever
//! the dataset size. The palette ([`SPRITE_PALETTE`]) is fixed: index 0 background, 1 outline
//! (also pupils and mouths), 2 white (eyes, teeth), 3 pink (cheeks, tongues), then four hues
//! (green, blue, purple, orange) in three tones each (light, mid, dark).
//!
//! How one sprite is drawn is in `sprites/draw.rs`.

use std::collections::HashSet;

mod draw;

use self::draw::draw;
use super::rng::{Rng, DOMAIN_SPRITES};
use super::{Dataset, DatasetKind};
use crate::error::{Error, Result};

/// Default sprite side in pixels.
pub const DEFAULT_SPRITE_SIZE: usize = 16;
/// Smallest accepted sprite side.
pub const MIN_SPRITE_SIZE: usize = 8;
/// Largest accepted sprite side.
pub const MAX_SPRITE_SIZE: usize = 32;

/// Palette index of the background.
pub const BACKGROUND: u8 = 0;
/// Palette index of the outline (also pupils and mouths).
pub const OUTLINE: u8 = 1;
/// Palette index of white (eyes, teeth).
pub const WHITE: u8 = 2;
/// Palette index of pink (cheeks, tongues).
pub const PINK: u8 = 3;
/// Number of body hues.
pub const HUES: usize = 4;

/// The fixed 16-colour sprite palette (after the Sweetie 16 palette).
pub const SPRITE_PALETTE: [[u8; 3]; 16] = [
    [206, 216, 228], // 0 background
    [26, 28, 44],    // 1 outline
    [244, 244, 244], // 2 white
    [255, 128, 158], // 3 pink
    [167, 240, 112], // 4 green light
    [56, 183, 100],  // 5 green mid
    [37, 113, 121],  // 6 green dark
    [115, 239, 247], // 7 blue light
    [65, 166, 246],  // 8 blue mid
    [59, 93, 201],   // 9 blue dark
    [222, 150, 240], // 10 purple light
    [160, 86, 200],  // 11 purple mid
    [93, 39, 113],   // 12 purple dark
    [255, 205, 117], // 13 orange light
    [239, 125, 87],  // 14 orange mid
    [177, 62, 83],   // 15 orange dark
];

/// The sprite palette as a vector (index 0 = background).
pub fn sprite_palette() -> Vec<[u8; 3]> {
    SPRITE_PALETTE.to_vec()
}

/// Palette index of `hue` (0..4) in `tone` (0 light, 1 mid, 2 dark).
fn tone(hue: usize, tone: usize) -> u8 {
    (4 + 3 * hue + tone) as u8
}

fn check_size(size: usize) -> Result<()> {
    if !(MIN_SPRITE_SIZE..=MAX_SPRITE_SIZE).contains(&size) {
        return Err(Error::Invalid(format!(
            "sprite size {size} is out of range: use {MIN_SPRITE_SIZE} to {MAX_SPRITE_SIZE} \
             pixels (default {DEFAULT_SPRITE_SIZE})"
        )));
    }
    Ok(())
}

/// Sprite `index` under `seed`: `size`×`size` palette indices into [`SPRITE_PALETTE`],
/// row-major. `size` must be in 8..=32.
pub fn generate_sprite(seed: u64, index: u64, size: usize) -> Result<Vec<u8>> {
    check_size(size)?;
    Ok(draw(&mut Rng::stream(seed, DOMAIN_SPRITES, index), size))
}

/// `count` distinct sprites of `size`×`size` under `seed`, with the fixed palette and split.
///
/// Sprite `i` is [`generate_sprite`]`(seed, i, size)` unless that equals an earlier sprite of
/// the dataset; then it is redrawn from a further stream until it is new (which depends only on
/// the sprites before it, so sprite `i` is still the same whatever `count`). At the default
/// size repeats practically never happen.
pub fn sprites(count: usize, size: usize, seed: u64) -> Result<Dataset> {
    check_size(size)?;
    let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(count);
    let mut indices = Vec::with_capacity(count * size * size);
    for i in 0..count as u64 {
        let mut sprite = draw(&mut Rng::stream(seed, DOMAIN_SPRITES, i), size);
        let mut attempt = 1u64;
        while seen.contains(&sprite) && attempt < 256 {
            let redraw = DOMAIN_SPRITES ^ attempt.wrapping_mul(0x1000_0000_0000_0001);
            sprite = draw(&mut Rng::stream(seed, redraw, i), size);
            attempt += 1;
        }
        indices.extend_from_slice(&sprite);
        seen.insert(sprite);
    }
    Dataset::from_indices(DatasetKind::Sprites, seed, size, size, sprite_palette(), indices)
}
