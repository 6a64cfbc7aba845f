/**
 * Node entry to WebGPU through Dawn (npm `webgpu`). The CLI, benchmarks and kernel tests use it; the browser
 * uses navigator.gpu instead. On machines without a GPU, Dawn finds SwiftShader when the process was started
 * with LD_LIBRARY_PATH/VK_ICD_FILENAMES pointing at Debian chromium's copy (scripts/swiftshader-env.sh).
 */
import { acquireDevice, type AcquiredDevice } from './device';

/**
 * The one Dawn instance of this process. It must stay referenced for the life of the process: when the
 * garbage collector frees it, Dawn crashes or hangs in its event processing at the next mapAsync (futex and
 * mutex assertions, segfaults), which is what kernel tests saw at random before this was held here.
 */
let instance: GPU | null = null;

export async function nodeGpu(): Promise<GPU> {
  if (!instance) {
    const webgpu = (await import('webgpu')) as unknown as { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
    Object.assign(globalThis, webgpu.globals);
    instance = webgpu.create([]);
  }
  return instance;
}

export async function acquireNodeDevice(): Promise<AcquiredDevice> {
  return acquireDevice(await nodeGpu());
}
