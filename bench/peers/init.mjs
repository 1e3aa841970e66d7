// Shared, deterministic initial weights and data for the peer benchmarks (jax-js, TF.js), so
// that both start every case from bit-identical parameters and data, and the plumbing of
// cases both engines share (makeCase, the matmul case). Plain JS, no deps.
//
// Generator: mulberry32 (32-bit state) seeded per case; normals by Box–Muller. Every case
// draws its tensors in the order listed below from its own stream, so adding a case never
// changes another one's numbers.
//
// Init rule: He-normal std = sqrt(2/fan_in) for a layer followed by ReLU / leaky ReLU,
// std = 1/sqrt(fan_in) otherwise; biases zero. LSTM: W_x [16, 4H] std 1/sqrt(16),
// W_h [H, 4H] std 1/sqrt(H), bias [4H] zero (forget-gate bias 0), gate blocks [i | f | g | o]
// of H columns each; the 128→16 output projection std 1/sqrt(128).

export const SEEDS = { vae_step: 1001, gan_step: 2002, lstm_step: 3003, matmul: 4004 };

export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normals(rng, n, std) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - rng(); // (0, 1]
    const u2 = rng();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = std * r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = std * r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

const he = (fanIn) => Math.sqrt(2 / fanIn);
const lecun = (fanIn) => 1 / Math.sqrt(fanIn);

/** A dense layer's { W: [fanIn, fanOut], b: [fanOut] } as { shape, data } records. */
function dense(rng, params, name, fanIn, fanOut, std) {
  params[`${name}_W`] = { shape: [fanIn, fanOut], data: normals(rng, fanIn * fanOut, std) };
  params[`${name}_b`] = { shape: [fanOut], data: new Float32Array(fanOut) };
}

export const VAE = { batch: 64, x: 784, hidden: 400, latent: 20 };
export const GAN = { batch: 64, z: 64, g1: 256, g2: 512, x: 256, d1: 512, d2: 256 };
export const LSTM = { batch: 32, time: 256, vocab: 16, hidden: 128 };

/** VAE: params enc1, mean, logvar, dec1, dec2; data x [64, 784] in {0, 1} (thresholded noise). */
export function vaeInit() {
  const rng = mulberry32(SEEDS.vae_step);
  const { x, hidden, latent, batch } = VAE;
  const params = {};
  dense(rng, params, 'enc1', x, hidden, he(x));
  dense(rng, params, 'mean', hidden, latent, lecun(hidden));
  dense(rng, params, 'logvar', hidden, latent, lecun(hidden));
  dense(rng, params, 'dec1', latent, hidden, he(latent));
  dense(rng, params, 'dec2', hidden, x, lecun(hidden));
  const data = new Float32Array(batch * x);
  for (let i = 0; i < data.length; i++) data[i] = rng() < 0.3 ? 1 : 0;
  return { params, data: { shape: [batch, x], data } };
}

/** GAN: generator g1, g2, g3 and discriminator d1, d2, d3; real [64, 256] uniform in [-1, 1]. */
export function ganInit() {
  const rng = mulberry32(SEEDS.gan_step);
  const c = GAN;
  const gen = {};
  dense(rng, gen, 'g1', c.z, c.g1, he(c.z));
  dense(rng, gen, 'g2', c.g1, c.g2, he(c.g1));
  dense(rng, gen, 'g3', c.g2, c.x, lecun(c.g2)); // tanh follows
  const disc = {};
  dense(rng, disc, 'd1', c.x, c.d1, he(c.x));
  dense(rng, disc, 'd2', c.d1, c.d2, he(c.d1));
  dense(rng, disc, 'd3', c.d2, 1, lecun(c.d2));
  const real = new Float32Array(c.batch * c.x);
  for (let i = 0; i < real.length; i++) real[i] = 2 * rng() - 1;
  return { gen, disc, real: { shape: [c.batch, c.x], data: real } };
}

/**
 * LSTM: params Wx [16, 512], Wh [128, 512], b [512], out_W [128, 16], out_b [16];
 * tokens [32, 257] int32 in 0..15, a noisy affine sequence t' = (5t + 3) mod 16 with
 * probability 0.75, else uniform — so there is something to learn.
 */
export function lstmInit() {
  const rng = mulberry32(SEEDS.lstm_step);
  const { vocab, hidden, batch, time } = LSTM;
  const g4 = 4 * hidden;
  const params = {
    Wx: { shape: [vocab, g4], data: normals(rng, vocab * g4, lecun(vocab)) },
    Wh: { shape: [hidden, g4], data: normals(rng, hidden * g4, lecun(hidden)) },
    b: { shape: [g4], data: new Float32Array(g4) },
  };
  dense(rng, params, 'out', hidden, vocab, lecun(hidden));
  const tokens = new Int32Array(batch * (time + 1));
  for (let b = 0; b < batch; b++) {
    let t = Math.floor(rng() * vocab);
    for (let s = 0; s <= time; s++) {
      tokens[b * (time + 1) + s] = t;
      t = rng() < 0.75 ? (5 * t + 3) % vocab : Math.floor(rng() * vocab);
    }
  }
  return { params, tokens: { shape: [batch, time + 1], data: tokens } };
}

/** matmul_N: A, B [N, N] uniform in [-1, 1]. */
export function matmulInit(n) {
  const rng = mulberry32(SEEDS.matmul + n);
  const a = new Float32Array(n * n);
  const b = new Float32Array(n * n);
  for (let i = 0; i < a.length; i++) a[i] = 2 * rng() - 1;
  for (let i = 0; i < b.length; i++) b[i] = 2 * rng() - 1;
  return { a: { shape: [n, n], data: a }, b: { shape: [n, n], data: b } };
}

/** Adam hyper-parameters per case (ε 1e-7 everywhere, as TF.js/Keras default). */
export const ADAM = {
  vae_step: { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-7 },
  gan_step: { lr: 2e-4, b1: 0.5, b2: 0.999, eps: 1e-7 },
  lstm_step: { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-7 },
};

export const matmulSize = (name) => {
  const m = /^matmul_(\d+)$/.exec(name);
  return m ? Number(m[1]) : null;
};

/**
 * The matmul_N case on an engine: `upload({ shape, data })` makes a device tensor,
 * `product(a, b)` resolves to the values of A·B read back to the CPU, and `dispose(tensors)`
 * frees A and B.
 */
export function matmulCase(n, { upload, product, dispose }) {
  const init = matmulInit(n);
  const a = upload(init.a);
  const b = upload(init.b);
  return {
    async step() {
      const data = await product(a, b); // whole C to the CPU
      if (data.length !== n * n) throw new Error(`C has ${data.length} elements`);
      return null;
    },
    dispose() { dispose([a, b]); },
  };
}

/** An engine's makeCase: `steps` maps the step cases' names to their makers; `matmul(N)` makes matmul_N. */
export function caseMaker(steps, matmul) {
  return async (name) => {
    if (Object.hasOwn(steps, name)) return steps[name]();
    const n = matmulSize(name);
    if (n) return matmul(n);
    throw new Error(`unknown case ${name}`);
  };
}
