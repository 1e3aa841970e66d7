//! LSTM layer kernels (see lstm.wgsl): the recurrence forward and backward through time,
//! fused so that each time step is one launch, and all of it recorded into the pending
//! command buffer (nothing here submits or reads back).
//!
//! Gates: order **i, f, g, o** (input, forget, cell candidate, output), laid out **unit by
//! unit**: column `4j + q` of every `[·, 4H]` row is gate q of hidden unit j
//! ([`gate_column`]). That holds for x_proj, the gates and their gradients, and therefore for
//! the columns of W_x `[D, 4H]`, W_h `[H, 4H]` and b `[4H]` — initialise them through
//! [`gate_column`] (a forget-gate bias of 1, say). Why not four blocks of H columns (PyTorch's
//! layout)? With the gates of a unit side by side, the thread that owns unit j loads its four
//! gates and its four weights per input as one vec4, both forward (column j of W_h) and
//! backward (row j of W_h), so neither direction needs a transposed copy of W_h.
//!
//! One layer, as the caller composes it (layer 2 takes layer 1's `h` as its `x`):
//! ```text
//! x_proj = x·W_x + b                       1 matmul over all T·B rows   (project_inputs)
//! states = lstm_forward(x_proj, W_h, h0, c0)      T launches
//! grads  = lstm_backward(states, W_h, dh)         T + 1 launches (+1 when h0 is given)
//! dW_x = xᵀ·dgates, db = Σ_rows dgates, dx = dgates·W_xᵀ   1 matmul / 1 reduce / 1 matmul
//! ```
//!
//! Launches per sequence of T steps:
//! - forward: exactly T — step t computes `x_proj[t] + h_{t-1}·W_h`, the four gates, `c_t`
//!   and `h_t` in one launch ([`forward_dispatches`]);
//! - backward: T + 1, + 1 with h0 — T fused steps (step t adds the recurrent
//!   `dgates[t+1]·W_hᵀ` to dh and runs the cell backward in one launch), then
//!   `dW_h = Σ_t h_{t-1}ᵀ·dgates[t]` over all T·B rows in one launch, and `dh0 = dgates[0]·W_hᵀ`
//!   when h0 was given ([`backward_dispatches`]).
//!
//! Tensor slicing: [`Tensor`] has no offset views, so every kernel here addresses its step's
//! slice of the `[T, B, ·]` sequence buffers itself (the time index is a launch parameter).
//! dW_h needs h one step late: that is h's own buffer read B rows back, plus h0 for t = 0,
//! which the dW_h kernel does directly (no shifted copy).
//!
//! Why dW_h has its own kernel rather than the general matmul over T·B rows: it reads the
//! shifted h sequence in place, and for its one shape (a long reduction into a small
//! `[H, 4H]`) it took about 40 % less CPU time on lavapipe than the tiled matmul (0.8 s
//! against 1.33 s for T = 256, B = 32, H = 128).

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Shape, Tensor};
use crate::kernels::matmul::{self, Epilogue, Transpose};
use crate::kernels::source;

pub mod cases;
pub mod cpu;

kernel_specs! {
    shader: "lstm.wgsl", sources: [source::ACTIVATION, source::LSTM], params: Params;
    FORWARD_STEP = "lstm_forward_step" [
        f_x: Read(vec4<f32>),          // x_proj [T,B,4H] or gates_pre [B,4H]
        f_w: Read(vec4<f32>),          // W_h [H,4H]
        f_h0: Read,                    // [B,H]
        f_c0: Read,                    // [B,H]
        f_gates: ReadWrite(vec4<f32>), // activated [T,B,4H]
        f_c: ReadWrite,                // [T,B,H]
        f_h: ReadWrite,                // [T,B,H]
    ];
    BACKWARD_STEP = "lstm_backward_step" [
        b_w: Read(vec4<f32>),           // W_h [H,4H]
        b_dgates: ReadWrite(vec4<f32>), // d pre-activations [T,B,4H]
        b_dh: Read,                     // dh from above [T,B,H] or [B,H]
        b_gates: Read(vec4<f32>),       // activated [T,B,4H]
        b_c: Read,                      // [T,B,H]
        b_c0: Read,                     // [B,H]
        b_dc: ReadWrite,                // [B,H]: in dc_{t+1}·f_{t+1}, out dc_t·f_t
    ];
    DH0 = "lstm_dh0" [
        b_w: Read(vec4<f32>),           // W_h [H,4H]
        b_dgates: ReadWrite(vec4<f32>), // d pre-activations [T,B,4H]
        d_dh0: ReadWrite,               // [B,H]
    ];
    DW_H = "lstm_dw_h" [
        w_h: Read,                  // h [T,B,H]
        w_h0: Read,                 // [B,H]
        w_dgates: Read(vec4<f32>),  // [T,B,4H]
        w_dw: ReadWrite(vec4<f32>), // dW_h [H,4H]
    ];
}

/// Hidden units per workgroup and batch rows per workgroup (UNITS and ROWS in lstm.wgsl).
const UNITS: usize = 64;
const ROWS: usize = 4;
/// Rows of dW_h per thread of the dW_h kernel (DW_K in lstm.wgsl).
const DW_K: usize = 8;

kernel_params! {
    #[derive(Default)]
    struct Params {
        batch: u32,
        hidden: u32,
        /// the step this launch computes
        t: u32,
        /// T
        steps: u32,
        /// which [B, ·] slice of the x / dh input to read (t in a sequence, 0 for one cell)
        src_step: u32,
        flags: u32,
    }

    /// Flag: h_{-1} = h0 (otherwise zero).
    const HAS_H0: u32 = 1;
    /// Flag: c_{-1} = c0 (otherwise zero).
    const HAS_C0: u32 = 2;
    /// Flag: forward, add h_{t-1}·W_h; backward, add dgates_{t+1}·W_hᵀ to dh.
    const RECURRENT: u32 = 4;
    /// Flag (backward): the dc buffer holds dc from step t+1 (otherwise zero).
    const DC_IN: u32 = 8;
}

/// Gates per hidden unit.
pub const GATES: usize = 4;

/// The four gates, in their order within a unit's 4 columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    Input = 0,
    Forget = 1,
    Cell = 2,
    Output = 3,
}

/// The column of `gate` of hidden unit `unit` in a `[·, 4H]` row (W_x, W_h, b, x_proj, ...).
pub const fn gate_column(unit: usize, gate: Gate) -> usize {
    GATES * unit + gate as usize
}

/// T time steps of B sequences with H hidden units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmDims {
    pub steps: usize,
    pub batch: usize,
    pub hidden: usize,
}

impl LstmDims {
    /// `[T, B, H]`: h, c, dh.
    pub fn seq_shape(&self) -> Shape {
        [self.steps, self.batch, self.hidden].into()
    }
    /// `[T, B, 4H]`: x_proj, gates, dgates.
    pub fn gates_shape(&self) -> Shape {
        [self.steps, self.batch, GATES * self.hidden].into()
    }
    /// `[B, H]`: h0, c0 and their gradients.
    pub fn state_shape(&self) -> Shape {
        [self.batch, self.hidden].into()
    }
    /// `[H, 4H]`: W_h.
    pub fn w_h_shape(&self) -> Shape {
        [self.hidden, GATES * self.hidden].into()
    }
}

/// Launches [`lstm_forward`] records for T steps.
pub fn forward_dispatches(dims: LstmDims) -> usize {
    dims.steps
}

/// Launches [`lstm_backward`] records for T steps (with or without an initial h0).
pub fn backward_dispatches(dims: LstmDims, has_h0: bool) -> usize {
    dims.steps + 1 + has_h0 as usize
}

/// What the forward pass keeps for the backward pass: the whole sequence of states.
pub struct LstmStates {
    pub dims: LstmDims,
    /// `[T, B, H]`, the layer's output sequence.
    pub h: Tensor,
    /// `[T, B, H]`, cell states.
    pub c: Tensor,
    /// `[T, B, 4H]`, activated gates (σ(i), σ(f), tanh(g), σ(o)), unit by unit.
    pub gates: Tensor,
    /// `[B, H]` initial states, when given (zero otherwise).
    pub h0: Option<Tensor>,
    pub c0: Option<Tensor>,
}

impl LstmStates {
    /// Buffers for a sequence (contents undefined until the steps write them). `h0`/`c0`
    /// must be `[B, H]` (any shape that is B rows of H, such as `[1, B, H]`).
    pub fn new(gpu: &Gpu, dims: LstmDims, h0: Option<&Tensor>, c0: Option<&Tensor>) -> Result<LstmStates> {
        check_dims("lstm", dims)?;
        for (what, init) in [("h0 must be [B, H]", h0), ("c0 must be [B, H]", c0)] {
            if let Some(init) = init {
                if init.shape().as_matrix() != (dims.batch, dims.hidden) {
                    return Err(Error::shape("lstm", what, init.shape(), &dims.state_shape()));
                }
            }
        }
        Ok(LstmStates {
            dims,
            h: Tensor::uninit(gpu, dims.seq_shape())?,
            c: Tensor::uninit(gpu, dims.seq_shape())?,
            gates: Tensor::uninit(gpu, dims.gates_shape())?,
            h0: h0.cloned(),
            c0: c0.cloned(),
        })
    }

    fn owns(&self, t: &Tensor) -> bool {
        [&self.h, &self.c, &self.gates].iter().any(|s| s.same_buffer(t))
    }
}

/// Gradients of one layer's sequence.
pub struct LstmGrads {
    /// `[T, B, 4H]`: d loss / d gate pre-activations = d loss / d x_proj. The caller turns it
    /// into dW_x = xᵀ·dgates, db = column sums, dx = dgates·W_xᵀ.
    pub dgates: Tensor,
    /// `[H, 4H]`.
    pub dw_h: Tensor,
    /// `[B, H]`, when the forward pass had h0 / c0.
    pub dh0: Option<Tensor>,
    pub dc0: Option<Tensor>,
}

fn check_dims(op: &'static str, dims: LstmDims) -> Result<()> {
    let shape = dims.gates_shape();
    if shape.numel() == 0 {
        return Err(Error::EmptyTensor(shape));
    }
    if dims.batch.div_ceil(ROWS) > 65_535 {
        return Err(Error::BadShape { op, why: format!("at most {} sequences per batch", 65_535 * ROWS), shape });
    }
    if shape.numel() > u32::MAX as usize {
        return Err(Error::BadShape { op, why: "the sequence has more than 2³² gate values".into(), shape });
    }
    Ok(())
}

/// H from W_h, which must be `[H, 4H]`; `other` is named in the error.
fn hidden_of(op: &'static str, w_h: &Tensor, other: &Tensor, want_gates: usize) -> Result<usize> {
    match *w_h.shape().dims() {
        [h, g] if g == GATES * h && g == want_gates => Ok(h),
        _ => Err(Error::shape(
            op,
            "W_h must be [H, 4H], with 4H the last dimension of the other operand",
            w_h.shape(),
            other.shape(),
        )),
    }
}

/// A cell launch's estimated cost in a matrix product's multiply-adds: its recurrent product
/// `h_{t-1}·W_h` (`[B, H]·[H, 4H]`), the bulk of its work, at the cell's own speed. On
/// SwiftShader a cell does about one multiply-add in the time `matmul_direct` does
/// [`CELL_SLOWER_THAN_MATMUL`] (hidden 128, batch 32: 2.3 ms a forward step against 0.3 ns
/// per multiply-add).
fn step_work(dims: LstmDims) -> f64 {
    (dims.batch * dims.hidden * GATES * dims.hidden) as f64 * CELL_SLOWER_THAN_MATMUL
}

const CELL_SLOWER_THAN_MATMUL: f64 = 3.5;

fn workgroups(dims: LstmDims) -> [u32; 3] {
    [dims.hidden.div_ceil(UNITS) as u32, dims.batch.div_ceil(ROWS) as u32, 1]
}

fn params(dims: LstmDims, t: usize, src_step: usize, flags: u32) -> Params {
    Params {
        batch: dims.batch as u32,
        hidden: dims.hidden as u32,
        t: t as u32,
        steps: dims.steps as u32,
        src_step: src_step as u32,
        flags,
    }
}

/// `x·W_x + b` for a whole sequence `x` `[T, B, D]` at once: `[T, B, 4H]` (one matmul).
pub fn project_inputs(gpu: &Gpu, x: &Tensor, w_x: &Tensor, b: &Tensor) -> Result<Tensor> {
    let [steps, batch, _] = *x.shape().dims() else {
        return Err(Error::shape("lstm project_inputs", "x must be [T, B, D]", x.shape(), w_x.shape()));
    };
    let (_, gates) = w_x.shape().as_matrix();
    let rows = x.reshape([steps * batch, x.shape().dims()[2]])?;
    let bias = Epilogue { bias: Some(b), ..Epilogue::default() };
    matmul::matmul(gpu, &rows, w_x, Transpose::NONE, bias)?.reshape([steps, batch, gates])
}

/// One forward step launch: gate pre-activations from `x`'s slice `src_step`, plus
/// `h_{t-1}·W_h` when `w_h` is given; then the cell, into `states` at step `t`.
fn record_forward_step(gpu: &Gpu, states: &LstmStates, x: &Tensor, w_h: Option<&Tensor>, t: usize, src_step: usize) {
    let mut flags = 0;
    if states.h0.is_some() {
        flags |= HAS_H0;
    }
    if states.c0.is_some() {
        flags |= HAS_C0;
    }
    // At t = 0 without h0 the recurrent term is zero: skip it.
    if w_h.is_some() && (t > 0 || states.h0.is_some()) {
        flags |= RECURRENT;
    }
    // Absent inputs bind a read-only buffer of this launch that the kernel never reads
    // through that binding (a writable one would alias).
    gpu.dispatch_with(
        &FORWARD_STEP,
        &[],
        &params(states.dims, t, src_step, flags),
        &[
            x,
            w_h.unwrap_or(x),
            states.h0.as_ref().unwrap_or(x),
            states.c0.as_ref().unwrap_or(x),
            &states.gates,
            &states.c,
            &states.h,
        ],
        workgroups(states.dims),
        step_work(states.dims),
    );
}

/// The recurrence over a whole sequence: `x_proj` `[T, B, 4H]` (x·W_x + b of every step),
/// `w_h` `[H, 4H]`, optional `h0`, `c0` `[B, H]` (zero when absent). Records T launches.
pub fn lstm_forward(
    gpu: &Gpu,
    x_proj: &Tensor,
    w_h: &Tensor,
    h0: Option<&Tensor>,
    c0: Option<&Tensor>,
) -> Result<LstmStates> {
    let op = "lstm_forward";
    let [steps, batch, gates] = *x_proj.shape().dims() else {
        return Err(Error::shape(op, "x_proj must be [T, B, 4H] for W_h [H, 4H]", x_proj.shape(), w_h.shape()));
    };
    let hidden = hidden_of(op, w_h, x_proj, gates)?;
    let dims = LstmDims { steps, batch, hidden };
    let states = LstmStates::new(gpu, dims, h0, c0)?;
    for t in 0..steps {
        record_forward_step(gpu, &states, x_proj, Some(w_h), t, t);
    }
    Ok(states)
}

/// One cell on its own: `gates_pre` `[B, 4H]` (all of the step's pre-activations, recurrent
/// term included) and `c_{t-1}` (from `states.c` at t − 1, or c0 / zero at t = 0); writes
/// the activated gates, `c_t` and `h_t` into `states` at step `t`. One launch.
pub fn cell_forward(gpu: &Gpu, gates_pre: &Tensor, states: &LstmStates, t: usize) -> Result<()> {
    let dims = states.dims;
    let want: Shape = [dims.batch, GATES * dims.hidden].into();
    if gates_pre.shape().as_matrix() != (dims.batch, GATES * dims.hidden) {
        return Err(Error::shape("lstm cell_forward", "gates_pre must be [B, 4H]", gates_pre.shape(), &want));
    }
    check_step("lstm cell_forward", t, dims)?;
    if states.owns(gates_pre) {
        return Err(Error::Invalid("lstm cell_forward: gates_pre must not be one of the state buffers".into()));
    }
    record_forward_step(gpu, states, gates_pre, None, t, 0);
    Ok(())
}

fn check_step(op: &'static str, t: usize, dims: LstmDims) -> Result<()> {
    if t >= dims.steps {
        return Err(Error::BadShape {
            op,
            why: format!("time step {t} is outside the sequence's {} steps", dims.steps),
            shape: dims.seq_shape(),
        });
    }
    Ok(())
}

/// Backward through time. `dh` (`[T, B, H]`, or `[T·B, H]`) is d loss / d h from above
/// (the output layer, or the next layer's `dgates·W_xᵀ`); the recurrent path is added here.
/// Records [`backward_dispatches`] launches.
pub fn lstm_backward(gpu: &Gpu, states: &LstmStates, w_h: &Tensor, dh: &Tensor) -> Result<LstmGrads> {
    let op = "lstm_backward";
    let dims = states.dims;
    let g4 = GATES * dims.hidden;
    hidden_of(op, w_h, &states.gates, g4)?;
    if dh.shape().as_matrix() != (dims.steps * dims.batch, dims.hidden) {
        return Err(Error::shape(op, "dh must be [T, B, H] like the states' h", dh.shape(), &dims.seq_shape()));
    }

    let dgates = Tensor::uninit(gpu, dims.gates_shape())?;
    // dc carried from step t+1 to step t (the last step starts from zero via the flags).
    let dc = Tensor::uninit(gpu, dims.state_shape())?;
    let c0_flag = if states.c0.is_some() { HAS_C0 } else { 0 };
    let h0_flag = if states.h0.is_some() { HAS_H0 } else { 0 };
    for t in (0..dims.steps).rev() {
        let carried = if t + 1 < dims.steps { RECURRENT | DC_IN } else { 0 };
        gpu.dispatch_with(
            &BACKWARD_STEP,
            &[],
            &params(dims, t, t, carried | c0_flag),
            &[w_h, &dgates, dh, &states.gates, &states.c, states.c0.as_ref().unwrap_or(&states.gates), &dc],
            workgroups(dims),
            step_work(dims),
        );
    }

    // dW_h = Σ_t h_{t-1}ᵀ·dgates[t] over all T·B rows at once: threads own 4 rows of dW_h
    // × one unit's 4 gate columns.
    let dw_h = Tensor::uninit(gpu, dims.w_h_shape())?;
    gpu.dispatch_with(
        &DW_H,
        &[],
        &params(dims, 0, 0, h0_flag),
        &[&states.h, states.h0.as_ref().unwrap_or(&states.h), &dgates, &dw_h],
        [dims.hidden.div_ceil(UNITS) as u32, dims.hidden.div_ceil(DW_K) as u32, 1],
        dims.steps as f64 * step_work(dims),
    );

    let dh0 = match states.h0 {
        Some(_) => {
            let dh0 = Tensor::uninit(gpu, dims.state_shape())?;
            gpu.dispatch_with(
                &DH0,
                &[],
                &params(dims, 0, 0, 0),
                &[w_h, &dgates, &dh0],
                workgroups(dims),
                step_work(dims),
            );
            Some(dh0)
        }
        None => None,
    };

    Ok(LstmGrads { dgates, dw_h, dh0, dc0: states.c0.as_ref().map(|_| dc) })
}

/// One cell backward on its own, at step `t` of `states`: `dh` `[B, H]` is the step's whole
/// d loss / d h_t; `dc` `[B, H]` holds d loss / d c_t from step t+1 (zeros for the last
/// step) and is overwritten with the part for c_{t-1}; the step's gate pre-activation
/// gradients go into `dgates` (`[T, B, 4H]`, like `states.gates`) at step `t`. One launch.
pub fn cell_backward(
    gpu: &Gpu,
    states: &LstmStates,
    t: usize,
    dh: &Tensor,
    dc: &Tensor,
    dgates: &Tensor,
) -> Result<()> {
    let op = "lstm cell_backward";
    let dims = states.dims;
    check_step(op, t, dims)?;
    let state = dims.state_shape();
    if dh.shape().as_matrix() != (dims.batch, dims.hidden) {
        return Err(Error::shape(op, "dh must be [B, H]", dh.shape(), &state));
    }
    if dc.shape().as_matrix() != (dims.batch, dims.hidden) {
        return Err(Error::shape(op, "dc must be [B, H]", dc.shape(), &state));
    }
    if dgates.len() != states.gates.len() {
        return Err(Error::shape(
            op,
            "dgates must be shaped like the states' gates",
            dgates.shape(),
            states.gates.shape(),
        ));
    }
    for (i, a) in [dh, dc, dgates].iter().enumerate() {
        let aliased = [dh, dc, dgates].iter().enumerate().any(|(j, b)| i != j && a.same_buffer(b));
        if aliased || states.owns(a) {
            return Err(Error::Invalid(format!("{op}: dh, dc and dgates must be distinct buffers")));
        }
    }
    let flags = DC_IN | if states.c0.is_some() { HAS_C0 } else { 0 };
    // Without the recurrent product, one step's cell is elementwise over [B, 4H].
    let work = 8.0 * (dims.batch * GATES * dims.hidden) as f64;
    gpu.dispatch_with(
        &BACKWARD_STEP,
        &[],
        &params(dims, t, 0, flags),
        &[
            &states.gates, // W_hᵀ is not used without RECURRENT
            dgates,
            dh,
            &states.gates,
            &states.c,
            states.c0.as_ref().unwrap_or(&states.gates),
            dc,
        ],
        workgroups(dims),
        work,
    );
    Ok(())
}
