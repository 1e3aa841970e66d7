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
// instead computes a 16×8 block of C straight from A and B, with no workgroup memory and no
// barrier at all.

const TRANS_A: u32 = 1u;
const TRANS_B: u32 = 2u;
// Add bias[col] to every row.
const HAS_BIAS: u32 = 4u;

// Part of what happens to a sum before it is stored is fixed when the pipeline is made
// (override constants; `Epilogue::overrides` in src/kernels/matmul.rs): a software GPU runs
// every branch of a store, masked, so an activation chosen at run time cost every element
// its tanh and exp whichever activation the launch used, and an accumulate its load. Each
// combination is a pipeline the driver compiles (1–2 s for matmul_direct on SwiftShader,
// while the page stands still), so there are few: identity, ReLU and leaky ReLU are all
// ACTIVATION = 2 (leaky, with slope 1, 0 or its own), and the bias is a run-time flag that
// matmul_direct adds once per block rather than per element.
override ACCUMULATE: bool = false;
override ACTIVATION: u32 = 0u;
// Write the raw partial sums of a chunk of K to c[z·M·N + …] instead (split-K, above).
override SPLIT: bool = false;

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
            if (SPLIT) {
                c[wg.z * p.m * p.n + i] = acc[r][q];
                continue;
            }
            c[i] = epilogue(acc[r][q], i, col);
        }
    }
}

fn epilogue(sum: f32, i: u32, col: u32) -> f32 {
    var v = sum;
    if ((p.flags & HAS_BIAS) != 0u) { v += bias[col]; }
    return finish(v, i);
}

// The epilogue after the bias: what C held (ACCUMULATE), then the activation.
fn finish(sum: f32, i: u32) -> f32 {
    var v = sum;
    if (ACCUMULATE) { v += c[i]; }
    return activate(v, ACTIVATION, p.slope);
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

// One invocation: a 16×8 block of C, rows `row0 + 0..16` and columns `col0 + 0..8`.
//
// On a software GPU every load from a storage buffer is a gather: four scalar loads, one per
// SIMD lane, each behind its own bounds check and branch. Loads, not multiply-adds, are
// what a product costs there, so each invocation takes the biggest block whose sums still
// fit in plain variables: per step of K it loads 16 values of A and 8 of B (24 gathers) for
// 128 multiply-adds, where a 4×4 block loads 8 for 16. The sums are eight 4×4 matrices
// (`Block`), each step adds outer products, and the loop is unrolled twice. Each matrix
// and vector is indexed only by constants: an array indexed at run time goes to memory on
// a software GPU's compiler, and that version ran 4× slower. Rows and columns past the edge
// are clamped (they read real data) and dropped at the store, so the loop needs no bounds
// checks. With SPLIT, workgroup z sums only its chunk of K, as `matmul` does.

// The sums of a 16×8 block: `r{i}c{j}` holds rows 4i..4i+3 and columns 4j..4j+3, column by
// column as WGSL stores matrices (r0c0[col][row]).
struct Block {
    r0c0: mat4x4<f32>, r0c1: mat4x4<f32>,
    r1c0: mat4x4<f32>, r1c1: mat4x4<f32>,
    r2c0: mat4x4<f32>, r2c1: mat4x4<f32>,
    r3c0: mat4x4<f32>, r3c1: mat4x4<f32>,
}

// Where the block's 16 rows of op(A) and 8 columns of op(B) start in storage, four at a time.
struct Starts {
    rows0: vec4<u32>, rows1: vec4<u32>, rows2: vec4<u32>, rows3: vec4<u32>,
    cols0: vec4<u32>, cols1: vec4<u32>,
}

// x·yᵀ: the 4×4 matrix whose column j is x·y[j].
fn outer(x: vec4<f32>, y: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(x * y.x, x * y.y, x * y.z, x * y.w);
}

fn load_a4(at: vec4<u32>, ka: u32) -> vec4<f32> {
    return vec4<f32>(a[ka + at.x], a[ka + at.y], a[ka + at.z], a[ka + at.w]);
}

fn load_b4(at: vec4<u32>, kb: u32) -> vec4<f32> {
    return vec4<f32>(b[kb + at.x], b[kb + at.y], b[kb + at.z], b[kb + at.w]);
}

// One step of K: the block += (its column of op(A)) · (its row of op(B)); `ka` and `kb` are
// that step's offsets along K in A's and B's storage.
fn add_step(block: ptr<function, Block>, at: Starts, ka: u32, kb: u32) {
    let a0 = load_a4(at.rows0, ka);
    let a1 = load_a4(at.rows1, ka);
    let a2 = load_a4(at.rows2, ka);
    let a3 = load_a4(at.rows3, ka);
    let b0 = load_b4(at.cols0, kb);
    let b1 = load_b4(at.cols1, kb);
    (*block).r0c0 += outer(a0, b0);
    (*block).r0c1 += outer(a0, b1);
    (*block).r1c0 += outer(a1, b0);
    (*block).r1c1 += outer(a1, b1);
    (*block).r2c0 += outer(a2, b0);
    (*block).r2c1 += outer(a2, b1);
    (*block).r3c0 += outer(a3, b0);
    (*block).r3c1 += outer(a3, b1);
}

@compute @workgroup_size(2, 4)
fn matmul_direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = (wg.y * 4u + lid.y) * 16u;
    let col0 = (wg.x * 2u + lid.x) * 8u;
    if (row0 >= p.m || col0 >= p.n) { return; }
    let sa = a_strides();
    let sb = b_strides();
    let last_row = vec4<u32>(p.m - 1u);
    let last_col = vec4<u32>(p.n - 1u);
    let rows = vec4<u32>(row0) + vec4<u32>(0u, 1u, 2u, 3u);
    let cols = vec4<u32>(col0) + vec4<u32>(0u, 1u, 2u, 3u);
    let cols_left = min(cols, last_col);
    let cols_right = min(cols + 4u, last_col);
    let at = Starts(
        min(rows, last_row) * sa.x,
        min(rows + 4u, last_row) * sa.x,
        min(rows + 8u, last_row) * sa.x,
        min(rows + 12u, last_row) * sa.x,
        cols_left * sb.y,
        cols_right * sb.y,
    );

    var block = Block();
    let k_begin = wg.z * p.k_chunk;
    let k_end = min(p.k, k_begin + p.k_chunk);
    let k_pairs_end = k_begin + (k_end - k_begin) / 2u * 2u;
    var ka = k_begin * sa.y;
    var kb = k_begin * sb.x;
    for (var kk = k_begin; kk < k_pairs_end; kk += 2u) {
        add_step(&block, at, ka, kb);
        add_step(&block, at, ka + sa.y, kb + sb.x);
        ka += 2u * sa.y;
        kb += 2u * sb.x;
    }
    if (k_pairs_end < k_end) {
        add_step(&block, at, ka, kb);
    }
    // The bias, as one more outer product (ones · bias): 8 loads a block, not one per
    // element. Split partial sums get theirs in sum_splits.
    if (!SPLIT && (p.flags & HAS_BIAS) != 0u) {
        let ones = vec4<f32>(1.0);
        let b0 = vec4<f32>(bias[cols_left.x], bias[cols_left.y], bias[cols_left.z], bias[cols_left.w]);
        let b1 = vec4<f32>(bias[cols_right.x], bias[cols_right.y], bias[cols_right.z], bias[cols_right.w]);
        block.r0c0 += outer(ones, b0);
        block.r0c1 += outer(ones, b1);
        block.r1c0 += outer(ones, b0);
        block.r1c1 += outer(ones, b1);
        block.r2c0 += outer(ones, b0);
        block.r2c1 += outer(ones, b1);
        block.r3c0 += outer(ones, b0);
        block.r3c1 += outer(ones, b1);
    }

    let right = col0 + 4u;
    store_quad(row0, col0, block.r0c0, wg.z);
    store_quad(row0, right, block.r0c1, wg.z);
    store_quad(row0 + 4u, col0, block.r1c0, wg.z);
    store_quad(row0 + 4u, right, block.r1c1, wg.z);
    store_quad(row0 + 8u, col0, block.r2c0, wg.z);
    store_quad(row0 + 8u, right, block.r2c1, wg.z);
    store_quad(row0 + 12u, col0, block.r3c0, wg.z);
    store_quad(row0 + 12u, right, block.r3c1, wg.z);
}

// Stores a 4×4 piece of a matmul_direct block whose top-left is C[row][col], the part inside C.
fn store_quad(row: u32, col: u32, sums: mat4x4<f32>, z: u32) {
    store_column(row, col, sums[0], z);
    store_column(row, col + 1u, sums[1], z);
    store_column(row, col + 2u, sums[2], z);
    store_column(row, col + 3u, sums[3], z);
}

fn store_column(row: u32, col: u32, sums: vec4<f32>, z: u32) {
    if (col >= p.n) { return; }
    store_one(row, col, sums.x, z);
    store_one(row + 1u, col, sums.y, z);
    store_one(row + 2u, col, sums.z, z);
    store_one(row + 3u, col, sums.w, z);
}

fn store_one(row: u32, col: u32, sum: f32, z: u32) {
    if (row >= p.m) { return; }
    let i = row * p.n + col;
    if (SPLIT) {
        c[z * p.m * p.n + i] = sum;
    } else {
        c[i] = finish(sum, i);
    }
}
