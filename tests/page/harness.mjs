// Serves dist/ on loopback and opens it in Debian's Chromium with a real WebGPU adapter
// (SwiftShader). Flags: see the README's "Toolchain notes".
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

/** Starts the server and the browser; returns { page, url, consoleErrors, close }. */
export async function openPage(path = '') {
  const port = await freePort();
  const server = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1',
    '--directory', join(root, 'dist')], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}/`;
  let browser;
  try {
    await waitForServer(base);
    // launch() always starts from a fresh, empty profile (Playwright refuses --user-data-dir).
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_FLAGS,
    });
  } catch (e) {
    server.kill();
    throw e;
  }
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(base + path);
  return {
    page,
    url: base + path,
    consoleErrors,
    async close() {
      await browser.close();
      server.kill();
    },
  };
}
