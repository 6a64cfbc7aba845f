import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/data/tokenizer';
import { fixtureTokenizer, readFixture } from './fixtures';

const ONCE = 'Once upon a time, there was a little girl named Lily.';
const TOM = 'Tom had a big red ball. He liked to k';

describe('stories260K tokenizer (Llama-2 SentencePiece BPE, byte fallback)', () => {
  const tok = fixtureTokenizer('stories260K');

  it('matches the reference ids (first 16, BOS first)', () => {
    expect(tok.encode(ONCE).slice(0, 16)).toEqual([1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426]);
    expect(tok.encode(TOM).slice(0, 16)).toEqual([1, 274, 287, 381, 261, 370, 352, 266, 268, 388, 426, 346, 397, 355, 267, 409]);
  });

  it('decodes back to the text, and keeps specials when asked', () => {
    expect(tok.decode(tok.encode(ONCE))).toBe(ONCE);
    expect(tok.decode(tok.encode(TOM))).toBe(TOM);
    expect(tok.decode(tok.encode(ONCE), false).startsWith('<s>')).toBe(true);
    expect(tok.decode(new Int32Array(tok.encode(TOM)))).toBe(TOM);
  });

  it('round-trips non-ASCII text through byte fallback', () => {
    const s = '你好，我是 {{name}}。 Ünïcödé\n\n  two  spaces';
    expect(tok.decode(tok.encode(s))).toBe(s);
  });

  it('has the expected special tokens and vocab', () => {
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
    expect(tok.padId).toBeUndefined();
    expect(tok.vocabSize).toBe(512);
    expect(tok.addsBos).toBe(true);
    expect(tok.chatTemplate).toBeUndefined();
    expect(tok.encode(ONCE, { addSpecialTokens: false })).toEqual(tok.encode(ONCE).slice(1));
    expect(tok.decode([])).toBe('');
  });
});

describe('BOS/EOS follow transformers for Llama-family tokenizers', () => {
  const json = readFixture('models/stories260K/tokenizer.json');
  const base = JSON.parse(readFixture('models/stories260K/tokenizer_config.json')) as Record<string, unknown>;

  it('add_bos_token false removes the BOS that tokenizer.json would add', () => {
    const tok = loadTokenizer(json, { ...base, add_bos_token: false });
    expect(tok.encode(TOM)[0]).toBe(274);
    expect(tok.addsBos).toBe(false);
  });

  it('add_eos_token true appends EOS', () => {
    const ids = loadTokenizer(json, { ...base, add_eos_token: true }).encode(TOM);
    expect(ids[0]).toBe(1);
    expect(ids[ids.length - 1]).toBe(2);
  });

  it('without a config, tokenizer.json decides and special tokens are inferred', () => {
    const tok = loadTokenizer(json);
    expect(tok.encode(ONCE).slice(0, 3)).toEqual([1, 403, 407]);
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
  });

  it('rejects a broken tokenizer.json with a clear message', () => {
    expect(() => loadTokenizer('{not json')).toThrow(/tokenizer\.json is not valid JSON/);
    expect(() => loadTokenizer('{}')).toThrow(/no "model" section/);
  });
});

describe('tiny-random-gpt2 tokenizer (GPT-2 byte-level BPE)', () => {
  const tok = fixtureTokenizer('tiny-random-gpt2');

  it('adds no special tokens and round-trips', () => {
    const s = 'Hello world! The quick brown fox jumps over the lazy dog.\nNew line, 42 numbers.';
    const ids = tok.encode(s);
    expect(ids[0]).not.toBe(tok.eosId);
    expect(ids).toEqual(tok.encode(s, { addSpecialTokens: false }));
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.decode(ids)).toBe(s);
  });

  it('knows <|endoftext|>', () => {
    expect(tok.eosId).toBe(50256);
    expect(tok.bosId).toBe(50256);
    expect(tok.addsBos).toBe(false);
    expect(tok.encode('a<|endoftext|>')).toEqual([64, 50256]);
    expect(tok.vocabSize).toBeGreaterThan(50256);
  });
});

describe('tiny-random-llama tokenizer (Llama-2 32k vocab)', () => {
  const tok = fixtureTokenizer('tiny-random-llama');

  it('adds BOS and round-trips', () => {
    const s = 'The capital of France is Paris. It has 2,000 years of history!';
    const ids = tok.encode(s);
    expect(ids[0]).toBe(1);
    expect(tok.decode(ids)).toBe(s);
    expect(tok.encode(ONCE).slice(0, 5)).toEqual([1, 9038, 2501, 263, 931]);
  });

  it('reads special tokens from special_tokens_map.json when there is no config', () => {
    const map = JSON.parse(readFixture('models/tiny-random-llama/special_tokens_map.json')) as Record<string, unknown>;
    const bare = loadTokenizer(readFixture('models/tiny-random-llama/tokenizer.json'), undefined, map);
    expect([bare.bosId, bare.eosId, bare.padId]).toEqual([1, 2, 0]);
    expect(bare.chatTemplate).toBeUndefined();
  });

  it('exposes pad, vocab and chat template', () => {
    expect(tok.padId).toBe(0);
    expect(tok.eosId).toBe(2);
    expect(tok.vocabSize).toBe(32000);
    expect(tok.chatTemplate).toContain('[INST]');
  });
});
