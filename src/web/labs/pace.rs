//! How often a lab redraws what costs GPU or CPU time that training could use: its views
//! and its plots.

use crate::web::dom;

/// Paces what changes the screen while a lab trains: its figures, plots and views all change
/// in one frame, a *screen update*, and updates come only as often as the page's frames
/// allow.
///
/// Every frame that changes the page must be presented, and on a software GPU presenting
/// one waits for the CPU cores the training runs on, while the page's next frames wait for
/// it (SwiftShader, 2 cores: 65–110 ms a frame; the VAE lab, which rewrote its step line
/// every frame, trained at half its bench's rate, at 5 frames a second). Frames that change
/// nothing are not presented and cost nearly nothing.
///
/// So the interval between updates adapts to the frames: each [`WINDOW_MS`], if frames over
/// [`SLOW_FRAME_MS`] took more than [`MOST_SLOW`] of the time, updates come less often; if
/// they took under [`FEW_SLOW`], more often; between [`MIN_UPDATE_MS`] and
/// [`MAX_UPDATE_MS`]. While paused every frame may change the screen, so clicks and drags
/// answer at once.
pub struct ScreenPace {
    /// When the last frame started.
    last_frame: f64,
    /// When the last update was.
    last_update: f64,
    /// Milliseconds between two updates while training.
    interval: f64,
    /// When the current window began, and the time its slow frames took beyond
    /// [`SLOW_FRAME_MS`].
    window_start: f64,
    slow: f64,
}

pub const MIN_UPDATE_MS: f64 = 100.0;
pub const MAX_UPDATE_MS: f64 = 2000.0;
const WINDOW_MS: f64 = 2000.0;
const SLOW_FRAME_MS: f64 = 100.0;
const MOST_SLOW: f64 = 0.05;
const FEW_SLOW: f64 = 0.01;

impl Default for ScreenPace {
    fn default() -> Self {
        ScreenPace { last_frame: 0.0, last_update: 0.0, interval: 250.0, window_start: 0.0, slow: 0.0 }
    }
}

impl ScreenPace {
    /// A frame starts at `now`: counts the last one if it was slow, and adapts the interval
    /// at the end of a window.
    pub fn frame(&mut self, now: f64, running: bool) {
        let gap = now - self.last_frame;
        self.last_frame = now;
        // Gaps over a second are a hidden tab or a stall (shaders compiling), not pacing.
        if gap < 1000.0 {
            self.slow += (gap - SLOW_FRAME_MS).max(0.0);
        }
        let window = now - self.window_start;
        if window < WINDOW_MS {
            return;
        }
        let share = self.slow / window;
        if running && share > MOST_SLOW {
            self.interval = (self.interval * 1.5).min(MAX_UPDATE_MS);
        } else if share < FEW_SLOW {
            self.interval = (self.interval / 1.25).max(MIN_UPDATE_MS);
        }
        self.window_start = now;
        self.slow = 0.0;
    }

    /// Whether the screen may change in the frame started at `now`.
    pub fn due(&self, now: f64, running: bool) -> bool {
        !running || now - self.last_update >= self.interval
    }

    /// The frame started at `now` changed the screen.
    pub fn updated(&mut self, now: f64) {
        self.last_update = now;
    }

    /// Milliseconds between two updates while training, as adapted so far.
    pub fn interval(&self) -> f64 {
        self.interval
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
