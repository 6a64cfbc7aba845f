/** `webpeft export` flags and path checks (no GPU): required folders, --format, and --out never over an input. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlagReader, UsageError, parseFlags } from '../../cli/args';
import { checkExportPaths, parseExportArgs } from '../../cli/exportArgs';
import { adapterLine } from '../../cli/progress';

function parse(...argv: string[]) {
  return parseExportArgs(new FlagReader(parseFlags(argv)));
}

function error(...argv: string[]): string {
  try {
    parse(...argv);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

describe('export flags', () => {
  it('read the folders and default to safetensors', () => {
    expect(parse('--model', 'm', '--adapter', 'a', '--out', 'o')).toEqual({ modelDir: 'm', adapterDir: 'a', out: 'o', format: 'safetensors' });
    expect(parse('--model', 'm', '--adapter', 'a', '--out', 'o', '--format', 'safetensors').format).toBe('safetensors');
  });

  it('refuse missing folders, unknown formats and flags', () => {
    expect(error('--adapter', 'a', '--out', 'o')).toBe('--model is required');
    expect(error('--model', 'm', '--out', 'o')).toBe('--adapter is required');
    expect(error('--model', 'm', '--adapter', 'a')).toBe('--out is required');
    expect(error('--model', 'm', '--adapter', 'a', '--out', 'o', '--format', 'gguf')).toBe('--format must be safetensors, got "gguf"');
    expect(error('--model', 'm', '--adapter', 'a', '--out', 'o', '--format')).toBe('--format needs a value');
    expect(error('--model', 'm', '--adapter', 'a', '--out', 'o', '--merged', 'x')).toBe('unknown flag --merged');
  });

  it('refuse writing over the base or the adapter', () => {
    expect(error('--model', 'm', '--adapter', 'a', '--out', './m/')).toMatch(/^--out \.\/m\/ is the --model folder/);
    expect(error('--model', 'm', '--adapter', 'a', '--out', 'a')).toMatch(/^--out a is the --adapter folder/);
  });
});

describe('export paths', () => {
  let root = '';
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'webpeft-export-'));
    await writeFile(join(root, 'file.txt'), 'x');
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const cmd = (modelDir: string, adapterDir: string, out: string) => ({ modelDir, adapterDir, out, format: 'safetensors' as const });

  it('accept existing folders and a new or existing --out folder', async () => {
    await expect(checkExportPaths(cmd(root, root, join(root, 'merged')))).resolves.toBeUndefined();
    await expect(checkExportPaths(cmd(root, root, root))).resolves.toBeUndefined();
  });

  it('name the flag of a missing or wrong path', async () => {
    await expect(checkExportPaths(cmd(join(root, 'nope'), root, 'o'))).rejects.toThrow(`--model ${join(root, 'nope')}: no such folder`);
    await expect(checkExportPaths(cmd(root, join(root, 'nope'), 'o'))).rejects.toThrow(`--adapter ${join(root, 'nope')}: no such folder`);
    await expect(checkExportPaths(cmd(root, join(root, 'file.txt'), 'o'))).rejects.toThrow(/--adapter .*file\.txt is not a folder \(give the adapter folder\)/);
    await expect(checkExportPaths(cmd(root, root, join(root, 'file.txt')))).rejects.toThrow(UsageError);
  });
});

describe('adapter line', () => {
  it('names the loaded kind, and the rank where the format has one', () => {
    expect(adapterLine({ kind: 'lora', modules: 24, r: 8 })).toBe('adapter: lora, 24 modules, r = 8');
    expect(adapterLine({ kind: 'ia3', modules: 1, r: 0 })).toBe('adapter: ia3, 1 module');
    expect(adapterLine({ kind: 'webpeft-delta', modules: 12, r: 0 })).toBe('adapter: webpeft-delta, 12 modules');
  });
});
