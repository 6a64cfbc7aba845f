/** The CLI commands: the same Session the page's worker runs, on Dawn's WebGPU in Node. */
import { appendFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { namedBlobFromFile, namedBlobsFromDir } from '../src/formats/nodeFiles';
import { nodeGpu } from '../src/gpu/node';
import type { OutputFile, SpectraSnapshot, StepMetrics } from '../src/run/api';
import { Session } from '../src/run/session';
import { type FlagReader, UsageError } from './args';
import { countReporter, progressReporter, setupReporter } from './progress';
import { parseTrainArgs } from './trainArgs';

async function openSession(modelDir: string): Promise<Session> {
  const session = new Session(await nodeGpu());
  await session.init();
  await session.loadModel(await namedBlobsFromDir(modelDir));
  return session;
}

export async function trainCommand(f: FlagReader): Promise<void> {
  const cmd = parseTrainArgs(f);
  const s = cmd.settings;
  const dataFile = await namedBlobFromFile(cmd.dataPath);
  const session = await openSession(cmd.modelDir);
  const data = await session.loadDataset(dataFile, cmd.dataset);
  for (const p of data.problems.slice(0, 5)) process.stderr.write(`warning: ${data.fileName} line ${p.line}: ${p.message}\n`);
  if (data.problems.length > 5) process.stderr.write(`warning: ${data.problems.length - 5} more problem lines skipped\n`);
  await mkdir(cmd.out, { recursive: true });
  const metricsPath = join(cmd.out, 'metrics.jsonl');
  await writeFile(metricsPath, '');
  const spectraPath = join(cmd.out, 'spectra.jsonl');
  if (s.spectraEvery) await writeFile(spectraPath, '');
  const progress = progressReporter(s.steps);
  // Appended as each step (or snapshot) completes, so a run that fails half-way keeps what it measured.
  const summary = await session.train(
    s,
    (m: StepMetrics) => {
      appendFileSync(metricsPath, `${JSON.stringify(metricsLine(m))}\n`);
      progress(m);
    },
    (snapshot: SpectraSnapshot) => appendFileSync(spectraPath, `${JSON.stringify(snapshot)}\n`),
    setupReporter(),
  );
  const adapter = await session.exportAdapter();
  await writeFile(join(cmd.out, 'adapter_config.json'), adapter.config);
  await writeFile(join(cmd.out, 'adapter_model.safetensors'), adapter.weights);
  process.stderr.write(`\ntrained ${summary.steps} steps (${s.method}) in ${summary.seconds.toFixed(1)} s, final loss ${summary.finalLoss.toFixed(4)}; adapter written to ${cmd.out}\n`);
  if (cmd.mergedDir) {
    const files = await session.exportMerged();
    await writeFiles(cmd.mergedDir, files);
    process.stderr.write(`merged model (${files.map((o) => o.name).join(', ')}) written to ${cmd.mergedDir}\n`);
  }
}

/** Writes a folder of output files, refusing names that would land outside it. */
async function writeFiles(dir: string, files: OutputFile[]): Promise<void> {
  const root = resolve(dir);
  for (const file of files) {
    const path = resolve(root, file.name);
    if (!path.startsWith(root + sep)) throw new Error(`refusing to write "${file.name}" outside ${dir}`);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, file.data);
  }
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

/**
 * Singular values of every 2-D weight of the checkpoint (of W + ΔW where an adapter touches it), in the schema of
 * the reference spectra.json, so the two can be compared directly.
 */
export async function spectrumCommand(f: FlagReader): Promise<void> {
  const modelDir = f.string('model');
  const adapterDir = f.optional('adapter');
  const out = f.string('out');
  f.done();
  const session = await openSession(modelDir);
  if (adapterDir) {
    const a = await session.loadAdapter(await namedBlobsFromDir(adapterDir));
    process.stderr.write(`adapter: ${a.modules} modules, r = ${a.r}\n`);
  }
  const file = await session.spectrum(countReporter('weights'));
  await mkdir(dirname(resolve(out)), { recursive: true });
  await writeFile(out, JSON.stringify(file));
  process.stderr.write(`singular values of ${Object.keys(file.weights).length} weights written to ${out}\n`);
}
