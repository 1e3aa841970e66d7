// Reductions. Rows are reduced by one workgroup each (strided loads, then the two-level sum
// of workgroup_sum.wgsl); columns by 64-column × 4-lane workgroups so that loads stay
// coalesced, or on a software GPU one lane per column.

const ACCUMULATE: u32 = 1u;

// p (the launch's Params) and the storage buffers each kernel binds are declared in
// src/kernels/reduce.rs: KernelSpec::source writes them first.

alias Partial = f32;
var<workgroup> partial: array<Partial, 256>;

// out[r] = scale · Σ_j x[r, j]
@compute @workgroup_size(256)
fn sum_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let row = wg.x + wg.y * groups.x;
    var s = 0.0;
    if (row < p.rows) {
        for (var j = lane; j < p.cols; j += 256u) {
            let i = row * p.cols + j;
            if (i < p.len) { s += x[i]; }
        }
    }
    partial[lane] = s;
    reduce_partial(lane);
    if (lane == 0u && row < p.rows) {
        var v = partial[0] * p.scale;
        if ((p.flags & ACCUMULATE) != 0u) { v += out[row]; }
        out[row] = v;
    }
}

// out[j] = scale · Σ_r x[r, j]   (the bias gradient), four lanes per column.
@compute @workgroup_size(64, 4)
fn sum_cols(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let col = wg.x * 64u + lid.x;
    var s = 0.0;
    if (col < p.cols) {
        for (var r = lid.y; r < p.rows; r += 4u) { s += x[r * p.cols + col]; }
    }
    partial[lid.y * 64u + lid.x] = s;
    workgroupBarrier();
    if (lid.y == 0u && col < p.cols) {
        var v = (partial[lid.x] + partial[64u + lid.x] + partial[128u + lid.x] + partial[192u + lid.x]) * p.scale;
        if ((p.flags & ACCUMULATE) != 0u) { v += out[col]; }
        out[col] = v;
    }
}

// The same sum with one lane per column and no barrier, for software GPUs (SwiftShader,
// lavapipe), where the barrier above switches between all of the workgroup's SIMD groups and
// costs more than the sum; a real GPU wants the four lanes per column.
@compute @workgroup_size(64)
fn sum_cols_serial(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    if (col >= p.cols) { return; }
    var s = 0.0;
    for (var r = 0u; r < p.rows; r++) { s += x[r * p.cols + col]; }
    var v = s * p.scale;
    if ((p.flags & ACCUMULATE) != 0u) { v += out[col]; }
    out[col] = v;
}
