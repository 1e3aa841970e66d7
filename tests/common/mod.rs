//! Shared by the native test binaries.
#![allow(dead_code)]

use genlab::gpu::{block_on, Gpu};

/// A device on whatever adapter there is (lavapipe in CI).
pub fn gpu() -> Gpu {
    block_on(Gpu::new())
        .expect("native tests need a Vulkan/Metal/DX12 adapter (lavapipe: apt-get install mesa-vulkan-drivers)")
}
