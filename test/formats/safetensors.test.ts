import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { namedBlobFromFile } from '../../src/formats/nodeFiles';
import { parseSafetensors, readTensorF32, readTensorI32, readTensorRaw, writeSafetensors } from '../../src/formats/safetensors';
import { FIXTURES, MODELS, REFERENCE, findSafetensors, rawSafetensors, tensorsOf } from './helpers';

const F32_ENTRY = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

async function parseError(blob: Blob): Promise<string> {
  try {
    await parseSafetensors(blob, 'bad.safetensors');
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected parseSafetensors to throw');
}

async function open(path: string) {
  const { blob } = await namedBlobFromFile(path);
  return parseSafetensors(blob, relative(FIXTURES, path));
}

describe('parseSafetensors: header validation', () => {
  it('rejects a file shorter than the 8-byte length', async () => {
    expect(await parseError(new Blob([new Uint8Array(5)]))).toBe(
      'bad.safetensors: file is 5 bytes, shorter than the 8-byte header length every safetensors file starts with',
    );
  });

  it('rejects a header length that does not fit in the file', async () => {
    const msg = await parseError(rawSafetensors({ a: F32_ENTRY }, 8, 1000n));
    expect(msg).toMatch(/^bad\.safetensors: header length 1000 bytes does not fit in the \d+-byte file/);
  });

  it('rejects an absurd header length without reading it', async () => {
    expect(await parseError(rawSafetensors('{}', 0, 2n ** 40n))).toMatch(/header length 1099511627776 bytes is absurd \(limit 100000000\)/);
  });

  it('rejects a header that is not UTF-8, not JSON, or not an object', async () => {
    const notUtf8 = new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe]);
    expect(await parseError(new Blob([notUtf8]))).toBe('bad.safetensors: header is not valid UTF-8');
    expect(await parseError(rawSafetensors('{"a": ', 0))).toMatch(/^bad\.safetensors: header is not valid JSON \(/);
    expect(await parseError(rawSafetensors('[1,2]', 0))).toBe('bad.safetensors: header JSON is not an object');
  });

  it('names a missing field', async () => {
    expect(await parseError(rawSafetensors({ w: { shape: [2], data_offsets: [0, 8] } }, 8))).toBe('bad.safetensors: tensor "w": missing dtype');
    expect(await parseError(rawSafetensors({ w: { dtype: 'F32', data_offsets: [0, 8] } }, 8))).toBe('bad.safetensors: tensor "w": missing shape');
    expect(await parseError(rawSafetensors({ w: { dtype: 'F32', shape: [2] } }, 8))).toBe('bad.safetensors: tensor "w": missing data_offsets');
  });

  it('rejects an unknown dtype', async () => {
    expect(await parseError(rawSafetensors({ w: { ...F32_ENTRY, dtype: 'Q4_K' } }, 8))).toBe('bad.safetensors: tensor "w": unknown dtype "Q4_K"');
  });

  it('rejects bad shapes and offsets', async () => {
    expect(await parseError(rawSafetensors({ w: { ...F32_ENTRY, shape: [2, -1] } }, 8))).toBe(
      'bad.safetensors: tensor "w": shape [2,-1] is not a list of non-negative integers',
    );
    expect(await parseError(rawSafetensors({ w: { ...F32_ENTRY, shape: [1.5] } }, 8))).toMatch(/shape \[1\.5\] is not a list of non-negative integers/);
    expect(await parseError(rawSafetensors({ w: { ...F32_ENTRY, data_offsets: [8, 0] } }, 8))).toBe(
      'bad.safetensors: tensor "w": data_offsets [8,0] is not [begin, end] with integers 0 <= begin <= end',
    );
    expect(await parseError(rawSafetensors({ w: { ...F32_ENTRY, data_offsets: [0] } }, 8))).toMatch(/data_offsets \[0\] is not \[begin, end\]/);
  });

  it('rejects offsets beyond the data section', async () => {
    expect(await parseError(rawSafetensors({ w: { ...F32_ENTRY, data_offsets: [4, 12] } }, 8))).toBe(
      'bad.safetensors: tensor "w": data_offsets [4, 12] run past the end of the 8-byte data section (file truncated?)',
    );
  });

  it('rejects a byte length that does not match shape and dtype', async () => {
    expect(await parseError(rawSafetensors({ w: { dtype: 'F16', shape: [3], data_offsets: [0, 8] } }, 8))).toBe(
      'bad.safetensors: tensor "w": F16 [3] needs 6 bytes but data_offsets [0, 8] span 8',
    );
  });

  it('rejects overlapping tensors, also across a zero-size tensor', async () => {
    const header = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
    expect(await parseError(rawSafetensors(header, 16))).toBe('bad.safetensors: tensors "a" [0, 8] and "b" [4, 12] overlap');
    const withEmpty = { ...header, b: { dtype: 'F32', shape: [1], data_offsets: [6, 10] }, z: { dtype: 'F32', shape: [0], data_offsets: [5, 5] } };
    expect(await parseError(rawSafetensors(withEmpty, 16))).toBe('bad.safetensors: tensors "a" [0, 8] and "b" [6, 10] overlap');
  });

  it('rejects metadata that is not string to string', async () => {
    expect(await parseError(rawSafetensors({ __metadata__: { step: 3 } }, 0))).toBe('bad.safetensors: __metadata__.step must be a string, got 3');
  });

  it('accepts gaps, empty tensors, every dtype and absolute offsets', async () => {
    const header = {
      __metadata__: { format: 'pt' },
      b: { dtype: 'BOOL', shape: [3], data_offsets: [16, 19] },
      a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] },
      e: { dtype: 'BF16', shape: [0, 4], data_offsets: [19, 19] },
      h: { dtype: 'I16', shape: [2], data_offsets: [20, 24] },
    };
    const blob = rawSafetensors(header, 24);
    const f = await parseSafetensors(blob, 'ok.safetensors');
    const headerBytes = blob.size - 24;
    expect([...f.entries.keys()]).toEqual(['a', 'b', 'e', 'h']);
    expect(f.entries.get('b')).toEqual({ name: 'b', dtype: 'BOOL', shape: [3], begin: headerBytes + 16, end: headerBytes + 19 });
    expect(f.metadata).toEqual({ format: 'pt' });
  });
});

describe('reading tensors', () => {
  it('reads only the header, then only the requested tensor', async () => {
    const bytes = writeSafetensors([
      { name: 'a', dtype: 'F32', shape: [1000], data: new Float32Array(1000).fill(1) },
      { name: 'b', dtype: 'F32', shape: [2], data: new Float32Array([3, 4]) },
    ]);
    const blob = new Blob([bytes]);
    const slice = vi.spyOn(blob, 'slice');
    const f = await parseSafetensors(blob, 'lazy.safetensors');
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(slice.mock.calls).toEqual([[0, 8], [8, 8 + n]]);
    expect(Array.from(await readTensorF32(f, 'b'))).toEqual([3, 4]);
    expect(slice.mock.calls[2]).toEqual([8 + n + 4000, 8 + n + 4008]);
  });

  it('reads an F32 fixture lazily with the right values', async () => {
    const f = await open(join(MODELS, 'llama-tiny/model.safetensors'));
    expect(f.entries.size).toBe(21);
    expect(f.metadata).toEqual({ format: 'pt' });
    const w = await readTensorF32(f, 'model.layers.0.self_attn.q_proj.weight');
    expect(w.length).toBe(4096);
    expect(Array.from(w.slice(0, 3))).toEqual([-0.022046534344553947, 0.011563366279006004, -0.013716950081288815]);
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const v of w) {
      sum += v;
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(sum).toBeCloseTo(-0.3986302115667968, 10);
    expect(min).toBe(Math.fround(-0.07180236279964447));
    expect(max).toBe(Math.fround(0.07130376249551773));
  });

  it('decodes the F16 fixture exactly', async () => {
    const f = await open(join(MODELS, 'tiny-random-llama/model.safetensors'));
    expect(new Set([...f.entries.values()].map((e) => e.dtype))).toEqual(new Set(['F16']));
    const w = await readTensorF32(f, 'model.embed_tokens.weight');
    expect(w.length).toBe(32000 * 16);
    expect(Array.from(w.slice(0, 3))).toEqual([0.005130767822265625, 0.0255889892578125, -0.0276336669921875]);
    let sum = 0;
    for (const v of w) sum += v;
    expect(sum).toBeCloseTo(-4.093452990055084, 9);
  });

  it('widens F64 to float32 with rounding', async () => {
    const f = await open(join(REFERENCE, 'llama-tiny/lora/r4_qv/grads_f64.safetensors'));
    const name = [...f.entries.keys()][0];
    const { bytes } = await readTensorRaw(f, name);
    const f64 = new Float64Array(bytes.slice().buffer);
    const f32 = await readTensorF32(f, name);
    expect(Array.from(f32)).toEqual(Array.from(f64, Math.fround));
  });

  it('names the tensor and the file for an unknown name or a wrong dtype', async () => {
    const f = await open(join(MODELS, 'llama-tiny/model.safetensors'));
    await expect(readTensorF32(f, 'nope')).rejects.toThrow('models/llama-tiny/model.safetensors: no tensor named "nope" (the file has 21 tensors)');
    const ints = await parseSafetensors(new Blob([writeSafetensors([{ name: 'ids', dtype: 'I32', shape: [3], data: new Int32Array([5, -1, 7]) }])]), 'ids.safetensors');
    await expect(readTensorF32(ints, 'ids')).rejects.toThrow('ids.safetensors: tensor "ids" is I32; expected a floating-point tensor');
    expect(Array.from(await readTensorI32(ints, 'ids'))).toEqual([5, -1, 7]);
  });

  it('narrows I64 to int32 and refuses values out of range', async () => {
    const data = new BigInt64Array([3n, -4n, 2n ** 40n]);
    const bytes = new Uint8Array(data.buffer);
    const blob = new Blob([rawSafetensors({ ids: { dtype: 'I64', shape: [3], data_offsets: [0, 24] } }, 0), bytes]);
    const f = await parseSafetensors(blob, 'i64.safetensors');
    await expect(readTensorI32(f, 'ids')).rejects.toThrow('i64.safetensors: I64 tensor "ids" holds 1099511627776 at index 2, outside the int32 range');
  });
});

describe('writeSafetensors', () => {
  // Files the Python library wrote with __metadata__ first (the HF-downloaded originals put it last).
  const pythonWritten = [
    ...['llama-tiny', 'gpt2-tiny', 'qwen2-tiny', 'gpt2-tiny-bias', 'qwen2-tiny-bias'].map((m) => join(MODELS, m, 'model.safetensors')),
    ...findSafetensors(REFERENCE),
  ];

  it(`reproduces ${pythonWritten.length} Python-written fixture files byte for byte`, async () => {
    for (const path of pythonWritten) {
      const f = await open(path);
      const written = writeSafetensors(await tensorsOf(f), f.metadata);
      const original = new Uint8Array(readFileSync(path));
      expect(written.byteLength, path).toBe(original.byteLength);
      expect(Buffer.compare(Buffer.from(written), Buffer.from(original)), path).toBe(0);
    }
  });

  it('round-trips files laid out by other writers (metadata last, unsorted)', async () => {
    for (const m of ['stories260K', 'tiny-random-gpt2', 'tiny-random-llama']) {
      const f = await open(join(MODELS, m, 'model.safetensors'));
      const back = await parseSafetensors(new Blob([writeSafetensors(await tensorsOf(f), f.metadata)]), 'back');
      expect([...back.entries.keys()].sort()).toEqual([...f.entries.keys()].sort());
      for (const name of ['model.embed_tokens.weight', 'transformer.wte.weight']) {
        if (!f.entries.has(name)) continue;
        const [a, b] = [await readTensorRaw(back, name), await readTensorRaw(f, name)];
        expect([a.dtype, a.shape]).toEqual([b.dtype, b.shape]);
        expect(Buffer.compare(a.bytes, b.bytes)).toBe(0);
      }
    }
  });

  it('orders by Rust dtype order then code point, pads with spaces, omits null metadata', async () => {
    const bytes = writeSafetensors(
      [
        { name: 'i', dtype: 'I32', shape: [1], data: new Int32Array([1]) },
        { name: 'h', dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) },
        { name: 'b', dtype: 'BF16', shape: [1], data: new Uint16Array([0x3f80]) },
        { name: 'z', dtype: 'F32', shape: [1], data: new Float32Array([1]) },
        { name: 'd', dtype: 'F64', shape: [], data: new Float64Array([1]) },
      ],
      null,
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(header.trimEnd()).toBe(
      '{"d":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},' +
        '"i":{"dtype":"I32","shape":[1],"data_offsets":[12,16]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[16,18]},' +
        '"h":{"dtype":"F16","shape":[1],"data_offsets":[18,20]}}',
    );
    expect(header.slice(header.trimEnd().length)).toMatch(/^ *$/);
    expect(bytes.byteLength).toBe(8 + n + 20);
  });

  it('matches the reference implementation test vectors', () => {
    // From safetensors' own Rust tests (test_empty): no tensors, with and without metadata.
    expect(Array.from(writeSafetensors([], null))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    const withMeta = writeSafetensors([], { framework: 'pt' });
    expect(new TextDecoder().decode(withMeta.subarray(8))).toBe('{"__metadata__":{"framework":"pt"}}     ');
    expect(withMeta[0]).toBe(40);
  });

  it('refuses inconsistent input', () => {
    expect(() => writeSafetensors([{ name: 'a', dtype: 'F32', shape: [3], data: new Float32Array(2) }])).toThrow(
      'writeSafetensors: tensor "a" has shape [3] (3 elements) but 2 values',
    );
    expect(() => writeSafetensors([{ name: 'a', dtype: 'F16', shape: [2], data: new Float32Array(2) }])).toThrow(
      'writeSafetensors: tensor "a" is F16, so its data must be a Uint16Array, got Float32Array',
    );
    const t = { name: 'a', dtype: 'F32' as const, shape: [1], data: new Float32Array(1) };
    expect(() => writeSafetensors([t, t])).toThrow('writeSafetensors: tensor "a" is given twice');
  });
});
