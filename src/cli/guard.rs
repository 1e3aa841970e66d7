//! The training loop every `genlab train` shares, with the divergence guard: snapshots of
//! the model taken in the background, and a run that diverges stops with the last good one
//! restored, so that the weights it writes are finite and from before the divergence.

use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use genlab::data::device::DeviceDataset;
use genlab::data::Dataset;
use genlab::gpu::{block_on, Gpu};
use genlab::models::model::Model;
use genlab::models::monitor::DIVERGENCE_FACTOR;
use genlab::nn::snapshot::Keeper;
use genlab::{Error, Result};

use super::progress::Progress;

/// Wall time between two snapshots: a diverged run loses at most about this much training.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(2);

// What every `genlab train` takes about divergence (a plain comment: clap would make a doc
// comment the about text of every command that flattens this).
#[derive(clap::Args, Debug, Default)]
pub struct GuardArgs {
    /// Train on when a loss leaps past 100× its recent median (a loss that is not a
    /// number stops the run all the same: nothing trains on from NaN).
    #[arg(long)]
    pub allow_divergence: bool,
}

// What every `genlab train` takes besides its model's settings and its length.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Folder for the weights, the pictures and the figures.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub guard: GuardArgs,
}

/// How a guarded run ended early: why, and the step of the weights it kept.
pub struct Stopped {
    pub error: Error,
    pub kept_step: Option<u32>,
}

impl Stopped {
    /// The error to report once the kept weights are written to `path`.
    pub fn explain(self, path: &std::path::Path) -> Error {
        match (&self.error, self.kept_step) {
            (Error::Diverged { .. }, Some(step)) => Error::Invalid(format!(
                "{}. Stopped; {} holds the weights of step {step}, the last ones known to be good \
                 (--allow-divergence trains on past a loss that leaps over {DIVERGENCE_FACTOR}× its median)",
                self.error,
                path.display()
            )),
            _ => self.error,
        }
    }
}

/// What every `genlab train` reports first: the model, its data, its steps and their pace.
#[derive(serde::Serialize)]
pub struct RunFigures {
    model: &'static str,
    data: String,
    steps: u32,
    steps_per_sec: f64,
}

impl RunFigures {
    /// `model`, called `name`, trained on `dataset`, the last `steps` of its steps in `seconds`.
    pub fn new(name: &'static str, model: &impl Model, dataset: &Dataset, steps: u32, seconds: f64) -> RunFigures {
        RunFigures {
            model: name,
            data: dataset.kind.to_string(),
            steps: model.steps_taken(),
            steps_per_sec: steps as f64 / seconds,
        }
    }
}

/// How a guarded run went: how long it trained, and what stopped it early, if anything.
pub struct Ran {
    seconds: f64,
    pub stopped: Option<Stopped>,
}

impl Ran {
    /// The run's training time, once the weights it kept are at `weights`; a run stopped
    /// early is an error that says which weights those are.
    pub fn verdict(self, weights: &Path) -> Result<f64> {
        match self.stopped {
            Some(stopped) => Err(stopped.explain(weights)),
            None => Ok(self.seconds),
        }
    }
}

/// Trains `model` for `steps` steps on `data` with a progress bar named `name`, calling
/// `after_step` after each, and checks each figure as it arrives. On divergence the last
/// good snapshot is restored into `model` and the run stops; any other error stops it as it
/// is. Returns once the GPU has finished.
pub fn train<M: Model>(
    gpu: &Gpu,
    model: &mut M,
    data: &DeviceDataset,
    steps: u32,
    args: &GuardArgs,
    name: &str,
    after_step: impl FnMut(&M, &Progress) -> Result<()>,
) -> Ran {
    let progress = Progress::new(steps as u64, name);
    let started = Instant::now();
    let stopped = guarded(gpu, model, data, steps, args, &progress, after_step).err();
    gpu.submit();
    gpu.wait_idle();
    progress.finish();
    Ran { seconds: started.elapsed().as_secs_f64(), stopped }
}

fn guarded<M: Model>(
    gpu: &Gpu,
    model: &mut M,
    data: &DeviceDataset,
    steps: u32,
    args: &GuardArgs,
    progress: &Progress,
    mut after_step: impl FnMut(&M, &Progress) -> Result<()>,
) -> std::result::Result<(), Stopped> {
    model.monitor_mut().guard = !args.allow_divergence;
    let mut keeper = Keeper::new();
    let stopped = |error| Stopped { error, kept_step: None };
    // The weights the run starts from are the first good state.
    block_on(keeper.take_now(gpu, model)).map_err(stopped)?;
    let mut last = Instant::now();
    let mut run = |model: &mut M, keeper: &mut Keeper| -> Result<()> {
        for _ in 0..steps {
            model.train_step(gpu, data)?;
            after_step(model, progress)?;
            keeper.poll(model.checked_through())?;
            if last.elapsed() >= SNAPSHOT_EVERY && !keeper.is_taking() {
                keeper.take(gpu, model);
                last = Instant::now();
            }
            progress.inc();
        }
        block_on(model.monitor_mut().flush())
    };
    match run(model, &mut keeper) {
        Ok(()) => Ok(()),
        Err(error @ Error::Diverged { .. }) => {
            let Some(good) = keeper.good() else { return Err(stopped(error)) };
            match good.restore(gpu, model) {
                Ok(()) => Err(Stopped { error, kept_step: Some(good.step()) }),
                Err(e) => Err(stopped(e)),
            }
        }
        Err(error) => Err(stopped(error)),
    }
}

/// Writes `model`'s weights, as trained on `dataset`, to `out`/weights.safetensors, and
/// returns that path. A run that diverged writes them all the same: the last good ones.
pub fn write_weights<M: Model>(gpu: &Gpu, model: &M, dataset: &Dataset, out: &Path) -> Result<PathBuf> {
    let header = model.header(dataset, model.steps_taken());
    let path = out.join("weights.safetensors");
    super::data::write(&path, &block_on(model.save(gpu.into(), &header))?)?;
    Ok(path)
}
