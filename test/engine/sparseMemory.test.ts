/**
 * A sparse run's GPU memory grows with the entries it keeps, not with the size of the layers it adapts: by the
 * engine's own accounting of allocated buffers, during training at three densities on stories260K, the extra
 * memory is linear in the kept count at a fixed cost per entry (value, gradient, two AdamW moments, row, column,
 * column order, and the regrowth candidates' row, column and accumulator), and far below a dense delta.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { namedBlobFromFile, namedBlobsFromDir } from '../../src/formats/nodeFiles';
import { nodeGpu } from '../../src/gpu/node';
import type { SparsitySnapshot, TrainSettings } from '../../src/run/api';
import { Session } from '../../src/run/session';

const ROOT = join(__dirname, '..', '..');
const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

function settings(density: number): TrainSettings {
  return {
    method: 'sparse',
    lora: { rank: 1, alpha: 2, useRslora: false, dropout: 0, targets: TARGETS, initLoraWeights: 'default' },
    options: { density, regrowEvery: 1, regrowUntil: 1, candidateFactor: 1 },
    // One step: memory is read when its metrics arrive, with AdamW's moments and the regrowth candidates live.
    steps: 1, batchSize: 2, seqLen: 16, gradAccum: 1, lr: 1e-2, warmupSteps: 0, schedule: 'constant',
    weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, valEvery: 0, seed: 1,
  };
}

describe('sparse memory', () => {
  let s: Session;
  beforeAll(async () => {
    s = new Session(await nodeGpu());
    await s.init();
    await s.loadModel(await namedBlobsFromDir(join(ROOT, 'public', 'sample', 'stories260K')));
    await s.loadDataset(await namedBlobFromFile(join(ROOT, 'public', 'sample', 'tinyshakespeare-excerpt.txt')), { onBadLine: 'skip', valFraction: 0, seed: 1, trainOnAllTokens: false, seqLen: 16 });
  }, 300_000);

  it('grows with the kept entries at a fixed cost per entry, far below a dense delta', { timeout: 600_000 }, async () => {
    const runs: Array<{ kept: number; bytes: number; dense: number }> = [];
    for (const density of [0.01, 0.02, 0.04]) {
      let bytes = 0;
      let snap: SparsitySnapshot | undefined;
      await s.train(settings(density), (m) => {
        if (m.step === 1) bytes = s.memory().liveBytes;
      }, undefined, undefined, (x) => {
        snap ??= x;
      });
      const layers = (snap as SparsitySnapshot).layers;
      runs.push({ kept: layers.reduce((n, l) => n + l.kept, 0), bytes, dense: layers.reduce((n, l) => n + 4 * l.shape[0] * l.shape[1], 0) });
    }
    const [a, b, c] = runs;
    const perEntry = (c.bytes - a.bytes) / (c.kept - a.kept);
    // value, grad, m, v, rows, cols, colOrder (7 × 4 bytes) + candidates rows, cols, acc (3 × 4 bytes) per kept entry.
    expect(perEntry).toBeGreaterThan(38);
    expect(perEntry).toBeLessThan(42);
    // Linear: the middle run sits on the line through the other two (buffers round to 16 bytes).
    const predicted = a.bytes + perEntry * (b.kept - a.kept);
    expect(Math.abs(b.bytes - predicted)).toBeLessThan(16 * 8 * TARGETS.length * 5);
    // At 1 % the whole sparse update (with optimizer state) is far smaller than one dense delta of the same layers.
    expect(perEntry * a.kept).toBeLessThan(a.dense / 2);
  });
});
