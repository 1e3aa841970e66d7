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
// The bindings, the flags, the epilogue and matmul_direct's blocks are in matmul_common.wgsl,
// which comes first in this module.
//
// `matmul_direct` is the same product for software GPUs (SwiftShader, lavapipe), which run a
// workgroup's invocations as the SIMD lanes of one CPU thread: there, a barrier is a context
// switch between coroutines and workgroup memory is just more memory, so the tiled kernel
// pays for its staging and buys nothing a CPU cache would not give anyway. Each invocation
// instead computes a 16×8 block of C straight from A and B, with no workgroup memory and no
// barrier at all.

const TILE: u32 = 64u;
const SLICE: u32 = 16u;
const THREADS: u32 = 16u;
const PER_THREAD: u32 = 4u;

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

// One step of K (see `sum_block`): the block += (its column of op(A)) · (its row of op(B)),
// every value loaded here (`lane` serves matmul_quad.wgsl's step only).
fn add_step(block: ptr<function, Block>, at: Starts, lane: u32, ka: u32, kb: u32) {
    add_outer(block, load_a4(at.rows0, ka), load_a4(at.rows1, ka), load_a4(at.rows2, ka), load_a4(at.rows3, ka),
              load_b4(at.cols0, kb), load_b4(at.cols1, kb));
}

@compute @workgroup_size(2, 4)
fn matmul_direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = (wg.y * 4u + lid.y) * 16u;
    let col0 = (wg.x * 2u + lid.x) * 8u;
    if (row0 >= p.m || col0 >= p.n) { return; }
    store_block(sum_block(block_starts(row0, col0), 0u, wg.z), row0, col0, wg.z);
}
