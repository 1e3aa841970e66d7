#!/usr/bin/env node
// bench/soak — does a long session in the page stay flat? For each lab, opens genlab's built
// page (dist/, `trunk build --release --offline`) in headless Chromium on SwiftShader, presses
// Train on the lab's defaults, and samples every `--every` seconds for `--minutes` minutes:
// the steps, what genlab holds on the GPU (its pooled buffers and readbacks, their bytes, the
// cached bind groups: data attributes the page keeps up to date), the JS heap, the wasm
// memory, and the resident memory of the browser's GPU process (SwiftShader's). The first sample, a minute in, is the baseline; a leak grows from there.
//
//   node bench/soak.mjs [--minutes 10] [--every 30] [--labs pixelrnn,vae,gan]
//
// Needs bench/node_modules (`npm ci --prefix bench`, or one run of bench/compare). A
// benchmark, not a test: figures depend on the machine and what else it runs.
import { execFileSync } from 'node:child_process';
import { openDist, parseArgs } from './page.mjs';

const args = parseArgs({ minutes: 10, every: 30, labs: 'pixelrnn,vae,gan' });
// Keeps the wasm exports (their memory) where the sampler can read them.
const KEEP_WASM = () => addEventListener('TrunkApplicationStarted', (e) => { window.__wasm = e.detail.wasm; });
// --enable-precise-memory-info: performance.memory in whole bytes, not rounded buckets.
// The unknown flag marks this browser's main process, to find its GPU process by.
const marker = `--genlab-soak=${process.pid}`;
const { browser, base, close } = await openDist(['--enable-precise-memory-info', marker]);
const mib = (bytes) => Number((bytes / 2 ** 20).toFixed(2));

// Resident memory of this browser's GPU process, where SwiftShader runs the kernels: a leak
// in the driver shows here, not in the page.
function gpuProcessBytes() {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,rss=,args='], { encoding: 'utf8' })
    .split('\n').map((r) => r.trim().split(/\s+/));
  // The browser's descendants (the GPU process is a zygote's child), from its main process.
  const family = new Set(rows.filter((c) => c.includes(marker)).map((c) => c[0]));
  for (let grew = true; grew;) {
    const before = family.size;
    for (const c of rows) if (family.has(c[1])) family.add(c[0]);
    grew = family.size > before;
  }
  const gpu = rows.find((c) => family.has(c[0]) && c.includes('--type=gpu-process'));
  return gpu ? Number(gpu[2]) * 1024 : NaN;
}
try {
  for (const lab of args.labs.split(',')) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.addInitScript(KEEP_WASM);
    await page.goto(`${base}#lab=${lab}`);
    await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 120_000 });
    await page.click(`#${lab}-train`);
    const samples = [];
    const started = Date.now();
    const end = started + Number(args.minutes) * 60_000;
    // The first sample a minute in: buffers, pipelines and caches have been made by then.
    await page.waitForTimeout(Math.min(60_000, Number(args.minutes) * 30_000));
    while (true) {
      const sample = await page.evaluate((lab) => {
        const body = document.body.dataset;
        return {
          steps: Number(document.getElementById(`lab-${lab}`).dataset.steps || 0),
          gpu_buffers: Number(body.gpuBuffers),
          gpu_bytes: Number(body.gpuBytes),
          bind_groups: Number(body.gpuBindGroups),
          js_heap: performance.memory?.usedJSHeapSize ?? NaN,
          wasm_memory: window.__wasm?.memory?.buffer?.byteLength ?? NaN,
          status: document.getElementById(`${lab}-status`).textContent,
        };
      }, lab);
      samples.push({ seconds: Math.round((Date.now() - started) / 1000), ...sample, gpu_process: gpuProcessBytes() });
      if (Date.now() + Number(args.every) * 1000 > end) break;
      await page.waitForTimeout(Number(args.every) * 1000);
    }
    const [first, last] = [samples[0], samples[samples.length - 1]];
    console.log(JSON.stringify({
      lab,
      minutes: Number(args.minutes),
      steps: last.steps,
      gpu_buffers: [first.gpu_buffers, last.gpu_buffers],
      gpu_mib: [mib(first.gpu_bytes), mib(last.gpu_bytes)],
      bind_groups: [first.bind_groups, last.bind_groups],
      js_heap_mib: [mib(first.js_heap), mib(last.js_heap)],
      wasm_mib: [mib(first.wasm_memory), mib(last.wasm_memory)],
      gpu_process_mib: [mib(first.gpu_process), mib(last.gpu_process)],
      status: last.status,
      samples: samples.map(({ status, ...s }) => s),
    }));
    await page.close();
  }
} finally {
  await close();
}
