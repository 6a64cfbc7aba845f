import { describe, expect, it } from 'vitest';
import { type RopeScaling, ropeApply, ropeInvFreq, ropeTables } from '../../src/gpu/ops/rope';
import { gpuRuntime, maxAbsError, maxRelError, randomArray } from '../support/gpu';

/** HF's inverse frequencies, written the way modeling_rope_utils does it (vectorised torch.where form). */
function hfInvFreq(theta: number, d: number, scaling?: RopeScaling): number[] {
  const inv = Array.from({ length: d / 2 }, (_, k) => 1 / theta ** ((2 * k) / d));
  if (!scaling) return inv;
  if (scaling.type === 'linear') return inv.map((f) => f / scaling.factor);
  const { factor, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositions: old } = scaling;
  const wavelen = inv.map((f) => (2 * Math.PI) / f);
  const invLlama = inv.map((f, k) => (wavelen[k] > old / lo ? f / factor : f));
  const smooth = wavelen.map((w) => (old / w - lo) / (hi - lo));
  const smoothed = invLlama.map((f, k) => (1 - smooth[k]) * f / factor + smooth[k] * f);
  const isMedium = wavelen.map((w) => !(w < old / hi) && !(w > old / lo));
  return invLlama.map((f, k) => (isMedium[k] ? smoothed[k] : f));
}

/** HF apply_rotary_pos_emb in float64: q * cat(cos, cos) + rotate_half(q) * cat(sin, sin), rotate_half = cat(-q2, q1). */
function hfRope(x: ArrayLike<number>, rows: number, T: number, nH: number, d: number, offset: number, inv: number[]): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    const pos = (r % T) + offset;
    for (let h = 0; h < nH; h++) {
      const q = Array.from({ length: d }, (_, j) => x[r * nH * d + h * d + j]);
      const rot = q.map((_, j) => (j < d / 2 ? -q[j + d / 2] : q[j - d / 2]));
      for (let j = 0; j < d; j++) {
        const angle = pos * inv[j % (d / 2)];
        out.push(q[j] * Math.cos(angle) + rot[j] * Math.sin(angle));
      }
    }
  }
  return out;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

describe('rope', () => {
  const [B, T, nH, d, offset] = [2, 5, 3, 14, 3];
  const rows = B * T;
  const P = 11;

  it('forward matches a float64 reimplementation of HF apply_rotary_pos_emb', async () => {
    const rt = await gpuRuntime();
    const theta = 10000;
    const x = randomArray(rows * nH * d, 1);
    const { cos, sin } = ropeTables(theta, d, P);
    const tx = rt.upload('x', [rows, nH * d], x);
    ropeApply(rt, { x: tx, cos: rt.upload('cos', [P, d / 2], cos), sin: rt.upload('sin', [P, d / 2], sin), rows, T, nHeads: nH, headDim: d, positionOffset: offset });
    expect(maxRelError(await rt.read(tx), hfRope(x, rows, T, nH, d, offset, hfInvFreq(theta, d)))).toBeLessThan(1e-5);
  });

  it('inverse undoes forward, and is the adjoint (the backward pass)', async () => {
    const rt = await gpuRuntime();
    const { cos, sin } = ropeTables(500000, d, P, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 });
    const tcos = rt.upload('cos', [P, d / 2], cos);
    const tsin = rt.upload('sin', [P, d / 2], sin);
    const args = { cos: tcos, sin: tsin, rows, T, nHeads: nH, headDim: d, positionOffset: offset };
    const x = randomArray(rows * nH * d, 2);
    const dy = randomArray(rows * nH * d, 3);
    const tx = rt.upload('x', [rows, nH * d], x);
    ropeApply(rt, { ...args, x: tx });
    const y = await rt.read(tx);
    ropeApply(rt, { ...args, x: tx, inverse: true });
    expect(maxAbsError(await rt.read(tx), x)).toBeLessThan(1e-6);
    // y = R x, so dL/dx = R^T dy; check against the float64 transpose and via <R x, dy> = <x, R^T dy>.
    const tdy = rt.upload('dy', [rows, nH * d], dy);
    ropeApply(rt, { ...args, x: tdy, inverse: true });
    const dx = await rt.read(tdy);
    const inv = ropeInvFreq(500000, d, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 });
    const half = d / 2;
    const want: number[] = [];
    for (let r = 0; r < rows; r++) {
      for (let h = 0; h < nH; h++) {
        const b = r * nH * d + h * d;
        const pos = (r % T) + offset;
        const head = new Array<number>(d);
        for (let i = 0; i < half; i++) {
          const [c, s] = [Math.cos(pos * inv[i]), Math.sin(pos * inv[i])];
          head[i] = dy[b + i] * c + dy[b + i + half] * s;
          head[i + half] = -dy[b + i] * s + dy[b + i + half] * c;
        }
        want.push(...head);
      }
    }
    expect(maxRelError(dx, want)).toBeLessThan(1e-5);
    // Scaled by sum |y_i dy_i|, the dot product's condition: the dot itself may nearly cancel.
    const scale = dot(Array.from(y, Math.abs), Array.from(dy, Math.abs));
    expect(Math.abs(dot(y, dy) - dot(x, dx)) / scale).toBeLessThan(1e-6);
  });

  it('tables: llama3 and linear scaling follow HF, default table is cos/sin(pos * theta^(-2i/d))', () => {
    const llama32: RopeScaling = { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 };
    const dim = 64;
    const want = hfInvFreq(500000, dim, llama32);
    const got = ropeInvFreq(500000, dim, llama32);
    expect(maxRelError(got, want)).toBeLessThan(1e-15);
    // All three regimes occur at these settings: unchanged, interpolated, divided by factor.
    const plain = hfInvFreq(500000, dim);
    const ratio = Array.from(got, (f, k) => plain[k] / f);
    expect(ratio[0]).toBe(1);
    expect(ratio[dim / 2 - 1]).toBeCloseTo(32, 12);
    expect(ratio.some((q) => q > 1.01 && q < 31.9)).toBe(true);

    const positions = 4099;
    const t = ropeTables(500000, dim, positions, llama32);
    for (const p of [0, 1, 17, 4098]) {
      for (const k of [0, 9, 20, 31]) {
        expect(Math.abs(t.cos[p * (dim / 2) + k] - Math.cos(p * want[k]))).toBeLessThan(1e-7);
        expect(Math.abs(t.sin[p * (dim / 2) + k] - Math.sin(p * want[k]))).toBeLessThan(1e-7);
      }
    }
    const lin = ropeTables(10000, 8, 50, { type: 'linear', factor: 4 });
    expect(lin.cos[49 * 4 + 1]).toBeCloseTo(Math.cos((49 / 4) * 10000 ** (-2 / 8)), 7);
    const def = ropeTables(10000, 8, 50);
    expect(def.sin[7 * 4 + 3]).toBeCloseTo(Math.sin(7 * 10000 ** (-6 / 8)), 7);
  });

  it('rejects positions past the table and odd head sizes', async () => {
    const rt = await gpuRuntime();
    const { cos, sin } = ropeTables(10000, d, P);
    const args = { x: rt.tensor('x', [rows, nH * d]), cos: rt.upload('cos', [P, d / 2], cos), sin: rt.upload('sin', [P, d / 2], sin), rows, T, nHeads: nH, headDim: d };
    expect(() => ropeApply(rt, { ...args, positionOffset: 7 })).toThrow(/ropeApply: position 11 .* past the 11 positions/);
    expect(() => ropeApply(rt, { ...args, x: rt.tensor('x2', [rows, nH * d + 1]), positionOffset: 0 })).toThrow(/ropeApply: x \(x2\) has shape \[10, 43\], expected \[10, 42\]/);
    expect(() => ropeTables(10000, 7, 4)).toThrow(/even/);
    expect(() => ropeTables(10000, d, 4, { type: 'llama3', factor: 8 })).toThrow(/llama3 scaling needs lowFreqFactor/);
  });
});
