// Pixel normalisation (Karras et al. 2018, ProGAN's generator): each row of a batch of
// feature rows is divided by its root mean square, so no z can drive G's hidden units to
// ever larger values, and the layer after sees features of one fixed size
// (see src/kernels/pixel_norm.rs).
//
// x is [B, F]. For each row b:
//   r_b = 1 / sqrt(mean_f x[b, f]² + ε),   y[b, f] = x[b, f] · r_b.
// Backward, with s_b = Σ_f dy[b, f] · x[b, f]:
//   dx[b, f] = r_b · dy[b, f] − r_b³ · x[b, f] · s_b / F.

// p (the launch's Params) and the storage buffers each kernel binds are declared in
// src/kernels/pixel_norm.rs: KernelSpec::source writes them first.

const LANES: u32 = 64u;
var<workgroup> partial: array<vec2<f32>, 64>;

// Sums `terms` over the workgroup's lanes (every lane gets the total).
fn workgroup_sum(lane: u32, terms: vec2<f32>) -> vec2<f32> {
    partial[lane] = terms;
    workgroupBarrier();
    for (var half = LANES / 2u; half > 0u; half >>= 1u) {
        if (lane < half) { partial[lane] += partial[lane + half]; }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}

// forward: out = y [B, F]. One workgroup per row (G's hidden widths are 16 to a few
// thousand); rows past 65535 workgroups wrap into the grid's second dimension.
@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lane: u32) {
    let row = wg.x + wg.y * groups.x;
    // A uniform condition: the whole workgroup returns or none of it does.
    if (row >= p.rows) { return; }
    let base = row * p.features;
    var squares = 0.0;
    for (var f = lane; f < p.features; f += LANES) { squares += x[base + f] * x[base + f]; }
    let r = inverseSqrt(workgroup_sum(lane, vec2<f32>(squares, 0.0)).x / f32(p.features) + p.epsilon);
    for (var f = lane; f < p.features; f += LANES) { out[base + f] = x[base + f] * r; }
}

// backward: dy [B, F] → out = dx [B, F].
@compute @workgroup_size(64)
fn backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let row = wg.x + wg.y * groups.x;
    if (row >= p.rows) { return; }
    let base = row * p.features;
    var terms = vec2<f32>(0.0, 0.0);
    for (var f = lane; f < p.features; f += LANES) {
        let v = x[base + f];
        terms += vec2<f32>(v * v, dy[base + f] * v);
    }
    let sums = workgroup_sum(lane, terms);
    let r = inverseSqrt(sums.x / f32(p.features) + p.epsilon);
    let through_r = r * r * r * sums.y / f32(p.features);
    for (var f = lane; f < p.features; f += LANES) {
        var dx = r * dy[base + f] - through_r * x[base + f];
        if (p.accumulate == 1u) { dx += out[base + f]; }
        out[base + f] = dx;
    }
}
