import { describe, expect, it } from 'vitest';
import { copyColumns } from '../../src/gpu/ops/copy';
import { gpuRuntime, randomArray } from '../support/gpu';

describe('copyColumns', () => {
  it('splits a fused qkv [M, 3C] and joins gradients back with accumulation', async () => {
    const rt = await gpuRuntime();
    const [M, C] = [7, 37];
    const qkv = randomArray(M * 3 * C, 1);
    const tqkv = rt.upload('qkv', [M, 3 * C], qkv);
    const parts = [0, 1, 2].map((i) => rt.tensor(`part${i}`, [M, C]));
    parts.forEach((dst, i) => copyColumns(rt, { dst, src: tqkv, rows: M, cols: C, srcStride: 3 * C, srcOffset: i * C, dstStride: C, dstOffset: 0 }));
    for (let i = 0; i < 3; i++) {
      const got = await rt.read(parts[i]);
      const want = Array.from({ length: M * C }, (_, j) => qkv[Math.floor(j / C) * 3 * C + i * C + (j % C)]);
      expect(Array.from(got)).toEqual(want);
    }
    // Join: dqkv already holds something (another path's gradient); the parts add into their column blocks.
    const base = randomArray(M * 3 * C, 2);
    const dqkv = rt.upload('dqkv', [M, 3 * C], base);
    parts.forEach((src, i) => copyColumns(rt, { dst: dqkv, src, rows: M, cols: C, srcStride: C, srcOffset: 0, dstStride: 3 * C, dstOffset: i * C, accumulate: true }));
    expect(Array.from(await rt.read(dqkv))).toEqual(Array.from(base, (b, j) => Math.fround(b + qkv[j])));
  });

  it('rejects blocks that overrun a row or the tensor', async () => {
    const rt = await gpuRuntime();
    const src = rt.tensor('src', [4, 10]);
    const dst = rt.tensor('dst', [4, 5]);
    expect(() => copyColumns(rt, { dst, src, rows: 4, cols: 5, srcStride: 10, srcOffset: 6, dstStride: 5, dstOffset: 0 })).toThrow(/src offset 6 \+ cols 5 exceeds its row stride 10/);
    expect(() => copyColumns(rt, { dst, src, rows: 5, cols: 5, srcStride: 10, srcOffset: 5, dstStride: 5, dstOffset: 0 })).toThrow(/copyColumns: src \(src\) has shape \[4, 10\] \(40 elements\).*needs 50/);
  });
});
