// What bench/frames.mjs and bench/soak.mjs share: genlab's built page (dist/, or
// $GENLAB_DIST) served on loopback, and headless Chromium with a real WebGPU adapter
// (SwiftShader; the flags are the page tests', see tests/page/harness.mjs).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const FLAGS = [
  '--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan',
  '--use-vulkan=swiftshader', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
  '--enable-gpu', '--ignore-gpu-blocklist', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

/** `--name value` pairs of the command line over `defaults`. */
export function parseArgs(defaults) {
  const args = { ...defaults };
  for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  return args;
}

/** Serves the page and starts the browser: { browser, base (the page's URL), close }. */
export async function openDist(extraFlags = []) {
  const port = await new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
  const dist = process.env.GENLAB_DIST || join(ROOT, 'dist');
  const server = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', dist], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1000));
  // Imported here: bench/compare takes FLAGS from this file before it installs playwright-core.
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [...FLAGS, ...extraFlags],
  });
  return {
    browser,
    base: `http://127.0.0.1:${port}/`,
    async close() {
      await browser.close();
      server.kill();
    },
  };
}
