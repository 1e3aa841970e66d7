//! Random codes: the lecture's claim measured where it lives.
//!
//! The lecture says an autoencoder gives no control over the space between its codes:
//! decode a point that no training image was encoded to, and anything may come out. The
//! VAE's noise and KL term are meant to make every region the prior covers decode to
//! something real. Midpoints between pairs test this along one line; random codes test it
//! everywhere. Each model decodes codes drawn from
//!
//! * the prior N(0, I) (the VAE's own promise; the autoencoder never met it),
//! * [`CodeGaussian`]: the Gaussian with the mean and full covariance of the model's own
//!   training codes (the fairest Gaussian an autoencoder has), and
//! * [`CodeBox`]: uniform in the bounding box of those codes,
//!
//! and each decoded image is scored by its distance to the nearest true moon
//! ([`MoonManifold`]) and counted as a moon by [`MoonRule`].

use crate::data::device::DeviceDataset;
use crate::data::MoonManifold;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::rng::{cpu, Stream};
use crate::models::vae::Vae;
use crate::models::{stream, Purpose};

/// The share of held-out reconstructions that [`MoonRule`] counts as moons: a decoded image
/// is a moon when it is as close to a true moon as all but the worst 5 % of the model's own
/// reconstructions of real moons.
pub const MOON_PERCENTILE: f64 = 0.95;

/// Random codes decoded per distribution, by default.
pub const RANDOM_CODES: usize = 1000;

/// Training codes a [`CodeGaussian`] and a [`CodeBox`] are fitted to, at most.
pub const FIT_CODES: usize = 2000;

/// Held-out images whose reconstructions set the [`MoonRule`], at most.
pub const RULE_IMAGES: usize = 200;

/// The Gaussian N(μ, Σ) with the mean and covariance of a set of codes, sampled as
/// μ + L·e with L the Cholesky factor of Σ (Σ = L·Lᵀ) and e ~ N(0, I).
#[derive(Clone, Debug)]
pub struct CodeGaussian {
    mean: Vec<f64>,
    /// Σ, row-major `[dim, dim]`: the unbiased sample covariance (divided by n − 1).
    covariance: Vec<f64>,
    /// L, lower triangular, row-major.
    factor: Vec<f64>,
}

impl CodeGaussian {
    /// Fits the codes' mean and covariance. Codes that span fewer dimensions than they have
    /// (a collapsed latent direction) leave Σ singular; a ridge of 10⁻⁶ of its mean variance
    /// is added to the factor, not to the reported covariance.
    pub fn fit(codes: &[Vec<f32>]) -> Result<CodeGaussian> {
        let dim = code_dim(codes, 2, "a Gaussian")?;
        let n = codes.len() as f64;
        let mut mean = vec![0.0f64; dim];
        for code in codes {
            for (m, &x) in mean.iter_mut().zip(code) {
                *m += x as f64 / n;
            }
        }
        let mut covariance = vec![0.0f64; dim * dim];
        for code in codes {
            let centred: Vec<f64> = code.iter().zip(&mean).map(|(&x, m)| x as f64 - m).collect();
            for i in 0..dim {
                for j in 0..=i {
                    covariance[i * dim + j] += centred[i] * centred[j] / (n - 1.0);
                }
            }
        }
        for i in 0..dim {
            for j in 0..i {
                covariance[j * dim + i] = covariance[i * dim + j];
            }
        }
        let mean_variance = (0..dim).map(|i| covariance[i * dim + i]).sum::<f64>() / dim as f64;
        let mut ridge = 1e-6 * mean_variance.max(f64::MIN_POSITIVE);
        let factor = loop {
            if let Some(l) = cholesky(&covariance, dim, ridge) {
                break l;
            }
            if !ridge.is_finite() || ridge > 1e6 * mean_variance.max(1.0) {
                return Err(Error::Invalid(
                    "the codes' covariance has no Cholesky factor (are some codes NaN or infinite?); \
                     train the model again or check its weights"
                        .into(),
                ));
            }
            ridge *= 10.0;
        };
        Ok(CodeGaussian { mean, covariance, factor })
    }

    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Σ, row-major `[dim, dim]`.
    pub fn covariance(&self) -> &[f64] {
        &self.covariance
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// `n` codes drawn from the Gaussian.
    pub fn sample(&self, stream: Stream, n: usize) -> Vec<Vec<f32>> {
        let dim = self.dim();
        let e = cpu::normal(stream, n * dim, 0.0, 1.0);
        e.chunks_exact(dim)
            .map(|e| {
                (0..dim)
                    .map(|i| {
                        let row = &self.factor[i * dim..i * dim + i + 1];
                        (self.mean[i] + row.iter().zip(e).map(|(l, &e)| l * e as f64).sum::<f64>()) as f32
                    })
                    .collect()
            })
            .collect()
    }
}

/// L with L·Lᵀ = A + ridge·I, or None where A + ridge·I is not positive definite.
fn cholesky(a: &[f64], dim: usize, ridge: f64) -> Option<Vec<f64>> {
    let mut l = vec![0.0f64; dim * dim];
    for i in 0..dim {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[i * dim + k] * l[j * dim + k]).sum();
            if i == j {
                let d = a[i * dim + i] + ridge - dot;
                if !(d > 0.0 && d.is_finite()) {
                    return None;
                }
                l[i * dim + i] = d.sqrt();
            } else {
                l[i * dim + j] = (a[i * dim + j] - dot) / l[j * dim + j];
            }
        }
    }
    Some(l)
}

/// The bounding box of a set of codes, sampled uniformly.
#[derive(Clone, Debug, PartialEq)]
pub struct CodeBox {
    pub low: Vec<f32>,
    pub high: Vec<f32>,
}

impl CodeBox {
    pub fn fit(codes: &[Vec<f32>]) -> Result<CodeBox> {
        let dim = code_dim(codes, 1, "a box")?;
        let mut low = vec![f32::INFINITY; dim];
        let mut high = vec![f32::NEG_INFINITY; dim];
        for code in codes {
            for ((lo, hi), &x) in low.iter_mut().zip(&mut high).zip(code) {
                *lo = lo.min(x);
                *hi = hi.max(x);
            }
        }
        Ok(CodeBox { low, high })
    }

    /// `n` codes uniform in the box.
    pub fn sample(&self, stream: Stream, n: usize) -> Vec<Vec<f32>> {
        let dim = self.low.len();
        let u = cpu::uniform(stream, n * dim, 0.0, 1.0);
        u.chunks_exact(dim)
            .map(|u| (0..dim).map(|i| self.low[i] + u[i] * (self.high[i] - self.low[i])).collect())
            .collect()
    }
}

/// `n` codes from the prior N(0, I) in `dim` dimensions.
pub fn prior_codes(stream: Stream, n: usize, dim: usize) -> Vec<Vec<f32>> {
    cpu::normal(stream, n * dim, 0.0, 1.0).chunks_exact(dim.max(1)).map(<[f32]>::to_vec).collect()
}

/// The length of the codes, refused where there are fewer than `at_least`, or they are
/// ragged, empty or not finite.
fn code_dim(codes: &[Vec<f32>], at_least: usize, what: &str) -> Result<usize> {
    let dim = codes.first().map_or(0, Vec::len);
    if codes.len() < at_least || dim == 0 {
        return Err(Error::Invalid(format!(
            "fitting {what} needs at least {at_least} codes of one or more values; got {}",
            codes.len()
        )));
    }
    if codes.iter().any(|c| c.len() != dim || c.iter().any(|x| !x.is_finite())) {
        return Err(Error::Invalid(format!(
            "fitting {what}: the codes are not all {dim} finite values (a diverged model?)"
        )));
    }
    Ok(dim)
}

/// When a decoded image counts as a real moon: its distance to the nearest true moon is
/// within the [`MOON_PERCENTILE`] of the distances of the same model's reconstructions of
/// held-out moons. Each model is judged against its own best work, so a blurrier model is
/// not punished twice: the question is only whether a random code decodes as well as a
/// real image's code does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MoonRule {
    /// RMS pixel distance to the nearest true moon.
    pub threshold: f64,
}

impl MoonRule {
    /// The rule set by the distances of held-out reconstructions (nearest-rank percentile).
    pub fn from_reconstructions(distances: &[f64]) -> Result<MoonRule> {
        if distances.is_empty() || distances.iter().any(|d| !d.is_finite()) {
            return Err(Error::Invalid(format!(
                "the moon rule needs the finite distances of at least one reconstruction; got {} \
                 (a diverged model decodes NaN)",
                distances.len()
            )));
        }
        let mut sorted = distances.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = ((MOON_PERCENTILE * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        Ok(MoonRule { threshold: sorted[rank - 1] })
    }

    pub fn is_moon(&self, distance: f64) -> bool {
        distance <= self.threshold
    }

    /// The share of `distances` that count as moons (0 for none).
    pub fn share(&self, distances: &[f64]) -> f64 {
        let moons = distances.iter().filter(|&&d| self.is_moon(d)).count();
        moons as f64 / distances.len().max(1) as f64
    }
}

/// Mean distance to the nearest true moon of decoded random codes, and the share that the
/// model's [`MoonRule`] counts as moons, per code distribution.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RandomCodeFigures {
    /// z ~ N(0, I): the VAE only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prior_manifold_dist: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prior_moon_share: Option<f64>,
    pub fitted_gaussian_manifold_dist: f64,
    pub fitted_gaussian_moon_share: f64,
    pub box_manifold_dist: f64,
    pub box_moon_share: f64,
    /// The rule's threshold: the 95th percentile of held-out reconstructions' distances.
    pub moon_threshold: f64,
}

/// The model's training codes (at most [`FIT_CODES`]), encoded in chunks.
pub async fn training_codes(gpu: &Gpu, vae: &Vae, data: &DeviceDataset, max: usize) -> Result<Vec<Vec<f32>>> {
    let count = data.train.count.min(max);
    let mut codes = Vec::with_capacity(count);
    for start in (0..count).step_by(500) {
        let n = 500.min(count - start);
        let x = data.train.range(gpu, start, n)?.reshape([n, vae.image_len])?;
        codes.extend(vae.encode(gpu, &x).await?);
    }
    Ok(codes)
}

/// The distances to the nearest true moon of the held-out moons' reconstructions
/// decode(encode(x)), at most `max` of them.
pub async fn reconstruction_distances(
    gpu: &Gpu,
    vae: &Vae,
    data: &DeviceDataset,
    manifold: &MoonManifold,
    max: usize,
) -> Result<Vec<f64>> {
    let n = data.heldout.count.min(max);
    let x = data.heldout.range(gpu, 0, n)?.reshape([n, vae.image_len])?;
    let codes = vae.encode(gpu, &x).await?;
    decoded_distances(gpu, vae, manifold, &codes).await
}

/// The distance to the nearest true moon of each code's decoded image.
pub async fn decoded_distances(gpu: &Gpu, vae: &Vae, manifold: &MoonManifold, codes: &[Vec<f32>]) -> Result<Vec<f64>> {
    let images = vae.decode_codes(gpu, codes)?.to_vec(gpu).await?;
    images.chunks(vae.image_len).map(|image| manifold.distance(image).map(f64::from)).collect()
}

/// The random-code figures of a model trained on moons: `count` codes (see
/// [`RANDOM_CODES`]) from each distribution that applies (the prior for the VAE; the fitted
/// Gaussian and the box for both), decoded and scored against the model's own [`MoonRule`].
pub async fn random_code_figures(
    gpu: &Gpu,
    vae: &Vae,
    data: &DeviceDataset,
    manifold: &MoonManifold,
    count: usize,
    seed: u64,
) -> Result<RandomCodeFigures> {
    let rule = MoonRule::from_reconstructions(&reconstruction_distances(gpu, vae, data, manifold, RULE_IMAGES).await?)?;
    let codes = training_codes(gpu, vae, data, FIT_CODES).await?;
    let (gaussian, bounds) = (CodeGaussian::fit(&codes)?, CodeBox::fit(&codes)?);
    let mut draws = stream(seed, Purpose::Sampling);
    let dim = vae.config.latent;
    let mean = |d: &[f64]| d.iter().sum::<f64>() / d.len().max(1) as f64;
    let prior = if vae.config.autoencoder {
        None
    } else {
        let codes = prior_codes(draws.take(count * dim), count, dim);
        Some(decoded_distances(gpu, vae, manifold, &codes).await?)
    };
    let fitted = decoded_distances(gpu, vae, manifold, &gaussian.sample(draws.take(count * dim), count)).await?;
    let boxed = decoded_distances(gpu, vae, manifold, &bounds.sample(draws.take(count * dim), count)).await?;
    Ok(RandomCodeFigures {
        prior_manifold_dist: prior.as_deref().map(mean),
        prior_moon_share: prior.as_deref().map(|d| rule.share(d)),
        fitted_gaussian_manifold_dist: mean(&fitted),
        fitted_gaussian_moon_share: rule.share(&fitted),
        box_manifold_dist: mean(&boxed),
        box_moon_share: rule.share(&boxed),
        moon_threshold: rule.threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{render_moon, MoonJitter, MoonPose, MOON_SIZE};

    #[test]
    fn the_fitted_gaussian_has_the_codes_mean_and_covariance() {
        // Codes with a known mean (1, −2, 0.5) and a strong correlation between the first
        // two coordinates.
        let draws = cpu::normal(Stream::new(7), 3 * 20_000, 0.0, 1.0);
        let codes: Vec<Vec<f32>> =
            draws.chunks_exact(3).map(|e| vec![1.0 + 2.0 * e[0], -2.0 + e[0] + 0.5 * e[1], 0.5 + 0.1 * e[2]]).collect();
        let fit = CodeGaussian::fit(&codes).unwrap();
        // Against the covariance computed directly from the definition.
        let n = codes.len() as f64;
        let m: Vec<f64> = (0..3).map(|i| codes.iter().map(|c| c[i] as f64).sum::<f64>() / n).collect();
        for (a, b) in fit.mean().iter().zip(&m) {
            assert!((a - b).abs() < 1e-9, "mean {:?} against {m:?}", fit.mean());
        }
        for i in 0..3 {
            for j in 0..3 {
                let direct = codes.iter().map(|c| (c[i] as f64 - m[i]) * (c[j] as f64 - m[j])).sum::<f64>() / (n - 1.0);
                assert!((fit.covariance()[i * 3 + j] - direct).abs() < 1e-9, "Σ[{i}][{j}]");
            }
        }
        // And the known values, to sampling error: Σ = [[4, 2, 0], [2, 1.25, 0], [0, 0, 0.01]].
        let truth = [4.0, 2.0, 0.0, 2.0, 1.25, 0.0, 0.0, 0.0, 0.01];
        for (got, want) in fit.covariance().iter().zip(truth) {
            assert!((got - want).abs() < 0.1 * want.max(0.1), "{:?}", fit.covariance());
        }
        // Its samples have the same mean and covariance again.
        let again = CodeGaussian::fit(&fit.sample(Stream::new(8), 20_000)).unwrap();
        for (got, want) in again.covariance().iter().zip(fit.covariance()) {
            assert!((got - want).abs() < 0.1 * want.abs().max(0.1), "{:?}", again.covariance());
        }
        for (got, want) in again.mean().iter().zip(fit.mean()) {
            assert!((got - want).abs() < 0.05, "{:?}", again.mean());
        }
    }

    #[test]
    fn a_collapsed_direction_still_samples_and_bad_codes_are_refused() {
        // The second coordinate never moves: Σ is singular, and the sample keeps it still.
        let codes: Vec<Vec<f32>> = (0..50).map(|i| vec![i as f32, 3.0]).collect();
        let fit = CodeGaussian::fit(&codes).unwrap();
        for code in fit.sample(Stream::new(1), 100) {
            assert!((code[1] - 3.0).abs() < 0.05, "{code:?}");
        }
        assert!(CodeGaussian::fit(&codes[..1]).is_err());
        let err = CodeGaussian::fit(&[vec![1.0, f32::NAN], vec![0.0, 1.0]]).unwrap_err().to_string();
        assert!(err.contains("finite"), "{err}");
        assert!(CodeBox::fit(&[vec![1.0], vec![1.0, 2.0]]).is_err());
    }

    #[test]
    fn the_box_holds_every_code_and_its_samples_fill_it() {
        let codes = vec![vec![0.0, -1.0], vec![2.0, 1.0], vec![1.0, 4.0]];
        let b = CodeBox::fit(&codes).unwrap();
        assert_eq!(b, CodeBox { low: vec![0.0, -1.0], high: vec![2.0, 4.0] });
        let samples = b.sample(Stream::new(3), 2000);
        assert!(samples.iter().all(|z| (0.0..=2.0).contains(&z[0]) && (-1.0..=4.0).contains(&z[1])));
        let mean_x = samples.iter().map(|z| z[0] as f64).sum::<f64>() / 2000.0;
        assert!((mean_x - 1.0).abs() < 0.05, "{mean_x}");
    }

    #[test]
    fn a_true_moon_counts_and_a_grey_disc_does_not() {
        let manifold = MoonManifold::new(MoonJitter::default()).unwrap();
        // A model whose reconstructions are each moon plus a little noise.
        let noise = cpu::normal(Stream::new(5), 20 * MOON_SIZE * MOON_SIZE, 0.0, 0.03);
        let recon: Vec<f64> = (0..20)
            .map(|i| {
                let moon = render_moon(i as f32 / 20.0, &MoonPose::CENTERED);
                let e = &noise[i * moon.len()..(i + 1) * moon.len()];
                let blurred: Vec<f32> = moon.iter().zip(e).map(|(m, e)| (m + e).clamp(0.0, 1.0)).collect();
                manifold.distance(&blurred).unwrap() as f64
            })
            .collect();
        let rule = MoonRule::from_reconstructions(&recon).unwrap();
        // The 95th percentile of 20 values is the 19th smallest.
        let mut sorted = recon.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(rule.threshold, sorted[18]);

        let half = render_moon(0.25, &MoonPose { dx: 1.0, ..MoonPose::CENTERED });
        assert!(rule.is_moon(manifold.distance(&half).unwrap() as f64), "a true half moon");
        // The mean of all phases: a disc of even grey, what a blurry decoder gives between codes.
        let mut grey = vec![0.0f32; MOON_SIZE * MOON_SIZE];
        for k in 0..36 {
            for (g, m) in grey.iter_mut().zip(render_moon(k as f32 / 36.0, &MoonPose::CENTERED)) {
                *g += m / 36.0;
            }
        }
        let d = manifold.distance(&grey).unwrap() as f64;
        assert!(!rule.is_moon(d), "a grey disc at {d} passed the threshold {}", rule.threshold);
        assert_eq!(rule.share(&[0.0, d, 0.0, d]), 0.5);
        assert!(MoonRule::from_reconstructions(&[]).is_err());
        assert!(MoonRule::from_reconstructions(&[0.1, f64::NAN]).is_err());
    }
}
