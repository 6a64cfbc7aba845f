/**
 * The studio end to end with the real engine on WebGPU (SwiftShader without a GPU): stories260K + tinyshakespeare,
 * LoRA on q_proj/v_proj, a short run, before/after samples, and the adapter as PEFT would read it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, test } from '@playwright/test';
import { unzipSync } from 'fflate';
import { buildCli, encodeForSample, meanNextTokenLoss } from './cliLoss';
import {
  SAMPLE_DIR,
  clickUntilStarted,
  SAMPLE_FILES,
  download,
  expectNoAlerts,
  loadSampleDataset,
  mean,
  openStudio,
  readMetrics,
  safetensorsHeader,
  setSetting,
  waitForModel,
  waitForRunEnd,
} from './helpers';

const STEPS = 24;
const RANK = 8;
const ALPHA = 16;
/** stories260K: hidden 64, 8 heads × head dim 8 for q, 4 KV heads × 8 for v. */
const OUT_FEATURES: Record<string, number> = { q_proj: 64, v_proj: 32 };

test('sample model: train, compare validation loss, generate before/after, download the adapter', async ({ page }, info) => {
  await openStudio(page);
  await page.getByTestId('use-sample-model').click();
  await waitForModel(page, 'stories260K (sample)');
  await expect(page.getByTestId('model-architecture')).toHaveText('LlamaForCausalLM');
  await loadSampleDataset(page);

  await expect(page.getByTestId('target-q_proj')).toBeChecked();
  await expect(page.getByTestId('target-v_proj')).toBeChecked();
  await setSetting(page, 'steps', String(STEPS));
  await setSetting(page, 'batchSize', '4');
  await setSetting(page, 'seqLen', '32');
  await setSetting(page, 'lr', '5e-3');

  await clickUntilStarted(page, 'generate-base', 'sample-base');
  await expect(page.getByTestId('sample-base')).toHaveAttribute('data-status', /done|error/, { timeout: 300_000 });
  await expectNoAlerts(page);
  const before = (await page.getByTestId('sample-base-text').innerText()).trim();
  console.log('before:', JSON.stringify(before));
  expect(before.length).toBeGreaterThan('Once upon a time'.length);

  await page.getByTestId('train-button').click();
  await expect(page.getByTestId('run-status')).not.toHaveAttribute('data-status', 'idle');
  const t0 = Date.now();
  const status = await waitForRunEnd(page, 8 * 60_000);
  console.log(`run ${status} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  expect(status).toBe('done');
  await expect(page.getByTestId('progress-step')).toHaveText(String(STEPS));

  const metrics = await readMetrics(page);
  const losses = metrics.map((m) => m.loss);
  console.log('train losses:', losses.map((l) => l.toFixed(3)).join(' '));
  expect(losses).toHaveLength(STEPS);
  expect(losses.every(Number.isFinite)).toBe(true);
  expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)));

  // Validation loss with and without the adapter is measured when the run ends.
  const evaluation = page.getByTestId('evaluation');
  await expect(evaluation).toHaveAttribute('data-status', /done|error/, { timeout: 300_000 });
  await expectNoAlerts(page);
  const base = Number(await page.getByTestId('eval-base-loss').getAttribute('data-value'));
  const adapted = Number(await page.getByTestId('eval-adapter-loss').getAttribute('data-value'));
  console.log(`validation loss: base ${base}, with adapter ${adapted}`);
  expect(Number.isFinite(base) && Number.isFinite(adapted)).toBe(true);
  expect(adapted).toBeLessThan(base);

  await clickUntilStarted(page, 'generate-adapted', 'sample-adapted');
  await expect(page.getByTestId('sample-adapted')).toHaveAttribute('data-status', /done|error/, { timeout: 300_000 });
  await expectNoAlerts(page);
  const after = (await page.getByTestId('sample-adapted-text').innerText()).trim();
  console.log('after:', JSON.stringify(after));
  expect(after.length).toBeGreaterThan('Once upon a time'.length);

  const config = await download(page, 'download-config', info);
  expect(config.name).toBe('adapter_config.json');
  const cfg = JSON.parse(config.bytes.toString('utf8')) as Record<string, unknown>;
  expect(cfg.peft_type).toBe('LORA');
  expect(cfg.r).toBe(RANK);
  expect(cfg.lora_alpha).toBe(ALPHA);
  expect([...(cfg.target_modules as string[])].sort()).toEqual(['q_proj', 'v_proj']);
  expect(typeof cfg.base_model_name_or_path).toBe('string');
  expect((cfg.base_model_name_or_path as string).length).toBeGreaterThan(0);

  const weights = await download(page, 'download-weights', info);
  expect(weights.name).toBe('adapter_model.safetensors');
  const header = safetensorsHeader(weights.bytes);
  expect(header.metadata?.format).toBe('pt');
  const expected: Record<string, number[]> = {};
  for (let layer = 0; layer < 5; layer++) {
    for (const proj of ['q_proj', 'v_proj']) {
      const prefix = `base_model.model.model.layers.${layer}.self_attn.${proj}`;
      expected[`${prefix}.lora_A.weight`] = [RANK, 64];
      expected[`${prefix}.lora_B.weight`] = [OUT_FEATURES[proj], RANK];
    }
  }
  expect(Object.keys(header.tensors).sort()).toEqual(Object.keys(expected).sort());
  let bytes = 0;
  for (const [name, shape] of Object.entries(expected)) {
    const t = header.tensors[name];
    expect(t.dtype, name).toBe('F32');
    expect(t.shape, name).toEqual(shape);
    expect(t.data_offsets[1] - t.data_offsets[0], name).toBe(4 * shape[0] * shape[1]);
    bytes += 4 * shape[0] * shape[1];
  }
  expect(header.dataBytes).toBe(bytes);

  const zip = await download(page, 'download-zip', info);
  expect(zip.name).toBe('adapter.zip');
  const entries = unzipSync(new Uint8Array(zip.bytes));
  expect(Object.keys(entries).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  expect(Buffer.from(entries['adapter_config.json']).equals(config.bytes)).toBe(true);
  expect(Buffer.from(entries['adapter_model.safetensors']).equals(weights.bytes)).toBe(true);

  // The downloaded files, applied by the engine outside the page (the CLI on Dawn in Node), lower the loss on
  // Shakespeare lines the sample excerpt does not contain.
  buildCli();
  const heldOut = readFileSync(join('fixtures', 'datasets', 'tinyshakespeare', 'input.txt'), 'utf8').slice(200_000, 200_400);
  const ids = encodeForSample(SAMPLE_DIR, heldOut).slice(0, 96);
  const lossBase = meanNextTokenLoss(SAMPLE_DIR, ids);
  const lossAdapted = meanNextTokenLoss(SAMPLE_DIR, ids, dirname(weights.path));
  console.log(`held-out loss through the CLI: base ${lossBase.toFixed(4)}, with the downloaded adapter ${lossAdapted.toFixed(4)}`);
  expect(dirname(config.path)).toBe(dirname(weights.path));
  expect(lossAdapted).toBeLessThan(lossBase);
});

test('model files through the file input; folder picker; trainable count follows the targets; dataset problems', async ({ page }) => {
  await openStudio(page);
  await page.getByTestId('model-files-input').setInputFiles(SAMPLE_FILES.map((f) => join(SAMPLE_DIR, f)));
  await waitForModel(page, `${SAMPLE_FILES.length} files`);
  await expect(page.getByTestId('model-architecture')).toHaveText('LlamaForCausalLM');
  await expect(page.getByTestId('model-type')).toHaveText('llama');
  await expect(page.getByTestId('model-layers')).toHaveText('5');
  await expect(page.getByTestId('model-hidden')).toHaveText('64');
  await expect(page.getByTestId('model-heads')).toHaveText('8 / 4');
  await expect(page.getByTestId('model-vocab')).toHaveText('512');
  await expect(page.getByTestId('model-parameters')).toHaveAttribute('title', '260,032');
  await expect(page.getByTestId('model-dtype')).toHaveText('F32');
  await expect(page.getByTestId('model-tied')).toHaveText('yes');
  await expect(page.getByTestId('model-tokenizer')).toHaveText('yes');

  // rank 8 on q (64→64) and v (64→32) in 5 layers: 5 · 8 · ((64 + 64) + (64 + 32)) = 8960.
  const trainable = page.getByTestId('trainable-params');
  await expect(trainable).toHaveAttribute('data-value', '8960');
  await page.getByTestId('target-k_proj').check();
  await expect(trainable).toHaveAttribute('data-value', String(8960 + 5 * 8 * (64 + 32)));
  await page.getByTestId('target-k_proj').uncheck();
  await expect(trainable).toHaveAttribute('data-value', '8960');

  // A JSONL file with one broken line: skipped and reported by line number, or refused with the line named.
  const lines = [
    JSON.stringify({ instruction: 'Say hello.', input: '', output: 'Hello there, friend.' }),
    '{"instruction": "broken',
    JSON.stringify({ instruction: 'Count to three.', input: '', output: 'One, two, three.' }),
    JSON.stringify({ instruction: 'Name a colour.', input: '', output: 'Blue, like the sky.' }),
  ];
  const jsonl = { name: 'tiny.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(lines.join('\n') + '\n') };
  await page.getByTestId('dataset-input').setInputFiles(jsonl);
  await expect(page.getByTestId('dataset-card').or(page.getByTestId('alert'))).toBeVisible({ timeout: 120_000 });
  await expectNoAlerts(page);
  await expect(page.getByTestId('dataset-format')).toHaveText(/alpaca/);
  await expect(page.getByTestId('dataset-problem')).toHaveCount(1);
  await expect(page.getByTestId('dataset-problem').first()).toHaveAttribute('data-line', '2');

  // Changing the option re-reads the file on its own.
  await page.getByTestId('dataset-on-bad-line').selectOption('refuse');
  const alert = page.getByTestId('alert').filter({ hasText: 'tiny.jsonl' });
  await expect(alert).toBeVisible({ timeout: 60_000 });
  await expect(alert.getByTestId('alert-message')).toContainText('line 2');
  await expect(page.getByTestId('dataset-error')).toBeVisible();
  await page.getByTestId('dataset-on-bad-line').selectOption('skip');
  await expect(page.getByTestId('dataset-card')).toBeVisible({ timeout: 60_000 });
  await expectNoAlerts(page);

  // The folder picker: names arrive as stories260K/<file>, the folder becomes the label, and the dataset is
  // re-read with the new model's tokenizer.
  await page.getByTestId('model-folder-input').setInputFiles(SAMPLE_DIR);
  await waitForModel(page, 'stories260K');
  await expect(page.getByTestId('model-files')).toContainText('model.safetensors');
  await expect(page.getByTestId('dataset-card')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('dataset-problem')).toHaveCount(1);
});

test('dropping a corrupt safetensors file shows an error naming the file', async ({ page }) => {
  await openStudio(page);
  // A drop as the browser delivers it (files in a DataTransfer), onto the checkpoint drop zone.
  const dataTransfer = await page.evaluateHandle((config) => {
    const dt = new DataTransfer();
    dt.items.add(new File([config], 'config.json', { type: 'application/json' }));
    dt.items.add(new File(['0123456789'], 'model.safetensors', { type: 'application/octet-stream' }));
    return dt;
  }, readFileSync(join(SAMPLE_DIR, 'config.json'), 'utf8'));
  await page.getByTestId('model-dropzone').dispatchEvent('drop', { dataTransfer });
  const alert = page.getByTestId('alert').first();
  await expect(alert).toBeVisible({ timeout: 60_000 });
  await expect(alert).toHaveAttribute('data-source', 'model');
  await expect(alert.getByTestId('alert-message')).toContainText('model.safetensors');
  console.log('alert:', (await alert.innerText()).replace(/\s+/g, ' '));
  await expect(page.getByTestId('model-error')).toBeVisible();
  await expect(page.getByTestId('model-card')).toHaveCount(0);

  // The same through the file input; the page stays usable and a good checkpoint loads after a bad one.
  await page.getByTestId('model-files-input').setInputFiles([
    { name: 'config.json', mimeType: 'application/json', buffer: readFileSync(join(SAMPLE_DIR, 'config.json')) },
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('0123456789') },
  ]);
  await expect(page.getByTestId('model-error')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('device-status')).toHaveAttribute('data-status', 'ready');
  await page.getByTestId('use-sample-model').click();
  await waitForModel(page, 'stories260K (sample)');
});
