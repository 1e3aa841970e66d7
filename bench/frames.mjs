#!/usr/bin/env node
// bench/frames — does the page stay smooth while it trains? For each lab, opens genlab's
// built page (dist/, `trunk build --release --offline`) in headless Chromium on SwiftShader,
// presses Train on the lab's defaults (or on the link given), and records every
// requestAnimationFrame for `--seconds` (default 60). Prints, per lab: frames, the longest
// gap after the first 5 s, the 95th percentile gap, training steps per second, how the lab
// paces its steps (step_ms, slices) and how often the screen changes (screen_update_every_ms,
// see ScreenPace in src/web/labs/pace.rs), and the main thread's tasks over 50 ms after the first
// 5 s (count, total and longest): gaps without them are frames held back outside the page.
//
//   node bench/frames.mjs [--seconds 60] [--labs pixelrnn,vae,gan] [--link '#lab=vae&hidden=400…']
//
// Needs bench/node_modules (`npm ci --prefix bench`, or one run of bench/compare). A
// benchmark, not a test: figures depend on the machine and what else it runs.
import { openDist, parseArgs } from './page.mjs';

const args = parseArgs({ seconds: 60, labs: 'pixelrnn,vae,gan', link: '' });
const { browser, base, close } = await openDist();
const runs = args.link ? [[args.link.match(/lab=(\w+)/)[1], args.link]] : args.labs.split(',').map((lab) => [lab, `#lab=${lab}`]);
try {
  for (const [lab, link] of runs) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}${link}`);
    await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 120_000 });
    await page.evaluate(() => {
      window.__frames = [];
      const tick = (t) => { window.__frames.push(t); requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
      // Tasks over 50 ms on the page's main thread: whether a gap is the page's own work
      // (our wasm, canvas drawing) or a frame the compositor and GPU process held back.
      window.__long = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__long.push([e.startTime, e.duration]);
      }).observe({ type: 'longtask' });
    });
    await page.click(`#${lab}-train`);
    const steps = () => page.evaluate((lab) => Number(document.getElementById(`lab-${lab}`).dataset.steps || 0), lab);
    await page.waitForTimeout(5000);
    const [t5, s5] = [await page.evaluate(() => performance.now()), await steps()];
    await page.waitForTimeout(1000 * Number(args.seconds) - 5000);
    const [t1, s1] = [await page.evaluate(() => performance.now()), await steps()];
    const frames = await page.evaluate(() => window.__frames);
    const long = (await page.evaluate(() => window.__long)).filter(([t]) => t >= frames[0] + 5000);
    const pacing = await page.evaluate((lab) => {
      const el = document.getElementById(`lab-${lab}`);
      return { step_ms: Number(el.dataset.stepMs), slices: Number(el.dataset.slices), screen_update_every_ms: Number(el.dataset.screenMs) };
    }, lab);
    const after = frames.filter((t) => t >= frames[0] + 5000);
    const gaps = after.slice(1).map((t, i) => t - after[i]).sort((a, b) => a - b);
    const p95 = gaps[Math.floor(0.95 * (gaps.length - 1))] ?? NaN;
    console.log(JSON.stringify({
      lab, link, seconds: Number(args.seconds), frames: frames.length,
      max_gap_ms_after_5s: Math.round(gaps[gaps.length - 1] ?? NaN), p95_gap_ms: Math.round(p95),
      steps_per_s: Number(((s1 - s5) / ((t1 - t5) / 1000)).toFixed(2)), steps: s1, ...pacing,
      long_tasks_after_5s: long.length, long_task_ms: Math.round(long.reduce((a, [, d]) => a + d, 0)),
      longest_task_ms: Math.round(Math.max(0, ...long.map(([, d]) => d))),
    }));
    await page.close();
  }
} finally {
  await close();
}
