// LSTM recurrence: one launch per time step forward, one per time step backward, then one
// for dW_h over the whole sequence (and one for dh0 when there is an h0).
//
//   i = σ(·)  f = σ(·)  g = tanh(·)  o = σ(·)        (gate order i, f, g, o)
//   c_t = f·c_{t-1} + i·g        h_t = o·tanh(c_t)
//
// Gate layout: the four gates of hidden unit j sit side by side, so column 4j + q of every
// [·, 4H] row (x_proj, gates, dgates, W_h, and the caller's W_x and b) is gate q of unit j,
// and a row is an array of H vec4s (i, f, g, o). A thread that owns unit j then loads its
// four gates, and its four weights per input, as one vec4 — forward and backward alike.
//
// The input projection x_t·W_x + b of all time steps is one matmul before the recurrence;
// these kernels add the recurrent term h_{t-1}·W_h and apply the cell in the same launch, so
// the gate pre-activations never go through memory. Sequences live in [T, B, ·] buffers and
// each launch addresses its step's slice by the time index in its parameters (no per-step
// buffers, no copies).
//
// Work split: a workgroup owns 64 hidden units (one per thread) × 4 batch rows, and each
// thread computes all four gates of its unit for those rows, so the cell update needs nothing
// from any other thread. The 4 rows of h_{t-1} (backward: of dgates_{t+1}) are staged in
// workgroup memory a chunk at a time and broadcast to all threads, so each weight a thread
// loads serves 4 rows.

const UNITS: u32 = 64u;     // hidden units per workgroup = threads per workgroup
const ROWS: u32 = 4u;       // batch rows per workgroup
const CHUNK: u32 = 256u;    // values per row staged at once (forward: h; backward: 4 per vec4)

// p (the launch's Params), the constants HAS_H0, HAS_C0, RECURRENT and DC_IN, and the
// storage buffers each kernel binds are declared in src/kernels/lstm/mod.rs:
// KernelSpec::source writes them first.

// ---- forward ---------------------------------------------------------------------------
// Staged h_{t-1}: stage[r * CHUNK + k] for row b0 + r.
var<workgroup> stage: array<f32, 1024>;

fn h_initial(cell: u32) -> f32 {
    if ((p.flags & HAS_H0) != 0u) { return f_h0[cell]; }
    return 0.0;
}

// h_{t-1}[b, k]
fn h_before(b: u32, k: u32) -> f32 {
    let cell = b * p.hidden + k;
    if (p.t == 0u) { return h_initial(cell); }
    return f_h[(p.t - 1u) * p.batch * p.hidden + cell];
}

@compute @workgroup_size(64)
fn lstm_forward_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let hid = p.hidden;
    let j = wg.x * UNITS + lane;
    let b0 = wg.y * ROWS;
    let live = j < hid;

    // acc[r] = (i, f, g, o) pre-activations of unit j in row b0 + r.
    var acc: array<vec4<f32>, 4>;
    for (var r = 0u; r < ROWS; r++) {
        acc[r] = vec4<f32>(0.0);
        if (live && b0 + r < p.batch) { acc[r] = f_x[(p.src_step * p.batch + b0 + r) * hid + j]; }
    }

    if ((p.flags & RECURRENT) != 0u) {
        for (var k0 = 0u; k0 < hid; k0 += CHUNK) {
            for (var e = lane; e < ROWS * CHUNK; e += UNITS) {
                let r = e / CHUNK;
                let k = k0 + e % CHUNK;
                var v = 0.0;
                if (b0 + r < p.batch && k < hid) { v = h_before(b0 + r, k); }
                stage[e] = v;
            }
            workgroupBarrier();
            if (live) {
                let count = min(CHUNK, hid - k0);
                for (var kk = 0u; kk < count; kk++) {
                    let w = f_w[(k0 + kk) * hid + j];
                    acc[0] = fma(vec4<f32>(stage[kk]), w, acc[0]);
                    acc[1] = fma(vec4<f32>(stage[CHUNK + kk]), w, acc[1]);
                    acc[2] = fma(vec4<f32>(stage[2u * CHUNK + kk]), w, acc[2]);
                    acc[3] = fma(vec4<f32>(stage[3u * CHUNK + kk]), w, acc[3]);
                }
            }
            workgroupBarrier();
        }
    }

    if (!live) { return; }
    let plane = p.batch * hid;
    for (var r = 0u; r < ROWS; r++) {
        let b = b0 + r;
        if (b >= p.batch) { break; }
        let cell = b * hid + j;
        let pre = acc[r];
        let gate = vec4<f32>(stable_sigmoid(pre.x), stable_sigmoid(pre.y), stable_tanh(pre.z), stable_sigmoid(pre.w));
        var c_prev = 0.0;
        if (p.t == 0u) {
            if ((p.flags & HAS_C0) != 0u) { c_prev = f_c0[cell]; }
        } else {
            c_prev = f_c[(p.t - 1u) * plane + cell];
        }
        let c = gate.y * c_prev + gate.x * gate.z;
        let h = gate.w * stable_tanh(c);
        f_gates[p.t * plane + cell] = gate;
        f_c[p.t * plane + cell] = c;
        f_h[p.t * plane + cell] = h;
    }
}

// ---- backward --------------------------------------------------------------------------
const CHUNK4: u32 = 64u;    // CHUNK / 4 units of dgates staged at once
// Staged dgates_{step}: stage4[r * CHUNK4 + u] for row b0 + r, unit u of the chunk.
var<workgroup> stage4: array<vec4<f32>, 256>;

// Σ_u dot(dgates[step][b0 + r, u], W_h[k, u]) for the 4 rows r: the gradient reaching
// h_{step-1}[·, k] through the recurrent weights. Row k of W_h is contiguous, so each thread
// walks its own row one unit (4 gates) at a time. Call in uniform control flow (barriers).
fn recurrent_dh(step: u32, b0: u32, k: u32, lane: u32) -> vec4<f32> {
    let hid = p.hidden;
    var acc = vec4<f32>(0.0);
    for (var u0 = 0u; u0 < hid; u0 += CHUNK4) {
        for (var e = lane; e < ROWS * CHUNK4; e += UNITS) {
            let r = e / CHUNK4;
            let u = u0 + e % CHUNK4;
            var v = vec4<f32>(0.0);
            if (b0 + r < p.batch && u < hid) { v = b_dgates[(step * p.batch + b0 + r) * hid + u]; }
            stage4[e] = v;
        }
        workgroupBarrier();
        if (k < hid) {
            let count = min(CHUNK4, hid - u0);
            let row = k * hid + u0;
            for (var uu = 0u; uu < count; uu++) {
                let w = b_w[row + uu];
                acc += vec4<f32>(dot(stage4[uu], w), dot(stage4[CHUNK4 + uu], w),
                                 dot(stage4[2u * CHUNK4 + uu], w), dot(stage4[3u * CHUNK4 + uu], w));
            }
        }
        workgroupBarrier();
    }
    return acc;
}

@compute @workgroup_size(64)
fn lstm_backward_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let hid = p.hidden;
    let j = wg.x * UNITS + lane;
    let b0 = wg.y * ROWS;

    var dh_rec = vec4<f32>(0.0);
    if ((p.flags & RECURRENT) != 0u) { dh_rec = recurrent_dh(p.t + 1u, b0, j, lane); }

    if (j >= hid) { return; }
    let plane = p.batch * hid;
    for (var r = 0u; r < ROWS; r++) {
        let b = b0 + r;
        if (b >= p.batch) { break; }
        let cell = b * hid + j;
        let here = p.t * plane + cell;
        let dh = b_dh[p.src_step * plane + cell] + dh_rec[r];
        let gate = b_gates[here];
        let i = gate.x;
        let f = gate.y;
        let g = gate.z;
        let o = gate.w;
        let tc = stable_tanh(b_c[here]);
        var c_prev = 0.0;
        if (p.t > 0u) {
            c_prev = b_c[here - plane];
        } else if ((p.flags & HAS_C0) != 0u) {
            c_prev = b_c0[cell];
        }
        var dc = dh * o * (1.0 - tc * tc);
        if ((p.flags & DC_IN) != 0u) { dc += b_dc[cell]; }
        b_dc[cell] = dc * f;
        b_dgates[here] = vec4<f32>(dc * g, dc * c_prev, dc * i, dh * tc)
                       * vec4<f32>(i * (1.0 - i), f * (1.0 - f), 1.0 - g * g, o * (1.0 - o));
    }
}

// dh0 = dgates_0 · W_hᵀ, after the last backward step.
@compute @workgroup_size(64)
fn lstm_dh0(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let k = wg.x * UNITS + lane;
    let b0 = wg.y * ROWS;
    var dh = recurrent_dh(0u, b0, k, lane);
    if (k >= p.hidden) { return; }
    for (var r = 0u; r < ROWS; r++) {
        let b = b0 + r;
        if (b >= p.batch) { break; }
        d_dh0[b * p.hidden + k] = dh[r];
    }
}

// dW_h = Σ_t h_{t-1}ᵀ · dgates_t over all T·B rows at once (after the backward steps).
// Row (t, b) pairs dgates[t, b] with h[t-1, b] — the h sequence one step late, which is h's
// own buffer shifted back by B rows — and with h0[b] at t = 0. A thread owns DW_K = 8 rows k
// of dW_h in the 4 columns of one unit j: per row of the sequence, 8 values of h (the same
// for the whole workgroup) and one vec4 of dgates (neighbouring threads read neighbouring
// units) make 32 multiply-adds, with no workgroup memory and no barriers.
const DW_K: u32 = 8u;

@compute @workgroup_size(64)
fn lstm_dw_h(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let hid = p.hidden;
    let j = wg.x * UNITS + lane;
    let k0 = wg.y * DW_K;
    if (j >= hid) { return; }
    let n = min(DW_K, hid - k0);
    var acc: array<vec4<f32>, 8>;
    for (var q = 0u; q < DW_K; q++) { acc[q] = vec4<f32>(0.0); }
    let rows = p.steps * p.batch;
    if (n == DW_K) {
        for (var row = p.batch; row < rows; row++) {
            let d = w_dgates[row * hid + j];
            let h = (row - p.batch) * hid + k0;
            acc[0] = fma(vec4<f32>(w_h[h]), d, acc[0]);
            acc[1] = fma(vec4<f32>(w_h[h + 1u]), d, acc[1]);
            acc[2] = fma(vec4<f32>(w_h[h + 2u]), d, acc[2]);
            acc[3] = fma(vec4<f32>(w_h[h + 3u]), d, acc[3]);
            acc[4] = fma(vec4<f32>(w_h[h + 4u]), d, acc[4]);
            acc[5] = fma(vec4<f32>(w_h[h + 5u]), d, acc[5]);
            acc[6] = fma(vec4<f32>(w_h[h + 6u]), d, acc[6]);
            acc[7] = fma(vec4<f32>(w_h[h + 7u]), d, acc[7]);
        }
    } else {
        for (var row = p.batch; row < rows; row++) {
            let d = w_dgates[row * hid + j];
            for (var q = 0u; q < n; q++) { acc[q] = fma(vec4<f32>(w_h[(row - p.batch) * hid + k0 + q]), d, acc[q]); }
        }
    }
    if ((p.flags & HAS_H0) != 0u) {
        for (var b = 0u; b < p.batch; b++) {
            let d = w_dgates[b * hid + j];
            for (var q = 0u; q < n; q++) { acc[q] = fma(vec4<f32>(w_h0[b * hid + k0 + q]), d, acc[q]); }
        }
    }
    for (var q = 0u; q < n; q++) { w_dw[(k0 + q) * hid + j] = acc[q]; }
}
