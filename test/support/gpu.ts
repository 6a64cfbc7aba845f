/** Shared helpers for kernel tests: one SwiftShader/Dawn runtime per test file, random data, error measures. */
import { acquireNodeDevice } from '../../src/gpu/node';
import { GpuRuntime } from '../../src/gpu/runtime';
import { Rng } from '../../src/util/rng';

let runtime: Promise<GpuRuntime> | null = null;

export function gpuRuntime(): Promise<GpuRuntime> {
  if (!runtime) runtime = acquireNodeDevice().then((d) => new GpuRuntime(d.device));
  return runtime;
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(-scale, scale);
  return a;
}

/** max |a - b| / max(1e-30, max |b|): relative to the reference's largest magnitude. */
export function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs expected ${expected.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  return maxDiff / Math.max(1e-30, maxRef);
}

export function maxAbsError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs expected ${expected.length}`);
  let maxDiff = 0;
  for (let i = 0; i < expected.length; i++) maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
  return maxDiff;
}

/** ||a - b|| / ||b||, the per-tensor measure the reference README suggests for gradients. */
export function relNormError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i] - expected[i]) ** 2;
    den += expected[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(1e-30, Math.sqrt(den));
}

