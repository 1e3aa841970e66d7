//! A pool of storage buffers. A training step allocates the same intermediates every time;
//! handing back the buffers of the previous step keeps allocation off the hot path and keeps
//! buffer identities stable, which is what lets the bind-group cache hit.

use std::collections::HashMap;

/// A storage buffer with an identity the bind-group cache can hash.
pub(crate) struct PooledBuffer {
    pub(crate) id: u64,
    pub(crate) raw: wgpu::Buffer,
    /// Whether it goes back to the pool when its tensor is dropped. An upload's buffer does
    /// not: uploads never take from the pool (see [`BufferPool::create_init`]), so pooling
    /// theirs would grow the free lists by one buffer per upload for as long as the page runs.
    reusable: bool,
}

#[derive(Default)]
pub(crate) struct BufferPool {
    free: HashMap<u64, Vec<PooledBuffer>>,
    next_id: u64,
    bytes_in_use: u64,
    bytes_free: u64,
    buffers_in_use: u64,
}

/// Free memory above this is released instead of pooled.
const MAX_FREE_BYTES: u64 = 512 << 20;

pub(crate) const USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

/// Rounds a request up to a size class: at most 1/8 waste, and few distinct classes.
pub(crate) fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(16);
    // Steps of 1/8 of the power of two at or below the request: waste ≤ step ≤ bytes / 8.
    let floor_pow = if bytes.is_power_of_two() { bytes } else { bytes.next_power_of_two() / 2 };
    let step = (floor_pow / 8).max(16);
    bytes.div_ceil(step) * step
}

impl BufferPool {
    /// A buffer of at least `bytes` bytes; its contents are whatever the last user left.
    pub(crate) fn take(&mut self, device: &wgpu::Device, bytes: u64) -> PooledBuffer {
        let class = size_class(bytes);
        self.bytes_in_use += class;
        self.buffers_in_use += 1;
        // The free buffer with the lowest id, not the last one given back: buffers come back in
        // whatever order their tensors were dropped, and taking by id gives the same work the
        // same buffers, so its cached bind groups are found again instead of made anew.
        if let Some(free) = self.free.get_mut(&class).filter(|f| !f.is_empty()) {
            let lowest = (0..free.len()).min_by_key(|&i| free[i].id).unwrap_or(0);
            self.bytes_free -= class;
            return free.swap_remove(lowest);
        }
        self.next_id += 1;
        PooledBuffer {
            id: self.next_id,
            reusable: true,
            raw: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("genlab tensor"),
                size: class,
                usage: USAGE,
                mapped_at_creation: false,
            }),
        }
    }

    /// A fresh buffer filled with `data` at creation. Uploads never reuse a pooled buffer:
    /// a queued write would land before commands already recorded against that buffer.
    pub(crate) fn create_init(&mut self, device: &wgpu::Device, data: &[u8]) -> PooledBuffer {
        let class = size_class(data.len() as u64);
        self.bytes_in_use += class;
        self.buffers_in_use += 1;
        self.next_id += 1;
        let raw = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("genlab upload"),
            size: class,
            usage: USAGE,
            mapped_at_creation: true,
        });
        // A buffer made on a lost device has no memory to write: it is as dead as the
        // device, and the device's loss is reported by the next readback.
        if let Ok(mut view) = raw.slice(..).get_mapped_range_mut() {
            let mut padded = data.to_vec();
            padded.resize(class as usize, 0);
            view.copy_from_slice(&padded);
        }
        raw.unmap();
        PooledBuffer { id: self.next_id, raw, reusable: false }
    }

    /// Takes a buffer back for reuse, or drops it (an upload's, or past [`MAX_FREE_BYTES`]):
    /// then returns its id, so that what is cached for it can go too. wgpu frees a dropped
    /// buffer once no command buffer needs it.
    pub(crate) fn give_back(&mut self, buffer: PooledBuffer) -> Option<u64> {
        let class = buffer.raw.size();
        self.bytes_in_use -= class;
        self.buffers_in_use -= 1;
        if !buffer.reusable || self.bytes_free + class > MAX_FREE_BYTES {
            return Some(buffer.id);
        }
        self.bytes_free += class;
        self.free.entry(class).or_default().push(buffer);
        None
    }

    pub(crate) fn bytes(&self) -> (u64, u64) {
        (self.bytes_in_use, self.bytes_free)
    }

    /// Buffers handed out and not given back, and buffers kept for reuse.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.buffers_in_use, self.free.values().map(|v| v.len() as u64).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_waste_at_most_an_eighth() {
        for bytes in [1u64, 4, 17, 100, 1000, 4096, 4097, 123_457, 1 << 20] {
            let class = size_class(bytes);
            assert!(class >= bytes);
            assert!(class <= (bytes.max(16) * 9).div_ceil(8).max(16) + 16, "{bytes} -> {class}");
            assert_eq!(class % 4, 0);
        }
    }
}
