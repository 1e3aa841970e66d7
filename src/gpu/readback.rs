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

/// One readback of several tensors, end to end in one staging buffer: one map instead of
/// one per tensor (a checkpoint reads every parameter and moment at once).
pub(crate) fn schedule(gpu: &Gpu, tensors: &[&Tensor]) -> Readback {
    let bytes: u64 = tensors.iter().map(|t| t.bytes()).sum();
    let staging = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("genlab readback"),
        size: bytes.max(4),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut at = 0;
    for tensor in tensors {
        gpu.0.recorder.borrow_mut().copy_to_staging(tensor, &staging, at);
        at += tensor.bytes();
    }
    Readback::of_staging(gpu, staging, (bytes / 4) as usize)
}

impl Readback {
    /// A readback of the first `len` words of `staging`, which the current step fills;
    /// it is mapped when the step is submitted.
    pub(crate) fn of_staging(gpu: &Gpu, staging: wgpu::Buffer, len: usize) -> Readback {
        let (done, mapped) = oneshot::channel();
        gpu.0.recorder.borrow_mut().map_after_submit(&staging, done);
        gpu.0.readbacks.set(gpu.0.readbacks.get() + 1);
        Readback { gpu: gpu.clone(), staging, len, mapped }
    }
}

impl Drop for Readback {
    fn drop(&mut self) {
        self.gpu.0.readbacks.set(self.gpu.0.readbacks.get() - 1);
    }
}

impl Readback {
    fn take(&self) -> Result<Vec<f32>> {
        // A device lost after the map was granted refuses the range: say why.
        let values = match self.staging.slice(..).get_mapped_range() {
            Ok(view) => bytemuck::cast_slice::<u8, f32>(&view)[..self.len].to_vec(),
            Err(e) => {
                self.gpu.health()?;
                return Err(Error::Readback(e.to_string()));
            }
        };
        self.staging.unmap();
        Ok(values)
    }

    /// The error for a map that failed: the device's loss, if that is why.
    fn failed(&self, why: String) -> Error {
        match self.gpu.health() {
            Err(e) => e,
            Ok(()) => Error::Readback(why),
        }
    }

    /// The values if the GPU has delivered them, without waiting. `None` until then.
    pub fn try_take(&mut self) -> Option<Result<Vec<f32>>> {
        #[cfg(not(target_arch = "wasm32"))]
        let _ = self.gpu.device().poll(wgpu::PollType::Poll);
        match self.mapped.try_recv() {
            Ok(Some(Ok(()))) => Some(self.take()),
            Ok(Some(Err(e))) => Some(Err(self.failed(e.to_string()))),
            // A lost device may never answer the map.
            Ok(None) => self.gpu.lost().map(|why| Err(Error::DeviceLost(why))),
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
            Ok(Ok(())) => self.take(),
            Ok(Err(e)) => Err(self.failed(e.to_string())),
            Err(_) => Err(Error::Readback("the readback was never submitted (call Gpu::submit)".into())),
        }
    }

    /// Values as u32 words (index tensors).
    pub async fn wait_u32(self) -> Result<Vec<u32>> {
        Ok(self.wait().await?.into_iter().map(f32::to_bits).collect())
    }
}
