//! Nearest-neighbour upsampling of NHWC images by a whole factor, and its adjoint, which
//! sums each f×f block of the gradient back onto the pixel that filled it. With a
//! convolution after it, this is the "resize-convolution" a generator can grow images with
//! instead of a transposed convolution (see upsample.wgsl for why).

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Gpu, Tensor};
use crate::kernels::{batch_of, source};

kernel_specs! {
    shader: "upsample.wgsl", sources: [source::GRID, source::UPSAMPLE], params: Params;
    UPSAMPLE = "upsample" [src: Read, dst: ReadWrite];
    BACKWARD = "upsample_backward" [src: Read, dst: ReadWrite];
}

/// The input images of an upsampling: `height × width × channels`, grown by `factor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Upsampling {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub factor: usize,
}

impl Upsampling {
    /// Values per input image.
    pub fn input_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Values per output image: factor² times the input's.
    pub fn output_len(&self) -> usize {
        self.input_len() * self.factor * self.factor
    }

    fn validate(&self) -> Result<()> {
        if self.input_len() == 0 || self.factor == 0 {
            return Err(Error::Invalid(format!("upsampling {self:?} has a zero size")));
        }
        Ok(())
    }
}

kernel_params! {
    struct Params {
        batch: u32,
        /// of the input
        height: u32,
        width: u32,
        channels: u32,
        factor: u32,
        /// backward: 1 adds into dx, 0 overwrites it
        accumulate: u32,
    }
}

fn params(u: &Upsampling, batch: usize, accumulate: bool) -> Params {
    Params {
        batch: batch as u32,
        height: u.height as u32,
        width: u.width as u32,
        channels: u.channels as u32,
        factor: u.factor as u32,
        accumulate: accumulate as u32,
    }
}

/// `x` (`[B, H·W·C]`) → `[B, fH·fW·C]`.
pub fn upsample(gpu: &Gpu, x: &Tensor, u: &Upsampling) -> Result<Tensor> {
    u.validate()?;
    let batch = batch_of("upsample", x, u.input_len(), "images")?;
    let y = Tensor::uninit(gpu, [batch, u.output_len()])?;
    gpu.dispatch(&UPSAMPLE, &params(u, batch, false), &[x, &y], grid_1d(y.len(), 256));
    Ok(y)
}

/// d loss / d x from `dy` (`[B, fH·fW·C]`) into `dx` (`[B, H·W·C]`), adding to it when
/// `accumulate`.
pub fn upsample_backward_into(gpu: &Gpu, dy: &Tensor, u: &Upsampling, dx: &Tensor, accumulate: bool) -> Result<()> {
    u.validate()?;
    let op = "upsample_backward";
    let batch = batch_of(op, dy, u.output_len(), "images")?;
    if dx.len() != batch * u.input_len() {
        return Err(Error::BadShape {
            op,
            why: format!("dx must hold {batch} images of {} values", u.input_len()),
            shape: dx.shape().clone(),
        });
    }
    gpu.dispatch(&BACKWARD, &params(u, batch, accumulate), &[dy, dx], grid_1d(dx.len(), 256));
    Ok(())
}

pub mod cpu {
    use super::Upsampling;

    /// The input index each output value copies.
    fn source(u: &Upsampling, i: usize) -> usize {
        let (out_w, out_h) = (u.width * u.factor, u.height * u.factor);
        let c = i % u.channels;
        let x = (i / u.channels) % out_w;
        let y = (i / (u.channels * out_w)) % out_h;
        let b = i / (u.channels * out_w * out_h);
        ((b * u.height + y / u.factor) * u.width + x / u.factor) * u.channels + c
    }

    pub fn upsample(x: &[f32], u: &Upsampling) -> Vec<f32> {
        let n = x.len() / u.input_len() * u.output_len();
        (0..n).map(|i| x[source(u, i)]).collect()
    }

    /// Scatter-add, the plain way (the kernel gathers instead).
    pub fn upsample_backward(dy: &[f32], u: &Upsampling) -> Vec<f32> {
        let mut dx = vec![0.0; dy.len() / u.output_len() * u.input_len()];
        for (i, &g) in dy.iter().enumerate() {
            dx[source(u, i)] += g;
        }
        dx
    }
}

/// The self-test's cases: these kernels against their [`cpu`] twins, on awkward sizes.
pub mod cases {
    use crate::error::Result;
    use crate::gpu::{Gpu, Tensor};
    use crate::kernels::check::{check, plus, prior_grad, test_data, worst, Check, TOLERANCE};
    use crate::kernels::upsample::{self, Upsampling};

    /// Nearest-neighbour upsampling, and its backward written or accumulated.
    #[derive(Clone, Debug)]
    pub struct UpsampleCase {
        batch: usize,
        upsampling: Upsampling,
        accumulate: bool,
    }

    impl UpsampleCase {
        pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
            let UpsampleCase { batch, upsampling: u, accumulate } = *self;
            let x = test_data(36, batch * u.input_len(), 1.0);
            let dy = test_data(37, batch * u.output_len(), 1.0);
            let prior = prior_grad(38, x.len(), accumulate);
            let xt = Tensor::from_slice(gpu, [batch, u.input_len()], &x)?;
            let y = gpu.read(&upsample::upsample(gpu, &xt, &u)?).await?;
            let dx = Tensor::from_slice(gpu, [batch, u.input_len()], &prior)?;
            let dyt = Tensor::from_slice(gpu, [batch, u.output_len()], &dy)?;
            upsample::upsample_backward_into(gpu, &dyt, &u, &dx, accumulate)?;
            let dx = gpu.read(&dx).await?;
            let dx_cpu = upsample::cpu::upsample_backward(&dy, &u);
            let want = plus(&dx_cpu, &prior);
            Ok(check(
                if accumulate { "upsample fwd + bwd +=" } else { "upsample fwd + bwd" }.into(),
                format!("{batch}×{}×{}×{}, ×{}", u.height, u.width, u.channels, u.factor),
                worst(&[(&y, &upsample::cpu::upsample(&x, &u)), (&dx, &want)]),
                TOLERANCE,
            ))
        }
    }

    /// A generator's doubling, and an odd image grown threefold.
    pub fn all(_small: bool) -> Vec<UpsampleCase> {
        vec![
            UpsampleCase {
                batch: 3,
                upsampling: Upsampling { height: 4, width: 4, channels: 32, factor: 2 },
                accumulate: false,
            },
            UpsampleCase {
                batch: 2,
                upsampling: Upsampling { height: 3, width: 5, channels: 2, factor: 3 },
                accumulate: true,
            },
        ]
    }
}
