// "Your sprite sheet": a PNG chosen with the file picker or dropped on the lab becomes the
// dataset; a file that is not a usable sheet is refused in words and the lab keeps working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canvasStats, waitForSteps, withReadyPage } from './harness.mjs';

/** A 64×48 PNG of twelve 16×16 tiles, each a little two-colour creature, made by the browser. */
async function makeSheet(page, { width = 64, height = 48 } = {}) {
  const b64 = await page.evaluate(([w, h]) => {
    const c = document.createElement('canvas');
    c.width = w;
    c.height = h;
    const g = c.getContext('2d');
    g.fillStyle = '#cfd8e4';
    g.fillRect(0, 0, w, h);
    const colours = ['#38b764', '#41a6f6', '#a056c8', '#ef7d57'];
    for (let y = 0; y < h; y += 16) {
      for (let x = 0; x < w; x += 16) {
        const k = (x / 16 + y / 16) % colours.length;
        g.fillStyle = colours[k];
        g.fillRect(x + 3, y + 4, 10, 9 - (k % 3));
        g.fillStyle = '#1a1c2c';
        g.fillRect(x + 5, y + 6, 2, 2);
        g.fillRect(x + 9, y + 6, 2, 2);
      }
    }
    return c.toDataURL('image/png').split(',')[1];
  }, [width, height]);
  return Buffer.from(b64, 'base64');
}

test('a sprite sheet comes in by file picker and by drag and drop; bad files are explained', { timeout: 120_000 }, async () => {
  await withReadyPage('#lab=gan&data=sprites&count=40&size=16&z=4&hidden=16&batch=8', async ({ page, consoleErrors }) => {

    // Not a PNG at all.
    await page.setInputFiles('#gan-sheet', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('hello') });
    await page.waitForSelector('#gan-data-error:not([hidden])');
    assert.match(await page.textContent('#gan-data-error'), /PNG/i);

    // A PNG that does not cut into 16×16 tiles: says by how much and what to do.
    const odd = await makeSheet(page, { width: 70, height: 48 });
    await page.setInputFiles('#gan-sheet', { name: 'odd.png', mimeType: 'image/png', buffer: odd });
    await page.waitForFunction(() => /does not divide into 16×16 tiles/.test(document.getElementById('gan-data-error').textContent));
    assert.match(await page.textContent('#gan-data-error'), /crop or pad it to 64 or 80/);

    // A good sheet by the file picker.
    const sheet = await makeSheet(page);
    await page.setInputFiles('#gan-sheet', { name: 'monsters.png', mimeType: 'image/png', buffer: sheet });
    await page.waitForFunction(() => /monsters\.png: 12 tiles of 16×16/.test(document.getElementById('gan-status').textContent));
    assert.ok(!(await page.isVisible('#gan-data-error')));
    assert.equal(await page.inputValue('#gan-data'), 'sheet');
    assert.match(await page.evaluate(() => location.hash), /data=sheet&size=16&colors=16/);
    await page.click('#gan-step');
    await waitForSteps(page, 'gan', 1);
    const real = await canvasStats(page, '#gan-real');
    assert.ok(real.colours >= 4, JSON.stringify(real));

    // The same sheet dropped on the VAE lab.
    await page.click('#tab-vae');
    await page.evaluate((b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const file = new File([bytes], 'dropped.png', { type: 'image/png' });
      const data = new DataTransfer();
      data.items.add(file);
      const lab = document.getElementById('lab-vae');
      lab.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
      lab.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    }, sheet.toString('base64'));
    await page.waitForFunction(() => /dropped\.png: 12 tiles of 16×16/.test(document.getElementById('vae-status').textContent));
    assert.equal(await page.inputValue('#vae-data'), 'sheet');
    assert.deepEqual(consoleErrors, []);
  });
});
