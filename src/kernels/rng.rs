//! Counter-based random numbers (Philox 4x32-10, see philox.wgsl): a `Stream` is a seed and
//! an offset; number i of it is the same on every GPU and on the CPU. Consumers advance the
//! offset by what they drew, so no generator state ever lives on the device.

use crate::error::Result;
use crate::gpu::{grid_1d, Gpu, Shape, Tensor};
use crate::kernels::source;

kernel_specs! {
    shader: "rng.wgsl", sources: [source::GRID, source::PHILOX, source::RNG], params: Params;
    UNIFORM = "uniform_fill" [out_f32: ReadWrite];
    NORMAL = "normal_fill" [out_f32: ReadWrite];
    WORDS = "random_words" [out_u32: ReadWrite(u32)];
    INDEX = "random_index" [out_u32: ReadWrite(u32)];
}

/// A position in the random stream of one seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stream {
    pub seed: u64,
    pub offset: u64,
}

impl Stream {
    pub fn new(seed: u64) -> Stream {
        Stream { seed, offset: 0 }
    }

    /// The stream starting where this one is, and this one moved past `n` numbers.
    pub fn take(&mut self, n: usize) -> Stream {
        let here = *self;
        // Stay on a block boundary so that every draw starts a fresh Philox block.
        self.offset += (n as u64).div_ceil(4) * 4;
        here
    }
}

kernel_params! {
    struct Params {
        n: u32,
        seed_lo: u32,
        seed_hi: u32,
        offset_lo: u32,
        offset_hi: u32,
        /// random_index: indices in [0, range)
        range: u32,
        /// uniform: low;  normal: mean
        a: f32,
        /// uniform: high; normal: standard deviation
        b: f32,
    }
}

fn params(stream: Stream, n: usize, range: u32, a: f32, b: f32) -> Params {
    Params {
        n: n as u32,
        seed_lo: stream.seed as u32,
        seed_hi: (stream.seed >> 32) as u32,
        offset_lo: stream.offset as u32,
        offset_hi: (stream.offset >> 32) as u32,
        range,
        a,
        b,
    }
}

/// Writes uniform numbers in [low, high) into `out`.
pub fn uniform_into(gpu: &Gpu, stream: Stream, low: f32, high: f32, out: &Tensor) {
    let p = params(stream, out.len(), 0, low, high);
    gpu.dispatch(&UNIFORM, &p, &[out], grid_1d(out.len(), 256));
}

/// Writes `mean + std · N(0, 1)` numbers into `out`.
pub fn normal_into(gpu: &Gpu, stream: Stream, mean: f32, std: f32, out: &Tensor) {
    let p = params(stream, out.len(), 0, mean, std);
    gpu.dispatch(&NORMAL, &p, &[out], grid_1d(out.len(), 256));
}

pub fn uniform(gpu: &Gpu, stream: Stream, shape: impl Into<Shape>, low: f32, high: f32) -> Result<Tensor> {
    let out = Tensor::uninit(gpu, shape)?;
    uniform_into(gpu, stream, low, high, &out);
    Ok(out)
}

pub fn normal(gpu: &Gpu, stream: Stream, shape: impl Into<Shape>, mean: f32, std: f32) -> Result<Tensor> {
    let out = Tensor::uninit(gpu, shape)?;
    normal_into(gpu, stream, mean, std, &out);
    Ok(out)
}

/// The raw 32-bit words of the stream (for tests of bit-identity).
pub fn words(gpu: &Gpu, stream: Stream, n: usize) -> Result<Tensor> {
    let out = Tensor::uninit(gpu, [n])?;
    gpu.dispatch(&WORDS, &params(stream, n, 0, 0.0, 0.0), &[&out], grid_1d(n, 256));
    Ok(out)
}

/// `n` u32 indices in [0, range), e.g. the rows of a minibatch.
pub fn random_index_into(gpu: &Gpu, stream: Stream, range: u32, out: &Tensor) {
    let p = params(stream, out.len(), range, 0.0, 0.0);
    gpu.dispatch(&INDEX, &p, &[out], grid_1d(out.len(), 256));
}

pub mod cpu {
    //! The twin: the same words bit for bit; uniforms bit for bit (24-bit values scaled by
    //! a power of two are exact); normals to the accuracy of the platform's log/cos/sin.
    use super::Stream;

    const M0: u32 = 0xD251_1F53;
    const M1: u32 = 0xCD9E_8D57;
    const W0: u32 = 0x9E37_79B9;
    const W1: u32 = 0xBB67_AE85;

    fn mul_hi_lo(a: u32, b: u32) -> (u32, u32) {
        let product = a as u64 * b as u64;
        ((product >> 32) as u32, product as u32)
    }

    pub fn philox4x32(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
        let mut c = counter;
        let mut k = key;
        for _ in 0..10 {
            let (hi0, lo0) = mul_hi_lo(M0, c[0]);
            let (hi1, lo1) = mul_hi_lo(M1, c[2]);
            c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        c
    }

    fn block(stream: Stream, i: u64) -> [u32; 4] {
        let counter = (stream.offset + i) / 4;
        let key = [stream.seed as u32, (stream.seed >> 32) as u32];
        philox4x32([counter as u32, (counter >> 32) as u32, 0, 0], key)
    }

    pub fn word(stream: Stream, i: u64) -> u32 {
        block(stream, i)[((stream.offset + i) % 4) as usize]
    }

    pub fn word_to_unit(w: u32) -> f32 {
        (w >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    fn word_to_open_unit(w: u32) -> f32 {
        ((w >> 8) as f32 + 0.5) * (1.0 / 16_777_216.0)
    }

    pub fn words(stream: Stream, n: usize) -> Vec<u32> {
        (0..n as u64).map(|i| word(stream, i)).collect()
    }

    pub fn uniform(stream: Stream, n: usize, low: f32, high: f32) -> Vec<f32> {
        (0..n as u64).map(|i| low + (high - low) * word_to_unit(word(stream, i))).collect()
    }

    pub fn normal(stream: Stream, n: usize, mean: f32, std: f32) -> Vec<f32> {
        (0..n as u64)
            .map(|i| {
                let b = block(stream, i);
                let lane = ((stream.offset + i) % 4) as usize;
                let pair = lane & 2;
                let radius = (-2.0 * word_to_open_unit(b[pair]).ln()).sqrt();
                let angle = std::f32::consts::TAU * word_to_unit(b[pair + 1]);
                let z = if lane & 1 == 1 { radius * angle.sin() } else { radius * angle.cos() };
                mean + std * z
            })
            .collect()
    }

    pub fn random_index(stream: Stream, n: usize, range: u32) -> Vec<u32> {
        (0..n as u64).map(|i| mul_hi_lo(word(stream, i), range).0).collect()
    }
}

/// The self-test's cases: these kernels against their [`cpu`] twins, on awkward sizes.
pub mod cases {
    use crate::error::Result;
    use crate::gpu::Gpu;
    use crate::kernels::check::{check, max_error, Check, NORMAL_TOLERANCE};
    use crate::kernels::rng::{self, Stream};

    #[derive(Clone, Debug)]
    pub enum RngCase {
        Words { n: usize, offset: u64 },
        Uniform { n: usize },
        Normal { n: usize },
    }

    impl RngCase {
        pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
            match *self {
                RngCase::Words { n, offset } => {
                    let stream = Stream { seed: 0x1234_5678_9abc_def0, offset };
                    let got: Vec<u32> =
                        gpu.read(&rng::words(gpu, stream, n)?).await?.into_iter().map(f32::to_bits).collect();
                    let want = rng::cpu::words(stream, n);
                    let mismatches = got.iter().zip(&want).filter(|(g, w)| g != w).count();
                    Ok(check("philox words (bitwise)".into(), format!("{n} @ offset {offset}"), mismatches as f64, 0.0))
                }
                RngCase::Uniform { n } => {
                    let stream = Stream { seed: 42, offset: 7 };
                    let got = gpu.read(&rng::uniform(gpu, stream, [n], 0.0, 1.0)?).await?;
                    let want = rng::cpu::uniform(stream, n, 0.0, 1.0);
                    let mismatches = got.iter().zip(&want).filter(|(g, w)| g.to_bits() != w.to_bits()).count();
                    Ok(check("philox uniform (bitwise)".into(), format!("{n}"), mismatches as f64, 0.0))
                }
                RngCase::Normal { n } => {
                    let stream = Stream { seed: 43, offset: 2 };
                    let got = gpu.read(&rng::normal(gpu, stream, [n], 0.0, 1.0)?).await?;
                    let want = rng::cpu::normal(stream, n, 0.0, 1.0);
                    // WGSL only promises sin/cos to 2⁻¹¹ absolute error (SwiftShader uses that
                    // latitude); times a Box–Muller radius ≤ 6 and over max |z| ≈ 4, that is ≤ 1e-3.
                    Ok(check("philox normal".into(), format!("{n}"), max_error(&got, &want), NORMAL_TOLERANCE))
                }
            }
        }
    }

    /// Words from the start and across a 32-bit counter carry, uniforms and normals.
    pub fn all(_small: bool) -> Vec<RngCase> {
        vec![
            RngCase::Words { n: 4099, offset: 0 },
            RngCase::Words { n: 1001, offset: (1 << 32) - 3 },
            RngCase::Uniform { n: 4099 },
            RngCase::Normal { n: 4099 },
        ]
    }
}
