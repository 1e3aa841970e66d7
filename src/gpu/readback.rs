//! Asynchronous readback. A readback is recorded with the step's other work, so reading the
//! loss costs no extra submission; the result arrives whenever the GPU gets there, and the
//! page polls for it between frames instead of waiting.

use futures_channel::oneshot;

use super::{Gpu, Tensor};
use crate::error::{Error, Result};

pub struct Readback {
    gpu: Gpu,
    staging: wgpu::Buffer,
    len: usize,
    mapped: oneshot::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
}

pub(crate) fn schedule(gpu: &Gpu, tensor: &Tensor) -> Readback {
    let staging = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("genlab readback"),
        size: tensor.bytes(),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    gpu.0.recorder.borrow_mut().copy_to_staging(tensor, &staging);
    Readback::of_staging(gpu, staging, tensor.len())
}

impl Readback {
    /// A readback of the first `len` words of `staging`, which the current step fills;
    /// it is mapped when the step is submitted.
    pub(crate) fn of_staging(gpu: &Gpu, staging: wgpu::Buffer, len: usize) -> Readback {
        let (done, mapped) = oneshot::channel();
        gpu.0.recorder.borrow_mut().map_after_submit(&staging, done);
        Readback { gpu: gpu.clone(), staging, len, mapped }
    }
}

impl Readback {
    fn take(&self) -> Vec<f32> {
        let values = {
            let view = self.staging.slice(..).get_mapped_range().expect("buffer was mapped for reading");
            bytemuck::cast_slice::<u8, f32>(&view)[..self.len].to_vec()
        };
        self.staging.unmap();
        values
    }

    /// The values if the GPU has delivered them, without waiting. `None` until then.
    pub fn try_take(&mut self) -> Option<Result<Vec<f32>>> {
        #[cfg(not(target_arch = "wasm32"))]
        let _ = self.gpu.device().poll(wgpu::PollType::Poll);
        match self.mapped.try_recv() {
            Ok(Some(Ok(()))) => Some(Ok(self.take())),
            Ok(Some(Err(e))) => Some(Err(Error::Readback(e.to_string()))),
            Ok(None) => None,
            Err(_) => Some(Err(Error::Readback("the readback was never submitted (call Gpu::submit)".into()))),
        }
    }

    /// Waits for the values. In the browser this yields to the event loop; natively it
    /// drives the device until the copy has landed.
    pub async fn wait(mut self) -> Result<Vec<f32>> {
        // Waiting for work that was never submitted would wait forever.
        self.gpu.submit();
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = self.gpu.device().poll(wgpu::PollType::Wait { submission_index: None, timeout: None });
        }
        match (&mut self.mapped).await {
            Ok(Ok(())) => Ok(self.take()),
            Ok(Err(e)) => Err(Error::Readback(e.to_string())),
            Err(_) => Err(Error::Readback("the readback was never submitted (call Gpu::submit)".into())),
        }
    }

    /// Values as u32 words (index tensors).
    pub async fn wait_u32(self) -> Result<Vec<u32>> {
        Ok(self.wait().await?.into_iter().map(f32::to_bits).collect())
    }
}
