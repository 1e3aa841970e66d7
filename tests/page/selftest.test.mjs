// The Kernels tab: opening it runs every kernel against its CPU twin, all green.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { saveScreenshot, withReadyPage } from './harness.mjs';

test('page shows the adapter and an all-green self-test table', { timeout: 300_000 }, async () => {
  await withReadyPage('', async ({ page, consoleErrors }) => {
    await page.click('#tab-kernels');
    await page.waitForFunction(() => document.body.dataset.selftest, null, { timeout: 240_000 });
    const adapter = await page.textContent('#adapter');
    assert.match(adapter, /WebGpu/, `adapter line: ${adapter}`);
    assert.equal(await page.getAttribute('body', 'data-selftest'), 'passed', await page.textContent('#status'));
    const rows = await page.$$eval('#selftest-rows tr', (trs) => trs.map((tr) => tr.lastChild.textContent));
    assert.ok(rows.length >= 30, `only ${rows.length} rows`);
    assert.ok(rows.every((r) => r === 'pass'), `results: ${rows}`);
    assert.match(await page.textContent('#status'), new RegExp(`${rows.length} / ${rows.length} kernel checks passed`));
    assert.match(await page.evaluate(() => location.hash), /^#lab=kernels$/);
    await saveScreenshot(page, 'selftest');
    assert.deepEqual(consoleErrors, []);
  });
});
