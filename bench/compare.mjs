#!/usr/bin/env node
// bench/compare — genlab against jax-js and TF.js (WebGPU), side by side, in one headless
// Chromium (SwiftShader WebGPU adapter). Rerunnable; run from anywhere:
//
//   bench/compare [--cases vae_step,gan_step,lstm_step,matmul_1024] [--steps 5] [--skip-genlab]
//                 [--engines genlab,jax-js,tfjs] [--timeout-scale 1]
//
//   cases: vae_step gan_step lstm_step matmul_256 matmul_512 matmul_1024 (default: the first
//   three and matmul_1024). genlab needs a built page: `trunk build --release --offline` (dist/).
//   Prints one table (median ms per step, min–max, genlab vs the best peer) and the combined
//   JSON, which it also writes to bench/results/<date>T<time>.json. The default set takes
//   5–15 minutes per engine on SwiftShader (one TF.js LSTM step: 25–80 s, by CPU load).
//
// What it does: installs the pinned npm packages into bench/node_modules (npm ci, skipped when
// present); serves bench/peers/ (/peers/), bench/node_modules/ (/node_modules/) and dist/
// (/genlab/; $GENLAB_DIST overrides) from one static server on 127.0.0.1; opens
// /usr/bin/chromium ($CHROMIUM overrides) through playwright-core; runs the engines one after
// another, each in a fresh browser context and page: jax-js, TF.js, then genlab. Each page
// follows one contract: `?bench=<cases>&steps=N` runs the cases and writes one JSON object
// into <pre id="bench-out"> ({engine, adapter, steps, cases: [{case, median_ms, min_ms, max_ms,
// loss_before, loss_after[, gflops]} | {case, error}]}; unknown extra keys are kept). A case
// that errors or times out is reported as an error in its cell; the run goes on.
//
// Protocol (all engines): one untimed warm-up step (shader compilation included; its loss is
// loss_before), then N steps each timed alone with performance.now(); a step ends when its
// loss has been read back to the CPU and its parameter update has finished on the GPU
// (jax-js: loss.data(), which submits the jit's whole launch list — one list shared by all its
// outputs — plus blockUntilReady on the last-updated parameter; TF.js: cost.data(), which
// submits the one command encoder holding forward, backward and Adam update, and maps after
// all of it). loss_after = the last timed step's loss. matmul_N: C = A·B, N×N f32, a step
// ends when all of C is on the CPU; gflops = 2N³ / median s / 1e9.
//
// The cases (same for every engine; shared weights and data from bench/peers/init.mjs, a
// seeded mulberry32 + Box–Muller, so jax-js and TF.js start from identical numbers):
// - vae_step: 784→400 ReLU → mean 20 and log-variance 20 (two 400→20 linears), z = m +
//   exp(lv/2)·e, e ~ N(0, I) fresh each step; 20→400 ReLU → 784 logits; loss = sigmoid BCE with
//   logits summed over pixels + KL Σ(exp(lv) − (1 + lv) + m²)/2, averaged over the batch of 64;
//   Adam lr 1e-3, β 0.9/0.999, ε 1e-7. Data: fixed [64, 784] in {0, 1} (uniform noise < 0.3).
// - gan_step: G 64→256 ReLU →512 ReLU →256 tanh; D 256→512 lReLU 0.2 →256 lReLU 0.2 →1;
//   batch 64; one D update (loss_D = mean softplus(−D(real)) + mean softplus(D(G(z))), G
//   fixed), then one G update (non-saturating mean softplus(−D(G(z'))), with the just-updated D
//   fixed); z, z' ~ N(0, I) [64, 64] fresh each step; one Adam per network, lr 2e-4, β 0.5/
//   0.999, ε 1e-7. Real data: fixed [64, 256] uniform in [−1, 1].
//   THE REPORTED LOSS IS loss_D (of the step's D update, before that update), not loss_D + loss_G.
// - lstm_step: one LSTM layer (gates i, f, g, o; c' = f·c + i·g; h' = o·tanh c'), one-hot 16-way
//   inputs, hidden 128, 256 steps, batch 32, h0 = c0 = 0; 128→16 logits every step; softmax CE
//   on the next token averaged over batch and time; full BPTT; Adam lr 1e-3, β 0.9/0.999,
//   ε 1e-7. Data: fixed int tokens [32, 257] (a noisy affine sequence); inputs tokens[:, :256],
//   targets tokens[:, 1:]. Gate pre-activations = x·W_x + h·W_h + b with W_x [16, 512]
//   std 1/√16, W_h [128, 512] std 1/√128, b = 0 (forget-gate bias 0); output layer std 1/√128.
// Init: He-normal std √(2/fan_in) before ReLU / leaky ReLU, 1/√fan_in otherwise, zero biases.
//
// How each peer is written (bench/peers/): jax-js 0.1.25 — the whole step (valueAndGrad +
// hand-written Adam, with fresh noise from jax-js's own PRNG key carried as state) is one `jit`
// on the webgpu device; LSTM unrolled over 256 steps inside it (jax-js has no lax.scan).
// TF.js 4.22 — tf.setBackend('webgpu'), tf.variable params, tf.train.adam(...).minimize,
// dense layers as tf.fused.matMul (bias + ReLU fused), losses tf.losses.sigmoidCrossEntropy /
// softmaxCrossEntropy, noise tf.randomNormal per step (seeded by a step counter).
// Known differences (nearest fair thing):
// - e / z noise comes from each engine's own generator, so losses after the warm-up differ
//   slightly between engines; loss_before agrees only up to that noise (VAE, GAN).
// - jax-js softplus is written as relu(x) + log1p(exp(−|x|)) (its nn.softplus is the naive
//   log(1 + exp x)); TF.js uses its built-in stable tf.softplus / sigmoidCrossEntropy.
// - Adam: jax-js's is hand-written (there is no optimizer in @jax-js/jax); it is the same
//   bias-corrected p −= lr·m̂/(√v̂ + ε) that tf.train.adam computes.
// - VAE loss_before is ~680–700 rather than 784·ln 2 ≈ 543: with this init the first logits
//   have std ≈ 1.1, not ≈ 0, so the BCE starts above ln 2 per pixel (KL adds ~5).
// - jax-js's LSTM step unrolls 256 cells inside jit + valueAndGrad; its tracer clean-up recurses
//   along that chain, close to V8's default stack (once seen in Node as "Maximum call stack
//   size exceeded"); if it happens in the page, the case shows as an error.
// - Both peers project the inputs of all 256 LSTM steps with one [8192, 16]·W_x matmul before
//   the recurrence (genlab does the same).
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FLAGS } from './page.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, '..');
const DIST = process.env.GENLAB_DIST ? resolve(process.env.GENLAB_DIST) : join(ROOT, 'dist');
const PINNED = {
  '@jax-js/jax': '0.1.25',
  '@tensorflow/tfjs': '4.22.0',
  '@tensorflow/tfjs-backend-webgpu': '4.22.0',
  'playwright-core': '1.64.1',
};
const KNOWN_CASES = ['vae_step', 'gan_step', 'lstm_step', 'matmul_256', 'matmul_512', 'matmul_1024'];
const ENGINES = { 'jax-js': 'jax-js', tfjs: 'TF.js', genlab: 'genlab' };

const log = (...a) => console.error('[compare]', ...a);

function parseArgs(argv) {
  const o = { cases: 'vae_step,gan_step,lstm_step,matmul_1024', steps: 5, skipGenlab: false,
    engines: 'jax-js,tfjs,genlab', timeoutScale: 1 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (flag === '--cases') o.cases = value();
    else if (flag === '--steps') o.steps = Number(value());
    else if (flag === '--skip-genlab') o.skipGenlab = true;
    else if (flag === '--engines') o.engines = value();
    else if (flag === '--timeout-scale') o.timeoutScale = Number(value());
    else if (flag === '-h' || flag === '--help') {
      console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split("\n").slice(1, 13)
        .map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown argument ${argv[i]} (see --help)`);
  }
  o.cases = o.cases.split(',').map((s) => s.trim()).filter(Boolean);
  for (const c of o.cases) if (!KNOWN_CASES.includes(c)) throw new Error(`unknown case ${c}; known: ${KNOWN_CASES.join(', ')}`);
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error('--steps must be a positive integer');
  o.engines = o.engines.split(',').map((s) => s.trim()).filter((e) => e && !(o.skipGenlab && e === 'genlab'));
  for (const e of o.engines) if (!ENGINES[e]) throw new Error(`unknown engine ${e}; known: ${Object.keys(ENGINES).join(', ')}`);
  return o;
}

/** npm ci into bench/node_modules unless every pinned package is already there. */
function ensureInstalled() {
  const missing = Object.entries(PINNED).filter(([name, version]) => {
    try {
      return JSON.parse(readFileSync(join(BENCH, 'node_modules', name, 'package.json'), 'utf8')).version !== version;
    } catch { return true; }
  });
  if (!missing.length) return;
  log(`installing ${missing.map(([n, v]) => `${n}@${v}`).join(', ')} into bench/node_modules …`);
  const args = existsSync(join(BENCH, 'package-lock.json')) ? ['ci'] : ['install'];
  const r = spawnSync('npm', [...args, '--no-audit', '--no-fund'], { cwd: BENCH, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) throw new Error(`npm ${args[0]} failed (exit ${r.status})`);
}

async function waitForChromium(path, minutes = 40) {
  for (let i = 0; !existsSync(path); i++) {
    if (i >= minutes * 6) throw new Error(`${path} is missing (install Debian's chromium, or set $CHROMIUM)`);
    if (i % 6 === 0) log(`${path} not there yet; waiting for it to be installed …`);
    await new Promise((r) => setTimeout(r, 10_000));
  }
}

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.wasm': 'application/wasm', '.json': 'application/json', '.map': 'application/json',
  '.css': 'text/css', '.png': 'image/png', '.svg': 'image/svg+xml', '.ico': 'image/x-icon',
  '.txt': 'text/plain', '.wgsl': 'text/plain',
};

/** One static server: /peers/ → bench/peers, /node_modules/ → bench/node_modules, /genlab/ → dist. */
function serve() {
  const mounts = [['/peers/', join(BENCH, 'peers')], ['/node_modules/', join(BENCH, 'node_modules')], ['/genlab/', DIST]];
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    let pathname;
    try { pathname = decodeURIComponent(url.pathname); } catch { pathname = ''; }
    if (pathname === '/favicon.ico') {
      res.writeHead(204);
      return res.end();
    }
    if (pathname === '/genlab' || pathname === '/peers') {
      res.writeHead(301, { location: `${pathname}/${url.search}` });
      return res.end();
    }
    const mount = mounts.find(([prefix]) => pathname.startsWith(prefix));
    let file = mount && resolve(mount[1], `.${pathname.slice(mount[0].length - 1)}`);
    if (file && !(file === mount[1] || file.startsWith(mount[1] + sep))) file = null;
    try {
      if (file && statSync(file).isDirectory()) file = join(file, 'index.html');
      if (!file || !statSync(file).isFile()) throw new Error();
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found');
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => ok({ server, base: `http://127.0.0.1:${server.address().port}` }));
  });
}

/** Generous per-case limits (ms) for warm-up + steps on SwiftShader. */
function caseBudget(name, steps, scale) {
  const perStep = { lstm_step: 150_000, vae_step: 40_000, gan_step: 40_000, matmul_1024: 40_000,
    matmul_512: 15_000, matmul_256: 10_000 }[name] ?? 60_000;
  return scale * (180_000 + perStep * (steps + 1));
}

const withTimeout = (promise, ms) => Promise.race([promise, new Promise((r) => setTimeout(() => r(undefined), ms))]);

/** Runs one engine's page in a fresh context; returns its JSON (plus partial results on failure). */
async function runEngine(browser, base, engine, opt) {
  const q = `bench=${opt.cases.join(',')}&steps=${opt.steps}`;
  const url = engine === 'genlab' ? `${base}/genlab/index.html?${q}` : `${base}/peers/index.html?engine=${engine}&${q}`;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const partial = [];
  const errors = [];
  let crashed = false;
  let lastProgress = Date.now();
  page.on('console', (m) => {
    const t = m.text();
    if (t.startsWith('bench-case:')) {
      try { partial.push(JSON.parse(t.slice(11))); lastProgress = Date.now(); } catch { /* ignore */ }
    } else if (t.startsWith('bench-log: ')) log(`${engine}: ${t.slice(11)}`);
    else if (m.type() === 'error') { errors.push(t); if (errors.length <= 5) log(`${engine} console error: ${t}`); }
  });
  page.on('pageerror', (e) => { errors.push(String(e)); log(`${engine} page error: ${e}`); });
  page.on('crash', () => { crashed = true; log(`${engine}: the page crashed`); });
  log(`${engine}: opening ${url}`);
  const started = Date.now();
  let result;
  let failure = null;
  try {
    await page.goto(url, { timeout: 120_000 });
    const budgets = opt.cases.map((c) => caseBudget(c, opt.steps, opt.timeoutScale));
    const total = budgets.reduce((a, b) => a + b, 0);
    for (;;) {
      if (crashed) { failure = 'page crashed'; break; }
      const text = await withTimeout(page.evaluate(() => document.getElementById('bench-out')?.textContent || ''), 15_000).catch(() => '');
      if (text) {
        try { result = JSON.parse(text); break; } catch { /* not complete yet */ }
      }
      // Rolling per-case deadline once the page reports cases; else the sum of all budgets.
      const rolling = partial.length > 0 || engine !== 'genlab';
      const overdue = rolling
        ? Date.now() - Math.max(lastProgress, started) > (budgets[partial.length] ?? 60_000)
        : Date.now() - started > total;
      if (overdue) { failure = `timed out after ${Math.round((Date.now() - started) / 1000)} s`; break; }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } catch (e) {
    failure = String(e.message || e).split('\n')[0];
  }
  if (!result) {
    result = { engine, adapter: null, steps: opt.steps, error: failure, cases: [] };
    const done = new Map(partial.map((c) => [c.case, c]));
    for (const c of opt.cases) result.cases.push(done.get(c) || { case: c, error: failure || 'no result' });
    if (errors.length) result.console_errors = errors.slice(0, 5);
  }
  result.wall_s = Math.round((Date.now() - started) / 100) / 10;
  await withTimeout(context.close(), 30_000).catch(() => {});
  return result;
}

const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

function cell(r) {
  if (!r) return 'n/a';
  if (r.error) return `error: ${String(r.error).slice(0, 60)}`;
  if (typeof r.median_ms !== 'number') return 'error: no median_ms';
  return `${fmt(r.median_ms)} (${fmt(r.min_ms)}–${fmt(r.max_ms)})`;
}

function table(opt, results) {
  const engines = ['genlab', 'jax-js', 'tfjs'].filter((e) => e === 'genlab' || opt.engines.includes(e));
  const header = ['case', ...engines.map((e) => `${ENGINES[e]} ms`), 'genlab vs best peer'];
  const rows = [];
  const json = [];
  for (const c of opt.cases) {
    const get = (e) => results[e]?.cases?.find((x) => x.case === c);
    const ok = (r) => r && !r.error && typeof r.median_ms === 'number';
    const peers = ['jax-js', 'tfjs'].filter((e) => ok(get(e))).sort((a, b) => get(a).median_ms - get(b).median_ms);
    const g = get('genlab');
    let ratio = null;
    let verdict = results.genlab ? 'n/a' : 'skipped';
    if (ok(g) && peers.length) {
      ratio = g.median_ms / get(peers[0]).median_ms;
      verdict = ratio <= 1 ? `${(1 / ratio).toFixed(2)}x faster than ${ENGINES[peers[0]]}`
        : `${ratio.toFixed(2)}x slower than ${ENGINES[peers[0]]}`;
    }
    rows.push([c, ...engines.map((e) => (e === 'genlab' && !results.genlab ? 'skipped' : cell(get(e)))), verdict]);
    json.push({ case: c, genlab_over_best_peer: ratio == null ? null : Number(ratio.toFixed(4)), best_peer: peers[0] ?? null });
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((s, i) => s.padEnd(widths[i])).join(' | ')} |`;
  const text = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
  return { text, json };
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  if (opt.engines.includes('genlab') && !existsSync(join(DIST, 'index.html'))) {
    log('dist/index.html is missing: build genlab\'s page first with `trunk build --release --offline`,');
    log('or pass --skip-genlab to run the peers only.');
    process.exit(2);
  }
  ensureInstalled();
  const { chromium } = await import('playwright-core');
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  await waitForChromium(executablePath);
  const { server, base } = await serve();
  log(`serving on ${base} (peers: /peers/, genlab: /genlab/)`);
  const browser = await chromium.launch({ executablePath, headless: true, args: FLAGS });
  const chromiumVersion = browser.version();
  const results = {};
  const order = ['jax-js', 'tfjs', 'genlab'].filter((e) => opt.engines.includes(e));
  try {
    for (const engine of order) results[engine] = await runEngine(browser, base, engine, opt);
  } finally {
    await withTimeout(browser.close(), 30_000).catch(() => {});
    server.close();
  }
  const adapters = [...new Set(Object.values(results).map((r) => r.adapter).filter(Boolean))];
  const { text, json } = table(opt, results);
  const now = new Date();
  const stamp = now.toISOString().replace(/\..*$/, '').replace(/:/g, '-');
  const combined = {
    date: now.toISOString(),
    command: `bench/compare ${process.argv.slice(2).join(' ')}`.trim(),
    chromium: chromiumVersion,
    flags: FLAGS,
    adapter: adapters.join(' | ') || null,
    steps: opt.steps,
    cases: opt.cases,
    reported_loss: { vae_step: 'ELBO loss (BCE + KL) per example', gan_step: 'loss_D', lstm_step: 'mean CE per token' },
    engines: results,
    comparison: json,
  };
  mkdirSync(join(BENCH, 'results'), { recursive: true });
  const outFile = join(BENCH, 'results', `${stamp}.json`);
  writeFileSync(outFile, `${JSON.stringify(combined, null, 2)}\n`);
  console.log(`adapter: ${combined.adapter}`);
  console.log(`steps: ${opt.steps} timed (after 1 warm-up); median ms per step (min–max); lower is better`);
  console.log(text);
  for (const [e, r] of Object.entries(results)) {
    const losses = (r.cases || []).filter((c) => !c.error && c.loss_before != null)
      .map((c) => `${c.case} ${c.loss_before}→${c.loss_after}`);
    const gf = (r.cases || []).filter((c) => c.gflops != null).map((c) => `${c.case} ${c.gflops} GFLOP/s`);
    console.log(`${ENGINES[e]}: ${[...losses, ...gf].join('; ') || '(no losses)'}  [${r.wall_s} s]`);
  }
  console.log(`\nwritten: ${outFile}`);
  console.log(JSON.stringify(combined, null, 2));
}

main().catch((e) => {
  log(`error: ${process.env.DEBUG ? e.stack : e.message || e}`);
  process.exit(1);
});
