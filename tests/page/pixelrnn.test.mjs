// The PixelRNN lab on a tiny model (8×8 sprites, hidden 16): it trains, then completes a
// held-out sprite under each cover — including one painted with the mouse — pixel by pixel,
// paints new sprites at another temperature, and moves its weights through a file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assertUncoveredKept, canvasStats, waitForSteps, withReadyPage } from './harness.mjs';

const TINY = '#lab=pixelrnn&data=sprites&count=40&size=8&hidden=16&batch=4&lr=0.01&seed=2';
const painted = (page) => page.getAttribute('#lab-pixelrnn', 'data-painted').then(Number);

async function paintAll(page, button) {
  await page.click(button);
  await page.waitForFunction(() => /^Painting 8 /.test(document.getElementById('pixelrnn-status').textContent));
  await page.waitForFunction(() => /^Painted 8 /.test(document.getElementById('pixelrnn-status').textContent), null, { timeout: 60_000 });
  assert.equal(await painted(page), 64);
}

test('the PixelRNN lab trains, completes covered sprites pixel by pixel and paints new ones', { timeout: 180_000 }, async () => {
  await withReadyPage(TINY, async ({ page, consoleErrors }) => {
    assert.equal(await page.getAttribute('#tab-pixelrnn', 'aria-selected'), 'true');
    assert.match(await page.textContent('#pixelrnn-baselines'), /log₂ 16 = 4\.00 bits per pixel/);
    await page.click('#pixelrnn-train');
    await waitForSteps(page, 'pixelrnn', 30);
    await page.click('#pixelrnn-pause');
    await page.waitForFunction(() => Number(document.getElementById('lab-pixelrnn').dataset.lossStep) >= 20, null, { timeout: 30_000 });
    const bits = Number(await page.getAttribute('#lab-pixelrnn', 'data-loss'));
    assert.ok(bits > 0 && bits < 4, `bits per pixel ${bits} beat the uniform 4 bits`);

    // Pick the second held-out sprite, cover its bottom half, complete it.
    await page.locator('#pixelrnn-picker').click({ position: { x: 30, y: 10 } });
    assert.equal(await page.getAttribute('#pixelrnn-cover-bottom-half', 'aria-pressed'), 'true');
    await paintAll(page, '#pixelrnn-complete');
    await assertUncoveredKept(page, 8 * 8);
    const out = await canvasStats(page, '#pixelrnn-out');
    assert.ok(out.colours >= 3 && out.spread > 5, `completions: ${JSON.stringify(out)}`);

    // Paint a cover with the mouse: the top-left corner only.
    await page.click('#pixelrnn-cover-paint');
    const box = await page.locator('#pixelrnn-cover').boundingBox();
    await page.mouse.move(box.x + 5, box.y + 5);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.4, { steps: 8 });
    await page.mouse.up();
    assert.equal(await page.getAttribute('#pixelrnn-cover-paint', 'aria-pressed'), 'true');
    await paintAll(page, '#pixelrnn-complete');

    // A colder temperature, then sprites from nothing; the link keeps the temperature.
    await page.locator('#pixelrnn-temp').fill('0.5');
    await page.waitForFunction(() => /temp=0\.5/.test(location.hash));
    assert.equal(await page.textContent('#pixelrnn-temp-value'), '0.5');
    await paintAll(page, '#pixelrnn-sample');

    // Export and import: the same weights come back.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#pixelrnn-export')]);
    assert.match(download.suggestedFilename(), /^genlab-pixelrnn-sprites-step\d+\.safetensors$/);
    const exported = readFileSync(await download.path());
    await page.setInputFiles('#pixelrnn-import', { name: 'rnn.safetensors', mimeType: 'application/octet-stream', buffer: exported });
    await page.waitForFunction(() => /rnn\.safetensors: loaded a PixelRNN/.test(document.getElementById('pixelrnn-status').textContent));
    const [again] = await Promise.all([page.waitForEvent('download'), page.click('#pixelrnn-export')]);
    assert.ok(readFileSync(await again.path()).equals(exported));
    assert.deepEqual(consoleErrors, []);
  });
});
