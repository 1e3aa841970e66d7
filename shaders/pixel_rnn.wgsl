// PixelRNN helpers: the network's input rows made from palette tokens, the first layer's
// input projection and its weight gradient done the one-hot way, and one step of sampling.
// Everything else the model does (recurrence, output layer, loss) is the LSTM, matmul and
// loss kernels.
//
// An image of H×W pixels is the sequence of its T = H·W palette indices in raster order.
// The input at step t is what the network knows when it predicts pixel t:
//   columns 0..K      one-hot of pixel t−1's colour; column K (the start token) at t = 0
//   columns K+1..     with positions on: one-hot of pixel t's row (H columns), then of its
//                     column (W columns)
// so a row of the input matrix X has F = K + 1 (+ H + W) columns, one (or three) of them 1.
//
// X·W_x + b is therefore the sum of one (or three) rows of W_x and the bias, and
// dW_x = Xᵀ·dgates adds each row of dgates into one (or three) rows of dW_x: project_tokens
// and onehot_grad do exactly that, without X and without F multiply-adds per element
// (on lavapipe the two dense matmuls with X took about half of a training step).

const MAX_FEATURES: u32 = 352u;  // F of the largest layout (InputLayout::validate)

// p (the launch's Params), the constant POSITIONS and the storage buffers each kernel
// binds are declared in src/kernels/pixel_rnn.rs: KernelSpec::source writes them first.

// Input row element `col` for predicting pixel `t` when pixel t−1 had colour `prev`
// (`prev` = K, the start token, at t = 0).
fn input_value(prev: u32, t: u32, col: u32) -> f32 {
    if (col == prev) { return 1.0; }
    if ((p.flags & POSITIONS) != 0u) {
        let base = p.classes + 1u;
        if (col == base + t / p.width || col == base + p.height + t % p.width) { return 1.0; }
    }
    return 0.0;
}

// ---- build_inputs ----------------------------------------------------------------------
// tokens [B, T] (batch-major, as the dataset gathers them) → x [steps, B, F] (time-major, as
// the LSTM kernels read sequences) for steps start .. start+steps, and the targets
// [steps·B] (row s·B + b is pixel start+s of sequence b). One thread per element of x.
@compute @workgroup_size(256)
fn build_inputs(grid: Grid) {
    let e = thread_index(grid, 256u);
    if (e >= p.steps * p.batch * p.features) { return; }
    let row = e / p.features;
    let col = e % p.features;
    let b = row % p.batch;
    let t = p.start + row / p.batch;
    var prev = p.classes;
    if (t > 0u) { prev = bi_tokens[b * p.seq + t - 1u]; }
    bi_x[e] = input_value(prev, t, col);
    if (col == 0u) { bi_targets[row] = bi_tokens[b * p.seq + t]; }
}

// ---- project_tokens --------------------------------------------------------------------
// x_proj = X·W_x + b for steps start .. start+steps without X: element (row, n) is
// b[n] + W_x[colour, n] (+ W_x[row one-hot, n] + W_x[column one-hot, n]). Also the targets,
// as build_inputs writes them. One thread per element of x_proj [steps, B, 4H].
@compute @workgroup_size(256)
fn project_tokens(grid: Grid) {
    let e = thread_index(grid, 256u);
    let g4 = p.gates;
    if (e >= p.steps * p.batch * g4) { return; }
    let row = e / g4;
    let n = e % g4;
    let b = row % p.batch;
    let t = p.start + row / p.batch;
    var prev = p.classes;
    if (t > 0u) { prev = pt_tokens[b * p.seq + t - 1u]; }
    var v = pt_bias[n];
    // A token that is no colour (a pixel not painted yet) contributes nothing.
    if (prev <= p.classes) { v += pt_w[prev * g4 + n]; }
    if ((p.flags & POSITIONS) != 0u) {
        let base = p.classes + 1u;
        v += pt_w[(base + t / p.width) * g4 + n];
        v += pt_w[(base + p.height + t % p.width) * g4 + n];
    }
    pt_out[e] = v;
    if (n == 0u) { pt_targets[row] = pt_tokens[b * p.seq + t]; }
}

// ---- onehot_grad -----------------------------------------------------------------------
// dW_x = Xᵀ·dgates over a whole sequence, in slices of `steps` time steps: thread (n, s)
// adds column n of every dgates row of slice s into the accumulator of the row's active
// inputs, then writes partials[s, ·, n]; the caller sums the slices (reduce::sum_cols).
@compute @workgroup_size(64)
fn onehot_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g4 = p.gates;
    let n = gid.x;
    let slice = gid.y;
    if (n >= g4) { return; }
    var acc: array<f32, MAX_FEATURES>;
    let t0 = slice * p.steps;
    let t1 = min(t0 + p.steps, p.seq);
    for (var t = t0; t < t1; t++) {
        var total = 0.0;
        for (var b = 0u; b < p.batch; b++) {
            let d = og_dgates[(t * p.batch + b) * g4 + n];
            var prev = p.classes;
            if (t > 0u) { prev = og_tokens[b * p.seq + t - 1u]; }
            if (prev <= p.classes) { acc[prev] += d; }
            total += d;
        }
        if ((p.flags & POSITIONS) != 0u) {
            let base = p.classes + 1u;
            acc[base + t / p.width] += total;
            acc[base + p.height + t % p.width] += total;
        }
    }
    for (var f = 0u; f < p.features; f++) {
        og_partials[(slice * p.features + f) * g4 + n] = acc[f];
    }
}

// ---- sample_step -----------------------------------------------------------------------
// Pixel t of every sequence b: a known pixel (mask 0) keeps its colour; a masked one is
// drawn from softmax(logits / temperature) by inverting the cumulative distribution at
// uniform number t·B + b of the stream. The colour goes into out[b, t], where the next
// step's project_tokens reads it. One thread per sequence (K is small).
fn draw(b: u32, u: f32) -> u32 {
    let base = b * p.classes;
    var top = ss_logits[base];
    var best = 0u;
    for (var k = 1u; k < p.classes; k++) {
        let v = ss_logits[base + k];
        if (v > top) { top = v; best = k; }
    }
    if (p.temperature <= 0.0) { return best; }
    let inv = 1.0 / p.temperature;
    var total = 0.0;
    for (var k = 0u; k < p.classes; k++) { total += exp((ss_logits[base + k] - top) * inv); }
    let threshold = u * total;
    var acc = 0.0;
    var fallback = best;
    for (var k = 0u; k < p.classes; k++) {
        let w = exp((ss_logits[base + k] - top) * inv);
        if (w > 0.0) {
            acc += w;
            fallback = k;
            if (acc > threshold) { return k; }
        }
    }
    // Rounding left the sum a hair below u·total: the last colour with any weight.
    return fallback;
}

@compute @workgroup_size(64)
fn sample_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    if (b >= p.batch) { return; }
    let t = p.start;
    let cell = b * p.seq + t;
    var token = ss_known[cell];
    if (ss_mask[cell] != 0u) {
        let w = philox_word(vec2<u32>(p.seed_lo, p.seed_hi), vec2<u32>(p.offset_lo, p.offset_hi), t * p.batch + b);
        token = draw(b, word_to_unit(w));
    }
    ss_out[cell] = token;
}
