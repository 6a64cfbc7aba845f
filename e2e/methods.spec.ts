/**
 * An SVD-initialised method end to end in the page on the bundled sample (`/?sample`: stories260K + Shakespeare):
 * PiSSA at rank 4, the spectra of the target weights before training, a short run streaming spectra snapshots,
 * the adapter as PEFT converts PiSSA (plain LoRA of rank 2r on the original base) and the merged checkpoint.
 */
import { expect, test } from '@playwright/test';
import { unzipSync } from 'fflate';
import { download, expectNoAlerts, numbers, openSample, safetensorsHeader, setSetting, waitForRunEnd } from './helpers';

const RANK = 4;
const STEPS = 8;
const SPECTRA_EVERY = 2;
/** stories260K: 5 layers, q_proj 64→64 and v_proj 64→32 by default. */
const TARGET_WEIGHTS = [0, 1, 2, 3, 4].flatMap((l) => ['q_proj', 'v_proj'].map((p) => `model.layers.${l}.self_attn.${p}.weight`));

test('PiSSA on the sample: weight spectra, live spectra while training, converted adapter and merged model', async ({ page }, info) => {
  test.setTimeout(5 * 60_000);
  const t0 = Date.now();
  await openSample(page);

  const pissa = page.getByRole('radio', { name: /^PiSSA\b/ });
  await pissa.check();
  await expect(pissa).toBeChecked();
  await expect(page.getByTestId('setting-init')).toHaveCount(0); // Kaiming/gaussian is plain LoRA's choice only
  await expect(page.getByTestId('option-svd')).toHaveValue('exact');
  await setSetting(page, 'rank', String(RANK));
  await setSetting(page, 'alpha', String(RANK));
  await setSetting(page, 'steps', String(STEPS));
  await setSetting(page, 'seqLen', '32');
  await setSetting(page, 'lr', '5e-3');
  await setSetting(page, 'warmupSteps', '0');
  await setSetting(page, 'valEvery', '0');
  await setSetting(page, 'spectraEvery', String(SPECTRA_EVERY));
  // rank 4 on q (64→64) and v (64→32) in 5 layers: 5 · 4 · ((64 + 64) + (64 + 32)).
  await expect(page.getByTestId('trainable-params')).toHaveAttribute('data-value', String(5 * RANK * (128 + 96)), { timeout: 60_000 });

  // Before training: one row per target weight, each at rank 4 with the energy it keeps.
  const weights = page.getByTestId('weight-spectra');
  const rows = page.getByTestId('weight-spectrum-row');
  const settled = async () => ((await page.getByTestId('alert').count()) > 0 ? 'alert' : await weights.getAttribute('data-status'));
  await expect.poll(settled, { timeout: 60_000 }).toMatch(/^(ready|alert)$/);
  await expectNoAlerts(page);
  await expect(page.getByTestId('weight-rank').first()).toHaveAttribute('data-value', String(RANK), { timeout: 60_000 });
  await expect(weights).toHaveAttribute('data-status', 'ready');
  await expectNoAlerts(page);
  expect((await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-name')))).sort()).toEqual([...TARGET_WEIGHTS].sort());
  expect(await numbers(page.getByTestId('weight-rank'))).toEqual(TARGET_WEIGHTS.map(() => RANK));
  const energies = await numbers(page.getByTestId('weight-energy'));
  console.log('energy kept at rank 4:', energies.map((e) => e.toFixed(3)).join(' '));
  for (const e of energies) expect(e > 0 && e <= 1).toBe(true);
  for (const text of await page.getByTestId('weight-energy').allInnerTexts()) expect(text).toMatch(/^\d+(\.\d+)?%$/);
  await expect(page.getByTestId('weight-spectra-caption')).toContainText(/rank 4 keeps \d/);
  await expect(page.getByTestId('weight-spectrum-chart').locator('canvas')).toHaveCount(1);

  await page.getByTestId('train-button').click();
  await expect(page.getByTestId('run-status')).not.toHaveAttribute('data-status', 'idle');
  const status = await waitForRunEnd(page, 3 * 60_000);
  console.log(`run ${status} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  expect(status).toBe('done');
  await expectNoAlerts(page);

  // The last snapshot (the final step) with an effective rank and an intruder count for every adapted layer.
  await expect(page.getByTestId('live-spectra')).toHaveAttribute('data-step', String(STEPS));
  expect(Number(await page.getByTestId('live-spectra').getAttribute('data-snapshots'))).toBeGreaterThanOrEqual(STEPS / SPECTRA_EVERY);
  const layers = page.getByTestId('layer-spectrum-row');
  await expect(layers).toHaveCount(TARGET_WEIGHTS.length);
  const effective = await numbers(page.getByTestId('layer-effective-rank'));
  const intruders = await numbers(page.getByTestId('layer-intruders'));
  console.log('effective rank of ΔW:', effective.map((e) => e.toFixed(2)).join(' '), '| intruders:', intruders.join(' '));
  // ΔW = s(BA − B₀A₀) has rank ≤ 2r; exp(entropy) of its singular values lies in [1, 2r].
  for (const e of effective) expect(Number.isFinite(e) && e >= 1 && e <= 2 * RANK + 0.01).toBe(true);
  for (const n of intruders) expect(Number.isInteger(n) && n >= 0).toBe(true);
  for (const text of await page.getByTestId('layer-effective-rank').allInnerTexts()) expect(text).toMatch(/^\d+\.\d\d$/);
  await expect(page.getByTestId('intruder-threshold')).toHaveAttribute('data-value', /^0?\.\d+$/);
  await expect(page.getByTestId('live-spectrum-chart').locator('canvas')).toHaveCount(1);

  // PiSSA exports as PEFT converts it: a plain LoRA of rank 2r on the original weights.
  const config = await download(page, 'download-config', info);
  const cfg = JSON.parse(config.bytes.toString('utf8')) as Record<string, unknown>;
  console.log('adapter_config.json:', JSON.stringify({ r: cfg.r, lora_alpha: cfg.lora_alpha, init_lora_weights: cfg.init_lora_weights }));
  expect(cfg.peft_type).toBe('LORA');
  expect(cfg.r).toBe(2 * RANK);
  expect(cfg.init_lora_weights).toBe(true);
  const adapter = unzipSync(new Uint8Array((await download(page, 'download-zip', info)).bytes));
  const header = safetensorsHeader(Buffer.from(adapter['adapter_model.safetensors']));
  expect(header.tensors['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'].shape).toEqual([2 * RANK, 64]);
  expect(header.tensors['base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight'].shape).toEqual([32, 2 * RANK]);

  const merged = await download(page, 'download-merged', info);
  expect(merged.name).toBe('merged_model.zip');
  const files = unzipSync(new Uint8Array(merged.bytes));
  console.log('merged model files:', Object.keys(files).join(', '));
  expect(Object.keys(files)).toEqual(expect.arrayContaining(['config.json', 'model.safetensors']));
  expect(JSON.parse(Buffer.from(files['config.json']).toString('utf8')).model_type).toBe('llama');
  const weightsHeader = safetensorsHeader(Buffer.from(files['model.safetensors']));
  expect(weightsHeader.tensors['model.layers.0.self_attn.q_proj.weight'].shape).toEqual([64, 64]);
  await expectNoAlerts(page);
  console.log(`test took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
