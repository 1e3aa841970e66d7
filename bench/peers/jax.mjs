// jax-js 0.1.25 peer: the whole training step (valueAndGrad + Adam) is one `jit` on the WebGPU
// device; parameters, Adam state, data and the PRNG key stay on the GPU between steps.
// Ownership: jax-js functions consume their array arguments; `.ref` keeps one alive.
// A step resolves when the loss has been read back AND the parameter update has finished on the
// GPU: a jit call returns all its outputs with ONE shared list of pending kernel launches, so
// realising the loss submits the whole step (forward, backward, Adam) in order, and the
// readback's mapAsync completes only after all of it; `settle` also awaits blockUntilReady on
// the last-updated parameter (a 0-byte read, issued concurrently) to make that explicit.
import {
  defaultDevice, init, jit, nn, numpy as np, random, tree, valueAndGrad,
} from '../node_modules/@jax-js/jax/dist/index.js';
import { ADAM, GAN, LSTM, VAE, caseMaker, ganInit, lstmInit, matmulCase, vaeInit } from './init.mjs';

export async function setup() {
  const devices = await init('webgpu');
  if (!devices.includes('webgpu')) throw new Error('jax-js: the WebGPU backend did not initialise');
  defaultDevice('webgpu');
  return '@jax-js/jax 0.1.25 (webgpu)';
}

const put = ({ shape, data }) =>
  np.array(data, { shape, dtype: data instanceof Int32Array ? np.int32 : np.float32 });
const putAll = (rec) => Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, put(v)]));

/** Dense layer x·W + b; consumes x and the layer's two leaves of `p`. */
const dense = (x, p, name) => np.matmul(x, p[`${name}_W`]).add(p[`${name}_b`]);

/** Numerically stable softplus (jax-js's nn.softplus is log(exp(x) + 1), which overflows). */
const softplus = (x) => nn.relu(x.ref).add(np.log1p(np.exp(np.negative(np.absolute(x)))));

/** Awaits the loss readback (consumes `loss`) and the last leaf of `state` being ready. */
async function settle(loss, state) {
  const leaves = tree.leaves(state.params);
  const [value] = await Promise.all([loss.data(), leaves[leaves.length - 1].blockUntilReady()]);
  return value[0];
}

/** Adam state for a params record: moments zero, running β-powers 1. */
function adamState(params) {
  const zeros = (rec) => Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, np.zerosLike(v.ref)]));
  return { params, m: zeros(params), v: zeros(params), b1t: np.ones([]), b2t: np.ones([]) };
}

/** One Adam step (traced inside the jit): consumes `s` and `grads`, returns the new state. */
function adam(s, grads, { lr, b1, b2, eps }) {
  const b1t = s.b1t.mul(b1);
  const b2t = s.b2t.mul(b2);
  const alpha = np.reciprocal(np.subtract(1, b1t.ref)).mul(lr); // lr / (1 - β1^t)
  const beta = np.reciprocal(np.subtract(1, b2t.ref)); // 1 / (1 - β2^t)
  const out = { params: {}, m: {}, v: {}, b1t, b2t };
  for (const k of Object.keys(s.params)) {
    const g = grads[k];
    const m = s.m[k].mul(b1).add(g.ref.mul(1 - b1));
    const v = s.v[k].mul(b2).add(np.square(g).mul(1 - b2));
    out.params[k] = s.params[k].sub(m.ref.mul(alpha.ref).div(np.sqrt(v.ref.mul(beta.ref)).add(eps)));
    out.m[k] = m;
    out.v[k] = v;
  }
  alpha.dispose();
  beta.dispose();
  return out;
}

// --- VAE --------------------------------------------------------------------------------
function vaeLoss(p, x, e) {
  const h = nn.relu(dense(x.ref, p, 'enc1'));
  const mu = dense(h.ref, p, 'mean');
  const lv = dense(h, p, 'logvar');
  const z = mu.ref.add(np.exp(lv.ref.mul(0.5)).mul(e));
  const logits = dense(nn.relu(dense(z, p, 'dec1')), p, 'dec2');
  // sigmoid BCE with logits: softplus(l) − x·l, summed over pixels
  const rec = softplus(logits.ref).sub(x.mul(logits)).sum();
  const kl = np.exp(lv.ref).sub(lv.add(1)).add(np.square(mu)).sum().mul(0.5);
  return rec.add(kl).div(VAE.batch);
}

function vaeCase() {
  const { params, data } = vaeInit();
  const x = put(data);
  let s = adamState(putAll(params));
  let key = random.key(1);
  const step = jit((s, x, key) => {
    const ks = random.split(key, 2);
    const e = random.normal(ks.ref.slice(0), [VAE.batch, VAE.latent]);
    const [loss, grads] = valueAndGrad(vaeLoss)(tree.ref(s.params), x, e);
    return { s: adam(s, grads, ADAM.vae_step), key: ks.slice(1), loss };
  });
  return {
    async step() {
      const out = step(s, x.ref, key);
      s = out.s;
      key = out.key;
      return settle(out.loss, s);
    },
    dispose() { tree.dispose([s, key, x]); step.dispose(); },
  };
}

// --- GAN --------------------------------------------------------------------------------
const generator = (g, z) =>
  np.tanh(dense(nn.relu(dense(nn.relu(dense(z, g, 'g1')), g, 'g2')), g, 'g3'));
const discriminator = (d, x) =>
  dense(nn.leakyRelu(dense(nn.leakyRelu(dense(x, d, 'd1'), 0.2), d, 'd2'), 0.2), d, 'd3');

/** loss_D with G held fixed (gradient only for the first argument). */
const ganLossD = (d, g, real, z) =>
  softplus(np.negative(discriminator(tree.ref(d), real))).mean()
    .add(softplus(discriminator(d, generator(g, z))).mean());
/** Non-saturating loss_G with D held fixed. */
const ganLossG = (g, d, z) => softplus(np.negative(discriminator(d, generator(g, z)))).mean();

function ganCase() {
  const init = ganInit();
  const real = put(init.real);
  let sd = adamState(putAll(init.disc));
  let sg = adamState(putAll(init.gen));
  let key = random.key(2);
  const step = jit((sd, sg, real, key) => {
    const ks = random.split(key, 3);
    const z1 = random.normal(ks.ref.slice(0), [GAN.batch, GAN.z]);
    const z2 = random.normal(ks.ref.slice(1), [GAN.batch, GAN.z]);
    const [lossD, gd] = valueAndGrad(ganLossD)(tree.ref(sd.params), tree.ref(sg.params), real, z1);
    const sd2 = adam(sd, gd, ADAM.gan_step);
    const [lossG, gg] = valueAndGrad(ganLossG)(tree.ref(sg.params), tree.ref(sd2.params), z2);
    const sg2 = adam(sg, gg, ADAM.gan_step);
    return { sd: sd2, sg: sg2, key: ks.slice(2), lossD, lossG };
  });
  return {
    async step() {
      const out = step(sd, sg, real.ref, key);
      ({ sd, sg, key } = out);
      out.lossG.dispose(); // loss_G is computed (it drives G's update) but not reported
      return settle(out.lossD, sg);
    },
    dispose() { tree.dispose([sd, sg, key, real]); step.dispose(); },
  };
}

// --- LSTM -------------------------------------------------------------------------------
function lstmLoss(p, tokens) {
  const { batch: B, time: T, vocab: V, hidden: H } = LSTM;
  const inputs = nn.oneHot(tokens.ref.slice([], [0, T]).transpose(), V); // [T, B, V]
  const targets = nn.oneHot(tokens.slice([], [1, T + 1]).transpose(), V).reshape([T * B, V]);
  // Input projection for all time steps at once: [T·B, V]·W_x + b.
  const xw = np.matmul(inputs.reshape([T * B, V]), p.Wx).add(p.b).reshape([T, B, 4 * H]);
  const Wh = p.Wh;
  let h = np.zeros([B, H]);
  let c = np.zeros([B, H]);
  const hs = [];
  for (let t = 0; t < T; t++) {
    const pre = (t === T - 1 ? xw : xw.ref).slice(t).add(np.matmul(h, Wh.ref)); // [B, 4H]
    const i = nn.sigmoid(pre.ref.slice([], [0, H]));
    const f = nn.sigmoid(pre.ref.slice([], [H, 2 * H]));
    const g = np.tanh(pre.ref.slice([], [2 * H, 3 * H]));
    const o = nn.sigmoid(pre.slice([], [3 * H, 4 * H]));
    c = f.mul(c).add(i.mul(g));
    h = o.mul(np.tanh(c.ref));
    hs.push(h.ref);
  }
  Wh.dispose();
  h.dispose();
  c.dispose();
  const logits = dense(np.stack(hs).reshape([T * B, H]), p, 'out'); // [T·B, V]
  return np.negative(nn.logSoftmax(logits).mul(targets).sum()).div(T * B);
}

function lstmCase() {
  const init = lstmInit();
  const tokens = put(init.tokens);
  let s = adamState(putAll(init.params));
  const step = jit((s, tokens) => {
    const [loss, grads] = valueAndGrad(lstmLoss)(tree.ref(s.params), tokens);
    return { s: adam(s, grads, ADAM.lstm_step), loss };
  });
  return {
    async step() {
      const out = step(s, tokens.ref);
      s = out.s;
      return settle(out.loss, s);
    },
    dispose() { tree.dispose([s, tokens]); step.dispose(); },
  };
}

// --- matmul -----------------------------------------------------------------------------
const matmul = (n) => matmulCase(n, {
  upload: put,
  product: (a, b) => np.matmul(a.ref, b.ref).data(),
  dispose: (arrays) => tree.dispose(arrays),
});

export const makeCase = caseMaker({ vae_step: vaeCase, gan_step: ganCase, lstm_step: lstmCase }, matmul);
