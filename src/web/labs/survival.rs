//! What the labs survive: a lost GPU device and a diverging run.
//!
//! Every few seconds of training each lab snapshots its models (every parameter, Adam's
//! moments, the step counters) in the background: one readback recorded after the frame's
//! steps, collected whenever it lands, never waited for. When the device is lost (a driver
//! reset, a GPU-process crash), the first lab to notice asks for a new one and every lab
//! moves onto it: views, dataset and models are made again, the models restored from their
//! latest snapshot, and training carries on if it was running. When the divergence guard
//! stops a run, the models go back to their last snapshot known to be good. Exports work
//! throughout: while there is no device they are written from the snapshot.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::controls::{show_running, show_steps, status};
use super::{rebuild, LiveLab};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::checkpoint::Source;
use crate::nn::snapshot::{Keeper, Snapshot};
use crate::web::canvas::Display;
use crate::web::dom;

/// Training time between two snapshots: a lost device costs at most about this much.
const CHECKPOINT_MS: f64 = 3000.0;
/// With training stopped, a checkpoint that is behind is taken after this long (at once,
/// but not every frame should a snapshot be refused, as one of weights that are not finite is).
const PAUSED_CHECKPOINT_MS: f64 = 1000.0;
/// Wait before asking again for a device when none was to be had.
const RETRY_MS: f64 = 5000.0;

/// The page's device, shared by every lab and the Kernels tab. When it is lost, the first
/// lab to notice gets a new one; the others find it newer than theirs and move onto it.
pub struct Devices {
    current: RefCell<(Gpu, Rc<Display>)>,
    /// How many devices came before the current one.
    generation: Cell<u32>,
    /// A new device is being asked for.
    asking: Cell<bool>,
    /// When the last request failed, and why.
    failed: RefCell<Option<(f64, String)>>,
}

impl Devices {
    pub fn new(gpu: Gpu) -> Rc<Devices> {
        let display = Display::new(&gpu);
        Rc::new(Devices {
            current: RefCell::new((gpu, display)),
            generation: Cell::new(0),
            asking: Cell::new(false),
            failed: RefCell::new(None),
        })
    }

    /// The device in use now, its display pipeline, and its generation.
    pub fn current(&self) -> (Gpu, Rc<Display>, u32) {
        let (gpu, display) = self.current.borrow().clone();
        (gpu, display, self.generation.get())
    }

    pub fn gpu(&self) -> Gpu {
        self.current.borrow().0.clone()
    }

    /// Asks for a new device in place of a lost one, unless another lab already is, or the
    /// last request failed less than [`RETRY_MS`] ago. Err: why there is none yet.
    async fn replace(&self) -> std::result::Result<(), String> {
        if self.asking.get() {
            return Err("waiting for a new device".into());
        }
        if let Some((at, why)) = &*self.failed.borrow() {
            if dom::now() - at < RETRY_MS {
                return Err(why.clone());
            }
        }
        self.asking.set(true);
        let result = Gpu::new().await;
        self.asking.set(false);
        match result {
            Ok(gpu) => {
                let display = Display::new(&gpu);
                crate::web::shell::show_adapter(&gpu.summary().to_string());
                *self.current.borrow_mut() = (gpu, display);
                self.generation.set(self.generation.get() + 1);
                *self.failed.borrow_mut() = None;
                Ok(())
            }
            Err(e) => {
                let why = e.to_string();
                *self.failed.borrow_mut() = Some((dom::now(), why.clone()));
                Err(why)
            }
        }
    }
}

/// What a lab knew when its device was lost.
pub struct Lost {
    why: String,
    /// Steps shown when the loss was noticed.
    steps: u32,
    /// Steps the first model had before this page trained it (an imported model's).
    offset: u32,
    was_running: bool,
}

impl Lost {
    /// What the lab knows now, as its device is found lost for `why`.
    fn now<L: LiveLab>(lab: &mut L, why: String) -> Lost {
        let (steps, offset) = (lab.steps().unwrap_or(0), offset(lab));
        let core = lab.core_mut();
        // A frame that failed on the loss (a readback, before `device.lost` said so) stopped
        // the runner: it was running all the same.
        let was_running = core.runner.running || std::mem::take(&mut core.interrupted);
        Lost { why, steps, offset, was_running }
    }
}

/// Each model's snapshots, in the lab's model order.
#[derive(Default)]
pub struct Checkpoints {
    keepers: Vec<Keeper>,
    /// When the last snapshot was started.
    last: f64,
}

impl Checkpoints {
    /// Forgets every snapshot (new models), and takes the next one at once.
    pub fn reset(&mut self) {
        self.keepers.clear();
        self.last = f64::NEG_INFINITY;
    }

    /// The newest snapshot of model `i`.
    pub fn latest(&self, i: usize) -> Option<&Snapshot> {
        self.keepers.get(i)?.latest()
    }

    /// Where an export of model `i` reads from: the GPU, or while the device is lost, the
    /// newest snapshot, with its step.
    pub fn source<'a>(&'a self, gpu: &'a Gpu, i: usize) -> Result<(Source<'a>, Option<u32>)> {
        if gpu.lost().is_none() {
            return Ok((Source::Gpu(gpu), None));
        }
        match self.latest(i) {
            Some(snapshot) => Ok((Source::Snapshot(snapshot), Some(snapshot.step()))),
            None => Err(Error::Invalid(
                "the GPU was lost before the first checkpoint of this model: there is nothing to export".into(),
            )),
        }
    }
}

/// Steps the lab's first model had taken before this page trained it (an imported model's):
/// snapshots count the model's own steps, the page shows both.
fn offset<L: LiveLab>(lab: &L) -> u32 {
    let steps = lab.steps().unwrap_or(0);
    steps - lab.nets().first().map_or(0, |n| n.steps_taken()).min(steps)
}

/// Collects snapshots that have landed, and starts the next ones when they are due: every
/// [`CHECKPOINT_MS`] of training, at once for new models, and once more when training stops
/// (so that a pause keeps every step taken).
pub(super) fn tick<L: LiveLab>(lab: &mut L) -> Result<()> {
    let (checked, steps): (Vec<u32>, Vec<u32>) =
        lab.nets().iter().map(|n| (n.checked_through(), n.steps_taken())).unzip();
    let offset = offset(lab);
    let gpu = lab.core().ctx.gpu.clone();
    let nets = steps.len();
    let running = lab.core().runner.running;
    let core = lab.core_mut();
    let checkpoints = &mut core.checkpoints;
    checkpoints.keepers.resize_with(nets, Keeper::new);
    for (keeper, &checked) in checkpoints.keepers.iter_mut().zip(&checked) {
        keeper.poll(checked)?;
    }
    // The step a lost device would take the lab back to, as shown (for the page tests):
    // the oldest of its models' newest checkpoints (the VAE lab's two models finish theirs
    // one after the other, a frame or more apart when a step goes in slices).
    let newest = (0..nets).map(|i| checkpoints.latest(i).map(|s| s.step())).min().flatten();
    if let (Some(step), Ok(el)) = (newest, dom::by_id(&format!("lab-{}", L::LAB.name()))) {
        let _ = el.set_attribute("data-checkpoint", &(offset + step).to_string());
    }
    let checkpoints = &mut lab.core_mut().checkpoints;
    let now = dom::now();
    // A model whose newest checkpoint is older than its steps (or that has none).
    let behind = checkpoints.keepers.iter().zip(&steps).any(|(k, &s)| k.latest().is_none_or(|c| c.step() != s));
    let wait = if running { CHECKPOINT_MS } else { PAUSED_CHECKPOINT_MS };
    let due = behind && now - checkpoints.last >= wait;
    if due && !checkpoints.keepers.iter().any(Keeper::is_taking) {
        checkpoints.last = now;
        let mut keepers = std::mem::take(&mut checkpoints.keepers);
        // While a step's slices wait, the snapshot's copies wait behind them as one more
        // slice (a plain submit would send the whole step at once, and freeze a frame).
        let behind_slices = gpu.slices_waiting() > 0;
        if behind_slices {
            gpu.slice_submits(Some(f64::INFINITY));
        }
        for (keeper, net) in keepers.iter_mut().zip(lab.nets()) {
            keeper.take(&gpu, net);
        }
        if behind_slices {
            gpu.slice_submits(None);
        }
        lab.core_mut().checkpoints.keepers = keepers;
    }
    Ok(())
}

/// Makes sure the lab has a live device. Once its device is lost it stops training, asks
/// for a new one (or waits for the lab that asked), and moves onto it: views, dataset and
/// models made again, the models restored from their newest snapshots. Returns whether the
/// lab has a device to work with this frame.
pub(super) async fn ensure_device<L: LiveLab>(lab: &mut L) -> bool {
    let devices = lab.core().ctx.devices.clone();
    if devices.generation.get() == lab.core().ctx.generation {
        let Some(why) = lab.core().ctx.gpu.lost() else { return true };
        if lab.core().lost.is_none() {
            let lost = Lost::now(lab, why);
            let core = lab.core_mut();
            core.lost = Some(lost);
            core.runner.stop();
            show_running(L::LAB, false, false);
            status(
                L::LAB,
                "The GPU device was lost: getting a new one… (exports still work, from the last checkpoint)",
                true,
            );
        }
        if let Err(why) = devices.replace().await {
            if devices.generation.get() == lab.core().ctx.generation {
                status(
                    L::LAB,
                    &format!(
                        "The GPU device was lost and there is no new one yet ({why}); trying again every few \
                         seconds. Exports still work, from the last checkpoint."
                    ),
                    true,
                );
                return false;
            }
        }
    }
    if let Err(e) = move_to_new_device(lab) {
        status(
            L::LAB,
            &format!("The GPU device was lost, and the models could not be restored on the new one: {e}"),
            true,
        );
    }
    true
}

/// Restores each of the lab's models from its snapshot, where it has one; returns the
/// earliest step restored (None: nothing was).
fn restore<L: LiveLab>(lab: &mut L, gpu: &Gpu, snapshots: &[Option<Snapshot>]) -> Result<Option<u32>> {
    let mut restored: Option<u32> = None;
    for (net, snapshot) in lab.nets_mut().into_iter().zip(snapshots) {
        if let Some(snapshot) = snapshot {
            snapshot.restore(gpu, net)?;
            restored = Some(restored.map_or(snapshot.step(), |r| r.min(snapshot.step())));
        }
    }
    Ok(restored)
}

/// Moves the lab onto the current device and restores its models from their newest snapshots.
fn move_to_new_device<L: LiveLab>(lab: &mut L) -> Result<()> {
    let (gpu, display, generation) = lab.core().ctx.devices.current();
    let lost = match lab.core_mut().lost.take() {
        Some(lost) => lost,
        // Another lab noticed first: this one's device went with it.
        None => {
            let why = lab.core().ctx.gpu.lost().unwrap_or_else(|| "replaced".into());
            Lost::now(lab, why)
        }
    };
    let snapshots: Vec<Option<Snapshot>> = std::mem::take(&mut lab.core_mut().checkpoints.keepers)
        .into_iter()
        .map(|keeper| keeper.into_latest())
        .collect();
    let core = lab.core_mut();
    (core.ctx.gpu, core.ctx.display, core.ctx.generation) = (gpu.clone(), display, generation);
    core.checkpoints.reset();
    lab.remake_views()?;
    rebuild(lab, false);
    let restored = restore(lab, &gpu, &snapshots)?;
    let from = restored.map_or(0, |step| lost.offset + step);
    lab.restored(if restored.is_some() { lost.offset } else { 0 });
    lab.core_mut().recoveries += 1;
    if let Ok(el) = dom::by_id(&format!("lab-{}", L::LAB.name())) {
        let _ = el.set_attribute("data-recoveries", &lab.core().recoveries.to_string());
        let _ = el.set_attribute("data-recovered-step", &from.to_string());
    }
    let lost_steps = lost.steps.saturating_sub(from);
    let carry_on = if lost.was_running { " Training on." } else { "" };
    let what = match restored {
        Some(_) => {
            let plural = if lost_steps == 1 { "" } else { "s" };
            format!("restored from the checkpoint of step {from}: {lost_steps} step{plural} lost.")
        }
        None => "no checkpoint had been taken yet: the models start again from step 0.".to_string(),
    };
    status(L::LAB, &format!("The GPU device was lost ({}). On a new device, {what}{carry_on}", lost.why), false);
    let runner = &mut lab.core_mut().runner;
    runner.forget_rate();
    if lost.was_running {
        runner.start(None);
    }
    show_running(L::LAB, lost.was_running, lab.can_train());
    show_steps(L::LAB, lab.steps().unwrap_or(0), None, lost.was_running);
    Ok(())
}

/// The guard stopped training: every model goes back to its last snapshot known to be
/// good. Returns what the status line says.
pub(super) fn after_divergence<L: LiveLab>(lab: &mut L, error: &Error) -> String {
    let gpu = lab.core().ctx.gpu.clone();
    let offset = offset(lab);
    let goods: Vec<Option<Snapshot>> =
        std::mem::take(&mut lab.core_mut().checkpoints.keepers).into_iter().map(Keeper::into_good).collect();
    let restored = match restore(lab, &gpu, &goods) {
        Ok(restored) => restored,
        Err(e) => return format!("{error}. Restoring the last good checkpoint failed too: {e}"),
    };
    lab.core_mut().checkpoints.reset();
    let Some(step) = restored else { return format!("{error}. No checkpoint had been taken yet: press Reset.") };
    lab.restored(offset);
    show_steps(L::LAB, lab.steps().unwrap_or(0), None, false);
    format!(
        "{error}. Back to the last good checkpoint, step {}: lower the learning rate and press Train.",
        offset + step
    )
}
