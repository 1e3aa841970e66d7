// GAN losses at the discriminator's output logits, fused with their gradients and with the
// numbers worth watching (see src/kernels/gan.rs). One launch per loss; one workgroup
// strides over the batch and reduces in workgroup memory, so the means land in a tiny
// stats buffer with no second pass and no atomics (batches are tens to thousands).
//
// Discriminator (real logits x_r with target y = real_label, fake logits x_f with target 0):
//   d_loss = mean BCE(x_r, y) + mean BCE(x_f, 0)
//   d d_loss / d x_r = σ(x_r) − y,   d d_loss / d x_f = σ(x_f)          (times grad_scale)
// Generator, non-saturating (Goodfellow et al. 2014): maximise log D(G(z)) rather than
// minimise log(1 − D(G(z))), whose gradient vanishes when D rejects the fakes confidently:
//   g_loss = mean −log σ(x_f) = mean softplus(−x_f)
//   d g_loss / d x_f = σ(x_f) − 1                                       (times grad_scale)

// p (the launch's Params) and the storage buffers each kernel binds are declared in
// src/kernels/gan.rs: KernelSpec::source writes them first.

// log(1 + exp(x)), never exponentiating a positive number; log1p by its series where
// 1 + u would round u away.
fn softplus(x: f32) -> f32 {
    let u = exp(-abs(x));
    var log1p_u = log(1.0 + u);
    if (u < 1e-2) { log1p_u = u * (1.0 - u * (0.5 - u * (1.0 / 3.0 - u * 0.25))); }
    return max(x, 0.0) + log1p_u;
}

alias Partial = vec4<f32>;
var<workgroup> partial: array<Partial, 256>;

// stats = [d_loss, g_loss, D(real), D(fake)]: the generator's loss on these fakes comes
// free, so one readback after the discriminator's step shows all four.
@compute @workgroup_size(256)
fn discriminator_loss(@builtin(local_invocation_index) lane: u32) {
    var acc = vec4<f32>(0.0);
    for (var i = lane; i < p.n; i += 256u) {
        let xr = d_real_logits[i];
        let xf = d_fake_logits[i];
        let pr = stable_sigmoid(xr);
        let pf = stable_sigmoid(xf);
        d_real_grad[i] = (pr - p.real_label) * p.grad_scale;
        d_fake_grad[i] = pf * p.grad_scale;
        // BCE(x, y) = softplus(x) − x·y;  softplus(−x) = softplus(x) − x.
        let d = softplus(xr) - xr * p.real_label + softplus(xf);
        acc += vec4<f32>(d, softplus(-xf), pr, pf);
    }
    let mean = workgroup_sum(lane, acc) / f32(p.n);
    if (lane == 0u) {
        d_stats[0] = mean.x;
        d_stats[1] = mean.y;
        d_stats[2] = mean.z;
        d_stats[3] = mean.w;
    }
}

// stats = [g_loss, D(fake)].
@compute @workgroup_size(256)
fn generator_loss(@builtin(local_invocation_index) lane: u32) {
    var acc = vec4<f32>(0.0);
    for (var i = lane; i < p.n; i += 256u) {
        let xf = g_fake_logits[i];
        let pf = stable_sigmoid(xf);
        // σ(x) − 1 = −σ(−x), without the cancellation.
        g_fake_grad[i] = -stable_sigmoid(-xf) * p.grad_scale;
        acc += vec4<f32>(softplus(-xf), pf, 0.0, 0.0);
    }
    let mean = workgroup_sum(lane, acc) / f32(p.n);
    if (lane == 0u) {
        g_stats[0] = mean.x;
        g_stats[1] = mean.y;
    }
}
