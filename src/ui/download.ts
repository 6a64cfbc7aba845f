/** Saving the adapter (single files and adapter.zip) and the merged model (a zip of its folder); fflate, in memory. */
import { strToU8, zipSync, type Zippable } from 'fflate';
import type { AdapterFiles, OutputFile } from '../run/api';

export const CONFIG_NAME = 'adapter_config.json';
export const WEIGHTS_NAME = 'adapter_model.safetensors';
export const ZIP_NAME = 'adapter.zip';
export const MERGED_ZIP_NAME = 'merged_model.zip';
/** webpeft's own adapter format, for the updates PEFT has no format for (see the README). */
export const DELTA_CONFIG_NAME = 'webpeft_delta.json';
export const DELTA_WEIGHTS_NAME = 'webpeft_delta.safetensors';
export const DELTA_ZIP_NAME = 'webpeft_delta.zip';

/** The names the exported files go by: PEFT's unless the export names them (a webpeft delta). */
export function configFileName(files: Pick<AdapterFiles, 'configName'>): string {
  return files.configName ?? CONFIG_NAME;
}

export function weightsFileName(files: Pick<AdapterFiles, 'weightsName'>): string {
  return files.weightsName ?? WEIGHTS_NAME;
}

export function isDelta(files: Pick<AdapterFiles, 'configName'>): boolean {
  return files.configName === DELTA_CONFIG_NAME;
}

/** A copy backed by a plain ArrayBuffer (the worker's bytes may sit in any ArrayBufferLike). */
function own(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

export function saveBlob(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  a.style.display = 'none';
  document.body.appendChild(a);
  a.click();
  a.remove();
  // Revoke later: the download has to start reading the URL first.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function configBlob(files: AdapterFiles): Blob {
  return new Blob([files.config], { type: 'application/json' });
}

export function weightsBlob(files: AdapterFiles): Blob {
  return new Blob([own(files.weights)], { type: 'application/octet-stream' });
}

/** Both files in one archive, the layout PeftModel.from_pretrained (or webpeft, for a delta) reads from a folder. */
export function zipBlob(files: AdapterFiles): Blob {
  const zipped = zipSync(
    { [configFileName(files)]: strToU8(files.config), [weightsFileName(files)]: files.weights },
    { level: 6 },
  );
  return new Blob([own(zipped)], { type: 'application/zip' });
}

/**
 * The merged checkpoint folder (config.json, model.safetensors, tokenizer files) as one archive. Weights are stored
 * uncompressed: float data barely compresses and the file can be as large as the model.
 */
export function mergedZipBlob(files: OutputFile[]): Blob {
  const entries: Zippable = {};
  for (const f of files) entries[f.name] = [f.data, { level: /\.(safetensors|bin)$/.test(f.name) ? 0 : 6 }];
  return new Blob([own(zipSync(entries))], { type: 'application/zip' });
}
