// Losses fused with their gradients: one launch gives both the per-row loss (in nats) and
// d(weight · mean-over-rows loss)/d logits, so the backward pass starts with no extra launch.

// p (the launch's Params) and the storage buffers each kernel binds are declared in
// src/kernels/loss.rs: KernelSpec::source writes them first.

// Sigmoid binary cross-entropy with logits x and targets t in [0, 1]:
//   loss = max(x, 0) − x·t + log(1 + exp(−|x|))     (never exponentiates a positive number)
//   d loss / d x = σ(x) − t
// One thread per row, no workgroup memory and no barrier: rows are few (a batch of images)
// and columns many, and on a software GPU a barrier switches between all the workgroup's
// SIMD groups, which cost a 64×784 VAE batch 70 ms on SwiftShader where its arithmetic
// costs a few.
@compute @workgroup_size(64)
fn bce_with_logits(grid: Grid) {
    let row = thread_index(grid, 64u);
    if (row >= p.rows) { return; }
    var s = 0.0;
    for (var j = 0u; j < p.cols; j++) {
        let i = row * p.cols + j;
        let x = bce_logits[i];
        let t = bce_targets[i];
        s += max(x, 0.0) - x * t + log(1.0 + exp(-abs(x)));
        bce_grad[i] = (stable_sigmoid(x) - t) * p.grad_scale;
    }
    bce_loss_rows[row] = s;
}

// Softmax cross-entropy over `cols` classes with an integer target per row:
//   loss = logsumexp(x) − x[target]      (computed after subtracting the row maximum)
//   d loss / d x = softmax(x) − onehot(target)
// One thread per row: class counts are small (a palette), rows are many (pixels × batch).
@compute @workgroup_size(256)
fn softmax_cross_entropy(grid: Grid) {
    let row = thread_index(grid, 256u);
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    var top = sce_logits[base];
    for (var j = 1u; j < p.cols; j++) { top = max(top, sce_logits[base + j]); }
    var total = 0.0;
    for (var j = 0u; j < p.cols; j++) { total += exp(sce_logits[base + j] - top); }
    let true_class = sce_targets[row];
    let log_total = log(total);
    sce_loss_rows[row] = log_total + top - sce_logits[base + true_class];
    for (var j = 0u; j < p.cols; j++) {
        let prob = exp(sce_logits[base + j] - top - log_total);
        sce_grad[base + j] = (prob - select(0.0, 1.0, j == true_class)) * p.grad_scale;
    }
}
