/** The CLI commands: the same Session the page's worker runs, on Dawn's WebGPU in Node. */
import { appendFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { namedBlobFromFile, namedBlobsFromDir } from '../src/formats/nodeFiles';
import { nodeGpu } from '../src/gpu/node';
import type { EngineApi, ModelSummary, OutputFile, SparsitySnapshot, SpectraSnapshot, StepMetrics } from '../src/run/api';
import { Session } from '../src/run/session';
import { type FlagReader, UsageError } from './args';
import { checkExportPaths, checkFolder, parseExportArgs } from './exportArgs';
import { adapterLine, countReporter, progressReporter, setupReporter, sparsityReporter, stageReporter } from './progress';
import { parseTrainArgs, resolveModelDefaults } from './trainArgs';

/** The CLI drives the engine through its API only (EngineApi), as the page's worker does. */
async function openSession(modelDir: string): Promise<{ session: EngineApi; model: ModelSummary }> {
  const session: EngineApi = new Session(await nodeGpu());
  await session.init();
  const model = await session.loadModel(await namedBlobsFromDir(modelDir));
  return { session, model };
}

const SPARSE_METHODS: readonly string[] = ['sparse', 'sara', 'subnet', 'dsee'];

export async function trainCommand(f: FlagReader): Promise<void> {
  const cmd = parseTrainArgs(f);
  const s = cmd.settings;
  await checkFolder('model', cmd.modelDir);
  const dataFile = await namedBlobFromFile(cmd.dataPath);
  const { session, model } = await openSession(cmd.modelDir);
  const chosen = resolveModelDefaults(cmd, model.modelType);
  if (chosen) process.stderr.write(`${chosen}\n`);
  const data = await session.loadDataset(dataFile, cmd.dataset);
  for (const p of data.problems.slice(0, 5)) process.stderr.write(`warning: ${data.fileName} line ${p.line}: ${p.message}\n`);
  if (data.problems.length > 5) process.stderr.write(`warning: ${data.problems.length - 5} more problem lines skipped\n`);
  await mkdir(cmd.out, { recursive: true });
  const metricsPath = join(cmd.out, 'metrics.jsonl');
  await writeFile(metricsPath, '');
  const spectraPath = join(cmd.out, 'spectra.jsonl');
  if (s.spectraEvery) await writeFile(spectraPath, '');
  const sparsityPath = join(cmd.out, 'sparsity.jsonl');
  if (SPARSE_METHODS.includes(s.method)) await writeFile(sparsityPath, '');
  const progress = progressReporter(s.steps);
  const sparsity = sparsityReporter();
  // Appended as each step (or snapshot) completes, so a run that fails half-way keeps what it measured.
  const summary = await session.train(
    s,
    (m: StepMetrics) => {
      appendFileSync(metricsPath, `${JSON.stringify(metricsLine(m))}\n`);
      progress(m);
    },
    (snapshot: SpectraSnapshot) => appendFileSync(spectraPath, `${JSON.stringify(snapshot)}\n`),
    setupReporter(),
    (snapshot: SparsitySnapshot) => {
      appendFileSync(sparsityPath, `${JSON.stringify(snapshot)}\n`);
      sparsity(snapshot);
    },
  );
  const adapter = await session.exportAdapter(cmd.adapterFormat);
  const configName = adapter.configName ?? 'adapter_config.json';
  const weightsName = adapter.weightsName ?? 'adapter_model.safetensors';
  await writeFiles(cmd.out, [
    { name: configName, data: new TextEncoder().encode(adapter.config) },
    { name: weightsName, data: adapter.weights },
  ]);
  process.stderr.write(`\ntrained ${summary.steps} steps (${s.method}) in ${summary.seconds.toFixed(1)} s, final loss ${summary.finalLoss.toFixed(4)}; adapter (${configName}, ${weightsName}) written to ${cmd.out}\n`);
  if (cmd.mergedDir) {
    const files = await session.exportMerged();
    await writeFiles(cmd.mergedDir, files);
    process.stderr.write(`merged model (${files.map((o) => o.name).join(', ')}) written to ${cmd.mergedDir}\n`);
  }
}

/** Writes a folder of output files, refusing names that would land outside it. */
async function writeFiles(dir: string, files: OutputFile[], onProgress?: (done: number, total: number) => void): Promise<void> {
  const root = resolve(dir);
  for (const file of files) {
    const path = resolve(root, file.name);
    if (!path.startsWith(root + sep)) throw new Error(`refusing to write "${file.name}" outside ${dir}`);
  }
  for (const [i, file] of files.entries()) {
    const path = resolve(root, file.name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, file.data);
    onProgress?.(i + 1, files.length);
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
  await checkFolder('model', modelDir);
  if (adapterDir) await checkFolder('adapter', adapterDir);
  const { session } = await openSession(modelDir);
  if (adapterDir) process.stderr.write(`${adapterLine(await session.loadAdapter(await namedBlobsFromDir(adapterDir)))}\n`);
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
  await checkFolder('model', modelDir);
  if (adapterDir) await checkFolder('adapter', adapterDir);
  const { session } = await openSession(modelDir);
  if (adapterDir) process.stderr.write(`${adapterLine(await session.loadAdapter(await namedBlobsFromDir(adapterDir)))}\n`);
  const file = await session.spectrum(countReporter('weights'));
  await mkdir(dirname(resolve(out)), { recursive: true });
  await writeFile(out, JSON.stringify(file));
  process.stderr.write(`singular values of ${Object.keys(file.weights).length} weights written to ${out}\n`);
}

/**
 * The base checkpoint with an adapter merged in (any format loadAdapter accepts), as the folder transformers
 * loads: config.json, model.safetensors and the tokenizer files.
 */
export async function exportCommand(f: FlagReader): Promise<void> {
  const cmd = parseExportArgs(f);
  await checkExportPaths(cmd);
  const stage = stageReporter();
  stage(`loading the model from ${cmd.modelDir}`);
  const { session, model } = await openSession(cmd.modelDir);
  stage(`${model.modelType}, ${model.layers} layers, ${model.parameters} parameters (${model.dtype}); loading the adapter from ${cmd.adapterDir}`);
  const adapter = await session.loadAdapter(await namedBlobsFromDir(cmd.adapterDir));
  stage(`${adapterLine(adapter)}; merging`);
  const files = await session.exportMerged();
  stage(`writing ${files.length} files (${mib(files.reduce((a, o) => a + o.data.byteLength, 0))}) to ${cmd.out}`);
  const written = countReporter('files');
  await writeFiles(cmd.out, files, written);
  stage(`merged ${cmd.format} checkpoint (${files.map((o) => o.name).join(', ')}) written to ${cmd.out}`);
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
