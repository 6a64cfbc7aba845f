/**
 * exactSvd (GPU one-sided Jacobi) against the float64 reference: random odd shapes, fixture checkpoint weights
 * against transformers' own float64 spectra, the rank / smallest / vectors options, rank-deficient input and
 * both round kernels. Accuracy criteria (DESIGN.md): leading 32 singular values within 1e-3 relative, U S Vᵀ
 * reconstructs W within 1e-5 relative (Frobenius), U and V orthonormal within 1e-4 (max |QᵀQ − I|).
 */
import { openAsBlob } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSafetensors, readTensorF32 } from '../../src/formats/safetensors';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { jacobiOrthogonalize } from '../../src/linalg/jacobi';
import { exactSvd, releaseSvd, singularValues } from '../../src/linalg/svd';
import { gpuRuntime } from '../support/gpu';
import { gaussian64, matmul64, matrixWithSpectrum, maxRelDiff, orthonormalityError, reconstructionError, svd64 } from '../support/linalg64';

const FIXTURES = join(__dirname, '..', '..', 'fixtures');

interface Measured {
  sv: number;
  rec: number;
  orthoU: number;
  orthoV: number;
}

/** Runs exactSvd on w and measures the three criteria against reference singular values `ref`. */
async function measure(rt: GpuRuntime, w: Float32Array, m: number, n: number, ref: ArrayLike<number>, leading: number): Promise<Measured> {
  const W = rt.upload('W', [m, n], w);
  const s = await exactSvd(rt, W, m, n);
  expect(s.k).toBe(Math.min(m, n));
  expect(s.U.shape).toEqual([m, s.k]);
  expect(s.V.shape).toEqual([n, s.k]);
  for (let i = 1; i < s.k; i++) expect(s.S[i]).toBeLessThanOrEqual(s.S[i - 1]);
  const U = await rt.read(s.U);
  const V = await rt.read(s.V);
  const out = {
    sv: maxRelDiff(s.S, ref, Math.min(leading, s.k)),
    rec: reconstructionError(w, m, n, U, s.S, V, s.k),
    orthoU: orthonormalityError(U, m, s.k),
    orthoV: orthonormalityError(V, n, s.k),
  };
  releaseSvd(rt, s);
  rt.release(W);
  return out;
}

function expectCriteria(name: string, r: Measured): void {
  console.log(`${name}: leading σ rel ${r.sv.toExponential(2)}, reconstruction ${r.rec.toExponential(2)}, |UᵀU−I| ${r.orthoU.toExponential(2)}, |VᵀV−I| ${r.orthoV.toExponential(2)}`);
  expect(r.sv).toBeLessThan(1e-3);
  expect(r.rec).toBeLessThan(1e-5);
  expect(r.orthoU).toBeLessThan(1e-4);
  expect(r.orthoV).toBeLessThan(1e-4);
}

describe('exactSvd on random odd shapes', () => {
  it.each([[37, 23], [23, 37], [64, 150], [150, 64], [1, 9], [9, 1], [1, 1]])('%i x %i matches the float64 SVD', async (m, n) => {
    const rt = await gpuRuntime();
    const w = Float32Array.from(gaussian64(m * n, 7 * m + n));
    const ref = svd64(w, m, n);
    const r = await measure(rt, w, m, n, ref.S, ref.k);
    expectCriteria(`${m}x${n}`, r);
    // Every singular value, not only the leading ones, is far inside the criterion.
    expect(r.sv).toBeLessThan(1e-4);
  });
});

interface Spectra {
  weights: Record<string, { shape: [number, number]; singular_values: number[] }>;
}

const FIXTURE_WEIGHTS: [string, string][] = [
  ['llama-tiny', 'model.layers.0.self_attn.q_proj.weight'], // 64 x 64, σ spans 160x
  ['llama-tiny', 'model.layers.0.mlp.gate_proj.weight'], // 128 x 64
  ['llama-tiny', 'model.layers.1.mlp.down_proj.weight'], // 64 x 128
  ['llama-tiny', 'model.embed_tokens.weight'], // 1000 x 64
  ['stories260K', 'model.layers.1.self_attn.q_proj.weight'], // 64 x 64, trained, σ spans 1000x
  ['stories260K', 'model.layers.0.mlp.down_proj.weight'], // 64 x 172
  ['gpt2-tiny', 'transformer.h.0.mlp.c_fc.weight'], // Conv1D 64 x 256
  ['gpt2-tiny', 'transformer.h.1.attn.c_attn.weight'], // fused qkv 64 x 192
  ['gpt2-tiny', 'transformer.wte.weight'], // 1000 x 64
  ['tiny-random-llama', 'model.embed_tokens.weight'], // 32000 x 16: very long columns
];

describe('exactSvd on fixture checkpoint weights vs transformers float64 spectra', () => {
  it.each(FIXTURE_WEIGHTS)('%s %s', async (model, name) => {
    const rt = await gpuRuntime();
    const spectra = JSON.parse(await readFile(join(FIXTURES, 'reference', model, 'spectra.json'), 'utf8')) as Spectra;
    const ref = spectra.weights[name];
    const path = join(FIXTURES, 'models', model, 'model.safetensors');
    const file = await parseSafetensors(await openAsBlob(path), path);
    const w = await readTensorF32(file, name);
    const [m, n] = ref.shape;
    expect(w.length).toBe(m * n);
    expectCriteria(`${model} ${name} [${m}, ${n}]`, await measure(rt, w, m, n, ref.singular_values, 32));
  });
});

describe('exactSvd options', () => {
  const m = 41;
  const n = 27;
  const w = Float32Array.from(gaussian64(m * n, 11));
  const ref = svd64(w, m, n);

  /** |cos| between each returned column and the reference column of the same σ (sign-free). */
  function alignment(got: Float32Array, refCols: Float64Array, rows: number, k: number, refK: number, offset: number): number {
    let worst = 1;
    for (let j = 0; j < k; j++) {
      let d = 0;
      for (let i = 0; i < rows; i++) d += got[i * k + j] * refCols[i * refK + offset + j];
      worst = Math.min(worst, Math.abs(d));
    }
    return worst;
  }

  it('rank keeps the top triplets; smallest keeps the bottom ones in descending order', async () => {
    const rt = await gpuRuntime();
    const W = rt.upload('W', [m, n], w);
    const top = await exactSvd(rt, W, m, n, { rank: 5 });
    expect(top.k).toBe(5);
    expect(maxRelDiff(top.S, ref.S.subarray(0, 5))).toBeLessThan(1e-5);
    expect(alignment(await rt.read(top.U), ref.U, m, 5, n, 0)).toBeGreaterThan(1 - 1e-5);
    expect(alignment(await rt.read(top.V), ref.V, n, 5, n, 0)).toBeGreaterThan(1 - 1e-5);
    const low = await exactSvd(rt, W, m, n, { rank: 4, smallest: true });
    expect(low.k).toBe(4);
    expect(maxRelDiff(low.S, ref.S.subarray(n - 4))).toBeLessThan(1e-4);
    expect(low.S[0]).toBeGreaterThan(low.S[3]);
    expect(alignment(await rt.read(low.V), ref.V, n, 4, n, n - 4)).toBeGreaterThan(1 - 1e-4);
    const clamped = await exactSvd(rt, W, m, n, { rank: 500, vectors: false });
    expect(clamped.k).toBe(n);
    for (const s of [top, low, clamped]) releaseSvd(rt, s);
    rt.release(W);
  });

  it('vectors: false gives zero-size U, V and the same values; singularValues agrees', async () => {
    const rt = await gpuRuntime();
    const W = rt.upload('W', [m, n], w);
    const s = await exactSvd(rt, W, m, n, { vectors: false });
    expect(s.U.shape).toEqual([m, 0]);
    expect(s.V.shape).toEqual([n, 0]);
    expect(maxRelDiff(s.S, ref.S)).toBeLessThan(1e-4);
    releaseSvd(rt, s);
    const sv = await singularValues(rt, W, m, n);
    expect(sv.length).toBe(n);
    expect(maxRelDiff(sv, ref.S)).toBeLessThan(1e-4);
    rt.release(W);
  });

  it('the workgroup-per-pair round kernel converges like the thread-per-pair one', async () => {
    const rt = await gpuRuntime();
    // Smaller than the other cases: on SwiftShader the workgroup variant's barriers make every round slow.
    const m = 29;
    const n = 13;
    const w = Float32Array.from(gaussian64(m * n, 12));
    const ref = svd64(w, m, n);
    const W = rt.upload('W', [m, n], w);
    for (const variant of ['groups', 'threads'] as const) {
      const st = await jacobiOrthogonalize(rt, W, m, n, { vectors: true, variant });
      const sv = Array.from(st.sumsq, Math.sqrt).sort((a, b) => b - a);
      expect(maxRelDiff(sv, ref.S)).toBeLessThan(1e-5);
      // V from the rotations: W V has orthogonal columns of norms σ.
      const Vt = await rt.read(st.Vt ?? st.X);
      expect(orthonormalityError(Vt, n, n)).toBeLessThan(1e-5);
      const wv = matmul64(w, Vt, m, n, n, false, true);
      const g = matmul64(wv, wv, n, m, n, true, false);
      let off = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) off = Math.max(off, Math.abs(g[i * n + j]) / Math.sqrt(g[i * n + i] * g[j * n + j]));
      expect(off).toBeLessThan(1e-5);
      rt.release(st.X);
      if (st.Vt) rt.release(st.Vt);
    }
    rt.release(W);
  });

  it('rank-deficient and zero matrices: exact zeros, no NaN, the rotated side stays orthonormal', async () => {
    const rt = await gpuRuntime();
    const lowRank = Float32Array.from(matrixWithSpectrum(15, 11, [3, 2, 1], 5));
    const W = rt.upload('W', [15, 11], lowRank);
    const s = await exactSvd(rt, W, 15, 11);
    expect(maxRelDiff(s.S, [3, 2, 1], 3)).toBeLessThan(1e-5);
    for (let i = 3; i < 11; i++) expect(s.S[i]).toBeLessThan(1e-5);
    const U = await rt.read(s.U);
    const V = await rt.read(s.V);
    expect(U.every(Number.isFinite)).toBe(true);
    expect(orthonormalityError(V, 11, 11)).toBeLessThan(1e-5);
    expect(reconstructionError(lowRank, 15, 11, U, s.S, V, 11)).toBeLessThan(1e-5);
    // The three numerically non-zero left vectors are orthonormal.
    const U3 = U.filter((_, i) => i % 11 < 3);
    expect(orthonormalityError(U3, 15, 3)).toBeLessThan(1e-5);
    releaseSvd(rt, s);

    const Z = rt.tensor('Z', [7, 12]);
    const z = await exactSvd(rt, Z, 7, 12);
    expect(Array.from(z.S)).toEqual(new Array(7).fill(0));
    expect(orthonormalityError(await rt.read(z.U), 7, 7)).toBeLessThan(1e-6);
    expect((await rt.read(z.V)).every((v) => v === 0)).toBe(true);
    releaseSvd(rt, z);
    for (const t of [W, Z]) rt.release(t);
  });

  it('rejects bad shapes, ranks and non-finite input with clear errors', async () => {
    const rt = await gpuRuntime();
    const W = rt.upload('W', [m, n], w);
    await expect(exactSvd(rt, W, n, m)).rejects.toThrow(/exactSvd: W \(W\) has shape \[41, 27\], expected \[27, 41\]/);
    await expect(exactSvd(rt, W, m, n, { rank: 0 })).rejects.toThrow(/rank = 0 must be a positive integer/);
    const bad = w.slice();
    bad[17] = Number.NaN;
    const B = rt.upload('B', [m, n], bad);
    await expect(exactSvd(rt, B, m, n)).rejects.toThrow(/holds NaN or inf/);
    for (const t of [W, B]) rt.release(t);
  });
});
