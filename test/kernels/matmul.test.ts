import { describe, expect, it } from 'vitest';
import { type MatmulArgs, matmul, matmulNaive } from '../../src/gpu/ops/matmul';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';

interface Case {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
  accumulate?: boolean;
  alpha?: number;
}

/** float64 reference of out = (acc ? out0 : 0) + alpha * op(a) op(b) + bias. */
function reference(c: Case, a: Float32Array, b: Float32Array, bias: Float32Array | null, out0: Float32Array): Float64Array {
  const { M, N, K } = c;
  const alpha = c.alpha ?? 1;
  const r = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const av = c.transA ? a[k * M + m] : a[m * K + k];
        const bv = c.transB ? b[n * K + k] : b[k * N + n];
        s += av * bv;
      }
      r[m * N + n] = (c.accumulate ? out0[m * N + n] : 0) + alpha * s + (bias ? bias[n] : 0);
    }
  }
  return r;
}

type Op = (rt: GpuRuntime, args: MatmulArgs) => void;

async function check(op: Op, c: Case, seed: number): Promise<number> {
  const rt = await gpuRuntime();
  const { M, N, K } = c;
  const a = randomArray(M * K, seed);
  const b = randomArray(K * N, seed + 1);
  const bias = c.bias ? randomArray(N, seed + 2) : null;
  // Non-zero initial contents also prove that accumulate = false overwrites.
  const out0 = randomArray(M * N, seed + 3);
  const ta = rt.upload('a', c.transA ? [K, M] : [M, K], a);
  const tb = rt.upload('b', c.transB ? [N, K] : [K, N], b);
  const tbias = bias ? rt.upload('bias', [N], bias) : undefined;
  const tout = rt.upload('out', [M, N], out0);
  op(rt, { out: tout, a: ta, b: tb, bias: tbias, M, N, K, transA: c.transA, transB: c.transB, accumulate: c.accumulate, alpha: c.alpha });
  const got = await rt.read(tout);
  for (const t of [ta, tb, tout]) rt.release(t);
  if (tbias) rt.release(tbias);
  return maxRelError(got, reference(c, a, b, bias, out0));
}

const TRANS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

describe('matmul (tiled)', () => {
  for (const [transA, transB] of TRANS) {
    it(`matches float64 on 37x29x53 transA=${transA} transB=${transB}`, async () => {
      expect(await check(matmul, { M: 37, N: 29, K: 53, transA, transB }, 10)).toBeLessThan(1e-5);
    });
    it(`crosses tile edges on 131x70x45 transA=${transA} transB=${transB} with bias, alpha, accumulate`, async () => {
      const c = { M: 131, N: 70, K: 45, transA, transB, bias: true, alpha: -0.75, accumulate: true };
      expect(await check(matmul, c, 20)).toBeLessThan(1e-5);
    });
  }

  it('handles M = 1 (rows kernel) with bias, as the LM head does while decoding', async () => {
    expect(await check(matmul, { M: 1, N: 203, K: 37, transB: true, bias: true }, 30)).toBeLessThan(1e-5);
  });

  for (const [transA, transB] of TRANS) {
    it(`handles M = 4 and M = 7 (rows kernel) transA=${transA} transB=${transB}, accumulate, alpha`, async () => {
      expect(await check(matmul, { M: 4, N: 45, K: 29, transA, transB, accumulate: true, alpha: 3 }, 31)).toBeLessThan(1e-5);
      expect(await check(matmul, { M: 7, N: 33, K: 70, transA, transB, bias: true }, 32)).toBeLessThan(1e-5);
    });
  }

  it('handles 20 rows (one partly filled tile) transposed A, accumulate', async () => {
    expect(await check(matmul, { M: 20, N: 67, K: 19, transA: true, accumulate: true }, 40)).toBeLessThan(1e-5);
  });

  it('handles K = 1 (outer product) and N = 1', async () => {
    expect(await check(matmul, { M: 37, N: 29, K: 1, alpha: 2 }, 50)).toBeLessThan(1e-5);
    expect(await check(matmul, { M: 70, N: 1, K: 33, transA: true, transB: true }, 60)).toBeLessThan(1e-5);
  });

  it('accumulates alpha * a b into existing contents', async () => {
    expect(await check(matmul, { M: 65, N: 17, K: 16, accumulate: true, alpha: 0.5 }, 70)).toBeLessThan(1e-5);
  });
});

describe('matmulNaive', () => {
  for (const [transA, transB] of TRANS) {
    it(`matches float64 on 37x29x53 transA=${transA} transB=${transB} with bias, alpha, accumulate`, async () => {
      const c = { M: 37, N: 29, K: 53, transA, transB, bias: true, alpha: 1.5, accumulate: transA };
      expect(await check(matmulNaive, c, 80)).toBeLessThan(1e-5);
    });
  }
  it('handles M = 1 and K = 1', async () => {
    expect(await check(matmulNaive, { M: 1, N: 29, K: 1 }, 90)).toBeLessThan(1e-5);
  });
});

describe('matmul validation', () => {
  it('rejects inconsistent shapes, bias length, aliasing and bad dimensions', async () => {
    const rt = await gpuRuntime();
    const a = rt.tensor('x', [4, 3]);
    const w = rt.tensor('w', [5, 3]);
    const out = rt.tensor('y', [4, 5]);
    const base = { out, a, b: w, M: 4, N: 5, K: 3, transB: true };
    expect(() => matmul(rt, base)).not.toThrow();
    expect(() => matmul(rt, { ...base, transB: false })).toThrow(/matmul: b \(w\) has shape \[5, 3\], expected \[3, 5\]/);
    expect(() => matmul(rt, { ...base, transA: true })).toThrow(/matmul: a \(transA\) \(x\) has shape \[4, 3\], expected \[3, 4\]/);
    expect(() => matmul(rt, { ...base, K: 4 })).toThrow(/matmul: a \(x\) has shape \[4, 3\], expected \[4, 4\]/);
    expect(() => matmul(rt, { ...base, out: rt.tensor('y2', [5, 4]) })).toThrow(/matmul: out \(y2\) has shape \[5, 4\], expected \[4, 5\]/);
    expect(() => matmul(rt, { ...base, bias: rt.tensor('b', [4]) })).toThrow(/matmul: bias \(b\) has shape \[4\], expected \[5\]/);
    expect(() => matmulNaive(rt, { ...base, M: 0 })).toThrow(/matmulNaive: M = 0 must be a positive integer/);
    expect(() => matmul(rt, { ...base, alpha: Number.NaN })).toThrow(/alpha/);
    const sq = rt.tensor('sq', [4, 4]);
    expect(() => matmul(rt, { out: sq, a: sq, b: rt.tensor('i', [4, 4]), M: 4, N: 4, K: 4 })).toThrow(/matmul: out \(sq\) must not be the same buffer as a/);
    // Leading dimensions flatten: a [2, 2, 3] activation is a [4, 3] matrix.
    expect(() => matmul(rt, { ...base, a: rt.tensor('x3', [2, 2, 3]) })).not.toThrow();
    expect(() => matmul(rt, { ...base, a: rt.tensor('x3b', [2, 3, 2]) })).toThrow(/a \(x3b\) has shape \[2, 3, 2\], expected \[4, 3\]/);
    // The grid limit: 65535 row tiles of 64.
    const tall = { ...base, M: 65536 * 64 };
    expect(() => matmul(rt, { ...tall, a: { ...a, shape: [tall.M, 3] }, out: { ...out, shape: [tall.M, 5] } })).toThrow(/workgroups/);
    await rt.idle();
  });
});
