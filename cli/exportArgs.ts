/**
 * `webpeft export` flags: the base checkpoint, an adapter folder (any format the session loads), the output
 * format and folder. parseExportArgs is pure; checkExportPaths looks at the disk (not the GPU), so both are
 * unit-tested (test/cli/exportArgs.test.ts).
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type FlagReader, UsageError } from './args';

/** Merged-checkpoint formats: transformers' config.json + model.safetensors (+ the tokenizer files). */
export const EXPORT_FORMATS = ['safetensors'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportCommand {
  modelDir: string;
  adapterDir: string;
  format: ExportFormat;
  out: string;
}

export function parseExportArgs(f: FlagReader): ExportCommand {
  const modelDir = f.string('model');
  const adapterDir = f.string('adapter');
  const out = f.string('out');
  const format = f.choice('format', EXPORT_FORMATS, 'safetensors');
  f.done();
  const same = (a: string, b: string) => resolve(a) === resolve(b);
  if (same(out, modelDir)) throw new UsageError(`--out ${out} is the --model folder: the merged checkpoint would overwrite the base; give another folder`);
  if (same(out, adapterDir)) throw new UsageError(`--out ${out} is the --adapter folder; give another folder for the merged checkpoint`);
  return { modelDir, adapterDir, format, out };
}

/** An input folder given as --model or --adapter exists (checked before the GPU starts), naming the flag. */
export async function checkFolder(flag: 'model' | 'adapter', dir: string): Promise<void> {
  const info = await stat(dir).catch(() => null);
  if (!info) throw new UsageError(`--${flag} ${dir}: no such folder`);
  if (!info.isDirectory()) throw new UsageError(`--${flag} ${dir} is not a folder (give the ${flag === 'model' ? 'checkpoint' : 'adapter'} folder)`);
}

/** Before any GPU work: the input folders exist, and --out is a folder or does not exist yet. */
export async function checkExportPaths(cmd: ExportCommand): Promise<void> {
  await checkFolder('model', cmd.modelDir);
  await checkFolder('adapter', cmd.adapterDir);
  const out = await stat(cmd.out).catch(() => null);
  if (out && !out.isDirectory()) throw new UsageError(`--out ${cmd.out} exists and is not a folder`);
}
