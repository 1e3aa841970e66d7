//! Reverse-mode autodiff over GPU tensors, in the spirit of micrograd.
//!
//! Every forward op launches its kernel at once and pushes a node holding its value and a
//! closure that knows how to send a gradient to its parents. The tape is already in
//! topological order, so `backward` is a reverse walk. Losses are the roots, and a model's
//! total loss is the sum of the losses it recorded, each times its weight. The loss kernels
//! compute d(loss)/d(logits) on the forward pass and fold their weight into it and into
//! their value (their root's weight is 1); a loss that a fused op made on the way to its
//! output (the VAE's KL) keeps its weight on the tape and gets its gradient in that op's one
//! backward launch.
//!
//! Gradients are never zeroed: the first contribution to a gradient overwrites it and later
//! ones accumulate (every backward kernel takes an `accumulate` flag). Parameter gradients
//! land directly in the parameter's own buffer, where the optimiser finds them.

mod param;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Shape, Tensor};
use crate::kernels::elementwise::{self, Activation};
use crate::kernels::loss;
use crate::kernels::matmul::{self, Epilogue, Transpose};
use crate::kernels::minibatch_stddev;
use crate::kernels::patches::{self, PatchGeometry};
use crate::kernels::pixel_norm;
use crate::kernels::reduce;
use crate::kernels::spectral_norm::PowerIteration;
use crate::kernels::upsample::{self, Upsampling};

pub use param::{Init, Param};

/// A value on the tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Var(usize);

type Backward = Box<dyn FnOnce(&Tape, Option<Tensor>) -> Result<()>>;

struct Node {
    value: Tensor,
    grad: Option<Tensor>,
    param: Option<Rc<Param>>,
    backward: Option<Backward>,
    /// For a loss root, the weight its term enters the total loss with.
    loss_weight: Option<f32>,
    /// Constants (data, noise) need no gradient; skipping theirs saves a matmul per layer.
    needs_grad: bool,
}

pub struct Tape {
    gpu: Gpu,
    nodes: RefCell<Vec<Node>>,
    param_vars: RefCell<HashMap<*const Param, Var>>,
}

impl Tape {
    pub fn new(gpu: &Gpu) -> Tape {
        Tape { gpu: gpu.clone(), nodes: RefCell::new(Vec::new()), param_vars: RefCell::new(HashMap::new()) }
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    fn push(&self, value: Tensor, backward: Option<Backward>) -> Var {
        self.push_leaf(value, backward, true)
    }

    fn push_leaf(&self, value: Tensor, backward: Option<Backward>, needs_grad: bool) -> Var {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node { value, grad: None, param: None, backward, loss_weight: None, needs_grad });
        Var(nodes.len() - 1)
    }

    /// The forward value of `var`.
    pub fn value(&self, var: Var) -> Tensor {
        self.nodes.borrow()[var.0].value.clone()
    }

    /// The gradient that reached `var`, if any did.
    pub fn grad(&self, var: Var) -> Option<Tensor> {
        self.nodes.borrow()[var.0].grad.clone()
    }

    /// An input that needs no gradient (data, noise).
    pub fn constant(&self, value: &Tensor) -> Var {
        self.push_leaf(value.clone(), None, false)
    }

    /// An input whose gradient is wanted (d loss / d input: gradient checks, saliency).
    pub fn input(&self, value: &Tensor) -> Var {
        self.push_leaf(value.clone(), None, true)
    }

    /// A trainable parameter; its gradient is written into `param.grad`. Recording the same
    /// parameter twice gives the same variable, so both uses accumulate into one gradient.
    pub fn param(&self, param: &Rc<Param>) -> Var {
        let key = Rc::as_ptr(param);
        if let Some(var) = self.param_vars.borrow().get(&key) {
            return *var;
        }
        let var = self.push(param.value.clone(), None);
        self.nodes.borrow_mut()[var.0].param = Some(param.clone());
        self.param_vars.borrow_mut().insert(key, var);
        var
    }

    /// Where a gradient for `var` should be written, and whether to add to what is there;
    /// `None` for constants.
    fn grad_slot(&self, var: Var) -> Result<Option<(Tensor, bool)>> {
        let mut nodes = self.nodes.borrow_mut();
        let node = &mut nodes[var.0];
        if !node.needs_grad {
            return Ok(None);
        }
        if let Some(grad) = &node.grad {
            return Ok(Some((grad.clone(), true)));
        }
        let grad = match &node.param {
            Some(param) => {
                param.mark_grad_fresh();
                param.grad.clone()
            }
            None => Tensor::uninit(&self.gpu, node.value.shape().clone())?,
        };
        node.grad = Some(grad.clone());
        Ok(Some((grad, false)))
    }

    /// Lets a backward kernel write `var`'s gradient in place: `write(slot, accumulate)`
    /// overwrites the slot for the first contribution and adds to it after that. Nothing
    /// runs for a variable that needs no gradient.
    fn grad_into(&self, var: Var, write: impl FnOnce(&Tensor, bool) -> Result<()>) -> Result<()> {
        match self.grad_slot(var)? {
            Some((slot, accumulate)) => write(&slot, accumulate),
            None => Ok(()),
        }
    }

    /// Adds `delta` into the gradient of `var` (copy for the first contribution). Custom ops
    /// call this from their backward closure.
    pub fn send_grad(&self, var: Var, delta: &Tensor) -> Result<()> {
        let Some((slot, accumulate)) = self.grad_slot(var)? else {
            return Ok(());
        };
        if accumulate {
            elementwise::axpby(&self.gpu, 1.0, delta, 1.0, &slot)
        } else {
            self.gpu.copy(delta, &slot)
        }
    }

    /// `a · b`.
    pub fn matmul(&self, a: Var, b: Var) -> Result<Var> {
        self.linear(a, b, None, Activation::Identity)
    }

    /// `act(x · w + bias)`: one fused launch forward; backward sends
    /// dz = dy·act'(z), dw = xᵀ·dz, dbias = Σ_rows dz, dx = dz·wᵀ.
    pub fn linear(&self, x: Var, w: Var, bias: Option<Var>, act: Activation) -> Result<Var> {
        let (xv, wv) = (self.value(x), self.value(w));
        let bv = bias.map(|b| self.value(b));
        let y = matmul::matmul(
            &self.gpu,
            &xv,
            &wv,
            Transpose::NONE,
            Epilogue { bias: bv.as_ref(), activation: act, accumulate: false },
        )?;
        self.push_activated(y, act, move |tape, dz| {
            let gpu = &tape.gpu;
            let into = |accumulate| Epilogue { accumulate, ..Epilogue::default() };
            if let Some((dw, acc)) = tape.grad_slot(w)? {
                matmul::matmul_into(gpu, &xv, dz, Transpose::A, into(acc), &dw)?;
            }
            if let Some((db, acc)) = bias.map(|b| tape.grad_slot(b)).transpose()?.flatten() {
                reduce::sum_cols_into(gpu, dz, 1.0, &db, acc)?;
            }
            if let Some((dx, acc)) = tape.grad_slot(x)? {
                matmul::matmul_into(gpu, dz, &wv, Transpose::B, into(acc), &dx)?;
            }
            Ok(())
        })
    }

    /// Records `y = act(z)`, whose backward gets dz = dy·act'(z) (from `y` itself) and sends
    /// it on through `send`.
    fn push_activated(
        &self,
        y: Tensor,
        act: Activation,
        send: impl Fn(&Tape, &Tensor) -> Result<()> + 'static,
    ) -> Result<Var> {
        let yv = y.clone();
        Ok(self.push(
            y,
            Some(Box::new(move |tape: &Tape, dy: Option<Tensor>| {
                let Some(dy) = dy else { return Ok(()) };
                let dz = through_activation(&tape.gpu, dy, &yv, act)?;
                send(tape, &dz)
            })),
        ))
    }

    /// A convolution of the NHWC images in `x` (`[B, H·W·C]`) with `w` (`[K·K·C, C_out]`,
    /// rows in window order (ky, kx, c)): `act(patches(x) · w + bias)`, as `[B, OH·OW·C_out]`
    /// (NHWC again). All of its arithmetic, forward and backward, is the matmul of
    /// [`Tape::linear`]; [`Tape::patches`] only moves values.
    pub fn conv2d(&self, x: Var, w: Var, bias: Option<Var>, act: Activation, geometry: &PatchGeometry) -> Result<Var> {
        let batch = self.value(x).len() / geometry.image_len();
        let y = self.linear(self.patches(x, geometry)?, w, bias, act)?;
        let out_channels = self.value(w).shape().as_matrix().1;
        self.reshape(y, [batch, geometry.positions() * out_channels])
    }

    /// The K×K windows of the images in `x` as rows (im2col); backward sums each window
    /// entry's gradient onto the pixel it copied (col2im, the adjoint).
    pub fn patches(&self, x: Var, geometry: &PatchGeometry) -> Result<Var> {
        self.window_move(x, geometry, patches::im2col, patches::col2im)
    }

    /// The adjoint of [`Tape::patches`] (col2im): rows of window entries
    /// (`[B·OH·OW, K·K·C]`) summed onto the NHWC images they cover (`[B, H·W·C]`);
    /// backward copies each pixel's gradient back to every window entry that covers it
    /// (im2col). With a matmul before it, this is a transposed convolution.
    pub fn unpatches(&self, x: Var, geometry: &PatchGeometry) -> Result<Var> {
        self.window_move(x, geometry, patches::col2im, patches::im2col)
    }

    /// `forward(x)` for a map that only moves (and, for col2im, sums) values; its backward
    /// is `adjoint`, the transposed map.
    fn window_move(&self, x: Var, geometry: &PatchGeometry, forward: WindowMap, adjoint: WindowMap) -> Result<Var> {
        let value = forward(&self.gpu, &self.value(x), geometry)?;
        let geometry = *geometry;
        let backward: Backward = Box::new(move |tape: &Tape, dy: Option<Tensor>| {
            let Some(dy) = dy else { return Ok(()) };
            tape.send_grad(x, &adjoint(&tape.gpu, &dy, &geometry)?)
        });
        Ok(self.push_leaf(value, Some(backward), self.needs_grad(x)))
    }

    /// Nearest-neighbour upsampling of the NHWC images in `x` (`[B, H·W·C]` →
    /// `[B, fH·fW·C]`); backward sums each f×f block of the gradient.
    pub fn upsample(&self, x: Var, upsampling: &Upsampling) -> Result<Var> {
        let y = upsample::upsample(&self.gpu, &self.value(x), upsampling)?;
        let upsampling = *upsampling;
        let backward: Backward = Box::new(move |tape: &Tape, dy: Option<Tensor>| {
            let Some(dy) = dy else { return Ok(()) };
            tape.grad_into(x, |dx, acc| upsample::upsample_backward_into(&tape.gpu, &dy, &upsampling, dx, acc))
        });
        Ok(self.push_leaf(y, Some(backward), self.needs_grad(x)))
    }

    /// A transposed convolution ("deconvolution"): each pixel of the NHWC images in `x`
    /// (`[B, OH·OW·C_in]`, on the grid of `geometry`'s window positions) paints a K×K×C_out
    /// window `x_pixel · w` (`w` is `[C_in, K·K·C_out]`, columns in window order) onto the
    /// `geometry.height × width` output, overlapping windows add, then `act(· + bias)` per
    /// channel; the result is `[B, H·W·C_out]`. It is the adjoint of [`Tape::conv2d`]'s
    /// linear part, so a generator can grow images the way a discriminator shrinks them.
    pub fn conv_transpose2d(
        &self,
        x: Var,
        w: Var,
        bias: Var,
        act: Activation,
        geometry: &PatchGeometry,
    ) -> Result<Var> {
        let (in_channels, window) = self.value(w).shape().as_matrix();
        if window != geometry.patch_len() {
            return Err(Error::shape(
                "conv_transpose2d",
                "the weights must paint one K·K·C_out window per pixel",
                self.value(w).shape(),
                &Shape::from([in_channels, geometry.patch_len()]),
            ));
        }
        let batch = self.value(x).len() / (geometry.positions() * in_channels);
        let pixels = self.reshape(x, [batch * geometry.positions(), in_channels])?;
        let windows = self.matmul(pixels, w)?;
        let images = self.reshape(
            self.unpatches(windows, geometry)?,
            [batch * geometry.height * geometry.width, geometry.channels],
        )?;
        let y = self.bias_act(images, bias, act)?;
        self.reshape(y, [batch, geometry.image_len()])
    }

    /// `act(x + bias)` with `bias` added to every row of the matrix `x`.
    pub fn bias_act(&self, x: Var, bias: Var, act: Activation) -> Result<Var> {
        let y = elementwise::bias_act(&self.gpu, &self.value(x), Some(&self.value(bias)), act)?;
        self.push_activated(y, act, move |tape, dz| {
            if let Some((db, acc)) = tape.grad_slot(bias)? {
                reduce::sum_cols_into(&tape.gpu, dz, 1.0, &db, acc)?;
            }
            tape.send_grad(x, dz)
        })
    }

    /// `x` `[B, F]` with one more column, the batch's mean standard deviation over rows (see
    /// [`minibatch_stddev`]): what lets a discriminator see a batch's variety.
    pub fn minibatch_stddev(&self, x: Var) -> Result<Var> {
        self.of_input(x, minibatch_stddev::forward, minibatch_stddev::backward_into)
    }

    /// `x` `[B, F]` with each row divided by its root mean square (pixel normalisation, see
    /// [`pixel_norm`]).
    pub fn pixel_norm(&self, x: Var) -> Result<Var> {
        self.of_input(x, pixel_norm::forward, pixel_norm::backward_into)
    }

    /// An op whose output and input gradient both need only its input: `forward(x)`, and
    /// `backward_into(x, dy, dx, accumulate)` adds into (or writes) x's gradient.
    fn of_input(
        &self,
        x: Var,
        forward: fn(&Gpu, &Tensor) -> Result<Tensor>,
        backward_into: fn(&Gpu, &Tensor, &Tensor, &Tensor, bool) -> Result<()>,
    ) -> Result<Var> {
        let xv = self.value(x);
        let y = forward(&self.gpu, &xv)?;
        Ok(self.push(
            y,
            Some(Box::new(move |tape: &Tape, dy: Option<Tensor>| {
                let Some(dy) = dy else { return Ok(()) };
                tape.grad_into(x, |dx, acc| backward_into(&tape.gpu, &xv, &dy, dx, acc))
            })),
        ))
    }

    /// `w / σ(w)`, the matrix `w` divided by its largest singular value (spectral
    /// normalisation, see [`crate::kernels::spectral_norm`]), which moves `state`'s power
    /// iteration one step. Backward holds that step's singular vectors constant (a
    /// constant `w` keeps none). Normalise a weight once per tape and use the result
    /// wherever the weight is needed.
    pub fn spectral_norm(&self, w: Var, state: &PowerIteration) -> Result<Var> {
        if !self.needs_grad(w) {
            let weight = state.normalise_frozen(&self.gpu, &self.value(w))?;
            return Ok(self.push_leaf(weight, None, false));
        }
        let normalised = state.normalise(&self.gpu, &self.value(w))?;
        let value = normalised.weight.clone();
        let backward: Backward = Box::new(move |tape: &Tape, dy: Option<Tensor>| {
            let Some(dy) = dy else { return Ok(()) };
            tape.grad_into(w, |dw, acc| normalised.backward_into(&tape.gpu, &dy, dw, acc))
        });
        Ok(self.push_leaf(value, Some(backward), self.needs_grad(w)))
    }

    /// The same values under another shape (no copy).
    pub fn reshape(&self, x: Var, shape: impl Into<Shape>) -> Result<Var> {
        let input = self.value(x);
        let value = input.reshape(shape)?;
        let input_shape = input.shape().clone();
        let backward: Backward = Box::new(move |tape: &Tape, dy: Option<Tensor>| {
            let Some(dy) = dy else { return Ok(()) };
            tape.send_grad(x, &dy.reshape(input_shape)?)
        });
        Ok(self.push_leaf(value, Some(backward), self.needs_grad(x)))
    }

    /// Whether a gradient for `var` is wanted: false for constants and what is made from
    /// constants alone by [`Tape::patches`] and [`Tape::reshape`], so no backward work is
    /// spent on data.
    fn needs_grad(&self, var: Var) -> bool {
        self.nodes.borrow()[var.0].needs_grad
    }

    /// `act(x)` elementwise.
    pub fn activation(&self, x: Var, act: Activation) -> Result<Var> {
        let y = elementwise::bias_act(&self.gpu, &self.value(x), None, act)?;
        let yv = y.clone();
        Ok(self.push(
            y,
            Some(Box::new(move |tape: &Tape, dy: Option<Tensor>| {
                let Some(dy) = dy else { return Ok(()) };
                tape.grad_into(x, |dx, acc| elementwise::activation_backward_into(&tape.gpu, &dy, &yv, act, dx, acc))
            })),
        ))
    }

    /// `a + b` (same shapes).
    pub fn add(&self, a: Var, b: Var) -> Result<Var> {
        let (av, bv) = (self.value(a), self.value(b));
        if av.shape() != bv.shape() {
            return Err(Error::shape("add", "shapes differ", av.shape(), bv.shape()));
        }
        let y = Tensor::uninit(&self.gpu, av.shape().clone())?;
        self.gpu.copy(&bv, &y)?;
        elementwise::axpby(&self.gpu, 1.0, &av, 1.0, &y)?;
        Ok(self.push(
            y,
            Some(Box::new(move |tape: &Tape, dy: Option<Tensor>| {
                let Some(dy) = dy else { return Ok(()) };
                tape.send_grad(a, &dy)?;
                tape.send_grad(b, &dy)
            })),
        ))
    }

    /// Records an op computed outside the tape's own set (a model's fused kernel) that made a
    /// loss on the way to its output (the VAE's KL beside its sample), as two variables: the
    /// output, and a loss root holding one loss per row, whose mean enters the total loss
    /// with `weight`. The op's backward belongs to the root, which comes after the output and
    /// before anything that uses it, so it runs once every use of the output has sent its
    /// gradient. It receives that gradient (None when nothing used the output) and
    /// d loss / d row of the loss, and sends both paths to the op's inputs in one launch.
    pub fn custom_with_loss(
        &self,
        value: Tensor,
        loss_rows: Tensor,
        weight: f32,
        backward: impl FnOnce(&Tape, Option<Tensor>, f32) -> Result<()> + 'static,
    ) -> (Var, Var) {
        let output = self.push(value, None);
        let rows = loss_rows.len();
        let root = self.push_root(loss_rows, weight);
        let backward: Backward = Box::new(move |tape: &Tape, _| {
            let row_grad = tape.loss_weight(root) / rows as f32;
            backward(tape, tape.grad(output), row_grad)
        });
        self.nodes.borrow_mut()[root.0].backward = Some(backward);
        (output, root)
    }

    /// Records a loss root made by a fused loss kernel: `value` is the (weighted) loss and
    /// `grad` its gradient w.r.t. `input`, already scaled by the weight.
    pub fn custom_loss(&self, value: Tensor, input: Var, grad: Tensor) -> Var {
        let var = self.push_root(value, 1.0);
        self.nodes.borrow_mut()[var.0].backward = Some(Box::new(move |tape: &Tape, _| tape.send_grad(input, &grad)));
        var
    }

    /// A loss root whose term enters the total loss with `weight`; its backward is set by the
    /// caller.
    fn push_root(&self, value: Tensor, weight: f32) -> Var {
        let var = self.push(value, None);
        self.nodes.borrow_mut()[var.0].loss_weight = Some(weight);
        var
    }

    /// The weight `root`'s term enters the total loss with (0 for a variable that is no loss).
    fn loss_weight(&self, root: Var) -> f32 {
        self.nodes.borrow()[root.0].loss_weight.unwrap_or(0.0)
    }

    /// Records a loss root whose gradient w.r.t. `logits` the forward kernel already made.
    /// Its value is `weight · mean over rows` of the per-row losses.
    fn push_loss(&self, logits: Var, computed: loss::LossAndGrad, weight: f32) -> Result<Var> {
        let rows = computed.loss_rows.len();
        let value = reduce::sum_all(&self.gpu, &computed.loss_rows, weight / rows as f32)?;
        Ok(self.custom_loss(value, logits, computed.grad))
    }

    /// Sigmoid binary cross-entropy with logits against targets in [0, 1], summed over
    /// columns (nats per row) and averaged over rows, times `weight`.
    pub fn bce_with_logits(&self, logits: Var, targets: &Tensor, weight: f32) -> Result<Var> {
        let rows = self.value(logits).shape().as_matrix().0;
        let computed = loss::bce_with_logits(&self.gpu, &self.value(logits), targets, weight / rows as f32)?;
        self.push_loss(logits, computed, weight)
    }

    /// Softmax cross-entropy against u32 class targets, averaged over rows, times `weight`.
    pub fn softmax_cross_entropy(&self, logits: Var, targets: &Tensor, weight: f32) -> Result<Var> {
        let rows = self.value(logits).shape().as_matrix().0;
        let computed = loss::softmax_cross_entropy(&self.gpu, &self.value(logits), targets, weight / rows as f32)?;
        self.push_loss(logits, computed, weight)
    }

    /// The GAN discriminator's loss, one fused launch (see `kernels::gan`):
    /// `mean BCE(real, real_label) + mean BCE(fake, 0)` over one logit per sample. Returns the
    /// loss root and the kernel's stats `[d_loss, g_loss, D(real), D(fake)]`, left on the GPU.
    pub fn gan_discriminator_loss(&self, real: Var, fake: Var, real_label: f32) -> Result<(Var, Tensor)> {
        let real_value = self.value(real);
        let rows = real_value.len();
        let computed = crate::kernels::gan::discriminator_loss(
            &self.gpu,
            &real_value,
            &self.value(fake),
            real_label,
            1.0 / rows as f32,
        )?;
        let value = Tensor::uninit(&self.gpu, [1])?;
        self.gpu.copy_region(&computed.stats, 0, &value, 0, 1)?;
        let (real_grad, fake_grad) = (computed.real_grad, computed.fake_grad);
        let var = self.push_root(value, 1.0);
        self.nodes.borrow_mut()[var.0].backward = Some(Box::new(move |tape: &Tape, _| {
            tape.send_grad(real, &real_grad)?;
            tape.send_grad(fake, &fake_grad)
        }));
        Ok((var, computed.stats))
    }

    /// The generator's non-saturating loss `mean −log σ(fake)`, one fused launch. Returns the
    /// loss root and the kernel's stats `[g_loss, D(fake)]`, left on the GPU.
    pub fn gan_generator_loss(&self, fake: Var) -> Result<(Var, Tensor)> {
        let fake_value = self.value(fake);
        let rows = fake_value.len();
        let computed = crate::kernels::gan::generator_loss(&self.gpu, &fake_value, 1.0 / rows as f32)?;
        let value = Tensor::uninit(&self.gpu, [1])?;
        self.gpu.copy_region(&computed.stats, 0, &value, 0, 1)?;
        Ok((self.custom_loss(value, fake, computed.grad), computed.stats))
    }

    /// The loss roots recorded so far, in order.
    pub fn losses(&self) -> Vec<Var> {
        let nodes = self.nodes.borrow();
        (0..nodes.len()).filter(|&i| nodes[i].loss_weight.is_some()).map(Var).collect()
    }

    /// What a monitor reads: `[loss, term of shown[0], term of shown[1], …]`, where loss is
    /// the total that `backward` minimises, Σ weight · term over the loss roots, and a root's
    /// term is the mean of its value (one value for the loss kernels, which average on the
    /// forward pass; one per row for a loss made by a fused op). Computed when asked rather
    /// than when recorded, so that a step that reports nothing spends no launch on it.
    pub fn loss_report(&self, shown: &[Var]) -> Result<Tensor> {
        let roots = self.losses();
        let terms = roots.iter().map(|&root| self.loss_term(root)).collect::<Result<Vec<_>>>()?;
        let total = Tensor::zeros(&self.gpu, [1])?;
        // A term of weight 1 starts the sum as a copy, which is no launch.
        let copied = roots.iter().position(|&root| self.loss_weight(root) == 1.0);
        if let Some(i) = copied {
            self.gpu.copy(&terms[i], &total)?;
        }
        for (i, (&root, term)) in roots.iter().zip(&terms).enumerate() {
            if Some(i) != copied {
                elementwise::axpby(&self.gpu, self.loss_weight(root), term, 1.0, &total)?;
            }
        }
        let report = Tensor::uninit(&self.gpu, [1 + shown.len()])?;
        self.gpu.copy_region(&total, 0, &report, 0, 1)?;
        for (at, var) in shown.iter().enumerate() {
            let Some(i) = roots.iter().position(|root| root == var) else {
                return Err(Error::Invalid(format!("loss_report: variable {} is no loss root", var.0)));
            };
            self.gpu.copy_region(&terms[i], 0, &report, 1 + at, 1)?;
        }
        Ok(report)
    }

    fn loss_term(&self, root: Var) -> Result<Tensor> {
        let value = self.value(root);
        match value.len() {
            1 => Ok(value),
            _ => reduce::mean_all(&self.gpu, &value),
        }
    }

    /// Replays the backward closures from the losses to the parameters. Consumes the
    /// closures: a tape is used for one step.
    pub fn backward(&self) -> Result<()> {
        let count = self.nodes.borrow().len();
        if !self.nodes.borrow().iter().any(|n| n.loss_weight.is_some()) {
            return Err(Error::Invalid("backward: the tape holds no loss".into()));
        }
        for i in (0..count).rev() {
            let (backward, grad, is_loss) = {
                let mut nodes = self.nodes.borrow_mut();
                let node = &mut nodes[i];
                (node.backward.take(), node.grad.clone(), node.loss_weight.is_some())
            };
            if let Some(backward) = backward {
                if grad.is_some() || is_loss {
                    backward(self, grad)?;
                }
            }
        }
        Ok(())
    }
}

/// im2col or col2im.
type WindowMap = fn(&Gpu, &Tensor, &PatchGeometry) -> Result<Tensor>;

/// dz = dy · act'(z), read from the output y = act(z); dy itself for the identity.
fn through_activation(gpu: &Gpu, dy: Tensor, y: &Tensor, act: Activation) -> Result<Tensor> {
    if act == Activation::Identity {
        return Ok(dy);
    }
    let dz = Tensor::uninit(gpu, dy.shape().clone())?;
    elementwise::activation_backward_into(gpu, &dy, y, act, &dz, false)?;
    Ok(dz)
}
