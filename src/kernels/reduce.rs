//! Sums and means over rows, over columns, and over everything.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Gpu, Tensor};
use crate::kernels::source;

kernel_specs! {
    shader: "reduce.wgsl", sources: [source::WORKGROUP_SUM, source::REDUCE], params: Params;
    SUM_ROWS = "sum_rows" [x: Read, out: ReadWrite];
    SUM_COLS = "sum_cols" [x: Read, out: ReadWrite];
    SUM_COLS_SERIAL = "sum_cols_serial" [x: Read, out: ReadWrite];
}

kernel_params! {
    struct Params {
        rows: u32,
        cols: u32,
        /// valid elements (the last row of a flat array may be short)
        len: u32,
        /// bit 0 ACCUMULATE (out += ...)
        flags: u32,
        /// multiplies every result: 1 for a sum, 1/count for a mean
        scale: f32,
    }
}

/// Row length used when summing a whole tensor: each pass shrinks it 4096-fold.
const CHUNK: usize = 4096;

fn launch_sum_rows(gpu: &Gpu, x: &Tensor, rows: usize, cols: usize, scale: f32, out: &Tensor) {
    let params = Params { rows: rows as u32, cols: cols as u32, len: x.len() as u32, flags: 0, scale };
    // One workgroup per row; grid_1d with size 1 folds the rows into two dimensions.
    gpu.dispatch(&SUM_ROWS, &params, &[x, out], grid_1d(rows, 1));
}

/// `out[r] = scale · Σ_j x[r, j]`: one value per row (the last dimension is summed).
pub fn sum_rows(gpu: &Gpu, x: &Tensor, scale: f32) -> Result<Tensor> {
    let (rows, cols) = x.shape().as_matrix();
    let out = Tensor::uninit(gpu, [rows])?;
    launch_sum_rows(gpu, x, rows, cols, scale, &out);
    Ok(out)
}

/// Mean of each row.
pub fn mean_rows(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let (_, cols) = x.shape().as_matrix();
    sum_rows(gpu, x, 1.0 / cols as f32)
}

/// `out[j] (=|+=) scale · Σ_r x[r, j]`: the gradient of a bias broadcast over rows, by the
/// kernel that suits the adapter (one lane per column without barriers on a software GPU).
pub fn sum_cols_into(gpu: &Gpu, x: &Tensor, scale: f32, out: &Tensor, accumulate: bool) -> Result<()> {
    sum_cols_into_by(gpu, x, scale, out, accumulate, gpu.is_software())
}

/// [`sum_cols_into`] by a chosen kernel: `serial` for one lane per column (tests check both
/// on every adapter).
pub fn sum_cols_into_by(gpu: &Gpu, x: &Tensor, scale: f32, out: &Tensor, accumulate: bool, serial: bool) -> Result<()> {
    let (rows, cols) = x.shape().as_matrix();
    if out.len() != cols {
        return Err(Error::shape("sum_cols", "output length must equal the columns of x", out.shape(), x.shape()));
    }
    let params = Params { rows: rows as u32, cols: cols as u32, len: x.len() as u32, flags: accumulate as u32, scale };
    let spec = if serial { &SUM_COLS_SERIAL } else { &SUM_COLS };
    gpu.dispatch(spec, &params, &[x, out], [cols.div_ceil(64) as u32, 1, 1]);
    Ok(())
}

pub fn sum_cols(gpu: &Gpu, x: &Tensor, scale: f32) -> Result<Tensor> {
    let (_, cols) = x.shape().as_matrix();
    let out = Tensor::uninit(gpu, [cols])?;
    sum_cols_into(gpu, x, scale, &out, false)?;
    Ok(out)
}

/// `scale · Σ x` as a one-element tensor, in as many passes as it takes (each pass sums
/// rows of 4096 into one value).
pub fn sum_all(gpu: &Gpu, x: &Tensor, scale: f32) -> Result<Tensor> {
    let mut current = x.clone();
    loop {
        let n = current.len();
        let rows = n.div_ceil(CHUNK);
        let out = Tensor::uninit(gpu, [rows])?;
        let pass_scale = if rows == 1 { scale } else { 1.0 };
        launch_sum_rows(gpu, &current, rows, CHUNK.min(n), pass_scale, &out);
        if rows == 1 {
            return Ok(out);
        }
        current = out;
    }
}

pub fn mean_all(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    sum_all(gpu, x, 1.0 / x.len() as f32)
}

pub mod cpu {
    pub fn sum_rows(x: &[f32], cols: usize, scale: f32) -> Vec<f32> {
        x.chunks(cols).map(|row| (row.iter().map(|&v| v as f64).sum::<f64>() * scale as f64) as f32).collect()
    }

    pub fn sum_cols(x: &[f32], cols: usize, scale: f32) -> Vec<f32> {
        let mut out = vec![0.0f64; cols];
        for row in x.chunks(cols) {
            for (o, &v) in out.iter_mut().zip(row) {
                *o += v as f64;
            }
        }
        out.into_iter().map(|s| (s * scale as f64) as f32).collect()
    }

    pub fn sum_all(x: &[f32], scale: f32) -> f32 {
        (x.iter().map(|&v| v as f64).sum::<f64>() * scale as f64) as f32
    }
}

/// The self-test's cases: these kernels against their [`cpu`] twins, on awkward sizes.
pub mod cases {
    use crate::error::Result;
    use crate::gpu::{Gpu, Tensor};
    use crate::kernels::check::{check, max_error, test_data, Check, TOLERANCE};
    use crate::kernels::reduce;

    #[derive(Clone, Debug)]
    pub enum ReduceCase {
        SumRows {
            rows: usize,
            cols: usize,
        },
        SumCols {
            rows: usize,
            cols: usize,
            /// One lane per column (the software-GPU kernel) instead of four.
            serial: bool,
        },
        SumAll {
            n: usize,
        },
    }

    impl ReduceCase {
        pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
            match *self {
                ReduceCase::SumRows { rows, cols } => {
                    let x = test_data(9, rows * cols, 1.0);
                    let xt = Tensor::from_slice(gpu, [rows, cols], &x)?;
                    let got = gpu.read(&reduce::mean_rows(gpu, &xt)?).await?;
                    let want = reduce::cpu::sum_rows(&x, cols, 1.0 / cols as f32);
                    Ok(check("mean over rows".into(), format!("{rows}×{cols}"), max_error(&got, &want), TOLERANCE))
                }
                ReduceCase::SumCols { rows, cols, serial } => {
                    let x = test_data(10, rows * cols, 1.0);
                    let xt = Tensor::from_slice(gpu, [rows, cols], &x)?;
                    let out = Tensor::uninit(gpu, [cols])?;
                    reduce::sum_cols_into_by(gpu, &xt, 1.0, &out, false, serial)?;
                    let got = gpu.read(&out).await?;
                    let want = reduce::cpu::sum_cols(&x, cols, 1.0);
                    let name = if serial { "sum over columns, lane per column" } else { "sum over columns" };
                    Ok(check(name.into(), format!("{rows}×{cols}"), max_error(&got, &want), TOLERANCE))
                }
                ReduceCase::SumAll { n } => {
                    let x = test_data(11, n, 1.0);
                    let xt = Tensor::from_slice(gpu, [n], &x)?;
                    let sum = gpu.read(&reduce::sum_all(gpu, &xt, 1.0)?).await?;
                    let mean = gpu.read(&reduce::mean_all(gpu, &xt)?).await?;
                    let want = [reduce::cpu::sum_all(&x, 1.0), reduce::cpu::sum_all(&x, 1.0 / n as f32)];
                    let got = [sum[0], mean[0]];
                    Ok(check("sum, mean (all)".into(), format!("{n}"), max_error(&got, &want), TOLERANCE))
                }
            }
        }
    }

    /// Single values, rows longer than a workgroup, and a whole-tensor sum of several passes.
    pub fn all(small: bool) -> Vec<ReduceCase> {
        vec![
            ReduceCase::SumRows { rows: 1, cols: 1 },
            ReduceCase::SumRows { rows: 33, cols: 517 },
            ReduceCase::SumCols { rows: 37, cols: 131, serial: false },
            ReduceCase::SumCols { rows: 37, cols: 131, serial: true },
            ReduceCase::SumCols { rows: 1, cols: 1, serial: true },
            ReduceCase::SumAll { n: 1 },
            ReduceCase::SumAll { n: if small { 10_007 } else { 1_000_003 } },
        ]
    }
}
