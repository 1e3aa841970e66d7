//! `genlab info | selftest | bench matmul`.

mod bench;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use genlab::gpu::{block_on, Gpu};

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
}

pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
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
    };
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
