//! `genlab bench matmul | vae | step`: GFLOP/s of the matmul (the adapter's path), milliseconds per VAE
//! training step, and the in-browser peers' cases (`genlab::bench`) with the JSON the page
//! writes, as tables and as JSON. Figures, not tests: machines are noisy.

use std::time::Instant;

use clap::Subcommand;
use genlab::gpu::Gpu;
use genlab::kernels::matmul::{self, Epilogue, Transpose};
use genlab::selftest::test_data;
use genlab::{Result, Tensor};

#[derive(Subcommand)]
pub enum Bench {
    /// Square matmuls of several sizes.
    Matmul {
        /// Sizes N of the N×N×N products.
        #[arg(long, value_delimiter = ',', default_values_t = vec![256, 512, 1024, 2048])]
        sizes: Vec<usize>,
        /// Timed repetitions per size (after one warm-up), submitted together.
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
    /// One VAE training step (forward, backward, Adam; one submission), the case the
    /// in-browser peers are compared on: MLP 784-400-20, batch 64.
    Vae {
        #[arg(long, default_value_t = 400)]
        hidden: usize,
        #[arg(long, default_value_t = 20)]
        latent: usize,
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Timed steps (after 3 warm-up steps).
        #[arg(long, default_value_t = 20)]
        steps: u32,
    },
    /// The cases the page's `?bench=` runs, beside jax-js and TF.js (bench/compare): one
    /// warm-up step, then each step timed alone until its loss is on the CPU.
    Step {
        /// Cases, comma-separated: vae (vae_step), gan, lstm, matmul_N.
        #[arg(default_value = "vae,gan,lstm,matmul_1024")]
        cases: String,
        /// Timed steps per case.
        #[arg(long, default_value_t = 5)]
        steps: u32,
        /// Instead of timing, say where one step's GPU time goes: per kernel family (GPU
        /// timestamps where the adapter has them, else each command run alone), plus
        /// launches and CPU recording time.
        #[arg(long)]
        profile: bool,
    },
}

#[derive(serde::Serialize)]
struct Row {
    n: usize,
    reps: usize,
    ms_per_matmul: f64,
    gflops: f64,
}

pub fn run(gpu: &Gpu, bench: Bench) -> Result<()> {
    match bench {
        Bench::Matmul { sizes, reps } => matmul(gpu, &sizes, reps.max(1)),
        Bench::Vae { hidden, latent, batch, steps } => vae(gpu, hidden, latent, batch, steps.max(1)),
        Bench::Step { cases, steps, profile } => step(gpu, &cases, steps, profile),
    }
}

fn step(gpu: &Gpu, cases: &str, steps: u32, profile: bool) -> Result<()> {
    let cases = genlab::bench::parse_cases(cases)?;
    println!("adapter: {}", gpu.summary());
    println!("matrix products: the {} kernel", genlab::kernels::matmul::MatmulPath::for_adapter(gpu).name());
    if profile {
        let mut profiles = Vec::new();
        for case in cases {
            let profile = genlab::gpu::block_on(genlab::bench::profile(gpu, case))?;
            println!("{}", profile.table());
            profiles.push(profile);
        }
        println!("{}", serde_json::json!({ "adapter": gpu.summary().to_string(), "profiles": profiles }));
        return Ok(());
    }
    let report = genlab::gpu::block_on(genlab::bench::run(gpu, &cases, steps));
    println!(
        "{:<12} {:>10} {:>10} {:>10} {:>9} {:>12} {:>12}",
        "case", "median ms", "min ms", "max ms", "launches", "loss before", "loss after"
    );
    for outcome in &report.cases {
        match outcome {
            genlab::bench::Outcome::Timed(t) => println!(
                "{:<12} {:>10.2} {:>10.2} {:>10.2} {:>9} {:>12} {:>12}",
                t.case,
                t.median_ms,
                t.min_ms,
                t.max_ms,
                t.launches_per_step,
                t.loss_before.map_or("-".into(), |l| format!("{l:.4}")),
                t.loss_after.map_or("-".into(), |l| format!("{l:.4}")),
            ),
            genlab::bench::Outcome::Failed { case, error } => println!("{case:<12} failed: {error}"),
        }
    }
    super::print_json(&report)?;
    if report.cases.iter().any(|o| matches!(o, genlab::bench::Outcome::Failed { .. })) {
        return Err(genlab::Error::Invalid("a benchmark case failed (see above)".into()));
    }
    Ok(())
}

fn vae(gpu: &Gpu, hidden: usize, latent: usize, batch: usize, steps: u32) -> Result<()> {
    use genlab::data::device::DeviceDataset;
    use genlab::models::vae::{Vae, VaeConfig};
    println!("adapter: {}", gpu.summary());
    // 28×28 moons stand in for MNIST: the same 784 inputs.
    let dataset = genlab::data::moons((batch * 4).max(64), 1, &genlab::data::MoonJitter::default())?;
    let data = DeviceDataset::upload(gpu, &dataset)?;
    let config = VaeConfig { hidden, latent, batch, ..VaeConfig::default() };
    let mut model = Vae::new(gpu, config, dataset.image_len())?;
    model.monitor.set_every(u32::MAX);
    for _ in 0..3 {
        model.train_step(gpu, &data)?;
    }
    gpu.wait_idle();
    let submissions = gpu.submissions();
    let start = Instant::now();
    for _ in 0..steps {
        model.train_step(gpu, &data)?;
    }
    gpu.wait_idle();
    let ms = start.elapsed().as_secs_f64() * 1e3 / steps as f64;
    let per_step = (gpu.submissions() - submissions) as f64 / steps as f64;
    println!(
        "VAE {}-{hidden}-{latent}, batch {batch}: {ms:.2} ms/step, {per_step} submission(s)/step",
        dataset.image_len()
    );
    let json = serde_json::json!({
        "bench": "vae_step",
        "adapter": gpu.summary(),
        "hidden": hidden, "latent": latent, "batch": batch, "steps": steps,
        "ms_per_step": ms,
        "submissions_per_step": per_step,
    });
    println!("{json}");
    Ok(())
}

fn matmul(gpu: &Gpu, sizes: &[usize], reps: usize) -> Result<()> {
    println!("adapter: {}", gpu.summary());
    println!("{:>6} {:>6} {:>12} {:>10}", "N", "reps", "ms/matmul", "GFLOP/s");
    let mut rows = Vec::new();
    for &n in sizes {
        let a = Tensor::from_slice(gpu, [n, n], &test_data(1, n * n, 1.0))?;
        let b = Tensor::from_slice(gpu, [n, n], &test_data(2, n * n, 1.0))?;
        let c = Tensor::uninit(gpu, [n, n])?;
        let launch = || matmul::matmul_into(gpu, &a, &b, Transpose::NONE, Epilogue::default(), &c);
        launch()?; // warm-up: pipeline compilation and first-touch allocation
        gpu.submit();
        gpu.wait_idle();
        let start = Instant::now();
        for _ in 0..reps {
            launch()?;
        }
        gpu.submit();
        gpu.wait_idle();
        let seconds = start.elapsed().as_secs_f64() / reps as f64;
        let gflops = 2.0 * (n as f64).powi(3) / seconds / 1e9;
        println!("{:>6} {:>6} {:>12.3} {:>10.2}", n, reps, seconds * 1e3, gflops);
        rows.push(Row { n, reps, ms_per_matmul: seconds * 1e3, gflops });
    }
    let json = serde_json::json!({
        "bench": "matmul",
        "adapter": gpu.summary(),
        "results": rows,
    });
    println!("{json}");
    Ok(())
}
