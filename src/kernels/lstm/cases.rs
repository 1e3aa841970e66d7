//! The self-test's cases: the LSTM kernels against their [`super::cpu`] twins, on awkward sizes.

use crate::error::Result;
use crate::gpu::{Gpu, Shape, Tensor};
use crate::kernels::check::{check, max_error, test_data, worst, Check, TOLERANCE};
use crate::kernels::lstm::{self, LstmDims, LstmStates};

#[derive(Clone, Debug)]
pub enum LstmCase {
    /// Two cell launches (the first from c0, the second from the first's c).
    Cell { batch: usize, hidden: usize },
    /// The recurrence forward and backward through time; `initial`: with h0 and c0.
    Sequence { steps: usize, batch: usize, hidden: usize, initial: bool },
}

fn f64s(seed: u64, n: usize, scale: f32) -> Vec<f64> {
    lstm::cpu::to_f64(&test_data(seed, n, scale))
}

impl LstmCase {
    pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
        match *self {
            LstmCase::Cell { batch, hidden } => {
                let dims = LstmDims { steps: 2, batch, hidden };
                let (g4, plane) = (lstm::GATES * hidden, batch * hidden);
                let c0 = f64s(30, plane, 1.0);
                let pre = [f64s(31, batch * g4, 2.0), f64s(32, batch * g4, 2.0)];
                let c0_t = Tensor::from_slice(gpu, [batch, hidden], &lstm::cpu::to_f32(&c0))?;
                let states = LstmStates::new(gpu, dims, None, Some(&c0_t))?;
                for (t, pre) in pre.iter().enumerate() {
                    let pre_t = Tensor::from_slice(gpu, [batch, g4], &lstm::cpu::to_f32(pre))?;
                    lstm::cell_forward(gpu, &pre_t, &states, t)?;
                }
                let step0 = lstm::cpu::cell_forward(&pre[0], &c0, batch, hidden);
                let step1 = lstm::cpu::cell_forward(&pre[1], &step0.c, batch, hidden);
                let both = |a: &[f64], b: &[f64]| lstm::cpu::to_f32(&[a, b].concat());
                let (gates, c, h) =
                    (both(&step0.gates, &step1.gates), both(&step0.c, &step1.c), both(&step0.h, &step1.h));
                let got = [gpu.read(&states.gates).await?, gpu.read(&states.c).await?, gpu.read(&states.h).await?];
                Ok(check(
                    "lstm cell fwd ×2".into(),
                    format!("B={batch} H={hidden}"),
                    worst(&[(&got[0], &gates), (&got[1], &c), (&got[2], &h)]),
                    TOLERANCE,
                ))
            }
            LstmCase::Sequence { steps, batch, hidden, initial } => {
                let dims = LstmDims { steps, batch, hidden };
                let (g4, plane) = (lstm::GATES * hidden, batch * hidden);
                // Pre-activations of order one whatever H is.
                let x_proj = f64s(33, steps * batch * g4, 1.0);
                let w_h = f64s(34, hidden * g4, 1.5 / (hidden as f32).sqrt());
                let h0 = initial.then(|| f64s(35, plane, 1.0));
                let c0 = initial.then(|| f64s(36, plane, 1.0));
                let dh = f64s(37, steps * plane, 1.0);
                let upload = |shape: Shape, v: &[f64]| Tensor::from_slice(gpu, shape, &lstm::cpu::to_f32(v));
                let h0_t = h0.as_deref().map(|v| upload(dims.state_shape(), v)).transpose()?;
                let c0_t = c0.as_deref().map(|v| upload(dims.state_shape(), v)).transpose()?;
                let w_h_t = upload(dims.w_h_shape(), &w_h)?;
                let states = lstm::lstm_forward(
                    gpu,
                    &upload(dims.gates_shape(), &x_proj)?,
                    &w_h_t,
                    h0_t.as_ref(),
                    c0_t.as_ref(),
                )?;
                let grads = lstm::lstm_backward(gpu, &states, &w_h_t, &upload(dims.seq_shape(), &dh)?)?;

                let want = lstm::cpu::lstm_forward(&x_proj, &w_h, h0.as_deref(), c0.as_deref(), dims);
                let want_grads = lstm::cpu::lstm_backward(&want, &w_h, &dh);
                let mut outputs = vec![
                    (&states.h, want.h),
                    (&states.c, want.c),
                    (&states.gates, want.gates),
                    (&grads.dgates, want_grads.dgates),
                    (&grads.dw_h, want_grads.dw_h),
                ];
                outputs.extend(grads.dh0.as_ref().map(|t| (t, want_grads.dh0)));
                outputs.extend(grads.dc0.as_ref().map(|t| (t, want_grads.dc0)));
                let mut error = if outputs.len() == 5 + 2 * initial as usize { 0.0 } else { f64::INFINITY };
                for (tensor, want) in outputs {
                    error = error.max(max_error(&gpu.read(tensor).await?, &lstm::cpu::to_f32(&want)));
                }
                Ok(check(
                    "lstm seq fwd+bwd".into(),
                    format!("T={steps} B={batch} H={hidden}{}", if initial { ", h0 c0" } else { "" }),
                    error,
                    TOLERANCE,
                ))
            }
        }
    }
}

pub fn all(small: bool) -> Vec<LstmCase> {
    let mut cases = vec![
        LstmCase::Cell { batch: 3, hidden: 7 },
        LstmCase::Sequence { steps: 3, batch: 2, hidden: 5, initial: true },
    ];
    if !small {
        cases.extend([
            LstmCase::Cell { batch: 5, hidden: 65 },
            LstmCase::Cell { batch: 32, hidden: 128 },
            LstmCase::Sequence { steps: 1, batch: 3, hidden: 7, initial: false },
            LstmCase::Sequence { steps: 17, batch: 4, hidden: 33, initial: true },
            LstmCase::Sequence { steps: 5, batch: 32, hidden: 128, initial: false },
            LstmCase::Sequence { steps: 3, batch: 6, hidden: 300, initial: true },
        ]);
    }
    cases
}
