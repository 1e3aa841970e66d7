//! Precision and recall of a generative model (Kynkäänniemi et al. 2019), in pixel space.
//!
//! A sample set's manifold is estimated as the union of balls around its samples, each ball
//! reaching the sample's k-th nearest neighbour in the same set. Then
//!
//! * precision = share of generated samples inside the real manifold (are the fakes
//!   realistic?), and
//! * recall = share of real samples inside the generated manifold (is all of the data
//!   covered?).
//!
//! A GAN that collapses onto a few modes keeps a high precision while its recall falls: the
//! two numbers separate what one "quality" score would blur.
//!
//! The paper measures in the feature space of an image classifier; genlab has none, so it
//! measures twice: on the pixels themselves, and on coarse images ([`coarse`]: each
//! [`COARSE_CELL`]×[`COARSE_CELL`] square averaged to one value per channel). Pixel distances
//! are dominated by per-pixel noise: a small MLP generator's images carry a fine colour
//! speckle, which puts every real sprite outside the tight balls of the generated set, so
//! pixel recall stays near 0 whatever the samples cover. The coarse images keep what a
//! glance sees (where the body is, its colours, its outline) and average the speckle away.
//! Held-out real sprites score about 0.85 / 0.88 either way, so both scales are calibrated
//! against the data itself.
//!
//! Plain CPU code: for n ≈ 1000 samples of d ≈ 1000 values it takes about a second in a
//! release build.

use crate::error::{Error, Result};

/// The neighbour whose distance is a sample's radius, as in the paper.
pub const DEFAULT_K: usize = 3;

/// Side of the pixel squares averaged into one value of a coarse image.
pub const COARSE_CELL: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct PrecisionRecall {
    pub precision: f64,
    pub recall: f64,
}

impl PrecisionRecall {
    /// Realistic samples that cover little of the data: the signature of mode collapse.
    pub fn looks_collapsed(&self) -> bool {
        self.recall < 0.1 && self.precision > 0.5
    }
}

/// Precision and recall of `generated` against `real`, both flat rows of `dim` values, with
/// radii at the `k`-th nearest neighbour. Each set needs more than `k` rows.
pub fn precision_recall(real: &[f32], generated: &[f32], dim: usize, k: usize) -> Result<PrecisionRecall> {
    let rows = |name: &str, set: &[f32]| -> Result<usize> {
        if dim == 0 || !set.len().is_multiple_of(dim) {
            return Err(Error::Invalid(format!(
                "precision/recall: {} {name} values are not whole rows of {dim}",
                set.len()
            )));
        }
        let n = set.len() / dim;
        if n <= k || k == 0 {
            return Err(Error::Invalid(format!(
                "precision/recall: {n} {name} samples are too few for the {k}-th nearest neighbour (k ≥ 1); \
                 give at least {} of each",
                k.max(1) + 1
            )));
        }
        Ok(n)
    };
    let (n_real, n_gen) = (rows("real", real)?, rows("generated", generated)?);
    let real_radii = knn_radii(real, dim, k);
    let gen_radii = knn_radii(generated, dim, k);
    // One pass over the cross distances answers both questions.
    let mut gen_inside = vec![false; n_gen];
    let mut real_inside = vec![false; n_real];
    for (i, r) in real.chunks_exact(dim).enumerate() {
        for (j, g) in generated.chunks_exact(dim).enumerate() {
            let d = squared_distance(r, g);
            if d <= real_radii[i] {
                gen_inside[j] = true;
            }
            if d <= gen_radii[j] {
                real_inside[i] = true;
            }
        }
    }
    let share = |v: &[bool]| v.iter().filter(|&&b| b).count() as f64 / v.len() as f64;
    Ok(PrecisionRecall { precision: share(&gen_inside), recall: share(&real_inside) })
}

/// Squared distance from each row to its k-th nearest other row (itself excluded by index,
/// so a duplicate counts as a neighbour at distance 0).
pub fn knn_radii(set: &[f32], dim: usize, k: usize) -> Vec<f32> {
    let rows: Vec<&[f32]> = set.chunks_exact(dim).collect();
    let n = rows.len();
    let mut dist = vec![0.0f32; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let d = squared_distance(rows[i], rows[j]);
            dist[i * n + j] = d;
            dist[j * n + i] = d;
        }
    }
    let mut others = Vec::with_capacity(n);
    (0..n)
        .map(|i| {
            others.clear();
            others.extend((0..n).filter(|&j| j != i).map(|j| dist[i * n + j]));
            *others.select_nth_unstable_by(k - 1, f32::total_cmp).1
        })
        .collect()
}

/// ‖a − b‖², in eight independent lanes so that the compiler vectorises it.
pub fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let d = x[l] - y[l];
            lanes[l] += d * d;
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| (x - y) * (x - y)).sum();
    lanes.iter().sum::<f32>() + tail
}

/// Images (rows of `height · width · channels` values, channels last) averaged over
/// `cell`×`cell` squares, one value per channel per square; edge squares that do not fit
/// whole average what they hold.
pub fn coarse(images: &[f32], height: usize, width: usize, channels: usize, cell: usize) -> Result<Vec<f32>> {
    let len = height * width * channels;
    if len == 0 || cell == 0 || !images.len().is_multiple_of(len) {
        return Err(Error::Invalid(format!(
            "coarse images: {} values are not whole {height}×{width}×{channels} images (cell {cell})",
            images.len()
        )));
    }
    let (rows, cols) = (height.div_ceil(cell), width.div_ceil(cell));
    let mut out = Vec::with_capacity(images.len() / len * rows * cols * channels);
    for image in images.chunks_exact(len) {
        for r in 0..rows {
            for c in 0..cols {
                let (ys, xs) = (r * cell..((r + 1) * cell).min(height), c * cell..((c + 1) * cell).min(width));
                let count = (ys.len() * xs.len()) as f32;
                for ch in 0..channels {
                    let sum: f32 = ys
                        .clone()
                        .flat_map(|y| xs.clone().map(move |x| (y * width + x) * channels + ch))
                        .map(|i| image[i])
                        .sum();
                    out.push(sum / count);
                }
            }
        }
    }
    Ok(out)
}
