// C = act(A·B [+ C] [+ bias]) with A, B optionally transposed, register-tiled.
//
// Each workgroup computes a 64×64 tile of C; each of its 16×16 threads owns a 4×4 block of
// outputs spread with a stride of 16 (so neighbouring threads read neighbouring shared
// memory). K is walked in slices of 16: the workgroup stages a 64×16 slice of A and a 16×64
// slice of B in workgroup memory, then every thread does 4×4×16 multiply-adds out of
// registers. Out-of-range loads read zero, so any M, N, K works.
//
// Split-K: a product with few output tiles and a long K (a weight gradient Xᵀ·dY summed over
// every pixel of a batch, K in the tens of thousands) would leave all but a few workgroups
// idle, each walking all of K alone. With SPLIT, workgroup z of the grid's third dimension
// sums only its `k_chunk` of K and writes the raw partial tile to c[z·M·N + …];
// `sum_splits` then adds the partials and applies the epilogue.
//
// Storage: A is M×K row-major, or K×M when TRANS_A (i.e. A = Xᵀ for an X stored K×M);
//          B is K×N row-major, or N×K when TRANS_B.
//
// `matmul_direct` is the same product for software GPUs (SwiftShader, lavapipe), which run a
// workgroup's invocations as the SIMD lanes of one CPU thread: there, a barrier is a context
// switch between coroutines and workgroup memory is just more memory, so the tiled kernel
// pays for its staging and buys nothing a CPU cache would not give anyway. Each invocation
// instead computes a 4×4 block of C straight from A and B, with no workgroup memory and no
// barrier at all.

const TRANS_A: u32 = 1u;
const TRANS_B: u32 = 2u;
const ACCUMULATE: u32 = 4u;
const BIAS: u32 = 8u;
const SPLIT: u32 = 16u;

const TILE: u32 = 64u;
const SLICE: u32 = 16u;
const THREADS: u32 = 16u;
const PER_THREAD: u32 = 4u;

// p: the launch's Params, declared in src/kernels/matmul.rs (KernelSpec::source puts the struct first).
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Both tiles are stored slice-major: tile_a[kk][row], tile_b[kk][col].
var<workgroup> tile_a: array<f32, 1024>;
var<workgroup> tile_b: array<f32, 1024>;

fn load_a(row: u32, kk: u32, k_end: u32) -> f32 {
    if (row >= p.m || kk >= k_end) { return 0.0; }
    if ((p.flags & TRANS_A) != 0u) { return a[kk * p.m + row]; }
    return a[row * p.k + kk];
}

fn load_b(kk: u32, col: u32, k_end: u32) -> f32 {
    if (kk >= k_end || col >= p.n) { return 0.0; }
    if ((p.flags & TRANS_B) != 0u) { return b[col * p.k + kk]; }
    return b[kk * p.n + col];
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let t = lid.y * THREADS + lid.x;
    let trans_a = (p.flags & TRANS_A) != 0u;
    let trans_b = (p.flags & TRANS_B) != 0u;

    var acc: array<array<f32, 4>, 4>;
    for (var r = 0u; r < PER_THREAD; r++) {
        for (var q = 0u; q < PER_THREAD; q++) { acc[r][q] = 0.0; }
    }

    let k_begin = wg.z * p.k_chunk;
    let k_end = min(p.k, k_begin + p.k_chunk);
    for (var k0 = k_begin; k0 < k_end; k0 += SLICE) {
        // 256 threads stage 1024 values of each tile, 4 each, choosing the element order
        // so that consecutive threads read consecutive addresses of the stored matrix.
        for (var q = 0u; q < 4u; q++) {
            let e = t + 256u * q;
            var row: u32; var kk: u32;
            if (trans_a) { kk = e / TILE; row = e % TILE; } else { row = e / SLICE; kk = e % SLICE; }
            tile_a[kk * TILE + row] = load_a(row0 + row, k0 + kk, k_end);
            var col: u32; var kb: u32;
            if (trans_b) { col = e / SLICE; kb = e % SLICE; } else { kb = e / TILE; col = e % TILE; }
            tile_b[kb * TILE + col] = load_b(k0 + kb, col0 + col, k_end);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < SLICE; kk++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var r = 0u; r < PER_THREAD; r++) { av[r] = tile_a[kk * TILE + lid.y + THREADS * r]; }
            for (var q = 0u; q < PER_THREAD; q++) { bv[q] = tile_b[kk * TILE + lid.x + THREADS * q]; }
            for (var r = 0u; r < PER_THREAD; r++) {
                for (var q = 0u; q < PER_THREAD; q++) { acc[r][q] = fma(av[r], bv[q], acc[r][q]); }
            }
        }
        workgroupBarrier();
    }

    for (var r = 0u; r < PER_THREAD; r++) {
        let row = row0 + lid.y + THREADS * r;
        if (row >= p.m) { continue; }
        for (var q = 0u; q < PER_THREAD; q++) {
            let col = col0 + lid.x + THREADS * q;
            if (col >= p.n) { continue; }
            let i = row * p.n + col;
            if ((p.flags & SPLIT) != 0u) {
                c[wg.z * p.m * p.n + i] = acc[r][q];
                continue;
            }
            c[i] = epilogue(acc[r][q], i, col);
        }
    }
}

fn epilogue(sum: f32, i: u32, col: u32) -> f32 {
    var v = sum;
    if ((p.flags & ACCUMULATE) != 0u) { v += c[i]; }
    if ((p.flags & BIAS) != 0u) { v += bias[col]; }
    return activate(v, p.act, p.slope);
}

// A product with at most a few rows or columns (a convolution painting 3 colour channels:
// M = every pixel of the batch, N = 3): a 64×64 tile would be over 90% padding, so each
// thread computes one output as a plain dot product instead.
@compute @workgroup_size(256)
fn matmul_thin(grid: Grid) {
    let i = thread_index(grid, 256u);
    if (i >= p.m * p.n) { return; }
    let row = i / p.n;
    let col = i % p.n;
    var sum = 0.0;
    for (var kk = 0u; kk < p.k; kk++) { sum = fma(load_a(row, kk, p.k), load_b(kk, col, p.k), sum); }
    c[i] = epilogue(sum, i, col);
}

// The second half of a split-K product: `a` holds the `splits` partial M×N products; one
// thread per output adds them up (in z order, so the result does not depend on timing)
// and applies the epilogue into c.
@compute @workgroup_size(256)
fn sum_splits(grid: Grid) {
    let i = thread_index(grid, 256u);
    let size = p.m * p.n;
    if (i >= size) { return; }
    var sum = 0.0;
    for (var z = 0u; z < p.splits; z++) { sum += a[z * size + i]; }
    c[i] = epilogue(sum, i, i % p.n);
}

// Element strides of op(A) (row, k) and op(B) (k, col) in storage, set by the transposes, so
// that the inner loop of matmul_direct has no branch.
fn a_strides() -> vec2<u32> {
    if ((p.flags & TRANS_A) != 0u) { return vec2<u32>(1u, p.m); }
    return vec2<u32>(p.k, 1u);
}

fn b_strides() -> vec2<u32> {
    if ((p.flags & TRANS_B) != 0u) { return vec2<u32>(1u, p.k); }
    return vec2<u32>(p.n, 1u);
}

// One invocation: a 4×4 block of C, rows 4·(wg.y·4 + lid.y) + r and columns wg.x·64 + lid.x + 16·q
// (r, q < 4). Neighbouring lanes take neighbouring columns, so each load of B reads
// consecutive addresses across the lanes, and each load of A the same address. Rows and
// columns past the edge are clamped (they read real data) and dropped at the store, so the
// loop needs no bounds checks. Every value lives in its own variable, not an array: a
// software GPU's compiler keeps those in registers, while an array indexed at run time
// goes to memory. With SPLIT, workgroup z sums only its chunk of K, as `matmul` does.
@compute @workgroup_size(16, 4)
fn matmul_direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = (wg.y * 4u + lid.y) * 4u;
    let col0 = wg.x * 64u + lid.x;
    if (row0 >= p.m || col0 >= p.n) { return; }
    let sa = a_strides();
    let sb = b_strides();
    let last_row = p.m - 1u;
    let last_col = p.n - 1u;
    let a0 = min(row0, last_row) * sa.x;
    let a1 = min(row0 + 1u, last_row) * sa.x;
    let a2 = min(row0 + 2u, last_row) * sa.x;
    let a3 = min(row0 + 3u, last_row) * sa.x;
    let b0 = min(col0, last_col) * sb.y;
    let b1 = min(col0 + 16u, last_col) * sb.y;
    let b2 = min(col0 + 32u, last_col) * sb.y;
    let b3 = min(col0 + 48u, last_col) * sb.y;

    var c0 = vec4<f32>();
    var c1 = vec4<f32>();
    var c2 = vec4<f32>();
    var c3 = vec4<f32>();
    let k_begin = wg.z * p.k_chunk;
    let k_end = min(p.k, k_begin + p.k_chunk);
    var ka = k_begin * sa.y;
    var kb = k_begin * sb.x;
    for (var kk = k_begin; kk < k_end; kk++) {
        let bv = vec4<f32>(b[kb + b0], b[kb + b1], b[kb + b2], b[kb + b3]);
        c0 = fma(vec4<f32>(a[a0 + ka]), bv, c0);
        c1 = fma(vec4<f32>(a[a1 + ka]), bv, c1);
        c2 = fma(vec4<f32>(a[a2 + ka]), bv, c2);
        c3 = fma(vec4<f32>(a[a3 + ka]), bv, c3);
        ka += sa.y;
        kb += sb.x;
    }
    store_direct(row0, col0, c0, wg.z);
    store_direct(row0 + 1u, col0, c1, wg.z);
    store_direct(row0 + 2u, col0, c2, wg.z);
    store_direct(row0 + 3u, col0, c3, wg.z);
}

// Stores one row of a matmul_direct block: columns col0 + 16·q, those inside C.
fn store_direct(row: u32, col0: u32, v: vec4<f32>, z: u32) {
    if (row >= p.m) { return; }
    for (var q = 0u; q < 4u; q++) {
        let col = col0 + 16u * q;
        if (col >= p.n) { return; }
        let i = row * p.n + col;
        if ((p.flags & SPLIT) != 0u) {
            c[z * p.m * p.n + i] = v[q];
        } else {
            c[i] = epilogue(v[q], i, col);
        }
    }
}
