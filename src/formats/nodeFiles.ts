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
  const names = (await readdir(dir)).sort();
  const out: NamedBlob[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (!(await stat(path)).isFile()) continue;
    out.push(await namedBlobFromFile(path, `${folder}/${name}`));
  }
  return out;
}
