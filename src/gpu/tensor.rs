//! A tensor is a shape and a storage buffer of 32-bit words (f32 values, or u32 indices)
//! in row-major order. Cloning one aliases the same buffer; the buffer returns to the pool
//! when the last clone is dropped.

use std::fmt;
use std::rc::Rc;

use super::pool::PooledBuffer;
use super::Gpu;
use crate::error::{Error, Result};
pub use crate::shape::Shape;

/// Owns one pooled buffer and hands it back on drop.
pub(crate) struct Storage {
    pub(crate) buffer: Option<PooledBuffer>,
    gpu: Gpu,
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            // A tensor dropped while the pending command buffer still uses it may be reused by
            // a later launch in the same step: launches run in recorded order, so that is safe.
            let dropped = self.gpu.0.pool.borrow_mut().give_back(buffer);
            // Bind groups of a dropped buffer would keep it alive: forget them. (A tensor
            // dropped while the cache is busy encoding leaves them until they are evicted.)
            if let (Some(id), Ok(mut pipelines)) = (dropped, self.gpu.0.pipelines.try_borrow_mut()) {
                pipelines.forget_buffer(id);
            }
        }
    }
}

#[derive(Clone)]
pub struct Tensor {
    shape: Shape,
    storage: Rc<Storage>,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor{}", self.shape)
    }
}

/// Refuses an empty shape, and one too large for a kernel to bind: every tensor is bound
/// whole, and a binding over the device's limit would fail deep inside wgpu instead.
fn check_size(gpu: &Gpu, shape: &Shape) -> Result<()> {
    if shape.numel() == 0 {
        return Err(Error::EmptyTensor(shape.clone()));
    }
    let limit = gpu.0.max_binding_bytes;
    if 4 * shape.numel() as u64 > limit {
        return Err(Error::TooLarge { shape: shape.clone(), limit });
    }
    Ok(())
}

impl Tensor {
    /// A tensor whose contents are undefined until a kernel writes them.
    pub fn uninit(gpu: &Gpu, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        check_size(gpu, &shape)?;
        let bytes = 4 * shape.numel() as u64;
        let buffer = gpu.0.pool.borrow_mut().take(gpu.device(), bytes);
        Ok(Tensor::wrap(gpu, shape, buffer))
    }

    /// A tensor of zeros, cleared in launch order (no upload).
    pub fn zeros(gpu: &Gpu, shape: impl Into<Shape>) -> Result<Tensor> {
        let tensor = Tensor::uninit(gpu, shape)?;
        gpu.0.recorder.borrow_mut().clear(&tensor);
        Ok(tensor)
    }

    /// Uploads `data` (f32 or u32 words) into a fresh buffer.
    pub fn from_slice<T: bytemuck::Pod>(gpu: &Gpu, shape: impl Into<Shape>, data: &[T]) -> Result<Tensor> {
        let shape = shape.into();
        check_size(gpu, &shape)?;
        assert_eq!(std::mem::size_of::<T>(), 4, "tensors hold 32-bit words");
        if data.len() != shape.numel() {
            return Err(Error::DataLength { shape, len: data.len() });
        }
        let buffer = gpu.0.pool.borrow_mut().create_init(gpu.device(), bytemuck::cast_slice(data));
        Ok(Tensor::wrap(gpu, shape, buffer))
    }

    fn wrap(gpu: &Gpu, shape: Shape, buffer: PooledBuffer) -> Tensor {
        Tensor { shape, storage: Rc::new(Storage { buffer: Some(buffer), gpu: gpu.clone() }) }
    }

    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    pub fn len(&self) -> usize {
        self.shape.numel()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> u64 {
        4 * self.len() as u64
    }

    /// The same buffer seen with another shape of the same size.
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        if shape.numel() != self.len() {
            return Err(Error::shape("reshape", "element counts differ", &self.shape, &shape));
        }
        Ok(Tensor { shape, storage: self.storage.clone() })
    }

    /// True when both tensors are views of one buffer.
    pub fn same_buffer(&self, other: &Tensor) -> bool {
        Rc::ptr_eq(&self.storage, &other.storage)
    }

    pub(crate) fn pooled(&self) -> &PooledBuffer {
        // `buffer` is taken only in `Storage::drop`, when no tensor can reach it any more.
        self.storage.buffer.as_ref().expect("live tensor has a buffer")
    }

    pub(crate) fn raw(&self) -> &wgpu::Buffer {
        &self.pooled().raw
    }

    /// Reads the tensor as f32 values (submits pending work first). Async on both targets.
    pub async fn to_vec(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        gpu.read(self).await
    }

    /// Native convenience for tests and the CLI.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn to_vec_blocking(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        super::block_on(gpu.read(self))
    }
}
