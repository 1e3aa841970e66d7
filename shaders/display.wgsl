// Draws a grid of images straight from a tensor's storage buffer into a canvas: the page
// never copies pixels through JavaScript. The images are [count, height, width, channels]
// f32 values in [0, 1] (channels 1: grey, 3: RGB), laid out in `cols` columns, each pixel
// an integer `scale` × `scale` block (nearest neighbour, so sprites stay crisp), with `gap`
// pixels of background between and around the images. Up to two cells can be ringed in
// an accent colour (the picked images).
//
// One fullscreen triangle; the fragment shader works out which image, which pixel of it.

// p: the grid's Params, declared in src/web/canvas.rs (put before this source when compiled).
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pixels: array<f32>;

@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    // (-1,-1), (3,-1), (-1,3): one triangle that covers the whole viewport.
    let x = f32(i32(i & 1u) * 4 - 1);
    let y = f32(i32(i >> 1u) * 4 - 1);
    return vec4<f32>(x, y, 0.0, 1.0);
}

// Whether pixel (x, y) lies in the ring (the surrounding gap) of cell `cell`.
fn in_ring(cell: i32, x: i32, y: i32) -> bool {
    if cell < 0 {
        return false;
    }
    let cw = i32(p.width * p.scale);
    let ch = i32(p.height * p.scale);
    let g = i32(p.gap);
    let col = cell % i32(p.cols);
    let row = cell / i32(p.cols);
    let x0 = g + col * (cw + g);
    let y0 = g + row * (ch + g);
    let inside_outer = x >= x0 - g && x < x0 + cw + g && y >= y0 - g && y < y0 + ch + g;
    let inside_image = x >= x0 && x < x0 + cw && y >= y0 && y < y0 + ch;
    return inside_outer && !inside_image;
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let x = i32(floor(pos.x));
    let y = i32(floor(pos.y));
    if in_ring(p.ring_a, x, y) {
        return p.accent_a;
    }
    if in_ring(p.ring_b, x, y) {
        return p.accent_b;
    }
    let cw = i32(p.width * p.scale);
    let ch = i32(p.height * p.scale);
    let g = i32(p.gap);
    let lx = x - g;
    let ly = y - g;
    if lx < 0 || ly < 0 {
        return p.background;
    }
    let col = lx / (cw + g);
    let row = ly / (ch + g);
    let ix = lx - col * (cw + g);
    let iy = ly - row * (ch + g);
    if ix >= cw || iy >= ch || col >= i32(p.cols) {
        return p.background;
    }
    let image = u32(row) * p.cols + u32(col);
    if image >= p.count {
        return p.background;
    }
    let px = u32(ix) / p.scale;
    let py = u32(iy) / p.scale;
    let base = p.first + ((image * p.height + py) * p.width + px) * p.channels;
    var rgb: vec3<f32>;
    if p.channels >= 3u {
        rgb = vec3<f32>(pixels[base], pixels[base + 1u], pixels[base + 2u]);
    } else {
        rgb = vec3<f32>(pixels[base]);
    }
    return vec4<f32>(clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0);
}
