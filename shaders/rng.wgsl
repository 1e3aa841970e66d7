// Fill tensors from the Philox stream (see philox.wgsl): uniform, normal, and indices.

struct Params {
    n: u32,
    seed_lo: u32,
    seed_hi: u32,
    offset_lo: u32,
    offset_hi: u32,
    range: u32,   // random_index: indices in [0, range)
    a: f32,       // uniform: low;  normal: mean
    b: f32,       // uniform: high; normal: standard deviation
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out_f32: array<f32>;

@compute @workgroup_size(256)
fn uniform_fill(grid: Grid) {
    let i = thread_index(grid, 256u);
    if (i >= p.n) { return; }
    let w = philox_word(vec2<u32>(p.seed_lo, p.seed_hi), vec2<u32>(p.offset_lo, p.offset_hi), i);
    out_f32[i] = p.a + (p.b - p.a) * word_to_unit(w);
}

@compute @workgroup_size(256)
fn normal_fill(grid: Grid) {
    let i = thread_index(grid, 256u);
    if (i >= p.n) { return; }
    let z = philox_normal(vec2<u32>(p.seed_lo, p.seed_hi), vec2<u32>(p.offset_lo, p.offset_hi), i);
    out_f32[i] = p.a + p.b * z;
}

// Raw words (for bit-identity tests) and indices in [0, range) by the high word of
// word × range: unbiased to within range / 2³², and exact integer arithmetic everywhere.
@group(0) @binding(1) var<storage, read_write> out_u32: array<u32>;

@compute @workgroup_size(256)
fn random_words(grid: Grid) {
    let i = thread_index(grid, 256u);
    if (i >= p.n) { return; }
    out_u32[i] = philox_word(vec2<u32>(p.seed_lo, p.seed_hi), vec2<u32>(p.offset_lo, p.offset_hi), i);
}

@compute @workgroup_size(256)
fn random_index(grid: Grid) {
    let i = thread_index(grid, 256u);
    if (i >= p.n) { return; }
    let w = philox_word(vec2<u32>(p.seed_lo, p.seed_hi), vec2<u32>(p.offset_lo, p.offset_hi), i);
    out_u32[i] = mul_hi_lo(w, p.range).x;
}
