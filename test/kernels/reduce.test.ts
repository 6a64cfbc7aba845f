import { describe, expect, it } from 'vitest';
import { sumInto, sumSquaresInto } from '../../src/gpu/ops/reduce';
import { gpuRuntime, randomArray } from '../support/gpu';

const sum = (x: ArrayLike<number>, f: (v: number) => number = (v) => v): number => {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += f(x[i]);
  return s;
};

describe('reduce', () => {
  it('sumInto writes and accumulates scale * sum over several blocks per thread', async () => {
    const rt = await gpuRuntime();
    const n = 200003; // > 65536: every thread walks several 256-element blocks
    const x = randomArray(n, 1);
    const tx = rt.upload('x', [n], x);
    const out = rt.upload('out', [3], Float32Array.from([7, 7, 7]));
    sumInto(rt, { out, index: 1, x: tx, n, scale: 0.5 });
    sumInto(rt, { out, index: 2, x: tx, n, scale: -2, accumulate: true });
    const got = await rt.read(out);
    // The sum of random signs nearly cancels: measure the error against sum |x|, the summation's condition.
    const cond = sum(x, Math.abs);
    expect(got[0]).toBe(7);
    expect(Math.abs(got[1] - 0.5 * sum(x)) / (0.5 * cond)).toBeLessThan(1e-6);
    expect(Math.abs(got[2] - (7 - 2 * sum(x))) / (2 * cond)).toBeLessThan(1e-6);
  });

  it('sumInto below 64Ki elements (64 threads) also walks several blocks per thread', async () => {
    const rt = await gpuRuntime();
    const n = 65535; // 64 threads x 256-element blocks: every thread walks 4 blocks, the last one short
    const x = randomArray(n, 4);
    const out = rt.tensor('out', [1]);
    sumInto(rt, { out, index: 0, x: rt.upload('x', [n], x), n, scale: 3 });
    const got = await rt.read(out);
    expect(Math.abs(got[0] - 3 * sum(x)) / (3 * sum(x, Math.abs))).toBeLessThan(1e-6);
  });

  it('sumSquaresInto accumulates over tensors like a global grad norm; n = 0 writes 0', async () => {
    const rt = await gpuRuntime();
    const a = randomArray(1037, 2, 3);
    const b = randomArray(45, 3, 0.01);
    const stats = rt.upload('stats', [2], Float32Array.from([123, 456]));
    sumSquaresInto(rt, { out: stats, index: 0, x: rt.upload('a', [1037], a), n: 1037, accumulate: false });
    sumSquaresInto(rt, { out: stats, index: 0, x: rt.upload('b', [5, 9], b), n: 45, accumulate: true });
    sumSquaresInto(rt, { out: stats, index: 1, x: rt.tensor('empty', [0]), n: 0, accumulate: false });
    const got = await rt.read(stats);
    const want = sum(a, (v) => v * v) + sum(b, (v) => v * v);
    expect(Math.abs(got[0] - want) / want).toBeLessThan(1e-6);
    expect(got[1]).toBe(0);
    expect(() => sumInto(rt, { out: stats, index: 2, x: rt.tensor('x', [4]), n: 4 })).toThrow(/sumInto: out \(stats\) holds 2 elements, needs at least 3/);
  });
});
