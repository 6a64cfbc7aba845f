/** The CLI commands: the same Session the page's worker runs, on Dawn's WebGPU in Node. */
import { appendFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { namedBlobFromFile, namedBlobsFromDir } from '../src/formats/nodeFiles';
import { nodeGpu } from '../src/gpu/node';
import type { StepMetrics, TrainSettings } from '../src/run/api';
import { Session } from '../src/run/session';
import { type FlagReader, UsageError } from './args';
import { progressReporter } from './progress';

async function openSession(modelDir: string): Promise<Session> {
  const session = new Session(await nodeGpu());
  await session.init();
  await session.loadModel(await namedBlobsFromDir(modelDir));
  return session;
}

export async function trainCommand(f: FlagReader): Promise<void> {
  const modelDir = f.string('model');
  const dataPath = f.string('data');
  const out = f.string('out');
  const method = f.string('method', 'lora');
  if (method !== 'lora') throw new UsageError(`--method ${method} is not available yet (available: lora)`);
  const rank = f.int('rank', 8);
  const s: TrainSettings = {
    method: 'lora',
    lora: {
      rank,
      alpha: f.number('alpha', 2 * rank),
      useRslora: f.bool('rslora'),
      dropout: f.number('dropout', 0),
      targets: f.list('targets', 'q_proj,v_proj'),
      initLoraWeights: f.string('init', 'default') === 'gaussian' ? 'gaussian' : 'default',
    },
    steps: f.int('steps', 100),
    batchSize: f.int('batch', 4),
    seqLen: f.int('seq-len', 128),
    gradAccum: f.int('grad-accum', 1),
    lr: f.number('lr', 2e-4),
    warmupSteps: f.int('warmup', 0),
    schedule: f.string('schedule', 'cosine') === 'constant' ? 'constant' : 'cosine',
    weightDecay: f.number('weight-decay', 0),
    beta1: f.number('beta1', 0.9),
    beta2: f.number('beta2', 0.999),
    eps: f.number('eps', 1e-8),
    maxGradNorm: f.number('max-grad-norm', 1),
    valEvery: f.int('val-every', 0),
    seed: f.int('seed', 42),
  };
  const valFraction = f.number('val-fraction', s.valEvery > 0 ? 0.1 : 0);
  const onBadLine = f.string('on-bad-line', 'skip');
  if (onBadLine !== 'skip' && onBadLine !== 'refuse') throw new UsageError('--on-bad-line must be skip or refuse');
  const trainOnAllTokens = f.bool('all-tokens');
  f.done();
  const dataFile = await namedBlobFromFile(dataPath);
  const session = await openSession(modelDir);
  const data = await session.loadDataset(dataFile, { onBadLine, valFraction, seed: s.seed, trainOnAllTokens, seqLen: s.seqLen });
  for (const p of data.problems.slice(0, 5)) process.stderr.write(`warning: ${data.fileName} line ${p.line}: ${p.message}\n`);
  if (data.problems.length > 5) process.stderr.write(`warning: ${data.problems.length - 5} more problem lines skipped\n`);
  await mkdir(out, { recursive: true });
  const metricsPath = join(out, 'metrics.jsonl');
  await writeFile(metricsPath, '');
  const progress = progressReporter(s.steps);
  // Appended as each step completes, so a run that fails half-way keeps its metrics.
  const summary = await session.train(s, (m: StepMetrics) => {
    appendFileSync(metricsPath, `${JSON.stringify(metricsLine(m))}\n`);
    progress(m);
  });
  const adapter = await session.exportAdapter();
  await writeFile(join(out, 'adapter_config.json'), adapter.config);
  await writeFile(join(out, 'adapter_model.safetensors'), adapter.weights);
  process.stderr.write(`\ntrained ${summary.steps} steps in ${summary.seconds.toFixed(1)} s, final loss ${summary.finalLoss.toFixed(4)}; adapter written to ${out}\n`);
}

/** metrics.jsonl uses snake_case keys, like the Hugging Face Trainer's logs. */
function metricsLine(m: StepMetrics): Record<string, number> {
  const line: Record<string, number> = { step: m.step, loss: m.loss, lr: m.lr, tokens_per_s: m.tokensPerS };
  if (m.gradNorm !== undefined) line.grad_norm = m.gradNorm;
  if (m.valLoss !== undefined) line.val_loss = m.valLoss;
  return line;
}

export async function logitsCommand(f: FlagReader): Promise<void> {
  const modelDir = f.string('model');
  const adapterDir = f.optional('adapter');
  const idsText = f.string('ids');
  const out = f.string('out');
  f.done();
  const ids = idsText.split(',').map((s) => {
    const v = Number(s.trim());
    if (!Number.isInteger(v)) throw new UsageError(`--ids must be comma-separated integers, got "${s}"`);
    return v;
  });
  const session = await openSession(modelDir);
  if (adapterDir) await session.loadAdapter(await namedBlobsFromDir(adapterDir));
  const { shape, data } = await session.logits(ids);
  await writeFile(out, JSON.stringify({ shape, logits: Array.from(data) }));
}
