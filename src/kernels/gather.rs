//! Gather rows by an index tensor: minibatches from a dataset that lives on the GPU.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Access, Gpu, KernelSpec, Shape, Tensor};
use crate::kernels::source;

static GATHER_ROWS: KernelSpec = KernelSpec {
    shader: "gather.wgsl",
    sources: &[source::GATHER],
    entry: "gather_rows",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
    params: Params::LAYOUT,
};

/// This module's kernels, for checks that walk every kernel (see [`super::specs`]).
pub(crate) static SPECS: &[&KernelSpec] = &[&GATHER_ROWS];

kernel_params! {
    struct Params {
        rows: u32,
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
