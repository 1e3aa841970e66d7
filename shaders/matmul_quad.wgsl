// `matmul_quad`: `matmul_direct` (matmul.wgsl) with the loads of A shared across a quad, for
// software GPUs that run WGSL's subgroup operations (SwiftShader, lavapipe). The blocks,
// bindings and epilogue the two share are in matmul_common.wgsl, first in this module.
//
// There every load from a storage buffer is a gather, one scalar load per SIMD lane, and a
// quad — four neighbouring invocations — is one SIMD register's lanes, so passing a value
// between them (`quadBroadcast` with a constant lane) is a shuffle inside that register.
// The four invocations of a quad take the same 16 rows of C and 8 columns each, a 16×32
// region: each loads 4 of the 16 values of op(A)'s column a step of K needs and broadcasts
// them to the other three, and loads its own 8 of op(B)'s row. That is 12 gathers a step
// for the same 128 multiply-adds, where `matmul_direct` makes 24.
//
// Lanes are taken from the invocation index (a quad is four consecutive invocations of this
// one-dimensional workgroup). The whole quad takes part in every broadcast, so no invocation
// returns early: regions past the edge of C read clamped rows and columns, and `store_block`
// drops what falls outside.
//
// A workgroup is two quads: 32 rows and 32 columns of C. With SPLIT, workgroup z sums only
// its chunk of K.

// One step of K (see `sum_block`): this lane loads its 4 of the 16 values of op(A)'s column
// (rows 4·lane … 4·lane + 3 of the block), takes all 16 from the quad, and loads its own 8
// of op(B)'s row.
fn add_step(block: ptr<function, Block>, at: Starts, lane: u32, ka: u32, kb: u32) {
    let mine = select(select(at.rows0, at.rows1, lane == 1u), select(at.rows2, at.rows3, lane == 3u), lane >= 2u);
    let a_mine = load_a4(mine, ka);
    add_outer(block, quadBroadcast(a_mine, 0u), quadBroadcast(a_mine, 1u), quadBroadcast(a_mine, 2u),
              quadBroadcast(a_mine, 3u), load_b4(at.cols0, kb), load_b4(at.cols1, kb));
}

@compute @workgroup_size(8)
fn matmul_quad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) index: u32) {
    let lane = index % 4u;
    let row0 = (wg.y * 2u + index / 4u) * 16u;
    let col0 = wg.x * 32u + lane * 8u;
    store_block(sum_block(block_starts(row0, col0), lane, wg.z), row0, col0, wg.z);
}
