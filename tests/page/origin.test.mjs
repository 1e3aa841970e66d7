// The page talks to nobody else: its Content-Security-Policy allows only its own origin, and
// through a whole session (every lab's bundled models loaded and trained, a model exported,
// the kernel self-test opened) no request leaves the origin and nothing breaks the policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage } from './harness.mjs';

// Records every policy violation the page reports.
const RECORD_VIOLATIONS = () => {
  window.__violations = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
};

test('a whole session makes no request outside the page\'s origin', { timeout: 240_000 }, async () => {
  const { page, url, consoleErrors, requests, close } = await openPage('#lab=pixelrnn', { initScript: RECORD_VIOLATIONS });
  const origin = new URL(url).origin;
  try {
    const policy = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content');
    assert.match(policy, /default-src 'self'/);
    assert.match(policy, /connect-src 'self'/);
    await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 60_000 });
    for (const lab of ['pixelrnn', 'vae', 'gan']) {
      await page.click(`#tab-${lab}`);
      await page.click(`#${lab}-pretrained`);
      await page.waitForFunction((lab) => /^Loaded/.test(document.getElementById(`${lab}-status`).textContent), lab, { timeout: 60_000 });
      await page.click(`#${lab}-train`);
      await page.waitForTimeout(1500);
      await page.click(`#${lab}-pause`);
    }
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#gan-export')]);
    assert.ok(await download.path());
    await page.click('#tab-kernels');
    await page.waitForFunction(() => document.querySelectorAll('#selftest-rows tr').length >= 3, null, { timeout: 60_000 });

    // Whatever the page fetched (its script, wasm, styles, the bundled models) came from home.
    const away = requests.filter((u) => !u.startsWith(`${origin}/`) && !/^(data|blob):/.test(u));
    assert.deepEqual(away, [], 'requests that left the origin');
    assert.ok(requests.some((u) => u.endsWith('.wasm')), 'the wasm came from the origin');
    assert.ok(requests.some((u) => u.includes('/pretrained/')), 'the bundled models came from the origin');
    assert.deepEqual(await page.evaluate(() => window.__violations), [], 'policy violations');
    assert.deepEqual(consoleErrors.filter((e) => /Content Security Policy|panicked/.test(e)), []);
  } finally {
    await close();
  }
});
