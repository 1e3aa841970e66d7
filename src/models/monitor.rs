//! Training figures without stalls: a model writes each step's figures (losses, D(x) …)
//! into a tiny tensor; every few steps the monitor records a copy of it into the step's own
//! submission and collects the values whenever the GPU delivers them.

use std::collections::VecDeque;

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Readback, Tensor};

/// One row of figures, as the model named them.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub step: u32,
    pub values: Vec<f32>,
    /// The figures' names, in the order of `values`.
    pub names: &'static [&'static str],
}

impl Record {
    /// The figure called `name`; NaN for a name the model does not report (a plot leaves
    /// it out, a message shows it as such).
    pub fn figure(&self, name: &str) -> f32 {
        self.names.iter().position(|n| *n == name).and_then(|i| self.values.get(i)).copied().unwrap_or(f32::NAN)
    }
}

/// The divergence guard: a figure that grows past this many times its recent median (or
/// past this many times 1, for figures whose median is near zero) means training has left
/// the rails. Every figure the models report is a loss or a probability; a loss that
/// wanders within 100× of where it was is still training, one that leaps past it is not.
pub const DIVERGENCE_FACTOR: f32 = 100.0;
/// Records the guard's median looks back over.
pub const DIVERGENCE_WINDOW: usize = 20;

pub struct Monitor {
    pub names: &'static [&'static str],
    every: u32,
    /// Whether a figure that grows past [`DIVERGENCE_FACTOR`] × its recent median stops
    /// training (a figure that is not finite always does).
    pub guard: bool,
    pending: VecDeque<(u32, Readback)>,
    pub history: Vec<Record>,
    /// The step training last resumed from (a snapshot's): nothing before it is on its way.
    resumed_at: u32,
}

impl Monitor {
    /// Figures named `names`, read back every `every` steps (at least 1).
    pub fn new(names: &'static [&'static str], every: u32) -> Monitor {
        Monitor {
            names,
            every: every.max(1),
            guard: true,
            pending: VecDeque::new(),
            history: Vec::new(),
            resumed_at: 0,
        }
    }

    pub fn set_every(&mut self, every: u32) {
        self.every = every.max(1);
    }

    /// Whether step `step` (1-based) should be read back.
    pub fn wants(&self, step: u32) -> bool {
        step.is_multiple_of(self.every) || step == 1
    }

    /// Records a readback of `figures` for `step`; call before the step is submitted.
    pub fn schedule(&mut self, gpu: &Gpu, step: u32, figures: &Tensor) {
        self.pending.push_back((step, gpu.read_later(figures)));
    }

    /// Collects every readback that has arrived, in order, without waiting. A figure that
    /// is not finite means training diverged: that is reported, with what to change.
    pub fn poll(&mut self) -> Result<()> {
        while let Some((step, readback)) = self.pending.front_mut() {
            let step = *step;
            match readback.try_take() {
                None => break,
                Some(values) => {
                    self.pending.pop_front();
                    self.accept(step, values?)?;
                }
            }
        }
        Ok(())
    }

    /// Waits for every scheduled readback (end of a run, evaluation).
    pub async fn flush(&mut self) -> Result<()> {
        while let Some((step, readback)) = self.pending.pop_front() {
            let values = readback.wait().await?;
            self.accept(step, values)?;
        }
        Ok(())
    }

    fn accept(&mut self, step: u32, values: Vec<f32>) -> Result<()> {
        let figure = |i: usize| self.names.get(i).copied().unwrap_or("a figure");
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            self.pending.clear();
            return Err(Error::Diverged { step, figure: figure(i), value: values[i], growth: None });
        }
        if self.guard {
            for (i, &value) in values.iter().enumerate() {
                let Some(median) = self.recent_median(i) else { continue };
                if value.abs() > DIVERGENCE_FACTOR * median.abs().max(1.0) {
                    self.pending.clear();
                    let growth = Some((median, DIVERGENCE_FACTOR));
                    return Err(Error::Diverged { step, figure: figure(i), value, growth });
                }
            }
        }
        self.history.push(Record { step, values, names: self.names });
        Ok(())
    }

    /// Median of figure `i` over the last [`DIVERGENCE_WINDOW`] records.
    fn recent_median(&self, i: usize) -> Option<f32> {
        let tail = &self.history[self.history.len().saturating_sub(DIVERGENCE_WINDOW)..];
        let mut values: Vec<f32> = tail.iter().filter_map(|r| r.values.get(i).copied()).collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f32::total_cmp);
        Some(values[values.len() / 2])
    }

    /// Forgets the records after `step` and every readback on its way: training carries on
    /// from a snapshot of that step.
    pub fn rewind(&mut self, step: u32) {
        self.pending.clear();
        self.history.retain(|r| r.step <= step);
        self.resumed_at = step;
    }

    /// The latest step the GPU is known to have finished: the latest whose figures came
    /// back, or the step training resumed from, when that is later (the page keeps a bounded
    /// number of steps in flight past it).
    pub fn arrived(&self) -> u32 {
        self.latest().map_or(0, |r| r.step).max(self.resumed_at)
    }

    /// The latest step whose figures passed the guard (0 before any).
    pub fn checked_through(&self) -> u32 {
        self.latest().map_or(0, |r| r.step)
    }

    pub fn latest(&self) -> Option<&Record> {
        self.history.last()
    }

    /// The latest value of the figure called `name`.
    pub fn latest_value(&self, name: &str) -> Option<f32> {
        self.latest().map(|r| r.figure(name)).filter(|v| !v.is_nan())
    }

    /// Mean of figure `name` over the last `n` records (smooths a noisy minibatch loss).
    pub fn recent_mean(&self, name: &str, n: usize) -> Option<f32> {
        let i = self.names.iter().position(|x| *x == name)?;
        let tail = &self.history[self.history.len().saturating_sub(n)..];
        (!tail.is_empty()).then(|| tail.iter().map(|r| r.values[i]).sum::<f32>() / tail.len() as f32)
    }
}
