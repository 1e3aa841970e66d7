// Elementwise kernels over flat arrays, one thread per element (see grid.wgsl).

const FLAG: u32 = 1u;

// p (the launch's Params) and the storage buffers each kernel binds are declared in
// src/kernels/elementwise.rs: KernelSpec::source writes them first.

// y = act(x [+ bias broadcast over rows])
@compute @workgroup_size(256)
fn bias_act(grid: Grid) {
    let i = thread_index(grid, 256u);
    if (i >= p.n) { return; }
    var v = ba_x[i];
    if ((p.flags & FLAG) != 0u) { v += ba_bias[i % p.cols]; }
    ba_y[i] = activate(v, p.act, p.slope);
}

// dx (=|+=) dy · act'(x), with act' taken from the forward output y.
@compute @workgroup_size(256)
fn activation_backward(grid: Grid) {
    let i = thread_index(grid, 256u);
    if (i >= p.n) { return; }
    var g = ab_dy[i] * activation_grad_from_output(ab_y[i], p.act, p.slope);
    if ((p.flags & FLAG) != 0u) { g += ab_dx[i]; }
    ab_dx[i] = g;
}

// y = alpha·x + beta·y, in place on y (gradient accumulation, scaling, residual adds).
@compute @workgroup_size(256)
fn axpby(grid: Grid) {
    let i = thread_index(grid, 256u);
    if (i >= p.n) { return; }
    ax_y[i] = p.alpha * ax_x[i] + p.beta * ax_y[i];
}

// y = alpha everywhere.
@compute @workgroup_size(256)
fn fill(grid: Grid) {
    let i = thread_index(grid, 256u);
    if (i >= p.n) { return; }
    fill_y[i] = p.alpha;
}
