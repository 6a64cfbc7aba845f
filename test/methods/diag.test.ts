/**
 * The per-channel affine adapter (IA3, SSF, BitFit) inside a Linear, against float64:
 *   y (+)= s_out ⊙ ((x ⊙ s_in) Wᵀ + b) + β, and dx, ∂s_in, ∂s_out, ∂β by the chain rule,
 * for nn.Linear ([out, in]) and Conv1D ([in, out]) storage, writing and accumulating into y and dx.
 */
import { describe, expect, it } from 'vitest';
import { Linear } from '../../src/engine/linear';
import type { LinearSpec } from '../../src/model/spec';
import { ChannelAffineLayer, type ChannelAffineValues } from '../../src/methods/diag/channelLayer';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';

const ctx = { training: true, seed: 1 };

describe('ChannelAffineLayer', () => {
  const parts: Array<[string, Array<keyof ChannelAffineValues>]> = [
    ['IA3 output', ['outScale']],
    ['IA3 input', ['inScale']],
    ['SSF', ['outScale', 'shift']],
    ['BitFit', ['shift']],
    ['all', ['inScale', 'outScale', 'shift']],
  ];
  for (const layout of ['out_in', 'in_out'] as const) {
    for (const [label, which] of parts) {
      for (const accumulate of [false, true]) {
        it(`${label}, ${layout}, accumulate ${accumulate}: y, dx and every gradient match float64`, async () => {
          const rt = await gpuRuntime();
          const M = 13;
          const K = 37;
          const N = 21;
          const spec: LinearSpec = { name: 'p', modulePath: 'm.p', weightName: 'm.p.weight', biasName: 'm.p.bias', inFeatures: K, outFeatures: N, layout };
          const W = randomArray(N * K, 1); // [N, K] in nn.Linear orientation
          const stored = layout === 'out_in' ? W : Float32Array.from({ length: N * K }, (_, s) => W[(s % N) * K + Math.floor(s / N)]);
          const b = randomArray(N, 2);
          const x = randomArray(M * K, 3);
          const dy = randomArray(M * N, 4);
          const y0 = randomArray(M * N, 5);
          const dx0 = randomArray(M * K, 6);
          const init: ChannelAffineValues = {};
          if (which.includes('inScale')) init.inScale = randomArray(K, 7).map((v) => 1 + v / 2);
          if (which.includes('outScale')) init.outScale = randomArray(N, 8).map((v) => 1 + v / 2);
          if (which.includes('shift')) init.shift = randomArray(N, 9);
          const lin = new Linear(spec, rt.upload('W', layout === 'out_in' ? [N, K] : [K, N], stored), rt.upload('b', [N], b));
          const layer = new ChannelAffineLayer(rt, spec, init, {}, true);
          lin.adapters.push(layer);
          const tx = rt.upload('x', [M, K], x);
          const ty = rt.upload('y', [M, N], y0);
          const tdy = rt.upload('dy', [M, N], dy);
          const tdx = rt.upload('dx', [M, K], dx0);
          lin.forward(rt, tx, ty, M, ctx, accumulate);
          lin.backward(rt, tx, tdy, tdx, M, ctx, accumulate);
          const sIn = init.inScale ?? new Float32Array(K).fill(1);
          const sOut = init.outScale ?? new Float32Array(N).fill(1);
          const beta = init.shift ?? new Float32Array(N);
          const y = new Float64Array(M * N);
          const dx = new Float64Array(M * K);
          const dIn = new Float64Array(K);
          const dOut = new Float64Array(N);
          const dBeta = new Float64Array(N);
          for (let m = 0; m < M; m++) {
            for (let o = 0; o < N; o++) {
              let z = b[o];
              for (let i = 0; i < K; i++) z += x[m * K + i] * sIn[i] * W[o * K + i];
              y[m * N + o] = (accumulate ? y0[m * N + o] : 0) + sOut[o] * z + beta[o];
              const g = dy[m * N + o];
              dOut[o] += g * z;
              dBeta[o] += g;
              for (let i = 0; i < K; i++) {
                const gz = g * sOut[o] * W[o * K + i];
                dx[m * K + i] += gz * sIn[i];
                dIn[i] += gz * x[m * K + i];
              }
            }
          }
          if (accumulate) for (let j = 0; j < dx.length; j++) dx[j] += dx0[j];
          expect(maxRelError(await rt.read(ty), y)).toBeLessThan(2e-6);
          expect(maxRelError(await rt.read(tdx), dx)).toBeLessThan(2e-6);
          const grads = new Map(layer.params().map((p) => [p.name, p.grad]));
          const want: Record<keyof ChannelAffineValues, Float64Array> = { inScale: dIn, outScale: dOut, shift: dBeta };
          for (const part of which) expect(maxRelError(await rt.read(grads.get(`m.p.${part}`) as never), want[part])).toBeLessThan(2e-5);
          expect(layer.params()).toHaveLength(which.length);
          layer.release(rt);
        });
      }
    }
  }
});
