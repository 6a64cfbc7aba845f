/**
 * The sparse and diagonal methods through the whole session (as the page and CLI drive them), on stories260K
 * (Llama) and tiny-random-gpt2 (Conv1D weights stored [in, out], biases, LayerNorms):
 *  - training changes the model, and "without adapter" is the original base;
 *  - the adapter the method exports (PEFT IA3, PEFT SHiRA or a webpeft delta), loaded by a fresh session on
 *    the original base, gives the trained logits (1e-4), and so does the webpeft delta of the same run;
 *  - the merged checkpoint loads as a model with the same logits (1e-4);
 *  - sparse methods keep their budget and report it, and prune-and-regrow changes the index set.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { namedBlobFromFile, namedBlobsFromDir } from '../../src/formats/nodeFiles';
import { nodeGpu } from '../../src/gpu/node';
import type { AdapterFiles, MethodName, MethodOptions, SparsitySnapshot, StepMetrics, TrainSettings } from '../../src/run/api';
import { Session } from '../../src/run/session';

const ROOT = join(__dirname, '..', '..');
/**
 * tiny-random-gpt2 has GPT-2's full tokenizer but a 1000-token embedding: single letters between spaces
 * tokenize to ids below 1000 (bytes and the first merges), so it gets a seeded text of those.
 */
const LETTERS = 'abcdefghjklmnoprstuvwy'; // i, q, x, z with a leading space are ids past 1000

function letterText(): Blob {
  let h = 7;
  const words: string[] = [];
  for (let i = 0; i < 6000; i++) {
    h = (Math.imul(h, 1103515245) + 12345) >>> 0;
    words.push(LETTERS[(h >>> 16) % LETTERS.length]);
  }
  return new Blob([words.join(' ').replace(/(.{80}) /g, '$1\n')]);
}
const TEXT = join(ROOT, 'public', 'sample', 'tinyshakespeare-excerpt.txt');
const MODELS = { llama: join(ROOT, 'public', 'sample', 'stories260K'), gpt2: join(ROOT, 'fixtures', 'models', 'tiny-random-gpt2') };
const IDS = { llama: [1, 403, 407, 261, 378, 290], gpt2: [5, 17, 2, 40, 33, 9] };
const TARGETS = { llama: ['q_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj'], gpt2: ['c_attn', 'c_proj', 'c_fc'] };

function settings(method: MethodName, family: 'llama' | 'gpt2', options: Partial<MethodOptions> = {}): TrainSettings {
  const targets = method === 'ia3' ? (family === 'llama' ? ['k_proj', 'v_proj', 'down_proj'] : ['c_attn', 'mlp.c_proj']) : TARGETS[family];
  return {
    method,
    lora: { rank: 2, alpha: 4, useRslora: false, dropout: 0, targets, initLoraWeights: 'default' },
    options: { density: 0.05, regrowEvery: 2, regrowFraction: 0.5, regrowUntil: 1, subnetBatches: 2, saraFraction: 0.1, saraReselectAt: 0.5, ...options },
    steps: 4, batchSize: 2, seqLen: 16, gradAccum: 1, lr: 2e-2, warmupSteps: 0, schedule: 'constant',
    weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, valEvery: 0, seed: 5,
  };
}

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

function folder(files: AdapterFiles): Array<{ name: string; blob: Blob }> {
  return [
    { name: `a/${files.configName ?? 'adapter_config.json'}`, blob: new Blob([files.config]) },
    { name: `a/${files.weightsName ?? 'adapter_model.safetensors'}`, blob: new Blob([files.weights]) },
  ];
}

async function session(model?: string): Promise<Session> {
  const s = new Session(await nodeGpu());
  await s.init();
  if (model) await s.loadModel(await namedBlobsFromDir(model));
  return s;
}

const CASES: Array<[MethodName, 'llama' | 'gpt2', Partial<MethodOptions>, string]> = [
  ['sparse', 'llama', {}, 'webpeft-delta'],
  ['sparse', 'llama', { matchLoraRank: true, density: 1 }, 'SHIRA'],
  ['sara', 'llama', { saraNuclear: 1e-3, saraNuclearRank: 2 }, 'webpeft-delta'],
  ['subnet', 'llama', { subnetScore: 'fisher' }, 'webpeft-delta'],
  ['dsee', 'llama', {}, 'webpeft-delta'],
  ['bitfit', 'llama', {}, 'webpeft-delta'],
  ['ia3', 'llama', {}, 'IA3'],
  ['ssf', 'llama', {}, 'webpeft-delta'],
  ['norms', 'llama', {}, 'webpeft-delta'],
  ['sparse', 'gpt2', {}, 'webpeft-delta'],
  ['bitfit', 'gpt2', {}, 'webpeft-delta'],
  ['ia3', 'gpt2', {}, 'IA3'],
  ['ssf', 'gpt2', {}, 'webpeft-delta'],
];

describe('sparse and diagonal methods through the session', () => {
  const sessions: Record<'llama' | 'gpt2', { s: Session; fresh: Session; base: Float32Array; baseEval: number }> = {} as never;
  let asModel: Session;
  beforeAll(async () => {
    for (const family of ['llama', 'gpt2'] as const) {
      const s = await session(MODELS[family]);
      const data = family === 'llama' ? await namedBlobFromFile(TEXT) : { name: 'letters.txt', blob: letterText() };
      await s.loadDataset(data, { onBadLine: 'skip', valFraction: 0.02, seed: 1, trainOnAllTokens: false, seqLen: 16 });
      sessions[family] = { s, fresh: await session(MODELS[family]), base: (await s.logits(IDS[family])).data, baseEval: await s.evaluate(false) };
    }
    asModel = await session();
  }, 600_000);

  it.each(CASES)('%s on %s %o exports %s', { timeout: 600_000 }, async (method, family, options, peftType) => {
    const { s, fresh, base, baseEval } = sessions[family];
    const cfg = settings(method, family, options);
    const metrics: StepMetrics[] = [];
    const sparsity: SparsitySnapshot[] = [];
    const count = await s.trainableParameters(cfg.lora, method, cfg.options);
    expect(count).toBeGreaterThan(0);
    await s.train(cfg, (m) => metrics.push(m), undefined, undefined, (x) => sparsity.push(x));
    expect(metrics).toHaveLength(4);
    for (const m of metrics) expect(Number.isFinite(m.loss)).toBe(true);

    const trained = (await s.logits(IDS[family])).data;
    expect(maxDiff(trained, base)).toBeGreaterThan(1e-5);
    expect(Math.abs((await s.evaluate(false)) - baseEval)).toBeLessThan(1e-4);

    if (['sparse', 'sara', 'subnet', 'dsee'].includes(method)) {
      expect(sparsity[0].step).toBe(0);
      const last = sparsity[sparsity.length - 1];
      expect(last.step).toBe(4);
      const kept = last.layers.reduce((n, l) => n + l.kept, 0);
      expect(kept + (method === 'dsee' ? last.layers.reduce((n, l) => n + 2 * (l.shape[0] + l.shape[1]), 0) : 0)).toBe(count);
      for (const l of last.layers) {
        expect(l.grid.reduce((a, b) => a + b, 0)).toBe(l.kept);
        if (method !== 'sara' && !options.matchLoraRank) expect(Math.abs(l.density - 0.05)).toBeLessThan(0.5 / (l.shape[0] * l.shape[1]) + 1e-9);
      }
      if (method === 'sparse' || method === 'sara') {
        expect(last.layers.every((l) => l.updates >= 1)).toBe(true);
        expect(last.layers.some((l) => l.dropped > 0 && l.dropped === l.regrown)).toBe(true);
      }
    } else expect(sparsity).toHaveLength(0);

    const files = await s.exportAdapter();
    const config = JSON.parse(files.config) as { peft_type?: string; format?: string };
    expect(config.peft_type ?? config.format).toBe(peftType);
    const loaded = await fresh.loadAdapter(folder(files));
    expect(loaded.kind).toBe(peftType === 'IA3' ? 'ia3' : peftType === 'SHIRA' ? 'shira' : 'webpeft-delta');
    expect(maxDiff((await fresh.logits(IDS[family])).data, trained)).toBeLessThan(1e-4);
    if (peftType !== 'webpeft-delta') {
      await fresh.loadAdapter(folder(await s.exportAdapter('webpeft-delta')));
      expect(maxDiff((await fresh.logits(IDS[family])).data, trained)).toBeLessThan(1e-4);
    }

    const merged = await s.exportMerged();
    await asModel.loadModel(merged.map((f) => ({ name: `merged/${f.name}`, blob: new Blob([f.data]) })));
    expect(maxDiff((await asModel.logits(IDS[family])).data, trained)).toBeLessThan(1e-4);
  });
});
