// `?bench=`: the page runs the speed benchmark instead of the labs and writes one JSON
// object into #bench-out, the contract bench/compare reads (tiny cases: SwiftShader is slow).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, withReadyPage } from './harness.mjs';

const report = async (page) => {
  await page.waitForFunction(() => document.body.dataset.bench === 'done', null, { timeout: 120_000 });
  return JSON.parse(await page.textContent('#bench-out'));
};

test('?bench= runs the cases by the protocol and writes the JSON report', { timeout: 180_000 }, async () => {
  const { page, consoleErrors, close } = await openPage('?bench=matmul_64,nope_step&steps=2');
  try {
    const out = await report(page);
    // One bad case name refuses the whole list, in words.
    assert.equal(out.engine, 'genlab');
    assert.match(out.error, /unknown benchmark case 'nope_step'/);
  } finally {
    await close();
  }
  const second = await openPage('?bench=matmul_64,matmul_33&steps=2');
  try {
    const out = await report(second.page);
    assert.equal(out.engine, 'genlab');
    assert.equal(out.steps, 2);
    assert.match(out.adapter, /WebGpu/);
    assert.deepEqual(out.cases.map((c) => c.case), ['matmul_64', 'matmul_33']);
    for (const c of out.cases) {
      assert.ok(c.min_ms > 0 && c.min_ms <= c.median_ms && c.median_ms <= c.max_ms, JSON.stringify(c));
      assert.equal(c.loss_before, null);
      assert.equal(c.launches_per_step, 1);
    }
    assert.deepEqual(second.consoleErrors, []);
  } finally {
    await second.close();
  }
  assert.deepEqual(consoleErrors, []);
});

test('the Kernels tab profiles a step per kernel family', { timeout: 180_000 }, async () => {
  await withReadyPage('#lab=kernels', async ({ page, consoleErrors }) => {
    await page.selectOption('#profile-case', 'matmul_256');
    await page.click('#profile-run');
    await page.waitForFunction(() => document.querySelectorAll('#profile-rows tr').length > 0, null, { timeout: 120_000 });
    assert.match(await page.textContent('#profile-status'), /matmul_256: [\d.]+ ms per step in one submission; 1 launches/);
    const rows = await page.$$eval('#profile-rows tr', (trs) => trs.map((tr) => tr.children[0].textContent));
    assert.ok(rows.includes('matmul'), rows.join(', '));
    assert.deepEqual(consoleErrors, []);
  });
});
