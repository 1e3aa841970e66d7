//! What every `genlab train` shares: the flags (the data, the steps, the seed, the model's
//! declared settings, where to write), a fresh model made for the data, the guarded run and
//! the weights it writes. A model's own command adds its pictures and figures in an
//! [`Extras`] impl; a model without one passes `()` and gets samples.png and the figures its
//! monitor names.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::path::Path;

use clap::Args;
use genlab::data::device::DeviceDataset;
use genlab::data::Dataset;
use genlab::gpu::{block_on, Gpu};
use genlab::models::model::{Config, Header, Model};
use genlab::models::{stream, Purpose};
use genlab::settings::Declared;
use genlab::Result;

use super::data::{create_dir, sheet_png, write, DataArgs};
use super::guard::{self, RunArgs, RunFigures};
use super::progress::Progress;
use super::settings::ModelFlags;

/// Samples in samples.png, eight to a row.
const SAMPLES: usize = 64;

// What every `genlab train` takes (a plain comment: clap would make a doc comment the about
// text of every command that flattens this).
#[derive(Args)]
pub struct TrainArgs<M: Model> {
    #[command(flatten)]
    pub data: DataArgs,
    /// Training steps.
    // (A `default_value_t` would be computed once for every model: clap keeps it in a
    // static, which a generic struct's instances share.)
    #[arg(long, default_value = M::TRAINING_STEPS.to_string())]
    pub steps: u32,
    /// Seed of the model's weights, minibatches and noise, and of its samples.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub model: ModelFlags<M::Config>,
    #[command(flatten)]
    pub run: RunArgs,
    #[arg(skip)]
    model_type: PhantomData<M>,
}

/// A model made for its run's data, and that data on the CPU and on the GPU.
pub struct Run<M> {
    pub model: M,
    pub dataset: Dataset,
    pub data: DeviceDataset,
}

impl<M: Model> TrainArgs<M> {
    /// The run's data and a fresh model of `config` (the flags' settings and whatever the
    /// model's own command adds) under the run's seed; a batch larger than the training
    /// split is refused before anything is written.
    pub fn start(&self, gpu: &Gpu, config: M::Config) -> Result<Run<M>> {
        let dataset = self.data.load()?;
        let data = DeviceDataset::upload(gpu, &dataset)?;
        genlab::models::check_batch(config.batch(), data.train.count)?;
        let model = M::for_dataset(gpu, config.with_seed(self.seed), &dataset)?;
        create_dir(&self.run.out)?;
        Ok(Run { model, dataset, data })
    }
}

impl<M: Model> Run<M> {
    /// Writes `SAMPLES` images the model draws from `seed`'s sampling stream to
    /// `args.run.out`/samples.png.
    pub fn write_samples(&self, gpu: &Gpu, args: &TrainArgs<M>) -> Result<()> {
        let header = self.model.header(&self.dataset, self.model.steps_taken());
        let pixels = block_on(self.model.draw(gpu, &header, stream(args.seed, Purpose::Sampling), SAMPLES))?;
        let (height, width, channels) = header.geometry();
        write(&args.run.out.join("samples.png"), &sheet_png(&pixels, height, width, channels, 8)?)
    }
}

/// What a model's own `genlab train` adds to the shared run: its flags' say in the config,
/// what it watches while training, the files and figures it makes of the trained model.
/// `()` adds nothing: a model without a command of its own gets the figures its monitor
/// names, its declared settings and samples.png.
pub trait Extras<M: Model> {
    /// What the JSON line adds to [`RunFigures`].
    type Figures: serde::Serialize;

    /// What the progress bar and the JSON line call the model.
    fn name(&self) -> &'static str {
        M::TAG
    }

    /// The config to train: the flags' settings with what the command's own flags change.
    /// Refusing one here is refusing it before any work.
    fn config(&self, flags: &M::Config) -> Result<M::Config> {
        Ok(flags.clone())
    }

    /// Before the first step, once the model is made.
    fn before(&mut self, _gpu: &Gpu, _run: &Run<M>) -> Result<()> {
        Ok(())
    }

    /// After each step: the progress bar's message, by default the latest figures.
    fn after_step(&mut self, _gpu: &Gpu, model: &M, progress: &Progress) -> Result<()> {
        if let Some(record) = model.monitor().latest() {
            let names = model.monitor().names;
            let figures: Vec<String> = names.iter().map(|&name| format!("{name} {:.3}", record.figure(name))).collect();
            progress.set_message(figures.join("  "));
        }
        Ok(())
    }

    /// Files written beside weights.safetensors, even when the run stopped early.
    fn save(&self, _gpu: &Gpu, _run: &Run<M>, _out: &Path) -> Result<()> {
        Ok(())
    }

    /// The pictures and figures of a run that finished.
    fn finish(self, gpu: &Gpu, run: &Run<M>, args: &TrainArgs<M>) -> Result<Self::Figures>;
}

/// The figures of a model without a command of its own.
#[derive(serde::Serialize)]
pub struct MonitorFigures {
    /// Each figure the model reports, averaged over its last 10 readings.
    #[serde(flatten)]
    figures: BTreeMap<&'static str, Option<f32>>,
    /// Each declared setting, written as a link writes it.
    settings: BTreeMap<&'static str, String>,
}

impl<M: Model> Extras<M> for () {
    type Figures = MonitorFigures;

    fn finish(self, gpu: &Gpu, run: &Run<M>, args: &TrainArgs<M>) -> Result<MonitorFigures> {
        run.write_samples(gpu, args)?;
        let monitor = run.model.monitor();
        let config = &args.model.config;
        Ok(MonitorFigures {
            figures: monitor.names.iter().map(|&name| (name, monitor.recent_mean(name, 10))).collect(),
            settings: M::Config::SETTINGS.iter().map(|s| (s.key, s.text(config))).collect(),
        })
    }
}

/// What `genlab train` prints last, as one JSON line.
#[derive(serde::Serialize)]
pub struct Summary<F> {
    #[serde(flatten)]
    run: RunFigures,
    #[serde(flatten)]
    figures: F,
    adapter: String,
}

/// `genlab train <model>`: trains a fresh model for the run's data under the divergence
/// guard, writes weights.safetensors (a run that diverged writes its last good weights, and
/// fails), then what `extras` makes of it, and prints the figures as one JSON line.
pub fn train<M: Model, E: Extras<M>>(gpu: &Gpu, args: &TrainArgs<M>, extras: E) -> Result<()> {
    super::print_json(&trained(gpu, args, extras)?)
}

fn trained<M: Model, E: Extras<M>>(gpu: &Gpu, args: &TrainArgs<M>, mut extras: E) -> Result<Summary<E::Figures>> {
    let config = extras.config(&args.model.config)?;
    let mut run = args.start(gpu, config)?;
    extras.before(gpu, &run)?;
    let name = extras.name();
    let ran = guard::train(gpu, &mut run.model, &run.data, args.steps, &args.run.guard, name, |model, progress| {
        extras.after_step(gpu, model, progress)
    });
    let weights = guard::write_weights(gpu, &run.model, &run.dataset, &args.run.out)?;
    extras.save(gpu, &run, &args.run.out)?;
    let seconds = ran.verdict(&weights)?;
    Ok(Summary {
        run: RunFigures::new(name, &run.model, &run.dataset, args.steps, seconds),
        figures: extras.finish(gpu, &run, args)?,
        adapter: gpu.summary().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use genlab::models::gan::Gan;
    use genlab::models::pixel_rnn::PixelRnn;
    use genlab::models::vae::Vae;

    use super::*;

    #[derive(Parser)]
    struct Command<M: Model> {
        #[command(flatten)]
        args: TrainArgs<M>,
    }

    /// Runs the shared command on `model`'s flags with a small dataset into a fresh folder,
    /// and checks what it wrote: weights that load back at the steps taken, a samples
    /// sheet, a finite value of every figure the monitor names, and the settings given.
    fn check<M: Model>(flags: &[&str]) {
        let defaults = Command::<M>::try_parse_from(["train", "--out", "unused"]).expect("flags parse");
        assert_eq!(defaults.args.steps, M::TRAINING_STEPS, "{}'s own default steps", M::NAME);
        let gpu = block_on(Gpu::new()).expect("a GPU adapter (lavapipe in CI)");
        let out = std::env::temp_dir().join(format!("genlab-train-{}-{}", M::TAG, std::process::id()));
        let out_flag = out.to_str().unwrap();
        let argv = ["train", "--steps", "20", "--count", "200", "--size", "8", "--hidden", "12", "--out", out_flag];
        let command = Command::<M>::try_parse_from(argv.iter().chain(flags)).expect("flags parse");
        let summary = trained(&gpu, &command.args, ()).expect("the run trains");
        assert!(!summary.figures.figures.is_empty());
        for (name, value) in &summary.figures.figures {
            assert!(value.is_some_and(f32::is_finite), "{} figure {name}: {value:?}", M::NAME);
        }
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!((json["model"].as_str(), json["steps"].as_u64()), (Some(M::TAG), Some(20)), "{json}");
        assert_eq!(json["settings"]["hidden"], "12", "{json}");
        let (_, header) = M::load(&gpu, &std::fs::read(out.join("weights.safetensors")).unwrap()).unwrap();
        assert_eq!(header.steps(), 20);
        let png = std::fs::read(out.join("samples.png")).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "samples.png is a PNG");
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn every_model_trains_through_the_shared_command() {
        check::<Vae>(&["--data", "moons", "--latent", "2", "--batch", "16"]);
        check::<Gan>(&["--z", "4", "--batch", "16", "--d-conv", "0"]);
        check::<PixelRnn>(&["--layers", "1", "--batch", "4"]);
    }
}
