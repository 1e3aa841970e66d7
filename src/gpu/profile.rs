//! Where a training step's GPU time goes. The step is recorded as usual, but held back from
//! submission. Where the adapter has timestamp queries, it then runs as one command buffer
//! in which each kernel launch has a compute pass of its own that stamps its start and end
//! (copies are not timed). Elsewhere each command is submitted alone and timed until the
//! GPU reports it done, which adds one submission's round trip to every command: the
//! caller can see how much by comparing the sum with the step's ordinary time.

use futures_channel::oneshot;

pub use super::recorder::ProfiledCommand;
use super::{Gpu, Readback};
use crate::clock::now_ms;
use crate::error::Result;

/// One command of a profiled step and its time on the GPU.
#[derive(Clone, Debug)]
pub struct CommandTime {
    pub what: ProfiledCommand,
    pub ms: f64,
}

/// How a profile was timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ProfileMethod {
    /// GPU timestamps around each kernel, in one submission (copies untimed).
    Timestamps,
    /// Each command submitted alone and timed on the CPU until done.
    OneAtATime,
}

/// Most launches one timestamped step may have (two queries each; WebGPU allows 4096).
const MAX_QUERIES: u32 = 4096;

impl Gpu {
    /// Runs `record` — which records one training step and may submit it — with submission
    /// held, then submits the step's commands one at a time and times each alone. The step
    /// takes effect as it would have; its readbacks resolve afterwards.
    pub async fn profile(&self, record: impl FnOnce() -> Result<()>) -> Result<(ProfileMethod, Vec<CommandTime>)> {
        self.submit();
        self.finished().await;
        self.0.recorder.borrow_mut().hold(true);
        let recorded = record();
        self.0.recorder.borrow_mut().hold(false);
        recorded?;
        if self.0.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            if let Some(times) = self.timestamped().await? {
                return Ok((ProfileMethod::Timestamps, times));
            }
        }
        Ok((ProfileMethod::OneAtATime, self.one_at_a_time().await))
    }

    /// The held step in one submission with a timestamp pair around each launch; None when
    /// it has too many launches for one query set (nothing is submitted then).
    async fn timestamped(&self) -> Result<Option<Vec<CommandTime>>> {
        let device = &self.0.device;
        let queries = device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("genlab profile"),
            ty: wgpu::QueryType::Timestamp,
            count: MAX_QUERIES,
        });
        let encoded = {
            let mut recorder = self.0.recorder.borrow_mut();
            let mut pipelines = self.0.pipelines.borrow_mut();
            recorder.encode_timestamped(device, &self.0.queue, &mut pipelines, &queries, MAX_QUERIES)
        };
        let Some((mut encoder, kernels)) = encoded else { return Ok(None) };
        let count = 2 * kernels.len() as u32;
        let bytes = 8 * count.max(1) as u64;
        let resolved = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("genlab timestamps"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("genlab timestamps readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if count > 0 {
            encoder.resolve_query_set(&queries, 0..count, &resolved, 0);
            encoder.copy_buffer_to_buffer(&resolved, 0, &staging, 0, bytes);
        }
        let readback = Readback::of_staging(self, staging, 2 * count as usize);
        self.0.queue.submit(std::iter::once(encoder.finish()));
        self.0.recorder.borrow_mut().finish_profile();
        // Each timestamp is a little-endian u64: two 32-bit words, low first.
        let words = readback.wait_u32().await?;
        let ticks: Vec<u64> = words.chunks_exact(2).map(|w| w[0] as u64 | (w[1] as u64) << 32).collect();
        let period_ms = self.0.queue.get_timestamp_period() as f64 / 1e6;
        Ok(Some(
            kernels
                .into_iter()
                .enumerate()
                .map(|(i, what)| {
                    let (start, end) = (ticks[2 * i], ticks[2 * i + 1]);
                    CommandTime { what, ms: end.saturating_sub(start) as f64 * period_ms }
                })
                .collect(),
        ))
    }

    /// The held step a command at a time, each submitted alone and waited for.
    async fn one_at_a_time(&self) -> Vec<CommandTime> {
        let buffers = {
            let mut recorder = self.0.recorder.borrow_mut();
            let mut pipelines = self.0.pipelines.borrow_mut();
            recorder.take_for_profile(&self.0.device, &self.0.queue, &mut pipelines)
        };
        let mut times = Vec::with_capacity(buffers.len());
        for (what, buffer) in buffers {
            let start = now_ms();
            self.0.queue.submit(std::iter::once(buffer));
            self.finished().await;
            times.push(CommandTime { what, ms: now_ms() - start });
        }
        self.0.recorder.borrow_mut().finish_profile();
        times
    }

    /// Waits until everything submitted so far has run (without blocking the browser).
    pub async fn finished(&self) {
        let (done, finished) = oneshot::channel();
        self.0.queue.on_submitted_work_done(move || {
            let _ = done.send(());
        });
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = self.0.device.poll(wgpu::PollType::Wait { submission_index: None, timeout: None });
        }
        // A lost device drops the callback unanswered; either way the work is over.
        let _ = finished.await;
    }

    /// Kernel launches recorded since the device was opened.
    pub fn launches(&self) -> u64 {
        self.0.recorder.borrow().launch_count()
    }
}
