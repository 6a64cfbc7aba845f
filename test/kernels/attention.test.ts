import { describe, expect, it } from 'vitest';
import { type AttentionShape, attentionBackward, attentionForward } from '../../src/gpu/ops/attention';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { gpuRuntime, maxAbsError, randomArray } from '../support/gpu';

type Arr = ArrayLike<number>;

/** f32 GPU vs float64 reference, relative to the reference's largest magnitude (fp32 sums of <= 128 terms). */
const TOL = 1e-5;

/**
 * max |a - b| / max |b| like maxRelError in test/support/gpu.ts, but never dividing by less than 1e-3: with T=1
 * dq and dk are exactly zero (one key, so dS = 0) and f32 rounding in dP - D must not count as infinite error.
 */
function maxRelError(actual: Arr, expected: Arr): number {
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) maxRef = Math.max(maxRef, Math.abs(expected[i]));
  return maxAbsError(actual, expected) / Math.max(1e-3, maxRef);
}

function trainShape(B: number, T: number, nHeads: number, nKvHeads: number, headDim: number): AttentionShape {
  return { B, Tq: T, Tk: T, kvStride: T, qPosOffset: 0, nHeads, nKvHeads, headDim, scale: 1 / Math.sqrt(headDim) };
}

const qIdx = (s: AttentionShape, b: number, i: number, h: number): number => ((b * s.Tq + i) * s.nHeads + h) * s.headDim;
const kvIdx = (s: AttentionShape, b: number, j: number, g: number): number => ((b * s.kvStride + j) * s.nKvHeads + g) * s.headDim;

/** Row-wise attention probabilities in float64; calls fn(b, h, i, g, p) with p over the visible keys 0..p.length-1. */
function eachRow(s: AttentionShape, q: Arr, k: Arr, fn: (b: number, h: number, i: number, g: number, p: Float64Array, lse: number) => void): void {
  const group = s.nHeads / s.nKvHeads;
  for (let b = 0; b < s.B; b++) {
    for (let h = 0; h < s.nHeads; h++) {
      const g = Math.floor(h / group);
      for (let i = 0; i < s.Tq; i++) {
        const n = Math.min(s.Tk, i + s.qPosOffset + 1);
        const sc = new Float64Array(n);
        for (let j = 0; j < n; j++) {
          let dot = 0;
          for (let d = 0; d < s.headDim; d++) dot += q[qIdx(s, b, i, h) + d] * k[kvIdx(s, b, j, g) + d];
          sc[j] = s.scale * dot;
        }
        const m = Math.max(...sc);
        let sum = 0;
        for (let j = 0; j < n; j++) sum += Math.exp(sc[j] - m);
        const lse = m + Math.log(sum);
        fn(b, h, i, g, sc.map((x) => Math.exp(x - lse)), lse);
      }
    }
  }
}

function refForward(s: AttentionShape, q: Arr, k: Arr, v: Arr): { out: Float64Array; lse: Float64Array } {
  const out = new Float64Array(s.B * s.Tq * s.nHeads * s.headDim);
  const lse = new Float64Array(s.B * s.nHeads * s.Tq);
  eachRow(s, q, k, (b, h, i, g, p, l) => {
    lse[(b * s.nHeads + h) * s.Tq + i] = l;
    for (let j = 0; j < p.length; j++) {
      for (let d = 0; d < s.headDim; d++) out[qIdx(s, b, i, h) + d] += p[j] * v[kvIdx(s, b, j, g) + d];
    }
  });
  return { out, lse };
}

function refBackward(s: AttentionShape, q: Arr, k: Arr, v: Arr, dout: Arr): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { out } = refForward(s, q, k, v);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const hd = s.headDim;
  eachRow(s, q, k, (b, h, i, g, p) => {
    const qi = qIdx(s, b, i, h);
    let D = 0;
    for (let d = 0; d < hd; d++) D += dout[qi + d] * out[qi + d];
    for (let j = 0; j < p.length; j++) {
      const kj = kvIdx(s, b, j, g);
      let dp = 0;
      for (let d = 0; d < hd; d++) dp += dout[qi + d] * v[kj + d];
      const ds = p[j] * (dp - D);
      for (let d = 0; d < hd; d++) {
        dv[kj + d] += p[j] * dout[qi + d];
        dq[qi + d] += s.scale * ds * k[kj + d];
        dk[kj + d] += s.scale * ds * q[qi + d];
      }
    }
  });
  return { dq, dk, dv };
}

interface Inputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dout: Float32Array;
}

function inputs(s: AttentionShape, seed: number): Inputs {
  const nq = s.B * s.Tq * s.nHeads * s.headDim;
  const nkv = s.B * s.kvStride * s.nKvHeads * s.headDim;
  // q spread over [-2, 2] so the softmax is far from uniform.
  return { q: randomArray(nq, seed, 2), k: randomArray(nkv, seed + 1), v: randomArray(nkv, seed + 2), dout: randomArray(nq, seed + 3) };
}

const nans = (n: number): Float32Array => new Float32Array(n).fill(NaN);

/** Runs forward, and backward when `withGrad`, on the GPU. Outputs start as NaN so a missed write shows. */
async function runGpu(rt: GpuRuntime, s: AttentionShape, x: Inputs, withGrad: boolean) {
  const qCols = s.nHeads * s.headDim;
  const kvCols = s.nKvHeads * s.headDim;
  const q = rt.upload('q', [s.B * s.Tq, qCols], x.q);
  const k = rt.upload('k', [s.B * s.kvStride, kvCols], x.k);
  const v = rt.upload('v', [s.B * s.kvStride, kvCols], x.v);
  const out = rt.upload('out', [s.B * s.Tq, qCols], nans(x.q.length));
  const lse = rt.upload('lse', [s.B * s.nHeads * s.Tq], nans(s.B * s.nHeads * s.Tq));
  attentionForward(rt, { ...s, out, lse, q, k, v });
  const tensors = [q, k, v, out, lse];
  let grads: { dq: Float32Array; dk: Float32Array; dv: Float32Array } | null = null;
  if (withGrad) {
    const dout = rt.upload('dout', [s.B * s.Tq, qCols], x.dout);
    const dq = rt.upload('dq', [s.B * s.Tq, qCols], nans(x.q.length));
    const dk = rt.upload('dk', [s.B * s.kvStride, kvCols], nans(x.k.length));
    const dv = rt.upload('dv', [s.B * s.kvStride, kvCols], nans(x.v.length));
    attentionBackward(rt, { ...s, dq, dk, dv, dout, out, lse, q, k, v });
    tensors.push(dout, dq, dk, dv);
    grads = { dq: await rt.read(dq), dk: await rt.read(dk), dv: await rt.read(dv) };
  }
  const result = { out: await rt.read(out), lse: await rt.read(lse), grads };
  for (const t of tensors) rt.release(t);
  return result;
}

const CASES: [string, AttentionShape][] = [
  ['GQA B=2 T=7 nHeads=4 nKvHeads=2 headDim=8', trainShape(2, 7, 4, 2, 8)],
  ['MHA nHeads=nKvHeads=3, odd headDim=5', trainShape(2, 7, 3, 3, 5)],
  ['T=1', trainShape(2, 1, 4, 2, 8)],
  ['several query and key tiles: T=37, group of 3, headDim=5', trainShape(2, 37, 6, 2, 5)],
  ['headDim=40, MQA (nKvHeads=1), T=19', trainShape(1, 19, 4, 1, 40)],
  ['headDim=128 (the maximum), T=20', trainShape(1, 20, 2, 1, 128)],
];

describe('attention kernels', () => {
  it.each(CASES)('forward and backward match a float64 reference: %s', async (_name, s) => {
    const rt = await gpuRuntime();
    const x = inputs(s, 11);
    const got = await runGpu(rt, s, x, true);
    const ref = refForward(s, x.q, x.k, x.v);
    const grad = refBackward(s, x.q, x.k, x.v, x.dout);
    expect(maxRelError(got.out, ref.out)).toBeLessThan(TOL);
    expect(maxRelError(got.lse, ref.lse)).toBeLessThan(TOL);
    expect(maxRelError(got.grads!.dq, grad.dq)).toBeLessThan(TOL);
    expect(maxRelError(got.grads!.dk, grad.dk)).toBeLessThan(TOL);
    expect(maxRelError(got.grads!.dv, grad.dv)).toBeLessThan(TOL);
  });

  it('decode with a KV cache equals the last rows of a full causal forward', async () => {
    const rt = await gpuRuntime();
    const full = trainShape(2, 5, 4, 2, 8);
    const x = inputs(full, 21);
    const whole = await runGpu(rt, full, x, false);
    const kvStride = 9;
    for (const Tq of [1, 3]) {
      // Cache rows Tk..kvStride-1 hold NaN: reading any of them would poison the result.
      const s: AttentionShape = { ...full, Tq, Tk: 5, kvStride, qPosOffset: 5 - Tq };
      const hd = full.nHeads * full.headDim;
      const kvd = full.nKvHeads * full.headDim;
      const q = new Float32Array(full.B * Tq * hd);
      const k = nans(full.B * kvStride * kvd);
      const v = nans(full.B * kvStride * kvd);
      const wantOut: number[] = [];
      const wantLse: number[] = [];
      for (let b = 0; b < full.B; b++) {
        q.set(x.q.subarray((b * 5 + 5 - Tq) * hd, (b * 5 + 5) * hd), b * Tq * hd);
        k.set(x.k.subarray(b * 5 * kvd, (b + 1) * 5 * kvd), b * kvStride * kvd);
        v.set(x.v.subarray(b * 5 * kvd, (b + 1) * 5 * kvd), b * kvStride * kvd);
        wantOut.push(...whole.out.subarray((b * 5 + 5 - Tq) * hd, (b * 5 + 5) * hd));
        for (let h = 0; h < full.nHeads; h++) wantLse.push(...whole.lse.subarray((b * full.nHeads + h) * 5 + 5 - Tq, (b * full.nHeads + h + 1) * 5));
      }
      const got = await runGpu(rt, s, { q, k, v, dout: new Float32Array(0) }, false);
      expect(maxRelError(got.out, wantOut)).toBeLessThan(1e-6);
      expect(maxRelError(got.lse, wantLse)).toBeLessThan(1e-6);
      const ref = refForward(s, q, k, v);
      expect(maxRelError(got.out, ref.out)).toBeLessThan(TOL);
      expect(maxRelError(got.lse, ref.lse)).toBeLessThan(TOL);
    }
  });

  it.each([trainShape(2, 7, 4, 2, 8), trainShape(2, 37, 6, 2, 5)])('GQA equals MHA on repeated kv heads (T=$Tq, nHeads=$nHeads)', async (s) => {
    const rt = await gpuRuntime();
    const x = inputs(s, 31);
    const group = s.nHeads / s.nKvHeads;
    const hd = s.headDim;
    const rows = s.B * s.Tq;
    const repeat = (a: Float32Array): Float32Array => {
      const r = new Float32Array(rows * s.nHeads * hd);
      for (let row = 0; row < rows; row++) {
        for (let h = 0; h < s.nHeads; h++) r.set(a.subarray((row * s.nKvHeads + Math.floor(h / group)) * hd, (row * s.nKvHeads + Math.floor(h / group) + 1) * hd), (row * s.nHeads + h) * hd);
      }
      return r;
    };
    const gqa = await runGpu(rt, s, x, true);
    const mha = await runGpu(rt, { ...s, nKvHeads: s.nHeads }, { ...x, k: repeat(x.k), v: repeat(x.v) }, true);
    expect(maxRelError(gqa.out, mha.out)).toBeLessThan(1e-6);
    expect(maxRelError(gqa.lse, mha.lse)).toBeLessThan(1e-6);
    expect(maxRelError(gqa.grads!.dq, mha.grads!.dq)).toBeLessThan(1e-6);
    // dK, dV of a kv head = the sum over the query heads of its group in the repeated MHA.
    for (const key of ['dk', 'dv'] as const) {
      const summed = new Float64Array(gqa.grads![key].length);
      for (let row = 0; row < rows; row++) {
        for (let h = 0; h < s.nHeads; h++) {
          for (let d = 0; d < hd; d++) summed[(row * s.nKvHeads + Math.floor(h / group)) * hd + d] += mha.grads![key][(row * s.nHeads + h) * hd + d];
        }
      }
      expect(maxRelError(gqa.grads![key], summed)).toBeLessThan(TOL);
    }
  });

  it('the float64 reference backward agrees with finite differences', () => {
    const s = trainShape(1, 4, 4, 2, 3);
    const x = inputs(s, 41);
    const loss = (q: Arr, k: Arr, v: Arr): number => refForward(s, q, k, v).out.reduce((acc, o, i) => acc + o * x.dout[i], 0);
    const grad = refBackward(s, x.q, x.k, x.v, x.dout);
    const base = { q: Float64Array.from(x.q), k: Float64Array.from(x.k), v: Float64Array.from(x.v) };
    const eps = 1e-6;
    for (const [name, g] of [['q', grad.dq], ['k', grad.dk], ['v', grad.dv]] as const) {
      for (let idx = 0; idx < g.length; idx += 5) {
        const plus = { ...base, [name]: Float64Array.from(base[name]) };
        const minus = { ...base, [name]: Float64Array.from(base[name]) };
        plus[name][idx] += eps;
        minus[name][idx] -= eps;
        const fd = (loss(plus.q, plus.k, plus.v) - loss(minus.q, minus.k, minus.v)) / (2 * eps);
        expect(Math.abs(fd - g[idx])).toBeLessThan(1e-7);
      }
    }
  });

  it('validates shapes before dispatch', async () => {
    const rt = await gpuRuntime();
    const s = trainShape(2, 7, 4, 2, 8);
    const t = (label: string, n: number) => rt.tensor(label, [n]);
    const q = t('q', 2 * 7 * 32);
    const kv = t('k', 2 * 7 * 16);
    const out = t('out', 2 * 7 * 32);
    const lse = t('lse', 2 * 4 * 7);
    const before = rt.dispatchCount;
    const fwd = (over: Partial<AttentionShape> & { qT?: typeof q; outT?: typeof q }) =>
      attentionForward(rt, { ...s, ...over, out: over.outT ?? out, lse, q: over.qT ?? q, k: kv, v: t('v', 2 * 7 * 16) });
    expect(() => fwd({ qT: t('q', 2 * 7 * 31) })).toThrow(/attentionForward: q \(q\) has shape \[434\] = 434 elements, expected 448 = \[B\*Tq=14, nHeads\*headDim=32\]/);
    expect(() => fwd({ nKvHeads: 3 })).toThrow(/nHeads 4 is not divisible by nKvHeads 3/);
    expect(() => fwd({ headDim: 129 })).toThrow(/headDim 129 exceeds the kernel's maximum 128/);
    expect(() => fwd({ Tk: 8 })).toThrow(/Tk 8 exceeds kvStride 7/);
    expect(() => fwd({ outT: q })).toThrow(/output out \(q\) shares its buffer with q/);
    const grads = { dq: t('dq', 2 * 7 * 32), dk: t('dk', 2 * 7 * 16), dv: t('dv', 2 * 7 * 16), dout: t('dout', 2 * 7 * 32), out, lse, q, k: kv, v: t('v', 2 * 7 * 16) };
    expect(() => attentionBackward(rt, { ...s, ...grads, qPosOffset: 1 })).toThrow(/attentionBackward: training only/);
    expect(() => attentionBackward(rt, { ...s, ...grads, dv: grads.dk })).toThrow(/output dk \(dk\) shares its buffer with dv/);
    expect(rt.dispatchCount).toBe(before);
  });
});
