//! How often a lab redraws what costs GPU or CPU time that training could use: its views
//! and its plots.

use crate::web::dom;

/// Paces what changes the screen while a lab trains: its figures, plots and views all change
/// in one frame, a *screen update*, and updates are spaced by what one costs.
///
/// Every frame that changes the page must be presented, and on a software GPU presenting
/// one takes tens of milliseconds on the thread that also runs the training, while the
/// page's frames wait for it (SwiftShader, 2 cores: 65–110 ms a frame; the VAE lab, which
/// rewrote its step line every frame, trained at half its bench's rate, at 5 frames a
/// second). Frames that change nothing are not presented and cost nearly nothing.
///
/// The cost of an update is measured as how much later than usual the next frame starts.
/// Updates come at most every [`UPDATE_MS`] while training and at least [`COST_SHARE`]
/// apart in cost, so presenting takes at most about a tenth of the time; while paused every
/// frame may change the screen, so clicks and drags answer at once.
pub struct ScreenPace {
    /// When the last frame started, and whether it changed the screen.
    last_frame: f64,
    last_updated: bool,
    /// When the last update was.
    last_update: f64,
    /// Usual time between two frames that change nothing (ms, moving average).
    frame_ms: f64,
    /// Extra time an update adds to its frame (ms, moving average).
    cost: f64,
}

/// Fewest milliseconds between two screen updates while training.
pub const UPDATE_MS: f64 = 100.0;
/// Screen updates may take about this share of the time while training.
pub const COST_SHARE: f64 = 0.1;

impl Default for ScreenPace {
    fn default() -> Self {
        ScreenPace { last_frame: 0.0, last_updated: false, last_update: 0.0, frame_ms: 1000.0 / 60.0, cost: 0.0 }
    }
}

impl ScreenPace {
    /// A frame starts at `now`: measures what the last one cost.
    pub fn frame(&mut self, now: f64) {
        let gap = now - self.last_frame;
        // Gaps over a second are a hidden tab or a stall, not a frame.
        if self.last_frame > 0.0 && gap < 1000.0 {
            if self.last_updated {
                self.cost = 0.7 * self.cost + 0.3 * (gap - self.frame_ms).max(0.0);
            } else {
                self.frame_ms = 0.9 * self.frame_ms + 0.1 * gap.min(100.0);
            }
        }
        self.last_frame = now;
        self.last_updated = false;
    }

    /// Whether the screen may change in the frame started at `now`.
    pub fn due(&self, now: f64, running: bool) -> bool {
        !running || now - self.last_update >= UPDATE_MS.max(self.cost / COST_SHARE)
    }

    /// The frame started at `now` changed the screen.
    pub fn updated(&mut self, now: f64) {
        self.last_update = now;
        self.last_updated = true;
    }

    /// What an update costs, as measured (ms).
    pub fn cost(&self) -> f64 {
        self.cost
    }
}

/// Paces the redraws of views that cost GPU time training could use: while training at most
/// every 250 ms, and always four times the last redraw's cost between two.
#[derive(Default)]
pub struct Pace {
    last: f64,
    cost: f64,
}

impl Pace {
    /// Whether a redraw may start at `now`.
    pub fn due(&self, now: f64, running: bool) -> bool {
        now - self.last >= (4.0 * self.cost).max(if running { 250.0 } else { 0.0 })
    }

    /// A redraw that started at `started` has just ended.
    pub fn done(&mut self, started: f64) {
        self.last = dom::now();
        self.cost = self.last - started;
    }

    /// How long the last redraw took (ms).
    pub fn cost(&self) -> f64 {
        self.cost
    }
}
