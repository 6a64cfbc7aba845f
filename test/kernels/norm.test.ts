import { describe, expect, it } from 'vitest';
import { layernormBackward, layernormForward, rmsnormBackward, rmsnormForward } from '../../src/gpu/ops/norm';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';

type Arr = ArrayLike<number>;

// ---------------------------------------------------------------- float64 references

function rmsRef(x: Arr, w: Arr, M: number, C: number, eps: number): { out: number[]; rstd: number[] } {
  const out: number[] = [];
  const rstd: number[] = [];
  for (let m = 0; m < M; m++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[m * C + c] ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd.push(r);
    for (let c = 0; c < C; c++) out.push(w[c] * x[m * C + c] * r);
  }
  return { out, rstd };
}

/** Analytic gradients of sum(out * dout), derived independently of the shader's factoring. */
function rmsGradRef(x: Arr, w: Arr, dout: Arr, M: number, C: number, eps: number): { dx: number[]; dw: number[] } {
  const dx: number[] = [];
  const dw = new Array<number>(C).fill(0);
  for (let m = 0; m < M; m++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[m * C + c] ** 2;
    const ms = ss / C + eps;
    const r = 1 / Math.sqrt(ms);
    // d r / d x_j = -x_j / (C * ms^1.5)
    let s = 0;
    for (let c = 0; c < C; c++) s += dout[m * C + c] * w[c] * x[m * C + c];
    for (let j = 0; j < C; j++) {
      dx.push(dout[m * C + j] * w[j] * r - (s * x[m * C + j]) / (C * ms ** 1.5));
      dw[j] += dout[m * C + j] * x[m * C + j] * r;
    }
  }
  return { dx, dw };
}

function lnRef(x: Arr, w: Arr, b: Arr, M: number, C: number, eps: number): { out: number[]; mean: number[]; rstd: number[] } {
  const out: number[] = [];
  const mean: number[] = [];
  const rstd: number[] = [];
  for (let m = 0; m < M; m++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += x[m * C + c];
    const mu = s / C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[m * C + c] - mu) ** 2;
    const r = 1 / Math.sqrt(v / C + eps);
    mean.push(mu);
    rstd.push(r);
    for (let c = 0; c < C; c++) out.push((x[m * C + c] - mu) * r * w[c] + b[c]);
  }
  return { out, mean, rstd };
}

function lnGradRef(x: Arr, w: Arr, dout: Arr, M: number, C: number, eps: number): { dx: number[]; dw: number[]; db: number[] } {
  const dx: number[] = [];
  const dw = new Array<number>(C).fill(0);
  const db = new Array<number>(C).fill(0);
  for (let m = 0; m < M; m++) {
    const row = Array.from({ length: C }, (_, c) => x[m * C + c]);
    const mu = row.reduce((p, v) => p + v, 0) / C;
    const r = 1 / Math.sqrt(row.reduce((p, v) => p + (v - mu) ** 2, 0) / C + eps);
    const xhat = row.map((v) => (v - mu) * r);
    const g = row.map((_, c) => dout[m * C + c] * w[c]);
    const gMean = g.reduce((p, v) => p + v, 0) / C;
    const gxMean = g.reduce((p, v, c) => p + v * xhat[c], 0) / C;
    for (let c = 0; c < C; c++) {
      dx.push(r * (g[c] - gMean - xhat[c] * gxMean));
      dw[c] += dout[m * C + c] * xhat[c];
      db[c] += dout[m * C + c];
    }
  }
  return { dx, dw, db };
}

/** Central finite differences of sum(f(x) * dout) in float64: checks the analytic references themselves. */
function fdCheck(f: (x: Float64Array) => number[], x: Arr, dout: Arr, dxRef: number[]): number {
  const xs = Float64Array.from(x);
  let worst = 0;
  for (const j of [0, 5, xs.length - 1]) {
    const h = 1e-6;
    const orig = xs[j];
    xs[j] = orig + h;
    const up = f(xs).reduce((p, v, i) => p + v * dout[i], 0);
    xs[j] = orig - h;
    const dn = f(xs).reduce((p, v, i) => p + v * dout[i], 0);
    xs[j] = orig;
    worst = Math.max(worst, Math.abs((up - dn) / (2 * h) - dxRef[j]));
  }
  return worst;
}

// ---------------------------------------------------------------- tests

describe('rmsnorm', () => {
  // C <= 64 runs one thread per row; wider rows share 2..64 threads, several rows per workgroup of 64 (ragged
  // last workgroups: 130 rows of 64, 70 rows of 100 at 32 rows per group, 33 of 200 at 16, 3 of 300 at 8).
  for (const [M, C] of [[7, 37], [3, 300], [2, 8191], [130, 64], [70, 100], [33, 200], [45, 1]] as const) {
    it(`forward and backward match float64 references (M=${M}, C=${C})`, async () => {
      const rt = await gpuRuntime();
      const eps = 1e-5;
      const x = randomArray(M * C, 11, 2);
      const w = randomArray(C, 12, 1.5);
      const dout = randomArray(M * C, 13);
      const dx0 = randomArray(M * C, 14);
      const dw0 = randomArray(C, 15);
      const tx = rt.upload('x', [M, C], x);
      const tw = rt.upload('w', [C], w);
      const out = rt.tensor('out', [M, C]);
      const rstd = rt.tensor('rstd', [M]);
      rmsnormForward(rt, { out, rstd, x: tx, weight: tw, M, C, eps });
      const ref = rmsRef(x, w, M, C, eps);
      expect(maxRelError(await rt.read(out), ref.out)).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(rstd), ref.rstd)).toBeLessThan(1e-5);

      const dx = rt.upload('dx', [M, C], dx0);
      const dweight = rt.upload('dw', [C], dw0);
      rmsnormBackward(rt, { dx, dweight, dout: rt.upload('dout', [M, C], dout), x: tx, rstd, weight: tw, M, C });
      const g = rmsGradRef(x, w, dout, M, C, eps);
      expect(fdCheck((xs) => rmsRef(xs, w, M, C, eps).out, x, dout, g.dx)).toBeLessThan(1e-6);
      expect(maxRelError(await rt.read(dx), g.dx.map((v, i) => v + dx0[i]))).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(dweight), g.dw.map((v, i) => v + dw0[i]))).toBeLessThan(1e-5);
    });
  }

  it('backward without dweight, and shape errors name op and argument', async () => {
    const rt = await gpuRuntime();
    const [M, C] = [5, 19];
    const x = randomArray(M * C, 21);
    const w = randomArray(C, 22);
    const dout = randomArray(M * C, 23);
    const tx = rt.upload('x', [M, C], x);
    const tw = rt.upload('w', [C], w);
    const rstd = rt.upload('rstd', [M], Float32Array.from(rmsRef(x, w, M, C, 1e-6).rstd));
    const dx = rt.tensor('dx', [M, C]);
    rmsnormBackward(rt, { dx, dout: rt.upload('dout', [M, C], dout), x: tx, rstd, weight: tw, M, C });
    expect(maxRelError(await rt.read(dx), rmsGradRef(x, w, dout, M, C, 1e-6).dx)).toBeLessThan(1e-5);
    expect(() => rmsnormForward(rt, { out: rt.tensor('o', [M, C]), rstd, x: tx, weight: rt.tensor('w2', [C + 1]), M, C, eps: 1e-6 })).toThrow(
      /rmsnormForward: weight \(w2\) has shape \[20\], expected \[19\]/,
    );
  });
});

describe('layernorm', () => {
  // C <= 64 runs one thread per row; wider rows share 2..64 threads, several rows per workgroup of 64 (ragged
  // last workgroups: 130 rows of 64, 70 rows of 100 at 32 rows per group, 33 of 200 at 16, 3 of 300 at 8).
  for (const [M, C] of [[7, 37], [3, 300], [2, 8191], [130, 64], [70, 100], [33, 200], [45, 1]] as const) {
    it(`forward and backward match float64 references (M=${M}, C=${C})`, async () => {
      const rt = await gpuRuntime();
      const eps = 1e-5;
      // An offset mean exercises the two-pass variance.
      const x = randomArray(M * C, 31, 2).map((v) => v + 3);
      const w = randomArray(C, 32, 1.5);
      const b = randomArray(C, 33);
      const dout = randomArray(M * C, 34);
      const dx0 = randomArray(M * C, 35);
      const dw0 = randomArray(C, 36);
      const db0 = randomArray(C, 37);
      const tx = rt.upload('x', [M, C], x);
      const tw = rt.upload('w', [C], w);
      const out = rt.tensor('out', [M, C]);
      const mean = rt.tensor('mean', [M]);
      const rstd = rt.tensor('rstd', [M]);
      layernormForward(rt, { out, mean, rstd, x: tx, weight: tw, bias: rt.upload('b', [C], b), M, C, eps });
      const ref = lnRef(x, w, b, M, C, eps);
      expect(maxRelError(await rt.read(out), ref.out)).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(mean), ref.mean)).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(rstd), ref.rstd)).toBeLessThan(1e-5);

      const dx = rt.upload('dx', [M, C], dx0);
      const dweight = rt.upload('dw', [C], dw0);
      const dbias = rt.upload('db', [C], db0);
      layernormBackward(rt, { dx, dweight, dbias, dout: rt.upload('dout', [M, C], dout), x: tx, mean, rstd, weight: tw, M, C });
      const g = lnGradRef(x, w, dout, M, C, eps);
      expect(fdCheck((xs) => lnRef(xs, w, b, M, C, eps).out, x, dout, g.dx)).toBeLessThan(1e-6);
      expect(maxRelError(await rt.read(dx), g.dx.map((v, i) => v + dx0[i]))).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(dweight), g.dw.map((v, i) => v + dw0[i]))).toBeLessThan(1e-5);
      expect(maxRelError(await rt.read(dbias), g.db.map((v, i) => v + db0[i]))).toBeLessThan(1e-5);
    });
  }

  it('dbias alone accumulates over many rows deterministically', async () => {
    const rt = await gpuRuntime();
    const [M, C] = [301, 45];
    const x = randomArray(M * C, 41);
    const w = randomArray(C, 42);
    const dout = randomArray(M * C, 43);
    const tx = rt.upload('x', [M, C], x);
    const tw = rt.upload('w', [C], w);
    const out = rt.tensor('out', [M, C]);
    const mean = rt.tensor('mean', [M]);
    const rstd = rt.tensor('rstd', [M]);
    layernormForward(rt, { out, mean, rstd, x: tx, weight: tw, bias: rt.tensor('b', [C]), M, C, eps: 1e-5 });
    const tdout = rt.upload('dout', [M, C], dout);
    const run = async (): Promise<Float32Array> => {
      const dbias = rt.tensor('db', [C]);
      layernormBackward(rt, { dx: rt.tensor('dx', [M, C]), dbias, dout: tdout, x: tx, mean, rstd, weight: tw, M, C });
      return rt.read(dbias);
    };
    const first = await run();
    expect(maxRelError(first, lnGradRef(x, w, dout, M, C, 1e-5).db)).toBeLessThan(1e-5);
    expect(Array.from(await run())).toEqual(Array.from(first));
  });
});
