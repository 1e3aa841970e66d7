// The GAN lab on a tiny model from a link: it trains, plots D(real) and D(fake) as
// probabilities, draws the fixed-noise grid, the real images and the latent walk from GPU
// buffers, and "New noise" redraws the grid from other noise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { canvasStats, waitForSteps, withReadyPage } from './harness.mjs';

const TINY = '#lab=gan&data=sprites&count=40&size=8&z=4&hidden=16&batch=8&glr=0.002&dlr=0.002&seed=2';

test('the GAN lab trains, shows the game, walks the latent space and takes new noise', { timeout: 180_000 }, async () => {
  await withReadyPage(TINY, async ({ page, consoleErrors }) => {
    assert.equal(await page.getAttribute('#tab-gan', 'aria-selected'), 'true');
    assert.equal(await page.inputValue('#gan-z'), '4');
    await page.click('#gan-train');
    await waitForSteps(page, 'gan', 8);
    await page.click('#gan-pause');
    await page.waitForFunction(() => document.getElementById('lab-gan').dataset.running === '0');
    await page.waitForTimeout(1500);
    const dLoss = Number(await page.getAttribute('#lab-gan', 'data-loss'));
    assert.ok(Number.isFinite(dLoss) && dLoss > 0, `D loss ${dLoss}`);

    for (const id of ['gan-grid', 'gan-real', 'gan-walk', 'gan-walk-strip']) {
      const s = await canvasStats(page, `#${id}`);
      assert.ok(s.colours > 4 && s.spread > 2, `#${id} looks blank: ${JSON.stringify(s)}`);
    }
    const plot = await canvasStats(page, '#gan-dplot');
    assert.ok(plot.colours > 10, 'the D plot has curves');

    const before = await page.locator('#gan-grid').screenshot();
    await page.click('#gan-new-noise');
    let changed = false;
    for (let i = 0; i < 40 && !changed; i++) {
      await page.waitForTimeout(250);
      changed = !(await page.locator('#gan-grid').screenshot()).equals(before);
    }
    assert.ok(changed, 'new noise redraws the grid');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#gan-export')]);
    assert.match(download.suggestedFilename(), /^genlab-gan-sprites-step\d+\.safetensors$/);
    const exported = readFileSync(await download.path());
    // A GAN file is not a VAE: the VAE lab refuses it in words.
    await page.click('#tab-vae');
    await page.setInputFiles('#vae-import', { name: 'gan.safetensors', mimeType: 'application/octet-stream', buffer: exported });
    await page.waitForFunction(() => /gan\.safetensors/.test(document.getElementById('vae-status').textContent));
    assert.match(await page.textContent('#vae-status'), /not a VAE/);
    assert.deepEqual(consoleErrors, []);
  });
});
