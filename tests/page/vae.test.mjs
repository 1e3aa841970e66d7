// The VAE lab end to end, on a tiny model from a link (SwiftShader does ~1 GFLOP/s): it trains,
// its loss changes, its canvases show images, the address bar and "Copy link" describe the
// run, and a model goes out as a .safetensors file and comes back in unchanged — while a
// corrupt file is refused in words and leaves the model alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { canvasStats, saveScreenshot, waitForSteps, withReadyPage } from './harness.mjs';

const TINY = '#lab=vae&data=moons&count=40&hidden=16&latent=2&batch=8&lr=0.005&warmup=0&compare=1&seed=3';

const loss = (page) => page.getAttribute('#lab-vae', 'data-loss').then(Number);
const steps = (page) => page.getAttribute('#lab-vae', 'data-steps').then(Number);

test('the VAE lab trains, draws from GPU buffers, shares a link, exports and imports', { timeout: 180_000 }, async () => {
  await withReadyPage(TINY, async ({ page, consoleErrors }) => {
    assert.equal(await page.getAttribute('#tab-vae', 'aria-selected'), 'true');
    assert.equal(await page.inputValue('#vae-hidden'), '16', 'the form shows the link');
    assert.equal(await page.inputValue('#vae-data'), 'moons');
    assert.ok(await page.isChecked('#vae-compare'));

    await page.click('#vae-train');
    await page.waitForFunction(() => document.getElementById('lab-vae').dataset.loss, null, { timeout: 60_000 });
    const first = await loss(page);
    const firstText = await page.textContent('#vae-figures');
    assert.ok(Number.isFinite(first) && first > 0, `first loss ${first}`);
    await waitForSteps(page, 'vae', 12);
    await page.click('#vae-pause');
    await page.waitForFunction(() => document.getElementById('lab-vae').dataset.running === '0');
    // Figures are read back every few steps; wait for some from late in the run.
    await page.waitForFunction(() => Number(document.getElementById('lab-vae').dataset.lossStep) >= 8, null, { timeout: 30_000 });
    await page.waitForTimeout(1000);
    const last = await loss(page);
    assert.ok(Number.isFinite(last), `last loss ${last}`);
    assert.notEqual(last, first, 'the loss changed while training');
    assert.notEqual(await page.textContent('#vae-figures'), firstText, 'the figures line changed');
    assert.match(await page.textContent('#vae-rate'), /paused/);
    const trained = await steps(page);
    assert.ok(trained >= 12, `steps ${trained}`);

    // Every view shows images: many colours, not one flat tone.
    for (const id of ['vae-picker', 'vae-strip0', 'vae-strip1', 'vae-samples0', 'vae-map0', 'vae-map1']) {
      const s = await canvasStats(page, `#${id}`);
      assert.ok(s.colours > 8 && s.spread > 3, `#${id} looks blank: ${JSON.stringify(s)}`);
    }
    // The map point's big view is one decoded image; after a dozen steps the decoder of z = 0
    // is still close to the mean moon, a soft smudge of a few grey levels, so here it only has
    // to be drawn (the bundled-model test below checks that it decodes a moon).
    const point = await canvasStats(page, '#vae-point0');
    assert.ok(point.colours > 1, `#vae-point0 was not drawn: ${JSON.stringify(point)}`);
    assert.match(await page.textContent('#vae-point-code0'), /^z = \(-?\d+\.\d\d, -?\d+\.\d\d\)$/);

    // Picking: a click on a held-out image makes it A, the next click B; the link keeps them.
    const picker = page.locator('#vae-picker');
    await picker.click({ position: { x: 20, y: 20 } });
    await picker.click({ position: { x: 55, y: 20 } });
    await page.waitForFunction(() => /&a=0&b=1/.test(location.hash));

    // The address bar and the copied link hold the whole setup and the steps taken.
    const hash = await page.evaluate(() => location.hash);
    for (const part of ['lab=vae', 'data=moons', 'count=40', 'hidden=16', 'latent=2', 'batch=8', 'seed=3', `steps=${trained}`]) {
      assert.ok(hash.includes(part), `${hash} lacks ${part}`);
    }
    await page.click('#vae-copy-link');
    await page.waitForSelector('#vae-link-box:not([hidden])');
    const copied = await page.inputValue('#vae-link-box');
    assert.ok(copied.startsWith('http://127.0.0.1:') && copied.includes(`steps=${trained}`), copied);

    // Export, then a corrupt file is refused and changes nothing, then the export comes back.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#vae-export')]);
    assert.match(download.suggestedFilename(), new RegExp(`^genlab-vae-moons-step${trained}\\.safetensors$`));
    const exported = readFileSync(await download.path());
    assert.ok(exported.length > 10_000, `${exported.length} bytes`);

    await page.setInputFiles('#vae-import', { name: 'broken.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('not weights at all') });
    await page.waitForFunction(() => /broken\.safetensors/.test(document.getElementById('vae-status').textContent));
    assert.match(await page.textContent('#vae-status'), /was not loaded, the models are unchanged/);
    assert.equal(await page.getAttribute('#vae-status', 'class'), 'status error');
    assert.equal(await steps(page), trained);

    await page.setInputFiles('#vae-import', { name: 'mine.safetensors', mimeType: 'application/octet-stream', buffer: exported });
    await page.waitForFunction(() => /mine\.safetensors: loaded a VAE/.test(document.getElementById('vae-status').textContent));
    assert.equal(await steps(page), trained);
    const [again] = await Promise.all([page.waitForEvent('download'), page.click('#vae-export')]);
    assert.ok(readFileSync(await again.path()).equals(exported), 'exported again after import: the same bytes');
    assert.deepEqual(consoleErrors, []);
  });
});

test('a link with steps replays the training to that step and stops', { timeout: 120_000 }, async () => {
  await withReadyPage(`${TINY}&compare=0&steps=5`, async ({ page, consoleErrors }) => {
    await page.waitForFunction(() => /Replayed the link's 5 steps/.test(document.getElementById('vae-status').textContent), null, { timeout: 90_000 });
    assert.equal(await steps(page), 5);
    assert.equal(await page.getAttribute('#lab-vae', 'data-running'), '0');
    assert.deepEqual(consoleErrors, []);
  });
});

test('the bundled trained models show the lecture point at once, and the map point decodes as it moves', { timeout: 120_000 }, async () => {
  await withReadyPage('#lab=vae', async ({ page, consoleErrors }) => {
    await page.click('#vae-pretrained');
    await page.waitForFunction(() => /Loaded a VAE and an autoencoder trained 2000 steps on moons/.test(document.getElementById('vae-status').textContent), null, { timeout: 60_000 });
    assert.equal(await page.inputValue('#vae-hidden'), '64', 'the form shows the loaded settings');
    assert.equal(await steps(page), 2000);
    const refreshes = () => page.getAttribute('#lab-vae', 'data-refreshes').then(Number);
    const before = await refreshes();
    await page.waitForFunction((n) => Number(document.getElementById('lab-vae').dataset.refreshes) > n, before, { timeout: 60_000 });

    // Each model's random codes are judged against its own moon rule, a few images a frame:
    // the shares appear under the samples, and the latent maps count their moon cells.
    await page.waitForFunction(() => /^\d+,\d+$/.test(document.getElementById('lab-vae').dataset.moonSamples || ''), null, { timeout: 60_000 });
    for (const i of [0, 1]) {
      const share = await page.textContent(`#vae-share${i}`);
      assert.match(share, /^\d+ of 32 decode to a moon \(\d+ %\)\.$/, share);
      const cells = await page.textContent(`#vae-map-share${i}`);
      assert.match(cells, /^\d+ of 100 cells decode to a moon\.$/, cells);
    }

    // Drag the VAE's point across its map: the decoded image follows.
    const code = () => page.textContent('#vae-point-code0');
    const start = await code();
    const box = await page.locator('#vae-map-overlay0').boundingBox();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.62, box.y + box.height * 0.3, { steps: 6 });
    await page.mouse.up();
    await page.waitForFunction((s) => document.getElementById('vae-point-code0').textContent !== s, start);
    const s = await canvasStats(page, '#vae-point0');
    assert.ok(s.spread > 20, `the decoded point is a moon, not a smudge: ${JSON.stringify(s)}`);
    await page.waitForTimeout(500);
    await saveScreenshot(page, 'vae', { fullPage: true });
    assert.deepEqual(consoleErrors, []);
  });
});
