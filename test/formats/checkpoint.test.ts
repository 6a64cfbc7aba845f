import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../src/formats/checkpoint';
import { namedBlobsFromDir } from '../../src/formats/nodeFiles';
import { parseSafetensors, readTensorF32, writeSafetensors } from '../../src/formats/safetensors';
import type { NamedBlob } from '../../src/run/api';
import { MODELS, tensorsOf } from './helpers';

const MODEL_NAMES = readdirSync(MODELS).sort();
const tempDirs: string[] = [];
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.compare(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

function textFile(name: string, text: string): NamedBlob {
  return { name, blob: new Blob([text]) };
}

async function openError(files: NamedBlob[]): Promise<string> {
  try {
    await openCheckpoint(files);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected openCheckpoint to throw');
}

/** Writes llama-tiny's tensors into two shards (+ index unless told otherwise) in a fresh temp folder. */
async function shardedLlamaTiny(options: { withIndex: boolean }): Promise<{ dir: string; names: string[] }> {
  const files = await namedBlobsFromDir(join(MODELS, 'llama-tiny'));
  const model = files.find((f) => f.name.endsWith('/model.safetensors')) as NamedBlob;
  const tensors = await tensorsOf(await parseSafetensors(model.blob, 'model.safetensors'));
  const dir = mkdtempSync(join(tmpdir(), 'webpeft-sharded-'));
  tempDirs.push(dir);
  const half = Math.ceil(tensors.length / 2);
  const shards = [tensors.slice(0, half), tensors.slice(half)];
  const weightMap: Record<string, string> = {};
  shards.forEach((part, i) => {
    const shardName = `model-0000${i + 1}-of-00002.safetensors`;
    writeFileSync(join(dir, shardName), writeSafetensors(part));
    for (const t of part) weightMap[t.name] = shardName;
  });
  if (options.withIndex) writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 808192 }, weight_map: weightMap }));
  for (const f of files) if (/\/(config|generation_config)\.json$/.test(f.name)) writeFileSync(join(dir, f.name.split('/')[1]), await f.blob.text());
  return { dir, names: tensors.map((t) => t.name) };
}

describe('openCheckpoint on the fixture models', () => {
  for (const name of MODEL_NAMES) {
    it(`opens ${name}`, async () => {
      const ckpt = await openCheckpoint(await namedBlobsFromDir(join(MODELS, name)));
      expect(ckpt.label).toBe(name);
      expect(typeof ckpt.config.model_type).toBe('string');
      expect(ckpt.weightFiles.map((f) => f.fileName)).toEqual(['model.safetensors']);
      expect(ckpt.tensorNames().length).toBeGreaterThan(10);
      expect(ckpt.files).toContain('config.json');
      expect(ckpt.dtypes()).toEqual([name === 'tiny-random-llama' ? 'F16' : 'F32']);
      const first = ckpt.tensorNames()[0];
      const entry = ckpt.entry(first);
      expect(entry.fileName).toBe('model.safetensors');
      const values = await ckpt.read(first);
      expect(values.length).toBe(entry.shape.reduce((a, d) => a * d, 1));
      expect(values.every(Number.isFinite)).toBe(true);
    });
  }

  it('exposes the tokenizer and generation config when present', async () => {
    const ckpt = await openCheckpoint(await namedBlobsFromDir(join(MODELS, 'stories260K')));
    expect(ckpt.tokenizerJson).toBeInstanceOf(Blob);
    expect(ckpt.tokenizerConfig).toBeTypeOf('object');
    expect(ckpt.generationConfig).toBeTypeOf('object');
    expect(ckpt.specialTokensMap).toBeTypeOf('object');
    expect(ckpt.file('tokenizer.model')).toBeInstanceOf(Blob);
    expect(ckpt.file('nope.txt')).toBeUndefined();
    expect(ckpt.has('model.embed_tokens.weight')).toBe(true);
    expect(ckpt.has('lm_head.weight')).toBe(false); // tied
    expect(() => ckpt.entry('lm_head.weight')).toThrow('stories260K: the checkpoint has no tensor named "lm_head.weight"');
  });

  it('ignores other .safetensors files next to model.safetensors', async () => {
    // tiny-random-llama's folder also holds reference_logits_f32.safetensors.
    const ckpt = await openCheckpoint(await namedBlobsFromDir(join(MODELS, 'tiny-random-llama')));
    expect(ckpt.files).toContain('reference_logits_f32.safetensors');
    expect(ckpt.has('logits')).toBe(false);
  });

  it('accepts bare names and nested names with a common folder', async () => {
    const files = await namedBlobsFromDir(join(MODELS, 'llama-tiny'));
    const bare = files.map((f) => ({ name: f.name.split('/')[1], blob: f.blob }));
    expect((await openCheckpoint(bare)).label).toBe('checkpoint');
    const nested = files.map((f) => ({ name: `drop/${f.name}`, blob: f.blob }));
    nested.push(textFile('drop/llama-tiny/onnx/config.json', 'not json'));
    const ckpt = await openCheckpoint(nested);
    expect(ckpt.label).toBe('llama-tiny');
    expect(ckpt.files).toContain('onnx/config.json');
  });
});

describe('sharded checkpoints', () => {
  it('reads a two-shard checkpoint with an index back to the same values', async () => {
    const { dir, names } = await shardedLlamaTiny({ withIndex: true });
    const ckpt = await openCheckpoint(await namedBlobsFromDir(dir));
    const original = await openCheckpoint(await namedBlobsFromDir(join(MODELS, 'llama-tiny')));
    expect(ckpt.weightFiles.map((f) => f.fileName)).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(new Set(ckpt.tensorNames())).toEqual(new Set(names));
    expect(ckpt.entry('lm_head.weight').fileName).toBe('model-00001-of-00002.safetensors');
    expect(ckpt.entry('model.norm.weight').fileName).toBe('model-00002-of-00002.safetensors');
    for (const name of names) expect(sameBits(await ckpt.read(name), await original.read(name)), name).toBe(true);
  });

  it('prefers model.safetensors over a shard index, as transformers does', async () => {
    const { dir } = await shardedLlamaTiny({ withIndex: true });
    const files = [...(await namedBlobsFromDir(dir)), { name: `${dir.split('/').pop()}/model.safetensors`, blob: new Blob([writeSafetensors([])]) }];
    const ckpt = await openCheckpoint(files);
    expect(ckpt.weightFiles.map((f) => f.fileName)).toEqual(['model.safetensors']);
  });

  it('merges several .safetensors files without an index', async () => {
    const { dir, names } = await shardedLlamaTiny({ withIndex: false });
    const ckpt = await openCheckpoint(await namedBlobsFromDir(dir));
    expect(ckpt.tensorNames().length).toBe(names.length);
  });

  it('names a missing shard', async () => {
    const { dir } = await shardedLlamaTiny({ withIndex: true });
    const files = (await namedBlobsFromDir(dir)).filter((f) => !f.name.endsWith('model-00002-of-00002.safetensors'));
    const folder = dir.split('/').pop() as string;
    expect(await openError(files)).toBe(`${folder}: model.safetensors.index.json lists 1 shard that is not in the folder: model-00002-of-00002.safetensors`);
  });

  it('refuses an index that names a tensor its shard lacks', async () => {
    const { dir } = await shardedLlamaTiny({ withIndex: true });
    const files = await namedBlobsFromDir(dir);
    const index = files.find((f) => f.name.endsWith('index.json')) as NamedBlob;
    const parsed = JSON.parse(await index.blob.text());
    parsed.weight_map['model.extra.weight'] = 'model-00001-of-00002.safetensors';
    index.blob = new Blob([JSON.stringify(parsed)]);
    expect(await openError(files)).toMatch(/says tensor "model\.extra\.weight" is in model-00001-of-00002\.safetensors, but that shard has no such tensor/);
  });

  it('refuses the same tensor in two files', async () => {
    const model = (await namedBlobsFromDir(join(MODELS, 'llama-tiny'))).find((f) => f.name.endsWith('model.safetensors')) as NamedBlob;
    const files = [textFile('m/config.json', '{}'), { name: 'm/a.safetensors', blob: model.blob }, { name: 'm/b.safetensors', blob: model.blob }];
    expect(await openError(files)).toMatch(/^m: tensor "lm_head\.weight" is in both a\.safetensors and b\.safetensors/);
  });
});

describe('openCheckpoint errors', () => {
  it('needs config.json', async () => {
    expect(await openError([textFile('x/model.safetensors', '')])).toBe('x: config.json is missing; drop the whole checkpoint folder');
  });

  it('names a config.json that is not JSON', async () => {
    expect(await openError([textFile('x/config.json', '{oops')])).toMatch(/^x\/config\.json is not valid JSON \(/);
  });

  it('explains that pickle checkpoints are not supported', async () => {
    const msg = await openError([textFile('x/config.json', '{}'), textFile('x/pytorch_model.bin', 'pickle')]);
    expect(msg).toMatch(/^x: found pytorch_model\.bin, but PyTorch pickle checkpoints \(\.bin\/\.pt\) are not supported/);
    expect(msg).toContain('save_pretrained(out_dir, safe_serialization=True)');
    expect(await openError([textFile('x/config.json', '{}')])).toMatch(/^x: no \.safetensors weights found\. Convert/);
  });

  it('passes on a corrupt weights file with its name', async () => {
    expect(await openError([textFile('x/config.json', '{}'), textFile('x/model.safetensors', 'abc')])).toBe(
      'x/model.safetensors: file is 3 bytes, shorter than the 8-byte header length every safetensors file starts with',
    );
  });

  it('reads tensors lazily through the helper', async () => {
    const files = await namedBlobsFromDir(join(MODELS, 'gpt2-tiny'));
    const ckpt = await openCheckpoint(files);
    const direct = await readTensorF32(ckpt.weightFiles[0], 'transformer.wte.weight');
    expect(sameBits(await ckpt.read('transformer.wte.weight'), direct)).toBe(true);
  });
});
