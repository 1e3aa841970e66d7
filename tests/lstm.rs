//! LSTM kernels (issue 5): the fused cell and the whole recurrence against the CPU twin,
//! backward through time against finite differences, launch counts, and shape checks.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use genlab::kernels::lstm::{self, cpu, gate_column, Gate, LstmDims, LstmStates};
use genlab::kernels::matmul::{self, Epilogue, Transpose};
use genlab::kernels::reduce;
use genlab::selftest::{max_error, test_data, TOLERANCE};
use genlab::{Error, Gpu, Result, Tensor};

fn data(seed: u64, n: usize, scale: f32) -> Vec<f64> {
    cpu::to_f64(&test_data(seed, n, scale))
}

fn upload(gpu: &Gpu, shape: impl Into<genlab::Shape>, values: &[f64]) -> Tensor {
    Tensor::from_slice(gpu, shape, &cpu::to_f32(values)).unwrap()
}

/// Collects every comparison so that one failure report shows all of them.
#[derive(Default)]
struct Report {
    lines: Vec<String>,
    failed: bool,
}

impl Report {
    fn check(&mut self, gpu: &Gpu, what: &str, tensor: &Tensor, want: &[f64], tolerance: f64) {
        let got = tensor.to_vec_blocking(gpu).unwrap();
        let error = max_error(&got, &cpu::to_f32(want));
        let ok = error <= tolerance;
        self.failed |= !ok;
        self.lines.push(format!("{what:<40} max error {error:.2e} {}", if ok { "ok" } else { "FAIL" }));
    }

    fn finish(self) {
        println!("{}", self.lines.join("\n"));
        assert!(!self.failed, "mismatches:\n{}", self.lines.join("\n"));
    }
}

#[test]
fn cell_forward_and_backward_match_cpu_twin() {
    let gpu = common::gpu();
    let mut report = Report::default();
    for (batch, hidden) in [(1, 1), (3, 7), (5, 65), (32, 128)] {
        let name = format!("B={batch} H={hidden}");
        let dims = LstmDims { steps: 2, batch, hidden };
        let (g4, plane) = (4 * hidden, batch * hidden);
        let c0 = data(1, plane, 1.0);
        let pre = [data(2, batch * g4, 2.0), data(3, batch * g4, 2.0)];
        let c0_t = upload(&gpu, [batch, hidden], &c0);
        let states = LstmStates::new(&gpu, dims, None, Some(&c0_t)).unwrap();
        // Step 0 reads c0, step 1 reads c_0 from the sequence buffer.
        for (t, pre) in pre.iter().enumerate() {
            lstm::cell_forward(&gpu, &upload(&gpu, [batch, g4], pre), &states, t).unwrap();
        }
        let step0 = cpu::cell_forward(&pre[0], &c0, batch, hidden);
        let step1 = cpu::cell_forward(&pre[1], &step0.c, batch, hidden);
        let cat = |a: &[f64], b: &[f64]| [a, b].concat();
        report.check(
            &gpu,
            &format!("cell fwd gates {name}"),
            &states.gates,
            &cat(&step0.gates, &step1.gates),
            TOLERANCE,
        );
        report.check(&gpu, &format!("cell fwd c {name}"), &states.c, &cat(&step0.c, &step1.c), TOLERANCE);
        report.check(&gpu, &format!("cell fwd h {name}"), &states.h, &cat(&step0.h, &step1.h), TOLERANCE);

        // Backward: step 1 with a nonzero incoming dc, then step 0 with the dc it leaves.
        let dh = [data(4, plane, 1.0), data(5, plane, 1.0)];
        let dc_in = data(6, plane, 1.0);
        let dc = upload(&gpu, [batch, hidden], &dc_in);
        let dgates = Tensor::uninit(&gpu, dims.gates_shape()).unwrap();
        for t in [1, 0] {
            lstm::cell_backward(&gpu, &states, t, &upload(&gpu, [batch, hidden], &dh[t]), &dc, &dgates).unwrap();
        }
        // The twin's inputs are the GPU's forward outputs' exact twins (step0, step1).
        let (dg1, dc1) = cpu::cell_backward(&step1.gates, &step1.c, &step0.c, &dh[1], &dc_in, hidden);
        let (dg0, dc0) = cpu::cell_backward(&step0.gates, &step0.c, &c0, &dh[0], &dc1, hidden);
        report.check(&gpu, &format!("cell bwd dgates {name}"), &dgates, &cat(&dg0, &dg1), TOLERANCE);
        report.check(&gpu, &format!("cell bwd dc {name}"), &dc, &dc0, TOLERANCE);
    }
    report.finish();
}

/// Inputs of one recurrence, with pre-activations of order one whatever H is.
struct Sequence {
    dims: LstmDims,
    x_proj: Vec<f64>,
    w_h: Vec<f64>,
    h0: Option<Vec<f64>>,
    c0: Option<Vec<f64>>,
    dh: Vec<f64>,
}

impl Sequence {
    fn new(steps: usize, batch: usize, hidden: usize, initial: bool, seed: u64) -> Sequence {
        let dims = LstmDims { steps, batch, hidden };
        let (g4, plane) = (4 * hidden, batch * hidden);
        Sequence {
            dims,
            x_proj: data(seed, steps * batch * g4, 1.0),
            w_h: data(seed + 1, hidden * g4, 1.5 / (hidden as f32).sqrt()),
            h0: initial.then(|| data(seed + 2, plane, 1.0)),
            c0: initial.then(|| data(seed + 3, plane, 1.0)),
            dh: data(seed + 4, steps * plane, 1.0),
        }
    }
}

#[test]
fn sequence_forward_and_backward_match_cpu_twin() {
    let gpu = common::gpu();
    let mut report = Report::default();
    let cases = [
        (1, 3, 7, false),
        (1, 2, 5, true),
        (5, 5, 65, true),
        (5, 32, 128, false),
        (17, 4, 33, true),
        (17, 1, 1, false),
        (3, 6, 300, true),
        (2, 3, 512, true),
    ];
    for (i, (steps, batch, hidden, initial)) in cases.into_iter().enumerate() {
        let s = Sequence::new(steps, batch, hidden, initial, 10 * i as u64);
        let dims = s.dims;
        let name = format!("T={steps} B={batch} H={hidden}{}", if initial { " h0,c0" } else { "" });
        let h0 = s.h0.as_ref().map(|v| upload(&gpu, [batch, hidden], v));
        let c0 = s.c0.as_ref().map(|v| upload(&gpu, [batch, hidden], v));
        let x_proj = upload(&gpu, dims.gates_shape(), &s.x_proj);
        let w_h = upload(&gpu, dims.w_h_shape(), &s.w_h);
        let states = lstm::lstm_forward(&gpu, &x_proj, &w_h, h0.as_ref(), c0.as_ref()).unwrap();
        let grads = lstm::lstm_backward(&gpu, &states, &w_h, &upload(&gpu, dims.seq_shape(), &s.dh)).unwrap();

        let want = cpu::lstm_forward(&s.x_proj, &s.w_h, s.h0.as_deref(), s.c0.as_deref(), dims);
        let want_grads = cpu::lstm_backward(&want, &s.w_h, &s.dh);
        report.check(&gpu, &format!("h {name}"), &states.h, &want.h, TOLERANCE);
        report.check(&gpu, &format!("c {name}"), &states.c, &want.c, TOLERANCE);
        report.check(&gpu, &format!("gates {name}"), &states.gates, &want.gates, TOLERANCE);
        report.check(&gpu, &format!("dgates {name}"), &grads.dgates, &want_grads.dgates, TOLERANCE);
        report.check(&gpu, &format!("dW_h {name}"), &grads.dw_h, &want_grads.dw_h, TOLERANCE);
        assert_eq!(grads.dh0.is_some(), initial, "dh0 exactly when h0 is given");
        assert_eq!(grads.dc0.is_some(), initial, "dc0 exactly when c0 is given");
        if let (Some(dh0), Some(dc0)) = (&grads.dh0, &grads.dc0) {
            report.check(&gpu, &format!("dh0 {name}"), dh0, &want_grads.dh0, TOLERANCE);
            report.check(&gpu, &format!("dc0 {name}"), dc0, &want_grads.dc0, TOLERANCE);
        }
    }
    report.finish();
}

/// A small LSTM layer with inputs: x [T, B, D], W_x [D, 4H], b [4H], W_h [H, 4H], h0, c0.
/// The loss is L = Σ_t Σ_b Σ_j w[t, b, j]·h_t[b, j] over the whole sequence.
#[derive(Clone)]
struct Layer {
    x: Vec<f64>,
    w_x: Vec<f64>,
    b: Vec<f64>,
    w_h: Vec<f64>,
    h0: Vec<f64>,
    c0: Vec<f64>,
}

const T: usize = 4;
const B: usize = 2;
const H: usize = 3;
const D: usize = 2;
const DIMS: LstmDims = LstmDims { steps: T, batch: B, hidden: H };

fn x_proj(layer: &Layer) -> Vec<f64> {
    let g4 = 4 * H;
    let mut out = vec![0.0; T * B * g4];
    for row in 0..T * B {
        for n in 0..g4 {
            out[row * g4 + n] = layer.b[n] + (0..D).map(|d| layer.x[row * D + d] * layer.w_x[d * g4 + n]).sum::<f64>();
        }
    }
    out
}

fn loss(layer: &Layer, w: &[f64]) -> f64 {
    let states = cpu::lstm_forward(&x_proj(layer), &layer.w_h, Some(&layer.h0), Some(&layer.c0), DIMS);
    states.h.iter().zip(w).map(|(h, w)| h * w).sum()
}

/// Central differences in f64 with respect to every parameter, in the order of
/// [`Layer::fields`].
fn finite_differences(layer: &Layer, w: &[f64]) -> Vec<Vec<f64>> {
    let eps = 1e-5;
    let mut grads = Vec::new();
    for field in 0..6 {
        let n = layer.fields()[field].len();
        let mut grad = vec![0.0; n];
        for (i, g) in grad.iter_mut().enumerate() {
            let mut plus = layer.clone();
            plus.field_mut(field)[i] += eps;
            let mut minus = layer.clone();
            minus.field_mut(field)[i] -= eps;
            *g = (loss(&plus, w) - loss(&minus, w)) / (2.0 * eps);
        }
        grads.push(grad);
    }
    grads
}

impl Layer {
    const NAMES: [&'static str; 6] = ["x", "W_x", "b", "W_h", "h0", "c0"];

    fn fields(&self) -> [&Vec<f64>; 6] {
        [&self.x, &self.w_x, &self.b, &self.w_h, &self.h0, &self.c0]
    }

    fn field_mut(&mut self, i: usize) -> &mut Vec<f64> {
        match i {
            0 => &mut self.x,
            1 => &mut self.w_x,
            2 => &mut self.b,
            3 => &mut self.w_h,
            4 => &mut self.h0,
            _ => &mut self.c0,
        }
    }
}

/// Analytic gradients from the CPU twin, in the order of [`Layer::fields`]: the LSTM's own
/// (dgates, dW_h, dh0, dc0) and the caller's input projection backward.
fn cpu_analytic(layer: &Layer, w: &[f64]) -> Vec<Vec<f64>> {
    let g4 = 4 * H;
    let states = cpu::lstm_forward(&x_proj(layer), &layer.w_h, Some(&layer.h0), Some(&layer.c0), DIMS);
    let grads = cpu::lstm_backward(&states, &layer.w_h, w);
    let dg = &grads.dgates;
    let mut dx = vec![0.0; T * B * D];
    let mut dw_x = vec![0.0; D * g4];
    let mut db = vec![0.0; g4];
    for row in 0..T * B {
        for n in 0..g4 {
            db[n] += dg[row * g4 + n];
            for d in 0..D {
                dw_x[d * g4 + n] += layer.x[row * D + d] * dg[row * g4 + n];
                dx[row * D + d] += dg[row * g4 + n] * layer.w_x[d * g4 + n];
            }
        }
    }
    vec![dx, dw_x, db, grads.dw_h, grads.dh0, grads.dc0]
}

/// The same gradients on the GPU, composed the way a model's layer does it.
fn gpu_analytic(gpu: &Gpu, layer: &Layer, w: &[f64]) -> Result<Vec<Tensor>> {
    let g4 = 4 * H;
    let x = upload(gpu, [T, B, D], &layer.x);
    let w_x = upload(gpu, [D, g4], &layer.w_x);
    let b = upload(gpu, [g4], &layer.b);
    let w_h = upload(gpu, [H, g4], &layer.w_h);
    let h0 = upload(gpu, [B, H], &layer.h0);
    let c0 = upload(gpu, [B, H], &layer.c0);
    let x_proj = lstm::project_inputs(gpu, &x, &w_x, &b)?;
    let states = lstm::lstm_forward(gpu, &x_proj, &w_h, Some(&h0), Some(&c0))?;
    let grads = lstm::lstm_backward(gpu, &states, &w_h, &upload(gpu, [T, B, H], w))?;
    let dgates = grads.dgates.reshape([T * B, g4])?;
    let x_rows = x.reshape([T * B, D])?;
    let dx = matmul::matmul(gpu, &dgates, &w_x, Transpose::B, Epilogue::default())?;
    let dw_x = matmul::matmul(gpu, &x_rows, &dgates, Transpose::A, Epilogue::default())?;
    let db = Tensor::uninit(gpu, [g4])?;
    reduce::sum_cols_into(gpu, &dgates, 1.0, &db, false)?;
    Ok(vec![dx, dw_x, db, grads.dw_h, grads.dh0.unwrap(), grads.dc0.unwrap()])
}

#[test]
fn bptt_gradients_match_finite_differences() {
    let g4 = 4 * H;
    let layer = Layer {
        x: data(101, T * B * D, 1.0),
        w_x: data(102, D * g4, 1.0),
        b: data(103, g4, 0.5),
        w_h: data(104, H * g4, 1.0),
        h0: data(105, B * H, 0.8),
        c0: data(106, B * H, 0.8),
    };
    let w = data(107, T * B * H, 1.0);
    let numeric = finite_differences(&layer, &w);
    let analytic = cpu_analytic(&layer, &w);
    let gpu = common::gpu();
    let on_gpu = gpu_analytic(&gpu, &layer, &w).unwrap();

    let mut report = Report::default();
    for (i, name) in Layer::NAMES.iter().enumerate() {
        // Gradients that vanish would make the check pass for the wrong reason.
        let size = numeric[i].iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(size > 1e-3, "d L / d {name} is {size:e}: the check would prove nothing");
        let scale = size.max(1.0);
        let cpu_error = analytic[i].iter().zip(&numeric[i]).map(|(a, n)| (a - n).abs() / scale).fold(0.0, f64::max);
        let ok = cpu_error <= 1e-7;
        report.failed |= !ok;
        report.lines.push(format!(
            "{:<40} max error {cpu_error:.2e} {}",
            format!("CPU twin vs FD, d L / d {name}"),
            if ok { "ok" } else { "FAIL" }
        ));
        report.check(&gpu, &format!("GPU vs FD, d L / d {name}"), &on_gpu[i], &numeric[i], TOLERANCE);
    }
    report.finish();
}

#[test]
fn the_recurrence_records_without_submitting() {
    let gpu = common::gpu();
    for initial in [false, true] {
        let s = Sequence::new(6, 3, 10, initial, 200);
        let dims = s.dims;
        let x_proj = upload(&gpu, dims.gates_shape(), &s.x_proj);
        let w_h = upload(&gpu, dims.w_h_shape(), &s.w_h);
        let h0 = s.h0.as_ref().map(|v| upload(&gpu, dims.state_shape(), v));
        let c0 = s.c0.as_ref().map(|v| upload(&gpu, dims.state_shape(), v));
        let dh = upload(&gpu, dims.seq_shape(), &s.dh);
        gpu.submit();
        let submissions = gpu.submissions();
        let before = gpu.pending_dispatches();

        let states = lstm::lstm_forward(&gpu, &x_proj, &w_h, h0.as_ref(), c0.as_ref()).unwrap();
        let forward = gpu.pending_dispatches() - before;
        let grads = lstm::lstm_backward(&gpu, &states, &w_h, &dh).unwrap();
        let backward = gpu.pending_dispatches() - before - forward;

        assert_eq!(gpu.submissions(), submissions, "nothing is submitted inside the recurrence");
        // The documented budget: T forward; T + 1 (+1 for dh0) backward.
        assert_eq!(forward, 6);
        assert_eq!(forward, lstm::forward_dispatches(dims));
        assert_eq!(backward, if initial { 8 } else { 7 });
        assert_eq!(backward, lstm::backward_dispatches(dims, initial));

        // And what was recorded is the right computation, in one submission.
        let want = cpu::lstm_backward(
            &cpu::lstm_forward(&s.x_proj, &s.w_h, s.h0.as_deref(), s.c0.as_deref(), dims),
            &s.w_h,
            &s.dh,
        );
        let got = grads.dw_h.to_vec_blocking(&gpu).unwrap();
        assert_eq!(gpu.submissions(), submissions + 1);
        let error = max_error(&got, &cpu::to_f32(&want.dw_h));
        assert!(error <= TOLERANCE, "dW_h max error {error:e}");
    }
}

#[test]
fn gate_columns_mean_what_they_say() {
    // Saturate the gates through the columns gate_column names: input shut, forget and
    // output open, so the cell keeps c0 and h = tanh(c0) at every step — if and only if the
    // kernels read each gate where gate_column says it is.
    let gpu = common::gpu();
    let dims = LstmDims { steps: 3, batch: 2, hidden: 5 };
    let g4 = 4 * dims.hidden;
    let mut x_proj = vec![0.0; dims.steps * dims.batch * g4];
    for row in x_proj.chunks_mut(g4) {
        for j in 0..dims.hidden {
            row[gate_column(j, Gate::Input)] = -40.0;
            row[gate_column(j, Gate::Forget)] = 40.0;
            row[gate_column(j, Gate::Cell)] = 0.5;
            row[gate_column(j, Gate::Output)] = 40.0;
        }
    }
    let c0 = data(300, dims.batch * dims.hidden, 1.0);
    let states = lstm::lstm_forward(
        &gpu,
        &upload(&gpu, dims.gates_shape(), &x_proj),
        &upload(&gpu, dims.w_h_shape(), &vec![0.0; dims.hidden * g4]),
        None,
        Some(&upload(&gpu, dims.state_shape(), &c0)),
    )
    .unwrap();
    let mut report = Report::default();
    report.check(&gpu, "c_t = c0", &states.c, &c0.repeat(dims.steps), TOLERANCE);
    let h: Vec<f64> = c0.iter().map(|c| c.tanh()).collect();
    report.check(&gpu, "h_t = tanh(c0)", &states.h, &h.repeat(dims.steps), TOLERANCE);
    let gate = [0.0, 1.0, 0.5f64.tanh(), 1.0].repeat(dims.steps * dims.batch * dims.hidden);
    report.check(&gpu, "gates (i, f, g, o) = (0, 1, tanh ½, 1)", &states.gates, &gate, TOLERANCE);
    report.finish();
}

fn assert_shape_error<T>(result: Result<T, Error>, left: &str, right: &str) {
    let message = match result {
        Ok(_) => panic!("shapes {left} and {right} must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(message.contains(left) && message.contains(right), "message names both shapes: {message}");
}

#[test]
fn bad_shapes_are_refused_naming_both_shapes() {
    let gpu = common::gpu();
    let t = |shape: &[usize]| Tensor::zeros(&gpu, shape).unwrap();
    let (x_proj, w_h) = (t(&[5, 3, 28]), t(&[7, 28]));

    // The recurrence.
    assert_shape_error(lstm::lstm_forward(&gpu, &t(&[15, 28]), &w_h, None, None), "[15, 28]", "[7, 28]");
    assert_shape_error(lstm::lstm_forward(&gpu, &x_proj, &t(&[7, 21]), None, None), "[7, 21]", "[5, 3, 28]");
    assert_shape_error(lstm::lstm_forward(&gpu, &x_proj, &t(&[8, 32]), None, None), "[8, 32]", "[5, 3, 28]");
    assert_shape_error(lstm::lstm_forward(&gpu, &x_proj, &w_h, Some(&t(&[3, 8])), None), "[3, 8]", "[3, 7]");
    assert_shape_error(lstm::lstm_forward(&gpu, &x_proj, &w_h, None, Some(&t(&[2, 7]))), "[2, 7]", "[3, 7]");
    let states = lstm::lstm_forward(&gpu, &x_proj, &w_h, None, None).unwrap();
    assert_shape_error(lstm::lstm_backward(&gpu, &states, &w_h, &t(&[5, 3, 6])), "[5, 3, 6]", "[5, 3, 7]");
    assert_shape_error(lstm::lstm_backward(&gpu, &states, &t(&[6, 24]), &t(&[5, 3, 7])), "[6, 24]", "[5, 3, 28]");
    // [T·B, H] is the same sequence as [T, B, H] (what a matmul produces).
    assert!(lstm::lstm_backward(&gpu, &states, &w_h, &t(&[15, 7])).is_ok());

    // One cell.
    assert_shape_error(lstm::cell_forward(&gpu, &t(&[3, 27]), &states, 0), "[3, 27]", "[3, 28]");
    assert!(lstm::cell_forward(&gpu, &t(&[3, 28]), &states, 5).is_err(), "step 5 of 5 is outside");
    let (dc, dgates) = (t(&[3, 7]), t(&[5, 3, 28]));
    assert_shape_error(lstm::cell_backward(&gpu, &states, 0, &t(&[3, 6]), &dc, &dgates), "[3, 6]", "[3, 7]");
    assert_shape_error(lstm::cell_backward(&gpu, &states, 0, &dc.clone(), &t(&[7, 3]), &dgates), "[7, 3]", "[3, 7]");
    assert_shape_error(lstm::cell_backward(&gpu, &states, 0, &t(&[3, 7]), &dc, &t(&[3, 28])), "[3, 28]", "[5, 3, 28]");
    assert!(lstm::cell_backward(&gpu, &states, 0, &dc, &dc, &dgates).is_err(), "dh and dc must differ");

    // The input projection, and empty sequences.
    assert_shape_error(lstm::project_inputs(&gpu, &t(&[15, 4]), &t(&[4, 28]), &t(&[28])), "[15, 4]", "[4, 28]");
    assert_shape_error(lstm::project_inputs(&gpu, &t(&[5, 3, 4]), &t(&[5, 28]), &t(&[28])), "[15, 4]", "[5, 28]");
    assert!(LstmStates::new(&gpu, LstmDims { steps: 0, batch: 3, hidden: 7 }, None, None).is_err());
}
