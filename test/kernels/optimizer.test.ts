import { describe, expect, it } from 'vitest';
import { adamw, clipScale } from '../../src/gpu/ops/optimizer';
import { sumSquaresInto } from '../../src/gpu/ops/reduce';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';

interface Hyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** torch.optim.AdamW in float64, written as in its documentation. */
function adamwRef(p: number[], m: number[], v: number[], g: ArrayLike<number>, t: number, h: Hyper): void {
  for (let i = 0; i < p.length; i++) {
    p[i] -= h.lr * h.weightDecay * p[i];
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * g[i];
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * g[i] * g[i];
    const mHat = m[i] / (1 - h.beta1 ** t);
    const vHat = v[i] / (1 - h.beta2 ** t);
    p[i] -= (h.lr * mHat) / (Math.sqrt(vHat) + h.eps);
  }
}

/** clip_grad_norm_ in float64: (factor, norm). */
function clipRef(sumSq: number, maxNorm: number): [number, number] {
  const norm = Math.sqrt(sumSq);
  return [maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1, norm];
}

describe('optimizer', () => {
  it('clipScale: factor below, above and without a max norm', async () => {
    const rt = await gpuRuntime();
    for (const [sumSq, maxNorm] of [[25, 1], [25, 10], [25, 0], [0, 1]] as const) {
      const stats = rt.upload('stats', [2], Float32Array.from([sumSq, -1]));
      clipScale(rt, { stats, maxNorm });
      const got = await rt.read(stats);
      const [factor, norm] = clipRef(sumSq, maxNorm);
      expect(Math.abs(got[0] - factor)).toBeLessThan(1e-7);
      expect(got[1]).toBe(norm);
    }
  });

  for (const maxNorm of [0.5, 1e3]) {
    it(`3 AdamW steps with global-norm clipping (maxNorm ${maxNorm}) match float64 torch semantics`, async () => {
      const rt = await gpuRuntime();
      const h: Hyper = { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };
      const sizes = [1037, 45];
      const p0 = sizes.map((n, k) => randomArray(n, 10 + k));
      const params = sizes.map((n, k) => ({
        value: rt.upload(`p${k}`, [n], p0[k]),
        grad: rt.tensor(`g${k}`, [n]),
        m: rt.tensor(`m${k}`, [n]),
        v: rt.tensor(`v${k}`, [n]),
      }));
      const ref = p0.map((p) => ({ p: Array.from(p), m: new Array<number>(p.length).fill(0), v: new Array<number>(p.length).fill(0) }));
      const stats = rt.tensor('stats', [2]);
      for (let t = 1; t <= 3; t++) {
        const grads = sizes.map((n, k) => randomArray(n, 100 * t + k, k === 0 ? 0.1 : 2));
        params.forEach((q, k) => rt.write(q.grad, grads[k]));
        params.forEach((q, k) => sumSquaresInto(rt, { out: stats, index: 0, x: q.grad, n: sizes[k], accumulate: k > 0 }));
        clipScale(rt, { stats, maxNorm });
        params.forEach((q, k) => adamw(rt, { param: q.value, grad: q.grad, m: q.m, v: q.v, n: sizes[k], ...h, step: t, gradScale: stats }));
        const [factor] = clipRef(grads.reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0), maxNorm);
        ref.forEach((r, k) => adamwRef(r.p, r.m, r.v, Array.from(grads[k], (x) => x * factor), t, h));
        // The step's writes must land before the next step's grads are written: flush and wait.
        await rt.idle();
      }
      for (let k = 0; k < sizes.length; k++) {
        const got = await rt.read(params[k].value);
        // Compare the updates, not the parameters: that is where an error would hide behind |p| ~ 1.
        expect(maxRelError(got.map((x, i) => x - p0[k][i]), ref[k].p.map((x, i) => x - p0[k][i]))).toBeLessThan(1e-5);
        expect(maxRelError(await rt.read(params[k].m), ref[k].m)).toBeLessThan(1e-5);
        expect(maxRelError(await rt.read(params[k].v), ref[k].v)).toBeLessThan(1e-5);
      }
    });
  }

  it('adamw without gradScale, and shape errors', async () => {
    const rt = await gpuRuntime();
    const h: Hyper = { lr: 1e-3, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0 };
    const n = 301;
    const p0 = randomArray(n, 5);
    const g = randomArray(n, 6, 1e-3);
    const param = rt.upload('p', [7, 43], p0);
    const m = rt.tensor('m', [7, 43]);
    const v = rt.tensor('v', [7, 43]);
    adamw(rt, { param, grad: rt.upload('g', [7, 43], g), m, v, n, ...h, step: 1 });
    const r = { p: Array.from(p0), m: new Array<number>(n).fill(0), v: new Array<number>(n).fill(0) };
    adamwRef(r.p, r.m, r.v, g, 1, h);
    const got = await rt.read(param);
    // 1e-4: with lr = 1e-3 the update is ~1e-3, and the f32 parameter (|p| ~ 1) rounds to ~6e-8 absolute.
    expect(maxRelError(got.map((x, i) => x - p0[i]), r.p.map((x, i) => x - p0[i]))).toBeLessThan(1e-4);
    expect(() => adamw(rt, { param, grad: rt.tensor('g2', [43, 7]), m, v, n, ...h, step: 1 })).toThrow(/adamw: grad \(g2\) has shape \[43, 7\], expected \[7, 43\]/);
    expect(() => adamw(rt, { param, grad: m, m, v, n, ...h, step: 0 })).toThrow(/1-based/);
  });
});
