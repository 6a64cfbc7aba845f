import { describe, expect, it } from 'vitest';
import { topkIndices, topkSelect } from '../../src/gpu/ops/topk';
import type { GpuRuntime } from '../../src/gpu/runtime';
import type { GpuTensor } from '../../src/gpu/tensor';
import { Rng } from '../../src/util/rng';
import { gpuRuntime } from '../support/gpu';

type Order = 'largest' | 'smallest';

interface Mode {
  order: Order;
  abs: boolean;
}

const MODES: Mode[] = [
  { order: 'largest', abs: true },
  { order: 'smallest', abs: true },
  { order: 'largest', abs: false },
  { order: 'smallest', abs: false },
];

/** Oriented score: larger is better in every mode, so one comparison serves all four. -0 and +0 stay equal. */
function scorer(m: Mode): (v: number) => number {
  const sign = m.order === 'smallest' ? -1 : 1;
  return m.abs ? (v) => sign * Math.abs(v) : (v) => sign * v;
}

/**
 * The definition, written independently of the kernel: eligible positions sorted by score (best first, explicit
 * comparisons so that ±Infinity work), ties by position. Returns the whole ranking; the top k is a prefix.
 */
function ranking(keys: Float32Array, n: number, m: Mode, exclude?: Uint32Array): Uint32Array {
  const score = scorer(m);
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (!Number.isNaN(keys[i]) && !(exclude && exclude[i] !== 0)) idx.push(i);
  const s = new Float64Array(n);
  for (const i of idx) s[i] = score(keys[i]);
  idx.sort((a, b) => (s[a] > s[b] ? -1 : s[a] < s[b] ? 1 : a - b));
  return Uint32Array.from(idx);
}

const topOf = (rank: Uint32Array, k: number): Uint32Array => rank.slice(0, Math.min(k, rank.length)).sort();

/**
 * A second reference for sizes where an index sort is slow: the k-th best score by a native numeric sort, then
 * a position-ordered scan taking everything better and the first ties. Cross-checked against `ranking` below.
 */
function thresholdReference(keys: Float32Array, n: number, k: number, m: Mode): Uint32Array {
  const score = scorer(m);
  const scores: number[] = [];
  for (let i = 0; i < n; i++) if (!Number.isNaN(keys[i])) scores.push(score(keys[i]));
  if (k >= scores.length) return Uint32Array.from({ length: n }, (_, i) => i).filter((i) => !Number.isNaN(keys[i]));
  if (k === 0) return new Uint32Array(0);
  const sorted = Float64Array.from(scores).sort();
  const t = sorted[sorted.length - k];
  let better = 0;
  for (const v of scores) if (v > t) better++;
  let ties = k - better;
  const out = new Uint32Array(k);
  let o = 0;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(keys[i])) continue;
    const v = score(keys[i]);
    if (v > t || (v === t && ties-- > 0)) out[o++] = i;
  }
  return out;
}

/** Keys over many binades and both signs, so every radix digit of the rank key varies. */
function spreadKeys(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * 10 ** rng.uniform(-4, 4);
  return a;
}

/** k values the brief asks for: 0, 1, 0.01 %, 1 %, 30 %, n − 1, n, and beyond n. */
function kGrid(n: number): number[] {
  const ks = [0, 1, Math.ceil(n * 1e-4), Math.ceil(n * 0.01), Math.floor(n * 0.3), n - 1, n, n + 3];
  return [...new Set(ks.filter((k) => k >= 0))];
}

function expectSame(got: Uint32Array, want: Uint32Array, what: string): void {
  expect(got.length, `${what}: count`).toBe(want.length);
  let firstDiff = -1;
  for (let i = 0; i < want.length && firstDiff < 0; i++) if (got[i] !== want[i]) firstDiff = i;
  expect(firstDiff, `${what}: first differing slot (got ${got[firstDiff]}, want ${want[firstDiff]})`).toBe(-1);
}

async function checkAll(rt: GpuRuntime, keys: Float32Array, n: number, modes: Mode[], ks: number[], exclude?: Uint32Array): Promise<void> {
  const tk = rt.upload('keys', [keys.length], keys);
  const tx = exclude ? rt.upload('exclude', [exclude.length], exclude) : undefined;
  for (const m of modes) {
    const rank = ranking(keys, n, m, exclude);
    for (const k of ks) {
      const got = await topkIndices(rt, { keys: tk, n, k, ...m, exclude: tx });
      expectSame(got, topOf(rank, k), `n=${n} k=${k} ${m.order} abs=${m.abs}${exclude ? ' excluded' : ''}`);
    }
  }
  rt.release(tk);
  if (tx) rt.release(tx);
}

describe('topk (radix select)', () => {
  it('matches the sorted reference on small and odd n in all four modes', async () => {
    const rt = await gpuRuntime();
    for (const [n, seed] of [[1, 1], [7, 2], [1001, 3], [65537, 4]] as const) {
      await checkAll(rt, spreadKeys(n, seed), n, MODES, kGrid(n));
    }
  });

  it('matches the sorted reference at n = 300007 (37 chunks, the last one partial)', async () => {
    const rt = await gpuRuntime();
    const n = 300007;
    await checkAll(rt, spreadKeys(n, 5), n, [MODES[0], MODES[3]], kGrid(n));
  });

  it('breaks heavy ties at the threshold by lowest position', async () => {
    const rt = await gpuRuntime();
    const n = 10007;
    const rng = new Rng(6);
    const values = [-2, -1, 0, 1, 2];
    const keys = Float32Array.from({ length: n }, () => values[rng.int(values.length)]);
    await checkAll(rt, keys, n, MODES, [1, 5, 1000, 2001, 4000, 6003, 9999, n]);

    // All zeros: every key ties, so any k takes the first k positions; k around a thread's run (128 positions)
    // and a chunk (8192).
    const zeros = new Float32Array(10000);
    const tz = rt.upload('zeros', [zeros.length], zeros);
    for (const m of MODES) {
      for (const k of [1, 7, 127, 128, 129, 8192, 8193, 9999]) {
        expectSame(await topkIndices(rt, { keys: tz, n: zeros.length, k, ...m }), Uint32Array.from({ length: k }, (_, i) => i), `zeros k=${k}`);
      }
    }
  });

  it('treats -0 and +0 as equal keys', async () => {
    const rt = await gpuRuntime();
    const keys = Float32Array.from([-0, 0, -0, 1, -1, 0, -0, 3]);
    const tk = rt.upload('keys', [keys.length], keys);
    const n = keys.length;
    // Signed largest: 3, 1, then the zeros from position 0 (a -0) on.
    expect(Array.from(await topkIndices(rt, { keys: tk, n, k: 4, abs: false }))).toEqual([0, 1, 3, 7]);
    // Signed smallest: -1, then zeros by position regardless of sign.
    expect(Array.from(await topkIndices(rt, { keys: tk, n, k: 3, abs: false, order: 'smallest' }))).toEqual([0, 1, 4]);
    // |x| smallest: the five zeros tie; the first three positions win.
    expect(Array.from(await topkIndices(rt, { keys: tk, n, k: 3, order: 'smallest' }))).toEqual([0, 1, 2]);
    await checkAll(rt, keys, n, MODES, [1, 2, 3, 5, 6, 8]);
  });

  it('never selects NaN; ±Infinity and subnormals are ordinary keys', async () => {
    const rt = await gpuRuntime();
    const n = 4099;
    const keys = spreadKeys(n, 7);
    const rng = new Rng(8);
    for (let i = 0; i < 300; i++) keys[rng.int(n)] = NaN;
    keys[17] = Infinity;
    keys[2500] = -Infinity;
    keys[40] = 1e-42;
    keys[41] = -1e-42;
    keys[n - 1] = NaN;
    let nans = 0;
    for (const v of keys) if (Number.isNaN(v)) nans++;
    await checkAll(rt, keys, n, MODES, [1, 2, 50, n - nans - 1, n - nans, n]);
    // k beyond the eligible count: exactly the non-NaN positions, and the count says so.
    const tk = rt.upload('keys', [n], keys);
    const out = rt.tensor('out', [n], 'u32');
    expect(await topkSelect(rt, { keys: tk, n, k: n, out })).toBe(n - nans);
  });

  it('skips excluded positions, and returns fewer than k when too few remain', async () => {
    const rt = await gpuRuntime();
    const n = 20011;
    const keys = spreadKeys(n, 9);
    const rng = new Rng(10);
    const exclude = Uint32Array.from({ length: n }, () => (rng.next() < 0.6 ? 1 : 0));
    let allowed = 0;
    for (const e of exclude) if (e === 0) allowed++;
    await checkAll(rt, keys, n, MODES, [1, 100, 5000, allowed - 1, allowed, n], exclude);

    const tk = rt.upload('keys', [n], keys);
    const everything = rt.upload('all excluded', [n], new Uint32Array(n).fill(1));
    const out = rt.tensor('out', [10], 'u32');
    expect(await topkSelect(rt, { keys: tk, n, k: 10, exclude: everything, out })).toBe(0);
  });

  it('reads only the first n keys and leaves out beyond the count untouched', async () => {
    const rt = await gpuRuntime();
    const n = 3000;
    const keys = spreadKeys(n + 500, 11);
    keys.fill(1e30, n); // would win every selection if read
    const tk = rt.upload('keys', [keys.length], keys);
    const sentinel = 0xdeadbeef;
    const out = rt.upload('out', [40], new Uint32Array(40).fill(sentinel));
    expect(await topkSelect(rt, { keys: tk, n, k: 30, out })).toBe(30);
    const got = Uint32Array.from(await rt.readInt(out), (v) => v >>> 0);
    expectSame(got.slice(0, 30), topOf(ranking(keys, n, MODES[0]), 30), 'prefix of a longer buffer');
    expect(Array.from(got.slice(30))).toEqual(new Array(10).fill(sentinel));
    expect(await topkSelect(rt, { keys: tk, n: 0, k: 30, out })).toBe(0);
    expect(await topkSelect(rt, { keys: tk, n, k: 0, out })).toBe(0);
  });

  it('selects from 2.3 million keys (more chunks than scan threads), agreeing with the threshold reference and across repeated calls', { timeout: 300_000 }, async () => {
    const rt = await gpuRuntime();
    // The threshold reference itself, against the definition first (cheap at this size).
    const small = spreadKeys(20000, 12);
    for (const m of MODES) for (const k of [1, 200, 7000]) expectSame(thresholdReference(small, small.length, k, m), topOf(ranking(small, small.length, m), k), 'reference');

    const n = 2_300_007;
    const keys = spreadKeys(n, 13);
    for (let i = 0; i < n; i += 997) keys[i] = 0.5; // a tie block that straddles chunks
    const tk = rt.upload('keys', [n], keys);
    const m: Mode = { order: 'largest', abs: true };
    const k = 20000;
    const first = await topkIndices(rt, { keys: tk, n, k, ...m });
    expectSame(first, thresholdReference(keys, n, k, m), `n=${n} k=${k}`);
    expectSame(await topkIndices(rt, { keys: tk, n, k, ...m }), first, 'repeat');
    // Thresholds inside the tie block: k lands among the 0.5s, from above (largest) and from below (smallest).
    let above = 0;
    let below = 0;
    for (const v of keys) {
      if (Math.abs(v) > 0.5) above++;
      else if (Math.abs(v) < 0.5) below++;
    }
    for (const [mode, kk] of [[m, above + 1000], [{ order: 'smallest', abs: true }, below + 1001]] as const) {
      expectSame(await topkIndices(rt, { keys: tk, n, k: kk, ...mode }), thresholdReference(keys, n, kk, mode), `n=${n} k=${kk} ${mode.order}`);
    }
  });

  it('validates arguments before dispatching, naming the op and argument', async () => {
    const rt = await gpuRuntime();
    const keys = rt.tensor('scores', [100]);
    const out = rt.tensor('picked', [10], 'u32');
    const before = rt.dispatchCount;
    const bad = async (a: Parameters<typeof topkSelect>[1]): Promise<string> => {
      try {
        await topkSelect(rt, a);
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(await bad({ keys, n: 101, k: 1, out })).toMatch(/topkSelect: keys \(scores\).*101/);
    expect(await bad({ keys, n: 100, k: 11, out })).toMatch(/topkSelect: out \(picked\).*11/);
    expect(await bad({ keys: out, n: 10, k: 1, out: rt.tensor('o', [1], 'u32') })).toMatch(/topkSelect: keys \(picked\) is u32/);
    expect(await bad({ keys, n: 100, k: 1, out: rt.tensor('f', [1]) })).toMatch(/topkSelect: out \(f\) is f32/);
    expect(await bad({ keys, n: 100, k: 1, out, exclude: rt.tensor('ex', [99], 'u32') })).toMatch(/topkSelect: exclude \(ex\).*100/);
    expect(await bad({ keys, n: 100, k: 1.5, out })).toMatch(/topkSelect: k = 1.5/);
    expect(await bad({ keys, n: -1, k: 1, out })).toMatch(/topkSelect: n = -1/);
    expect(await bad({ keys, n: 100, k: 1, out, order: 'biggest' as 'largest' })).toMatch(/topkSelect: order = biggest/);
    const shared: GpuTensor = { ...keys, dtype: 'u32', shape: [100] };
    expect(await bad({ keys, n: 10, k: 1, out: shared })).toMatch(/topkSelect: out .* same buffer as keys/);
    await expect(topkIndices(rt, { keys, n: 100, k: 1, exclude: out })).rejects.toThrow(/topkIndices: exclude \(picked\).*100/);
    expect(rt.dispatchCount).toBe(before);
  });
});
