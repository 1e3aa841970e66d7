//! The VAE's reparameterisation trick fused with its KL term (see reparam.wgsl).
//!
//! The encoder ends in one Linear with 2D outputs: `stats [B, 2D]`, means in columns 0..D
//! and log-variances in columns D..2D. One forward launch draws e ~ N(0, 1) from the Philox
//! stream, writes z = m + exp(σ/2)·e, keeps e (the backward pass needs it, and storing B·D
//! floats is cheaper and simpler than re-running Philox), and writes each row's KL to
//! N(0, 1). One backward launch turns dz and the KL weight into d stats.
//!
//! Without a stream (`None`) e = 0 and z = m: the autoencoder baseline, or decoding the
//! posterior mean. The KL rows are still written (they are worth watching); an autoencoder
//! passes `kl_scale = 0` to the backward pass so they do not train anything.
//!
//! Log-variances are clamped to [`LOGVAR_MIN`, `LOGVAR_MAX`] before use; gradients are
//! straight-through (taken at the clamped value), so the KL term keeps pulling a runaway σ
//! back instead of going silent.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Gpu, Shape, Tensor};
use crate::kernels::rng::Stream;
use crate::kernels::source;

kernel_specs! {
    shader: "reparam.wgsl", sources: [source::GRID, source::PHILOX, source::REPARAM], params: Params;
    FORWARD = "reparam_forward" [fw_stats: Read, fw_z: ReadWrite, fw_noise: ReadWrite, fw_kl_rows: ReadWrite];
    BACKWARD = "reparam_backward" [bw_stats: Read, bw_noise: Read, bw_dz: Read, bw_dstats: ReadWrite];
}

kernel_params! {
    struct Params {
        rows: u32,
        /// D; stats rows are 2D wide
        latent: u32,
        seed_lo: u32,
        seed_hi: u32,
        offset_lo: u32,
        offset_hi: u32,
        flags: u32,
        kl_scale: f32,
    }

    /// The log-variance range the kernels clamp to: exp(20) ≈ 4.9e8 keeps the KL and its
    /// gradient finite in f32, exp(−20) ≈ 2e−9 is a standard deviation of 4.5e−5.
    pub const LOGVAR_MIN: f32 = -20.0;
    /// The top of the log-variance range (see [`LOGVAR_MIN`]).
    pub const LOGVAR_MAX: f32 = 20.0;
    /// Flag (forward): draw e from the stream (otherwise e = 0 and z = m).
    const NOISE: u32 = 1;
    /// Flag (backward): dz is bound (otherwise only the KL term flows).
    const HAS_DZ: u32 = 2;
    /// Flag (backward): dstats += … instead of =.
    const ACCUMULATE: u32 = 4;
}

/// What one forward launch writes.
pub struct Reparam {
    /// The latent sample, `[.., D]` (the stats' shape with the last dimension halved).
    pub z: Tensor,
    /// The standard-normal noise e that made z (zeros without a stream); same shape as z.
    pub noise: Tensor,
    /// KL(N(m, exp σ) ‖ N(0, 1)) of each row, in nats: `[rows]`.
    pub kl_rows: Tensor,
}

/// The latent width D of `stats [.., 2D]`, refusing odd or empty widths.
pub fn latent_dim(stats: &Shape) -> Result<usize> {
    let (_, cols) = stats.as_matrix();
    if cols % 2 != 0 || cols == 0 {
        return Err(Error::BadShape {
            op: "reparameterize",
            why: format!("stats must hold means then log-variances, 2·D columns, not {cols}"),
            shape: stats.clone(),
        });
    }
    Ok(cols / 2)
}

fn latent_shape(stats: &Shape, latent: usize) -> Shape {
    let mut dims = stats.dims().to_vec();
    match dims.last_mut() {
        Some(last) => *last = latent,
        None => dims.push(latent),
    }
    Shape(dims)
}

/// z = m + exp(σ/2)·e with e number `row·D + j` of `stream` (the same numbers
/// [`rng::normal`](crate::kernels::rng::normal) draws from it), and the KL of every row.
/// Consumes B·D numbers of the stream: advance it with `stream.take(B·D)`. One launch.
pub fn reparameterize(gpu: &Gpu, stats: &Tensor, stream: Option<Stream>) -> Result<Reparam> {
    let latent = latent_dim(stats.shape())?;
    let rows = stats.len() / (2 * latent);
    let shape = latent_shape(stats.shape(), latent);
    let z = Tensor::uninit(gpu, shape.clone())?;
    let noise = Tensor::uninit(gpu, shape)?;
    let kl_rows = Tensor::uninit(gpu, [rows])?;
    let s = stream.unwrap_or(Stream::new(0));
    let params = Params {
        rows: rows as u32,
        latent: latent as u32,
        seed_lo: s.seed as u32,
        seed_hi: (s.seed >> 32) as u32,
        offset_lo: s.offset as u32,
        offset_hi: (s.offset >> 32) as u32,
        flags: if stream.is_some() { NOISE } else { 0 },
        kl_scale: 0.0,
    };
    gpu.dispatch(&FORWARD, &params, &[stats, &z, &noise, &kl_rows], grid_1d(rows, 64));
    Ok(Reparam { z, noise, kl_rows })
}

/// `dstats (=|+=) d/d stats` of `Σ dz·z + kl_scale · Σ_rows KL`, i.e. dm = dz + kl_scale·m
/// and dσ = dz·e·exp(σ/2)/2 + kl_scale·(exp σ − 1)/2. `kl_scale` is β / B for a loss
/// β·mean_rows KL; `dz = None` sends the KL gradient alone. One launch.
pub fn reparameterize_backward_into(
    gpu: &Gpu,
    stats: &Tensor,
    noise: &Tensor,
    dz: Option<&Tensor>,
    kl_scale: f32,
    dstats: &Tensor,
    accumulate: bool,
) -> Result<()> {
    let op = "reparameterize_backward";
    let latent = latent_dim(stats.shape())?;
    let rows = stats.len() / (2 * latent);
    let z_shape = latent_shape(stats.shape(), latent);
    if noise.shape() != &z_shape {
        return Err(Error::shape(op, "noise must be [rows, D] for stats [rows, 2D]", noise.shape(), stats.shape()));
    }
    if let Some(dz) = dz {
        if dz.shape() != &z_shape {
            return Err(Error::shape(op, "dz must be [rows, D] for stats [rows, 2D]", dz.shape(), stats.shape()));
        }
    }
    if dstats.shape() != stats.shape() {
        return Err(Error::shape(op, "dstats must have the shape of stats", dstats.shape(), stats.shape()));
    }
    if !kl_scale.is_finite() {
        return Err(Error::Invalid(format!("{op}: kl_scale must be finite, not {kl_scale}")));
    }
    for input in [Some(stats), Some(noise), dz].into_iter().flatten() {
        if input.same_buffer(dstats) {
            return Err(Error::Invalid(format!("{op}: dstats must not share a buffer with an input")));
        }
    }
    let flags = if dz.is_some() { HAS_DZ } else { 0 } | if accumulate { ACCUMULATE } else { 0 };
    let params = Params { rows: rows as u32, latent: latent as u32, flags, kl_scale, ..bytemuck::Zeroable::zeroed() };
    // Without dz the noise is bound in its place (read-only twice is allowed) and ignored.
    let dz = dz.unwrap_or(noise);
    gpu.dispatch(&BACKWARD, &params, &[stats, noise, dz, dstats], grid_1d(rows * latent, 256));
    Ok(())
}

/// [`reparameterize_backward_into`] into a fresh tensor.
pub fn reparameterize_backward(
    gpu: &Gpu,
    stats: &Tensor,
    noise: &Tensor,
    dz: Option<&Tensor>,
    kl_scale: f32,
) -> Result<Tensor> {
    let dstats = Tensor::uninit(gpu, stats.shape().clone())?;
    reparameterize_backward_into(gpu, stats, noise, dz, kl_scale, &dstats, false)?;
    Ok(dstats)
}

pub mod cpu {
    //! The twin, in f64 from f32 inputs: the same clamp, the same straight-through gradient.
    use super::{LOGVAR_MAX, LOGVAR_MIN};
    use crate::kernels::rng::{self, Stream};

    /// The noise the GPU draws for `n` latent values (e = 0 without a stream).
    pub fn noise(stream: Option<Stream>, n: usize) -> Vec<f32> {
        match stream {
            Some(stream) => rng::cpu::normal(stream, n, 0.0, 1.0),
            None => vec![0.0; n],
        }
    }

    fn clamped(s: f32) -> f64 {
        s.clamp(LOGVAR_MIN, LOGVAR_MAX) as f64
    }

    /// (z, kl_rows) for `stats [rows, 2·latent]` and the given noise `[rows, latent]`.
    pub fn forward(stats: &[f32], latent: usize, noise: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let mut z = Vec::with_capacity(noise.len());
        let mut kl_rows = Vec::new();
        for (row, e_row) in stats.chunks(2 * latent).zip(noise.chunks(latent)) {
            let (means, logvars) = row.split_at(latent);
            let mut kl = 0.0f64;
            for ((&m, &s), &e) in means.iter().zip(logvars).zip(e_row) {
                let (m, s, e) = (m as f64, clamped(s), e as f64);
                z.push((m + (0.5 * s).exp() * e) as f32);
                kl += 0.5 * (s.exp_m1() - s + m * m);
            }
            kl_rows.push(kl as f32);
        }
        (z, kl_rows)
    }

    /// d stats of `Σ dz·z + kl_scale · Σ KL` (dz = None: the KL term alone).
    pub fn backward(stats: &[f32], latent: usize, noise: &[f32], dz: Option<&[f32]>, kl_scale: f32) -> Vec<f32> {
        let mut dstats = vec![0.0f32; stats.len()];
        let k = kl_scale as f64;
        for (i, &e) in noise.iter().enumerate() {
            let (row, j) = (i / latent, i % latent);
            let (mi, si) = (row * 2 * latent + j, row * 2 * latent + latent + j);
            let (m, s, e) = (stats[mi] as f64, clamped(stats[si]), e as f64);
            let g = dz.map_or(0.0, |dz| dz[i] as f64);
            dstats[mi] = (g + k * m) as f32;
            dstats[si] = (0.5 * (g * e * (0.5 * s).exp() + k * s.exp_m1())) as f32;
        }
        dstats
    }
}

/// The self-test's cases: these kernels against their [`cpu`] twins, on awkward sizes.
pub mod cases {
    use crate::error::Result;
    use crate::gpu::{Gpu, Tensor};
    use crate::kernels::check::{
        check, max_error, plus, prior_grad, test_data, worst, Check, NORMAL_TOLERANCE, TOLERANCE,
    };
    use crate::kernels::reparam;
    use crate::kernels::rng::Stream;

    #[derive(Clone, Debug)]
    pub enum ReparamCase {
        /// z and the KL rows from `stats [rows, 2·latent]` (log-variances in ±`logvar_scale`;
        /// past ±20 they are clamped).
        Forward { rows: usize, latent: usize, logvar_scale: f32 },
        /// d stats, with a dz or from the KL term alone, written or accumulated.
        Backward { rows: usize, latent: usize, dz: bool, accumulate: bool },
    }

    /// `stats [rows, 2·latent]`: means in [−2, 2), log-variances in [−logvar_scale, logvar_scale).
    fn vae_stats(seed: u64, rows: usize, latent: usize, logvar_scale: f32) -> Vec<f32> {
        let n = rows * latent;
        let (means, logvars) = (test_data(seed, n, 2.0), test_data(seed + 1, n, logvar_scale));
        means.chunks(latent).zip(logvars.chunks(latent)).flat_map(|(m, s)| m.iter().chain(s).copied()).collect()
    }

    impl ReparamCase {
        pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
            match *self {
                ReparamCase::Forward { rows, latent, logvar_scale } => {
                    let stats = vae_stats(20, rows, latent, logvar_scale);
                    let st = Tensor::from_slice(gpu, [rows, 2 * latent], &stats)?;
                    // An offset off the Philox block boundary checks the counter arithmetic too.
                    let stream = Stream { seed: 0x5eed_0f2a_e5e5, offset: 6 };
                    let out = reparam::reparameterize(gpu, &st, Some(stream))?;
                    let (z, kl) = (gpu.read(&out.z).await?, gpu.read(&out.kl_rows).await?);
                    let noise = gpu.read(&out.noise).await?;
                    // z and KL against the twin fed the GPU's own noise; the noise itself must be
                    // the stream's normals, to the accuracy of "philox normal" (a wrong stream or
                    // offset is off by order one, and is reported as the error instead).
                    let noise_error = max_error(&noise, &reparam::cpu::noise(Some(stream), rows * latent));
                    let (z_cpu, kl_cpu) = reparam::cpu::forward(&stats, latent, &noise);
                    let mut error = worst(&[(&z, &z_cpu), (&kl, &kl_cpu)]);
                    if noise_error > NORMAL_TOLERANCE {
                        error = error.max(noise_error);
                    }
                    Ok(check(
                        "reparam fwd (z, KL rows)".into(),
                        format!("{rows}×{latent}, |logvar|≤{logvar_scale}"),
                        error,
                        TOLERANCE,
                    ))
                }
                ReparamCase::Backward { rows, latent, dz, accumulate } => {
                    let stats = vae_stats(22, rows, latent, 3.0);
                    let noise = reparam::cpu::noise(Some(Stream::new(24)), rows * latent);
                    let dz_data = test_data(25, rows * latent, 1.0);
                    let prior = prior_grad(26, stats.len(), accumulate);
                    let kl_scale = 0.7 / rows as f32;
                    let st = Tensor::from_slice(gpu, [rows, 2 * latent], &stats)?;
                    let nt = Tensor::from_slice(gpu, [rows, latent], &noise)?;
                    let dzt = if dz { Some(Tensor::from_slice(gpu, [rows, latent], &dz_data)?) } else { None };
                    let dstats = if accumulate {
                        Tensor::from_slice(gpu, [rows, 2 * latent], &prior)?
                    } else {
                        Tensor::uninit(gpu, [rows, 2 * latent])?
                    };
                    reparam::reparameterize_backward_into(gpu, &st, &nt, dzt.as_ref(), kl_scale, &dstats, accumulate)?;
                    let got = gpu.read(&dstats).await?;
                    let grad = reparam::cpu::backward(&stats, latent, &noise, dz.then_some(&dz_data[..]), kl_scale);
                    let want = plus(&grad, &prior);
                    let name = match (dz, accumulate) {
                        (true, false) => "reparam bwd",
                        (true, true) => "reparam bwd +=",
                        (false, false) => "reparam bwd, KL only",
                        (false, true) => "reparam bwd, KL only +=",
                    };
                    Ok(check(name.into(), format!("{rows}×{latent}"), max_error(&got, &want), TOLERANCE))
                }
            }
        }
    }

    pub fn all(small: bool) -> Vec<ReparamCase> {
        let mut cases = vec![
            ReparamCase::Forward { rows: 7, latent: 3, logvar_scale: 3.0 },
            // Log-variances past the ±20 clamp.
            ReparamCase::Forward { rows: 5, latent: 4, logvar_scale: 30.0 },
            ReparamCase::Backward { rows: 7, latent: 3, dz: true, accumulate: false },
            ReparamCase::Backward { rows: 7, latent: 3, dz: false, accumulate: true },
        ];
        if !small {
            cases.extend([
                ReparamCase::Forward { rows: 256, latent: 32, logvar_scale: 3.0 },
                ReparamCase::Forward { rows: 65, latent: 33, logvar_scale: 3.0 },
                ReparamCase::Backward { rows: 65, latent: 33, dz: true, accumulate: true },
                ReparamCase::Backward { rows: 256, latent: 32, dz: false, accumulate: false },
            ]);
        }
        cases
    }
}
