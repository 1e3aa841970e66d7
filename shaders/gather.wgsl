// Minibatches from a GPU-resident dataset: out[r, :] = source[index[r], :].
// Words are copied as u32 bits, so the same kernel gathers f32 pixels and u32 tokens.
// An index past the end yields a row of zeros (indices drawn on the GPU are in range by
// construction; host-provided ones are checked before launch).

// p (the launch's Params) and the storage buffers each kernel binds are declared in
// src/kernels/gather.rs: KernelSpec::source writes them first.

@compute @workgroup_size(256)
fn gather_rows(grid: Grid) {
    let i = thread_index(grid, 256u);
    if (i >= p.rows * p.cols) { return; }
    let r = i / p.cols;
    let j = i % p.cols;
    let src = index[r];
    if (src < p.source_rows) { out[i] = source[src * p.cols + j]; } else { out[i] = 0u; }
}
