// Image patches, so that a convolution is one matrix multiplication (im2col), and the
// adjoint that carries a gradient on the patches back onto the image (col2im).
//
// Images are NHWC rows: image[b, (y·W + x)·C + c]. A patch row r = (b·OH + oy)·OW + ox
// holds the K×K×C window whose top-left corner is (oy·S − P, ox·S − P), ordered
// (ky, kx, c); window pixels outside the image read as zero (zero padding). A convolution
// with weights [K·K·C, C_out] is then patches · weights, and its output rows are already
// the NHWC layout of the output image.

// p (the launch's Params) and the storage buffers each kernel binds are declared in
// src/kernels/patches.rs: KernelSpec::source writes them first.

// src: image [B, H·W·C]; dst: patches [B·OH·OW, K·K·C]. One thread per patch value.
@compute @workgroup_size(256)
fn im2col(grid: Grid) {
    let i = thread_index(grid, 256u);
    let cols = p.kernel * p.kernel * p.channels;
    if (i >= p.batch * p.out_h * p.out_w * cols) { return; }
    let row = i / cols;
    let col = i % cols;
    let b = row / (p.out_h * p.out_w);
    let oy = (row / p.out_w) % p.out_h;
    let ox = row % p.out_w;
    let ky = col / (p.kernel * p.channels);
    let kx = (col / p.channels) % p.kernel;
    let c = col % p.channels;
    let y = i32(oy * p.stride + ky) - i32(p.pad);
    let x = i32(ox * p.stride + kx) - i32(p.pad);
    var value = 0.0;
    if (y >= 0 && y < i32(p.height) && x >= 0 && x < i32(p.width)) {
        value = src[((b * p.height + u32(y)) * p.width + u32(x)) * p.channels + c];
    }
    dst[i] = value;
}

// src: d patches [B·OH·OW, K·K·C]; dst: d image [B, H·W·C]. One thread per image value,
// summing the patch entries that read it (at most ⌈K/S⌉² of them), so no atomics are needed
// and the sum's order is fixed.
@compute @workgroup_size(256)
fn col2im(grid: Grid) {
    let i = thread_index(grid, 256u);
    if (i >= p.batch * p.height * p.width * p.channels) { return; }
    let c = i % p.channels;
    let x = (i / p.channels) % p.width;
    let y = (i / (p.channels * p.width)) % p.height;
    let b = i / (p.channels * p.width * p.height);
    let cols = p.kernel * p.kernel * p.channels;
    var acc = 0.0;
    for (var ky = 0u; ky < p.kernel; ky++) {
        // The window row oy reads image row y at offset ky when oy·S = y + P − ky.
        let ty = i32(y + p.pad) - i32(ky);
        if (ty < 0 || u32(ty) % p.stride != 0u) { continue; }
        let oy = u32(ty) / p.stride;
        if (oy >= p.out_h) { continue; }
        for (var kx = 0u; kx < p.kernel; kx++) {
            let tx = i32(x + p.pad) - i32(kx);
            if (tx < 0 || u32(tx) % p.stride != 0u) { continue; }
            let ox = u32(tx) / p.stride;
            if (ox >= p.out_w) { continue; }
            let row = (b * p.out_h + oy) * p.out_w + ox;
            acc += src[row * cols + (ky * p.kernel + kx) * p.channels + c];
        }
    }
    dst[i] = acc;
}
