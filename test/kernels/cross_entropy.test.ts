import { describe, expect, it } from 'vitest';
import { IGNORE_INDEX, crossEntropy, validateTargets } from '../../src/gpu/ops/cross_entropy';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';

/** float64 reference: per-row loss and (softmax - onehot) * scale, zeros for ignored rows. */
function ceRef(logits: ArrayLike<number>, targets: Int32Array, M: number, V: number, scale: number): { losses: number[]; grad: number[] } {
  const losses: number[] = [];
  const grad: number[] = [];
  for (let m = 0; m < M; m++) {
    const t = targets[m];
    if (t === IGNORE_INDEX) {
      losses.push(0);
      for (let j = 0; j < V; j++) grad.push(0);
      continue;
    }
    let max = -Infinity;
    for (let j = 0; j < V; j++) max = Math.max(max, logits[m * V + j]);
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(logits[m * V + j] - max);
    losses.push(max + Math.log(sum) - logits[m * V + t]);
    for (let j = 0; j < V; j++) grad.push((Math.exp(logits[m * V + j] - max) / sum - (j === t ? 1 : 0)) * scale);
  }
  return { losses, grad };
}

describe('cross entropy', () => {
  it('losses and dlogits match float64 with ignored rows; in-place and loss-only agree', async () => {
    const rt = await gpuRuntime();
    const [M, V] = [7, 1001];
    const logits = randomArray(M * V, 1, 4);
    const targets = Int32Array.from([3, 1000, IGNORE_INDEX, 0, 517, IGNORE_INDEX, 998]);
    const scale = 1 / 5;
    const ref = ceRef(logits, targets, M, V, scale);
    const tLogits = rt.upload('logits', [M, V], logits);
    const tTargets = rt.upload('targets', [M], targets);
    const losses = rt.tensor('losses', [M]);
    const dlogits = rt.upload('dlogits', [M, V], randomArray(M * V, 2)); // stale values must be overwritten
    crossEntropy(rt, { losses, dlogits, logits: tLogits, targets: tTargets, M, V, gradScale: scale });
    const gotLoss = await rt.read(losses);
    const gotGrad = await rt.read(dlogits);
    expect(maxRelError(gotLoss, ref.losses)).toBeLessThan(1e-5);
    expect(maxRelError(gotGrad, ref.grad)).toBeLessThan(1e-5);
    expect(gotLoss[2]).toBe(0);
    expect(gotGrad.slice(5 * V, 6 * V).every((v) => v === 0)).toBe(true);

    const lossOnly = rt.tensor('lossOnly', [M]);
    crossEntropy(rt, { losses: lossOnly, logits: tLogits, targets: tTargets, M, V, gradScale: scale });
    expect(Array.from(await rt.read(lossOnly))).toEqual(Array.from(gotLoss));

    const inPlace = rt.upload('inplace', [M, V], logits);
    const lossIp = rt.tensor('lossIp', [M]);
    crossEntropy(rt, { losses: lossIp, dlogits: inPlace, logits: inPlace, targets: tTargets, M, V, gradScale: scale });
    expect(Array.from(await rt.read(lossIp))).toEqual(Array.from(gotLoss));
    expect(Array.from(await rt.read(inPlace))).toEqual(Array.from(gotGrad));
  });

  // Row layouts (src/gpu/ops/rows.ts): V <= 256 one thread per row, barrier-free, 64 rows per workgroup; V = 300
  // two threads per row, 32 rows per workgroup; V = 5000 32 threads per row, 2 rows per workgroup; all with a
  // ragged last workgroup, ignored and invalid targets, targets in the first and last columns.
  for (const [M, V] of [[130, 64], [70, 300], [5, 5000], [3, 1]] as const) {
    it(`several rows per workgroup match float64; in-place and loss-only agree (M=${M}, V=${V})`, async () => {
      const rt = await gpuRuntime();
      const logits = randomArray(M * V, 6 + V, 5);
      const targets = Int32Array.from({ length: M }, (_, m) => (m % 11 === 4 ? IGNORE_INDEX : m % 3 === 0 ? V - 1 : (m * 7919) % V));
      targets[M - 1] = 0;
      const scale = 1 / M;
      const ref = ceRef(logits, targets, M, V, scale);
      const tLogits = rt.upload('logits', [M, V], logits);
      const tTargets = rt.upload('targets', [M], targets);
      const losses = rt.upload('losses', [M], randomArray(M, 7));
      const dlogits = rt.upload('dlogits', [M, V], randomArray(M * V, 8));
      crossEntropy(rt, { losses, dlogits, logits: tLogits, targets: tTargets, M, V, gradScale: scale });
      const gotLoss = await rt.read(losses);
      const gotGrad = await rt.read(dlogits);
      expect(maxRelError(gotLoss, ref.losses)).toBeLessThan(1e-5);
      expect(maxRelError(gotGrad, ref.grad)).toBeLessThan(1e-5);

      const lossOnly = rt.tensor('lossOnly', [M]);
      crossEntropy(rt, { losses: lossOnly, logits: tLogits, targets: tTargets, M, V, gradScale: scale });
      expect(Array.from(await rt.read(lossOnly))).toEqual(Array.from(gotLoss));
      const inPlace = rt.upload('inplace', [M, V], logits);
      const lossIp = rt.tensor('lossIp', [M]);
      crossEntropy(rt, { losses: lossIp, dlogits: inPlace, logits: inPlace, targets: tTargets, M, V, gradScale: scale });
      expect(Array.from(await rt.read(lossIp))).toEqual(Array.from(gotLoss));
      expect(Array.from(await rt.read(inPlace))).toEqual(Array.from(gotGrad));

      // An out-of-range target: NaN loss and a zero gradient row in every layout.
      const bad = Int32Array.from(targets);
      bad[1] = V;
      const badLoss = rt.tensor('badLoss', [M]);
      const badGrad = rt.upload('badGrad', [M, V], randomArray(M * V, 9));
      crossEntropy(rt, { losses: badLoss, dlogits: badGrad, logits: tLogits, targets: rt.upload('bad', [M], bad), M, V, gradScale: scale });
      const bl = await rt.read(badLoss);
      const bg = await rt.read(badGrad);
      expect(Number.isNaN(bl[1])).toBe(true);
      expect(bg.slice(V, 2 * V).every((v) => v === 0)).toBe(true);
      expect(Array.from(bl.slice(2))).toEqual(Array.from(gotLoss.slice(2)));
    });
  }

  it('is stable for large, widely spread logits', async () => {
    const rt = await gpuRuntime();
    const [M, V] = [3, 777];
    const logits = randomArray(M * V, 3, 60).map((v, i) => v + (i < V ? 1000 : i < 2 * V ? -1000 : 0));
    const targets = Int32Array.from([5, 776, 100]);
    const ref = ceRef(logits, targets, M, V, 1);
    const losses = rt.tensor('losses', [M]);
    const dlogits = rt.tensor('dlogits', [M, V]);
    crossEntropy(rt, { losses, dlogits, logits: rt.upload('logits', [M, V], logits), targets: rt.upload('t', [M], targets), M, V, gradScale: 1 });
    const got = await rt.read(losses);
    const grad = await rt.read(dlogits);
    expect(got.every(Number.isFinite) && grad.every(Number.isFinite)).toBe(true);
    // Loss = (max + log sum) - logit_t with |logits| ~ 1000: f32 rounding of ~1000 is 6e-5 absolute.
    expect(Math.max(...Array.from(got, (v, i) => Math.abs(v - ref.losses[i])))).toBeLessThan(3e-4);
    expect(maxRelError(grad, ref.grad)).toBeLessThan(1e-5);
  });

  it('handles a Qwen-sized vocabulary (V = 151937)', async () => {
    const rt = await gpuRuntime();
    const [M, V] = [2, 151937];
    const logits = randomArray(M * V, 4, 8);
    const targets = Int32Array.from([151936, 12345]);
    const ref = ceRef(logits, targets, M, V, 0.5);
    const losses = rt.tensor('losses', [M]);
    const dlogits = rt.tensor('dlogits', [M, V]);
    crossEntropy(rt, { losses, dlogits, logits: rt.upload('logits', [M, V], logits), targets: rt.upload('t', [M], targets), M, V, gradScale: 0.5 });
    expect(maxRelError(await rt.read(losses), ref.losses)).toBeLessThan(1e-5);
    expect(maxRelError(await rt.read(dlogits), ref.grad)).toBeLessThan(1e-5);
  });

  it('flags invalid targets: NaN loss and zero gradient on the GPU, an error on the host', async () => {
    const rt = await gpuRuntime();
    const [M, V] = [2, 33];
    const targets = Int32Array.from([33, 4]);
    const losses = rt.tensor('losses', [M]);
    const dlogits = rt.tensor('dlogits', [M, V]);
    crossEntropy(rt, { losses, dlogits, logits: rt.upload('logits', [M, V], randomArray(M * V, 5)), targets: rt.upload('t', [M], targets), M, V, gradScale: 1 });
    const got = await rt.read(losses);
    expect(Number.isNaN(got[0]) && Number.isFinite(got[1])).toBe(true);
    expect((await rt.read(dlogits)).slice(0, V).every((v) => v === 0)).toBe(true);
    expect(() => validateTargets(targets, V)).toThrow(/33 at index 0 is neither -100/);
    expect(() => crossEntropy(rt, { losses, logits: rt.tensor('l', [M, V + 1]), targets: rt.upload('t2', [M], targets), M, V, gradScale: 1 })).toThrow(
      /crossEntropy: logits \(l\) has shape \[2, 34\], expected \[2, 33\]/,
    );
  });
});
