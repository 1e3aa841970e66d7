//! The GPU runtime: one device and queue, and everything that makes many small kernel
//! launches cheap — a buffer pool, a pipeline cache, a recorder that turns a whole
//! training step into one command buffer, and readbacks that never block the page.
//!
//! The same code runs natively (Vulkan/Metal/DX12; lavapipe where there is no GPU) and in
//! the browser (WebGPU). Nothing above this module knows which one it is on.

mod pipeline;
mod pool;
mod profile;
mod readback;
mod recorder;
mod subgroups;
mod tensor;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

pub use pipeline::{Access, Binding, KernelSpec, Overrides, ParamsField, ParamsLayout};
pub use profile::{CommandTime, ProfileMethod, ProfiledCommand};
pub use readback::Readback;
pub use tensor::{Shape, Tensor};

use crate::error::{Error, Result};
use pipeline::PipelineCache;
use pool::BufferPool;
use recorder::Recorder;

/// What the page and `genlab info` show about the adapter in use.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Browsers do not name their adapter (fingerprinting); say what it is instead.
        let name = match (self.name.as_str(), self.backend.as_str()) {
            ("", "BrowserWebGpu") => "WebGPU adapter",
            ("", _) => "unnamed adapter",
            (name, _) => name,
        };
        write!(f, "{name} ({}, {}", self.backend, self.device_type)?;
        if !self.driver.is_empty() {
            write!(f, ", {}", self.driver)?;
        }
        write!(f, ")")
    }
}

pub(crate) struct GpuInner {
    /// Kept so that the page can make canvas surfaces on the same instance as the device.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) instance: wgpu::Instance,
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) adapter: wgpu::Adapter,
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) summary: AdapterSummary,
    /// The largest storage buffer a kernel can bind, in bytes (every tensor is bound whole).
    pub(crate) max_binding_bytes: u64,
    /// Whether the adapter is a GPU emulated on the CPU (kernels choose their shape by it).
    pub(crate) software: bool,
    /// Whether the device runs WGSL's subgroup operations (see [`Gpu::has_subgroups`]).
    subgroups: bool,
    pub(crate) pool: RefCell<BufferPool>,
    pub(crate) pipelines: RefCell<PipelineCache>,
    pub(crate) recorder: RefCell<Recorder>,
    /// What the device reported behind our back: its loss, and errors no call returned.
    health: Arc<Mutex<Health>>,
    /// Readbacks made and not yet dropped (each holds a staging buffer).
    pub(crate) readbacks: Cell<u64>,
}

/// What genlab holds on the device now: the figures a soak watches for leaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Holdings {
    /// Pooled storage buffers handed out (tensors alive), and their bytes.
    pub buffers_in_use: u64,
    pub bytes_in_use: u64,
    /// Pooled buffers kept for reuse, and their bytes.
    pub buffers_free: u64,
    pub bytes_free: u64,
    /// Readbacks on their way or not yet dropped, each with a staging buffer.
    pub readbacks: u64,
    /// Bind groups cached (each keeps its buffers alive while it is; 4096 at the most).
    pub bind_groups: u64,
}

/// Filled by the device's callbacks (which wgpu wants `Send`, hence the mutex), read by
/// [`Gpu::lost`] and [`Gpu::health`].
#[derive(Default)]
struct Health {
    /// Why the device was lost (a driver reset, a GPU-process crash, `destroy()`).
    lost: Option<String>,
    /// The first error no call returned (a validation error is a bug; out of memory is not).
    error: Option<String>,
}

/// A handle to the device. Cheap to clone; every tensor keeps one so that its buffer can go
/// back to the pool when it is dropped.
#[derive(Clone)]
pub struct Gpu(pub(crate) Rc<GpuInner>);

impl Gpu {
    /// Finds an adapter and opens a device on it. Fails with [`Error::NoAdapter`] when the
    /// platform has no WebGPU/Vulkan/Metal/DX12 adapter at all, with words that say what to do.
    pub async fn new() -> Result<Gpu> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        let summary = AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: [info.driver.as_str(), info.driver_info.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
        };
        // Code against WebGPU's default limits so that what passes natively runs in every
        // browser, but let datasets use as much of one buffer as the adapter allows.
        let adapter_limits = adapter.limits();
        let required_limits = wgpu::Limits {
            max_storage_buffer_binding_size: adapter_limits.max_storage_buffer_binding_size,
            max_buffer_size: adapter_limits.max_buffer_size,
            ..wgpu::Limits::default()
        };
        // Timestamps only serve the profile (bench --profile, the Kernels tab); a device
        // without them profiles a command at a time. Subgroups serve the software GPUs'
        // matrix product; without them it takes twice the loads.
        let optional_features = wgpu::Features::TIMESTAMP_QUERY | subgroups::request();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("genlab"),
                required_features: adapter.features() & optional_features,
                required_limits,
                experimental_features: wgpu::ExperimentalFeatures::default(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::Device(e.to_string()))?;
        // Without these, wgpu panics on an uncaptured error and a lost device goes unnoticed
        // until a readback fails: the labs must hear of both and carry on.
        let health = Arc::new(Mutex::new(Health::default()));
        let on_lost = health.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut h) = on_lost.lock() {
                h.lost =
                    Some(if message.is_empty() { format!("{reason:?}") } else { format!("{reason:?}: {message}") });
            }
        });
        let on_error = health.clone();
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            if let Ok(mut h) = on_error.lock() {
                h.error.get_or_insert_with(|| error.to_string());
            }
        }));
        let uniform_align = device.limits().min_uniform_buffer_offset_alignment;
        // Browsers mark a CPU adapter as a fallback (wgpu maps that to Cpu); Chromium's
        // SwiftShader and Mesa's lavapipe also say so in their names.
        let name = info.name.to_lowercase();
        let software = info.device_type == wgpu::DeviceType::Cpu
            || ["swiftshader", "llvmpipe", "lavapipe"].iter().any(|n| name.contains(n));
        let max_binding_bytes = device.limits().max_storage_buffer_binding_size;
        let subgroups = subgroups::granted(&device);
        Ok(Gpu(Rc::new(GpuInner {
            max_binding_bytes,
            software,
            subgroups,
            pipelines: RefCell::new(PipelineCache::default()),
            recorder: RefCell::new(Recorder::new(uniform_align)),
            pool: RefCell::new(BufferPool::default()),
            health,
            readbacks: Cell::new(0),
            instance,
            adapter,
            device,
            queue,
            summary,
        })))
    }

    pub fn summary(&self) -> &AdapterSummary {
        &self.0.summary
    }

    /// Whether the adapter is a software GPU (SwiftShader, lavapipe): one whose workgroups
    /// run as SIMD lanes of CPU threads, where barriers are expensive and caches free.
    pub fn is_software(&self) -> bool {
        self.0.software
    }

    /// Whether the device runs WGSL's subgroup operations (`quadBroadcast` and the like):
    /// natively by wgpu's `SUBGROUP` feature, in the browser by WebGPU's `"subgroups"`.
    /// Kernels marked `subgroups` in their spec compile only on such a device.
    pub fn has_subgroups(&self) -> bool {
        self.0.subgroups
    }

    /// Why the device was lost, once it has been: nothing made on it works any more, and
    /// only a new [`Gpu`] can carry on (the page's labs make one and restore a checkpoint).
    pub fn lost(&self) -> Option<String> {
        self.0.health.lock().ok().and_then(|h| h.lost.clone())
    }

    /// Fails with [`Error::DeviceLost`] once the device is lost, or with [`Error::Gpu`] for
    /// the first error the device raised that no call returned (reported once).
    pub fn health(&self) -> Result<()> {
        let Ok(mut h) = self.0.health.lock() else { return Ok(()) };
        if let Some(why) = &h.lost {
            return Err(Error::DeviceLost(why.clone()));
        }
        match h.error.take() {
            Some(e) => Err(Error::Gpu(e)),
            None => Ok(()),
        }
    }

    /// Destroys the device, as a driver reset would: for tests of what survives it.
    pub fn destroy(&self) {
        self.0.device.destroy();
        // Natively the callback runs on the next poll; say so now.
        let _ = self.0.device.poll(wgpu::PollType::Poll);
        if let Ok(mut h) = self.0.health.lock() {
            h.lost.get_or_insert_with(|| "Destroyed".into());
        }
    }

    pub(crate) fn device(&self) -> &wgpu::Device {
        &self.0.device
    }

    #[cfg(target_arch = "wasm32")]
    pub(crate) fn queue(&self) -> &wgpu::Queue {
        &self.0.queue
    }

    /// A surface that presents into `canvas` (the page draws images straight from GPU
    /// buffers into it), made on the device's own instance, with the formats it supports.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn canvas_surface(
        &self,
        canvas: web_sys::HtmlCanvasElement,
    ) -> Result<(wgpu::Surface<'static>, wgpu::SurfaceCapabilities)> {
        let surface = self
            .0
            .instance
            .create_surface(wgpu::SurfaceTarget::Canvas(canvas))
            .map_err(|e| Error::Device(format!("cannot draw into the canvas: {e}")))?;
        let caps = surface.get_capabilities(&self.0.adapter);
        Ok((surface, caps))
    }

    /// Records one kernel launch into the pending command buffer. Nothing runs until
    /// [`Gpu::submit`]; `params` are copied into the step's shared uniform arena. Its cost is
    /// estimated from the buffers it binds; see [`Gpu::dispatch_with`].
    pub fn dispatch<P: bytemuck::Pod>(
        &self,
        spec: &'static KernelSpec,
        params: &P,
        buffers: &[&Tensor],
        workgroups: [u32; 3],
    ) {
        self.dispatch_with(spec, &[], params, buffers, workgroups, Gpu::element_work(buffers));
    }

    /// The estimated cost, in a matrix product's multiply-adds, of a launch that reads or
    /// writes each element of `buffers` about once.
    pub fn element_work(buffers: &[&Tensor]) -> f64 {
        // SwiftShader's profile of a VAE step: Adam ≈ 3.9 ns per element bound, the matrix
        // products ≈ 0.3 ns per multiply-add.
        const WORK_PER_ELEMENT: f64 = 13.0;
        let elements: usize = buffers.iter().map(|t| t.len()).sum();
        WORK_PER_ELEMENT * elements as f64
    }

    /// [`Gpu::dispatch`] on the kernel's pipeline made with these `overrides` (none: `&[]`),
    /// for a launch whose cost is known: about `work` multiply-adds (a matrix product's
    /// M·N·K). Only the page's slicing of a long step reads `work`.
    pub fn dispatch_with<P: bytemuck::Pod>(
        &self,
        spec: &'static KernelSpec,
        overrides: &Overrides,
        params: &P,
        buffers: &[&Tensor],
        workgroups: [u32; 3],
        work: f64,
    ) {
        assert_eq!(
            buffers.len(),
            spec.bindings.len(),
            "kernel {}::{} takes {} buffers",
            spec.shader,
            spec.entry,
            spec.bindings.len()
        );
        assert_eq!(
            size_of::<P>(),
            spec.params.size,
            "kernel {}::{} takes {} bytes of parameters",
            spec.shader,
            spec.entry,
            spec.params.size
        );
        let pipeline = self.0.pipelines.borrow_mut().get(&self.0.device, spec, overrides);
        self.0.recorder.borrow_mut().dispatch(pipeline, bytemuck::bytes_of(params), buffers, workgroups, work);
    }

    /// Records a buffer-to-buffer copy of a whole tensor (same size) in launch order.
    pub fn copy(&self, src: &Tensor, dst: &Tensor) -> Result<()> {
        if src.len() != dst.len() {
            return Err(Error::shape("copy", "sizes differ", src.shape(), dst.shape()));
        }
        self.0.recorder.borrow_mut().copy(src, dst);
        Ok(())
    }

    /// Records a copy of `len` elements from `src[src_at..]` to `dst[dst_at..]` in launch
    /// order: slices of a sequence, or scalars gathered into one small figures tensor.
    pub fn copy_region(&self, src: &Tensor, src_at: usize, dst: &Tensor, dst_at: usize, len: usize) -> Result<()> {
        if src_at + len > src.len() || dst_at + len > dst.len() || len == 0 {
            return Err(Error::Invalid(format!(
                "copy_region: {len} elements from {src_at} of a {} tensor to {dst_at} of a {} tensor do not fit",
                src.shape(),
                dst.shape()
            )));
        }
        if src.same_buffer(dst) {
            return Err(Error::Invalid("copy_region: source and destination share a buffer".into()));
        }
        self.0.recorder.borrow_mut().copy_region(src, dst, (4 * src_at as u64, 4 * dst_at as u64, 4 * len as u64));
        Ok(())
    }

    /// Encodes everything recorded since the last submit into one command buffer and
    /// submits it: one `queue.submit` per training step.
    pub fn submit(&self) {
        let mut recorder = self.0.recorder.borrow_mut();
        let mut pipelines = self.0.pipelines.borrow_mut();
        recorder.submit(&self.0.device, &self.0.queue, &mut pipelines);
    }

    /// With `Some(work)`, every [`Gpu::submit`] from now on cuts what was recorded into
    /// slices of about `work` multiply-adds (see [`Gpu::dispatch_with`]) and keeps them for
    /// [`Gpu::submit_slices`]; with None (the default), submits go whole. The page trains this
    /// way on a GPU that takes longer for a step than for a frame: whatever it draws waits
    /// behind all that is submitted, so it submits a step a frame's worth at a time.
    ///
    /// Any plain submit while slices wait first submits them all, so the queue always runs
    /// the commands in the order they were recorded, whoever submits.
    pub fn slice_submits(&self, work: Option<f64>) {
        self.0.recorder.borrow_mut().slice_submits(work);
    }

    /// Submits waiting slices in order, up to about `work` estimated multiply-adds (at least
    /// one), as one batch; returns how many went.
    pub fn submit_slices(&self, work: f64) -> usize {
        self.0.recorder.borrow_mut().submit_slices(&self.0.queue, work)
    }

    /// Slices encoded and not yet submitted.
    pub fn slices_waiting(&self) -> usize {
        self.0.recorder.borrow().slices_waiting()
    }

    /// Batches of slices submitted and not yet finished by the GPU (natively: as of the last
    /// poll).
    pub fn batches_in_flight(&self) -> usize {
        self.0.recorder.borrow_mut().batches_in_flight()
    }

    /// The batches of slices finished since the last call, in order: each one's estimated
    /// multiply-adds and the milliseconds from its submission (or the end of the batch
    /// before it) until the queue said it had finished.
    pub fn finished_batches(&self) -> Vec<(f64, f64)> {
        self.0.recorder.borrow_mut().finished_batches()
    }

    /// Estimated multiply-adds recorded since the device was opened (see [`Gpu::dispatch_with`]).
    pub fn work_recorded(&self) -> f64 {
        self.0.recorder.borrow().work_recorded()
    }

    /// Number of kernel launches recorded and not yet submitted (for dispatch budgets).
    pub fn pending_dispatches(&self) -> usize {
        self.0.recorder.borrow().dispatch_count()
    }

    /// Number of `queue.submit` calls so far (a training step should add exactly one).
    pub fn submissions(&self) -> u64 {
        self.0.recorder.borrow().submission_count()
    }

    /// Number of shader modules compiled so far (each shader file at most once).
    pub fn compiled_shaders(&self) -> usize {
        self.0.pipelines.borrow().module_count()
    }

    /// Schedules a copy of `tensor` into a mappable buffer as part of the pending work and
    /// returns a handle that resolves after the next [`Gpu::submit`]. Never blocks.
    pub fn read_later(&self, tensor: &Tensor) -> Readback {
        readback::schedule(self, &[tensor])
    }

    /// Like [`Gpu::read_later`] for several tensors at once: their values end to end.
    pub fn read_all_later(&self, tensors: &[&Tensor]) -> Readback {
        readback::schedule(self, tensors)
    }

    /// Submits pending work and reads `tensor` back. Async on both targets; natively it
    /// drives the device until the copy has landed.
    pub async fn read(&self, tensor: &Tensor) -> Result<Vec<f32>> {
        let readback = self.read_later(tensor);
        self.submit();
        readback.wait().await
    }

    /// Blocks until all submitted work has finished (native only: the browser must never block).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait_idle(&self) {
        let _ = self.0.device.poll(wgpu::PollType::Wait { submission_index: None, timeout: None });
    }

    /// Bytes held by the buffer pool: in use and free for reuse.
    pub fn pool_bytes(&self) -> (u64, u64) {
        self.0.pool.borrow().bytes()
    }

    /// What genlab holds on the device now (see [`Holdings`]).
    pub fn holdings(&self) -> Holdings {
        let pool = self.0.pool.borrow();
        let ((bytes_in_use, bytes_free), (buffers_in_use, buffers_free)) = (pool.bytes(), pool.counts());
        let bind_groups = self.0.pipelines.borrow().bind_group_count() as u64;
        Holdings {
            buffers_in_use,
            bytes_in_use,
            buffers_free,
            bytes_free,
            readbacks: self.0.readbacks.get(),
            bind_groups,
        }
    }
}

/// Blocks on a future natively; tests, the CLI and benchmarks use it.
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    pollster::block_on(future)
}

/// Number of workgroups of `size` threads to cover `n` items, folded into two dimensions
/// because one dimension stops at 65 535 workgroups. Kernels rebuild the flat index as
/// `gid.x + gid.y * num_workgroups.x * size`.
pub fn grid_1d(n: usize, size: u32) -> [u32; 3] {
    let groups = n.div_ceil(size as usize).max(1);
    const MAX: usize = 65_535;
    if groups <= MAX {
        [groups as u32, 1, 1]
    } else {
        let y = groups.div_ceil(MAX);
        let x = groups.div_ceil(y);
        [x as u32, y as u32, 1]
    }
}
