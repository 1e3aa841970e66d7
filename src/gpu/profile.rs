//! Where a training step's GPU time goes. The step is recorded as usual, but held back from
//! submission; then each of its commands is submitted alone and timed until the GPU reports
//! it done. This works on every adapter (software GPUs have no useful timestamp queries),
//! at the price of one submission's overhead per command, which the caller can see by
//! comparing the sum with the step's ordinary time.

use futures_channel::oneshot;

pub use super::recorder::ProfiledCommand;
use super::Gpu;
use crate::clock::now_ms;
use crate::error::Result;

/// One command of a profiled step and its time alone on the GPU.
#[derive(Clone, Debug)]
pub struct CommandTime {
    pub what: ProfiledCommand,
    pub ms: f64,
}

impl Gpu {
    /// Runs `record` — which records one training step and may submit it — with submission
    /// held, then submits the step's commands one at a time and times each alone. The step
    /// takes effect as it would have; its readbacks resolve afterwards.
    pub async fn profile(&self, record: impl FnOnce() -> Result<()>) -> Result<Vec<CommandTime>> {
        self.submit();
        self.finished().await;
        self.0.recorder.borrow_mut().hold(true);
        let recorded = record();
        self.0.recorder.borrow_mut().hold(false);
        recorded?;
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
        Ok(times)
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
