//! Gather rows by an index tensor: minibatches from a dataset that lives on the GPU.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Gpu, Shape, Tensor};
use crate::kernels::source;

kernel_specs! {
    shader: "gather.wgsl", sources: [source::GRID, source::GATHER], params: Params;
    GATHER_ROWS = "gather_rows" [source: Read(u32), index: Read(u32), out: ReadWrite(u32)];
}

kernel_params! {
    struct Params {
        /// rows to gather
        rows: u32,
        /// words per row
        cols: u32,
        source_rows: u32,
    }
}

/// `out[r] = source[index[r]]` along the first dimension; `index` holds u32 row numbers.
/// The result has shape `[index.len(), ...source.shape[1..]]`.
pub fn gather_rows(gpu: &Gpu, source: &Tensor, index: &Tensor) -> Result<Tensor> {
    let dims = source.shape().dims();
    if dims.len() < 2 {
        return Err(Error::BadShape {
            op: "gather_rows",
            why: "the source needs a row dimension and at least one more".into(),
            shape: source.shape().clone(),
        });
    }
    let source_rows = dims[0];
    let cols = source.len() / source_rows;
    let mut out_dims = dims.to_vec();
    out_dims[0] = index.len();
    let out = Tensor::uninit(gpu, Shape(out_dims))?;
    let params = Params { rows: index.len() as u32, cols: cols as u32, source_rows: source_rows as u32 };
    gpu.dispatch(&GATHER_ROWS, &params, &[source, index, &out], grid_1d(out.len(), 256));
    Ok(out)
}

/// Checks host-made indices before upload: the kernel cannot report an error.
pub fn check_indices(index: &[u32], source_rows: usize) -> Result<()> {
    match index.iter().position(|&i| i as usize >= source_rows) {
        Some(p) => Err(Error::Invalid(format!(
            "row index {} at position {p} is past the end of a source with {source_rows} rows",
            index[p]
        ))),
        None => Ok(()),
    }
}

pub mod cpu {
    pub fn gather_rows<T: Copy + Default>(source: &[T], cols: usize, index: &[u32]) -> Vec<T> {
        let rows = source.len() / cols;
        index
            .iter()
            .flat_map(|&r| {
                let r = r as usize;
                (0..cols).map(move |j| if r < rows { source[r * cols + j] } else { T::default() })
            })
            .collect()
    }
}

/// The self-test's cases: these kernels against their [`cpu`] twins, on awkward sizes.
pub mod cases {
    use crate::error::Result;
    use crate::gpu::{Gpu, Tensor};
    use crate::kernels::check::{check, max_error, test_data, Check};
    use crate::kernels::gather;
    use crate::kernels::rng::{self, Stream};

    /// `rows` random rows of a `[source_rows, cols]` table.
    #[derive(Clone, Debug)]
    pub struct GatherCase {
        source_rows: usize,
        cols: usize,
        rows: usize,
    }

    impl GatherCase {
        pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
            let GatherCase { source_rows, cols, rows } = *self;
            let source = test_data(17, source_rows * cols, 1.0);
            let index = rng::cpu::random_index(Stream::new(18), rows, source_rows as u32);
            let st = Tensor::from_slice(gpu, [source_rows, cols], &source)?;
            let it = Tensor::from_slice(gpu, [rows], &index)?;
            let got = gpu.read(&gather::gather_rows(gpu, &st, &it)?).await?;
            let want = gather::cpu::gather_rows(&source, cols, &index);
            Ok(check("gather rows".into(), format!("{rows} of {source_rows}×{cols}"), max_error(&got, &want), 0.0))
        }
    }

    pub fn all(_small: bool) -> Vec<GatherCase> {
        vec![GatherCase { source_rows: 50, cols: 9, rows: 31 }]
    }
}
