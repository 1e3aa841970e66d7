//! The training runner: fits a lab's steps into the frame budget, and keeps the GPU work
//! queued ahead of the page to about a frame's worth, measured in time. A step that takes
//! the GPU longer than that goes in slices of about [`SLICE_MS`] each, fed to the queue a
//! batch at a time as the GPU finishes the ones before, where that trains nearly as fast.

use std::collections::VecDeque;

use crate::error::Result;
use crate::gpu::Gpu;
use crate::web::dom;

/// Fits training into the frame budget, and keeps the GPU work queued ahead of the page to
/// about a frame's worth, measured in time: whatever the page draws waits behind what is
/// already queued, so queueing seconds of training freezes the tab for seconds.
pub struct Runner {
    pub running: bool,
    /// Records no step this frame: a screen update waits for the queue to be short (see
    /// `labs::frame`). What is in flight is still fed.
    pub held: bool,
    /// Stop when this many steps are done (replaying a link, or one Step).
    pub target: Option<u32>,
    /// Steps finished by the GPU in recent frames, with their times, for steps/second.
    history: VecDeque<(f64, u32)>,
    /// GPU milliseconds per step, measured from the steps that came back; None until then.
    step_ms: Option<f64>,
    /// Intervals measured so far (the first, which compiled the shaders, is not kept).
    samples: u32,
    /// The latest step that had come back when the estimate last moved, and when.
    last_arrival: Option<(f64, u32)>,
    /// Whether any step was in flight when `last_arrival` was taken: only intervals in which
    /// the GPU was kept busy measure its speed.
    busy_since_arrival: bool,
    /// Estimated multiply-adds of the last step recorded (see [`Gpu::dispatch_with`]).
    step_work: Option<f64>,
    /// Estimated multiply-adds of one batch of slices (see [`Runner::feed`]).
    batch_work: Option<f64>,
    /// When steps began to go in slices; and whether they went back to whole steps for good
    /// (see [`Runner::judge_slicing`]).
    sliced_since: Option<f64>,
    whole_only: bool,
}

/// CPU time per frame spent recording training steps (the rest of a 16 ms frame is the
/// page's: drawing, input).
pub const FRAME_BUDGET_MS: f64 = 12.0;
/// GPU time that may be queued ahead of the page: about one frame and a bit, so that the GPU
/// does not run dry between two frames, and a redraw never waits long behind training.
pub const IN_FLIGHT_MS: f64 = 20.0;
/// A step slower than [`IN_FLIGHT_MS`] is cut into slices of about this much GPU time, as
/// whole steps measured it, and fed to the GPU a batch of slices a frame (see
/// [`Runner::feed`]).
pub const SLICE_MS: f64 = 10.0;
/// Time from submitting a batch of slices to the queue's word that it finished. A frame
/// waits for at most [`BATCHES_IN_FLIGHT`] batches instead of for a whole step: on
/// SwiftShader a VAE or GAN step takes 150–600 ms, and the page stood still that long
/// while a view waited for one. Batches are fed about one a frame as the ones before
/// finish, so their size sets the training rate too: at 35 ms the VAE lab trained at 30–45 %
/// of its whole-step rate; at 60 ms at 55–70 % of it, with a p95 frame gap of 67 ms against
/// 183 whole (bench/frames.mjs on SwiftShader, 2 cores).
pub const BATCH_MS: f64 = 60.0;
/// Batches submitted and not yet finished, at most: one running, and the next queued so
/// that the GPU does not wait for the next frame to feed it.
const BATCHES_IN_FLIGHT: usize = 2;
/// How long steps go in slices before their rate is judged, and the share of the whole
/// steps' rate they must keep (see [`Runner::judge_slicing`]).
const JUDGE_AFTER_MS: f64 = 8000.0;
const KEEP_SLICING_SHARE: f64 = 0.4;
/// Most steps recorded in one frame, whatever the budget.
const MAX_STEPS_PER_FRAME: u32 = 256;
/// Most steps between two readbacks of the figures.
const MAX_MONITOR_EVERY: u32 = 50;

impl Runner {
    pub fn new() -> Runner {
        Runner {
            running: false,
            held: false,
            target: None,
            history: VecDeque::new(),
            step_ms: None,
            samples: 0,
            last_arrival: None,
            busy_since_arrival: false,
            step_work: None,
            batch_work: None,
            sliced_since: None,
            whole_only: false,
        }
    }

    /// Trains until `target` steps are done, or with None until paused.
    pub fn start(&mut self, target: Option<u32>) {
        self.running = true;
        self.target = target;
    }

    /// Stops training, and forgets the target.
    pub fn stop(&mut self) {
        self.running = false;
        self.target = None;
    }

    /// Whether steps go in slices: once whole steps (two timed, the first after compiling)
    /// take longer than [`IN_FLIGHT_MS`], until the models change ([`Runner::forget_rate`]).
    fn slicing(&self) -> bool {
        !self.whole_only
            && self.samples >= 2
            && self.step_work.is_some_and(|work| work > 0.0)
            && self.step_ms.is_some_and(|ms| ms > IN_FLIGHT_MS)
    }

    /// Goes back to whole steps for good when steps in slices, after [`JUDGE_AFTER_MS`],
    /// come back at less than [`KEEP_SLICING_SHARE`] of the rate whole steps did: smooth
    /// frames are worth some training, not most of it. On SwiftShader the VAE lab keeps
    /// 55–70 % of its rate in slices (a page that answers within a frame or two is the
    /// point); before batches grew to [`BATCH_MS`] = 60 ms, it kept a third.
    fn judge_slicing(&mut self, now: f64) {
        if !self.slicing() {
            return;
        }
        let since = *self.sliced_since.get_or_insert(now);
        let (Some(rate), Some(ms)) = (self.rate(), self.step_ms) else { return };
        if now - since > JUDGE_AFTER_MS && rate < KEEP_SLICING_SHARE * 1000.0 / ms {
            self.whole_only = true;
        }
    }

    /// The estimated multiply-adds of one slice of [`SLICE_MS`], when steps go in slices.
    /// The speed comes from whole steps and stays: sliced steps come back more slowly (each
    /// batch waits for the queue's word that the one before finished), and slices cut by
    /// that slower rate would shrink, step after step, until the GPU did little but wait.
    fn slice_work(&self) -> Option<f64> {
        match (self.slicing(), self.step_work, self.step_ms) {
            (true, Some(work), Some(ms)) => Some(work * SLICE_MS / ms),
            _ => None,
        }
    }

    /// How many steps may be in flight on the GPU: those that fit in [`IN_FLIGHT_MS`] at the
    /// measured speed, and at least two, so that the next step is queued while the figures
    /// of the last one travel back: with one, a slow GPU stood idle between every two steps
    /// for the readback and a frame (the VAE link trained at half the bench's rate). Steps
    /// that go in slices: two, the next one's slices following the last one's without a gap
    /// (the slices in flight are what is bounded). Until a step has been timed, one: the
    /// first checkpoint then holds the first step alone, so that a run that diverges at
    /// once still has a good state to go back to.
    pub fn steps_in_flight(&self) -> u32 {
        match self.step_ms {
            None => 1,
            Some(_) if self.slicing() => 2,
            Some(ms) => ((IN_FLIGHT_MS / ms.max(1e-3)) as u32).clamp(2, MAX_STEPS_PER_FRAME),
        }
    }

    /// How often the figures should be read back: twice per flight of steps, so that one
    /// half is still running when the other's figures come back and the next is recorded;
    /// every step when steps go in slices or when stepping one at a time (`done` = steps
    /// taken so far).
    pub fn monitor_every(&self, done: u32) -> u32 {
        if self.target == Some(done + 1) || self.slicing() {
            1
        } else {
            (self.steps_in_flight() / 2).clamp(1, MAX_MONITOR_EVERY)
        }
    }

    /// Whether the training queued on the GPU (`done` recorded, `arrived` back) is short
    /// enough for a view to go behind it: one step at most, or [`IN_FLIGHT_MS`] of them;
    /// when steps go in slices, no slice waiting and at most one batch in flight.
    pub fn queue_is_short(&self, gpu: &Gpu, done: u32, arrived: u32) -> bool {
        if self.slicing() {
            return gpu.slices_waiting() == 0 && gpu.batches_in_flight() <= 1;
        }
        let queued = done.saturating_sub(arrived);
        queued <= 1 || self.step_ms.is_some_and(|ms| queued as f64 * ms <= IN_FLIGHT_MS)
    }

    /// Submits batches of waiting slices while fewer than [`BATCHES_IN_FLIGHT`] are on the
    /// GPU. A batch's size follows the time batches take, from submission to the queue's
    /// word that they finished, toward [`BATCH_MS`]: that time is what a frame waits behind.
    /// Neither a step's time nor the slices' estimated work predicts it well (SwiftShader
    /// reports finished work late, and each batch costs the page a frame besides its GPU
    /// time), so the size is found by trying. Runs every frame, training or not: a step
    /// recorded must finish.
    fn feed(&mut self, gpu: &Gpu) {
        let first_guess = || Some(self.step_work? / self.step_ms? * BATCH_MS);
        let (true, Some(mut batch)) = (self.slicing(), self.batch_work.or_else(first_guess)) else {
            // Slices left from before whole steps came back (or the models changed): all at once.
            gpu.submit_slices(f64::INFINITY);
            return;
        };
        for (work, ms) in gpu.finished_batches() {
            // Only a full batch tells about the size: a step's last one is a remnant, and the
            // first one's time also holds the redraw that went before it.
            if work < 0.7 * batch {
                continue;
            }
            if ms > 1.25 * BATCH_MS {
                batch *= (BATCH_MS / ms).max(0.5);
            } else if ms < 0.8 * BATCH_MS {
                batch *= 1.25;
            }
        }
        self.batch_work = Some(batch);
        while gpu.slices_waiting() > 0 && gpu.batches_in_flight() < BATCHES_IN_FLIGHT {
            gpu.submit_slices(batch);
        }
    }

    /// Measures the GPU's speed from the steps that came back (`arrived`, of `done` recorded),
    /// while they go whole (see [`Runner::slice_work`]).
    fn observe(&mut self, now: f64, done: u32, arrived: u32) {
        if self.slicing() {
            return;
        }
        match self.last_arrival {
            Some((then, before)) if arrived > before => {
                if self.busy_since_arrival {
                    let sample = (now - then) / (arrived - before) as f64;
                    self.samples += 1;
                    // A moving average: one slow frame must not halve the queue. The first
                    // sample only counts until the second comes: it holds the shaders' compiling.
                    self.step_ms = Some(match self.step_ms {
                        Some(_) if self.samples == 2 => sample,
                        Some(ms) => 0.7 * ms + 0.3 * sample,
                        None => sample,
                    });
                }
                self.last_arrival = Some((now, arrived));
                self.busy_since_arrival = done > arrived;
            }
            Some(_) => {}
            None => {
                self.last_arrival = Some((now, arrived));
                self.busy_since_arrival = done > arrived;
            }
        }
    }

    /// Records steps with `step` until the frame budget is spent, the target is reached, or
    /// a frame's worth of GPU work is in flight (`done` = steps taken so far, `arrived` = the
    /// latest step whose figures have come back). A step slower than a frame is recorded
    /// into slices, at most one step a frame, once the last one's slices have all gone.
    /// Returns the steps recorded.
    pub fn slice(&mut self, gpu: &Gpu, done: u32, arrived: u32, mut step: impl FnMut() -> Result<()>) -> Result<u32> {
        let start = dom::now();
        self.observe(start, done, arrived);
        self.judge_slicing(start);
        self.feed(gpu);
        let in_flight = self.steps_in_flight();
        let slice_work = self.slice_work();
        let mut n = 0;
        while self.running && !self.held && n < MAX_STEPS_PER_FRAME {
            let at = done + n;
            if self.target.is_some_and(|t| at >= t) {
                self.stop();
                break;
            }
            if at.saturating_sub(arrived) >= in_flight {
                break;
            }
            if slice_work.is_some() && gpu.slices_waiting() > 0 {
                break;
            }
            let before = gpu.work_recorded();
            gpu.slice_submits(slice_work);
            let recorded = step();
            gpu.slice_submits(None);
            recorded?;
            self.step_work = Some(gpu.work_recorded() - before);
            n += 1;
            if slice_work.is_some() {
                // Its first batch goes now if the GPU is free.
                self.feed(gpu);
                break;
            }
            if dom::now() - start > FRAME_BUDGET_MS {
                break;
            }
        }
        if n > 0 {
            if done <= arrived {
                // The GPU stood idle until now: time its speed from here, not from the last arrival.
                self.last_arrival = Some((start, arrived));
            }
            self.busy_since_arrival = true;
        }
        // Throughput is measured on steps the GPU has finished, not merely recorded.
        self.history.push_back((dom::now(), arrived));
        while self.history.len() > 2 && self.history[0].0 < dom::now() - 5000.0 {
            self.history.pop_front();
        }
        Ok(n)
    }

    /// How the runner paces training now, for bench/frames.mjs: the measured milliseconds
    /// per step, and the slices a step goes in (1 when whole).
    pub fn pacing(&self) -> (Option<f64>, f64) {
        let slices = match (self.slice_work(), self.step_work) {
            (Some(slice), Some(step)) => (step / slice).ceil(),
            _ => 1.0,
        };
        (self.step_ms, slices)
    }

    /// Training steps finished per second over the last five seconds.
    pub fn rate(&self) -> Option<f64> {
        let (&(t0, s0), &(t1, s1)) = (self.history.front()?, self.history.back()?);
        (t1 - t0 > 1000.0 && s1 > s0).then(|| (s1 - s0) as f64 / ((t1 - t0) / 1000.0))
    }

    /// Forgets the measured rate and speed (new models: new steps).
    pub fn forget_rate(&mut self) {
        self.history.clear();
        self.step_ms = None;
        self.samples = 0;
        self.last_arrival = None;
        self.busy_since_arrival = false;
        self.step_work = None;
        self.batch_work = None;
        self.sliced_since = None;
        self.whole_only = false;
    }
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new()
    }
}
