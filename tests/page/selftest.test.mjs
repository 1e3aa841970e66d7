// The served page finds the WebGPU adapter and shows an all-green kernel self-test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { openPage } from './harness.mjs';

test('page shows the adapter and an all-green self-test table', { timeout: 300_000 }, async () => {
  const { page, consoleErrors, close } = await openPage();
  try {
    await page.waitForFunction(() => document.body.dataset.selftest, null, { timeout: 240_000 });
    const adapter = await page.textContent('#adapter');
    assert.match(adapter, /WebGpu/, `adapter line: ${adapter}`);
    assert.equal(await page.getAttribute('body', 'data-selftest'), 'passed', await page.textContent('#status'));
    const rows = await page.$$eval('#selftest-rows tr', (trs) => trs.map((tr) => tr.lastChild.textContent));
    assert.ok(rows.length >= 30, `only ${rows.length} rows`);
    assert.ok(rows.every((r) => r === 'pass'), `results: ${rows}`);
    assert.match(await page.textContent('#status'), new RegExp(`${rows.length} / ${rows.length} kernel checks passed`));
    if (process.env.SCREENSHOTS) {
      mkdirSync(process.env.SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: `${process.env.SCREENSHOTS}/selftest.png`, fullPage: false });
    }
    assert.deepEqual(consoleErrors, []);
  } finally {
    await close();
  }
});
