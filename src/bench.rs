//! The speed benchmark that the page (`index.html?bench=…`) and the command line
//! (`genlab bench step …`) share, with the in-browser peers' cases, shapes and protocol, so
//! that `bench/compare` can put genlab beside jax-js and TF.js in one browser.
//!
//! Protocol: one warm-up step (shader compilation included), then `steps` steps, each timed
//! alone from the start of its recording until its loss has reached the CPU. The loss is
//! read back at the end of the step's one submission, after the parameter update, so a step
//! is over only when the update has run too.
//!
//! Cases:
//! - `vae_step`: the lab's VAE, encoder 784→400 (ReLU)→(m, σ) of 20 each, decoder
//!   20→400 (ReLU)→784 logits, sigmoid BCE summed over the image plus the full KL, averaged
//!   over a batch of 64 moons; one Adam step (lr 1e-3).
//! - `gan_step`: G 64→256→512→256 (ReLU, ReLU, tanh), D 256→512→256→1 (leaky ReLU 0.2);
//!   batch 64; one D update, then one non-saturating G update, each with its own Adam. The
//!   loss reported is D's.
//! - `lstm_step`: the lab's PixelRNN with one LSTM layer of 128 units over 16×16 sprites
//!   (256 steps of 16 one-hot colours), batch 32, full backpropagation through time, Adam.
//! - `matmul_N`: C = A·B for N×N matrices, ending when C has been read back whole.
//!
//! [`profile`] runs one step a command at a time and sums the GPU time per kernel family.

use std::collections::BTreeMap;
use std::fmt;

use crate::autodiff::Tape;
use crate::clock::now_ms;
use crate::data::device::DeviceDataset;
use crate::error::{Error, Result};
use crate::gpu::{CommandTime, Gpu, ProfileMethod, ProfiledCommand, Readback, Tensor};
use crate::kernels::adam::AdamConfig;
use crate::kernels::elementwise::Activation;
use crate::kernels::matmul::{self, Epilogue, MatmulPath, Transpose};
use crate::kernels::rng::{self, Stream};
use crate::models::pixel_rnn::{PixelRnn, PixelRnnConfig};
use crate::models::vae::{Vae, VaeConfig};
use crate::models::{stream, Purpose};
use crate::nn::{Adam, Mlp};

/// The largest matrix side `matmul_N` accepts (a 8192² f32 matrix is 256 MiB).
const MAX_MATMUL: usize = 8192;

/// One benchmark case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    VaeStep,
    GanStep,
    LstmStep,
    Matmul(usize),
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Case::VaeStep => write!(f, "vae_step"),
            Case::GanStep => write!(f, "gan_step"),
            Case::LstmStep => write!(f, "lstm_step"),
            Case::Matmul(n) => write!(f, "matmul_{n}"),
        }
    }
}

impl std::str::FromStr for Case {
    type Err = Error;

    /// `vae_step`, `gan_step`, `lstm_step` (or `vae`, `gan`, `lstm`), and `matmul_N`.
    fn from_str(s: &str) -> Result<Case> {
        let s = s.trim();
        let case = match s {
            "vae" | "vae_step" => Case::VaeStep,
            "gan" | "gan_step" => Case::GanStep,
            "lstm" | "lstm_step" => Case::LstmStep,
            _ => match s.strip_prefix("matmul_").map(str::parse::<usize>) {
                Some(Ok(n)) if (1..=MAX_MATMUL).contains(&n) => Case::Matmul(n),
                _ => {
                    return Err(Error::Invalid(format!(
                        "unknown benchmark case '{s}': use vae_step, gan_step, lstm_step or matmul_N \
                         (N from 1 to {MAX_MATMUL}), separated by commas"
                    )))
                }
            },
        };
        Ok(case)
    }
}

/// Parses a comma-separated list of cases (`vae_step,matmul_1024`).
pub fn parse_cases(list: &str) -> Result<Vec<Case>> {
    let cases = list.split(',').filter(|s| !s.trim().is_empty()).map(str::parse).collect::<Result<Vec<Case>>>()?;
    if cases.is_empty() {
        return Err(Error::Invalid("no benchmark case given: try vae_step,gan_step,lstm_step,matmul_1024".into()));
    }
    Ok(cases)
}

/// One case's figures, in milliseconds per step.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Timing {
    pub case: String,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// The warm-up step's loss and the last timed step's (None for a matrix product).
    pub loss_before: Option<f32>,
    pub loss_after: Option<f32>,
    /// 2N³ / median seconds, for `matmul_N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gflops: Option<f64>,
    /// Kernel launches per step, and CPU time spent recording and submitting one (median).
    pub launches_per_step: u64,
    pub record_ms: f64,
}

/// A case's outcome: figures, or why there are none.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Timed(Timing),
    Failed { case: String, error: String },
}

/// What the page writes into `#bench-out` and `genlab bench step` prints: the same JSON the
/// peers' pages write (bench/compare reads all three).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub engine: &'static str,
    pub adapter: String,
    /// Which matrix-product kernel the adapter gets (`MatmulPath`: tiled, direct or quad).
    pub matmul_kernel: String,
    pub steps: u32,
    pub cases: Vec<Outcome>,
}

/// Runs `cases` one after another; a case that fails is reported and the others still run.
pub async fn run(gpu: &Gpu, cases: &[Case], steps: u32) -> Report {
    let mut outcomes = Vec::with_capacity(cases.len());
    for &case in cases {
        outcomes.push(match time_case(gpu, case, steps).await {
            Ok(timing) => Outcome::Timed(timing),
            Err(e) => Outcome::Failed { case: case.to_string(), error: e.to_string() },
        });
    }
    let matmul_kernel = MatmulPath::for_adapter(gpu).name().to_string();
    Report { engine: "genlab", adapter: gpu.summary().to_string(), matmul_kernel, steps, cases: outcomes }
}

/// One case by the protocol above.
pub async fn time_case(gpu: &Gpu, case: Case, steps: u32) -> Result<Timing> {
    let steps = steps.max(1);
    let mut workload = Workload::new(gpu, case)?;
    let launches = gpu.launches();
    workload.step(gpu)?;
    let loss_before = workload.finish(gpu).await?;
    let launches_per_step = gpu.launches() - launches;
    let mut times = Vec::with_capacity(steps as usize);
    let mut recording = Vec::with_capacity(steps as usize);
    let mut loss_after = None;
    for _ in 0..steps {
        let start = now_ms();
        workload.step(gpu)?;
        recording.push(now_ms() - start);
        loss_after = workload.finish(gpu).await?;
        times.push(now_ms() - start);
    }
    let median_ms = median(&mut times);
    let gflops = match case {
        Case::Matmul(n) => Some(2.0 * (n as f64).powi(3) / (median_ms / 1e3) / 1e9),
        _ => None,
    };
    Ok(Timing {
        case: case.to_string(),
        median_ms,
        min_ms: times.iter().copied().fold(f64::INFINITY, f64::min),
        max_ms: times.iter().copied().fold(0.0, f64::max),
        loss_before,
        loss_after,
        gflops,
        launches_per_step,
        record_ms: median(&mut recording),
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Where one step's GPU time goes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Profile {
    pub case: String,
    /// GPU timestamps around each kernel, or each command submitted alone.
    pub method: ProfileMethod,
    /// The step's ordinary time (one submission), and the sum of its commands' profiled times.
    pub step_ms: f64,
    pub sum_ms: f64,
    /// CPU time to record and submit the step.
    pub record_ms: f64,
    pub launches: u64,
    /// Per kernel family: launches and milliseconds, the slowest first.
    pub families: Vec<Share>,
    /// The ten slowest kernels (`shader::entry`), summed over their launches.
    pub kernels: Vec<Share>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Share {
    pub name: String,
    pub count: u32,
    pub ms: f64,
}

/// The kernel family a command belongs to, as the profile groups them.
pub fn family(what: ProfiledCommand) -> &'static str {
    match what {
        ProfiledCommand::Copy | ProfiledCommand::Clear => "copies",
        ProfiledCommand::Kernel { shader, .. } => match shader {
            "matmul.wgsl" | "matmul_quad.wgsl" => "matmul",
            "lstm.wgsl" | "pixel_rnn.wgsl" => "LSTM cell",
            "adam.wgsl" => "Adam",
            "reduce.wgsl" | "loss.wgsl" | "gan.wgsl" => "reduce and loss",
            "rng.wgsl" | "gather.wgsl" => "random and gather",
            _ => "elementwise",
        },
    }
}

/// Times one ordinary step of `case` (after a warm-up), then runs the next step a command
/// at a time (see [`Gpu::profile`]).
pub async fn profile(gpu: &Gpu, case: Case) -> Result<Profile> {
    let mut workload = Workload::new(gpu, case)?;
    workload.step(gpu)?;
    workload.finish(gpu).await?;
    let start = now_ms();
    let launches = gpu.launches();
    workload.step(gpu)?;
    let record_ms = now_ms() - start;
    let launches = gpu.launches() - launches;
    workload.finish(gpu).await?;
    let step_ms = now_ms() - start;
    let (method, times) = gpu.profile(|| workload.step(gpu)).await?;
    workload.finish(gpu).await?;
    Ok(summarise(case, method, step_ms, record_ms, launches, &times))
}

fn summarise(
    case: Case,
    method: ProfileMethod,
    step_ms: f64,
    record_ms: f64,
    launches: u64,
    times: &[CommandTime],
) -> Profile {
    let mut families: BTreeMap<&str, (u32, f64)> = BTreeMap::new();
    let mut kernels: BTreeMap<String, (u32, f64)> = BTreeMap::new();
    for time in times {
        let slot = families.entry(family(time.what)).or_default();
        slot.0 += 1;
        slot.1 += time.ms;
        let name = match time.what {
            ProfiledCommand::Kernel { shader, entry } => format!("{}::{entry}", shader.trim_end_matches(".wgsl")),
            ProfiledCommand::Copy => "copy".into(),
            ProfiledCommand::Clear => "clear".into(),
        };
        let slot = kernels.entry(name).or_default();
        slot.0 += 1;
        slot.1 += time.ms;
    }
    let sorted = |map: Vec<(String, (u32, f64))>, keep: usize| {
        let mut shares: Vec<Share> = map.into_iter().map(|(name, (count, ms))| Share { name, count, ms }).collect();
        shares.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        shares.truncate(keep);
        shares
    };
    Profile {
        case: case.to_string(),
        method,
        step_ms,
        sum_ms: times.iter().map(|t| t.ms).sum(),
        record_ms,
        launches,
        families: sorted(families.into_iter().map(|(k, v)| (k.to_string(), v)).collect(), usize::MAX),
        kernels: sorted(kernels.into_iter().collect(), 10),
    }
}

impl Profile {
    /// The profile as a plain-text table (the CLI prints it; the README quotes it).
    pub fn table(&self) -> String {
        let mut out = format!("{}\n", self.summary());
        out += &format!("  {:<34} {:>8} {:>10} {:>7}\n", "kernel family", "launches", "GPU ms", "share");
        for share in &self.families {
            let percent = 100.0 * share.ms / self.sum_ms.max(1e-9);
            out += &format!("  {:<34} {:>8} {:>10.2} {:>6.1}%\n", share.name, share.count, share.ms, percent);
        }
        out += "  slowest kernels:\n";
        for share in &self.kernels {
            out += &format!("  {:<34} {:>8} {:>10.2}\n", share.name, share.count, share.ms);
        }
        out
    }

    /// One line: the step's time, launches, recording time, and how the profile was taken.
    pub fn summary(&self) -> String {
        let method = match self.method {
            ProfileMethod::Timestamps => "kernels timed by GPU timestamps (copies untimed)",
            ProfileMethod::OneAtATime => "each command run alone (adds a round trip to each)",
        };
        format!(
            "{}: {:.1} ms per step in one submission; {} launches, {:.2} ms of CPU to record them; \
             {method}: {:.1} ms in all",
            self.case, self.step_ms, self.launches, self.record_ms, self.sum_ms
        )
    }
}

/// A case's models and data, resident on the GPU.
enum Workload {
    Vae { model: Box<Vae>, data: DeviceDataset },
    Gan(Box<BenchGan>),
    Lstm { model: Box<PixelRnn>, data: DeviceDataset },
    Matmul { a: Tensor, b: Tensor, c: Tensor },
}

impl Workload {
    fn new(gpu: &Gpu, case: Case) -> Result<Workload> {
        Ok(match case {
            Case::VaeStep => {
                // 28×28 moons stand in for MNIST: the same 784 inputs.
                let moons = crate::data::moons(640, 1, &crate::data::MoonJitter::default())?;
                let config = VaeConfig {
                    hidden: 400,
                    latent: 20,
                    batch: 64,
                    kl_warmup: 0,
                    learning_rate: 1e-3,
                    ..VaeConfig::default()
                };
                let mut model = Vae::new(gpu, config, moons.image_len())?;
                model.monitor.set_every(1);
                Workload::Vae { model: Box::new(model), data: DeviceDataset::upload(gpu, &moons)? }
            }
            Case::GanStep => Workload::Gan(Box::new(BenchGan::new(gpu)?)),
            Case::LstmStep => {
                let sprites = crate::data::sprites(320, 16, 1)?;
                let classes = sprites.num_colors().unwrap_or(16);
                let config = PixelRnnConfig {
                    hidden: 128,
                    layers: 1,
                    batch: 32,
                    learning_rate: 1e-3,
                    seed: 1,
                    positions: false,
                };
                let mut model = PixelRnn::new(gpu, config, 16, 16, classes)?;
                model.monitor.set_every(1);
                Workload::Lstm { model: Box::new(model), data: DeviceDataset::upload(gpu, &sprites)? }
            }
            Case::Matmul(n) => {
                let mut values = Stream::new(7);
                let a = rng::uniform(gpu, values.take(n * n), [n, n], -1.0, 1.0)?;
                let b = rng::uniform(gpu, values.take(n * n), [n, n], -1.0, 1.0)?;
                Workload::Matmul { a, b, c: Tensor::uninit(gpu, [n, n])? }
            }
        })
    }

    /// Records one step and submits it.
    fn step(&mut self, gpu: &Gpu) -> Result<()> {
        match self {
            Workload::Vae { model, data } => model.train_step(gpu, data),
            Workload::Gan(gan) => gan.step(gpu),
            Workload::Lstm { model, data } => model.train_step(gpu, data),
            Workload::Matmul { a, b, c } => {
                matmul::matmul_into(gpu, a, b, Transpose::NONE, Epilogue::default(), c)?;
                gpu.submit();
                Ok(())
            }
        }
    }

    /// Waits until the step's loss (or a matrix product's whole C) has reached the CPU.
    async fn finish(&mut self, gpu: &Gpu) -> Result<Option<f32>> {
        let monitor = match self {
            Workload::Vae { model, .. } => &mut model.monitor,
            Workload::Lstm { model, .. } => &mut model.monitor,
            Workload::Gan(gan) => return gan.finish().await.map(Some),
            Workload::Matmul { c, .. } => {
                gpu.read(c).await?;
                return Ok(None);
            }
        };
        monitor.flush().await?;
        let loss = monitor.history.last().map(|record| record.values[0]);
        // Only the last figure is wanted; keep the history from growing over long runs.
        monitor.history.clear();
        Ok(loss)
    }
}

/// The peers' GAN: plain MLPs of fixed widths (the lab's GAN has one hidden width), real
/// data that stays put, and D's non-saturating losses from the lab's fused kernels.
struct BenchGan {
    generator: Mlp,
    discriminator: Mlp,
    g_optimizer: Adam,
    d_optimizer: Adam,
    real: Tensor,
    noise: Stream,
    /// D's loss of the last step, read back at the end of its submission.
    d_loss: Option<Readback>,
}

const GAN_BATCH: usize = 64;
const GAN_Z: usize = 64;
const GAN_IMAGE: usize = 256;

impl BenchGan {
    fn new(gpu: &Gpu) -> Result<BenchGan> {
        let mut init = stream(1, Purpose::Init);
        let generator =
            Mlp::new(gpu, "g", &[GAN_Z, 256, 512, GAN_IMAGE], Activation::Relu, Activation::Tanh, &mut init)?;
        let discriminator =
            Mlp::new(gpu, "d", &[GAN_IMAGE, 512, 256, 1], Activation::LeakyRelu(0.2), Activation::Identity, &mut init)?;
        let adam = AdamConfig { lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-7 };
        let real = rng::uniform(
            gpu,
            stream(1, Purpose::Batches).take(GAN_BATCH * GAN_IMAGE),
            [GAN_BATCH, GAN_IMAGE],
            -1.0,
            1.0,
        )?;
        Ok(BenchGan {
            generator,
            discriminator,
            g_optimizer: Adam::new(adam)?,
            d_optimizer: Adam::new(adam)?,
            real,
            noise: stream(1, Purpose::Noise),
            d_loss: None,
        })
    }

    /// D with its weights as constants: G's update must not move it.
    fn frozen_discriminator(&self, tape: &Tape, mut x: crate::autodiff::Var) -> Result<crate::autodiff::Var> {
        for layer in &self.discriminator.layers {
            let (w, b) = (tape.constant(&layer.weight.value), tape.constant(&layer.bias.value));
            x = tape.linear(x, w, Some(b), layer.activation)?;
        }
        Ok(x)
    }

    fn step(&mut self, gpu: &Gpu) -> Result<()> {
        // D's update: real against fakes from a G held fixed.
        let z = rng::normal(gpu, self.noise.take(GAN_BATCH * GAN_Z), [GAN_BATCH, GAN_Z], 0.0, 1.0)?;
        let fake = {
            let tape = Tape::new(gpu);
            let input = tape.constant(&z);
            tape.value(self.generator.forward(&tape, input)?)
        };
        let tape = Tape::new(gpu);
        let real_logits = self.discriminator.forward(&tape, tape.constant(&self.real))?;
        let fake_logits = self.discriminator.forward(&tape, tape.constant(&fake))?;
        let (_, d_stats) = tape.gan_discriminator_loss(real_logits, fake_logits, 1.0)?;
        tape.backward()?;
        self.d_optimizer.step(gpu, &self.discriminator.params())?;

        // G's update against the D it now faces, held fixed.
        let z = rng::normal(gpu, self.noise.take(GAN_BATCH * GAN_Z), [GAN_BATCH, GAN_Z], 0.0, 1.0)?;
        let tape = Tape::new(gpu);
        let fake = self.generator.forward(&tape, tape.constant(&z))?;
        let logits = self.frozen_discriminator(&tape, fake)?;
        tape.gan_generator_loss(logits)?;
        tape.backward()?;
        self.g_optimizer.step(gpu, &self.generator.params())?;
        let d_loss = Tensor::uninit(gpu, [1])?;
        gpu.copy_region(&d_stats, 0, &d_loss, 0, 1)?;
        self.d_loss = Some(gpu.read_later(&d_loss));
        gpu.submit();
        Ok(())
    }

    async fn finish(&mut self) -> Result<f32> {
        let readback = self.d_loss.take().ok_or_else(|| Error::Invalid("no GAN step was taken".into()))?;
        Ok(readback.wait().await?[0])
    }
}
