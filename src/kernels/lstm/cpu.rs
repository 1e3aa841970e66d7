//! The CPU twin, in f64 (the oracle for tests and finite differences). Layouts as on the
//! GPU: row-major, gate q of unit j in column 4j + q.

use super::{LstmDims, GATES};

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

pub fn to_f32(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

/// One step's outputs, `[B, 4H]` activated gates and `[B, H]` c and h.
pub struct Step {
    pub gates: Vec<f64>,
    pub c: Vec<f64>,
    pub h: Vec<f64>,
}

pub fn cell_forward(gates_pre: &[f64], c_prev: &[f64], batch: usize, hidden: usize) -> Step {
    let g4 = GATES * hidden;
    let mut step = Step { gates: vec![0.0; batch * g4], c: vec![0.0; batch * hidden], h: vec![0.0; batch * hidden] };
    for b in 0..batch {
        for j in 0..hidden {
            let pre = |q: usize| gates_pre[b * g4 + GATES * j + q];
            let (i, f, g, o) = (sigmoid(pre(0)), sigmoid(pre(1)), pre(2).tanh(), sigmoid(pre(3)));
            let c = f * c_prev[b * hidden + j] + i * g;
            for (q, v) in [i, f, g, o].into_iter().enumerate() {
                step.gates[b * g4 + GATES * j + q] = v;
            }
            step.c[b * hidden + j] = c;
            step.h[b * hidden + j] = o * c.tanh();
        }
    }
    step
}

/// (d gate pre-activations `[B, 4H]`, d c_{t-1} `[B, H]`) from the step's activated
/// gates, c_t, c_{t-1}, d h_t (all of it) and d c_t from step t+1.
pub fn cell_backward(
    gates: &[f64],
    c: &[f64],
    c_prev: &[f64],
    dh: &[f64],
    dc_next: &[f64],
    hidden: usize,
) -> (Vec<f64>, Vec<f64>) {
    let g4 = GATES * hidden;
    let batch = c.len() / hidden;
    let mut dgates = vec![0.0; batch * g4];
    let mut dc_prev = vec![0.0; batch * hidden];
    for b in 0..batch {
        for j in 0..hidden {
            let cell = b * hidden + j;
            let gate = |q: usize| gates[b * g4 + GATES * j + q];
            let (i, f, g, o) = (gate(0), gate(1), gate(2), gate(3));
            let tc = c[cell].tanh();
            let d_o = dh[cell] * tc;
            let dc = dc_next[cell] + dh[cell] * o * (1.0 - tc * tc);
            let (di, df, dg) = (dc * g, dc * c_prev[cell], dc * i);
            dc_prev[cell] = dc * f;
            let pre = [di * i * (1.0 - i), df * f * (1.0 - f), dg * (1.0 - g * g), d_o * o * (1.0 - o)];
            for (q, v) in pre.into_iter().enumerate() {
                dgates[b * g4 + GATES * j + q] = v;
            }
        }
    }
    (dgates, dc_prev)
}

/// A whole sequence's states (`[T, B, ·]`) and the initial states used.
pub struct States {
    pub dims: LstmDims,
    pub gates: Vec<f64>,
    pub c: Vec<f64>,
    pub h: Vec<f64>,
    pub h0: Vec<f64>,
    pub c0: Vec<f64>,
}

impl States {
    fn plane(&self) -> usize {
        self.dims.batch * self.dims.hidden
    }
    /// The state before step t of a `sequence` of them that starts from `initial`.
    fn before<'a>(&self, initial: &'a [f64], sequence: &'a [f64], t: usize) -> &'a [f64] {
        let n = self.plane();
        if t == 0 {
            initial
        } else {
            &sequence[(t - 1) * n..t * n]
        }
    }
    /// h_{t-1} for step t (h0 at t = 0).
    pub fn h_before(&self, t: usize) -> &[f64] {
        self.before(&self.h0, &self.h, t)
    }
    /// c_{t-1} for step t (c0 at t = 0).
    pub fn c_before(&self, t: usize) -> &[f64] {
        self.before(&self.c0, &self.c, t)
    }
}

/// `x_proj` `[T, B, 4H]`, `w_h` `[H, 4H]`, `h0`/`c0` `[B, H]` (zero when `None`).
pub fn lstm_forward(x_proj: &[f64], w_h: &[f64], h0: Option<&[f64]>, c0: Option<&[f64]>, dims: LstmDims) -> States {
    let LstmDims { steps, batch, hidden } = dims;
    let g4 = GATES * hidden;
    let zeros = vec![0.0; batch * hidden];
    let mut states = States {
        dims,
        gates: Vec::new(),
        c: Vec::new(),
        h: Vec::new(),
        h0: h0.unwrap_or(&zeros).to_vec(),
        c0: c0.unwrap_or(&zeros).to_vec(),
    };
    for t in 0..steps {
        let h_prev = states.h_before(t);
        let mut pre = x_proj[t * batch * g4..(t + 1) * batch * g4].to_vec();
        for b in 0..batch {
            for n in 0..g4 {
                pre[b * g4 + n] += (0..hidden).map(|k| h_prev[b * hidden + k] * w_h[k * g4 + n]).sum::<f64>();
            }
        }
        let step = cell_forward(&pre, states.c_before(t), batch, hidden);
        states.gates.extend(step.gates);
        states.c.extend(step.c);
        states.h.extend(step.h);
    }
    states
}

/// Gradients of a sequence, from `dh` `[T, B, H]` (d loss / d h_t from above only).
pub struct Grads {
    /// `[T, B, 4H]` = d loss / d x_proj.
    pub dgates: Vec<f64>,
    pub dw_h: Vec<f64>,
    pub dh0: Vec<f64>,
    pub dc0: Vec<f64>,
}

pub fn lstm_backward(states: &States, w_h: &[f64], dh: &[f64]) -> Grads {
    let LstmDims { steps, batch, hidden } = states.dims;
    let g4 = GATES * hidden;
    let plane = batch * hidden;
    let mut grads = Grads {
        dgates: vec![0.0; steps * batch * g4],
        dw_h: vec![0.0; hidden * g4],
        dh0: vec![0.0; plane],
        dc0: vec![0.0; plane],
    };
    // d loss / d h_t and d c_t arriving from step t+1 (named for the step they feed).
    let mut dh_next = vec![0.0; plane];
    let mut dc_next = vec![0.0; plane];
    for t in (0..steps).rev() {
        let dh_t: Vec<f64> = (0..plane).map(|e| dh[t * plane + e] + dh_next[e]).collect();
        let (dg, dc_prev) = cell_backward(
            &states.gates[t * batch * g4..(t + 1) * batch * g4],
            &states.c[t * plane..(t + 1) * plane],
            states.c_before(t),
            &dh_t,
            &dc_next,
            hidden,
        );
        let h_prev = states.h_before(t);
        for k in 0..hidden {
            for n in 0..g4 {
                grads.dw_h[k * g4 + n] += (0..batch).map(|b| h_prev[b * hidden + k] * dg[b * g4 + n]).sum::<f64>();
            }
        }
        for b in 0..batch {
            for k in 0..hidden {
                dh_next[b * hidden + k] = (0..g4).map(|n| dg[b * g4 + n] * w_h[k * g4 + n]).sum();
            }
        }
        dc_next = dc_prev;
        grads.dgates[t * batch * g4..(t + 1) * batch * g4].copy_from_slice(&dg);
    }
    grads.dh0 = dh_next;
    grads.dc0 = dc_next;
    grads
}
