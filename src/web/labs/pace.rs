//! How often a lab redraws what costs GPU or CPU time that training could use: its views
//! and its plots.

use crate::web::dom;

/// Paces the plots' redraws: ten a second at most.
#[derive(Default)]
pub struct PlotPace {
    /// When the plots were last drawn (ms).
    last: f64,
}

impl PlotPace {
    /// Whether the plots may be drawn now; a yes counts as drawing them.
    pub fn due(&mut self) -> bool {
        let now = dom::now();
        let due = now - self.last > 100.0;
        if due {
            self.last = now;
        }
        due
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
