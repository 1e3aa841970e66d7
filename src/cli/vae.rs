//! `genlab train vae` and `genlab eval vae`.

use std::path::PathBuf;

use clap::Args;
use genlab::data::device::DeviceDataset;
use genlab::data::{Dataset, DatasetKind, MoonManifold};
use genlab::gpu::{block_on, Gpu};
use genlab::models::latent::{lerp_codes, slerp_codes, CodePath};
use genlab::models::random_codes::{decoded_distances, random_code_figures, RandomCodeFigures, RANDOM_CODES};
use genlab::models::vae::{latent_grid, Vae, VaeConfig};
use genlab::models::{stream, Purpose};
use genlab::{Error, Result};

use super::data::{sheet_png, write, DataArgs};
use super::progress::Progress;
use super::train::{Extras, Run, TrainArgs};

#[derive(Args)]
pub struct TrainVae {
    #[command(flatten)]
    pub common: TrainArgs<Vae>,
    /// Train the plain autoencoder baseline: no noise, no KL.
    #[arg(long)]
    pub ae: bool,
    /// Importance samples per held-out image for the −log p(x) estimate.
    #[arg(long, default_value_t = 64)]
    pub iw_samples: usize,
    #[command(flatten)]
    pub moons: MoonFigureArgs,
}

#[derive(Args, Debug)]
pub struct EvalVae {
    /// The dataset to measure on: the same as the run's (its held-out split).
    #[command(flatten)]
    pub data: DataArgs,
    /// A weights file written by `genlab train vae`.
    #[arg(long)]
    pub weights: PathBuf,
    /// Picks the held-out pairs (the training run uses its training seed).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Importance samples per held-out image for the −log p(x) estimate.
    #[arg(long, default_value_t = 64)]
    pub iw_samples: usize,
    #[command(flatten)]
    pub moons: MoonFigureArgs,
}

/// How much the moon figures decode (moons only): fewer is faster and noisier.
#[derive(Args, Debug, Clone, Copy)]
pub struct MoonFigureArgs {
    /// Held-out pairs whose decoded midpoints are measured.
    #[arg(long, default_value_t = 200)]
    pub pairs: usize,
    /// Random codes decoded from each distribution (prior, fitted Gaussian, box).
    #[arg(long, default_value_t = RANDOM_CODES)]
    pub codes: usize,
}

impl MoonFigureArgs {
    /// Refused before any work: `train` measures after training, and a zero found then
    /// would throw the run's figures away.
    fn check(&self) -> Result<()> {
        if self.pairs == 0 || self.codes == 0 {
            return Err(Error::Invalid("--pairs and --codes must be at least 1 (the defaults: 200 and 1000)".into()));
        }
        Ok(())
    }
}

#[derive(serde::Serialize)]
struct EvalSummary {
    model: &'static str,
    data: String,
    steps: u32,
    #[serde(flatten)]
    figures: Figures,
    latent: usize,
    hidden: usize,
    adapter: String,
}

/// `genlab eval vae`: the held-out figures of saved weights, as one JSON line.
pub fn eval(gpu: &Gpu, args: EvalVae) -> Result<()> {
    args.moons.check()?;
    let bytes = std::fs::read(&args.weights)
        .map_err(|e| Error::Invalid(format!("cannot read {}: {e}", args.weights.display())))?;
    let (vae, header) = Vae::load(gpu, &bytes)?;
    let dataset = args.data.load()?;
    if dataset.image_len() != vae.image_len {
        return Err(Error::Invalid(format!(
            "{} was trained on {}×{}×{} images ({}), but this dataset's are {}×{}×{}; pass the data \
             it was trained on",
            args.weights.display(),
            header.height,
            header.width,
            header.channels,
            header.dataset,
            dataset.height,
            dataset.width,
            dataset.channels
        )));
    }
    let data = DeviceDataset::upload(gpu, &dataset)?;
    let summary = EvalSummary {
        model: if vae.config.autoencoder { "autoencoder" } else { "vae" },
        data: dataset.kind.to_string(),
        steps: header.steps,
        figures: figures(gpu, &vae, &dataset, &data, args.seed, args.iw_samples, args.moons)?,
        latent: vae.config.latent,
        hidden: vae.config.hidden,
        adapter: gpu.summary().to_string(),
    };
    super::print_json(&summary)
}

/// What `genlab train vae` adds to the shared figures.
#[derive(serde::Serialize)]
pub struct TrainFigures {
    train_loss: Option<f32>,
    #[serde(flatten)]
    figures: Figures,
    latent: usize,
    hidden: usize,
    batch: usize,
}

/// What `train vae` and `eval vae` measure on the held-out split.
#[derive(serde::Serialize)]
struct Figures {
    #[serde(flatten)]
    evaluation: genlab::models::vae::Evaluation,
    /// Moons only.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    manifold: Option<ManifoldDistances>,
    /// Moons only: decoded random codes (the prior, the fitted Gaussian, the box).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    random_codes: Option<RandomCodeFigures>,
}

/// Held-out figures of `vae`: −ELBO and IW −log p(x) (none for the autoencoder), and on moons
/// the manifold distances of midpoints and of random codes.
fn figures(
    gpu: &Gpu,
    vae: &Vae,
    dataset: &Dataset,
    data: &DeviceDataset,
    seed: u64,
    iw_samples: usize,
    counts: MoonFigureArgs,
) -> Result<Figures> {
    let k = if vae.config.autoencoder { 0 } else { iw_samples };
    let evaluation = block_on(vae.evaluate(gpu, &data.heldout, k, 512))?;
    if dataset.kind != DatasetKind::Moons {
        return Ok(Figures { evaluation, manifold: None, random_codes: None });
    }
    let moons = MoonManifold::new(genlab::data::MoonJitter::default())?;
    let manifold = block_on(manifold_distances(gpu, vae, &moons, data, &dataset.heldout(), counts.pairs, seed))?;
    let random_codes = block_on(random_code_figures(gpu, vae, data, &moons, counts.codes, seed))?;
    Ok(Figures { evaluation, manifold: Some(manifold), random_codes: Some(random_codes) })
}

/// `genlab train vae`: the VAE (or with `--ae` the autoencoder), its interpolation strips,
/// samples, latent map (with a latent size of 2) and held-out figures.
impl Extras<Vae> for &TrainVae {
    type Figures = TrainFigures;

    fn name(&self) -> &'static str {
        if self.ae {
            "autoencoder"
        } else {
            "vae"
        }
    }

    fn config(&self, flags: &VaeConfig) -> Result<VaeConfig> {
        self.moons.check()?;
        Ok(VaeConfig { autoencoder: self.ae, ..flags.clone() })
    }

    fn after_step(&mut self, _: &Gpu, vae: &Vae, progress: &Progress) -> Result<()> {
        if let Some(loss) = vae.monitor.latest_value("loss") {
            progress.set_message(format!("loss {loss:.2} nats/image"));
        }
        Ok(())
    }

    fn finish(self, gpu: &Gpu, run: &Run<Vae>, args: &TrainArgs<Vae>) -> Result<TrainFigures> {
        let Run { model: vae, dataset, data } = run;
        let out = &args.run.out;
        let (h, w, c) = (dataset.height, dataset.width, dataset.channels);
        let strips = block_on(interpolation_strips(gpu, vae, data, &dataset.heldout(), 8, 10))?;
        write(&out.join("interp.png"), &sheet_png(&strips, h, w, c, 10)?)?;
        run.write_samples(gpu, args)?;
        if vae.config.latent == 2 {
            let map = block_on(latent_map(gpu, vae, data, 16))?;
            write(&out.join("latent_map.png"), &sheet_png(&map, h, w, c, 16)?)?;
        }
        Ok(TrainFigures {
            train_loss: vae.monitor.recent_mean("loss", 10),
            figures: figures(gpu, vae, dataset, data, args.seed, self.iw_samples, self.moons)?,
            latent: vae.config.latent,
            hidden: vae.config.hidden,
            batch: vae.config.batch,
        })
    }
}

/// `rows` interpolation strips of `steps` images between held-out pairs. On moons the first
/// strip goes from the fullest held-out moon to the thinnest crescent, as in the lecture.
async fn interpolation_strips(
    gpu: &Gpu,
    vae: &Vae,
    data: &DeviceDataset,
    heldout: &Dataset,
    rows: usize,
    steps: usize,
) -> Result<Vec<f32>> {
    let pairs = pick_pairs(heldout, rows);
    let mut out = Vec::new();
    for (a, b) in pairs {
        let pair = data.heldout.select(gpu, &[a as u32, b as u32])?.reshape([2, vae.image_len])?;
        out.extend(vae.interpolate(gpu, &pair, steps)?.to_vec(gpu).await?);
    }
    Ok(out)
}

fn pick_pairs(heldout: &Dataset, rows: usize) -> Vec<(usize, usize)> {
    let n = heldout.count;
    let mut pairs: Vec<(usize, usize)> = (0..rows).map(|r| ((r * 7919) % n, (r * 104_729 + n / 2) % n)).collect();
    if let Some(phase) = &heldout.phase {
        // Fullest moon (phase nearest 0.5) and a thin waxing crescent (phase nearest 0.12).
        let nearest = |target: f32| {
            (0..n).min_by(|&i, &j| (phase[i] - target).abs().total_cmp(&(phase[j] - target).abs())).unwrap_or(0)
        };
        pairs[0] = (nearest(0.5), nearest(0.12));
    }
    pairs
}

/// The latent map: decoded codes on a grid over [−3, 3]² (the prior's bulk) for the VAE, and
/// over the range of the held-out codes for the autoencoder.
async fn latent_map(gpu: &Gpu, vae: &Vae, data: &DeviceDataset, n: usize) -> Result<Vec<f32>> {
    let extent = if vae.config.autoencoder {
        let x = data.heldout.range(gpu, 0, 256)?;
        let rows = x.shape().dims()[0];
        let codes = vae.encode(gpu, &x.reshape([rows, vae.image_len])?).await?;
        codes.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs()))
    } else {
        3.0
    };
    vae.decode_codes(gpu, &latent_grid(n, extent))?.to_vec(gpu).await
}

/// Mean distance to the nearest true moon of (decoded midpoints between the codes of random
/// held-out pairs, the held-out moons themselves, and the pixel-space average of each pair).
async fn manifold_distances(
    gpu: &Gpu,
    vae: &Vae,
    manifold: &MoonManifold,
    data: &DeviceDataset,
    heldout: &Dataset,
    pairs: usize,
    seed: u64,
) -> Result<ManifoldDistances> {
    let n = heldout.count;
    let mut pick = stream(seed, Purpose::Evaluation);
    let ids = genlab::kernels::rng::cpu::random_index(pick.take(2 * pairs), 2 * pairs, n as u32);
    let x = data.heldout.select(gpu, &ids)?.reshape([2 * pairs, vae.image_len])?;
    let codes = vae.encode(gpu, &x).await?;
    let midpoint = |path: CodePath| -> Vec<Vec<f32>> {
        codes.chunks(2).map(|ab| path(&ab[0], &ab[1], 3).swap_remove(1)).collect()
    };
    let line = decoded_distances(gpu, vae, manifold, &midpoint(lerp_codes)).await?;
    let arc = decoded_distances(gpu, vae, manifold, &midpoint(slerp_codes)).await?;
    let recon = decoded_distances(gpu, vae, manifold, &codes[..pairs]).await?;
    // Split by how far apart the pair's phases are around the cycle: a pair less than a
    // quarter cycle apart (full moon and gibbous, gibbous and half) has real moons all along
    // the arc between them; a pair further apart is split by the ring's inside.
    let near: Vec<bool> = match &heldout.phase {
        Some(phase) => ids
            .chunks(2)
            .map(|ab| {
                let d = (phase[ab[0] as usize] - phase[ab[1] as usize]).abs();
                d.min(1.0 - d) < 0.25
            })
            .collect(),
        None => vec![false; pairs],
    };
    let mean_where = |values: &[f64], want: bool| -> Option<f64> {
        let chosen: Vec<f64> = values.iter().zip(&near).filter(|(_, &n)| n == want).map(|(v, _)| *v).collect();
        (!chosen.is_empty()).then(|| mean(&chosen))
    };
    let real: Vec<f64> = ids
        .iter()
        .take(pairs)
        .map(|&i| manifold.distance(heldout.image(i as usize)).map(f64::from))
        .collect::<Result<_>>()?;
    let blend: Vec<f64> = ids
        .chunks(2)
        .map(|ab| {
            let (a, b) = (heldout.image(ab[0] as usize), heldout.image(ab[1] as usize));
            let average: Vec<f32> = a.iter().zip(b).map(|(x, y)| (x + y) / 2.0).collect();
            manifold.distance(&average).map(f64::from)
        })
        .collect::<Result<_>>()?;
    Ok(ManifoldDistances {
        interp: mean(&line),
        interp_near: mean_where(&line, true),
        interp_far: mean_where(&line, false),
        arc: mean(&arc),
        arc_near: mean_where(&arc, true),
        arc_far: mean_where(&arc, false),
        near_pairs: near.iter().filter(|&&n| n).count(),
        real: mean(&real),
        recon: mean(&recon),
        blend: mean(&blend),
    })
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

#[derive(serde::Serialize)]
struct ManifoldDistances {
    /// Midpoints on the straight line between the two codes.
    #[serde(rename = "interp_manifold_dist")]
    interp: f64,
    /// The same over the pairs less than a quarter of the phase cycle apart, and the others.
    #[serde(rename = "interp_manifold_dist_near_pairs")]
    interp_near: Option<f64>,
    #[serde(rename = "interp_manifold_dist_far_pairs")]
    interp_far: Option<f64>,
    /// Midpoints on the great-circle arc between the two codes (slerp).
    #[serde(rename = "slerp_manifold_dist")]
    arc: f64,
    #[serde(rename = "slerp_manifold_dist_near_pairs")]
    arc_near: Option<f64>,
    #[serde(rename = "slerp_manifold_dist_far_pairs")]
    arc_far: Option<f64>,
    near_pairs: usize,
    /// The held-out moons themselves (≈ 0: the fit's own error).
    #[serde(rename = "heldout_manifold_dist")]
    real: f64,
    /// The held-out moons' reconstructions decode(encode(x)): how far the model is off the
    /// manifold before any interpolation (its blur).
    #[serde(rename = "recon_manifold_dist")]
    recon: f64,
    /// The pixel-space average of each pair.
    #[serde(rename = "pixel_blend_manifold_dist")]
    blend: f64,
}
