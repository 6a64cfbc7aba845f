/**
 * The whole session on stories260K with the bundled sample text, as the page and CLI drive it: load, train a few
 * steps, check the loss falls and only adapter parameters changed, generate, evaluate, export, reload the export.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { namedBlobFromFile, namedBlobsFromDir } from '../../src/formats/nodeFiles';
import { parseSafetensors } from '../../src/formats/safetensors';
import { nodeGpu } from '../../src/gpu/node';
import type { StepMetrics, TrainSettings } from '../../src/run/api';
import { Session } from '../../src/run/session';

const ROOT = join(__dirname, '..', '..');
const MODEL = join(ROOT, 'public', 'sample', 'stories260K');
const TEXT = join(ROOT, 'public', 'sample', 'tinyshakespeare-excerpt.txt');

const settings: TrainSettings = {
  method: 'lora',
  lora: { rank: 4, alpha: 8, useRslora: false, dropout: 0.05, targets: ['q_proj', 'v_proj'], initLoraWeights: 'default' },
  steps: 12, batchSize: 2, seqLen: 32, gradAccum: 2, lr: 1e-2, warmupSteps: 2, schedule: 'cosine',
  weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, valEvery: 12, seed: 7,
};

describe('training session on stories260K', () => {
  it('trains, lowers the loss, exports a PEFT adapter that reloads to the same logits', { timeout: 600_000 }, async () => {
    const t0 = Date.now();
    const log = (what: string): void => void process.stderr.write(`[session ${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}\n`);
    const s = new Session(await nodeGpu());
    await s.init();
    const model = await s.loadModel(await namedBlobsFromDir(MODEL));
    expect(model).toMatchObject({ modelType: 'llama', layers: 5, hidden: 64, heads: 8, kvHeads: 4, vocab: 512, tiedEmbeddings: true, hasTokenizer: true });
    log('model loaded');
    const data = await s.loadDataset(await namedBlobFromFile(TEXT), { onBadLine: 'skip', valFraction: 0.02, seed: 1, trainOnAllTokens: false, seqLen: 32 });
    expect(data.format).toBe('text');
    expect(await s.trainableParameters(settings.lora)).toBe(5 * (4 * (64 + 64) + 4 * (64 + 32)));
    log(`dataset loaded: ${data.trainExamples} train, ${data.valExamples} validation examples`);
    const ids = [1, 403, 407, 261, 378];
    const base = await s.logits(ids);
    const before = await s.generate({ prompt: 'Once upon a time', maxNewTokens: 8, temperature: 0, seed: 1, useAdapter: false });
    expect(before.startsWith('Once upon a time')).toBe(true);

    const baseEval = await s.evaluate(false);
    log('generated');
    const metrics: StepMetrics[] = [];
    const summary = await s.train(settings, (m) => (metrics.push(m), log(`step ${m.step} loss ${m.loss.toFixed(3)}`)));
    expect(summary.steps).toBe(12);
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(metrics.filter((m) => m.valLoss !== undefined).map((m) => m.step)).toEqual([12]);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(metrics.slice(-3).map((m) => m.loss))).toBeLessThan(mean(metrics.slice(0, 3).map((m) => m.loss)));
    expect(summary.finalValLoss).toBeLessThan(summary.baseValLoss as number);
    const withoutAdapter = await s.evaluate(false);
    expect(await s.evaluate(true)).toBeLessThan(withoutAdapter);
    // The base is frozen: without the adapter the validation loss is exactly what it was before training.
    expect(withoutAdapter).toBe(baseEval);

    const trained = await s.logits(ids);
    expect(Math.max(...trained.data.map((v, i) => Math.abs(v - base.data[i])))).toBeGreaterThan(1e-3);

    log('evaluated');
    const files = await s.exportAdapter();
    const header = await parseSafetensors(new Blob([files.weights]), 'adapter_model.safetensors');
    expect(header.metadata).toEqual({ format: 'pt' });
    expect([...header.entries.keys()].sort()).toEqual(
      [0, 1, 2, 3, 4].flatMap((l) => ['q_proj', 'v_proj'].flatMap((p) => ['A', 'B'].map((w) => `base_model.model.model.layers.${l}.self_attn.${p}.lora_${w}.weight`))).sort(),
    );
    expect(header.entries.get('base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight')?.shape).toEqual([32, 4]);
    expect(JSON.parse(files.config)).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, lora_dropout: 0.05, task_type: 'CAUSAL_LM' });

    // Reloading the export (as PEFT would) gives the trained model's logits.
    const again = new Session(await nodeGpu());
    await again.init();
    await again.loadModel(await namedBlobsFromDir(MODEL));
    await again.loadAdapter([
      { name: 'a/adapter_config.json', blob: new Blob([files.config]) },
      { name: 'a/adapter_model.safetensors', blob: new Blob([files.weights]) },
    ]);
    const reloaded = await again.logits(ids);
    expect(Math.max(...reloaded.data.map((v, i) => Math.abs(v - trained.data[i])))).toBeLessThan(1e-5);
  });
});
