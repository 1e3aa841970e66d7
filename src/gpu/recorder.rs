//! Records kernel launches, copies and clears as plain data, then encodes them into one
//! command buffer at submit time. Recording first lets all launch parameters of a step go
//! to the GPU in a single `write_buffer`, and lets consecutive launches share one compute
//! pass.
//!
//! The page can also have a step cut into slices by estimated work, which it submits in
//! batches as the GPU finishes the ones before ([`Recorder::slice_submits`]): on a software
//! GPU one step can take longer than many frames, and whatever the page draws waits behind
//! every command already submitted.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use futures_channel::oneshot;

use super::pipeline::{BindKey, Pipeline, PipelineCache, UNIFORM_SLOT};
use super::Tensor;
use crate::clock::now_ms;

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
        /// Estimated cost, in multiply-adds (see [`Recorder::dispatch`]).
        work: f64,
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

impl Command {
    /// Estimated cost in multiply-adds: a copy or clear touches each element once.
    fn work(&self) -> f64 {
        match self {
            Command::Dispatch { work, .. } => *work,
            Command::Copy { src, region, .. } => region.map_or(src.bytes, |(_, _, bytes)| bytes) as f64 / 4.0,
            Command::Clear(target) => target.bytes as f64 / 4.0,
            Command::ToStaging { src, .. } => src.bytes as f64 / 4.0,
        }
    }
}

pub(crate) type MapSender = oneshot::Sender<Result<(), wgpu::BufferAsyncError>>;

/// A piece of a submitted step, encoded and waiting for its turn on the queue.
struct Slice {
    commands: wgpu::CommandBuffer,
    /// The uniform arena its launches read, and the step's launch parameters: written again
    /// just before the slice goes, since whatever was submitted in between may have reused
    /// the arena.
    uniform: wgpu::Buffer,
    uniforms: Rc<Vec<u8>>,
    /// Readbacks of the step, mapped once its last slice has gone.
    maps: Vec<(wgpu::Buffer, MapSender)>,
    /// Estimated multiply-adds of its commands.
    work: f64,
}

/// Finished batches of slices kept until asked for (see [`Recorder::finished_batches`]).
const TIMED_BATCHES: usize = 64;

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
    /// See [`Recorder::slice_submits`].
    slice_work: Option<f64>,
    waiting: VecDeque<Slice>,
    /// Estimated multiply-adds recorded since the device was opened.
    work: f64,
    /// Batches of slices submitted and not yet seen finished: when each went, and its work.
    batches: VecDeque<(f64, f64)>,
    /// When each batch finished, in order, as the queue's callbacks tell.
    finished: Arc<Mutex<Vec<f64>>>,
    /// When the last batch seen finished.
    last_finished: f64,
    /// (work, milliseconds) of the batches finished and not yet asked for.
    timed: VecDeque<(f64, f64)>,
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
            slice_work: None,
            waiting: VecDeque::new(),
            work: 0.0,
            batches: VecDeque::new(),
            finished: Arc::new(Mutex::new(Vec::new())),
            last_finished: 0.0,
            timed: VecDeque::new(),
        }
    }

    /// Records a launch that costs about `work` multiply-adds (only the slicing of a step
    /// reads it: an estimate within a factor of a few is enough).
    pub(crate) fn dispatch(
        &mut self,
        pipeline: Rc<Pipeline>,
        params: &[u8],
        buffers: &[&Tensor],
        workgroups: [u32; 3],
        work: f64,
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
            work,
        });
        self.work += work;
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

    /// With `Some(work)`, every [`Recorder::submit`] cuts what was recorded into slices of
    /// about `work` multiply-adds each (a launch is never cut), encodes them, and keeps them
    /// for [`Recorder::submit_slices`] instead of submitting. With None, submits go whole.
    pub(crate) fn slice_submits(&mut self, work: Option<f64>) {
        self.slice_work = work;
    }

    /// Estimated multiply-adds recorded since the device was opened.
    pub(crate) fn work_recorded(&self) -> f64 {
        self.work
    }

    /// Slices encoded and not yet submitted.
    pub(crate) fn slices_waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Batches of slices submitted that the GPU has not finished.
    pub(crate) fn batches_in_flight(&mut self) -> usize {
        self.settle();
        self.batches.len()
    }

    /// The batches of slices finished since the last call, in order: each one's estimated
    /// work and milliseconds, from its submission (or the end of the batch before it,
    /// whichever is later) to the queue's word that it finished.
    pub(crate) fn finished_batches(&mut self) -> Vec<(f64, f64)> {
        self.settle();
        self.timed.drain(..).collect()
    }

    /// Takes in the batches the GPU has finished.
    fn settle(&mut self) {
        let finished: Vec<f64> = match self.finished.lock() {
            Ok(mut times) => times.drain(..).collect(),
            Err(_) => return,
        };
        for done in finished {
            let Some((sent, work)) = self.batches.pop_front() else { break };
            let ms = done - sent.max(self.last_finished);
            self.last_finished = done;
            self.timed.push_back((work, ms.max(0.0)));
            if self.timed.len() > TIMED_BATCHES {
                self.timed.pop_front();
            }
        }
    }

    /// Submits waiting slices, in order, up to about `work` estimated multiply-adds (at least
    /// one slice), as one batch the queue reports on; returns how many went.
    pub(crate) fn submit_slices(&mut self, queue: &wgpu::Queue, work: f64) -> usize {
        let mut count = 0;
        let mut batch_work = 0.0;
        let mut maps = Vec::new();
        let mut group: Vec<wgpu::CommandBuffer> = Vec::new();
        let mut group_uniforms: Option<Rc<Vec<u8>>> = None;
        while let Some(next) = self.waiting.front() {
            if count > 0 && batch_work + next.work > work {
                break;
            }
            let Some(slice) = self.waiting.pop_front() else { break };
            // Slices of two steps read their launch parameters from the same arena: the first
            // step's go before the second's are written.
            if group_uniforms.as_ref().is_some_and(|u| !Rc::ptr_eq(u, &slice.uniforms)) {
                queue.submit(std::mem::take(&mut group));
                self.submissions += 1;
                group_uniforms = None;
            }
            if group_uniforms.is_none() && !slice.uniforms.is_empty() {
                queue.write_buffer(&slice.uniform, 0, &slice.uniforms);
            }
            group_uniforms = Some(slice.uniforms);
            group.push(slice.commands);
            maps.extend(slice.maps);
            batch_work += slice.work;
            count += 1;
        }
        if count == 0 {
            return 0;
        }
        queue.submit(group);
        self.submissions += 1;
        self.batches.push_back((now_ms(), batch_work));
        let finished = self.finished.clone();
        queue.on_submitted_work_done(move || {
            if let Ok(mut times) = finished.lock() {
                times.push(now_ms());
            }
        });
        Self::map_all(maps);
        count
    }

    /// The uniform arena, grown if this step's launch parameters do not fit (not written).
    fn arena(&mut self, device: &wgpu::Device) -> wgpu::Buffer {
        let needed = (self.uniforms.len() as u64).max(self.uniform_align);
        match &self.uniform_buffer {
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
        }
    }

    /// Writes this step's launch parameters into the uniform arena (growing it if needed)
    /// and returns the arena.
    fn upload_uniforms(&mut self, device: &wgpu::Device, queue: &wgpu::Queue) -> wgpu::Buffer {
        let uniform = self.arena(device);
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
                    while let Some(Command::Dispatch { pipeline, uniform_offset, buffers, workgroups, .. }) =
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

    fn map_all(maps: Vec<(wgpu::Buffer, MapSender)>) {
        for (staging, done) in maps {
            staging.slice(..).map_async(wgpu::MapMode::Read, move |result| {
                let _ = done.send(result);
            });
        }
    }

    /// Maps the staging buffers of the readbacks just submitted and starts a new step.
    fn finish_step(&mut self) {
        Self::map_all(std::mem::take(&mut self.pending_maps));
        self.uniforms.clear();
        self.dispatches = 0;
    }

    pub(crate) fn submit(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, pipelines: &mut PipelineCache) {
        if self.held || (self.commands.is_empty() && self.pending_maps.is_empty()) {
            return;
        }
        if let Some(work) = self.slice_work {
            self.encode_slices(device, pipelines, work);
            return;
        }
        // Whatever is submitted now may reuse buffers the waiting slices still read (the
        // pool gave them back while the step was recorded): the queue must see the step first.
        self.submit_slices(queue, f64::INFINITY);
        let uniform = self.upload_uniforms(device, queue);
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("genlab step") });
        let commands = std::mem::take(&mut self.commands);
        self.encode(device, &mut encoder, &commands, &uniform, pipelines, None);
        pipelines.submitted();
        queue.submit(std::iter::once(encoder.finish()));
        self.submissions += 1;
        self.finish_step();
    }

    /// Cuts what was recorded into slices of about `work` multiply-adds, in order, and keeps
    /// them waiting (see [`Recorder::slice_submits`]).
    fn encode_slices(&mut self, device: &wgpu::Device, pipelines: &mut PipelineCache, work: f64) {
        let uniform = self.arena(device);
        let uniforms = Rc::new(std::mem::take(&mut self.uniforms));
        let commands = std::mem::take(&mut self.commands);
        let mut start = 0;
        while start < commands.len() {
            let mut end = start + 1;
            let mut sum = commands[start].work();
            while end < commands.len() && sum + commands[end].work() <= work {
                sum += commands[end].work();
                end += 1;
            }
            let mut encoder =
                device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("genlab step slice") });
            self.encode(device, &mut encoder, &commands[start..end], &uniform, pipelines, None);
            self.waiting.push_back(Slice {
                commands: encoder.finish(),
                uniform: uniform.clone(),
                uniforms: uniforms.clone(),
                maps: Vec::new(),
                work: sum,
            });
            start = end;
        }
        pipelines.submitted();
        let maps = std::mem::take(&mut self.pending_maps);
        match self.waiting.back_mut() {
            Some(last) => last.maps.extend(maps),
            None => Self::map_all(maps),
        }
        self.dispatches = 0;
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
