import { describe, expect, it } from 'vitest';
import { accumulateStat, gather, scatterAdd, sparseDx, sparseForward, sparseValueGrad, sparseValueGradLanes } from '../../src/gpu/ops/sparse';
import { type SparseIndexHost, buildSparseIndex, releaseSparseIndex, sortUnique, uploadSparseIndex } from '../../src/gpu/ops/sparseIndex';
import type { GpuRuntime } from '../../src/gpu/runtime';
import type { GpuTensor } from '../../src/gpu/tensor';
import { Rng } from '../../src/util/rng';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';

/** `count` distinct flat indices of an N x K layer, sorted (rejection sampling; fine up to ~50% density). */
function drawFlat(seed: number, N: number, K: number, count: number): Uint32Array {
  const rng = new Rng(seed);
  const picked = new Set<number>();
  while (picked.size < count) picked.add(rng.int(N * K));
  return sortUnique([...picked]);
}

// ---------------------------------------------------------------- float64 references

function refForward(h: SparseIndexHost, values: Float32Array, x: Float32Array, y0: Float32Array, M: number, scale: number): Float64Array {
  const { N, K } = h;
  const y = Float64Array.from(y0);
  for (let e = 0; e < h.nnz; e++) {
    for (let m = 0; m < M; m++) y[m * N + h.rows[e]] += scale * values[e] * x[m * K + h.cols[e]];
  }
  return y;
}

function refDx(h: SparseIndexHost, values: Float32Array, dy: Float32Array, dx0: Float32Array, M: number, scale: number): Float64Array {
  const { N, K } = h;
  const dx = Float64Array.from(dx0);
  for (let e = 0; e < h.nnz; e++) {
    for (let m = 0; m < M; m++) dx[m * K + h.cols[e]] += scale * values[e] * dy[m * N + h.rows[e]];
  }
  return dx;
}

/** Σ_m dy[m, rows[e]] · x[m, cols[e]] per entry. */
function refSddmm(h: SparseIndexHost, dy: Float32Array, x: Float32Array, M: number): Float64Array {
  const { N, K } = h;
  const g = new Float64Array(h.nnz);
  for (let e = 0; e < h.nnz; e++) {
    for (let m = 0; m < M; m++) g[e] += dy[m * N + h.rows[e]] * x[m * K + h.cols[e]];
  }
  return g;
}

function applyMode(g: Float64Array, scale: number, mode: 'sum' | 'abs' | 'square', base?: Float32Array): Float64Array {
  return g.map((v, e) => {
    const s = scale * v;
    return (base ? base[e] : 0) + (mode === 'sum' ? s : mode === 'abs' ? Math.abs(s) : s * s);
  });
}

function releaseAll(rt: GpuRuntime, ts: GpuTensor[]): void {
  for (const t of ts) rt.release(t);
}

// ---------------------------------------------------------------- index

describe('buildSparseIndex', () => {
  it('builds CSR and CSC views of a small layer', () => {
    // 3 x 4 layer, entries (0,1) (1,0) (1,2) (2,3) (2,1)
    const h = buildSparseIndex(new Uint32Array([1, 4, 6, 9, 11]), 3, 4);
    expect(h.nnz).toBe(5);
    expect([...h.rows]).toEqual([0, 1, 1, 2, 2]);
    expect([...h.cols]).toEqual([1, 0, 2, 1, 3]);
    expect([...h.rowPtr]).toEqual([0, 1, 3, 5]);
    expect([...h.colPtr]).toEqual([0, 1, 3, 4, 5]);
    expect([...h.colOrder]).toEqual([1, 0, 3, 2, 4]);
  });

  it('agrees with a brute-force CSC on a random set, and handles an empty set', () => {
    const N = 37;
    const K = 29;
    const flat = drawFlat(5, N, K, 200);
    const h = buildSparseIndex(flat, N, K);
    for (let o = 0; o < N; o++) {
      for (let e = h.rowPtr[o]; e < h.rowPtr[o + 1]; e++) expect(h.rows[e] * K + h.cols[e]).toBe(flat[e]);
    }
    for (let i = 0; i < K; i++) {
      const want = [...flat.keys()].filter((e) => flat[e] % K === i);
      expect([...h.colOrder.slice(h.colPtr[i], h.colPtr[i + 1])]).toEqual(want);
    }
    const empty = buildSparseIndex(new Uint32Array(0), 3, 4);
    expect(empty.nnz).toBe(0);
    expect([...empty.rowPtr]).toEqual([0, 0, 0, 0]);
    expect([...empty.colPtr]).toEqual([0, 0, 0, 0, 0]);
  });

  it('rejects unsorted, duplicate and out-of-range indices and bad sizes', () => {
    expect(() => buildSparseIndex(new Uint32Array([3, 1]), 3, 4)).toThrow(/flat index 1 at position 1 is smaller than the previous one \(3\)/);
    expect(() => buildSparseIndex(new Uint32Array([2, 2]), 3, 4)).toThrow(/flat index 2 at position 1 is a duplicate of the previous one/);
    expect(() => buildSparseIndex(new Uint32Array([0, 12]), 3, 4)).toThrow(/flat index 12 at position 1 is outside the 3 x 4 layer \(must be < 12\)/);
    expect(() => buildSparseIndex(new Uint32Array([0]), 0, 4)).toThrow(/N = 0 must be a positive integer/);
    expect(() => buildSparseIndex(new Uint32Array([0]), 2 ** 17, 2 ** 16 + 1)).toThrow(/more entries than 32-bit flat indices/);
  });

  it('sortUnique sorts, removes duplicates and refuses non-u32 values', () => {
    expect([...sortUnique([9, 3, 3, 0, 9, 4294967295])]).toEqual([0, 3, 9, 4294967295]);
    expect(sortUnique([]).length).toBe(0);
    expect(() => sortUnique([1, -1])).toThrow(/index -1 at position 1 is not a u32/);
    expect(() => sortUnique([1.5])).toThrow(/index 1.5 at position 0 is not a u32/);
  });

  it('uploads as u32 tensors, including an empty index', async () => {
    const rt = await gpuRuntime();
    const h = buildSparseIndex(new Uint32Array([1, 4, 6, 9, 11]), 3, 4);
    const idx = uploadSparseIndex(rt, 'w', h);
    expect(idx.colOrder.dtype).toBe('u32');
    expect(idx.rowPtr.shape).toEqual([4]);
    expect([...(await rt.readInt(idx.colOrder))]).toEqual([...h.colOrder]);
    expect([...(await rt.readInt(idx.colPtr))]).toEqual([...h.colPtr]);
    releaseSparseIndex(rt, idx);
    const empty = uploadSparseIndex(rt, 'e', buildSparseIndex(new Uint32Array(0), 3, 4));
    expect(empty.rows.shape).toEqual([0]);
    expect((await rt.readInt(empty.rows)).length).toBe(0);
    releaseSparseIndex(rt, empty);
  });
});

// ---------------------------------------------------------------- kernels

interface Case {
  M: number;
  N: number;
  K: number;
  /** the index set, or a density to draw one */
  flat: Uint32Array | number;
  what?: string;
}

/** Runs every kernel on one layer and compares with the float64 references. */
async function checkAllOps(c: Case, seed: number): Promise<number> {
  const rt = await gpuRuntime();
  const { M, N, K } = c;
  const flat = typeof c.flat === 'number' ? drawFlat(seed, N, K, Math.max(1, Math.round(c.flat * N * K))) : c.flat;
  const h = buildSparseIndex(flat, N, K);
  const nnz = h.nnz;
  const idx = uploadSparseIndex(rt, 'delta', h);
  const values = randomArray(nnz, seed + 1);
  const x = randomArray(M * K, seed + 2);
  const dy = randomArray(M * N, seed + 3);
  const y0 = randomArray(M * N, seed + 4);
  const dx0 = randomArray(M * K, seed + 5);
  const grad0 = randomArray(nnz, seed + 6);
  const W = randomArray(N * K, seed + 7);
  const tValues = rt.upload('values', [nnz], values);
  const tx = rt.upload('x', [M, K], x);
  const tdy = rt.upload('dy', [M, N], dy);
  const ty = rt.upload('y', [M, N], y0);
  const tdx = rt.upload('dx', [M, K], dx0);
  const tW = rt.upload('W', [N, K], W);
  const tFlat = rt.upload('flat', [nnz], flat);
  const gSum = rt.upload('gSum', [nnz], grad0);
  const gAbs = rt.upload('gAbs', [nnz], grad0);
  const gFresh = rt.tensor('gFresh', [nnz]);
  // Starts from garbage: accumulate = false must overwrite it.
  const gSquare = rt.upload('gSquare', [nnz], grad0);
  const gathered = rt.tensor('gathered', [nnz]);

  sparseForward(rt, { y: ty, x: tx, index: idx, values: tValues, M, N, K, scale: 0.75 });
  sparseDx(rt, { dx: tdx, dy: tdy, index: idx, values: tValues, M, N, K, scale: -1.25 });
  sparseValueGrad(rt, { grad: gSum, dy: tdy, x: tx, index: idx, M, N, K, scale: 0.5 });
  // Only the coordinates: how candidate sets are scored.
  const candidates = { nnz, rows: idx.rows, cols: idx.cols };
  sparseValueGrad(rt, { grad: gFresh, dy: tdy, x: tx, index: candidates, M, N, K, accumulate: false });
  sparseValueGrad(rt, { grad: gAbs, dy: tdy, x: tx, index: candidates, M, N, K, scale: -2, mode: 'abs' });
  sparseValueGrad(rt, { grad: gSquare, dy: tdy, x: tx, index: candidates, M, N, K, scale: 1.5, mode: 'square', accumulate: false });
  gather(rt, { out: gathered, dense: tW, indices: tFlat, nnz });
  scatterAdd(rt, { dense: tW, indices: tFlat, values: tValues, nnz, scale: 0.3 });

  const g = refSddmm(h, dy, x, M);
  const wantW = Float64Array.from(W);
  for (let e = 0; e < nnz; e++) wantW[flat[e]] += 0.3 * values[e];
  const checks: [string, GpuTensor, ArrayLike<number>, number][] = [
    ['forward', ty, refForward(h, values, x, y0, M, 0.75), 1e-5],
    ['dx', tdx, refDx(h, values, dy, dx0, M, -1.25), 1e-5],
    ['grad sum, accumulated', gSum, applyMode(g, 0.5, 'sum', grad0), 1e-5],
    ['grad sum, fresh', gFresh, g, 1e-5],
    ['grad abs, accumulated', gAbs, applyMode(g, -2, 'abs', grad0), 1e-5],
    ['grad square, fresh', gSquare, applyMode(g, 1.5, 'square'), 2e-5],
    ['gather', gathered, flat.length ? [...flat].map((f) => W[f]) : [], 0],
    ['scatterAdd', tW, wantW, 1e-6],
  ];
  for (const [what, t, want, tol] of checks) {
    const got = await rt.read(t);
    if (want.length === 0) expect(got.length, what).toBe(0);
    else expect(maxRelError(got, want), what).toBeLessThanOrEqual(tol);
  }
  releaseSparseIndex(rt, idx);
  releaseAll(rt, [tValues, tx, tdy, ty, tdx, tW, tFlat, gSum, gAbs, gFresh, gSquare, gathered]);
  return nnz;
}

describe('sparse delta kernels match float64', () => {
  const cases: Case[] = [
    { M: 37, N: 53, K: 71, flat: 0.01 },
    { M: 37, N: 53, K: 71, flat: 0.05 },
    { M: 37, N: 53, K: 71, flat: 0.3 },
    { M: 1, N: 53, K: 71, flat: 0.05 },
    { M: 64, N: 129, K: 67, flat: 0.01 },
    { M: 70, N: 129, K: 67, flat: 0.05 },
    { M: 13, N: 129, K: 67, flat: 0.3 },
    { M: 41, N: 301, K: 257, flat: 1e-4 },
  ];
  cases.forEach((c, i) => {
    it(`M=${c.M} N=${c.N} K=${c.K} density ${c.flat}`, async () => {
      const nnz = await checkAllOps(c, 100 + 10 * i);
      expect(nnz).toBeGreaterThanOrEqual(typeof c.flat === 'number' && c.flat < 1e-3 ? 7 : 1);
    });
  });

  it('a fully dense row and a fully dense column', async () => {
    const N = 40;
    const K = 33;
    const all = new Set<number>(drawFlat(7, N, K, 60));
    for (let i = 0; i < K; i++) all.add(3 * K + i);
    for (let o = 0; o < N; o++) all.add(o * K + 5);
    await checkAllOps({ M: 23, N, K, flat: sortUnique([...all]) }, 300);
  });

  it('the whole layer (100% density)', async () => {
    const N = 9;
    const K = 11;
    await checkAllOps({ M: 6, N, K, flat: Uint32Array.from({ length: N * K }, (_, f) => f) }, 400);
  });

  it('nnz = 0 leaves every output untouched without dispatching', async () => {
    const rt = await gpuRuntime();
    const [M, N, K] = [5, 7, 9];
    const idx = uploadSparseIndex(rt, 'none', buildSparseIndex(new Uint32Array(0), N, K));
    const y0 = randomArray(M * N, 1);
    const dx0 = randomArray(M * K, 2);
    const ty = rt.upload('y', [M, N], y0);
    const tdx = rt.upload('dx', [M, K], dx0);
    const tx = rt.upload('x', [M, K], randomArray(M * K, 3));
    const tdy = rt.upload('dy', [M, N], randomArray(M * N, 4));
    const [values, grad, out, flat] = [rt.tensor('v', [0]), rt.tensor('g', [0]), rt.tensor('o', [0]), rt.tensor('f', [0], 'u32')];
    const before = rt.dispatchCount;
    sparseForward(rt, { y: ty, x: tx, index: idx, values, M, N, K });
    sparseDx(rt, { dx: tdx, dy: tdy, index: idx, values, M, N, K });
    sparseValueGrad(rt, { grad, dy: tdy, x: tx, index: idx, M, N, K, accumulate: false, mode: 'square' });
    scatterAdd(rt, { dense: tx, indices: flat, values, nnz: 0 });
    gather(rt, { out, dense: tx, indices: flat, nnz: 0 });
    expect(rt.dispatchCount).toBe(before);
    expect([...(await rt.read(ty))]).toEqual([...y0]);
    expect([...(await rt.read(tdx))]).toEqual([...dx0]);
    releaseSparseIndex(rt, idx);
    releaseAll(rt, [ty, tdx, tx, tdy, values, grad, out, flat]);
  });

  it('many entries take the one-thread-per-entry gradient kernel', async () => {
    const [M, N, K] = [3, 300, 300];
    const flat = drawFlat(11, N, K, 40000);
    expect(sparseValueGradLanes(flat.length, M)).toBe(1);
    await checkAllOps({ M, N, K, flat }, 500);
  });

  it('picks gradient lanes from nnz and M only', () => {
    expect(sparseValueGradLanes(7, 4096)).toBe(64);
    expect(sparseValueGradLanes(1000, 37)).toBe(32);
    expect(sparseValueGradLanes(5000, 4096)).toBe(8);
    expect(sparseValueGradLanes(3, 1)).toBe(1);
    expect(sparseValueGradLanes(1 << 20, 4096)).toBe(1);
  });

  it('accumulateStat adds |scale g| and (scale g)²', async () => {
    const rt = await gpuRuntime();
    const n = 1037;
    const g = randomArray(n, 21);
    const acc0 = randomArray(n, 22).map(Math.abs);
    const tg = rt.upload('g', [n], g);
    const tAbs = rt.upload('accAbs', [n], acc0);
    const tSq = rt.upload('accSq', [n], acc0);
    accumulateStat(rt, { acc: tAbs, g: tg, n, mode: 'abs', scale: -0.5 });
    accumulateStat(rt, { acc: tAbs, g: tg, n, mode: 'abs', scale: 2 });
    accumulateStat(rt, { acc: tSq, g: tg, n, mode: 'square', scale: 3 });
    const wantAbs = Array.from(acc0, (a, i) => a + 2.5 * Math.abs(g[i]));
    const wantSq = Array.from(acc0, (a, i) => a + 9 * g[i] * g[i]);
    expect(maxRelError(await rt.read(tAbs), wantAbs)).toBeLessThan(1e-6);
    expect(maxRelError(await rt.read(tSq), wantSq)).toBeLessThan(1e-6);
    releaseAll(rt, [tg, tAbs, tSq]);
  });

  it('rejects bad shapes, dtypes, modes, index sizes and aliasing', async () => {
    const rt = await gpuRuntime();
    const [M, N, K] = [4, 3, 5];
    const idx = uploadSparseIndex(rt, 'idx', buildSparseIndex(new Uint32Array([0, 7, 14]), N, K));
    const x = rt.tensor('x', [M, K]);
    const y = rt.tensor('y', [M, N]);
    const v = rt.tensor('v', [3]);
    const vInt = rt.tensor('vi', [3], 'i32');
    expect(() => sparseForward(rt, { y, x, index: idx, values: v, M, N: 4, K })).toThrow(/sparseForward: index is for a 3 x 5 layer, expected N x K = 4 x 5/);
    expect(() => sparseForward(rt, { y, x: y, index: idx, values: v, M, N, K })).toThrow(/sparseForward: x \(y\) has shape \[4, 3\], expected \[4, 5\]/);
    expect(() => sparseForward(rt, { y, x, index: idx, values: vInt, M, N, K })).toThrow(/sparseForward: values \(vi\) is i32, expected f32/);
    expect(() => sparseForward(rt, { y, x, index: idx, values: v, M, N, K, scale: NaN })).toThrow(/sparseForward: scale = NaN is not finite/);
    expect(() => sparseDx(rt, { dx: x, dy: y, index: idx, values: rt.tensor('v4', [4]), M, N, K })).toThrow(/sparseDx: values \(v4\) has shape \[4\], expected \[3\]/);
    expect(() => sparseDx(rt, { dx: x, dy: y, index: { ...idx, colOrder: v }, values: v, M, N, K })).toThrow(/sparseDx: index.colOrder \(v\) is f32, expected u32/);
    expect(() => sparseValueGrad(rt, { grad: v, dy: y, x, index: idx, M: 0, N, K })).toThrow(/sparseValueGrad: M = 0 must be a positive integer/);
    expect(() => sparseValueGrad(rt, { grad: v, dy: y, x, index: { nnz: 2, rows: idx.rows, cols: idx.cols }, M, N, K })).toThrow(/sparseValueGrad: index.rows \(idx.rows\) has shape \[3\], expected \[2\]/);
    const badMode = 'max' as unknown as 'sum';
    expect(() => sparseValueGrad(rt, { grad: v, dy: y, x, index: idx, M, N, K, mode: badMode })).toThrow(/sparseValueGrad: mode = max must be one of sum, abs, square/);
    expect(() => sparseValueGrad(rt, { grad: v, dy: y, x, index: idx, M, N, K, mode: 'toString' as unknown as 'sum' })).toThrow(/mode = toString/);
    expect(() => scatterAdd(rt, { dense: v, indices: idx.rows, values: v, nnz: 3 })).toThrow(/scatterAdd: dense \(v\) must not be the same buffer as values/);
    expect(() => scatterAdd(rt, { dense: x, indices: v, values: v, nnz: 3 })).toThrow(/scatterAdd: indices \(v\) is f32, expected u32/);
    expect(() => gather(rt, { out: v, dense: x, indices: idx.rows, nnz: 2 })).toThrow(/gather: out \(v\) has shape \[3\], expected \[2\]/);
    expect(() => accumulateStat(rt, { acc: x, g: y, n: 20, mode: 'abs' })).toThrow(/accumulateStat: g \(y\) holds 12 elements, expected n = 20/);
    expect(() => accumulateStat(rt, { acc: x, g: x, n: 20, mode: 'square' })).toThrow(/accumulateStat: acc \(x\) must not be the same buffer as g/);
    releaseSparseIndex(rt, idx);
    releaseAll(rt, [x, y, v, vInt]);
  });
});
