// The models bundled with the page (www/pretrained/, trained with the command-line tool):
// one click loads each lab's, switching to the data it was trained on, and the lab shows
// trained samples at once. The VAE's bundled pair is tested in vae.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertUncoveredKept, canvasStats, saveScreenshot, withReadyPage } from './harness.mjs';

const steps = (page, lab) => page.getAttribute(`#lab-${lab}`, 'data-steps').then(Number);
const statusMatches = (page, lab, pattern) =>
  page.waitForFunction(([lab, source]) => new RegExp(source).test(document.getElementById(`${lab}-status`).textContent), [lab, pattern.source], { timeout: 60_000 });

test('the bundled GAN generator replaces a moons setup and draws trained monsters', { timeout: 120_000 }, async () => {
  await withReadyPage('#lab=gan&data=moons&count=40&z=4&hidden=16&batch=8', async ({ page, consoleErrors }) => {
    await page.click('#gan-pretrained');
    await statusMatches(page, 'gan', /Loaded a generator trained \d+ steps on sprites/);
    assert.equal(await page.inputValue('#gan-data'), 'sprites', 'switched to the data it was trained on');
    assert.equal(await page.inputValue('#gan-hidden'), '128', 'the form shows the loaded settings');
    assert.equal(await page.inputValue('#gan-z'), '32');
    assert.ok((await steps(page, 'gan')) >= 1000, `steps ${await steps(page, 'gan')}`);
    await page.waitForFunction(() => /lab=gan&data=sprites/.test(location.hash) && /z=32/.test(location.hash));
    await page.waitForTimeout(1500);
    const grid = await canvasStats(page, '#gan-grid');
    assert.ok(grid.colours > 50 && grid.spread > 10, `the fixed-noise grid shows images: ${JSON.stringify(grid)}`);
    await saveScreenshot(page, 'gan', { fullPage: true });
    assert.deepEqual(consoleErrors, []);
  });
});

test('the bundled PixelRNN loads in one click and completes a covered sprite', { timeout: 180_000 }, async () => {
  await withReadyPage('#lab=pixelrnn&data=sprites&count=40&size=8&hidden=16&batch=4', async ({ page, consoleErrors }) => {
    await page.click('#pixelrnn-pretrained');
    await statusMatches(page, 'pixelrnn', /Loaded a PixelRNN trained \d+ steps on sprites/);
    assert.equal(await page.inputValue('#pixelrnn-size'), '16', 'switched to the 16×16 sprites it was trained on');
    assert.equal(await page.inputValue('#pixelrnn-hidden'), '64');
    assert.ok((await steps(page, 'pixelrnn')) >= 100);
    await page.click('#pixelrnn-complete');
    await statusMatches(page, 'pixelrnn', /^Painted 8 /);
    assert.equal(Number(await page.getAttribute('#lab-pixelrnn', 'data-painted')), 16 * 16, 'every pixel position reached');
    await assertUncoveredKept(page, 16 * 16);
    const out = await canvasStats(page, '#pixelrnn-out');
    assert.ok(out.colours >= 4 && out.spread > 5, `completions: ${JSON.stringify(out)}`);
    await saveScreenshot(page, 'pixelrnn', { fullPage: true });
    assert.deepEqual(consoleErrors, []);
  });
});
