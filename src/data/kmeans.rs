//! Weighted k-means in RGB (squared Euclidean distance on 0..255 channels), k-means++
//! initialisation, deterministic from a seed.

use super::rng::{Rng, DOMAIN_KMEANS};

/// Lloyd iterations at most; it usually settles long before.
pub const MAX_ITERATIONS: usize = 100;

/// The outcome of [`kmeans`].
#[derive(Clone, Debug, PartialEq)]
pub struct Clusters {
    /// Cluster centres (weighted means of their points).
    pub centroids: Vec<[f32; 3]>,
    /// Total weight of each cluster.
    pub weights: Vec<f64>,
    /// The cluster of each input point.
    pub assignment: Vec<usize>,
}

fn dist2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
}

/// The nearest centroid to `p` (the lowest index on ties) and its squared distance.
pub fn nearest(centroids: &[[f32; 3]], p: &[f32; 3]) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for (j, c) in centroids.iter().enumerate() {
        let d = dist2(p, c);
        if d < best.1 {
            best = (j, d);
        }
    }
    best
}

/// Clusters `points` (each with a positive `weight`, e.g. a pixel count) into at most `k`
/// clusters: fewer when there are fewer distinct points. `points` and `weights` must have the
/// same length; `k` must be at least 1. Deterministic for a given `seed`.
pub fn kmeans(points: &[[f32; 3]], weights: &[f32], k: usize, seed: u64) -> Clusters {
    assert_eq!(points.len(), weights.len(), "kmeans: one weight per point");
    assert!(k >= 1, "kmeans: k must be at least 1");
    if points.is_empty() {
        return Clusters { centroids: Vec::new(), weights: Vec::new(), assignment: Vec::new() };
    }
    let mut rng = Rng::stream(seed, DOMAIN_KMEANS, k as u64);

    // k-means++: the first centre by weight, each next one by weight × squared distance to
    // the nearest centre so far.
    let w: Vec<f32> = weights.iter().map(|&w| w.max(0.0)).collect();
    let first = if w.iter().any(|&x| x > 0.0) { rng.weighted(&w) } else { 0 };
    let mut centroids = vec![points[first]];
    let mut d2: Vec<f32> = points.iter().map(|p| dist2(p, &points[first])).collect();
    while centroids.len() < k {
        let scores: Vec<f32> = d2.iter().zip(&w).map(|(d, w)| d * w).collect();
        if !scores.iter().any(|&s| s > 0.0) {
            break; // every point coincides with a centre
        }
        let next = rng.weighted(&scores);
        if d2[next] <= 0.0 {
            break;
        }
        let c = points[next];
        centroids.push(c);
        for (d, p) in d2.iter_mut().zip(points) {
            *d = d.min(dist2(p, &c));
        }
    }

    // Lloyd.
    let k = centroids.len();
    let mut assignment = vec![usize::MAX; points.len()];
    let mut cluster_w = vec![0.0f64; k];
    for _ in 0..MAX_ITERATIONS {
        let mut changed = false;
        let mut far = (0usize, -1.0f32);
        for (i, p) in points.iter().enumerate() {
            let (j, d) = nearest(&centroids, p);
            if assignment[i] != j {
                assignment[i] = j;
                changed = true;
            }
            if d * w[i] > far.1 {
                far = (i, d * w[i]);
            }
        }
        let mut sums = vec![[0.0f64; 3]; k];
        cluster_w.iter_mut().for_each(|x| *x = 0.0);
        for (i, p) in points.iter().enumerate() {
            let j = assignment[i];
            let wi = w[i] as f64;
            cluster_w[j] += wi;
            for c in 0..3 {
                sums[j][c] += wi * p[c] as f64;
            }
        }
        let mut reseeded = false;
        for j in 0..k {
            if cluster_w[j] > 0.0 {
                let cw = cluster_w[j];
                centroids[j] = [(sums[j][0] / cw) as f32, (sums[j][1] / cw) as f32, (sums[j][2] / cw) as f32];
            } else if far.1 > 0.0 {
                // An empty cluster takes the worst-served point.
                centroids[j] = points[far.0];
                far.1 = 0.0;
                reseeded = true;
            }
        }
        if !changed && !reseeded {
            break;
        }
    }
    Clusters { centroids, weights: cluster_w, assignment }
}
