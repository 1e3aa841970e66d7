// The minibatch standard deviation feature (Karras et al. 2018, ProGAN), so a
// discriminator can see how varied a batch is and not only how real each image looks
// (see src/kernels/minibatch_stddev.rs).
//
// x is [B, F] (a batch of feature rows). For each feature f, over the batch:
//   μ_f = mean_b x[b, f],   σ_f = sqrt(mean_b (x[b, f] − μ_f)² + ε)
// and s = mean_f σ_f, one number for the whole batch. The output is x with s appended to
// every row: y [B, F + 1]. A generator that draws the same image for every z gives s ≈ 0,
// which the real batches never do, so the discriminator can punish it for that alone.
//
// Backward, with g = Σ_b dy[b, F] (everything that reached s):
//   dx[b, f] = dy[b, f] + g · (x[b, f] − μ_f) / (F · B · σ_f)
// (the μ_f term of d σ_f / d x drops out: Σ_b (x[b, f] − μ_f) = 0).

// p (the launch's Params) and the storage buffers each kernel binds are declared in
// src/kernels/minibatch_stddev.rs: KernelSpec::source writes them first.

// (μ_f, σ_f) of column f of `x`, two passes over the batch for an exact variance.
fn column_stats(f: u32) -> vec2<f32> {
    var sum = 0.0;
    for (var b = 0u; b < p.batch; b++) { sum += x[b * p.features + f]; }
    let mean = sum / f32(p.batch);
    var squares = 0.0;
    for (var b = 0u; b < p.batch; b++) {
        let d = x[b * p.features + f] - mean;
        squares += d * d;
    }
    return vec2<f32>(mean, sqrt(squares / f32(p.batch) + p.epsilon));
}

// For workgroup_sum (workgroup_sum.wgsl).
alias Partial = f32;
var<workgroup> partial: array<Partial, 256>;

// forward: out = y [B, F + 1]. One workgroup: s is a mean over every feature, reduced in
// workgroup memory (F is a layer's width, hundreds to a few thousand).
@compute @workgroup_size(256)
fn forward(@builtin(local_invocation_index) lane: u32) {
    var sum_sigma = 0.0;
    for (var f = lane; f < p.features; f += 256u) {
        sum_sigma += column_stats(f).y;
        for (var b = 0u; b < p.batch; b++) {
            out[b * (p.features + 1u) + f] = x[b * p.features + f];
        }
    }
    let s = workgroup_sum(lane, sum_sigma) / f32(p.features);
    for (var b = lane; b < p.batch; b += 256u) {
        out[b * (p.features + 1u) + p.features] = s;
    }
}

// backward: dy [B, F + 1] → out = dx [B, F]. One thread per feature; each sums g itself
// (B reads), which costs less than a second launch.
@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let f = gid.x;
    if (f >= p.features) { return; }
    var g = 0.0;
    for (var b = 0u; b < p.batch; b++) { g += dy[b * (p.features + 1u) + p.features]; }
    let stats = column_stats(f);
    let scale = g / (f32(p.features) * f32(p.batch) * stats.y);
    for (var b = 0u; b < p.batch; b++) {
        let i = b * p.features + f;
        var dx = dy[b * (p.features + 1u) + f] + scale * (x[i] - stats.x);
        if (p.accumulate == 1u) { dx += out[i]; }
        out[i] = dx;
    }
}
