//! Activations (alone or after a bias), their gradients, and the small in-place updates
//! (y = αx + βy, fill) that gradient accumulation needs.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Gpu, Tensor};
use crate::kernels::source;

kernel_specs! {
    shader: "elementwise.wgsl", sources: [source::GRID, source::ACTIVATION, source::ELEMENTWISE], params: Params;
    BIAS_ACT = "bias_act" [ba_x: Read, ba_bias: Read, ba_y: ReadWrite];
    ACTIVATION_BACKWARD = "activation_backward" [ab_dy: Read, ab_y: Read, ab_dx: ReadWrite];
    AXPBY = "axpby" [ax_x: Read, ax_y: ReadWrite];
    FILL = "fill" [fill_y: ReadWrite];
}

kernel_params! {
    #[derive(Default)]
    struct Params {
        /// elements
        n: u32,
        /// row length, for broadcasting a bias over rows
        cols: u32,
        /// bit 0 BIAS (bias_act) / ACCUMULATE (activation_backward)
        flags: u32,
        act: u32,
        slope: f32,
        alpha: f32,
        beta: f32,
    }
}

/// The nonlinearities of the models. Each one's gradient is computed from its output.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Activation {
    #[default]
    Identity,
    Relu,
    LeakyRelu(f32),
    Tanh,
    Sigmoid,
}

impl Activation {
    /// (code, slope) as the shaders expect them (see activation.wgsl).
    pub(crate) fn code(self) -> (u32, f32) {
        match self {
            Activation::Identity => (0, 0.0),
            Activation::Relu => (1, 0.0),
            Activation::LeakyRelu(slope) => (2, slope),
            Activation::Tanh => (3, 0.0),
            Activation::Sigmoid => (4, 0.0),
        }
    }

    /// CPU twin of `activate` in activation.wgsl.
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu(slope) => {
                if x > 0.0 {
                    x
                } else {
                    slope * x
                }
            }
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => cpu::sigmoid(x),
        }
    }

    /// CPU twin of `activation_grad_from_output`: d act/dx given y = act(x).
    pub fn grad_from_output(self, y: f32) -> f32 {
        match self {
            Activation::Identity => 1.0,
            Activation::Relu => (y > 0.0) as u32 as f32,
            Activation::LeakyRelu(slope) => {
                if y > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
            Activation::Tanh => 1.0 - y * y,
            Activation::Sigmoid => y * (1.0 - y),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
        }
    }
}

fn check_same(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.len() != b.len() {
        return Err(Error::shape(op, "sizes differ", a.shape(), b.shape()));
    }
    Ok(())
}

/// `act(x + bias)`, the bias (length = x's columns) broadcast over rows; `bias: None` for a
/// bare activation.
pub fn bias_act(gpu: &Gpu, x: &Tensor, bias: Option<&Tensor>, act: Activation) -> Result<Tensor> {
    let (_, cols) = x.shape().as_matrix();
    if let Some(bias) = bias {
        if bias.len() != cols {
            return Err(Error::shape("bias_act", "bias length must equal the columns of x", bias.shape(), x.shape()));
        }
    }
    let y = Tensor::uninit(gpu, x.shape().clone())?;
    let (act_code, slope) = act.code();
    let params = Params {
        n: x.len() as u32,
        cols: cols as u32,
        flags: bias.is_some() as u32,
        act: act_code,
        slope,
        ..Params::default()
    };
    gpu.dispatch(&BIAS_ACT, &params, &[x, bias.unwrap_or(x), &y], grid_1d(x.len(), 256));
    Ok(y)
}

/// `dx (=|+=) dy · act'(x)` where `y = act(x)` is the forward output.
pub fn activation_backward_into(
    gpu: &Gpu,
    dy: &Tensor,
    y: &Tensor,
    act: Activation,
    dx: &Tensor,
    accumulate: bool,
) -> Result<()> {
    check_same("activation_backward", dy, y)?;
    check_same("activation_backward", dy, dx)?;
    let (act_code, slope) = act.code();
    let params = Params { n: dy.len() as u32, flags: accumulate as u32, act: act_code, slope, ..Params::default() };
    gpu.dispatch(&ACTIVATION_BACKWARD, &params, &[dy, y, dx], grid_1d(dy.len(), 256));
    Ok(())
}

/// `y ← α·x + β·y` in place.
pub fn axpby(gpu: &Gpu, alpha: f32, x: &Tensor, beta: f32, y: &Tensor) -> Result<()> {
    check_same("axpby", x, y)?;
    if x.same_buffer(y) {
        return Err(Error::Invalid("axpby: x and y must be different buffers".into()));
    }
    let params = Params { n: x.len() as u32, alpha, beta, ..Params::default() };
    gpu.dispatch(&AXPBY, &params, &[x, y], grid_1d(x.len(), 256));
    Ok(())
}

/// Every element of `y` set to `value`.
pub fn fill(gpu: &Gpu, y: &Tensor, value: f32) {
    let params = Params { n: y.len() as u32, alpha: value, ..Params::default() };
    gpu.dispatch(&FILL, &params, &[y], grid_1d(y.len(), 256));
}

pub mod cpu {
    use super::Activation;

    pub fn sigmoid(x: f32) -> f32 {
        let e = (-x.abs()).exp();
        if x >= 0.0 {
            1.0 / (1.0 + e)
        } else {
            e / (1.0 + e)
        }
    }

    pub fn bias_act(x: &[f32], cols: usize, bias: Option<&[f32]>, act: Activation) -> Vec<f32> {
        x.iter().enumerate().map(|(i, &v)| act.apply(v + bias.map_or(0.0, |b| b[i % cols]))).collect()
    }

    pub fn activation_backward(dy: &[f32], y: &[f32], act: Activation) -> Vec<f32> {
        dy.iter().zip(y).map(|(&g, &y)| g * act.grad_from_output(y)).collect()
    }
}

/// The self-test's cases: these kernels against their [`cpu`] twins, on awkward sizes.
pub mod cases {
    use crate::error::Result;
    use crate::gpu::{Gpu, Tensor};
    use crate::kernels::check::{check, max_error, test_data, Check, TOLERANCE};
    use crate::kernels::{elementwise, Activation};

    #[derive(Clone, Debug)]
    pub enum ElementwiseCase {
        BiasAct { rows: usize, cols: usize, act: Activation },
        ActivationBackward { n: usize, act: Activation },
    }

    impl ElementwiseCase {
        pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
            match *self {
                ElementwiseCase::BiasAct { rows, cols, act } => {
                    let x = test_data(5, rows * cols, 4.0);
                    let bias = test_data(6, cols, 1.0);
                    let xt = Tensor::from_slice(gpu, [rows, cols], &x)?;
                    let bt = Tensor::from_slice(gpu, [cols], &bias)?;
                    let y = elementwise::bias_act(gpu, &xt, Some(&bt), act)?;
                    let got = gpu.read(&y).await?;
                    let want = elementwise::cpu::bias_act(&x, cols, Some(&bias), act);
                    Ok(check(
                        format!("bias+{}", act.name()),
                        format!("{rows}×{cols}"),
                        max_error(&got, &want),
                        TOLERANCE,
                    ))
                }
                ElementwiseCase::ActivationBackward { n, act } => {
                    let x = test_data(7, n, 4.0);
                    let dy = test_data(8, n, 1.0);
                    let y: Vec<f32> = x.iter().map(|&v| act.apply(v)).collect();
                    let dyt = Tensor::from_slice(gpu, [n], &dy)?;
                    let yt = Tensor::from_slice(gpu, [n], &y)?;
                    let dx = Tensor::uninit(gpu, [n])?;
                    elementwise::activation_backward_into(gpu, &dyt, &yt, act, &dx, false)?;
                    let got = gpu.read(&dx).await?;
                    let want = elementwise::cpu::activation_backward(&dy, &y, act);
                    Ok(check(format!("{} backward", act.name()), format!("{n}"), max_error(&got, &want), TOLERANCE))
                }
            }
        }
    }

    const ACTIVATIONS: [Activation; 5] =
        [Activation::Identity, Activation::Relu, Activation::LeakyRelu(0.2), Activation::Tanh, Activation::Sigmoid];

    /// Every activation, forward with a bias and backward.
    pub fn all(_small: bool) -> Vec<ElementwiseCase> {
        let mut cases = Vec::new();
        for act in ACTIVATIONS {
            cases.push(ElementwiseCase::BiasAct { rows: 13, cols: 7, act });
            cases.push(ElementwiseCase::ActivationBackward { n: 1001, act });
        }
        cases
    }
}
