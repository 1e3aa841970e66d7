//! Snapshots: CPU copies of everything training changes (every parameter, Adam's moments,
//! other GPU state such as a power iteration's vector, the optimisers' step counts and the
//! random streams' positions), read back in the background and restored onto any device.
//!
//! The page keeps one per model so that a lost GPU or a diverging run costs a few seconds of
//! training, not the session; `genlab train` keeps one so that a run that diverges still
//! writes the last weights that were good.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Readback, Tensor};

/// A model whose training can be copied to the CPU and carried on from the copy, on the same
/// device or on a new one.
pub trait Resumable {
    /// Training steps taken: the step a snapshot is of.
    fn steps_taken(&self) -> u32;
    /// The latest step whose figures passed the divergence guard: a snapshot of an earlier
    /// step is known to be good (see [`Keeper::poll`]).
    fn checked_through(&self) -> u32;
    /// Every GPU tensor training changes, each under a name unique in the model (parameters
    /// under their own names, as [`crate::nn::Param::state`] gives them).
    fn state_tensors(&self) -> Vec<(String, Tensor)>;
    /// The host's counters that training advances (optimiser steps, random streams'
    /// positions), in an order of the model's choosing.
    fn counters(&self) -> Vec<u64>;
    /// Sets the counters from a list [`Resumable::counters`] gave.
    fn resume_counters(&mut self, counters: &[u64]) -> Result<()>;
}

/// One tensor's name, the tensor it was read from, and its values.
struct Entry {
    name: String,
    tensor: Tensor,
    values: Vec<f32>,
}

/// A model's training state at one step, on the CPU.
pub struct Snapshot {
    step: u32,
    entries: Vec<Entry>,
    counters: Vec<u64>,
}

/// A snapshot whose readback is on its way.
pub struct PendingSnapshot {
    step: u32,
    tensors: Vec<(String, Tensor)>,
    counters: Vec<u64>,
    readback: Readback,
}

impl PendingSnapshot {
    /// Copies `model`'s state after every step recorded so far, in one readback submitted
    /// now; the values arrive whenever the GPU gets there.
    pub fn take(gpu: &Gpu, model: &(impl Resumable + ?Sized)) -> PendingSnapshot {
        let tensors = model.state_tensors();
        let readback = gpu.read_all_later(&tensors.iter().map(|(_, t)| t).collect::<Vec<_>>());
        gpu.submit();
        PendingSnapshot { step: model.steps_taken(), tensors, counters: model.counters(), readback }
    }

    /// The snapshot, once its values have arrived; `None` until then. Never waits.
    pub fn try_finish(&mut self) -> Option<Result<Snapshot>> {
        let values = self.readback.try_take()?;
        let tensors = std::mem::take(&mut self.tensors);
        Some(values.map(|values| split(self.step, tensors, std::mem::take(&mut self.counters), values)))
    }

    /// Waits for the snapshot.
    pub async fn finish(self) -> Result<Snapshot> {
        let PendingSnapshot { step, tensors, counters, readback } = self;
        Ok(split(step, tensors, counters, readback.wait().await?))
    }
}

/// Cuts the values read back end to end into one entry per tensor.
fn split(step: u32, tensors: Vec<(String, Tensor)>, counters: Vec<u64>, values: Vec<f32>) -> Snapshot {
    let mut rest = values.as_slice();
    let entries = tensors
        .into_iter()
        .map(|(name, tensor)| {
            let (values, tail) = rest.split_at(tensor.len().min(rest.len()));
            rest = tail;
            Entry { name, tensor, values: values.to_vec() }
        })
        .collect();
    Snapshot { step, entries, counters }
}

impl Snapshot {
    /// The training step it is of.
    pub fn step(&self) -> u32 {
        self.step
    }

    /// The first tensor holding a value that is not finite, if any: such a snapshot is of
    /// a run that had already diverged.
    pub fn first_non_finite(&self) -> Option<&str> {
        self.entries.iter().find(|e| e.values.iter().any(|v| !v.is_finite())).map(|e| e.name.as_str())
    }

    /// Overwrites `model`'s state with this snapshot's. Every name and shape is checked
    /// first: a model of another shape is refused and left as it was.
    pub fn restore(&self, gpu: &Gpu, model: &mut (impl Resumable + ?Sized)) -> Result<()> {
        let targets = model.state_tensors();
        if targets.len() != self.entries.len() {
            return Err(Error::Invalid(format!(
                "the checkpoint holds {} tensors and the model {}: it is of another model",
                self.entries.len(),
                targets.len()
            )));
        }
        let mut staged = Vec::with_capacity(targets.len());
        for (name, target) in &targets {
            let Some(entry) = self.entries.iter().find(|e| &e.name == name) else {
                return Err(Error::Invalid(format!("the checkpoint has no tensor {name:?}: it is of another model")));
            };
            if entry.tensor.shape() != target.shape() {
                return Err(Error::Invalid(format!(
                    "tensor {name:?} is {} in the checkpoint and {} in the model",
                    entry.tensor.shape(),
                    target.shape()
                )));
            }
            staged.push(Tensor::from_slice(gpu, target.shape().clone(), &entry.values)?);
        }
        for ((_, target), value) in targets.iter().zip(&staged) {
            gpu.copy(value, target)?;
        }
        gpu.submit();
        model.resume_counters(&self.counters)
    }

    /// The values `tensor` had, when it is one of the tensors this snapshot read (for
    /// writing a weights file when the GPU that held them is gone).
    pub fn values_of(&self, tensor: &Tensor) -> Option<&[f32]> {
        self.entries.iter().find(|e| e.tensor.same_buffer(tensor)).map(|e| e.values.as_slice())
    }
}

/// Keeps a model's latest snapshot, and the last one known to be good: one whose weights
/// went on to give figures that passed the divergence guard.
#[derive(Default)]
pub struct Keeper {
    pending: Option<PendingSnapshot>,
    /// The newest snapshot, not yet vouched for.
    candidate: Option<Snapshot>,
    good: Option<Snapshot>,
}

impl Keeper {
    pub fn new() -> Keeper {
        Keeper::default()
    }

    /// Whether a snapshot is on its way.
    pub fn is_taking(&self) -> bool {
        self.pending.is_some()
    }

    /// Starts a snapshot of `model` now, unless one is already on its way.
    pub fn take(&mut self, gpu: &Gpu, model: &(impl Resumable + ?Sized)) {
        if self.pending.is_none() {
            self.pending = Some(PendingSnapshot::take(gpu, model));
        }
    }

    /// Takes a snapshot of `model` and waits for it (the start of a run, a test).
    pub async fn take_now(&mut self, gpu: &Gpu, model: &(impl Resumable + ?Sized)) -> Result<()> {
        if let Some(pending) = self.pending.take() {
            self.accept(pending.finish().await?);
        }
        self.accept(PendingSnapshot::take(gpu, model).finish().await?);
        Ok(())
    }

    /// Collects a snapshot that has arrived, and vouches for the newest one once figures of a
    /// later step have passed the guard (`checked_through`: the latest such step). Never waits.
    pub fn poll(&mut self, checked_through: u32) -> Result<()> {
        if let Some(pending) = &mut self.pending {
            if let Some(snapshot) = pending.try_finish() {
                self.pending = None;
                self.accept(snapshot?);
            }
        }
        if self.candidate.as_ref().is_some_and(|c| checked_through > c.step) {
            self.good = self.candidate.take();
        }
        Ok(())
    }

    fn accept(&mut self, snapshot: Snapshot) {
        // A snapshot of weights that are already broken is no use to anyone.
        if snapshot.first_non_finite().is_none() {
            self.candidate = Some(snapshot);
        }
    }

    /// The newest snapshot (what a lost device falls back to).
    pub fn latest(&self) -> Option<&Snapshot> {
        self.candidate.as_ref().or(self.good.as_ref())
    }

    /// The last snapshot known to be good (what a diverged run falls back to).
    pub fn good(&self) -> Option<&Snapshot> {
        self.good.as_ref()
    }

    /// The newest snapshot, keeping nothing else (the models move to a new device).
    pub fn into_latest(self) -> Option<Snapshot> {
        self.candidate.or(self.good)
    }

    /// The last good snapshot, keeping nothing else (the models go back to it).
    pub fn into_good(self) -> Option<Snapshot> {
        self.good
    }
}
