//! The training runner: fits a lab's steps into the frame budget, and keeps the GPU work
//! queued ahead of the page to about a frame's worth, measured in time.

use std::collections::VecDeque;

use crate::error::Result;
use crate::web::dom;

/// Fits training into the frame budget, and keeps the GPU work queued ahead of the page to
/// about a frame's worth, measured in time: whatever the page draws waits behind what is
/// already queued, so queueing seconds of training freezes the tab for seconds.
pub struct Runner {
    pub running: bool,
    /// Stop when this many steps are done (replaying a link, or one Step).
    pub target: Option<u32>,
    /// Steps finished by the GPU in recent frames, with their times, for steps/second.
    history: VecDeque<(f64, u32)>,
    /// GPU milliseconds per step, measured from the steps that came back; None until then.
    step_ms: Option<f64>,
    /// The latest step that had come back when the estimate last moved, and when.
    last_arrival: Option<(f64, u32)>,
    /// Whether any step was in flight when `last_arrival` was taken: only intervals in which
    /// the GPU was kept busy measure its speed.
    busy_since_arrival: bool,
}

/// CPU time per frame spent recording training steps (the rest of a 16 ms frame is the
/// page's: drawing, input).
pub const FRAME_BUDGET_MS: f64 = 12.0;
/// GPU time that may be queued ahead of the page: about one frame and a bit, so that the GPU
/// does not run dry between two frames, and a redraw never waits long behind training.
pub const IN_FLIGHT_MS: f64 = 20.0;
/// Most steps recorded in one frame, whatever the budget.
const MAX_STEPS_PER_FRAME: u32 = 256;
/// Most steps between two readbacks of the figures.
const MAX_MONITOR_EVERY: u32 = 50;

impl Runner {
    pub fn new() -> Runner {
        Runner {
            running: false,
            target: None,
            history: VecDeque::new(),
            step_ms: None,
            last_arrival: None,
            busy_since_arrival: false,
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

    /// How many steps may be in flight on the GPU: those that fit in [`IN_FLIGHT_MS`] at the
    /// measured speed, and at least one: a step slower than a frame runs alone. (Two would
    /// keep a software GPU busier, 3.1 against 2.6 GAN steps/s on SwiftShader, but the page's
    /// frames wait behind both: p95 gap 667 against 383 ms.)
    pub fn steps_in_flight(&self) -> u32 {
        match self.step_ms {
            None => 1,
            Some(ms) => ((IN_FLIGHT_MS / ms.max(1e-3)) as u32).clamp(1, MAX_STEPS_PER_FRAME),
        }
    }

    /// How often the figures should be read back: once per flight of steps (so the next
    /// flight can start as soon as the last one is back), and every step when stepping one
    /// at a time (`done` = steps taken so far).
    pub fn monitor_every(&self, done: u32) -> u32 {
        if self.target == Some(done + 1) {
            1
        } else {
            self.steps_in_flight().min(MAX_MONITOR_EVERY)
        }
    }

    /// Whether the training queued on the GPU (`done` recorded, `arrived` back) is short
    /// enough for a view to go behind it: none at all, or at most [`IN_FLIGHT_MS`] of it.
    pub fn queue_is_short(&self, done: u32, arrived: u32) -> bool {
        let queued = done.saturating_sub(arrived);
        queued == 0 || self.step_ms.is_some_and(|ms| queued as f64 * ms <= IN_FLIGHT_MS)
    }

    /// Measures the GPU's speed from the steps that came back (`arrived`, of `done` recorded).
    fn observe(&mut self, now: f64, done: u32, arrived: u32) {
        match self.last_arrival {
            Some((then, before)) if arrived > before => {
                if self.busy_since_arrival {
                    let sample = (now - then) / (arrived - before) as f64;
                    // A moving average: one slow frame must not halve the queue.
                    self.step_ms = Some(self.step_ms.map_or(sample, |ms| 0.7 * ms + 0.3 * sample));
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
    /// latest step whose figures have come back). Returns the steps recorded.
    pub fn slice(&mut self, done: u32, arrived: u32, mut step: impl FnMut() -> Result<()>) -> Result<u32> {
        let start = dom::now();
        self.observe(start, done, arrived);
        let in_flight = self.steps_in_flight();
        let mut n = 0;
        while self.running && n < MAX_STEPS_PER_FRAME {
            let at = done + n;
            if self.target.is_some_and(|t| at >= t) {
                self.stop();
                break;
            }
            if at.saturating_sub(arrived) >= in_flight {
                break;
            }
            step()?;
            n += 1;
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

    /// Training steps finished per second over the last five seconds.
    pub fn rate(&self) -> Option<f64> {
        let (&(t0, s0), &(t1, s1)) = (self.history.front()?, self.history.back()?);
        (t1 - t0 > 1000.0 && s1 > s0).then(|| (s1 - s0) as f64 / ((t1 - t0) / 1000.0))
    }

    /// Forgets the measured rate and speed (new models: new steps).
    pub fn forget_rate(&mut self) {
        self.history.clear();
        self.step_ms = None;
        self.last_arrival = None;
        self.busy_since_arrival = false;
    }
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new()
    }
}
