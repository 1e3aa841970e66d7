//! `genlab bench matmul`: GFLOP/s of the tiled matmul, as a table and as JSON.

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
    }
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
