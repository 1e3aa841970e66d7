// Fill tensors from the Philox stream (see philox.wgsl): uniform, normal, and indices.

// p (the launch's Params) and the storage buffers each kernel binds are declared in
// src/kernels/rng.rs: KernelSpec::source writes them first.

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
