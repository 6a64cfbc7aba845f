import { describe, expect, it } from 'vitest';
import { embeddingBackward, embeddingForward, validateTokenIds } from '../../src/gpu/ops/embedding';
import { gpuRuntime, maxRelError, randomArray } from '../support/gpu';
import { Rng } from '../../src/util/rng';

function randomIds(M: number, V: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: M }, () => rng.int(V));
}

/** dtable0 + scatter-add of dout rows by id, float64, skipping out-of-range ids. */
function backwardRef(dtable0: ArrayLike<number>, dout: ArrayLike<number>, ids: Int32Array, C: number, V: number): number[] {
  const out = Array.from(dtable0);
  ids.forEach((id, m) => {
    if (id < 0 || id >= V) return;
    for (let c = 0; c < C; c++) out[id * C + c] += dout[m * C + c];
  });
  return out;
}

describe('embedding', () => {
  it('forward gathers rows, adds positions, and zeroes rows of bad ids', async () => {
    const rt = await gpuRuntime();
    const [T, B, C, V, P, offset] = [5, 2, 37, 101, 9, 2];
    const M = B * T;
    const ids = randomIds(M, V, 1);
    ids[3] = -1;
    ids[7] = V;
    const table = randomArray(V * C, 2);
    const pos = randomArray(P * C, 3);
    const tIds = rt.upload('ids', [M], ids);
    const tTable = rt.upload('table', [V, C], table);
    const out = rt.upload('out', [M, C], randomArray(M * C, 4)); // stale contents must be overwritten
    embeddingForward(rt, { out, ids: tIds, table: tTable, M, C, V });
    const plain = (m: number, c: number): number => (ids[m] < 0 || ids[m] >= V ? 0 : table[ids[m] * C + c]);
    const want = Array.from({ length: M * C }, (_, i) => plain(Math.floor(i / C), i % C));
    expect(Array.from(await rt.read(out))).toEqual(want.map(Math.fround));

    embeddingForward(rt, { out, ids: tIds, table: tTable, M, C, V, positions: { table: rt.upload('pos', [P, C], pos), T, offset } });
    const withPos = want.map((v, i) => {
      const m = Math.floor(i / C);
      return ids[m] < 0 || ids[m] >= V ? 0 : v + pos[((m % T) + offset) * C + (i % C)];
    });
    expect(maxRelError(await rt.read(out), withPos)).toBeLessThan(1e-6);
    expect(() => validateTokenIds(ids, V)).toThrow(/id -1 at index 3 is outside the vocabulary \[0, 101\)/);
    expect(() => embeddingForward(rt, { out, ids: tIds, table: tTable, M, C, V, positions: { table: rt.tensor('p', [P, C]), T, offset: 5 } })).toThrow(
      /embeddingForward: position 9 .* past the 9 rows/,
    );
    expect(() => embeddingForward(rt, { out, ids: rt.tensor('fids', [M]), table: tTable, M, C, V })).toThrow(/ids \(fids\) has dtype f32, expected i32/);
  });

  // C=37 uses many vocabulary slices, C=16385 a single one: the sums must agree with the float64 reference
  // either way, and repeat bit for bit.
  for (const [M, C, V] of [[29, 37, 101], [6, 16385, 5]] as const) {
    it(`backward scatter-adds repeated ids deterministically (M=${M}, C=${C}, V=${V})`, async () => {
      const rt = await gpuRuntime();
      const ids = randomIds(M, Math.min(V, 7), 5); // few distinct ids: many repeats
      ids[1] = -100;
      ids[M - 1] = V + 3;
      const dout = randomArray(M * C, 6);
      const dtable0 = randomArray(V * C, 7);
      const tIds = rt.upload('ids', [M], ids);
      const tDout = rt.upload('dout', [M, C], dout);
      const run = async (): Promise<Float32Array> => {
        const dtable = rt.upload('dtable', [V, C], dtable0);
        embeddingBackward(rt, { dtable, dout: tDout, ids: tIds, M, C, V });
        return rt.read(dtable);
      };
      const first = await run();
      expect(maxRelError(first, backwardRef(dtable0, dout, ids, C, V))).toBeLessThan(1e-6);
      const second = await run();
      expect(second.every((v, i) => Object.is(v, first[i]))).toBe(true);
    });
  }
});
