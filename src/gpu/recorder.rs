//! Records kernel launches, copies and clears as plain data, then encodes them into one
//! command buffer at submit time. Recording first lets all launch parameters of a step go
//! to the GPU in a single `write_buffer`, and lets consecutive launches share one compute
//! pass.

use std::rc::Rc;

use futures_channel::oneshot;

use super::pipeline::{BindKey, Pipeline, PipelineCache, UNIFORM_SLOT};
use super::Tensor;

/// A buffer as a recorded command sees it: the handle keeps it alive until submit even if
/// its tensor is dropped first.
struct Bound {
    raw: wgpu::Buffer,
    id: u64,
    bytes: u64,
}

impl Bound {
    fn of(tensor: &Tensor) -> Bound {
        Bound { raw: tensor.raw().clone(), id: tensor.pooled().id, bytes: tensor.bytes() }
    }
}

enum Command {
    Dispatch {
        pipeline: Rc<Pipeline>,
        uniform_offset: u32,
        buffers: Vec<Bound>,
        workgroups: [u32; 3],
    },
    Copy {
        src: Bound,
        dst: Bound,
        /// (source offset, destination offset, length) in bytes; whole buffers when None.
        region: Option<(u64, u64, u64)>,
    },
    Clear(Bound),
    ToStaging {
        src: Bound,
        staging: wgpu::Buffer,
        /// Byte offset in the staging buffer.
        at: u64,
    },
}

pub(crate) type MapSender = oneshot::Sender<Result<(), wgpu::BufferAsyncError>>;

pub(crate) struct Recorder {
    commands: Vec<Command>,
    uniforms: Vec<u8>,
    uniform_align: u64,
    uniform_buffer: Option<wgpu::Buffer>,
    uniform_generation: u64,
    pending_maps: Vec<(wgpu::Buffer, MapSender)>,
    dispatches: usize,
    launches: u64,
    submissions: u64,
    /// See [`Recorder::hold`].
    held: bool,
}

impl Recorder {
    pub(crate) fn new(uniform_align: u32) -> Recorder {
        Recorder {
            commands: Vec::new(),
            uniforms: Vec::new(),
            uniform_align: (uniform_align as u64).max(UNIFORM_SLOT),
            uniform_buffer: None,
            uniform_generation: 0,
            pending_maps: Vec::new(),
            dispatches: 0,
            launches: 0,
            submissions: 0,
            held: false,
        }
    }

    pub(crate) fn dispatch(
        &mut self,
        pipeline: Rc<Pipeline>,
        params: &[u8],
        buffers: &[&Tensor],
        workgroups: [u32; 3],
    ) {
        assert!(
            params.len() as u64 <= UNIFORM_SLOT,
            "launch parameters of {} exceed one uniform slot",
            pipeline.spec.entry
        );
        let uniform_offset = self.uniforms.len() as u32;
        self.uniforms.extend_from_slice(params);
        self.uniforms.resize(uniform_offset as usize + self.uniform_align as usize, 0);
        self.commands.push(Command::Dispatch {
            pipeline,
            uniform_offset,
            buffers: buffers.iter().map(|t| Bound::of(t)).collect(),
            workgroups,
        });
        self.dispatches += 1;
        self.launches += 1;
    }

    pub(crate) fn copy(&mut self, src: &Tensor, dst: &Tensor) {
        self.commands.push(Command::Copy { src: Bound::of(src), dst: Bound::of(dst), region: None });
    }

    pub(crate) fn copy_region(&mut self, src: &Tensor, dst: &Tensor, region: (u64, u64, u64)) {
        self.commands.push(Command::Copy { src: Bound::of(src), dst: Bound::of(dst), region: Some(region) });
    }

    pub(crate) fn clear(&mut self, tensor: &Tensor) {
        self.commands.push(Command::Clear(Bound::of(tensor)));
    }

    pub(crate) fn copy_to_staging(&mut self, src: &Tensor, staging: &wgpu::Buffer, at: u64) {
        self.commands.push(Command::ToStaging { src: Bound::of(src), staging: staging.clone(), at });
    }

    /// Maps `staging` for reading once the current step has been submitted, and says so
    /// through `done`.
    pub(crate) fn map_after_submit(&mut self, staging: &wgpu::Buffer, done: MapSender) {
        self.pending_maps.push((staging.clone(), done));
    }

    pub(crate) fn dispatch_count(&self) -> usize {
        self.dispatches
    }

    pub(crate) fn submission_count(&self) -> u64 {
        self.submissions
    }

    /// Total kernel launches recorded since the device was opened (for launches per step).
    pub(crate) fn launch_count(&self) -> u64 {
        self.launches
    }

    /// While held, [`Recorder::submit`] keeps everything recorded instead of submitting it, so
    /// that a whole training step (which submits itself) can then be run one command at a time
    /// by [`Recorder::take_for_profile`].
    pub(crate) fn hold(&mut self, hold: bool) {
        self.held = hold;
    }

    /// Writes this step's launch parameters into the uniform arena (growing it if needed)
    /// and returns the arena.
    fn upload_uniforms(&mut self, device: &wgpu::Device, queue: &wgpu::Queue) -> wgpu::Buffer {
        let needed = (self.uniforms.len() as u64).max(self.uniform_align);
        let uniform = match &self.uniform_buffer {
            Some(buffer) if buffer.size() >= needed => buffer.clone(),
            _ => {
                let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("genlab launch parameters"),
                    size: needed.next_power_of_two(),
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                self.uniform_generation += 1;
                self.uniform_buffer = Some(buffer.clone());
                buffer
            }
        };
        if !self.uniforms.is_empty() {
            queue.write_buffer(&uniform, 0, &self.uniforms);
        }
        uniform
    }

    /// Encodes `commands` in order; consecutive launches share one compute pass. With
    /// `timestamps`, every launch gets a pass of its own that writes timestamps `2i` and
    /// `2i + 1` (launch i) into the query set, so that each can be timed.
    fn encode(
        &self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        commands: &[Command],
        uniform: &wgpu::Buffer,
        pipelines: &mut PipelineCache,
        timestamps: Option<&wgpu::QuerySet>,
    ) {
        let mut i = 0;
        let mut timed = 0;
        while i < commands.len() {
            match &commands[i] {
                Command::Dispatch { .. } => {
                    let timestamp_writes = timestamps.map(|query_set| {
                        timed += 2;
                        wgpu::ComputePassTimestampWrites {
                            query_set,
                            beginning_of_pass_write_index: Some(timed - 2),
                            end_of_pass_write_index: Some(timed - 1),
                        }
                    });
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("genlab kernels"),
                        timestamp_writes,
                    });
                    while let Some(Command::Dispatch { pipeline, uniform_offset, buffers, workgroups }) =
                        commands.get(i)
                    {
                        let key = BindKey {
                            pipeline: pipeline.id,
                            uniform_generation: self.uniform_generation,
                            buffers: buffers.iter().map(|b| (b.id, b.bytes)).collect(),
                        };
                        let raws: Vec<&wgpu::Buffer> = buffers.iter().map(|b| &b.raw).collect();
                        let group = pipelines.bind_group(device, pipeline, key, uniform, &raws);
                        pass.set_pipeline(&pipeline.raw);
                        pass.set_bind_group(0, &group, &[*uniform_offset]);
                        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
                        i += 1;
                        if timestamps.is_some() {
                            break;
                        }
                    }
                }
                Command::Copy { src, dst, region } => {
                    let (from, to, bytes) = region.unwrap_or((0, 0, src.bytes));
                    encoder.copy_buffer_to_buffer(&src.raw, from, &dst.raw, to, bytes);
                    i += 1;
                }
                Command::Clear(target) => {
                    encoder.clear_buffer(&target.raw, 0, None);
                    i += 1;
                }
                Command::ToStaging { src, staging, at } => {
                    encoder.copy_buffer_to_buffer(&src.raw, 0, staging, *at, src.bytes);
                    i += 1;
                }
            }
        }
    }

    /// Maps the staging buffers of the readbacks just submitted and starts a new step.
    fn finish_step(&mut self) {
        for (staging, done) in self.pending_maps.drain(..) {
            staging.slice(..).map_async(wgpu::MapMode::Read, move |result| {
                let _ = done.send(result);
            });
        }
        self.uniforms.clear();
        self.dispatches = 0;
    }

    pub(crate) fn submit(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, pipelines: &mut PipelineCache) {
        if self.held || (self.commands.is_empty() && self.pending_maps.is_empty()) {
            return;
        }
        let uniform = self.upload_uniforms(device, queue);
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("genlab step") });
        let commands = std::mem::take(&mut self.commands);
        self.encode(device, &mut encoder, &commands, &uniform, pipelines, None);
        pipelines.submitted();
        queue.submit(std::iter::once(encoder.finish()));
        self.submissions += 1;
        self.finish_step();
    }

    /// Everything held since [`Recorder::hold`], as one command buffer per command, each with
    /// what it is (kernel family and entry point, or a copy). The caller submits and times
    /// them one at a time; the readbacks among them are mapped by [`Recorder::finish_profile`].
    pub(crate) fn take_for_profile(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pipelines: &mut PipelineCache,
    ) -> Vec<(ProfiledCommand, wgpu::CommandBuffer)> {
        let uniform = self.upload_uniforms(device, queue);
        let commands = std::mem::take(&mut self.commands);
        let mut out = Vec::with_capacity(commands.len());
        for command in commands.chunks(1) {
            let mut encoder =
                device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("genlab profile") });
            self.encode(device, &mut encoder, command, &uniform, pipelines, None);
            out.push((ProfiledCommand::of(&command[0]), encoder.finish()));
        }
        self.submissions += 1;
        out
    }

    /// Everything held since [`Recorder::hold`], in one command buffer in which every kernel
    /// launch has a compute pass of its own that writes timestamps `2i` and `2i + 1` into
    /// `queries` (launch i). Returns the buffer and what each launch is; None when the step
    /// has more launches than the query set holds.
    pub(crate) fn encode_timestamped(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pipelines: &mut PipelineCache,
        queries: &wgpu::QuerySet,
        capacity: u32,
    ) -> Option<(wgpu::CommandEncoder, Vec<ProfiledCommand>)> {
        let launches = self.commands.iter().filter(|c| matches!(c, Command::Dispatch { .. })).count();
        if 2 * launches > capacity as usize {
            return None;
        }
        let uniform = self.upload_uniforms(device, queue);
        let commands = std::mem::take(&mut self.commands);
        let mut encoder =
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("genlab timed step") });
        self.encode(device, &mut encoder, &commands, &uniform, pipelines, Some(queries));
        let kernels =
            commands.iter().filter(|c| matches!(c, Command::Dispatch { .. })).map(ProfiledCommand::of).collect();
        self.submissions += 1;
        Some((encoder, kernels))
    }

    /// The profiled step has been submitted: map its readbacks and start a new step.
    pub(crate) fn finish_profile(&mut self) {
        self.finish_step();
    }
}

/// What one profiled command buffer does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfiledCommand {
    Kernel { shader: &'static str, entry: &'static str },
    Copy,
    Clear,
}

impl ProfiledCommand {
    fn of(command: &Command) -> ProfiledCommand {
        match command {
            Command::Dispatch { pipeline, .. } => {
                ProfiledCommand::Kernel { shader: pipeline.spec.shader, entry: pipeline.spec.entry }
            }
            Command::Copy { .. } | Command::ToStaging { .. } => ProfiledCommand::Copy,
            Command::Clear(_) => ProfiledCommand::Clear,
        }
    }
}
