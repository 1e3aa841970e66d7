// The bench page's driver, shared by the peer engines (jax-js, TF.js). Contract (genlab's own
// page follows the same one): `?bench=a,b,c&steps=N` runs the cases one after another and
// finally writes ONE JSON object into <pre id="bench-out">:
//   {"engine", "adapter", "steps", "cases": [{"case", "median_ms", "min_ms", "max_ms",
//    "loss_before", "loss_after"} | {"case", "error"}]}
// (matmul cases: losses null, plus "gflops"). Each finished case is also logged to the console
// as `bench-case:{json}` so the driver keeps partial results if a later case hangs.
// Protocol: one untimed warm-up step (its loss is loss_before), then `steps` steps each timed
// alone with performance.now(); a step's promise resolves only after its loss has reached the
// CPU and its parameter update has finished on the GPU (see each engine's module).
import { matmulSize } from './init.mjs';

const DEFAULT_CASES = 'vae_step,gan_step,lstm_step,matmul_1024';

function log(line) {
  document.getElementById('bench-log').textContent += `${line}\n`;
  console.log(`bench-log: ${line}`);
}

async function adapterLine() {
  if (!navigator.gpu) return 'no navigator.gpu';
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return 'no WebGPU adapter';
  const info = adapter.info || (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : {});
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s);
  return parts.join(' / ') || 'WebGPU adapter (no info)';
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`failed to load ${src}`));
    document.head.appendChild(s);
  });
}

async function loadEngine(name) {
  if (name === 'jax-js') return import('./jax.mjs');
  if (name === 'tfjs') {
    // The UMD bundles: tf.min.js defines the global `tf`, the WebGPU backend registers on it.
    await loadScript('../node_modules/@tensorflow/tfjs/dist/tf.min.js');
    await loadScript('../node_modules/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js');
    return import('./tfjs.mjs');
  }
  throw new Error(`unknown engine ${name} (use engine=jax-js or engine=tfjs)`);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x, d = 3) => (x == null || !Number.isFinite(x) ? x : Number(x.toFixed(d)));

export async function run() {
  const q = new URLSearchParams(location.search);
  const engineName = q.get('engine') || 'jax-js';
  const cases = (q.get('bench') || DEFAULT_CASES).split(',').map((s) => s.trim()).filter(Boolean);
  const steps = Math.max(1, Number(q.get('steps') || 5));
  const out = { engine: engineName, adapter: await adapterLine(), steps, cases: [] };
  let engine;
  try {
    engine = await loadEngine(engineName);
    out.version = await engine.setup();
  } catch (e) {
    out.error = `setup: ${e && e.message || e}`;
    for (const name of cases) out.cases.push({ case: name, error: out.error });
    document.getElementById('bench-out').textContent = JSON.stringify(out);
    return;
  }
  for (const name of cases) {
    log(`${engineName}: ${name} …`);
    let c;
    let result;
    try {
      c = await engine.makeCase(name);
      const lossBefore = await c.step();
      log(`  warm-up done, loss ${lossBefore}`);
      const times = [];
      let lossAfter = lossBefore;
      for (let s = 0; s < steps; s++) {
        const t0 = performance.now();
        lossAfter = await c.step();
        times.push(performance.now() - t0);
        log(`  step ${s + 1}: ${times[s].toFixed(1)} ms, loss ${lossAfter}`);
      }
      const med = median(times);
      result = {
        case: name,
        median_ms: round(med),
        min_ms: round(Math.min(...times)),
        max_ms: round(Math.max(...times)),
        loss_before: round(lossBefore, 6),
        loss_after: round(lossAfter, 6),
      };
      const n = matmulSize(name);
      if (n) result.gflops = round((2 * n ** 3) / (med / 1e3) / 1e9, 4);
    } catch (e) {
      result = { case: name, error: String(e && e.message || e) };
      log(`  error: ${result.error}`);
    } finally {
      try { c && c.dispose(); } catch { /* best effort */ }
    }
    out.cases.push(result);
    console.log(`bench-case:${JSON.stringify(result)}`);
  }
  document.getElementById('bench-out').textContent = JSON.stringify(out);
}
