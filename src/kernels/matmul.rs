//! Matrix multiply with the transposed forms a backward pass needs, and a fused epilogue
//! (accumulate, bias, activation), so a whole linear layer is one launch.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Gpu, Tensor};
use crate::kernels::{source, Activation};

kernel_specs! {
    shader: "matmul.wgsl", sources: [source::GRID, source::ACTIVATION, source::MATMUL_COMMON, source::MATMUL], params: Params;
    MATMUL = "matmul" [a: Read, b: Read, bias: Read, c: ReadWrite];
    DIRECT = "matmul_direct" [a: Read, b: Read, bias: Read, c: ReadWrite];
    THIN_SPEC = "matmul_thin" [a: Read, b: Read, bias: Read, c: ReadWrite];
    SUM_SPLITS = "sum_splits" [a: Read, b: Read, bias: Read, c: ReadWrite];
}

/// `matmul_quad` needs the device's subgroup operations, so it is a shader module of its
/// own: one that only such a device compiles.
pub(super) mod quad {
    use super::Params;
    use crate::kernels::source;

    kernel_specs! {
        shader: "matmul_quad.wgsl", sources: [source::ACTIVATION, source::MATMUL_COMMON, source::MATMUL_QUAD],
        params: Params, subgroups: true;
        QUAD = "matmul_quad" [a: Read, b: Read, bias: Read, c: ReadWrite];
    }
}

const TILE: usize = 64;
/// Rows and columns of C one `matmul_direct` workgroup covers (2×4 lanes of 16×8 blocks).
const DIRECT_ROWS: usize = 64;
const DIRECT_COLS: usize = 16;
/// Rows and columns of C one `matmul_quad` workgroup covers (two quads of 16×32).
const QUAD_ROWS: usize = 32;
const QUAD_COLS: usize = 32;
/// On the tiled path, products with at most this many rows or columns use one thread per
/// output (`matmul_thin`): a 64×64 tile would be mostly padding. The direct path's 16×8
/// blocks waste little on them and load far less per multiply-add, so it never goes thin.
const THIN: usize = 16;
/// K steps per staged slice; split-K chunks are whole slices.
const SLICE: usize = 16;
/// Split-K aims for about this many workgroups in all: enough to fill a desktop GPU's
/// cores when the output has only a few tiles (tiled path), or a CPU's threads (direct
/// path, where each split costs its partial products' stores and a second launch).
const SPLIT_TARGET_WORKGROUPS: usize = 64;
const DIRECT_SPLIT_TARGET_WORKGROUPS: usize = 8;
/// No chunk of K is shorter than this: shorter ones cost more in partial sums than they
/// save.
const MIN_SPLIT_K: usize = 256;

kernel_params! {
    struct Params {
        m: u32,
        n: u32,
        k: u32,
        /// bit 0 TRANS_A, bit 1 TRANS_B, bit 2 HAS_BIAS
        flags: u32,
        /// the leaky ReLU's slope: 1 for identity, 0 for ReLU (which activation is an
        /// override constant, see `Epilogue::overrides`)
        slope: f32,
        /// K per workgroup along z (= K without SPLIT)
        k_chunk: u32,
        /// sum_splits: how many partial products there are
        splits: u32,
    }
}

/// Which kernel computes a product: the same maths, shaped for two kinds of hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulPath {
    /// 64×64 tiles staged in workgroup memory: what a real GPU wants.
    Tiled,
    /// 16×8 blocks per lane straight from memory, no barriers: what a software GPU wants
    /// (see matmul.wgsl).
    Direct,
    /// The direct kernel with each quad of lanes sharing its loads of A (matmul_quad.wgsl):
    /// a software GPU with subgroup operations.
    Quad,
}

impl MatmulPath {
    /// Every path, whether or not a given device runs it.
    pub const ALL: [MatmulPath; 3] = [MatmulPath::Tiled, MatmulPath::Direct, MatmulPath::Quad];

    /// The path for the adapter `gpu` runs on. Natively, `GENLAB_MATMUL=tiled|direct|quad`
    /// overrides the choice (for benchmarks).
    pub fn for_adapter(gpu: &Gpu) -> MatmulPath {
        #[cfg(not(target_arch = "wasm32"))]
        match std::env::var("GENLAB_MATMUL").as_deref() {
            Ok("tiled") => return MatmulPath::Tiled,
            Ok("direct") => return MatmulPath::Direct,
            Ok("quad") if gpu.has_subgroups() => return MatmulPath::Quad,
            _ => {}
        }
        match (gpu.is_software(), gpu.has_subgroups()) {
            (false, _) => MatmulPath::Tiled,
            (true, false) => MatmulPath::Direct,
            (true, true) => MatmulPath::Quad,
        }
    }

    /// What the bench and the self-test call it.
    pub fn name(self) -> &'static str {
        match self {
            MatmulPath::Tiled => "tiled",
            MatmulPath::Direct => "direct",
            MatmulPath::Quad => "quad",
        }
    }

    /// Whether `gpu`'s device can run this path (the quad kernel needs subgroups).
    pub fn runs_on(self, gpu: &Gpu) -> bool {
        self != MatmulPath::Quad || gpu.has_subgroups()
    }

    /// Rows and columns of C one workgroup covers.
    fn workgroup_tile(self) -> (usize, usize) {
        match self {
            MatmulPath::Tiled => (TILE, TILE),
            MatmulPath::Direct => (DIRECT_ROWS, DIRECT_COLS),
            MatmulPath::Quad => (QUAD_ROWS, QUAD_COLS),
        }
    }

    /// How many workgroups split-K aims for.
    fn split_target(self) -> usize {
        match self {
            MatmulPath::Tiled => SPLIT_TARGET_WORKGROUPS,
            MatmulPath::Direct | MatmulPath::Quad => DIRECT_SPLIT_TARGET_WORKGROUPS,
        }
    }
}

/// Launches [`matmul_into`] records for an M×N×K product on `gpu`'s adapter: one, or two
/// when K is split (the partial products, then their sum).
pub fn launches(gpu: &Gpu, m: usize, n: usize, k: usize) -> usize {
    match Plan::for_product(MatmulPath::for_adapter(gpu), m, n, k) {
        Plan::Thin => 1,
        Plan::Tiles { splits, .. } => 1 + (splits > 1) as usize,
    }
}

/// How an M×N×K product is launched on a path.
enum Plan {
    /// One thread per output (`matmul_thin`).
    Thin,
    /// The path's kernel over tiles of C, with K in `splits` chunks of `k_chunk` (1: no
    /// split; else the partial products are summed by a second launch).
    Tiles { splits: usize, k_chunk: usize },
}

impl Plan {
    /// Thin on the tiled path for products with at most [`THIN`] rows or columns; K split
    /// only for products with fewer output tiles than the path's target and a long K.
    fn for_product(path: MatmulPath, m: usize, n: usize, k: usize) -> Plan {
        if path == MatmulPath::Tiled && m.min(n) <= THIN {
            return Plan::Thin;
        }
        let (rows, cols) = path.workgroup_tile();
        let tiles = m.div_ceil(rows) * n.div_ceil(cols);
        let splits = (path.split_target() / tiles).min(k / MIN_SPLIT_K).max(1);
        let chunk = k.div_ceil(splits).div_ceil(SLICE) * SLICE;
        Plan::Tiles { splits: k.div_ceil(chunk.max(1)).max(1), k_chunk: chunk.max(SLICE) }
    }
}

/// Which operands are used transposed. `A·B`, `Aᵀ·B` (weight gradients) and `A·Bᵀ`
/// (input gradients) are the three a dense layer needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transpose {
    pub a: bool,
    pub b: bool,
}

impl Transpose {
    pub const NONE: Transpose = Transpose { a: false, b: false };
    pub const A: Transpose = Transpose { a: true, b: false };
    pub const B: Transpose = Transpose { a: false, b: true };
}

/// What happens to `A·B` before it is stored.
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a> {
    /// Add to what `out` already holds instead of overwriting it.
    pub accumulate: bool,
    /// A bias of length N added to every row.
    pub bias: Option<&'a Tensor>,
    pub activation: Activation,
}

impl Epilogue<'_> {
    /// The values of matmul.wgsl's override constants for this epilogue; with `split`, the
    /// launch writes raw partial sums instead (the epilogue waits for `sum_splits`).
    fn overrides(&self, split: bool) -> [(&'static str, f64); 3] {
        if split {
            // Raw partial sums: one pipeline whatever the epilogue.
            let plain = Epilogue::default();
            return [("ACCUMULATE", 0.0), ("ACTIVATION", plain.activation_code().0 as f64), ("SPLIT", 1.0)];
        }
        let flag = |on: bool| if on { 1.0 } else { 0.0 };
        [("ACCUMULATE", flag(self.accumulate)), ("ACTIVATION", self.activation_code().0 as f64), ("SPLIT", 0.0)]
    }

    /// The activation's code and slope, with identity and ReLU as the leaky ReLU of slope 1
    /// and 0: one pipeline, where each would have been one more to compile.
    fn activation_code(&self) -> (u32, f32) {
        match self.activation {
            Activation::Identity => Activation::LeakyRelu(1.0).code(),
            Activation::Relu => Activation::LeakyRelu(0.0).code(),
            other => other.code(),
        }
    }
}

/// Logical (M, K) of A and (K, N) of B from the stored shapes.
fn logical_dims(a: &Tensor, b: &Tensor, t: Transpose) -> Result<(usize, usize, usize)> {
    let (ar, ac) = a.shape().as_matrix();
    let (br, bc) = b.shape().as_matrix();
    let (m, ka) = if t.a { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if t.b { (bc, br) } else { (br, bc) };
    if ka != kb {
        return Err(Error::shape(
            "matmul",
            "inner dimensions differ (A's columns must equal B's rows)",
            a.shape(),
            b.shape(),
        ));
    }
    Ok((m, n, ka))
}

/// `out (=|+=) act(op(A)·op(B) + bias)`, into a tensor the caller provides, by the kernel
/// that suits the adapter.
pub fn matmul_into(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    transpose: Transpose,
    epilogue: Epilogue,
    out: &Tensor,
) -> Result<()> {
    matmul_into_on(gpu, MatmulPath::for_adapter(gpu), a, b, transpose, epilogue, out)
}

/// [`matmul_into`] by a chosen kernel (tests check both paths on every adapter).
pub fn matmul_into_on(
    gpu: &Gpu,
    path: MatmulPath,
    a: &Tensor,
    b: &Tensor,
    transpose: Transpose,
    epilogue: Epilogue,
    out: &Tensor,
) -> Result<()> {
    let (m, n, k) = logical_dims(a, b, transpose)?;
    if !path.runs_on(gpu) {
        return Err(Error::Invalid(format!(
            "matmul: the {path:?} kernel needs subgroup operations, which this device lacks"
        )));
    }
    if out.shape().as_matrix() != (m, n) {
        return Err(Error::shape("matmul", "output is not M×N", out.shape(), &[m, n].into()));
    }
    if let Some(bias) = epilogue.bias {
        if bias.len() != n {
            return Err(Error::shape("matmul", "bias length must equal N", bias.shape(), &[m, n].into()));
        }
    }
    for operand in [Some(a), Some(b), epilogue.bias].into_iter().flatten() {
        if operand.same_buffer(out) {
            return Err(Error::Invalid("matmul: the output must not share a buffer with an input".into()));
        }
    }
    let slope = epilogue.activation_code().1;
    let flags = transpose.a as u32 | (transpose.b as u32) << 1 | (epilogue.bias.is_some() as u32) << 2;
    let overrides = epilogue.overrides(false);
    // Without a bias the binding still needs a buffer; it is never read through it.
    let bias = epilogue.bias.unwrap_or(a);
    let work = (m * n * k) as f64;
    let (splits, k_chunk) = match Plan::for_product(path, m, n, k) {
        Plan::Thin => {
            let params = Params { m: m as u32, n: n as u32, k: k as u32, flags, slope, k_chunk: 0, splits: 1 };
            gpu.dispatch_with(&THIN_SPEC, &overrides, &params, &[a, b, bias, out], grid_1d(m * n, 256), work);
            return Ok(());
        }
        Plan::Tiles { splits, k_chunk } => (splits, k_chunk),
    };
    let params = Params { m: m as u32, n: n as u32, k: k as u32, flags, slope, k_chunk: k_chunk as u32, splits: 1 };
    let (rows, cols) = path.workgroup_tile();
    let grid = [n.div_ceil(cols) as u32, m.div_ceil(rows) as u32, splits as u32];
    let spec = match path {
        MatmulPath::Tiled => &MATMUL,
        MatmulPath::Direct => &DIRECT,
        MatmulPath::Quad => &quad::QUAD,
    };
    if splits == 1 {
        gpu.dispatch_with(spec, &overrides, &params, &[a, b, bias, out], grid, work);
        return Ok(());
    }
    let partials = Tensor::uninit(gpu, [splits, m, n])?;
    gpu.dispatch_with(spec, &epilogue.overrides(true), &params, &[a, b, bias, &partials], grid, work);
    let sum = Params { splits: splits as u32, ..params };
    let buffers = [&partials, &partials, bias, out];
    gpu.dispatch_with(&SUM_SPLITS, &overrides, &sum, &buffers, grid_1d(m * n, 256), Gpu::element_work(&buffers));
    Ok(())
}

/// `act(op(A)·op(B) + bias)` in a new M×N tensor.
pub fn matmul(gpu: &Gpu, a: &Tensor, b: &Tensor, transpose: Transpose, epilogue: Epilogue) -> Result<Tensor> {
    let (m, n, _) = logical_dims(a, b, transpose)?;
    let out = Tensor::uninit(gpu, [m, n])?;
    matmul_into(gpu, a, b, transpose, epilogue, &out)?;
    Ok(out)
}

/// The CPU twin, in f64 accumulation (it is the oracle, not a competitor).
pub mod cpu {
    use super::Transpose;
    use crate::kernels::Activation;

    #[allow(clippy::too_many_arguments)]
    pub fn matmul(
        a: &[f32],
        b: &[f32],
        m: usize,
        n: usize,
        k: usize,
        transpose: Transpose,
        bias: Option<&[f32]>,
        activation: Activation,
        accumulate_into: Option<&[f32]>,
    ) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for l in 0..k {
                    let x = if transpose.a { a[l * m + i] } else { a[i * k + l] };
                    let y = if transpose.b { b[j * k + l] } else { b[l * n + j] };
                    s += x as f64 * y as f64;
                }
                let mut v = s as f32;
                if let Some(c) = accumulate_into {
                    v += c[i * n + j];
                }
                if let Some(bias) = bias {
                    v += bias[j];
                }
                out[i * n + j] = activation.apply(v);
            }
        }
        out
    }
}

/// The self-test's cases: these kernels against their [`cpu`] twins, on awkward sizes.
pub mod cases {
    use crate::error::Result;
    use crate::gpu::{Gpu, Tensor};
    use crate::kernels::check::{check, max_error, test_data, Check, TOLERANCE};
    use crate::kernels::matmul::{self, Epilogue, MatmulPath, Transpose};
    use crate::kernels::Activation;

    /// One product, by one path.
    #[derive(Clone, Debug)]
    pub struct MatmulCase {
        m: usize,
        n: usize,
        k: usize,
        transpose: Transpose,
        /// Bias + activation + accumulate epilogue.
        fused: bool,
        path: MatmulPath,
    }

    fn transpose_name(t: Transpose) -> &'static str {
        match (t.a, t.b) {
            (false, false) => "A·B",
            (true, false) => "Aᵀ·B",
            (false, true) => "A·Bᵀ",
            (true, true) => "Aᵀ·Bᵀ",
        }
    }

    impl MatmulCase {
        pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
            let MatmulCase { m, n, k, transpose, fused, path } = *self;
            let kernel = match path {
                MatmulPath::Tiled => "matmul".to_string(),
                other => format!("matmul {}", other.name()),
            };
            let name = if fused {
                format!("{kernel} {} +C+b, lrelu", transpose_name(transpose))
            } else {
                format!("{kernel} {}", transpose_name(transpose))
            };
            let shape = format!("{m}×{n}×{k}");
            if !path.runs_on(gpu) {
                return Ok(Check::skipped(name, shape, "this device has no subgroup operations"));
            }
            let a = test_data(1, m * k, 1.0);
            let b = test_data(2, k * n, 1.0);
            let a_shape = if transpose.a { [k, m] } else { [m, k] };
            let b_shape = if transpose.b { [n, k] } else { [k, n] };
            let at = Tensor::from_slice(gpu, a_shape, &a)?;
            let bt = Tensor::from_slice(gpu, b_shape, &b)?;
            let (bias, start, act) = if fused {
                (test_data(3, n, 1.0), test_data(4, m * n, 1.0), Activation::LeakyRelu(0.2))
            } else {
                (vec![], vec![], Activation::Identity)
            };
            let out = if fused { Tensor::from_slice(gpu, [m, n], &start)? } else { Tensor::uninit(gpu, [m, n])? };
            let bias_t = if fused { Some(Tensor::from_slice(gpu, [n], &bias)?) } else { None };
            let epilogue = Epilogue { accumulate: fused, bias: bias_t.as_ref(), activation: act };
            matmul::matmul_into_on(gpu, path, &at, &bt, transpose, epilogue, &out)?;
            let got = gpu.read(&out).await?;
            let want = matmul::cpu::matmul(
                &a,
                &b,
                m,
                n,
                k,
                transpose,
                fused.then_some(&bias[..]),
                act,
                fused.then_some(&start[..]),
            );
            Ok(check(name, shape, max_error(&got, &want), TOLERANCE))
        }
    }

    /// Matmul cases on awkward shapes: 1×1×1, primes, non-multiples of the 64-wide tile.
    pub fn all(small: bool) -> Vec<MatmulCase> {
        let shapes: &[(usize, usize, usize)] = if small {
            &[(1, 1, 1), (7, 13, 5), (65, 33, 17)]
        } else {
            &[(1, 1, 1), (7, 13, 5), (65, 129, 33), (64, 64, 64), (127, 61, 300), (256, 256, 256)]
        };
        let mut cases = Vec::new();
        // Every kernel on every adapter that runs it: each must match the twin wherever it
        // might be chosen (the quad kernel's cases say so where it cannot run).
        for path in MatmulPath::ALL {
            for &(m, n, k) in shapes {
                for transpose in [Transpose::NONE, Transpose::A, Transpose::B] {
                    cases.push(MatmulCase { m, n, k, transpose, fused: false, path });
                }
            }
            let (m, n, k) = shapes[shapes.len() - 1];
            for transpose in [Transpose::NONE, Transpose { a: true, b: true }] {
                cases.push(MatmulCase { m, n, k, transpose, fused: true, path });
            }
            // Weight gradients' shapes, few outputs and a long K: split-K with uneven chunks, and
            // one thread per output when a side is thin (3 colour channels).
            let tall: &[(usize, usize, usize)] =
                if small { &[(33, 17, 1100), (20, 7, 1100)] } else { &[(65, 33, 4099), (144, 3, 16_391)] };
            for &(m, n, k) in tall {
                for fused in [false, true] {
                    cases.push(MatmulCase { m, n, k, transpose: Transpose::A, fused, path });
                }
            }
        }
        cases
    }
}
