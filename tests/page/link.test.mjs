// A malformed link never breaks the page: each bad key is listed with what was used
// instead, and the lab still trains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitForSteps, withReadyPage } from './harness.mjs';

test('a malformed link shows a notice per bad key and the page still works', { timeout: 120_000 }, async () => {
  const bad = [
    'lab=vae', 'data=moons', 'count=40', 'batch=8', 'compare=0', 'warmup=0',
    'hidden=abc', 'lr=NaN', 'latent=99999', 'beta=-3', 'bogus=1', 'z=4', 'seed=%zz',
    `dseed=${'9'.repeat(300)}`,
  ].join('&');
  await withReadyPage(`#${bad}`, async ({ page, consoleErrors }) => {
    assert.ok(await page.isVisible('#notices'));
    const items = await page.$$eval('#notice-list li', (lis) => lis.map((li) => li.textContent));
    const about = (key) => items.find((t) => t.startsWith(`${key}=`));
    assert.match(about('hidden'), /not a whole number.*used 128/);
    assert.match(about('lr'), /not a finite number.*used 0\.002/);
    assert.match(about('latent'), /out of range.*used 2/);
    assert.match(about('beta'), /out of range.*used 1/);
    assert.match(about('bogus'), /not a setting genlab knows; ignored it/);
    assert.match(about('z'), /GAN setting.*ignored it/);
    assert.match(about('seed'), /%-escape/);
    assert.match(about('dseed'), /characters long/);
    assert.ok(about('dseed').length < 200, 'a huge value is shortened in the notice');
    assert.equal(items.length, 8, items.join('\n'));
    // What was used is what the form shows, and the good values were kept.
    assert.equal(await page.inputValue('#vae-hidden'), '128');
    assert.equal(await page.inputValue('#vae-batch'), '8');
    // The page still works: a step trains (the default 128 hidden units: slow on SwiftShader).
    await page.click('#vae-step');
    await waitForSteps(page, 'vae', 1);
    assert.ok(Number.isFinite(Number(await page.getAttribute('#lab-vae', 'data-steps'))));
    await page.click('#notices-close');
    assert.ok(!(await page.isVisible('#notices')));
    // The address bar now holds a clean link.
    const hash = await page.evaluate(() => location.hash);
    assert.ok(!/bogus|abc|NaN/.test(hash), hash);
    assert.deepEqual(consoleErrors, []);
  });
});

test('a bad value typed in the form is refused in words and the old one kept', { timeout: 90_000 }, async () => {
  await withReadyPage('#lab=vae&data=moons&count=40&hidden=16&batch=8', async ({ page }) => {
    await page.fill('#vae-lr', '-1');
    await page.press('#vae-lr', 'Enter');
    await page.locator('#vae-lr').blur();
    await page.waitForFunction(() => /lr is out of range/.test(document.getElementById('vae-status').textContent));
    assert.equal(await page.inputValue('#vae-lr'), '0.002');
    // A good value applies and restarts the models.
    await page.fill('#vae-hidden', '12');
    await page.locator('#vae-hidden').blur();
    await page.waitForFunction(() => /hidden=12&/.test(location.hash));
  });
});
