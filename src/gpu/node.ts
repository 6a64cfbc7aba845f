/**
 * Node entry to WebGPU through Dawn (npm `webgpu`). The CLI, benchmarks and kernel tests use it; the browser
 * uses navigator.gpu instead. On machines without a GPU, Dawn finds SwiftShader when the process was started
 * with LD_LIBRARY_PATH/VK_ICD_FILENAMES pointing at Debian chromium's copy (scripts/swiftshader-env.sh).
 */
import { acquireDevice, type AcquiredDevice } from './device';

export async function nodeGpu(): Promise<GPU> {
  const webgpu = (await import('webgpu')) as unknown as { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  Object.assign(globalThis, webgpu.globals);
  return webgpu.create([]);
}

export async function acquireNodeDevice(): Promise<AcquiredDevice> {
  return acquireDevice(await nodeGpu());
}
