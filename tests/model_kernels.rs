//! The models' fused kernels — VAE reparameterisation + KL, GAN losses — against their CPU
//! twins, closed forms and finite differences (native, lavapipe in CI).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use genlab::gpu::Gpu;
use genlab::kernels::gan::{self, DiscStats, GenStats};
use genlab::kernels::reparam::{self, LOGVAR_MAX, LOGVAR_MIN};
use genlab::kernels::rng::{self, Stream};
use genlab::selftest::{max_error, test_data, NORMAL_TOLERANCE, TOLERANCE};
use genlab::{Error, Tensor};

/// Awkward batch × latent shapes: 1×1, primes, one past a workgroup, a realistic one.
const SHAPES: [(usize, usize); 4] = [(1, 1), (7, 3), (65, 33), (256, 32)];

fn upload(gpu: &Gpu, shape: impl Into<genlab::Shape>, data: &[f32]) -> Tensor {
    Tensor::from_slice(gpu, shape, data).unwrap()
}

fn read(gpu: &Gpu, t: &Tensor) -> Vec<f32> {
    t.to_vec_blocking(gpu).unwrap()
}

/// `stats [rows, 2·latent]` from per-element means and log-variances.
fn pack_stats(means: &[f32], logvars: &[f32], latent: usize) -> Vec<f32> {
    means.chunks(latent).zip(logvars.chunks(latent)).flat_map(|(m, s)| m.iter().chain(s).copied()).collect()
}

/// Means in [−2, 2), log-variances in [−3, 3).
fn random_stats(seed: u64, rows: usize, latent: usize) -> Vec<f32> {
    let n = rows * latent;
    pack_stats(&test_data(seed, n, 2.0), &test_data(seed + 100, n, 3.0), latent)
}

fn assert_close(what: &str, gpu: &[f32], cpu: &[f32], tolerance: f64) {
    let error = max_error(gpu, cpu);
    assert!(error <= tolerance, "{what}: max error {error:.2e} > {tolerance:.0e}");
}

// ---------------------------------------------------------------------------------------
// VAE: reparameterisation and KL
// ---------------------------------------------------------------------------------------

#[test]
fn reparam_forward_matches_cpu_twin_on_awkward_shapes() {
    let gpu = common::gpu();
    for (i, &(rows, latent)) in SHAPES.iter().enumerate() {
        let stats = random_stats(10 + i as u64, rows, latent);
        let st = upload(&gpu, [rows, 2 * latent], &stats);
        // An offset off the Philox block boundary checks the counter arithmetic too.
        let stream = Stream { seed: 0x1234_5678_9abc + i as u64, offset: 6 + 4 * i as u64 };
        let out = reparam::reparameterize(&gpu, &st, Some(stream)).unwrap();
        assert_eq!(out.z.shape().dims(), &[rows, latent]);
        let (z, noise, kl) = (read(&gpu, &out.z), read(&gpu, &out.noise), read(&gpu, &out.kl_rows));
        let shape = format!("{rows}x{latent}");

        // The noise is the Philox normal stream: bit for bit what rng::normal draws on the
        // GPU, and the CPU twin's numbers to the accuracy of WGSL's log/sin/cos.
        let fill = read(&gpu, &rng::normal(&gpu, stream, [rows * latent], 0.0, 1.0).unwrap());
        assert!(noise.iter().zip(&fill).all(|(a, b)| a.to_bits() == b.to_bits()), "{shape}: noise != normal_fill");
        let noise_cpu = reparam::cpu::noise(Some(stream), rows * latent);
        assert_close(&format!("{shape} noise"), &noise, &noise_cpu, NORMAL_TOLERANCE);
        // A different offset must give different noise (the check above can fail).
        let other = reparam::cpu::noise(Some(Stream { offset: stream.offset + 4, ..stream }), rows * latent);
        assert!(rows * latent < 4 || max_error(&noise, &other) > 0.1, "{shape}: offset ignored");

        let (z_cpu, kl_cpu) = reparam::cpu::forward(&stats, latent, &noise);
        assert_close(&format!("{shape} z"), &z, &z_cpu, TOLERANCE);
        assert_close(&format!("{shape} kl"), &kl, &kl_cpu, TOLERANCE);
        let errors = [max_error(&noise, &noise_cpu), max_error(&z, &z_cpu), max_error(&kl, &kl_cpu)];
        println!("reparam forward {shape}: noise {:.1e}, z {:.1e}, kl {:.1e}", errors[0], errors[1], errors[2]);
    }
}

#[test]
fn reparam_without_noise_is_the_mean() {
    let gpu = common::gpu();
    let (rows, latent) = (7, 3);
    let stats = random_stats(3, rows, latent);
    let out = reparam::reparameterize(&gpu, &upload(&gpu, [rows, 2 * latent], &stats), None).unwrap();
    let means: Vec<f32> = stats.chunks(2 * latent).flat_map(|r| r[..latent].to_vec()).collect();
    assert_eq!(read(&gpu, &out.z), means, "z = m exactly");
    assert!(read(&gpu, &out.noise).iter().all(|&e| e == 0.0));
    // The KL is still reported.
    let (_, kl_cpu) = reparam::cpu::forward(&stats, latent, &vec![0.0; rows * latent]);
    assert_close("kl without noise", &read(&gpu, &out.kl_rows), &kl_cpu, TOLERANCE);
}

#[test]
fn reparam_moments_over_a_million_draws() {
    let gpu = common::gpu();
    let (rows, latent) = (15_625, 64);
    let n = rows * latent;
    // (m, σ, expected mean, expected variance); tolerances are about four standard errors:
    // mean sd/√n, variance var·√(2/n).
    for (m, s, want_mean, want_var) in [(0.0f32, 0.0f32, 0.0f64, 1.0f64), (2.0, 4.0f32.ln(), 2.0, 4.0)] {
        let stats = pack_stats(&vec![m; n], &vec![s; n], latent);
        let out =
            reparam::reparameterize(&gpu, &upload(&gpu, [rows, 2 * latent], &stats), Some(Stream::new(77))).unwrap();
        let (mean, var) = common::moments(&read(&gpu, &out.z));
        let sd = want_var.sqrt();
        assert!((mean - want_mean).abs() < 4.0 * sd / (n as f64).sqrt(), "m={m} σ={s}: mean {mean}");
        assert!((var - want_var).abs() < 4.0 * want_var * (2.0 / n as f64).sqrt(), "m={m} σ={s}: variance {var}");
        println!("m={m} σ={s:.3}: mean {mean:.4} variance {var:.4}");
        if m == 0.0 && s == 0.0 {
            assert!(read(&gpu, &out.kl_rows).iter().all(|&kl| kl == 0.0), "KL(N(0,1) ‖ N(0,1)) = 0");
        }
    }
}

#[test]
fn kl_matches_the_closed_form() {
    let gpu = common::gpu();
    // KL(N(μ, s²) ‖ N(0, 1)) = ln(1/s) + (s² + μ²)/2 − 1/2, written from the textbook
    // rather than from the kernel's exp(σ) − 1 − σ, with s = exp(σ/2).
    let closed_form = |mu: f64, logvar: f64| {
        let s = (0.5 * logvar).exp();
        -s.ln() + 0.5 * (s * s + mu * mu) - 0.5
    };
    let pairs: [(f32, f32); 10] = [
        (0.0, 0.0),
        (1.0, 0.0),
        (0.0, 4.0f32.ln()),
        (-1.5, -2.0),
        // KL ≈ σ²/4 ≈ 2.5e−7: exp(σ) − 1 − σ in plain f32 arithmetic is off by ~20 % here.
        (0.0, 1e-3),
        (0.0, -1e-3),
        (0.0, 0.4),
        (0.0, -0.6),
        (2.0, 5.0),
        (-3.0, -7.0),
    ];
    // One row per pair, and a last row holding all of them (the KL sums over the latent).
    let latent = pairs.len();
    let mut means = vec![0.0f32; latent * latent];
    let mut logvars = vec![0.0f32; latent * latent];
    for (r, &(m, s)) in pairs.iter().enumerate() {
        means[r * latent] = m;
        logvars[r * latent] = s;
    }
    means.extend(pairs.iter().map(|p| p.0));
    logvars.extend(pairs.iter().map(|p| p.1));
    let rows = latent + 1;
    let stats = pack_stats(&means, &logvars, latent);
    let out = reparam::reparameterize(&gpu, &upload(&gpu, [rows, 2 * latent], &stats), Some(Stream::new(5))).unwrap();
    let kl = read(&gpu, &out.kl_rows);
    let mut total = 0.0;
    for (r, &(m, s)) in pairs.iter().enumerate() {
        let want = closed_form(m as f64, s as f64);
        total += want;
        let error = (kl[r] as f64 - want).abs() / want.max(1e-30);
        // Relative error, even for KL ≈ 2.5e−7: f32 rounding and WGSL's exp, nothing more.
        assert!(error < 1e-4 || (want == 0.0 && kl[r] == 0.0), "m={m} σ={s}: KL {} vs closed form {want}", kl[r]);
    }
    assert!((kl[latent] as f64 - total).abs() < 1e-5 * total, "row sum {} vs {total}", kl[latent]);
    assert_eq!(kl[0], 0.0, "KL = 0 at m = 0, σ = 0");
}

#[test]
fn reparam_backward_matches_cpu_twin() {
    let gpu = common::gpu();
    for (i, &(rows, latent)) in SHAPES.iter().enumerate() {
        let shape = format!("{rows}x{latent}");
        let stats = random_stats(20 + i as u64, rows, latent);
        let st = upload(&gpu, [rows, 2 * latent], &stats);
        let out = reparam::reparameterize(&gpu, &st, Some(Stream::new(i as u64))).unwrap();
        let noise = read(&gpu, &out.noise);
        let dz = test_data(30 + i as u64, rows * latent, 1.0);
        let dzt = upload(&gpu, [rows, latent], &dz);
        let kl_scale = 0.7 / rows as f32;

        let got = read(&gpu, &reparam::reparameterize_backward(&gpu, &st, &out.noise, Some(&dzt), kl_scale).unwrap());
        let want = reparam::cpu::backward(&stats, latent, &noise, Some(&dz), kl_scale);
        assert_close(&format!("{shape} dstats"), &got, &want, TOLERANCE);

        // The KL gradient alone (z received no gradient).
        let got = read(&gpu, &reparam::reparameterize_backward(&gpu, &st, &out.noise, None, kl_scale).unwrap());
        let kl_only = reparam::cpu::backward(&stats, latent, &noise, None, kl_scale);
        assert_close(&format!("{shape} dstats, KL only"), &got, &kl_only, TOLERANCE);

        // Accumulating into an existing gradient.
        let prior = test_data(40 + i as u64, stats.len(), 1.0);
        let dstats = upload(&gpu, [rows, 2 * latent], &prior);
        reparam::reparameterize_backward_into(&gpu, &st, &out.noise, Some(&dzt), kl_scale, &dstats, true).unwrap();
        let sum: Vec<f32> = want.iter().zip(&prior).map(|(a, b)| a + b).collect();
        assert_close(&format!("{shape} dstats accumulated"), &read(&gpu, &dstats), &sum, TOLERANCE);
    }
}

/// L = Σ w·z + kl_scale · Σ_rows KL, summed in f64 from the f32 outputs. Terms a nudge
/// does not touch are bit-identical on both sides of a central difference and cancel.
fn vae_objective(z: &[f32], kl_rows: &[f32], w: &[f32], kl_scale: f32) -> f64 {
    let zw: f64 = z.iter().zip(w).map(|(&z, &w)| z as f64 * w as f64).sum();
    zw + kl_scale as f64 * kl_rows.iter().map(|&k| k as f64).sum::<f64>()
}

#[test]
fn reparam_gradient_matches_finite_differences_on_cpu_and_gpu() {
    let gpu = common::gpu();
    let (rows, latent) = (3, 4);
    let stats = random_stats(50, rows, latent);
    let w = test_data(51, rows * latent, 1.0);
    let kl_scale = 0.7 / rows as f32;
    let stream = Stream::new(52);
    let noise = reparam::cpu::noise(Some(stream), rows * latent);

    let st = upload(&gpu, [rows, 2 * latent], &stats);
    let out = reparam::reparameterize(&gpu, &st, Some(stream)).unwrap();
    let wt = upload(&gpu, [rows, latent], &w);
    let gpu_grad = read(&gpu, &reparam::reparameterize_backward(&gpu, &st, &out.noise, Some(&wt), kl_scale).unwrap());
    let cpu_grad = reparam::cpu::backward(&stats, latent, &noise, Some(&w), kl_scale);

    let cpu_loss = |s: &[f32]| {
        let (z, kl) = reparam::cpu::forward(s, latent, &noise);
        vae_objective(&z, &kl, &w, kl_scale)
    };
    // e is held fixed by reusing the same seed and offset on every evaluation.
    let gpu_loss = |s: &[f32]| {
        let out = reparam::reparameterize(&gpu, &upload(&gpu, [rows, 2 * latent], s), Some(stream)).unwrap();
        vae_objective(&read(&gpu, &out.z), &read(&gpu, &out.kl_rows), &w, kl_scale)
    };
    // h = 1e-2: truncation h²·|L'''|/6 is up to ~1e−4 here (|σ| ≤ 3 makes the exp(σ) terms
    // of L''' reach a few units); rounding of the one touched z and KL row in f32 adds
    // ≈ 1e−7·|value| / h ≈ 1e−5. Tolerance 1e−3 relative (floor 1e−2) is ~10× the worst
    // seen and still far below a dropped ½ or a missing term (≥ 10 %).
    let h = 1e-2f32;
    for (name, loss, analytic) in
        [("cpu", &cpu_loss as &dyn Fn(&[f32]) -> f64, &cpu_grad), ("gpu", &gpu_loss, &gpu_grad)]
    {
        let mut worst = 0.0f64;
        for i in 0..stats.len() {
            let mut s = stats.clone();
            s[i] = stats[i] + h;
            let (up_x, up) = (s[i], loss(&s));
            s[i] = stats[i] - h;
            let (down_x, down) = (s[i], loss(&s));
            let numeric = (up - down) / (up_x as f64 - down_x as f64);
            let a = analytic[i] as f64;
            let error = (numeric - a).abs() / (numeric.abs().max(a.abs()) + 1e-2);
            worst = worst.max(error);
            let what = if i % (2 * latent) < latent { "m" } else { "σ" };
            assert!(error < 1e-3, "{name} d{what}[{i}]: analytic {a} vs finite difference {numeric}");
        }
        println!("{name}: worst relative gradient error {worst:.2e}");
    }
}

#[test]
fn extreme_logvars_stay_finite_and_are_pulled_back() {
    let gpu = common::gpu();
    let latent = 4;
    let means = [0.5f32, 0.0, 1e3, 0.0];
    let logvars = [80.0f32, -80.0, 25.0, -1e4];
    let stats = pack_stats(&means, &logvars, latent);
    let st = upload(&gpu, [1, 2 * latent], &stats);
    let out = reparam::reparameterize(&gpu, &st, Some(Stream::new(9))).unwrap();
    let (z, kl, noise) = (read(&gpu, &out.z), read(&gpu, &out.kl_rows), read(&gpu, &out.noise));
    assert!(z.iter().chain(&kl).all(|v| v.is_finite()), "z {z:?} kl {kl:?}");
    let (z_cpu, kl_cpu) = reparam::cpu::forward(&stats, latent, &noise);
    assert_close("clamped z", &z, &z_cpu, TOLERANCE);
    assert_close("clamped kl", &kl, &kl_cpu, TOLERANCE);
    // σ is used as if clamped: the sample's spread is exp(LOGVAR_MAX / 2), not exp(40).
    for (k, bound) in [(0, LOGVAR_MAX), (1, LOGVAR_MIN)] {
        let spread = (z[k] - means[k]) / noise[k];
        assert!((spread / (0.5 * bound).exp() - 1.0).abs() < 1e-3, "σ[{k}] used as {}", 2.0 * spread.ln());
    }

    // With only the KL term, gradient descent must push σ back towards the range.
    let dz = upload(&gpu, [1, latent], &[1.0, -1.0, 1.0, 1.0]);
    let grad = read(&gpu, &reparam::reparameterize_backward(&gpu, &st, &out.noise, Some(&dz), 1.0).unwrap());
    assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
    let kl_only = read(&gpu, &reparam::reparameterize_backward(&gpu, &st, &out.noise, None, 1.0).unwrap());
    let dsigma = &kl_only[latent..];
    assert!(dsigma[0] > 0.0 && dsigma[2] > 0.0, "σ above the range is pushed down: {dsigma:?}");
    assert!(dsigma[1] < 0.0 && dsigma[3] < 0.0, "σ below the range is pushed up: {dsigma:?}");
    let want = reparam::cpu::backward(&stats, latent, &noise, Some(&[1.0, -1.0, 1.0, 1.0]), 1.0);
    assert_close("clamped dstats", &grad, &want, TOLERANCE);
}

// ---------------------------------------------------------------------------------------
// GAN losses
// ---------------------------------------------------------------------------------------

/// Logits in [−80, 80) with the extremes themselves and zero at the front.
fn wide_logits(seed: u64, n: usize) -> Vec<f32> {
    let mut x = test_data(seed, n, 80.0);
    for (slot, v) in x.iter_mut().zip([80.0, -80.0, 0.0]) {
        *slot = v;
    }
    x
}

#[test]
fn discriminator_loss_matches_cpu_twin_with_large_logits() {
    let gpu = common::gpu();
    for (i, &b) in [1usize, 7, 64, 257, 1000].iter().enumerate() {
        for (label, scale) in [(1.0f32, 80.0f32), (0.9, 80.0), (1.0, 3.0)] {
            let what = format!("B={b} label={label} |x|<{scale}");
            let mut real = wide_logits(60 + i as u64, b);
            let mut fake = wide_logits(70 + i as u64, b);
            if scale < 80.0 {
                real = test_data(80 + i as u64, b, scale);
                fake = test_data(90 + i as u64, b, scale);
            }
            let grad_scale = 1.0 / b as f32;
            let out = gan::discriminator_loss(
                &gpu,
                &upload(&gpu, [b, 1], &real),
                &upload(&gpu, [b, 1], &fake),
                label,
                grad_scale,
            )
            .unwrap();
            let (rg, fg, stats) = (read(&gpu, &out.real_grad), read(&gpu, &out.fake_grad), read(&gpu, &out.stats));
            assert!(rg.iter().chain(&fg).chain(&stats).all(|v| v.is_finite()), "{what}: not finite");
            let (rg_cpu, fg_cpu, stats_cpu) = gan::cpu::discriminator_loss(&real, &fake, label, grad_scale);
            assert_close(&format!("{what} real grad"), &rg, &rg_cpu, TOLERANCE);
            assert_close(&format!("{what} fake grad"), &fg, &fg_cpu, TOLERANCE);
            assert_close(&format!("{what} stats"), &stats, &stats_cpu, TOLERANCE);
        }
    }
}

#[test]
fn generator_loss_matches_cpu_twin_and_does_not_saturate() {
    let gpu = common::gpu();
    for (i, &b) in [1usize, 7, 64, 257, 1000].iter().enumerate() {
        let fake = wide_logits(100 + i as u64, b);
        let grad_scale = 1.0 / b as f32;
        let out = gan::generator_loss(&gpu, &upload(&gpu, [b], &fake), grad_scale).unwrap();
        let (grad, stats) = (read(&gpu, &out.grad), read(&gpu, &out.stats));
        assert!(grad.iter().chain(&stats).all(|v| v.is_finite()), "B={b}: not finite");
        let (grad_cpu, stats_cpu) = gan::cpu::generator_loss(&fake, grad_scale);
        assert_close(&format!("B={b} generator grad"), &grad, &grad_cpu, TOLERANCE);
        assert_close(&format!("B={b} generator stats"), &stats, &stats_cpu, TOLERANCE);
    }
    // A fake the discriminator rejects with certainty (x = −80) still gets the full
    // gradient −1 (times the scale): the point of the non-saturating loss. Its loss is 80
    // nats; an accepted fake (x = 80) has loss ≈ 0 and gradient ≈ 0.
    let out = gan::generator_loss(&gpu, &upload(&gpu, [2, 1], &[-80.0, 80.0]), 0.5).unwrap();
    let grad = read(&gpu, &out.grad);
    assert!((grad[0] + 0.5).abs() < 1e-6 && grad[1].abs() < 1e-6, "{grad:?}");
    let stats = GenStats::from_slice(&read(&gpu, &out.stats));
    assert!((stats.g_loss - 40.0).abs() < 1e-4 && (stats.d_fake - 0.5).abs() < 1e-6, "{stats:?}");
}

#[test]
fn gan_gradients_match_finite_differences_on_cpu_and_gpu() {
    let gpu = common::gpu();
    let b = 5;
    let real = test_data(110, b, 3.0);
    let fake = test_data(111, b, 3.0);
    let label = 0.9;
    let grad_scale = 1.0 / b as f32; // the gradients are those of the means in stats

    // (d_loss, g_loss) as functions of (real, fake): the twin's in f64 (its stats are rounded
    // to f32, which would only add noise), and the GPU's stats.
    let cpu_losses = |r: &[f32], f: &[f32]| {
        let mean = |xs: &[f32], loss: &dyn Fn(f64) -> f64| xs.iter().map(|&x| loss(x as f64)).sum::<f64>() / b as f64;
        let d_loss = mean(r, &|x| gan::cpu::bce(x, label as f64)) + mean(f, &|x| gan::cpu::bce(x, 0.0));
        (d_loss, mean(f, &|x| gan::cpu::softplus(-x)))
    };
    let gpu_losses = |r: &[f32], f: &[f32]| {
        let (rt, ft) = (upload(&gpu, [b, 1], r), upload(&gpu, [b, 1], f));
        let d = read(&gpu, &gan::discriminator_loss(&gpu, &rt, &ft, label, grad_scale).unwrap().stats);
        let g = read(&gpu, &gan::generator_loss(&gpu, &ft, grad_scale).unwrap().stats);
        (d[0] as f64, g[0] as f64)
    };
    let (rt, ft) = (upload(&gpu, [b, 1], &real), upload(&gpu, [b, 1], &fake));
    let d = gan::discriminator_loss(&gpu, &rt, &ft, label, grad_scale).unwrap();
    let g = gan::generator_loss(&gpu, &ft, grad_scale).unwrap();
    let gpu_grads = [read(&gpu, &d.real_grad), read(&gpu, &d.fake_grad), read(&gpu, &g.grad)];
    let (crg, cfg, _) = gan::cpu::discriminator_loss(&real, &fake, label, grad_scale);
    let cpu_grads = [crg, cfg, gan::cpu::generator_loss(&fake, grad_scale).0];

    // h = 1e-2: truncation h²·|L'''|/6 < 4e−7 (|softplus'''| < 0.1, divided by B). The GPU's
    // means are f32: rounding ≈ 3e−7 / 2h ≈ 1.5e−5 absolute. Gradients of a mean are at most
    // 1/B, so errors are taken relative to max(|gradient|) + 0.1/B: a slip (a missing label
    // term, a sign, a factor) is off by ≥ 0.1/B, an error of ≥ 9 %; rounding stays near
    // 3e−4 (printed below), so the tolerance is 2e−3.
    let h = 1e-2f32;
    let floor = 0.1 / b as f64;
    for (name, losses, grads) in
        [("cpu", &cpu_losses as &dyn Fn(&[f32], &[f32]) -> (f64, f64), &cpu_grads), ("gpu", &gpu_losses, &gpu_grads)]
    {
        let mut worst = 0.0f64;
        for i in 0..b {
            // (which logits are nudged, which loss is differentiated, analytic gradient)
            for (k, nudge_real, use_g) in [(0, true, false), (1, false, false), (2, false, true)] {
                // The loss at logit i nudged by delta, and the nudged logit as f32 rounded it.
                let at = |delta: f32| {
                    let (mut r, mut f) = (real.clone(), fake.clone());
                    let x = if nudge_real { &mut r } else { &mut f };
                    x[i] += delta;
                    let nudged = x[i] as f64;
                    let (d_loss, g_loss) = losses(&r, &f);
                    (nudged, if use_g { g_loss } else { d_loss })
                };
                let ((up_x, up), (down_x, down)) = (at(h), at(-h));
                let numeric = (up - down) / (up_x - down_x);
                let a = grads[k][i] as f64;
                let error = (numeric - a).abs() / (numeric.abs().max(a.abs()) + floor);
                worst = worst.max(error);
                assert!(error < 2e-3, "{name} gradient {k} [{i}]: analytic {a} vs finite difference {numeric}");
            }
        }
        println!("{name}: worst relative gradient error {worst:.2e}");
    }
}

#[test]
fn label_smoothing_shifts_only_the_real_gradient() {
    let gpu = common::gpu();
    let b = 33;
    let real = test_data(120, b, 4.0);
    let fake = test_data(121, b, 4.0);
    let (rt, ft) = (upload(&gpu, [b, 1], &real), upload(&gpu, [b, 1], &fake));
    let grad_scale = 1.0 / b as f32;
    let run = |label| {
        let out = gan::discriminator_loss(&gpu, &rt, &ft, label, grad_scale).unwrap();
        (read(&gpu, &out.real_grad), read(&gpu, &out.fake_grad), DiscStats::from_slice(&read(&gpu, &out.stats)))
    };
    let (rg1, fg1, s1) = run(1.0);
    let (rg9, fg9, s9) = run(0.9);
    // σ(x) − 0.9 = (σ(x) − 1) + 0.1: every real gradient rises by 0.1 · grad_scale.
    for (a, c) in rg9.iter().zip(&rg1) {
        assert!((a - c - 0.1 * grad_scale).abs() < 1e-6, "{a} - {c} != 0.1 / {b}");
    }
    assert_eq!(fg1, fg9, "fake gradients do not depend on the real label");
    // BCE(x, y) = softplus(x) − x·y: the loss rises by 0.1 · mean(x_real).
    let mean_real = real.iter().map(|&x| x as f64).sum::<f64>() / b as f64;
    assert!(((s9.d_loss - s1.d_loss) as f64 - 0.1 * mean_real).abs() < 1e-5, "{s9:?} vs {s1:?}");
    assert_eq!((s1.g_loss, s1.d_real, s1.d_fake), (s9.g_loss, s9.d_real, s9.d_fake));
}

#[test]
fn gan_stats_report_losses_and_mean_probabilities() {
    let gpu = common::gpu();
    // Logits ±ln 3 and 0 have probabilities 3/4, 1/4 and 1/2: every number below is by hand.
    let l3 = 3.0f32.ln();
    let real = [l3, l3, l3, l3];
    let fake = [-l3, -l3, l3, 0.0];
    let out =
        gan::discriminator_loss(&gpu, &upload(&gpu, [4, 1], &real), &upload(&gpu, [4, 1], &fake), 1.0, 0.25).unwrap();
    let stats = DiscStats::from_slice(&read(&gpu, &out.stats));
    let ln = |p: f64| p.ln();
    let d_loss = -ln(0.75) + (-2.0 * ln(0.75) - ln(0.25) - ln(0.5)) / 4.0;
    let g_loss = (-2.0 * ln(0.25) - ln(0.75) - ln(0.5)) / 4.0;
    let want = [d_loss, g_loss, 0.75, (0.25 + 0.25 + 0.75 + 0.5) / 4.0];
    let got = [stats.d_loss, stats.g_loss, stats.d_real, stats.d_fake];
    for (name, (g, w)) in ["d_loss", "g_loss", "D(real)", "D(fake)"].iter().zip(got.iter().zip(want)) {
        assert!((*g as f64 - w).abs() < 2e-6, "{name}: {g} vs {w}");
    }
    let gen = gan::generator_loss(&gpu, &upload(&gpu, [4, 1], &fake), 0.25).unwrap();
    let gen = GenStats::from_slice(&read(&gpu, &gen.stats));
    assert!((gen.g_loss as f64 - g_loss).abs() < 2e-6 && (gen.d_fake as f64 - want[3]).abs() < 2e-6, "{gen:?}");
}

#[test]
fn each_fused_kernel_is_one_launch() {
    let gpu = common::gpu();
    let st = upload(&gpu, [8, 6], &random_stats(1, 8, 3));
    let dz = upload(&gpu, [8, 3], &test_data(2, 24, 1.0));
    let logits = upload(&gpu, [8, 1], &test_data(3, 8, 2.0));
    gpu.submit();
    let count = |f: &dyn Fn()| {
        let before = gpu.pending_dispatches();
        f();
        gpu.pending_dispatches() - before
    };
    let out = reparam::reparameterize(&gpu, &st, Some(Stream::new(1))).unwrap();
    assert_eq!(count(&|| drop(reparam::reparameterize(&gpu, &st, Some(Stream::new(1))).unwrap())), 1);
    assert_eq!(count(&|| drop(reparam::reparameterize_backward(&gpu, &st, &out.noise, Some(&dz), 0.1).unwrap())), 1);
    assert_eq!(count(&|| drop(gan::discriminator_loss(&gpu, &logits, &logits, 0.9, 0.125).unwrap())), 1);
    assert_eq!(count(&|| drop(gan::generator_loss(&gpu, &logits, 0.125).unwrap())), 1);
    gpu.submit();
}

fn assert_shape_error<T>(result: Result<T, Error>, left: &str, right: &str) {
    let message = result.err().expect("bad shapes must be refused").to_string();
    assert!(message.contains(left) && message.contains(right), "message names both shapes: {message}");
}

fn assert_refused<T>(result: Result<T, Error>, words: &[&str]) {
    let message = result.err().expect("must be refused").to_string();
    assert!(words.iter().all(|w| message.contains(w)), "message names {words:?}: {message}");
}

#[test]
fn bad_shapes_are_refused_naming_both_shapes() {
    let gpu = common::gpu();
    let z = |shape: &[usize]| Tensor::zeros(&gpu, shape).unwrap();
    let stats = z(&[4, 6]);
    let noise = z(&[4, 3]);

    assert_refused(reparam::reparameterize(&gpu, &z(&[4, 5]), None), &["[4, 5]", "2·D"]);
    assert_shape_error(
        reparam::reparameterize_backward(&gpu, &stats, &noise, Some(&z(&[4, 2])), 1.0),
        "[4, 2]",
        "[4, 6]",
    );
    assert_shape_error(
        reparam::reparameterize_backward(&gpu, &stats, &noise, Some(&z(&[3, 3])), 1.0),
        "[3, 3]",
        "[4, 6]",
    );
    assert_shape_error(reparam::reparameterize_backward(&gpu, &stats, &z(&[4, 4]), None, 1.0), "[4, 4]", "[4, 6]");
    assert_shape_error(
        reparam::reparameterize_backward_into(&gpu, &stats, &noise, None, 1.0, &z(&[4, 3]), false),
        "[4, 3]",
        "[4, 6]",
    );
    assert_refused(
        reparam::reparameterize_backward_into(&gpu, &stats, &noise, None, 1.0, &stats, true),
        &["share a buffer"],
    );
    assert_refused(reparam::reparameterize_backward(&gpu, &stats, &noise, None, f32::NAN), &["kl_scale"]);

    let (real, fake) = (z(&[8, 1]), z(&[6, 1]));
    assert_shape_error(gan::discriminator_loss(&gpu, &real, &fake, 1.0, 0.1), "[8, 1]", "[6, 1]");
    assert_shape_error(gan::discriminator_loss(&gpu, &real, &z(&[8]), 1.0, 0.1), "[8, 1]", "[8]");
    assert_refused(gan::discriminator_loss(&gpu, &z(&[8, 2]), &z(&[8, 2]), 1.0, 0.1), &["[8, 2]", "one logit"]);
    assert_refused(gan::generator_loss(&gpu, &z(&[8, 2]), 0.1), &["[8, 2]", "one logit"]);
    assert_refused(gan::discriminator_loss(&gpu, &real, &real, 1.5, 0.1), &["real_label", "1.5"]);
    assert_refused(gan::generator_loss(&gpu, &real, f32::INFINITY), &["grad_scale"]);
}
