import { describe, expect, it } from 'vitest';
import { geluBackward, geluForward, swigluBackward, swigluForward } from '../../src/gpu/ops/activation';
import { gpuRuntime, maxAbsError, maxRelError, randomArray } from '../support/gpu';

// float64 references, written in the textbook forms (tanh, not the shader's sigmoid identity).
const K = Math.sqrt(2 / Math.PI);
const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(K * (x + 0.044715 * x ** 3)));
function geluGrad(x: number): number {
  const t = Math.tanh(K * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K * (1 + 3 * 0.044715 * x * x);
}
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const silu = (x: number): number => x * sigmoid(x);
const siluGrad = (x: number): number => sigmoid(x) + x * sigmoid(x) * (1 - sigmoid(x));

/** Central difference in float64: guards the analytic references against derivation slips. */
function fd(f: (x: number) => number, x: number): number {
  const h = 1e-6;
  return (f(x + h) - f(x - h)) / (2 * h);
}

describe('activation kernels', () => {
  it('gelu forward and backward match float64 references on an odd length', async () => {
    const rt = await gpuRuntime();
    const n = 1037;
    const x = randomArray(n, 1, 6);
    const dout = randomArray(n, 2);
    const tx = rt.upload('x', [n], x);
    const out = rt.tensor('out', [n]);
    geluForward(rt, { out, x: tx, n });
    expect(maxRelError(await rt.read(out), Array.from(x, gelu))).toBeLessThan(1e-5);

    for (const v of [-3, -0.5, 0.2, 2.5]) expect(Math.abs(fd(gelu, v) - geluGrad(v))).toBeLessThan(1e-8);
    const dx = rt.upload('dx', [n], randomArray(n, 3)); // garbage that must be overwritten
    geluBackward(rt, { dx, dout: rt.upload('dout', [n], dout), x: tx, n });
    expect(maxRelError(await rt.read(dx), Array.from(x, (v, i) => dout[i] * geluGrad(v)))).toBeLessThan(1e-5);
  });

  it('gelu stays finite and accurate in the tails', async () => {
    const rt = await gpuRuntime();
    const x = Float32Array.from([-1e4, -60, -12, -9, -5.5, 0, 5.5, 9, 12, 60, 1e4, -1e30, 1e30]);
    const n = x.length;
    const tx = rt.upload('x', [n], x);
    const out = rt.tensor('out', [n]);
    const dx = rt.tensor('dx', [n]);
    geluForward(rt, { out, x: tx, n });
    geluBackward(rt, { dx, dout: rt.upload('ones', [n], new Float32Array(n).fill(1)), x: tx, n });
    const got = await rt.read(out);
    const grad = await rt.read(dx);
    expect(got.every(Number.isFinite) && grad.every(Number.isFinite)).toBe(true);
    const finite = 11;
    expect(maxAbsError(got.slice(0, finite), Array.from(x.slice(0, finite), gelu))).toBeLessThan(1e-6);
    expect(maxAbsError(grad.slice(0, finite), Array.from(x.slice(0, finite), geluGrad))).toBeLessThan(1e-6);
    // +-1e30 (x^3 would overflow f32): gelu(x) = x resp. ~0, gelu'(x) = 1 resp. 0.
    expect(got[12]).toBe(Math.fround(1e30));
    expect(Math.abs(got[11])).toBeLessThan(1e-4);
    expect(Math.abs(grad[11])).toBeLessThan(1e-20);
    expect(grad[12]).toBe(1);
  });

  it('swiglu forward and backward match float64 references on an odd length', async () => {
    const rt = await gpuRuntime();
    const [M, I] = [7, 53];
    const n = M * I;
    const gate = randomArray(n, 4, 8);
    const up = randomArray(n, 5, 2);
    const dout = randomArray(n, 6);
    const tg = rt.upload('gate', [M, I], gate);
    const tu = rt.upload('up', [M, I], up);
    const out = rt.tensor('out', [M, I]);
    swigluForward(rt, { out, gate: tg, up: tu, n });
    expect(maxRelError(await rt.read(out), Array.from(gate, (g, i) => silu(g) * up[i]))).toBeLessThan(1e-5);

    for (const v of [-4, -0.3, 0.7, 5]) expect(Math.abs(fd(silu, v) - siluGrad(v))).toBeLessThan(1e-8);
    const dgate = rt.upload('dgate', [M, I], randomArray(n, 7));
    const dup = rt.upload('dup', [M, I], randomArray(n, 8));
    swigluBackward(rt, { dgate, dup, dout: rt.upload('dout', [M, I], dout), gate: tg, up: tu, n });
    expect(maxRelError(await rt.read(dgate), Array.from(gate, (g, i) => dout[i] * up[i] * siluGrad(g)))).toBeLessThan(1e-5);
    expect(maxRelError(await rt.read(dup), Array.from(gate, (g, i) => dout[i] * silu(g)))).toBeLessThan(1e-5);
  });

  it('swiglu saturates without NaN and rejects mismatched sizes', async () => {
    const rt = await gpuRuntime();
    const gate = Float32Array.from([-1e4, -200, 200, 1e4, 0]);
    const n = gate.length;
    const tg = rt.upload('gate', [n], gate);
    const tu = rt.upload('up', [n], new Float32Array(n).fill(2));
    const out = rt.tensor('out', [n]);
    const dgate = rt.tensor('dgate', [n]);
    const dup = rt.tensor('dup', [n]);
    swigluForward(rt, { out, gate: tg, up: tu, n });
    swigluBackward(rt, { dgate, dup, dout: rt.upload('ones', [n], new Float32Array(n).fill(1)), gate: tg, up: tu, n });
    const got = await rt.read(out);
    const dg = await rt.read(dgate);
    expect(got.every(Number.isFinite) && dg.every(Number.isFinite)).toBe(true);
    expect(maxAbsError(got, Array.from(gate, (g) => silu(g) * 2))).toBeLessThan(1e-6);
    expect(maxAbsError(dg, Array.from(gate, (g) => siluGrad(g) * 2))).toBeLessThan(1e-6);
    expect(() => swigluForward(rt, { out: rt.tensor('o', [n + 1]), gate: tg, up: tu, n })).toThrow(
      /swigluForward: out \(o\) has shape \[6\] \(6 elements\), expected 5 elements/,
    );
  });
});
