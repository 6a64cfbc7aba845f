/**
 * Getting files onto the page: dropped folders (DataTransferItem.webkitGetAsEntry, walked recursively), file
 * pickers (with or without webkitdirectory), and the bundled samples under /sample. Everything becomes NamedBlob
 * with the path relative to the checkpoint folder, e.g. "config.json" or "onnx/model.onnx".
 */
import type { NamedBlob } from '../run/api';

export const SAMPLE_MODEL_FILES = [
  'config.json',
  'generation_config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
] as const;
export const SAMPLE_MODEL_LABEL = 'stories260K (sample)';
export const SAMPLE_DATASET_NAME = 'tinyshakespeare-excerpt.txt';

/** Hidden files and folders (.DS_Store, .git/...) are never part of a checkpoint. */
function isHidden(path: string): boolean {
  return path.split('/').some((part) => part.startsWith('.') || part === '__MACOSX');
}

/** Files as picked, and a label for them: the folder's name, or the single file's name, or "N files". */
export interface PickedFiles {
  files: NamedBlob[];
  label: string;
}

/** When every path starts with the same folder (a dropped or picked folder), drop that folder from the names. */
export function stripCommonRoot(files: NamedBlob[]): PickedFiles {
  const clean = files.map((f) => ({ ...f, name: f.name.replace(/^\/+/, '') }));
  const first = clean[0]?.name.split('/')[0];
  if (first === undefined || !clean.every((f) => f.name.includes('/') && f.name.split('/')[0] === first)) {
    return { files: clean, label: clean.length === 1 ? clean[0].name : `${clean.length} files` };
  }
  return { files: clean.map((f) => ({ ...f, name: f.name.slice(first.length + 1) })), label: first };
}

function finish(files: NamedBlob[]): PickedFiles {
  const picked = stripCommonRoot(files.filter((f) => !isHidden(f.name.replace(/^\/+/, ''))));
  picked.files.sort((a, b) => a.name.localeCompare(b.name));
  return picked;
}

/** Files from an <input type=file>: a folder picker gives webkitRelativePath, a plain picker only names. */
export function filesFromInput(list: FileList | null): PickedFiles {
  if (!list) return { files: [], label: 'no files' };
  return finish(Array.from(list, (file) => ({ name: file.webkitRelativePath || file.name, blob: file })));
}

function readAllEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  // readEntries returns at most ~100 entries per call; keep reading until it returns none.
  return new Promise((resolve, reject) => {
    const all: FileSystemEntry[] = [];
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) return resolve(all);
        all.push(...batch);
        next();
      }, reject);
    next();
  });
}

async function walkEntry(entry: FileSystemEntry, out: NamedBlob[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ name: entry.fullPath || file.name, blob: file });
  } else if (entry.isDirectory) {
    const children = await readAllEntries((entry as FileSystemDirectoryEntry).createReader());
    for (const child of children) await walkEntry(child, out);
  }
}

/**
 * Files from a drop, folders included. The entries must be taken synchronously inside the drop handler (the
 * DataTransfer is emptied when it returns), so call this directly from onDrop and await the result after.
 */
export function filesFromDrop(dt: DataTransfer): Promise<PickedFiles> {
  const entries: FileSystemEntry[] = [];
  const loose: File[] = [];
  for (const item of Array.from(dt.items)) {
    if (item.kind !== 'file') continue;
    const entry = typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null;
    if (entry) entries.push(entry);
    else {
      const file = item.getAsFile();
      if (file) loose.push(file);
    }
  }
  if (entries.length === 0 && loose.length === 0) loose.push(...Array.from(dt.files));
  return (async () => {
    const out: NamedBlob[] = loose.map((file) => ({ name: file.name, blob: file }));
    for (const entry of entries) await walkEntry(entry, out);
    return finish(out);
  })();
}

/** A quick local check before the worker parses anything: a checkpoint folder has a config.json. */
export function checkpointProblem(files: NamedBlob[]): string | null {
  if (files.length === 0) return 'No files were dropped or picked.';
  if (!files.some((f) => f.name === 'config.json')) {
    const names = files.slice(0, 8).map((f) => f.name).join(', ');
    return `No config.json among the ${files.length} file(s) (${names}${files.length > 8 ? ', ...' : ''}). Drop the whole checkpoint folder.`;
  }
  return null;
}

/**
 * A quick local check before the worker sees an adapter folder: it names adapter_config.json (PEFT) or
 * webpeft_delta.json. Anything subtler is the engine's to judge (its messages name the file and the problem); this
 * only keeps an obviously wrong pick from replacing the adapter the engine holds.
 */
export function adapterProblem(files: NamedBlob[]): string | null {
  if (files.length === 0) return 'No files were dropped or picked.';
  const base = (f: NamedBlob) => f.name.slice(f.name.lastIndexOf('/') + 1);
  if (files.some((f) => base(f) === 'adapter_config.json' || base(f) === 'webpeft_delta.json')) return null;
  const names = files.slice(0, 8).map((f) => f.name).join(', ');
  const zip = files.find((f) => f.name.endsWith('.zip'));
  return (
    `No adapter_config.json or webpeft_delta.json among the ${files.length} file(s) (${names}${files.length > 8 ? ', ...' : ''}). ` +
    'Open a PEFT adapter folder (adapter_config.json + adapter_model.safetensors) or a webpeft delta folder (webpeft_delta.json + webpeft_delta.safetensors)' +
    (zip ? `; unzip ${base(zip)} first.` : '.')
  );
}

async function fetchBlob(url: string): Promise<Blob> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`Could not fetch ${url}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!res.ok) throw new Error(`Could not fetch ${url}: HTTP ${res.status} ${res.statusText}`.trim());
  return res.blob();
}

/** public/sample/, under whatever base path the page is served from. */
function sampleUrl(path: string): string {
  return `${import.meta.env.BASE_URL}sample/${path}`;
}

export async function fetchSampleModel(): Promise<PickedFiles> {
  const files = await Promise.all(
    SAMPLE_MODEL_FILES.map(async (name) => ({ name, blob: await fetchBlob(sampleUrl(`stories260K/${name}`)) })),
  );
  return { files, label: SAMPLE_MODEL_LABEL };
}

export async function fetchSampleDataset(): Promise<PickedFiles> {
  const file = { name: SAMPLE_DATASET_NAME, blob: await fetchBlob(sampleUrl(SAMPLE_DATASET_NAME)) };
  return { files: [file], label: SAMPLE_DATASET_NAME };
}
