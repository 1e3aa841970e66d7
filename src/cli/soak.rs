//! `genlab soak`: does a long run stay flat? Trains each model for many steps, as
//! `genlab train` does (snapshots every two seconds, the divergence guard on), and samples
//! the process's resident memory and what genlab holds on the device (pooled buffers,
//! readbacks) every `--every` steps. A leak grows with the steps; a run that is flat ends
//! where it stood after warming up. Figures, not a test: the README has them.
//!
//! The models are small (what leaks, leaks per step, whatever the width), so that ten
//! thousand steps of each take minutes on a software GPU.

use std::time::Instant;

use genlab::data::device::DeviceDataset;
use genlab::data::{moons, sprites, Dataset, MoonJitter};
use genlab::gpu::{Gpu, Holdings};
use genlab::models::gan::{Gan, GanConfig};
use genlab::models::pixel_rnn::{PixelRnn, PixelRnnConfig};
use genlab::models::vae::{Vae, VaeConfig};
use genlab::models::Model;
use genlab::{Error, Result};

use super::guard::{self, GuardArgs, Ran};

#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// Models to soak, comma-separated: vae, gan, pixelrnn.
    #[arg(long, value_delimiter = ',', default_values_t = vec!["vae".to_string(), "gan".into(), "pixelrnn".into()])]
    pub models: Vec<String>,
    /// Training steps per model.
    #[arg(long, default_value_t = 10_000)]
    pub steps: u32,
    /// Steps between two samples; the first sample (after warming up) is the baseline.
    #[arg(long, default_value_t = 1000)]
    pub every: u32,
}

/// One sample of a soaking run.
#[derive(Clone, Debug, serde::Serialize)]
struct Sample {
    step: u32,
    rss_mib: Option<f64>,
    #[serde(flatten)]
    device: Holdings,
}

#[derive(serde::Serialize)]
struct Report {
    model: String,
    steps: u32,
    seconds: f64,
    /// Resident memory growth from the first sample to the last, in percent.
    rss_growth_percent: Option<f64>,
    /// Pooled buffers in use at the last sample minus at the first.
    buffers_in_use_growth: i64,
    samples: Vec<Sample>,
}

fn rss_mib() -> Option<f64> {
    memory_stats::memory_stats().map(|m| m.physical_mem as f64 / (1 << 20) as f64)
}

pub fn run(gpu: &Gpu, args: SoakArgs) -> Result<()> {
    if args.every == 0 || args.every >= args.steps {
        return Err(Error::Invalid(format!(
            "--every {} must be at least 1 and below --steps {}: the soak compares samples taken along the run",
            args.every, args.steps
        )));
    }
    println!("adapter: {}", gpu.summary());
    println!(
        "{:<9} {:>7} {:>8} {:>11} {:>11} {:>8} {:>12}",
        "model", "steps", "seconds", "RSS first", "RSS last", "growth", "buffers Δ"
    );
    let mut reports = Vec::new();
    for model in &args.models {
        let report = soak(gpu, model, &args)?;
        let first = &report.samples[0];
        let last = &report.samples[report.samples.len() - 1];
        let mib = |s: &Sample| s.rss_mib.map_or("n/a".into(), |m| format!("{m:.1} MiB"));
        println!(
            "{:<9} {:>7} {:>8.1} {:>11} {:>11} {:>7} {:>12}",
            report.model,
            report.steps,
            report.seconds,
            mib(first),
            mib(last),
            report.rss_growth_percent.map_or("n/a".into(), |g| format!("{g:+.1}%")),
            report.buffers_in_use_growth,
        );
        reports.push(report);
    }
    super::print_json(&reports)
}

fn soak(gpu: &Gpu, model: &str, args: &SoakArgs) -> Result<Report> {
    let mut samples = Vec::new();
    let started = Instant::now();
    let every = args.every;
    let mut sample = |step: u32| {
        if step.is_multiple_of(every) {
            gpu.wait_idle();
            samples.push(Sample { step, rss_mib: rss_mib(), device: gpu.holdings() });
        }
    };
    let steps = args.steps;
    let ran = match model {
        "vae" => {
            let ds = moons(1000, 1, &MoonJitter::default())?;
            let config = VaeConfig { hidden: 64, latent: 4, batch: 32, ..VaeConfig::default() };
            train_sampled::<Vae>(gpu, config, &ds, steps, model, &mut sample)?
        }
        "gan" => {
            let ds = sprites(1000, 8, 1)?;
            let config = GanConfig { z_dim: 8, hidden: 64, batch: 32, d_conv_channels: 0, ..GanConfig::default() };
            train_sampled::<Gan>(gpu, config, &ds, steps, model, &mut sample)?
        }
        "pixelrnn" => {
            let ds = sprites(500, 8, 1)?;
            let config = PixelRnnConfig { hidden: 16, layers: 1, batch: 8, ..PixelRnnConfig::default() };
            train_sampled::<PixelRnn>(gpu, config, &ds, steps, model, &mut sample)?
        }
        other => return Err(Error::Invalid(format!("no model {other:?} to soak: choose from vae, gan, pixelrnn"))),
    };
    if let Some(stopped) = ran.stopped {
        return Err(stopped.error);
    }
    let (first, last) = (&samples[0], &samples[samples.len() - 1]);
    let rss_growth_percent = first.rss_mib.zip(last.rss_mib).map(|(a, b)| 100.0 * (b - a) / a);
    Ok(Report {
        model: model.to_string(),
        steps: args.steps,
        seconds: started.elapsed().as_secs_f64(),
        rss_growth_percent,
        buffers_in_use_growth: last.device.buffers_in_use as i64 - first.device.buffers_in_use as i64,
        samples,
    })
}

/// Trains a fresh model of `config` on `ds` for `steps` under the default guard, calling
/// `sample` with each step taken.
fn train_sampled<M: Model>(
    gpu: &Gpu,
    config: M::Config,
    ds: &Dataset,
    steps: u32,
    name: &str,
    sample: &mut impl FnMut(u32),
) -> Result<Ran> {
    let data = DeviceDataset::upload(gpu, ds)?;
    let mut net = M::for_dataset(gpu, config, ds)?;
    Ok(guard::train(gpu, &mut net, &data, steps, &GuardArgs::default(), name, |net, _| {
        sample(net.steps_taken());
        Ok(())
    }))
}
