/**
 * Sparse fine-tuning end to end in the page on the bundled sample (`/?sample`: stories260K + Shakespeare): density
 * 5 % of q_proj and v_proj in every layer, prune-and-regrow every 2 steps over a 4-step run, the sparsity panel
 * streamed from the run (one row per target layer, the density actually kept, the index-set update, the heatmaps),
 * and the adapter as a webpeft delta (PEFT's SHiRA format needs r·(in + out) entries per layer, which a density
 * does not give), which the page then opens again from its folder: the same validation loss, and it re-exports and
 * merges like the trained one.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { unzipSync } from 'fflate';
import { download, expectNoAlerts, numbers, openSample, safetensorsHeader, setSetting, waitForRunEnd } from './helpers';

const DENSITY = 0.05;
const STEPS = 4;
const REGROW_EVERY = 2;
/** stories260K: 5 layers, q_proj 64→64 and v_proj 64→32 by default. */
const SHAPES: Record<string, [number, number]> = { q_proj: [64, 64], v_proj: [32, 64] };
const TARGETS = [0, 1, 2, 3, 4].flatMap((l) => Object.keys(SHAPES).map((p) => ({ module: `model.layers.${l}.self_attn.${p}`, shape: SHAPES[p] })));
/** The engine keeps round(density · out · in) entries per layer. */
const kept = (shape: [number, number]) => Math.round(DENSITY * shape[0] * shape[1]);

async function setOption(page: Page, name: string, value: string): Promise<void> {
  const input = page.getByTestId(`option-${name}`);
  await input.fill(value);
  await expect(input).toHaveValue(value);
  await expect(input).not.toHaveAttribute('aria-invalid', 'true');
}

interface DeltaEdit {
  kind: string;
  tensor: string;
  shape: number[];
  nnz?: number;
  indices?: string;
  values?: string;
}

test('sparse FT on the sample: the sparsity panel while training, the adapter as a webpeft delta, and that delta opened again', async ({ page }, info) => {
  test.setTimeout(8 * 60_000);
  const t0 = Date.now();
  await openSample(page);

  await page.getByTestId('method-sparse').check();
  await expect(page.getByTestId('method-sparse')).toBeChecked();
  // No rank without "match LoRA rank"; the note says what the download will be.
  await expect(page.getByTestId('setting-rank')).toHaveCount(0);
  await expect(page.getByTestId('method-export-note')).toContainText("PEFT SHiRA export needs K = r·(in+out) per layer: turn on 'match LoRA rank'");
  await expect(page.getByTestId('option-matchLoraRank')).not.toBeChecked();
  await expect(page.getByTestId('option-sparseInit')).toHaveValue('random');
  await setOption(page, 'density', String(DENSITY));
  await setOption(page, 'regrowEvery', String(REGROW_EVERY));
  await setSetting(page, 'steps', String(STEPS));
  await setSetting(page, 'seqLen', '32');
  await setSetting(page, 'lr', '5e-3');
  await setSetting(page, 'warmupSteps', '0');
  await setSetting(page, 'valEvery', '0');
  await setSetting(page, 'spectraEvery', '0');
  const budget = TARGETS.reduce((n, t) => n + kept(t.shape), 0);
  await expect(page.getByTestId('trainable-params')).toHaveAttribute('data-value', String(budget), { timeout: 60_000 });
  await expect(page.getByTestId('sparsity-empty')).toBeVisible();

  await page.getByTestId('train-button').click();
  await expect(page.getByTestId('run-status')).not.toHaveAttribute('data-status', 'idle');
  const status = await waitForRunEnd(page, 4 * 60_000);
  console.log(`run ${status} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  expect(status).toBe('done');
  await expectNoAlerts(page);

  // The table: one row per target layer, in model order, at the last step.
  const panel = page.getByTestId('sparsity-panel');
  await expect(panel).toHaveAttribute('data-step', String(STEPS));
  expect(Number(await panel.getAttribute('data-snapshots'))).toBeGreaterThanOrEqual(2); // step 0, the update, the end
  await expect(page.getByTestId('sparsity-table')).toBeVisible();
  const rows = page.getByTestId('sparsity-row');
  await expect(rows).toHaveCount(TARGETS.length);
  expect(await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-module')))).toEqual(TARGETS.map((t) => t.module));
  expect(await numbers(page.getByTestId('sparsity-kept'))).toEqual(TARGETS.map((t) => kept(t.shape)));
  const density = await numbers(page.getByTestId('sparsity-density'));
  const updates = await numbers(page.getByTestId('sparsity-updates'));
  const dropped = await numbers(page.getByTestId('sparsity-dropped'));
  const regrown = await numbers(page.getByTestId('sparsity-regrown'));
  const lastDropped = await numbers(page.getByTestId('sparsity-last'), 'data-dropped');
  const lastRegrown = await numbers(page.getByTestId('sparsity-last'), 'data-regrown');
  console.log('density kept:', density.map((d) => (100 * d).toFixed(3)).join(' '), '%');
  console.log('updates:', updates.join(' '), '| dropped:', dropped.join(' '), '| regrown:', regrown.join(' '));
  for (const d of density) expect(Math.abs(d - DENSITY)).toBeLessThan(0.001);
  for (const text of await page.getByTestId('sparsity-density').allInnerTexts()) expect(text).toMatch(/^(5\.00|4\.98)%$/);
  for (const u of updates) expect(u).toBeGreaterThanOrEqual(1);
  dropped.forEach((d, i) => expect(d, TARGETS[i].module).toBe(regrown[i]));
  lastDropped.forEach((d, i) => expect(d, TARGETS[i].module).toBe(lastRegrown[i]));
  expect(dropped.some((d) => d > 0)).toBe(true);
  for (const share of [...(await numbers(page.getByTestId('sparsity-rows'))), ...(await numbers(page.getByTestId('sparsity-cols')))]) {
    expect(share > 0 && share <= 1).toBe(true);
  }
  await expect(page.getByTestId('sparsity-updates-total')).toContainText(`after step ${REGROW_EVERY}`);

  // The pictures: one canvas per layer whose cells add up to the kept entries, with something drawn on it.
  const grids = page.getByTestId('sparsity-grid');
  await expect(grids).toHaveCount(TARGETS.length);
  expect(await numbers(grids, 'data-total')).toEqual(TARGETS.map((t) => kept(t.shape)));
  const painted = await grids.first().evaluate((el) => {
    const c = el as HTMLCanvasElement;
    const data = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data;
    if (!data) return 0;
    const colors = new Set<number>();
    for (let i = 0; i < data.length; i += 4) colors.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return colors.size;
  });
  expect(painted).toBeGreaterThan(2);
  await expect(page.getByTestId('sparsity-legend')).toBeVisible();

  // A density is not SHiRA's r·(in + out): the adapter is a webpeft delta, one sparse_add per target weight.
  await expect(page.getByTestId('download-config')).toHaveText('webpeft_delta.json');
  await expect(page.getByTestId('download-weights')).toHaveText('webpeft_delta.safetensors');
  await expect(page.getByTestId('delta-downloads')).toHaveCount(0); // the default download is the delta already
  const config = await download(page, 'download-config', info);
  expect(config.name).toBe('webpeft_delta.json');
  const delta = JSON.parse(config.bytes.toString('utf8')) as { format: string; version: number; method: string; edits: DeltaEdit[] };
  console.log('webpeft_delta.json:', JSON.stringify({ format: delta.format, version: delta.version, method: delta.method, edits: delta.edits.length }));
  expect(delta.format).toBe('webpeft-delta');
  expect(delta.method).toBe('sparse');
  expect(delta.edits.map((e) => [e.kind, e.tensor, e.nnz])).toEqual(TARGETS.map((t) => ['sparse_add', `${t.module}.weight`, kept(t.shape)]));
  const weights = await download(page, 'download-weights', info);
  expect(weights.name).toBe('webpeft_delta.safetensors');
  const header = safetensorsHeader(weights.bytes);
  for (const e of delta.edits) {
    expect(e.values && header.tensors[e.values]?.shape).toEqual([e.nnz]);
    expect(e.indices && header.tensors[e.indices]?.shape).toEqual([e.nnz]);
  }
  const zip = await download(page, 'download-zip', info);
  expect(zip.name).toBe('webpeft_delta.zip');
  expect(Object.keys(unzipSync(new Uint8Array(zip.bytes))).sort()).toEqual(['webpeft_delta.json', 'webpeft_delta.safetensors']);
  await expect(page.getByTestId('adapter-format')).toHaveAttribute('data-format', 'webpeft-delta');
  await expectNoAlerts(page);

  // The validation loss the page measured for the trained adapter (after the run, the sample has a validation split).
  const evaluation = page.getByTestId('evaluation');
  await expect(evaluation).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
  const trainedBase = Number(await page.getByTestId('eval-base-loss').getAttribute('data-value'));
  const trainedAdapted = Number(await page.getByTestId('eval-adapter-loss').getAttribute('data-value'));
  await expect(page.getByTestId('adapter-status')).toHaveAttribute('data-status', 'trained');

  // The downloaded delta, opened again as a folder: it replaces the trained adapter and is measured again.
  const folder = info.outputPath('reopen', 'sparse-delta');
  mkdirSync(folder, { recursive: true });
  copyFileSync(config.path, join(folder, 'webpeft_delta.json'));
  copyFileSync(weights.path, join(folder, 'webpeft_delta.safetensors'));
  await page.getByTestId('adapter-input').setInputFiles(folder);
  const opened = page.getByTestId('adapter-status');
  await expect(opened).toHaveAttribute('data-status', /^(ready|error)$/, { timeout: 120_000 });
  if ((await opened.getAttribute('data-status')) === 'error') throw new Error(`opening the delta failed: ${await opened.textContent()}`);
  await expect(opened).toHaveAttribute('data-kind', 'webpeft-delta');
  await expect(opened).toHaveAttribute('data-modules', String(TARGETS.length));
  await expect(opened).toContainText(`Adapter loaded from sparse-delta (webpeft delta, ${TARGETS.length} modules)`);
  await expect(evaluation).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
  const reopenedBase = Number(await page.getByTestId('eval-base-loss').getAttribute('data-value'));
  const reopenedAdapted = Number(await page.getByTestId('eval-adapter-loss').getAttribute('data-value'));
  console.log(`validation loss: base ${trainedBase} / ${reopenedBase}, trained adapter ${trainedAdapted}, reopened delta ${reopenedAdapted}`);
  expect(reopenedBase).toBe(trainedBase);
  expect(reopenedAdapted).toBeCloseTo(trainedAdapted, 5);
  expect(reopenedAdapted).not.toBe(reopenedBase);
  await expectNoAlerts(page);

  // It samples, re-exports (not the trained run's cached files: exported again from the opened delta) and merges.
  await expect(page.getByTestId('generate-adapted')).toBeEnabled();
  await expect(page.getByTestId('adapter-format')).toHaveAttribute('data-format', 'webpeft-delta');
  const reexported = await download(page, 'download-config', info);
  expect(reexported.name).toBe('webpeft_delta.json');
  const again = JSON.parse(reexported.bytes.toString('utf8')) as { format: string; edits: DeltaEdit[] };
  expect(again.format).toBe('webpeft-delta');
  expect(again.edits.map((e) => [e.kind, e.tensor, e.nnz])).toEqual(delta.edits.map((e) => [e.kind, e.tensor, e.nnz]));
  const merged = await download(page, 'download-merged', info);
  expect(merged.name).toBe('merged_model.zip');
  expect(Object.keys(unzipSync(new Uint8Array(merged.bytes)))).toContain('model.safetensors');
  await expectNoAlerts(page);
  console.log(`test took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
