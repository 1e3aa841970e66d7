// Nothing lost: each lab survives its GPU device being destroyed mid-training (what a driver
// reset or a GPU-process crash delivers). The test reaches the page's device by wrapping
// requestDevice before the page loads. The lab says what happened, moves onto a new device,
// restores its checkpoint, trains on from there, and its export is a valid file that loads
// back; with no new device to be had, exports are written from the checkpoint. A diverging
// run stops and goes back to its last good checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { withReadyPage } from './harness.mjs';

// Keeps every device the page makes in window.__devices; with window.__noNewDevices set,
// the adapter refuses to make more (a GPU that is gone for good).
const CAPTURE_DEVICES = () => {
  window.__devices = [];
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    if (window.__noNewDevices) throw new DOMException('no GPU any more (test)', 'OperationError');
    const device = await requestDevice.apply(this, args);
    window.__devices.push(device);
    return device;
  };
};

const LABS = [
  ['vae', '#lab=vae&data=moons&count=40&hidden=16&latent=2&batch=8&lr=0.005&warmup=0&compare=1&seed=3', /^genlab-vae-moons-step(\d+)\.safetensors$/],
  ['gan', '#lab=gan&data=sprites&count=40&size=8&z=4&hidden=16&batch=8&glr=0.002&dlr=0.002&seed=2', /^genlab-gan-sprites-step(\d+)\.safetensors$/],
  ['pixelrnn', '#lab=pixelrnn&data=sprites&count=40&size=8&hidden=8&batch=4&seed=2', /^genlab-pixelrnn-sprites-step(\d+)\.safetensors$/],
];

const attr = (page, lab, name) => page.getAttribute(`#lab-${lab}`, `data-${name}`).then((v) => (v == null ? null : Number(v)));

/** A safetensors file: an 8-byte little-endian header length, a JSON header, the data. */
function assertSafetensors(bytes, what) {
  assert.ok(bytes.length > 16, `${what}: ${bytes.length} bytes`);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  const tensors = Object.entries(header).filter(([k]) => k !== '__metadata__');
  assert.ok(tensors.length >= 2, `${what}: ${tensors.length} tensors`);
  for (const [name, t] of tensors) {
    assert.equal(t.dtype, 'F32', `${what}: ${name}`);
    const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 8 + n + t.data_offsets[0], bytes.byteOffset + 8 + n + t.data_offsets[1]));
    assert.ok(floats.every(Number.isFinite), `${what}: ${name} holds a value that is not finite`);
  }
  return JSON.parse(header.__metadata__.header);
}

for (const [lab, link, exportName] of LABS) {
  test(`the ${lab} lab survives a lost GPU device and trains on from its checkpoint`, { timeout: 240_000 }, async () => {
    await withReadyPage(link, { initScript: CAPTURE_DEVICES }, async ({ page, consoleErrors }) => {
      await page.click(`#${lab}-train`);
      // A checkpoint of a model that has trained (one is taken every few seconds of training).
      await page.waitForFunction((lab) => Number(document.getElementById(`lab-${lab}`).dataset.checkpoint) > 0,
        lab, { timeout: 120_000 });
      const checkpoint = await attr(page, lab, 'checkpoint');
      assert.equal(await page.evaluate(() => window.__devices.length), 1);
      await page.evaluate(() => window.__devices[0].destroy());

      await page.waitForFunction((lab) => document.getElementById(`lab-${lab}`).dataset.recoveries === '1',
        lab, { timeout: 60_000 });
      const status = await page.textContent(`#${lab}-status`);
      assert.match(status, /GPU device was lost/, status);
      assert.match(status, /restored from the checkpoint of step \d+: \d+ steps? lost\. Training on\./, status);
      const recovered = await attr(page, lab, 'recovered-step');
      assert.ok(recovered >= checkpoint, `recovered from step ${recovered}, the checkpoint seen before was ${checkpoint}`);
      assert.equal(await page.evaluate(() => window.__devices.length), 2, 'a new device was made');

      // Training goes on from the checkpoint, on the new device, with figures coming back.
      await page.waitForFunction(([lab, from]) => Number(document.getElementById(`lab-${lab}`).dataset.steps) >= from + 3,
        [lab, recovered], { timeout: 90_000 });
      assert.equal(await attr(page, lab, 'running'), 1);
      await page.click(`#${lab}-pause`);
      await page.waitForFunction((lab) => document.getElementById(`lab-${lab}`).dataset.running === '0', lab);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(`#${lab}-export`)]);
      const steps = Number(download.suggestedFilename().match(exportName)?.[1]);
      assert.ok(steps >= recovered + 3, `${download.suggestedFilename()} after recovering at step ${recovered}`);
      const exported = readFileSync(await download.path());
      const header = assertSafetensors(exported, lab);
      assert.equal(header.steps, steps);
      // And the lab loads it back.
      await page.setInputFiles(`#${lab}-import`, { name: 'recovered.safetensors', mimeType: 'application/octet-stream', buffer: exported });
      await page.waitForFunction(([lab, steps]) => document.getElementById(`${lab}-status`).textContent
        .startsWith(`recovered.safetensors: loaded a`) && document.getElementById(`${lab}-status`).textContent.includes(`trained ${steps} steps`),
      [lab, steps], { timeout: 30_000 });
      assert.deepEqual(consoleErrors.filter((e) => /panicked|unreachable/.test(e)), [], 'no panic');
    });
  });
}

test('a paused lab keeps every step it took through a lost device', { timeout: 180_000 }, async () => {
  const [, link] = LABS[1];
  await withReadyPage(link, { initScript: CAPTURE_DEVICES }, async ({ page, consoleErrors }) => {
    await page.click('#gan-train');
    await page.waitForFunction(() => Number(document.getElementById('lab-gan').dataset.steps) >= 5, null, { timeout: 60_000 });
    await page.click('#gan-pause');
    // Pausing takes one more checkpoint, of every step taken.
    await page.waitForFunction(() => {
      const lab = document.getElementById('lab-gan').dataset;
      return lab.running === '0' && lab.checkpoint === lab.steps;
    }, null, { timeout: 60_000 });
    const steps = await attr(page, 'gan', 'steps');
    await page.evaluate(() => window.__devices[0].destroy());
    await page.waitForFunction(() => document.getElementById('lab-gan').dataset.recoveries === '1', null, { timeout: 60_000 });
    const status = await page.textContent('#gan-status');
    assert.match(status, new RegExp(`restored from the checkpoint of step ${steps}: 0 steps lost\\.$`), status);
    assert.equal(await attr(page, 'gan', 'steps'), steps);
    assert.equal(await attr(page, 'gan', 'running'), 0, 'paused before, paused after');
    assert.deepEqual(consoleErrors.filter((e) => /panicked|unreachable/.test(e)), [], 'no panic');
  });
});

test('with no new device to be had, the lab says so and exports its checkpoint', { timeout: 180_000 }, async () => {
  const [, link] = LABS[0];
  await withReadyPage(link, { initScript: CAPTURE_DEVICES }, async ({ page, consoleErrors }) => {
    await page.click('#vae-train');
    await page.waitForFunction(() => Number(document.getElementById('lab-vae').dataset.checkpoint) > 0, null, { timeout: 120_000 });
    const checkpoint = await attr(page, 'vae', 'checkpoint');
    await page.evaluate(() => { window.__noNewDevices = true; window.__devices[0].destroy(); });
    await page.waitForFunction(() => /no new one yet/.test(document.getElementById('vae-status').textContent), null, { timeout: 60_000 });
    assert.match(await page.textContent('#vae-status'), /Exports still work/);

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#vae-export')]);
    const steps = Number(download.suggestedFilename().match(/step(\d+)\.safetensors$/)[1]);
    assert.ok(steps >= checkpoint, `exported step ${steps}, checkpoint ${checkpoint}`);
    const header = assertSafetensors(readFileSync(await download.path()), 'vae from the checkpoint');
    assert.equal(header.steps, steps);
    assert.deepEqual(consoleErrors.filter((e) => /panicked|unreachable/.test(e)), [], 'no panic');
  });
});

test('a diverging run stops and goes back to its last good checkpoint', { timeout: 180_000 }, async () => {
  // Adam at a learning rate of 1 throws the VAE's weights about: the loss leaps within steps.
  await withReadyPage('#lab=vae&data=moons&count=40&hidden=16&latent=2&batch=8&lr=1&warmup=0&compare=0&seed=3', async ({ page, consoleErrors }) => {
    await page.click('#vae-train');
    await page.waitForFunction(() => /diverged/.test(document.getElementById('vae-status').textContent), null, { timeout: 120_000 });
    const status = await page.textContent('#vae-status');
    assert.match(status, /Back to the last good checkpoint, step \d+: lower the learning rate/, status);
    assert.equal(await attr(page, 'vae', 'running'), 0);
    const kept = Number(status.match(/checkpoint, step (\d+)/)[1]);
    await page.waitForFunction((kept) => Number(document.getElementById('lab-vae').dataset.steps) === kept, kept);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#vae-export')]);
    const header = assertSafetensors(readFileSync(await download.path()), 'the kept VAE');
    assert.equal(header.steps, kept);

    // As the status line says: a gentler learning rate, and the kept model trains on.
    await page.fill('#vae-lr', '0.005');
    await page.press('#vae-lr', 'Enter');
    await page.waitForFunction(() => /Learning rate 0.005/.test(document.getElementById('vae-status').textContent));
    assert.equal(Number(await attr(page, 'vae', 'steps')), kept, 'the model was kept, not made again');
    await page.click('#vae-train');
    await page.waitForFunction((kept) => Number(document.getElementById('lab-vae').dataset.steps) >= kept + 5, kept, { timeout: 60_000 });
    await page.click('#vae-pause');
    await page.waitForTimeout(500);
    assert.doesNotMatch(await page.textContent('#vae-status'), /diverged/);
    assert.deepEqual(consoleErrors.filter((e) => /panicked|unreachable/.test(e)), [], 'no panic');
  });
});
