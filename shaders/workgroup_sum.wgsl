// Shared by the shaders that reduce within a 256-lane workgroup (reduce.wgsl, gan.wgsl,
// minibatch_stddev.wgsl, spectral_norm.wgsl). Each declares the type of the values it sums,
// `alias Partial = f32;` (or vec4<f32>: the sum works on either), and its own
// `var<workgroup> partial: array<Partial, 256>`, which reduce_partial sums once filled.
//
// Sums partial[0..256] into partial[0] with three barriers, not a tree's nine: 16 lanes each
// add 16 values, then lane 0 adds those 16. On a software GPU every barrier switches between
// all of the workgroup's SIMD groups, so the count of barriers is what a reduction costs.
fn reduce_partial(lane: u32) {
    workgroupBarrier();
    if (lane < 16u) {
        var s = partial[16u * lane];
        for (var j = 1u; j < 16u; j++) { s += partial[16u * lane + j]; }
        partial[16u * lane] = s;
    }
    workgroupBarrier();
    if (lane == 0u) {
        var s = partial[0];
        for (var j = 1u; j < 16u; j++) { s += partial[16u * j]; }
        partial[0] = s;
    }
    workgroupBarrier();
}

// The sum of every lane's `value`, returned to every lane; `partial` is free for the next
// sum when it returns.
fn workgroup_sum(lane: u32, value: Partial) -> Partial {
    partial[lane] = value;
    reduce_partial(lane);
    let total = partial[0];
    workgroupBarrier();
    return total;
}
