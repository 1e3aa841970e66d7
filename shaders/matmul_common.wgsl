// What matmul.wgsl's `matmul_direct` and matmul_quad.wgsl's `matmul_quad` share, and the
// bindings, flags and epilogue of every matrix product (the modules are this file followed by
// one of those two).
//
// Storage: A is M×K row-major, or K×M when TRANS_A (i.e. A = Xᵀ for an X stored K×M);
//          B is K×N row-major, or N×K when TRANS_B.

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
// Write the raw partial sums of a chunk of K to c[z·M·N + …] instead (split-K, see matmul.wgsl).
override SPLIT: bool = false;

// p (the launch's Params) and the storage buffers each kernel binds are declared in
// src/kernels/matmul.rs: KernelSpec::source writes them first.

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

// block += (a0; a1; a2; a3) · (b0 b1): the outer product of 16 values of op(A)'s column and
// 8 of op(B)'s row.
fn add_outer(block: ptr<function, Block>, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>,
             b0: vec4<f32>, b1: vec4<f32>) {
    (*block).r0c0 += outer(a0, b0);
    (*block).r0c1 += outer(a0, b1);
    (*block).r1c0 += outer(a1, b0);
    (*block).r1c1 += outer(a1, b1);
    (*block).r2c0 += outer(a2, b0);
    (*block).r2c1 += outer(a2, b1);
    (*block).r3c0 += outer(a3, b0);
    (*block).r3c1 += outer(a3, b1);
}

// Where a 16×8 block at (row0, col0) reads: its rows' and columns' starts, each clamped to
// the last row or column (a block past the edge reads real data; `store_block` drops it).
fn block_starts(row0: u32, col0: u32) -> Starts {
    let sa = a_strides();
    let sb = b_strides();
    let last_row = vec4<u32>(p.m - 1u);
    let last_col = vec4<u32>(p.n - 1u);
    let rows = vec4<u32>(row0) + vec4<u32>(0u, 1u, 2u, 3u);
    let cols = vec4<u32>(col0) + vec4<u32>(0u, 1u, 2u, 3u);
    return Starts(
        min(rows, last_row) * sa.x,
        min(rows + 4u, last_row) * sa.x,
        min(rows + 8u, last_row) * sa.x,
        min(rows + 12u, last_row) * sa.x,
        min(cols, last_col) * sb.y,
        min(cols + 4u, last_col) * sb.y,
    );
}

// The sums of the 16×8 block whose reads start at `at`, over workgroup z's chunk of K (all of
// K without SPLIT), two steps at a time. A step is `add_step(block, at, lane, ka, kb)`, which
// each module built on this file defines: matmul.wgsl's loads all it needs, matmul_quad.wgsl's
// shares loads across the quad (`lane` is the invocation's place in it). `ka` and `kb` are the
// step's offsets along K in A's and B's storage.
fn sum_block(at: Starts, lane: u32, z: u32) -> Block {
    let sa = a_strides();
    let sb = b_strides();
    var block = Block();
    let k_begin = z * p.k_chunk;
    let k_end = min(p.k, k_begin + p.k_chunk);
    let k_pairs_end = k_begin + (k_end - k_begin) / 2u * 2u;
    var ka = k_begin * sa.y;
    var kb = k_begin * sb.x;
    for (var kk = k_begin; kk < k_pairs_end; kk += 2u) {
        add_step(&block, at, lane, ka, kb);
        add_step(&block, at, lane, ka + sa.y, kb + sb.x);
        ka += 2u * sa.y;
        kb += 2u * sb.x;
    }
    if (k_pairs_end < k_end) {
        add_step(&block, at, lane, ka, kb);
    }
    return block;
}

// Stores a 16×8 block whose top-left is C[row0][col0], the part inside C, after its bias: one
// more outer product (ones · bias), 8 loads a block, not one per element. Split partial sums
// get theirs in sum_splits.
fn store_block(sums: Block, row0: u32, col0: u32, z: u32) {
    var block = sums;
    if (!SPLIT && (p.flags & HAS_BIAS) != 0u) {
        let last_col = vec4<u32>(p.n - 1u);
        let cols = min(vec4<u32>(col0) + vec4<u32>(0u, 1u, 2u, 3u), last_col);
        let cols_right = min(vec4<u32>(col0 + 4u) + vec4<u32>(0u, 1u, 2u, 3u), last_col);
        let ones = vec4<f32>(1.0);
        add_outer(&block, ones, ones, ones, ones,
                  vec4<f32>(bias[cols.x], bias[cols.y], bias[cols.z], bias[cols.w]),
                  vec4<f32>(bias[cols_right.x], bias[cols_right.y], bias[cols_right.z], bias[cols_right.w]));
    }
    let right = col0 + 4u;
    store_quad(row0, col0, block.r0c0, z);
    store_quad(row0, right, block.r0c1, z);
    store_quad(row0 + 4u, col0, block.r1c0, z);
    store_quad(row0 + 4u, right, block.r1c1, z);
    store_quad(row0 + 8u, col0, block.r2c0, z);
    store_quad(row0 + 8u, right, block.r2c1, z);
    store_quad(row0 + 12u, col0, block.r3c0, z);
    store_quad(row0 + 12u, right, block.r3c1, z);
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
