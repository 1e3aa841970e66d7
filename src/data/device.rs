//! A dataset resident on the GPU: uploaded once, then every minibatch is gathered on the
//! device from indices drawn by the Philox stream — no pixels cross the bus while training.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Shape, Tensor};
use crate::kernels::gather;
use crate::kernels::rng::{self, Stream};

/// Rows of one split (pixels as f32, or palette tokens as u32) living on the GPU.
pub struct DeviceRows {
    /// `[count, ...row shape]`.
    pub rows: Tensor,
    pub count: usize,
}

impl DeviceRows {
    /// Uploads `count = data.len() / row_len` rows of shape `row_shape`.
    pub fn upload<T: bytemuck::Pod>(gpu: &Gpu, data: &[T], row_shape: &[usize]) -> Result<DeviceRows> {
        let row_len: usize = row_shape.iter().product();
        if row_len == 0 || data.is_empty() || !data.len().is_multiple_of(row_len) {
            return Err(Error::Invalid(format!(
                "a dataset of {} values cannot be cut into rows of shape {row_shape:?}; \
                 it needs at least one whole row",
                data.len()
            )));
        }
        let count = data.len() / row_len;
        let mut dims = vec![count];
        dims.extend_from_slice(row_shape);
        Ok(DeviceRows { rows: Tensor::from_slice(gpu, Shape(dims), data)?, count })
    }

    /// A minibatch of `batch` rows drawn uniformly, with replacement, from `stream` (which
    /// moves on). Two launches: the random row numbers, then the gather.
    pub fn sample(&self, gpu: &Gpu, stream: &mut Stream, batch: usize) -> Result<Tensor> {
        if batch == 0 {
            return Err(Error::Invalid("a minibatch needs at least one row".into()));
        }
        let index = Tensor::uninit(gpu, [batch])?;
        rng::random_index_into(gpu, stream.take(batch), self.count as u32, &index);
        gather::gather_rows(gpu, &self.rows, &index)
    }

    /// The rows numbered `ids` (evaluation, the page's picked images).
    pub fn select(&self, gpu: &Gpu, ids: &[u32]) -> Result<Tensor> {
        if ids.is_empty() {
            return Err(Error::Invalid("select: no rows asked for".into()));
        }
        gather::check_indices(ids, self.count)?;
        let index = Tensor::from_slice(gpu, [ids.len()], ids)?;
        gather::gather_rows(gpu, &self.rows, &index)
    }

    /// Rows `start .. start + len` (clamped to the end), for evaluation in chunks.
    pub fn range(&self, gpu: &Gpu, start: usize, len: usize) -> Result<Tensor> {
        let end = (start + len).min(self.count);
        if start >= end {
            return Err(Error::Invalid(format!("rows {start}..{end} are outside a split of {} rows", self.count)));
        }
        let ids: Vec<u32> = (start as u32..end as u32).collect();
        self.select(gpu, &ids)
    }
}

/// A dataset's two splits on the GPU, as f32 pixel rows `[count, height·width·channels]`
/// (the VAE and the GAN) — and, for palette datasets, as u32 palette tokens
/// `[count, height·width]` (the PixelRNN).
pub struct DeviceDataset {
    pub train: DeviceRows,
    pub heldout: DeviceRows,
    pub train_tokens: Option<DeviceRows>,
    pub heldout_tokens: Option<DeviceRows>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl DeviceDataset {
    /// Uploads both splits once. A dataset too small to have both splits is refused.
    pub fn upload(gpu: &Gpu, dataset: &super::Dataset) -> Result<DeviceDataset> {
        let (train, heldout) = (dataset.train(), dataset.heldout());
        if train.count == 0 || heldout.count == 0 {
            return Err(Error::Invalid(format!(
                "a dataset of {} images leaves {} for training and {} held out; \
                 both need at least one image (use a dataset of 10 or more)",
                dataset.count, train.count, heldout.count
            )));
        }
        let row = [dataset.image_len()];
        let tokens = |split: &super::Dataset| -> Result<Option<DeviceRows>> {
            split
                .indices
                .as_ref()
                .map(|ix| {
                    let words: Vec<u32> = ix.iter().map(|&i| i as u32).collect();
                    DeviceRows::upload(gpu, &words, &[dataset.plane_len()])
                })
                .transpose()
        };
        Ok(DeviceDataset {
            train: DeviceRows::upload(gpu, &train.pixels, &row)?,
            heldout: DeviceRows::upload(gpu, &heldout.pixels, &row)?,
            train_tokens: tokens(&train)?,
            heldout_tokens: tokens(&heldout)?,
            height: dataset.height,
            width: dataset.width,
            channels: dataset.channels,
        })
    }

    /// Values per image.
    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }
}
