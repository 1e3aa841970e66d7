// Serves dist/ on loopback and opens it in Debian's Chromium with a real WebGPU adapter
// (SwiftShader). Flags: see the README's "Toolchain notes".
import { spawn } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const CHROMIUM_FLAGS = [
  '--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan',
  '--use-vulkan=swiftshader', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
  '--enable-gpu', '--ignore-gpu-blocklist', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitForServer(url, tries = 100) {
  for (let i = 0; i < tries; i++) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`static server at ${url} never answered`);
}

/**
 * Starts the server (dist/, or $GENLAB_DIST) and the browser; returns { page, url, consoleErrors,
 * requests, close }.
 * `flags` replaces the browser's command-line flags (e.g. to take WebGPU away); `subpath`
 * serves the page under /<subpath>/ instead of the root; `initScript` runs in the page before
 * any of its own scripts (to reach what the page makes, such as its GPU device).
 */
export async function openPage(path = '', { flags = CHROMIUM_FLAGS, subpath = '', initScript = null } = {}) {
  const port = await freePort();
  // With a sub-path, dist/ is served as /<subpath>/, as GitHub Pages serves a project.
  let served = process.env.GENLAB_DIST || join(root, 'dist');
  if (subpath) {
    const dir = mkdtempSync(join(tmpdir(), 'genlab-pages-'));
    symlinkSync(served, join(dir, subpath));
    served = dir;
  }
  const server = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1',
    '--directory', served], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}/${subpath ? `${subpath}/` : ''}`;
  let browser;
  try {
    await waitForServer(base);
    // launch() always starts from a fresh, empty profile (Playwright refuses --user-data-dir).
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: flags,
    });
  } catch (e) {
    server.kill();
    throw e;
  }
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const consoleErrors = [];
  const requests = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  if (initScript) await page.addInitScript(initScript);
  await page.goto(base + path);
  return {
    page,
    url: base + path,
    consoleErrors,
    /** Every URL the page requested, from the first. */
    requests,
    async close() {
      await browser.close();
      server.kill();
    },
  };
}

/**
 * Opens the page as openPage does (`options` as there, and may be left out), waits until it
 * is ready, runs `body` with what openPage returned, and closes the browser and the server
 * however `body` ends.
 */
export async function withReadyPage(path, options, body) {
  if (typeof options === 'function') [options, body] = [{}, options];
  const opened = await openPage(path, options);
  try {
    await opened.page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 60_000 });
    return await body(opened);
  } finally {
    await opened.close();
  }
}

/**
 * What a canvas shows, from a screenshot of its element (so it is what the user sees,
 * whatever the canvas's context): the number of distinct colours, and the spread of
 * brightness. A blank or single-colour canvas has 1 colour and spread 0.
 */
export async function canvasStats(page, selector) {
  const png = await page.locator(selector).screenshot();
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const { data } = ctx.getImageData(0, 0, c.width, c.height);
    const colours = new Set();
    let sum = 0;
    let sumSq = 0;
    const n = data.length / 4;
    for (let i = 0; i < data.length; i += 4) {
      colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      const y = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
      sum += y;
      sumSq += y * y;
    }
    const mean = sum / n;
    return { width: c.width, height: c.height, colours: colours.size, mean, spread: Math.sqrt(Math.max(0, sumSq / n - mean * mean)) };
  }, png.toString('base64'));
}

/** Waits until the lab's step counter reaches `steps`. */
export async function waitForSteps(page, lab, steps, timeout = 90_000) {
  await page.waitForFunction(
    ([lab, steps]) => Number(document.getElementById(`lab-${lab}`).dataset.steps || 0) >= steps,
    [lab, steps],
    { timeout },
  );
}

/** Saves a screenshot of the page to $SCREENSHOTS/<name>.png when SCREENSHOTS is set. */
export async function saveScreenshot(page, name, options = {}) {
  if (!process.env.SCREENSHOTS) return;
  const { mkdirSync } = await import('node:fs');
  mkdirSync(process.env.SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${process.env.SCREENSHOTS}/${name}.png`, ...options });
}

/** The first completion equals the sprite wherever the cover left it visible. */
export async function assertUncoveredKept(page, pixels) {
  const list = (name) => page.getAttribute('#lab-pixelrnn', `data-${name}`).then((v) => v.split(',').map(Number));
  const [copy, sprite, cover] = await Promise.all([list('first-copy'), list('sprite'), list('cover')]);
  assert.equal(copy.length, pixels);
  assert.equal(sprite.length, pixels);
  const covered = cover.filter((c) => c === 1).length;
  assert.ok(covered > 0 && covered < pixels, `${covered} of ${pixels} pixels covered`);
  const changed = copy.map((c, i) => (cover[i] === 0 && c !== sprite[i] ? i : -1)).filter((i) => i >= 0);
  assert.deepEqual(changed, [], 'uncovered pixels the completion changed');
}
