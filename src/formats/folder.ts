/**
 * A dropped folder as a lookup by file name. Browsers name dropped files by their path relative to the drop
 * (`stories260K/config.json`), a file picker gives bare names, and the CLI gives `<dir>/<file>`; stripping the
 * directory prefix all files share makes these the same. Files deeper than the folder's top level (an `onnx/`
 * subfolder, say) are kept in `names` but not looked up, so they cannot shadow the real config.json.
 */
import type { NamedBlob } from '../run/api';

export interface FolderIndex {
  /** The shared leading folder's name, for messages ("stories260K"), or a generic word when there is none. */
  label: string;
  /** Top-level files by base name. */
  byName: Map<string, Blob>;
  /** Every file's path relative to the folder root, sorted. */
  names: string[];
}

export function indexFolder(files: NamedBlob[], fallbackLabel: string): FolderIndex {
  const paths = files.map((f) => f.name.replace(/\\/g, '/').replace(/^\.\//, ''));
  const prefix = commonDirectory(paths);
  const byName = new Map<string, Blob>();
  const names: string[] = [];
  files.forEach((f, i) => {
    const rel = paths[i].slice(prefix.length);
    names.push(rel);
    if (rel.includes('/')) return;
    if (byName.has(rel)) throw new Error(`${labelOf(prefix, fallbackLabel)}: the file ${rel} was given twice`);
    byName.set(rel, f.blob);
  });
  names.sort();
  return { label: labelOf(prefix, fallbackLabel), byName, names };
}

/** The longest "a/b/" prefix that every path starts with ("" when the files share no folder). */
function commonDirectory(paths: string[]): string {
  if (paths.length === 0) return '';
  let dirs = paths[0].split('/').slice(0, -1);
  for (const p of paths.slice(1)) {
    const parts = p.split('/').slice(0, -1);
    let k = 0;
    while (k < dirs.length && k < parts.length && dirs[k] === parts[k]) k++;
    dirs = dirs.slice(0, k);
  }
  return dirs.length > 0 ? `${dirs.join('/')}/` : '';
}

function labelOf(prefix: string, fallback: string): string {
  const parts = prefix.split('/').filter((p) => p !== '');
  return parts.length > 0 ? parts[parts.length - 1] : fallback;
}

/** Parses a JSON file that must hold an object; errors name the file. */
export async function readJsonObject(blob: Blob, label: string): Promise<Record<string, unknown>> {
  const text = await blob.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${label} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${label} must hold a JSON object`);
  return parsed as Record<string, unknown>;
}
