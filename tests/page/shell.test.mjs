// The page around the labs: header with the adapter, tabs in the lecture's order, each lab's
// explanation, the link in the address bar, and the message for browsers without WebGPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHROMIUM_FLAGS, openPage, saveScreenshot, withReadyPage } from './harness.mjs';

test('the page, served from a sub-path, shows the adapter, the tabs in the lecture order and their explanations', { timeout: 120_000 }, async () => {
  // Served as /genlab/, like a GitHub Pages project site: every asset path must be relative.
  await withReadyPage('', { subpath: 'genlab' }, async ({ page, consoleErrors }) => {
    assert.match(await page.textContent('#adapter'), /WebGpu/);
    assert.match(await page.textContent('.tagline'), /PixelRNN, VAE and GAN/);
    const tabs = await page.$$eval('[role=tab] b', (bs) => bs.map((b) => b.textContent));
    assert.deepEqual(tabs, ['PixelRNN', 'VAE', 'GAN', 'Kernels']);
    // No link: the VAE lab opens, and the address bar gets its link.
    assert.equal(await page.getAttribute('#tab-vae', 'aria-selected'), 'true');
    assert.ok(await page.isVisible('#lab-vae'));
    assert.match(await page.evaluate(() => location.hash), /^#lab=vae&data=moons&/);
    assert.equal(await page.evaluate(() => location.pathname), '/genlab/');

    const intro = async (lab) => page.textContent(`#lab-${lab} .intro`);
    await page.click('#tab-pixelrnn');
    assert.ok(await page.isVisible('#lab-pixelrnn'));
    assert.ok(!(await page.isVisible('#lab-vae')));
    assert.match(await page.evaluate(() => location.hash), /^#lab=pixelrnn/);
    const rnn = await intro('pixelrnn');
    for (const words of [/sequence of pixels/, /palette/, /one-hot/, /LSTM/, /cover part of a monster/]) {
      assert.match(rnn, words);
    }

    await page.click('#tab-gan');
    assert.match(await page.evaluate(() => location.hash), /^#lab=gan&data=sprites/);
    const gan = await intro('gan');
    for (const words of [/butterfly/, /bird/, /generator/, /discriminator/]) assert.match(gan, words);

    await page.click('#tab-vae');
    const vae = await intro('vae');
    for (const words of [/half moon/, /crescent/, /z = m \+ exp\(σ\/2\) · e/, /KL = Σ \(exp\(σ\) − \(1 \+ σ\) \+ m²\) \/ 2/]) {
      assert.match(vae, words);
    }
    // Arrow keys move between tabs too.
    await page.focus('#tab-vae');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.getAttribute('#tab-gan', 'aria-selected'), 'true');
    assert.deepEqual(consoleErrors, []);
  });
});

test('without WebGPU the page says which browsers and settings have it', { timeout: 60_000 }, async () => {
  const flags = CHROMIUM_FLAGS.filter((f) => f !== '--enable-unsafe-webgpu').concat(['--disable-gpu']);
  const { page, close } = await openPage('#lab=gan', { flags });
  try {
    await page.waitForSelector('#no-webgpu:not([hidden])', { timeout: 30_000 });
    const text = await page.textContent('#no-webgpu');
    for (const words of [/Chrome and Edge 113/, /Safari 26/, /Firefox 141/, /--enable-unsafe-webgpu/]) assert.match(text, words);
    assert.equal(await page.textContent('#adapter'), 'no WebGPU adapter');
    // The explanations still read; the tabs still switch.
    await page.click('#tab-vae');
    assert.match(await page.textContent('#lab-vae .intro'), /half moon/);
  } finally {
    await close();
  }
});
