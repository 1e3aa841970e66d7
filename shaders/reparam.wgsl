// The VAE's reparameterisation trick and its KL term, fused (see src/kernels/reparam.rs).
//
// The encoder's last Linear writes stats [B, 2D]: columns 0..D are the posterior means m,
// columns D..2D the log-variances σ (one matmul makes both). With e ~ N(0, 1) from the
// Philox stream,
//   z  = m + exp(σ/2) · e
//   KL = Σ_j (exp(σ) − (1 + σ) + m²) / 2        per row: KL(N(m, exp σ) ‖ N(0, 1)) in nats
// and backward, for an upstream dz and kl_scale = d loss / d KL_row (β / B for β·mean KL):
//   dm = dz + kl_scale · m
//   dσ = dz · e · exp(σ/2) / 2 + kl_scale · (exp(σ) − 1) / 2
//
// σ is clamped to [LOGVAR_MIN, LOGVAR_MAX] before use, so that neither exp(σ) nor its
// gradient can overflow. The gradient is straight-through (evaluated at the clamped value,
// not zeroed outside the range), so the KL term always pulls a runaway σ back into range.

// p (the launch's Params), the constants LOGVAR_MIN, LOGVAR_MAX, NOISE, HAS_DZ and
// ACCUMULATE, and the storage buffers each kernel binds are declared in
// src/kernels/reparam.rs: KernelSpec::source writes them first.

// exp(x) − 1 − x without the cancellation of the direct formula near 0: a Taylor polynomial
// for |x| < 1/2 (truncation below 6e-8 relative), the direct formula outside (where the
// result is at least 0.1 and exp's own error dominates).
fn exp_m1_minus_x(x: f32) -> f32 {
    if (abs(x) < 0.5) {
        let tail = 1.0 / 120.0 + x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x * (1.0 / 40320.0)));
        return x * x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * tail)));
    }
    return exp(x) - 1.0 - x;
}

// One thread per row: latent widths are small (2–64) and batches are tens to hundreds, so
// walking a row in one thread makes the KL sum a plain loop (deterministic, no workgroup
// reduction) while the launch still spreads rows over workgroups.
@compute @workgroup_size(64)
fn reparam_forward(grid: Grid) {
    let row = thread_index(grid, 64u);
    if (row >= p.rows) { return; }
    let d = p.latent;
    let base = row * 2u * d;
    let seed = vec2<u32>(p.seed_lo, p.seed_hi);
    let offset = vec2<u32>(p.offset_lo, p.offset_hi);
    var kl = 0.0;
    for (var j = 0u; j < d; j++) {
        let m = fw_stats[base + j];
        let s = clamp(fw_stats[base + d + j], LOGVAR_MIN, LOGVAR_MAX);
        let i = row * d + j;
        // Number i of the stream, exactly as rng.wgsl's normal_fill draws it, so that the
        // noise of a (seed, offset) is the CPU twin's rng::cpu::normal.
        var e = 0.0;
        if ((p.flags & NOISE) != 0u) { e = philox_normal(seed, offset, i); }
        fw_z[i] = m + exp(0.5 * s) * e;
        fw_noise[i] = e;
        kl += 0.5 * (exp_m1_minus_x(s) + m * m);
    }
    fw_kl_rows[row] = kl;
}

// One thread per latent element; it writes both its dm and its dσ.
@compute @workgroup_size(256)
fn reparam_backward(grid: Grid) {
    let i = thread_index(grid, 256u);
    let d = p.latent;
    if (i >= p.rows * d) { return; }
    let row = i / d;
    let j = i - row * d;
    let mi = row * 2u * d + j;
    let si = mi + d;
    let m = bw_stats[mi];
    let s = clamp(bw_stats[si], LOGVAR_MIN, LOGVAR_MAX);
    var g = 0.0;
    if ((p.flags & HAS_DZ) != 0u) { g = bw_dz[i]; }
    var dm = g + p.kl_scale * m;
    // exp(σ) − 1 = σ + (exp(σ) − 1 − σ), accurate near σ = 0 where the KL gradient vanishes.
    var ds = 0.5 * (g * bw_noise[i] * exp(0.5 * s) + p.kl_scale * (s + exp_m1_minus_x(s)));
    if ((p.flags & ACCUMULATE) != 0u) {
        dm += bw_dstats[mi];
        ds += bw_dstats[si];
    }
    bw_dstats[mi] = dm;
    bw_dstats[si] = ds;
}
