// Adam (Kingma & Ba 2015), bias-corrected, updating a parameter tensor in place:
//   m ← β1·m + (1−β1)·g          v ← β2·v + (1−β2)·g²
//   θ ← θ − lr · (m / (1−β1ᵗ)) / (sqrt(v / (1−β2ᵗ)) + ε)
// The host folds the step count into the two corrections, so the kernel needs no state.

// p (the launch's Params) and the storage buffers each kernel binds are declared in
// src/kernels/adam.rs: KernelSpec::source writes them first.

@compute @workgroup_size(256)
fn adam(grid: Grid) {
    let i = thread_index(grid, 256u);
    if (i >= p.n) { return; }
    let g = grad[i];
    let m1 = p.beta1 * m[i] + (1.0 - p.beta1) * g;
    let v1 = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
    m[i] = m1;
    v[i] = v1;
    param[i] -= p.lr * (m1 / p.correction1) / (sqrt(v1 / p.correction2) + p.eps);
}
