//! Pipeline and bind-group caches. Each shader file is compiled once per device; each entry
//! point becomes one pipeline per set of override constants it is launched with (most have
//! none); bind groups are built once per distinct set of buffers.
//!
//! Binding convention for every kernel: `@binding(0)` is a `var<uniform>` holding the
//! launch's parameters (a slot in the shared uniform arena, selected by dynamic offset),
//! and `@binding(1..)` are storage buffers in the order of [`KernelSpec::bindings`]. The
//! shaders declare neither: [`KernelSpec::source`] writes both from the spec.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// How a kernel uses one of its storage buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// One storage buffer a kernel binds: the name its WGSL reads it by, how, and the type of
/// its elements (`f32`, `u32`, `vec4<f32>`).
#[derive(Debug, PartialEq, Eq)]
pub struct Binding {
    pub name: &'static str,
    pub access: Access,
    pub element: &'static str,
}

impl Binding {
    /// Its WGSL declaration at `@binding(slot)`.
    fn wgsl(&self, slot: usize) -> String {
        let access = match self.access {
            Access::Read => "read",
            Access::ReadWrite => "read_write",
        };
        // `stringify!` spaces a type's brackets (`vec4 < f32 >`); write it as WGSL does.
        let element: String = self.element.split_whitespace().collect();
        format!("@group(0) @binding({slot}) var<storage, {access}> {}: array<{element}>;\n", self.name)
    }
}

/// A kernel: one entry point of one shader, the buffers it binds, and the layout of the
/// parameters it reads from `@binding(0)`.
#[derive(Debug)]
pub struct KernelSpec {
    /// Name of the shader file, and the cache key of its compiled module.
    pub shader: &'static str,
    /// WGSL pieces concatenated into the module (shared helpers first; WGSL has no includes),
    /// after the declaration of the parameter struct (see [`KernelSpec::source`]).
    pub sources: &'static [&'static str],
    /// The shader uses WGSL's subgroup operations (see [`Gpu::has_subgroups`](crate::gpu::Gpu::has_subgroups)).
    pub subgroups: bool,
    pub entry: &'static str,
    /// The storage buffers it binds at `@binding(1)`, `@binding(2)`, …
    pub bindings: &'static [Binding],
    /// Every kernel of its shader, itself included: the module declares all their buffers.
    pub module: &'static &'static [&'static KernelSpec],
    /// How the Rust side lays out the uniform; the WGSL struct is declared from it (see
    /// [`KernelSpec::source`]).
    pub params: ParamsLayout,
}

impl KernelSpec {
    /// The WGSL module the kernel is compiled from, exactly as the device is given it: the
    /// parameter struct `Params`, declared from [`KernelSpec::params`], the uniform `p` of
    /// that struct and every storage buffer the module's kernels bind, from their specs (the
    /// shaders declare none of them, so they cannot drift from the Rust side), then the
    /// sources. A browser's WGSL compiler wants subgroup operations enabled by a directive
    /// first; naga (natively) takes them from the device's features and refuses the directive.
    pub fn source(&self) -> String {
        let directive = if self.subgroups && cfg!(target_arch = "wasm32") { "enable subgroups;\n" } else { "" };
        let mut bindings = String::from("@group(0) @binding(0) var<uniform> p: Params;\n");
        let mut declared = HashSet::new();
        for kernel in self.module.iter() {
            for (i, binding) in kernel.bindings.iter().enumerate() {
                // Kernels of one module may share a buffer's name (the matrix products' a, b,
                // bias, c); WGSL takes one declaration of it.
                if declared.insert(binding.name) {
                    bindings += &binding.wgsl(i + 1);
                }
            }
        }
        format!("{directive}{}{bindings}{}", self.params.wgsl(), self.sources.concat())
    }
}

/// The byte layout of a kernel's `#[repr(C)]` parameter struct.
#[derive(Debug)]
pub struct ParamsLayout {
    pub size: usize,
    pub fields: &'static [ParamsField],
    /// Constants the shaders share with the Rust side: (name, type, value), as written.
    pub consts: &'static [(&'static str, &'static str, &'static str)],
}

impl ParamsLayout {
    /// `struct Params { … }` in WGSL: each field under its name, with its type (`u32`, `i32`
    /// and `f32` are spelled alike in both languages). Field for field, WGSL lays it out as
    /// `#[repr(C)]` lays out the Rust struct. Then the shared constants, one `const` each.
    pub fn wgsl(&self) -> String {
        let wgsl_type = |rust: &'static str| if rust == "[f32; 4]" { "vec4<f32>" } else { rust };
        let fields: String = self.fields.iter().map(|f| format!("    {}: {},\n", f.name, wgsl_type(f.ty))).collect();
        let consts: String =
            self.consts.iter().map(|(name, ty, value)| format!("const {name}: {ty} = {value};\n")).collect();
        format!("struct Params {{\n{fields}}}\n{consts}")
    }
}

/// One field of a [`ParamsLayout`].
#[derive(Debug)]
pub struct ParamsField {
    pub name: &'static str,
    /// The Rust type as written (`u32`, `f32`).
    pub ty: &'static str,
    pub offset: usize,
    pub size: usize,
}

/// Values for a kernel's WGSL `override` constants, fixed when its pipeline is made: what
/// would otherwise be a branch taken the same way by every invocation of a launch. A
/// software GPU runs both sides of such a branch, masked, so a launch pays for code it
/// never uses unless the pipeline leaves it out. Booleans are 0 or 1.
pub type Overrides = [(&'static str, f64)];

/// Bytes of one uniform slot; a launch's parameters must fit in it.
pub(crate) const UNIFORM_SLOT: u64 = 256;

pub(crate) struct Pipeline {
    pub(crate) id: u64,
    pub(crate) spec: &'static KernelSpec,
    pub(crate) raw: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// Which buffers (and how many bytes of each) a bind group binds, plus the uniform arena's
/// generation: growing the arena replaces its buffer and invalidates old bind groups.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct BindKey {
    pub(crate) pipeline: u64,
    pub(crate) uniform_generation: u64,
    pub(crate) buffers: Vec<(u64, u64)>,
}

/// A pipeline: shader, entry point, and its override constants' values (as bits).
type PipelineKey = (&'static str, &'static str, Vec<(&'static str, u64)>);

#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: HashMap<&'static str, wgpu::ShaderModule>,
    pipelines: HashMap<PipelineKey, Rc<Pipeline>>,
    /// Each bind group, with when it was last used (a count of lookups).
    bind_groups: HashMap<BindKey, (wgpu::BindGroup, u64)>,
    lookups: u64,
    /// The cached bind groups of each buffer id, to forget them when the buffer goes.
    by_buffer: HashMap<u64, Vec<BindKey>>,
    /// Buffers gone from the pool since the last submission. Launches recorded before they
    /// went still bind them; their bind groups are made but not cached (an upload dropped
    /// right after its launch was recorded would otherwise leave one behind for good).
    gone: HashSet<u64>,
}

/// Past this many cached bind groups, the least recently used half goes. Pooled buffers
/// come back in varying orders, so a page that trains and redraws for long meets ever new
/// combinations of them; without a bound, their bind groups (and the driver memory behind
/// them) would pile up. A training step's own stay: they are used every step.
const MAX_BIND_GROUPS: usize = 4096;

impl PipelineCache {
    pub(crate) fn get(
        &mut self,
        device: &wgpu::Device,
        spec: &'static KernelSpec,
        overrides: &Overrides,
    ) -> Rc<Pipeline> {
        let key = (spec.shader, spec.entry, overrides.iter().map(|&(name, value)| (name, value.to_bits())).collect());
        if let Some(pipeline) = self.pipelines.get(&key) {
            return pipeline.clone();
        }
        let module = self.modules.entry(spec.shader).or_insert_with(|| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(spec.shader),
                source: wgpu::ShaderSource::Wgsl(spec.source().into()),
            })
        });
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: true,
                min_binding_size: None,
            },
            count: None,
        }];
        for (i, binding) in spec.bindings.iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: i as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: binding.access == Access::Read },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let layout = device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(spec.entry), entries: &entries });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(spec.entry),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        #[cfg(not(target_arch = "wasm32"))]
        let started = std::time::Instant::now();
        let raw = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(spec.entry),
            layout: Some(&pipeline_layout),
            module,
            entry_point: Some(spec.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: overrides,
                // Every kernel writes its workgroup memory before reading it; skipping the
                // implicit zeroing saves a pass over shared memory per workgroup.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        // Natively the driver compiles here, and on a software GPU that takes a while
        // (`RUST_LOG=genlab=debug` lists each pipeline and its time).
        #[cfg(not(target_arch = "wasm32"))]
        log::debug!(
            "pipeline {} {:?} compiled in {:.0} ms",
            spec.entry,
            overrides,
            started.elapsed().as_secs_f64() * 1e3
        );
        let pipeline = Rc::new(Pipeline { id: self.pipelines.len() as u64 + 1, spec, raw, layout });
        self.pipelines.insert(key, pipeline.clone());
        pipeline
    }

    /// Forgets every bind group of buffer `id` (it has left the pool for good).
    pub(crate) fn forget_buffer(&mut self, id: u64) {
        for key in self.by_buffer.get(&id).cloned().unwrap_or_default() {
            self.evict(&key);
        }
        self.gone.insert(id);
    }

    /// A submission has encoded every launch recorded so far: no later one can bind a
    /// buffer that was gone before it.
    pub(crate) fn submitted(&mut self) {
        self.gone.clear();
    }

    /// Drops one bind group, and its mention under each of its buffers.
    fn evict(&mut self, key: &BindKey) {
        if self.bind_groups.remove(key).is_none() {
            return;
        }
        for &(id, _) in &key.buffers {
            if let Some(keys) = self.by_buffer.get_mut(&id) {
                keys.retain(|k| k != key);
                if keys.is_empty() {
                    self.by_buffer.remove(&id);
                }
            }
        }
    }

    /// Drops the least recently used half of the bind groups.
    fn evict_oldest_half(&mut self) {
        let mut ages: Vec<(u64, BindKey)> = self.bind_groups.iter().map(|(k, (_, used))| (*used, k.clone())).collect();
        ages.sort_unstable_by_key(|(used, _)| *used);
        for (_, key) in ages.iter().take(ages.len() / 2) {
            self.bind_groups.remove(key);
        }
        // Listed again from what is left: one pass, where evicting one by one is quadratic.
        self.by_buffer.clear();
        for key in self.bind_groups.keys() {
            list_under_buffers(&mut self.by_buffer, key);
        }
    }

    /// Bind groups cached now.
    pub(crate) fn bind_group_count(&self) -> usize {
        self.bind_groups.len()
    }

    pub(crate) fn bind_group(
        &mut self,
        device: &wgpu::Device,
        pipeline: &Pipeline,
        key: BindKey,
        uniform: &wgpu::Buffer,
        storage: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        self.lookups += 1;
        if let Some((group, used)) = self.bind_groups.get_mut(&key) {
            *used = self.lookups;
            return group.clone();
        }
        if self.bind_groups.len() >= MAX_BIND_GROUPS {
            self.evict_oldest_half();
        }
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: uniform,
                offset: 0,
                size: wgpu::BufferSize::new(UNIFORM_SLOT),
            }),
        }];
        for (i, (buffer, (_, bytes))) in storage.iter().zip(&key.buffers).enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer,
                    offset: 0,
                    size: wgpu::BufferSize::new(*bytes),
                }),
            });
        }
        let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(pipeline.spec.entry),
            layout: &pipeline.layout,
            entries: &entries,
        });
        if key.buffers.iter().any(|(id, _)| self.gone.contains(id)) {
            return group;
        }
        list_under_buffers(&mut self.by_buffer, &key);
        self.bind_groups.insert(key, (group.clone(), self.lookups));
        group
    }

    /// How many shader modules have been compiled (each file at most once).
    pub(crate) fn module_count(&self) -> usize {
        self.modules.len()
    }
}

/// Lists bind group `key` under each buffer it binds.
fn list_under_buffers(by_buffer: &mut HashMap<u64, Vec<BindKey>>, key: &BindKey) {
    for &(id, _) in &key.buffers {
        by_buffer.entry(id).or_default().push(key.clone());
    }
}
