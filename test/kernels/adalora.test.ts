/**
 * AdaLoRA RankAllocator kernels against a float64 re-implementation of PEFT's update_ipt, _element_score,
 * _combine_ipt and masked_fill_, on odd shapes over several EMA steps.
 */
import { expect, it } from 'vitest';
import { adaloraImportance, adaloraMaskCore, adaloraTripletScores } from '../../src/gpu/ops/adalora';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';

/** PEFT update_ipt in float64 on a [2, n] state (Ī then Ū). */
function emaRef(state: Float64Array, theta: ArrayLike<number>, grad: ArrayLike<number>, b1: number, b2: number): void {
  const n = theta.length;
  for (let i = 0; i < n; i++) {
    const ipt = Math.abs(theta[i] * grad[i]);
    state[i] = b1 * state[i] + (1 - b1) * ipt;
    state[n + i] = b2 * state[n + i] + (1 - b2) * Math.abs(ipt - state[i]);
  }
}

it('importance EMAs and triplet scores match float64 over several steps', async () => {
  const rt = await gpuRuntime();
  const k = 5;
  const inF = 301; // > 256 entries per row: several workgroups in ipt_ema and strided lanes in triplet_score
  const outF = 29;
  const b1 = 0.85;
  const b2 = 0.7;
  const shapes = { A: [k, inF], E: [k], B: [outF, k] } as const;
  const names = ['A', 'E', 'B'] as const;
  const theta = Object.fromEntries(names.map((n, i) => [n, rt.tensor(`theta ${n}`, shapes[n])])) as Record<(typeof names)[number], ReturnType<typeof rt.tensor>>;
  const grad = Object.fromEntries(names.map((n) => [n, rt.tensor(`grad ${n}`, shapes[n])])) as typeof theta;
  const state = Object.fromEntries(names.map((n) => [n, rt.tensor(`state ${n}`, [2, shapes[n].reduce((a, b) => a * b, 1)])])) as typeof theta;
  const ref = Object.fromEntries(names.map((n) => [n, new Float64Array(2 * shapes[n].reduce((a, b) => a * b, 1))])) as Record<(typeof names)[number], Float64Array>;
  const offset = 3;
  const scores = rt.tensor('scores', [offset + k + 2]);
  let worst = 0;
  for (let step = 0; step < 4; step++) {
    names.forEach((n, i) => {
      const size = shapes[n].reduce((a, b) => a * b, 1);
      const th = randomArray(size, 100 * step + i, 0.5);
      const g = randomArray(size, 100 * step + i + 50, 2);
      rt.write(theta[n], th);
      rt.write(grad[n], g);
      emaRef(ref[n], th, g, b1, b2);
      adaloraImportance(rt, { state: state[n], theta: theta[n], grad: grad[n], beta1: b1, beta2: b2 });
    });
    for (const n of names) {
      const err = maxRelError(await rt.read(state[n]), ref[n]);
      worst = Math.max(worst, err);
      expect(err, `${n} after step ${step}`).toBeLessThan(1e-5);
    }
  }
  adaloraTripletScores(rt, { scores, offset, stateA: state.A, stateE: state.E, stateB: state.B, k, inF, outF });
  const got = (await rt.read(scores)).subarray(offset, offset + k);
  const nA = k * inF;
  const nB = outF * k;
  const expected = Array.from({ length: k }, (_, j) => {
    let a = 0;
    for (let i = 0; i < inF; i++) a += ref.A[j * inF + i] * ref.A[nA + j * inF + i];
    let b = 0;
    for (let o = 0; o < outF; o++) b += ref.B[o * k + j] * ref.B[nB + o * k + j];
    return ref.E[j] * ref.E[k + j] + (a / inF + b / outF);
  });
  const scoreErr = maxRelError(got, expected);
  console.log(`adalora kernels vs float64: EMA states ${worst.toExponential(2)}, triplet scores ${scoreErr.toExponential(2)}`);
  expect(scoreErr).toBeLessThan(1e-5);
  for (const t of [...Object.values(theta), ...Object.values(grad), ...Object.values(state), scores]) rt.release(t);
});

it('masks exactly the entries whose keep flag is 0', async () => {
  const rt = await gpuRuntime();
  const k = 67; // two workgroups of 64
  const E0 = randomArray(k, 9);
  const E = rt.upload('E', [k], E0);
  const offset = 4;
  const keepHost = new Float32Array(offset + k);
  for (let j = 0; j < k; j++) keepHost[offset + j] = j % 3 === 0 ? 0 : 1;
  keepHost[0] = 0; // outside this layer's range: never read
  const keep = rt.upload('keep', [offset + k], keepHost);
  adaloraMaskCore(rt, { E, keep, offset, k });
  const got = await rt.read(E);
  expect(Array.from(got)).toEqual(Array.from(E0, (v, j) => (j % 3 === 0 ? 0 : v)));
  expect(() => adaloraMaskCore(rt, { E, keep, offset: offset + 1, k })).toThrow(/keep/);
  rt.release(E);
  rt.release(keep);
});
