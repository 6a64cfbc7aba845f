/** Probe: headless Chromium with the config's flags must expose a WebGPU adapter to the page and to workers. */
import { expect, test } from '@playwright/test';

test('WebGPU adapter is available in the page and in a worker', async ({ page }) => {
  await page.goto('/');
  const info = await page.evaluate(async () => {
    if (!navigator.gpu) return null;
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { adapter: false as const };
    const device = await adapter.requestDevice();
    const i = adapter.info;
    const result = {
      adapter: true as const,
      vendor: i.vendor,
      architecture: i.architecture,
      description: i.description,
      features: [...adapter.features].sort(),
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    };
    device.destroy();
    return result;
  });
  console.log('page adapter:', JSON.stringify(info));
  expect(info, 'navigator.gpu is missing (is the page a secure context?)').not.toBeNull();
  expect(info?.adapter, 'requestAdapter() returned null: Chromium needs --enable-unsafe-webgpu here').toBe(true);

  const inWorker = await page.evaluate(async () => {
    const src = 'self.onmessage = async () => { const a = await navigator.gpu?.requestAdapter(); postMessage(a ? a.info.architecture || a.info.vendor || "adapter" : null); };';
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    const worker = new Worker(url, { type: 'module' });
    const reply = await new Promise<string | null>((resolve) => {
      worker.onmessage = (e) => resolve(e.data as string | null);
      worker.postMessage(0);
    });
    worker.terminate();
    return reply;
  });
  console.log('worker adapter:', inWorker);
  expect(inWorker).not.toBeNull();

  // The studio's own worker gets the device too.
  await expect(page.getByTestId('device-status')).toHaveAttribute('data-status', 'ready', { timeout: 120_000 });
});
