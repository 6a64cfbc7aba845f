/**
 * Node-only: files on disk as NamedBlobs. `fs.openAsBlob` returns a Blob that reads from the file on demand, so
 * opening a checkpoint reads only headers, exactly like a dropped folder in the browser. The only module in
 * src/formats that imports node:*; keep it out of browser bundles.
 */
import { openAsBlob } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { NamedBlob } from '../run/api';

/** One file; `name` defaults to its base name. */
export async function namedBlobFromFile(path: string, name: string = basename(path)): Promise<NamedBlob> {
  const info = await stat(path).catch(() => null);
  if (!info) throw new Error(`${path}: no such file`);
  if (!info.isFile()) throw new Error(`${path} is not a file`);
  // Node's Blob (node:buffer) is the same class as the global Blob in Node 20; only the .d.ts types differ.
  const blob = (await openAsBlob(path)) as unknown as Blob;
  return { name, blob };
}

/**
 * The top-level files of a folder, named "<folder name>/<file>" so messages can name the folder. Subfolders are
 * skipped; symlinks are followed (the Hugging Face cache's snapshot folders are made of them).
 */
export async function namedBlobsFromDir(dir: string): Promise<NamedBlob[]> {
  const folder = basename(resolve(dir));
  const info = await stat(dir).catch(() => null);
  if (!info) throw new Error(`${dir}: no such folder`);
  if (!info.isDirectory()) throw new Error(`${dir} is not a folder (give the checkpoint or adapter folder)`);
  const names = (await readdir(dir)).sort();
  const out: NamedBlob[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (!(await stat(path)).isFile()) continue;
    out.push(await namedBlobFromFile(path, `${folder}/${name}`));
  }
  return out;
}
