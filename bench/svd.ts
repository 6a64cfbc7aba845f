/**
 * SVD benchmarks: our randomized truncated SVD (rank 16, p 8, q 4) and our exact Jacobi SVD on the GPU against
 * ml-matrix's full SVD (Golub–Kahan in JavaScript, float64) of the same matrix in the same process: seconds,
 * the ratio, and how far our singular values are from ml-matrix's. What the methods that initialise from an SVD
 * (PiSSA, MiLoRA, spectra) would otherwise do in the worker without a GPU.
 *
 * Matrices are layer-shaped with a decaying spectrum: W = G₁ diag(d) G₂, G₁ [m, c] and G₂ [c, n] seeded
 * Gaussian, d_t = 1 / (1 + t), c = min(m, n), formed by the GPU matmul. 2048×8192 (a 1B-model MLP weight) runs
 * only with --large or on a real GPU: on SwiftShader the product alone takes minutes, and ml-matrix's SVD of it
 * tens of minutes in any case, so that size reports ml-matrix only with --large.
 *
 * Flags (after `npm run bench --`): --large, --svd-sizes=576x576,576x1536, --svd-exact=N (square size of the
 * exact comparison; default 576 on a GPU, 160 on SwiftShader), --no-svd.
 */
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { matmul } from '../src/gpu/ops/matmul';
import type { GpuRuntime } from '../src/gpu/runtime';
import type { GpuTensor } from '../src/gpu/tensor';
import { isCpuAdapter } from '../src/linalg/ops';
import { exactSvd, randomizedSvd, releaseSvd } from '../src/linalg/svd';
import { Rng } from '../src/util/rng';

export interface BenchSvdOptions {
  /** Command-line arguments (see the header). */
  args?: readonly string[];
}

interface Plan {
  sizes: [number, number][];
  exactSize: number;
  mlOnLarge: boolean;
}

function parseSize(s: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`bench svd: size "${s}" is not MxN`);
  return [Number(m[1]), Number(m[2])];
}

function plan(rt: GpuRuntime, args: readonly string[]): Plan | null {
  if (args.includes('--no-svd')) return null;
  const large = args.includes('--large');
  const gpu = !isCpuAdapter(rt);
  const value = (flag: string): string | undefined => args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
  const sizesArg = value('--svd-sizes');
  const sizes: [number, number][] = sizesArg ? sizesArg.split(',').map(parseSize) : [[576, 576], [576, 1536]];
  if (!sizesArg && (large || gpu)) sizes.push([2048, 8192]);
  const exactArg = value('--svd-exact');
  const exactSize = exactArg ? Number(exactArg) : gpu || large ? 576 : 160;
  if (!Number.isInteger(exactSize) || exactSize < 1) throw new Error(`bench svd: --svd-exact=${exactArg} is not a positive integer`);
  return { sizes, exactSize, mlOnLarge: large };
}

/** W = G₁ diag(d) G₂ on the GPU (see the header); returns the tensor and its values for ml-matrix. */
async function decayingMatrix(rt: GpuRuntime, m: number, n: number, seed: number): Promise<{ W: GpuTensor; values: () => Promise<Float32Array> }> {
  const c = Math.min(m, n);
  const rng = new Rng(seed);
  const g1 = new Float32Array(m * c);
  for (let i = 0; i < m; i++) for (let t = 0; t < c; t++) g1[i * c + t] = (rng.normal() / Math.sqrt(m)) / (1 + t);
  const g2 = new Float32Array(c * n);
  for (let i = 0; i < g2.length; i++) g2[i] = rng.normal() / Math.sqrt(n);
  const G1 = rt.upload('bench G1', [m, c], g1);
  const G2 = rt.upload('bench G2', [c, n], g2);
  const W = rt.tensor('bench W', [m, n]);
  matmul(rt, { out: W, a: G1, b: G2, M: m, N: n, K: c });
  await rt.idle();
  rt.release(G1);
  rt.release(G2);
  return { W, values: () => rt.read(W) };
}

/** ml-matrix's full SVD (float64): seconds and singular values. */
function mlMatrixSvd(values: Float32Array, m: number, n: number, vectors: boolean): { seconds: number; sv: number[] } {
  const A = Matrix.from1DArray(m, n, Float64Array.from(values));
  const t0 = performance.now();
  const svd = new SingularValueDecomposition(A, { autoTranspose: true, computeLeftSingularVectors: vectors, computeRightSingularVectors: vectors });
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, sv: svd.diagonal };
}

function maxRel(ours: ArrayLike<number>, ref: readonly number[], count: number): number {
  let worst = 0;
  for (let i = 0; i < count; i++) worst = Math.max(worst, Math.abs(ours[i] - ref[i]) / ref[i]);
  return worst;
}

async function seconds<T>(rt: GpuRuntime, f: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t0 = performance.now();
  const value = await f();
  await rt.idle();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

async function benchRandomized(rt: GpuRuntime, log: (line: string) => void, m: number, n: number, withMl: boolean): Promise<void> {
  const { W, values } = await decayingMatrix(rt, m, n, m * 7 + n);
  const ours = await seconds(rt, () => randomizedSvd(rt, W, m, n, { rank: 16, oversample: 8, powerIters: 4, seed: 1 }));
  const name = `svd randomized r16 p8 q4 ${`${m}x${n}`.padEnd(10)}`;
  if (withMl) {
    const ml = mlMatrixSvd(await values(), m, n, true);
    log(`${name} ours ${ours.seconds.toFixed(3).padStart(8)} s  ml-matrix full SVD ${ml.seconds.toFixed(3).padStart(8)} s  ml/ours ${(ml.seconds / ours.seconds).toFixed(1)}x  top-16 σ max rel diff ${maxRel(ours.value.S, ml.sv, 16).toExponential(1)}`);
  } else {
    log(`${name} ours ${ours.seconds.toFixed(3).padStart(8)} s  (ml-matrix skipped: run with --large)`);
  }
  releaseSvd(rt, ours.value);
  rt.release(W);
}

async function benchExact(rt: GpuRuntime, log: (line: string) => void, size: number): Promise<void> {
  const { W, values } = await decayingMatrix(rt, size, size, 99);
  const ours = await seconds(rt, () => exactSvd(rt, W, size, size));
  const ml = mlMatrixSvd(await values(), size, size, true);
  log(`svd exact Jacobi ${`${size}x${size}`.padEnd(17)} ours ${ours.seconds.toFixed(3).padStart(8)} s  ml-matrix full SVD ${ml.seconds.toFixed(3).padStart(8)} s  ml/ours ${(ml.seconds / ours.seconds).toFixed(2)}x  top-32 σ max rel diff ${maxRel(ours.value.S, ml.sv, Math.min(32, size)).toExponential(1)}`);
  releaseSvd(rt, ours.value);
  rt.release(W);
}

export async function benchSvd(rt: GpuRuntime, log: (line: string) => void, options: BenchSvdOptions = {}): Promise<void> {
  const p = plan(rt, options.args ?? []);
  if (!p) return;
  // Compile every pipeline once so the first timing is not mostly shader compilation.
  const warm = await decayingMatrix(rt, 40, 33, 1);
  releaseSvd(rt, await randomizedSvd(rt, warm.W, 40, 33, { rank: 4, oversample: 2, powerIters: 1, seed: 1 }));
  releaseSvd(rt, await exactSvd(rt, warm.W, 40, 33));
  rt.release(warm.W);
  for (const [m, n] of p.sizes) await benchRandomized(rt, log, m, n, m * n < 4e6 || p.mlOnLarge);
  await benchExact(rt, log, p.exactSize);
}
