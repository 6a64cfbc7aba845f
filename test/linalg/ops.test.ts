/** The linalg kernels one by one against float64 references on odd shapes (shaders/linalg/*.wgsl). */
import { describe, expect, it } from 'vitest';
import { columnSumSquares, gatherColumns, jacobiPlayers, jacobiRound, setIdentity, transpose } from '../../src/linalg/ops';
import { gpuRuntime, maxRelError } from '../support/gpu';
import { gaussian64, transpose64 } from '../support/linalg64';

describe('linalg kernels', () => {
  it('transpose of 37 x 23 and 1 x 9', async () => {
    const rt = await gpuRuntime();
    for (const [r, c] of [[37, 23], [1, 9]]) {
      const x = Float32Array.from(gaussian64(r * c, r + c));
      const out = rt.tensor('out', [c, r]);
      transpose(rt, out, rt.upload('x', [r, c], x), r, c);
      expect(Array.from(await rt.read(out))).toEqual(Array.from(transpose64(x, r, c)));
    }
  });

  it('gatherColumns picks, scales and transposes rows; columnSumSquares and setIdentity', async () => {
    const rt = await gpuRuntime();
    const rows = 7;
    const len = 19;
    const src = Float32Array.from(gaussian64(rows * len, 1));
    const S = rt.upload('src', [rows, len], src);
    const index = [4, 0, 6];
    const scale = [2, -0.5, 1];
    const out = rt.tensor('out', [len, 3]);
    gatherColumns(rt, out, S, len, index, scale);
    const want = new Float64Array(len * 3);
    for (let t = 0; t < len; t++) for (let j = 0; j < 3; j++) want[t * 3 + j] = src[index[j] * len + t] * scale[j];
    expect(maxRelError(await rt.read(out), want)).toBeLessThan(1e-7);

    const sq = rt.tensor('sq', [rows + 2]);
    columnSumSquares(rt, sq, S, rows, len, 2);
    const gotSq = await rt.read(sq);
    const wantSq = Array.from({ length: rows }, (_, j) => src.subarray(j * len, (j + 1) * len).reduce((a, v) => a + v * v, 0));
    expect(gotSq[0]).toBe(0);
    expect(maxRelError(gotSq.subarray(2), wantSq)).toBeLessThan(1e-6);

    const I = rt.tensor('I', [5, 5]);
    setIdentity(rt, I, 5);
    expect(Array.from(await rt.read(I))).toEqual(Array.from({ length: 25 }, (_, i) => (i % 6 === 0 ? 1 : 0)));
  });

  it.each(['threads', 'groups'] as const)('jacobiRound (%s) rotates each round-robin pair like the float64 rotation', async (variant) => {
    const rt = await gpuRuntime();
    const C = 9; // odd: one pair per round holds the padding player
    const L = 23;
    const x = Float32Array.from(gaussian64(C * L, 5));
    const P = jacobiPlayers(C);
    const seen = new Set<string>();
    for (let round = 0; round < P - 1; round++) {
      const X = rt.upload('X', [C, L], x);
      const Vt = rt.tensor('Vt', [C, C]);
      setIdentity(rt, Vt, C);
      const conv = rt.tensor('conv', [2], 'u32');
      jacobiRound(rt, { X, Vt, conv, C, L, round, sweep: 1, tol: 0, variant });
      const got = await rt.read(X);
      const v = await rt.read(Vt);
      const off = new Float32Array((await rt.read(conv)).buffer)[1];
      // Reference: rows that changed come in pairs (i, j); rotate them in float64 and compare.
      const changed = Array.from({ length: C }, (_, i) => i).filter((i) => got.subarray(i * L, (i + 1) * L).some((g, t) => g !== x[i * L + t]));
      expect(changed.length).toBe(C - 1); // every player but the one sitting out
      let worstOff = 0;
      const want = Float64Array.from(x);
      const wantV = new Float64Array(C * C);
      for (let i = 0; i < C; i++) wantV[i * C + i] = 1;
      const partner = (i: number): number => changed.find((j) => j !== i && Math.abs(v[i * C + j]) > 0) ?? -1;
      for (const i of changed) {
        const j = partner(i);
        if (j < i) continue;
        seen.add(`${i},${j}`);
        let a = 0;
        let b = 0;
        let g = 0;
        for (let t = 0; t < L; t++) {
          a += x[i * L + t] ** 2;
          b += x[j * L + t] ** 2;
          g += x[i * L + t] * x[j * L + t];
        }
        worstOff = Math.max(worstOff, Math.abs(g) / Math.sqrt(a * b));
        const zeta = (b - a) / (2 * g);
        const tt = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + tt * tt);
        const s = c * tt;
        for (let t = 0; t < L; t++) {
          want[i * L + t] = c * x[i * L + t] - s * x[j * L + t];
          want[j * L + t] = s * x[i * L + t] + c * x[j * L + t];
        }
        wantV[i * C + i] = c;
        wantV[i * C + j] = -s;
        wantV[j * C + i] = s;
        wantV[j * C + j] = c;
      }
      expect(maxRelError(got, want)).toBeLessThan(1e-6);
      expect(maxRelError(v, wantV)).toBeLessThan(1e-6);
      expect(Math.abs(off - worstOff) / worstOff).toBeLessThan(1e-5);
      for (const t of [X, Vt, conv]) rt.release(t);
    }
    // A sweep meets every pair exactly once.
    expect(seen.size).toBe((C * (C - 1)) / 2);
  });

  it('rejects bad arguments before dispatching', async () => {
    const rt = await gpuRuntime();
    const X = rt.tensor('X', [4, 6]);
    const conv = rt.tensor('conv', [1], 'u32');
    expect(() => jacobiRound(rt, { X, Vt: null, conv, C: 4, L: 6, round: 3, sweep: 0, tol: 0 })).toThrow(/round 3 outside 0..2/);
    expect(() => jacobiRound(rt, { X, Vt: null, conv, C: 4, L: 6, round: 0, sweep: 1, tol: 0 })).toThrow(/conv \(conv\) holds 1 elements, needs at least 2/);
    expect(() => transpose(rt, rt.tensor('o', [4, 6]), X, 4, 6)).toThrow(/transpose: out \(o\) has shape \[4, 6\], expected \[6, 4\]/);
    expect(() => gatherColumns(rt, rt.tensor('o', [6, 2]), X, 6, [0, 4], [1, 1])).toThrow(/src \(X\) holds 24 elements, needs at least 30/);
  });
});
