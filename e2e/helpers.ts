/** Shared steps and checks for the studio tests. */
import { readFileSync } from 'node:fs';
import { expect, type Locator, type Page, type TestInfo } from '@playwright/test';

export const SAMPLE_DIR = 'public/sample/stories260K';
export const SAMPLE_FILES = [
  'config.json',
  'generation_config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
];

export interface StepMetrics {
  step: number;
  loss: number;
  lr: number;
  tokensPerS: number;
  valLoss?: number;
}

/** Forwards the page's console errors and worker failures to the test log, so a failure says why. */
export function logPage(page: Page): void {
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.log(`[page ${m.type()}] ${m.text()}`);
  });
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
}

export async function openStudio(page: Page): Promise<void> {
  logPage(page);
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('webpeft — fine-tune in your browser');
  // The worker acquires the device at start-up; on SwiftShader this takes a few seconds.
  await expect(page.getByTestId('device-status')).toHaveAttribute('data-status', 'ready', { timeout: 120_000 });
}

export async function expectNoAlerts(page: Page): Promise<void> {
  const alerts = page.getByTestId('alert');
  if ((await alerts.count()) > 0) {
    throw new Error(`unexpected alerts:\n${(await alerts.allInnerTexts()).join('\n---\n')}`);
  }
}

/** Waits until the model card shows `label` (the folder name, "N files" or the sample's name) or an alert appears. */
export async function waitForModel(page: Page, label: string): Promise<void> {
  const card = page.getByTestId('model-card').filter({ has: page.getByTestId('model-label').getByText(label, { exact: true }) });
  await expect(card.or(page.getByTestId('alert'))).toBeVisible({ timeout: 180_000 });
  await expectNoAlerts(page);
}

export async function loadSampleDataset(page: Page): Promise<void> {
  await page.getByTestId('use-sample-dataset').click();
  await expect(page.getByTestId('dataset-card').or(page.getByTestId('alert'))).toBeVisible({ timeout: 120_000 });
  await expectNoAlerts(page);
}

export async function setSetting(page: Page, name: string, value: string): Promise<void> {
  const input = page.getByTestId(`setting-${name}`);
  await input.fill(value);
  await expect(input).toHaveValue(value);
  await expect(input).not.toHaveAttribute('aria-invalid', 'true');
}

/** Waits for the run to end, logging progress now and then; fails with the page's error if the run failed. */
export async function waitForRunEnd(page: Page, timeoutMs: number): Promise<string> {
  const status = page.getByTestId('run-status');
  const deadline = Date.now() + timeoutMs;
  let lastLog = 0;
  for (;;) {
    const s = (await status.getAttribute('data-status')) ?? '';
    if (s !== 'running') {
      if (s === 'error') throw new Error(`run failed: ${await page.getByTestId('run-error').textContent()}`);
      return s;
    }
    if (Date.now() > deadline) throw new Error(`run still going after ${timeoutMs} ms`);
    if (Date.now() - lastLog > 15_000) {
      lastLog = Date.now();
      const step = await page.getByTestId('progress-step').textContent();
      const loss = await page.getByTestId('current-loss').textContent();
      console.log(`  step ${step} / ${await page.getByTestId('progress-total').textContent()}, loss ${loss}`);
    }
    await page.waitForTimeout(500);
  }
}

export async function readMetrics(page: Page): Promise<StepMetrics[]> {
  return JSON.parse((await page.getByTestId('metrics-json').textContent()) ?? '[]') as StepMetrics[];
}

export function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Clicks a download button and saves what it downloads under the test's output folder. */
export async function download(page: Page, testId: string, info: TestInfo): Promise<{ name: string; path: string; bytes: Buffer }> {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), page.getByTestId(testId).click()]);
  const name = dl.suggestedFilename();
  const path = info.outputPath(name);
  await dl.saveAs(path);
  return { name, path, bytes: readFileSync(path) };
}

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** The header of a safetensors file: 8-byte little-endian length, then that many bytes of JSON. */
export function safetensorsHeader(bytes: Buffer): { metadata?: Record<string, string>; tensors: Record<string, SafetensorsEntry>; dataBytes: number } {
  const n = Number(bytes.readBigUInt64LE(0));
  expect(8 + n).toBeLessThanOrEqual(bytes.length);
  const json = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const { __metadata__: metadata, ...tensors } = json;
  return {
    metadata: metadata as Record<string, string> | undefined,
    tensors: tensors as Record<string, SafetensorsEntry>,
    dataBytes: bytes.length - 8 - n,
  };
}

/**
 * Clicks a button until the region it drives leaves "idle". A CI run once saw a click that never reached the
 * handler: the sample stayed idle for five minutes with no page error. A click that lands while the button is
 * briefly disabled (a dataset re-read or another action starting) is dropped by the browser, and this retries it.
 */
export async function clickUntilStarted(page: Page, buttonId: string, regionId: string): Promise<void> {
  await expect(async () => {
    await page.getByTestId(buttonId).click();
    await expect(page.getByTestId(regionId)).not.toHaveAttribute('data-status', 'idle', { timeout: 5_000 });
  }).toPass({ timeout: 120_000 });
}

/** The numeric values of cells, read from an attribute (data-value by default); empty or absent → NaN. */
export async function numbers(cells: Locator, attribute = 'data-value'): Promise<number[]> {
  const values = await cells.evaluateAll((els, a) => els.map((e) => e.getAttribute(a)), attribute);
  return values.map((v) => (v === null || v === '' ? Number.NaN : Number(v)));
}

/** Opens the page on the bundled sample (stories260K + Shakespeare) and waits for the device, model and dataset. */
export async function openSample(page: Page): Promise<void> {
  logPage(page);
  await page.goto('/?sample');
  await expect(page.getByTestId('device-status')).toHaveAttribute('data-status', 'ready', { timeout: 120_000 });
  await waitForModel(page, 'stories260K (sample)');
  await expect(page.getByTestId('dataset-card').or(page.getByTestId('alert'))).toBeVisible({ timeout: 120_000 });
  await expectNoAlerts(page);
}
