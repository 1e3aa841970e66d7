// Nearest-neighbour upsampling of NHWC images by a whole factor f, and its adjoint (see
// src/kernels/upsample.rs). A generator that upsamples this way and then convolves paints
// every output pixel from the same number of input pixels, so it has no reason to draw the
// checkerboard that a strided transposed convolution's uneven overlaps invite (Odena et
// al. 2016, "Deconvolution and checkerboard artifacts").
//
//   forward:   y[b, Y, X, c] = x[b, Y / f, X / f, c]
//   backward:  dx[b, y, x, c] = Σ_{i, j < f} dy[b, f·y + i, f·x + j, c]

// p (the launch's Params) and the storage buffers each kernel binds are declared in
// src/kernels/upsample.rs: KernelSpec::source writes them first.

// src: x [B, H·W·C]; dst: y [B, fH·fW·C]. One thread per output value.
@compute @workgroup_size(256)
fn upsample(grid: Grid) {
    let i = thread_index(grid, 256u);
    let out_w = p.width * p.factor;
    let out_h = p.height * p.factor;
    if (i >= p.batch * out_h * out_w * p.channels) { return; }
    let c = i % p.channels;
    let x = (i / p.channels) % out_w;
    let y = (i / (p.channels * out_w)) % out_h;
    let b = i / (p.channels * out_w * out_h);
    dst[i] = src[((b * p.height + y / p.factor) * p.width + x / p.factor) * p.channels + c];
}

// src: dy [B, fH·fW·C]; dst: dx [B, H·W·C]. One thread per input value, summing its f×f block.
@compute @workgroup_size(256)
fn upsample_backward(grid: Grid) {
    let i = thread_index(grid, 256u);
    if (i >= p.batch * p.height * p.width * p.channels) { return; }
    let c = i % p.channels;
    let x = (i / p.channels) % p.width;
    let y = (i / (p.channels * p.width)) % p.height;
    let b = i / (p.channels * p.width * p.height);
    let out_w = p.width * p.factor;
    let out_h = p.height * p.factor;
    var sum = 0.0;
    for (var dy_ = 0u; dy_ < p.factor; dy_++) {
        for (var dx_ = 0u; dx_ < p.factor; dx_++) {
            let row = (b * out_h + y * p.factor + dy_) * out_w + x * p.factor + dx_;
            sum += src[row * p.channels + c];
        }
    }
    if (p.accumulate == 1u) { sum += dst[i]; }
    dst[i] = sum;
}
