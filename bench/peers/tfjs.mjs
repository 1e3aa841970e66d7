// TF.js 4.22 peer on the WebGPU backend (@tensorflow/tfjs-backend-webgpu): tf.variable
// parameters, tf.train.adam + optimizer.minimize (gradient tape, then the Adam update), dense
// layers as tf.fused.matMul (bias and ReLU fused, as tf.layers does).
// A step resolves when the loss has been read back with `await cost.data()`. On this backend
// every op records its dispatch into one command encoder when it is called; `data()` submits
// that encoder (forward, backward AND the Adam update, all recorded by minimize() before it
// returned) and maps the staging buffer, which WebGPU completes only after all earlier
// submitted work — so the update cannot be deferred past the timer.
import { ADAM, GAN, LSTM, VAE, caseMaker, ganInit, lstmInit, matmulCase, vaeInit } from './init.mjs';

const tf = globalThis.tf;

export async function setup() {
  if (!tf) throw new Error('TF.js bundle did not load');
  const ok = await tf.setBackend('webgpu');
  await tf.ready();
  if (!ok || tf.getBackend() !== 'webgpu') throw new Error(`TF.js backend is ${tf.getBackend()}, not webgpu`);
  return `@tensorflow/tfjs ${tf.version.tfjs} (webgpu)`;
}

// Fresh noise every step, but reproducible from run to run: tf.randomNormal seeded by a counter.
let noiseSeed = 1;
const randomNormal = (shape) => tf.randomNormal(shape, 0, 1, 'float32', noiseSeed++);

const tensor = ({ shape, data }) => tf.tensor(data, shape, data instanceof Int32Array ? 'int32' : 'float32');
const variables = (rec) => Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, tf.variable(tensor(v), true, k)]));
const adam = ({ lr, b1, b2, eps }) => tf.train.adam(lr, b1, b2, eps);

/** Dense layer x·W + b (+ activation) as one fused matmul. */
const dense = (x, p, name, activation = 'linear') =>
  tf.fused.matMul({ a: x, b: p[`${name}_W`], bias: p[`${name}_b`], activation });

/** Reads back `cost` (the end of a step) and disposes it. */
async function readLoss(cost) {
  const [v] = await cost.data();
  cost.dispose();
  return v;
}

function vaeCase() {
  const init = vaeInit();
  const p = variables(init.params);
  const x = tensor(init.data);
  const opt = adam(ADAM.vae_step);
  const loss = () => {
    const h = dense(x, p, 'enc1', 'relu');
    const mu = dense(h, p, 'mean');
    const lv = dense(h, p, 'logvar');
    const e = randomNormal([VAE.batch, VAE.latent]);
    const z = tf.add(mu, tf.mul(tf.exp(tf.mul(lv, 0.5)), e));
    const logits = dense(dense(z, p, 'dec1', 'relu'), p, 'dec2');
    const rec = tf.losses.sigmoidCrossEntropy(x, logits, undefined, 0, tf.Reduction.SUM);
    const kl = tf.mul(tf.sum(tf.add(tf.sub(tf.exp(lv), tf.add(lv, 1)), tf.square(mu))), 0.5);
    return tf.div(tf.add(rec, kl), VAE.batch);
  };
  const vars = Object.values(p);
  return {
    step: () => readLoss(opt.minimize(loss, true, vars)),
    dispose() { tf.dispose([...vars, x]); opt.dispose(); },
  };
}

function ganCase() {
  const init = ganInit();
  const g = variables(init.gen);
  const d = variables(init.disc);
  const real = tensor(init.real);
  const optD = adam(ADAM.gan_step);
  const optG = adam(ADAM.gan_step);
  const G = (z) => tf.tanh(dense(dense(dense(z, g, 'g1', 'relu'), g, 'g2', 'relu'), g, 'g3'));
  const D = (x) => dense(tf.leakyRelu(dense(tf.leakyRelu(dense(x, d, 'd1'), 0.2), d, 'd2'), 0.2), d, 'd3');
  const gVars = Object.values(g);
  const dVars = Object.values(d);
  return {
    async step() {
      const z1 = randomNormal([GAN.batch, GAN.z]);
      const z2 = randomNormal([GAN.batch, GAN.z]);
      // D update, G held fixed (gradients only for dVars).
      const lossD = optD.minimize(
        () => tf.add(tf.mean(tf.softplus(tf.neg(D(real)))), tf.mean(tf.softplus(D(G(z1))))), true, dVars);
      // G update with the non-saturating loss, D (already updated) held fixed.
      const lossG = optG.minimize(() => tf.mean(tf.softplus(tf.neg(D(G(z2))))), true, gVars);
      const [vD] = await Promise.all([lossD.data(), lossG.data()]);
      tf.dispose([lossD, lossG, z1, z2]);
      return vD[0];
    },
    dispose() { tf.dispose([...gVars, ...dVars, real]); optD.dispose(); optG.dispose(); },
  };
}

function lstmCase() {
  const { batch: B, time: T, vocab: V, hidden: H } = LSTM;
  const init = lstmInit();
  const p = variables(init.params);
  const tokens = tensor(init.tokens); // [B, T + 1] int32, resident
  const opt = adam(ADAM.lstm_step);
  const loss = () => {
    const inputs = tf.oneHot(tf.transpose(tf.slice(tokens, [0, 0], [B, T])), V, 1, 0, 'float32'); // [T, B, V]
    const targets = tf.oneHot(tf.reshape(tf.transpose(tf.slice(tokens, [0, 1], [B, T])), [T * B]), V, 1, 0, 'float32');
    const xw = tf.reshape(tf.fused.matMul({ a: tf.reshape(inputs, [T * B, V]), b: p.Wx, bias: p.b }), [T, B, 4 * H]);
    const xs = tf.unstack(xw);
    let h = tf.zeros([B, H]);
    let c = tf.zeros([B, H]);
    const hs = [];
    for (let t = 0; t < T; t++) {
      const [i, f, gg, o] = tf.split(tf.add(xs[t], tf.matMul(h, p.Wh)), 4, 1);
      c = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(gg)));
      h = tf.mul(tf.sigmoid(o), tf.tanh(c));
      hs.push(h);
    }
    const logits = dense(tf.reshape(tf.stack(hs), [T * B, H]), p, 'out');
    return tf.losses.softmaxCrossEntropy(targets, logits); // mean over the T·B positions
  };
  const vars = Object.values(p);
  return {
    step: () => readLoss(opt.minimize(loss, true, vars)),
    dispose() { tf.dispose([...vars, tokens]); opt.dispose(); },
  };
}

const matmul = (n) => matmulCase(n, {
  upload: tensor,
  async product(a, b) {
    const c = tf.matMul(a, b);
    const data = await c.data();
    c.dispose();
    return data;
  },
  dispose: (tensors) => tf.dispose(tensors),
});

export const makeCase = caseMaker({ vae_step: vaeCase, gan_step: ganCase, lstm_step: lstmCase }, matmul);
