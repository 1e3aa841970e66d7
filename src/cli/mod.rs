//! `genlab info | selftest | bench | soak | dataset | train | eval | sample`.

mod bench;
mod data;
mod gan;
mod guard;
mod pixel_rnn;
mod progress;
mod sample;
mod settings;
mod soak;
mod train;
mod vae;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use genlab::gpu::{block_on, Gpu};
use genlab::models::gan::Gan;
use genlab::models::vae::Vae;
use sample::SampleArgs;

#[derive(Parser)]
#[command(name = "genlab", version, about = "Generative models on hand-written WGSL kernels")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the GPU adapter genlab would use.
    Info,
    /// Run every kernel against its CPU twin and print a table.
    Selftest {
        /// The quick suite the page runs, instead of the full one.
        #[arg(long)]
        small: bool,
    },
    /// Benchmarks (figures, not tests).
    Bench {
        #[command(subcommand)]
        what: bench::Bench,
    },
    /// Train each model for many steps and watch memory: resident memory and what genlab
    /// holds on the GPU, sampled along the run (figures, not a test).
    Soak(soak::SoakArgs),
    /// Make a dataset and write sheet.png (a contact sheet) and data.safetensors.
    Dataset(data::DatasetCommand),
    /// Train a model; writes weights, pictures, and one JSON line of figures last.
    Train {
        #[command(subcommand)]
        model: Train,
    },
    /// Measure saved weights on a dataset's held-out split; one JSON line of figures.
    Eval {
        #[command(subcommand)]
        model: Eval,
    },
    /// Draw samples from saved weights into a safetensors file.
    Sample {
        #[command(subcommand)]
        model: Sample,
    },
}

#[derive(Subcommand)]
enum Train {
    /// The variational autoencoder (or, with --ae, the plain autoencoder).
    Vae(vae::TrainVae),
    /// The generative adversarial network (MLP generator and discriminator).
    Gan(gan::TrainGan),
    /// The PixelRNN: an LSTM that paints sprites pixel by pixel in a palette.
    #[command(name = "pixelrnn")]
    PixelRnn(pixel_rnn::TrainPixelRnn),
}

#[derive(Subcommand)]
enum Eval {
    /// A VAE's or autoencoder's −ELBO, IW −log p(x) and, on moons, manifold distances.
    Vae(vae::EvalVae),
}

#[derive(Subcommand)]
enum Sample {
    /// Images decoded from codes drawn from the prior N(0, I).
    Vae(SampleArgs),
    /// Images the generator makes from fresh noise.
    Gan(SampleArgs),
    /// New sprites, or completions of a dataset's held-out sprites (--complete).
    #[command(name = "pixelrnn")]
    PixelRnn(pixel_rnn::SamplePixelRnn),
}

pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    // Making a dataset needs no GPU.
    if let Command::Dataset(cmd) = cli.command {
        return report(data::dataset(cmd));
    }
    let gpu = match block_on(Gpu::new()) {
        Ok(gpu) => gpu,
        Err(e) => {
            eprintln!("genlab: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Info => {
            println!("{}", gpu.summary());
            Ok(())
        }
        Command::Selftest { small } => selftest(&gpu, small),
        Command::Bench { what } => bench::run(&gpu, what),
        Command::Soak(args) => soak::run(&gpu, args),
        Command::Dataset(_) => unreachable!("handled above"),
        Command::Train { model: Train::Vae(args) } => train::train(&gpu, &args.common, &args),
        Command::Eval { model: Eval::Vae(args) } => vae::eval(&gpu, args),
        Command::Sample { model: Sample::Vae(args) } => sample::sample::<Vae>(&gpu, args),
        Command::Train { model: Train::Gan(args) } => gan::train(&gpu, &args),
        Command::Sample { model: Sample::Gan(args) } => sample::sample::<Gan>(&gpu, args),
        Command::Train { model: Train::PixelRnn(args) } => train::train(&gpu, &args.common, &args),
        Command::Sample { model: Sample::PixelRnn(args) } => pixel_rnn::sample(&gpu, args),
    };
    report(result)
}

fn report(result: genlab::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("genlab: {e}");
            ExitCode::FAILURE
        }
    }
}

fn selftest(gpu: &Gpu, small: bool) -> genlab::Result<()> {
    println!("adapter: {}", gpu.summary());
    let mut failed = 0;
    for case in genlab::selftest::all_cases(small) {
        let check = block_on(case.run(gpu))?;
        failed += !check.passed as usize;
        println!("{check}");
    }
    if failed > 0 {
        return Err(genlab::Error::Invalid(format!("{failed} kernel checks failed")));
    }
    Ok(())
}

/// Prints `figures` as one JSON line on stdout: what a command that measures ends with.
pub fn print_json(figures: &impl serde::Serialize) -> genlab::Result<()> {
    println!("{}", serde_json::to_string(figures).map_err(|e| genlab::Error::Invalid(e.to_string()))?);
    Ok(())
}
