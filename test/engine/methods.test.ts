/**
 * Every method through the whole session on stories260K (as the page and CLI drive it): set up, train a few
 * steps, and the two promises every method makes:
 *  - its exported adapter, applied by a fresh session to the ORIGINAL base as PEFT would, gives the trained
 *    model's logits (1e-4), and the merged checkpoint loads as a model with the same logits;
 *  - "without adapter" is the original base model, also for methods that replaced base weights by residuals.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { namedBlobFromFile, namedBlobsFromDir } from '../../src/formats/nodeFiles';
import { nodeGpu } from '../../src/gpu/node';
import { METHOD_NAMES, type MethodName, type SpectraSnapshot, type StepMetrics, type TrainSettings } from '../../src/run/api';
import { Session } from '../../src/run/session';

const ROOT = join(__dirname, '..', '..');
const MODEL = join(ROOT, 'public', 'sample', 'stories260K');
const TEXT = join(ROOT, 'public', 'sample', 'tinyshakespeare-excerpt.txt');
const IDS = [1, 403, 407, 261, 378, 290];

function settings(method: MethodName): TrainSettings {
  return {
    method,
    lora: { rank: 4, alpha: 8, useRslora: false, dropout: 0, targets: ['q_proj', 'v_proj', 'down_proj'], initLoraWeights: 'default' },
    // Small budgets so every method's setup stays quick on SwiftShader; AdaLoRA prunes from 6 to 4 within the run.
    options: { evaBatches: 2, lorasbBatches: 2, adaloraInitR: 6, adaloraTinit: 1, adaloraTfinal: 1, svd: 'exact', svfitEnergy: 0.9 },
    spectraEvery: 2,
    steps: 4, batchSize: 2, seqLen: 16, gradAccum: 1, lr: 1e-2, warmupSteps: 0, schedule: 'constant',
    weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, valEvery: 0, seed: 3,
  };
}

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

async function session(): Promise<Session> {
  const s = new Session(await nodeGpu());
  await s.init();
  await s.loadModel(await namedBlobsFromDir(MODEL));
  return s;
}

/** The low-rank methods: every one exports a PEFT LoRA (the sparse and diagonal ones: sparseMethods.test.ts). */
const LOW_RANK: readonly MethodName[] = ['pissa', 'milora', 'olora', 'svfit', 'sorsa', 'loraxs', 'lorasb', 'eva', 'adalora'];

describe('every low-rank method through the session', () => {
  const methods = METHOD_NAMES.filter((m) => LOW_RANK.includes(m));
  // Three sessions for all methods: each new GPU device would compile every pipeline again.
  let s: Session;
  let fresh: Session;
  let asModel: Session;
  let base: { data: Float32Array };
  let baseEval: number;
  beforeAll(async () => {
    s = await session();
    await s.loadDataset(await namedBlobFromFile(TEXT), { onBadLine: 'skip', valFraction: 0.02, seed: 1, trainOnAllTokens: false, seqLen: 16 });
    base = await s.logits(IDS);
    baseEval = await s.evaluate(false);
    fresh = await session();
    asModel = new Session(await nodeGpu());
    await asModel.init();
  }, 600_000);

  it.each(methods)('%s: trains, exports a PEFT LoRA for the original base and a merged checkpoint', { timeout: 600_000 }, async (method) => {
    const metrics: StepMetrics[] = [];
    const spectra: SpectraSnapshot[] = [];
    const cfg = settings(method);
    expect(await s.trainableParameters(cfg.lora, method, cfg.options)).toBeGreaterThan(0);
    await s.train(cfg, (m) => metrics.push(m), (x) => spectra.push(x));
    expect(metrics).toHaveLength(4);
    for (const m of metrics) expect(Number.isFinite(m.loss)).toBe(true);
    expect(spectra.map((x) => x.step)).toEqual([0, 2, 4]);
    const last = spectra[spectra.length - 1];
    expect(last.layers.length).toBeGreaterThan(0);
    for (const l of last.layers) {
      expect(l.merged.length).toBeGreaterThan(0);
      expect(Number.isFinite(l.effectiveRank)).toBe(true);
      expect(l.intruders).toBeGreaterThanOrEqual(0);
    }
    expect(last.layers.some((l) => l.delta.length > 0 && l.delta[0] > 0)).toBe(true);

    const trained = await s.logits(IDS);
    expect(maxDiff(trained.data, base.data)).toBeGreaterThan(1e-5);
    // Without the adapter the model is the original base again.
    expect(Math.abs((await s.evaluate(false)) - baseEval)).toBeLessThan(1e-4);

    const files = await s.exportAdapter();
    const config = JSON.parse(files.config) as { peft_type: string; init_lora_weights: unknown };
    expect(config.peft_type).toBe('LORA');
    expect(config.init_lora_weights).toBe(true);
    await fresh.loadAdapter([
      { name: 'a/adapter_config.json', blob: new Blob([files.config]) },
      { name: 'a/adapter_model.safetensors', blob: new Blob([files.weights]) },
    ]);
    expect(maxDiff((await fresh.logits(IDS)).data, trained.data)).toBeLessThan(1e-4);

    const merged = await s.exportMerged();
    const names = merged.map((f) => f.name).sort();
    expect(names).toContain('config.json');
    expect(names).toContain('model.safetensors');
    await asModel.loadModel(merged.map((f) => ({ name: `merged/${f.name}`, blob: new Blob([f.data]) })));
    expect(maxDiff((await asModel.logits(IDS)).data, trained.data)).toBeLessThan(1e-4);
  });
});
