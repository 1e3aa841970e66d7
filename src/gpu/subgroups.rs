//! Asking for WGSL's subgroup operations, which the software GPUs' matrix product uses
//! (`matmul_quad`, see shaders/matmul_quad.wgsl).
//!
//! Natively, the device asks wgpu for `Features::SUBGROUP` where the adapter has it. In the
//! browser, wgpu 30 does not know WebGPU's `"subgroups"` feature: it neither requests it
//! nor reports it. So before wgpu asks for a device, the page wraps
//! `GPUAdapter.prototype.requestDevice` once: the wrapper adds `"subgroups"` to the
//! required features where the adapter offers it, and notes whether the device it got has
//! them. A device with one more feature behaves as before for every other caller.

/// The wgpu features to ask for (where the adapter has them) for subgroups; in the browser,
/// none, but `requestDevice` is wrapped to ask for WebGPU's own.
pub(crate) fn request() -> wgpu::Features {
    #[cfg(not(target_arch = "wasm32"))]
    return wgpu::Features::SUBGROUP;
    #[cfg(target_arch = "wasm32")]
    {
        web::offer_subgroups();
        wgpu::Features::empty()
    }
}

/// Whether `device`, just made after [`request`], runs subgroup operations.
pub(crate) fn granted(device: &wgpu::Device) -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    return device.features().contains(wgpu::Features::SUBGROUP);
    #[cfg(target_arch = "wasm32")]
    {
        let _ = device;
        web::last_device_has_subgroups()
    }
}

#[cfg(target_arch = "wasm32")]
mod web {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen(inline_js = r#"
        let lastDeviceHasSubgroups = false;
        export function offer_subgroups() {
            const proto = globalThis.GPUAdapter && GPUAdapter.prototype;
            if (!proto || proto.requestDevice.genlabSubgroups) return;
            const requestDevice = proto.requestDevice;
            const wrapped = async function (descriptor) {
                const wanted = { ...(descriptor || {}) };
                if (this.features.has('subgroups')) {
                    wanted.requiredFeatures = [...(wanted.requiredFeatures || []), 'subgroups'];
                }
                const device = await requestDevice.call(this, wanted);
                lastDeviceHasSubgroups = device.features.has('subgroups');
                return device;
            };
            wrapped.genlabSubgroups = true;
            proto.requestDevice = wrapped;
        }
        export function last_device_has_subgroups() { return lastDeviceHasSubgroups; }
    "#)]
    extern "C" {
        /// Wraps `requestDevice` (once) so that devices come with subgroups where offered.
        pub fn offer_subgroups();
        /// Whether the device the last `requestDevice` returned has subgroups.
        pub fn last_device_has_subgroups() -> bool;
    }
}
