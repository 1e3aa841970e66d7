// Spectral normalisation (Miyato et al. 2018): a weight matrix divided by its largest
// singular value σ(W), so the layer can stretch no input difference by more than 1 and a
// discriminator built from such layers cannot grow arbitrarily sharp (see
// src/kernels/spectral_norm.rs).
//
// W is [R, C] (row-major). σ(W) comes from power iteration on a persistent unit vector
// u [R] that each call moves one step (or `iterations` steps) closer to W's top left
// singular vector:
//   v = Wᵀu / |Wᵀu|,   u = W v / |W v|,   σ = |W v| = uᵀ W v
// and the layer uses W_sn = W / σ.
//
// Backward, with u and v held constant (as in the paper; at the singular vectors σ's own
// derivative is exactly u vᵀ) and G = d loss / d W_sn:
//   d loss / d W = (G − (Σ G ∘ W_sn) · u vᵀ) / σ

// p (the launch's Params) and the storage buffers each kernel binds are declared in
// src/kernels/spectral_norm.rs: KernelSpec::source writes them first.

// No vector is ever divided by less than this: a zero matrix keeps σ = TINY and W_sn = 0.
const TINY: f32 = 1e-12;

// For workgroup_sum (workgroup_sum.wgsl).
alias Partial = f32;
var<workgroup> partial: array<Partial, 256>;

// ---- power_iteration: w (read), u (read_write), v (read_write), sigma (read_write, [1]) ----
// One workgroup: the vectors are a layer's width (hundreds to a few thousand), and each
// half-step needs the other's whole result.

@compute @workgroup_size(256)
fn power_iteration(@builtin(local_invocation_index) lane: u32) {
    for (var step = 0u; step < p.iterations; step++) {
        // v = Wᵀu, then normalised. Lanes own columns, so neighbouring lanes read
        // neighbouring weights.
        var squares = 0.0;
        for (var c = lane; c < p.cols; c += 256u) {
            var acc = 0.0;
            for (var r = 0u; r < p.rows; r++) { acc += w[r * p.cols + c] * u[r]; }
            v[c] = acc;
            squares += acc * acc;
        }
        let v_norm = max(sqrt(workgroup_sum(lane, squares)), TINY);
        for (var c = lane; c < p.cols; c += 256u) { v[c] = v[c] / v_norm; }
        storageBarrier();
        // u = W v, its norm is σ, then normalised.
        squares = 0.0;
        for (var r = lane; r < p.rows; r += 256u) {
            var acc = 0.0;
            for (var c = 0u; c < p.cols; c++) { acc += w[r * p.cols + c] * v[c]; }
            u[r] = acc;
            squares += acc * acc;
        }
        let s = max(sqrt(workgroup_sum(lane, squares)), TINY);
        for (var r = lane; r < p.rows; r += 256u) { u[r] = u[r] / s; }
        storageBarrier();
        if (lane == 0u) { sigma[0] = s; }
    }
}

// ---- divide: w (read), sigma (read), out (read_write): out = w / σ ----

@compute @workgroup_size(256)
fn divide(grid: Grid) {
    let i = thread_index(grid, 256u);
    if (i >= p.rows * p.cols) { return; }
    w_sn[i] = w_in[i] / sigma_in[0];
}

// ---- backward: g (read), normalised (read), u, v, sigma (read), dw (read_write) ----
// One workgroup: Σ G ∘ W_sn is a sum over the whole matrix that every entry's gradient
// needs, so the lanes reduce it first and then write their entries.

@compute @workgroup_size(256)
fn backward(@builtin(local_invocation_index) lane: u32) {
    let n = p.rows * p.cols;
    var dot = 0.0;
    for (var i = lane; i < n; i += 256u) { dot += g[i] * normalised[i]; }
    let along_uv = workgroup_sum(lane, dot);
    let inv_sigma = 1.0 / sigma_at[0];
    for (var i = lane; i < n; i += 256u) {
        var d = (g[i] - along_uv * u_in[i / p.cols] * v_in[i % p.cols]) * inv_sigma;
        if (p.accumulate == 1u) { d += dw[i]; }
        dw[i] = d;
    }
}
