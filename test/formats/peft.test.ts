import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { namedBlobsFromDir } from '../../src/formats/nodeFiles';
import {
  type LoraAdapterConfig,
  adapterLimitations,
  buildLoraAdapterConfig,
  getPatternKey,
  isTargetModule,
  loraKey,
  openAdapter,
  parseLoraAdapterConfig,
  parseLoraKey,
  rankFor,
  scalingFor,
  serializeAdapterConfig,
} from '../../src/formats/peft';
import type { NamedBlob } from '../../src/run/api';
import { REFERENCE } from './helpers';

const MODELS = readdirSync(REFERENCE).filter((n) => !n.endsWith('.md')).sort();
const LORA_CASES = MODELS.flatMap((m) => readdirSync(join(REFERENCE, m, 'lora')).map((c) => `${m}/lora/${c}`));
const ALL_CONFIGS = [
  ...LORA_CASES.flatMap((c) => [`${c}/adapter_config.json`, `${c}/after_step/adapter_config.json`]),
  ...MODELS.flatMap((m) => ['initial', 'after_step', 'converted'].map((s) => `${m}/pissa/${s}/adapter_config.json`)),
];

function fixtureText(rel: string): string {
  return readFileSync(join(REFERENCE, rel), 'utf8');
}

function optionsFor(fixture: LoraAdapterConfig, targetModules = fixture.target_modules as string[]) {
  return {
    baseModelNameOrPath: fixture.base_model_name_or_path as string,
    r: fixture.r,
    loraAlpha: fixture.lora_alpha,
    targetModules,
    useRslora: fixture.use_rslora,
    loraDropout: fixture.lora_dropout,
    fanInFanOut: fixture.fan_in_fan_out,
    initLoraWeights: fixture.init_lora_weights as boolean | 'gaussian' | 'pissa',
  };
}

describe('buildLoraAdapterConfig / serializeAdapterConfig', () => {
  for (const rel of ['llama-tiny/lora/r4_qv', 'llama-tiny/lora/r8_all_rslora', 'gpt2-tiny/lora/r4_qv', 'gpt2-tiny/lora/r8_all_rslora']) {
    it(`reproduces ${rel}/adapter_config.json`, () => {
      const text = fixtureText(`${rel}/adapter_config.json`);
      const fixture = JSON.parse(text) as LoraAdapterConfig;
      const isGpt2 = rel.startsWith('gpt2');
      const rslora = rel.includes('rslora');
      const built = buildLoraAdapterConfig({
        baseModelNameOrPath: 'somewhere/else',
        r: rslora ? 8 : 4,
        loraAlpha: rslora ? 16 : 8,
        targetModules: [...(fixture.target_modules as string[])].reverse(),
        useRslora: rslora,
        loraDropout: 0,
        fanInFanOut: isGpt2,
        initLoraWeights: 'gaussian',
      });
      // target_modules is a Python set: same members, order carries no meaning.
      expect(new Set(built.target_modules)).toEqual(new Set(fixture.target_modules));
      expect({ ...built, base_model_name_or_path: null, target_modules: null }).toEqual({ ...fixture, base_model_name_or_path: null, target_modules: null });
      // With the fixture's own path and order, the text is byte-identical to what peft wrote.
      expect(serializeAdapterConfig(buildLoraAdapterConfig(optionsFor(fixture)))).toBe(text);
    });
  }

  it('matches every LoRA and trained-PiSSA config in the fixtures exactly', () => {
    const rels = [...LORA_CASES.flatMap((c) => [`${c}/adapter_config.json`, `${c}/after_step/adapter_config.json`]), ...MODELS.map((m) => `${m}/pissa/after_step/adapter_config.json`)];
    for (const rel of rels) {
      const text = fixtureText(rel);
      expect(serializeAdapterConfig(buildLoraAdapterConfig(optionsFor(JSON.parse(text)))), rel).toBe(text);
    }
  });

  it('writes dropout as a Python float and keeps rank/alpha patterns', () => {
    const cfg = buildLoraAdapterConfig({ ...optionsFor(JSON.parse(fixtureText('llama-tiny/lora/r4_qv/adapter_config.json'))), loraDropout: 0.05, rankPattern: { k_proj: 2 }, alphaPattern: { k_proj: 4 } });
    const text = serializeAdapterConfig(cfg);
    expect(text).toContain('"lora_dropout": 0.05,');
    expect(text).toContain('"rank_pattern": {\n    "k_proj": 2\n  },');
    expect(text).toContain('"alpha_pattern": {\n    "k_proj": 4\n  },');
  });
});

describe('parseLoraAdapterConfig', () => {
  it(`round-trips all ${ALL_CONFIGS.length} fixture configs to the same text`, () => {
    for (const rel of ALL_CONFIGS) {
      const text = fixtureText(rel);
      const cfg = parseLoraAdapterConfig(text, rel);
      expect(cfg, rel).toEqual(JSON.parse(text));
      expect(serializeAdapterConfig(cfg), rel).toBe(text);
    }
  });

  const base = JSON.parse(fixtureText('llama-tiny/lora/r4_qv/adapter_config.json')) as Record<string, unknown>;
  const parse = (patch: Record<string, unknown>) => () => parseLoraAdapterConfig(JSON.stringify({ ...base, ...patch }), 'a/adapter_config.json');

  it('refuses other PEFT methods and DoRA', () => {
    expect(parse({ peft_type: 'IA3' })).toThrow('a/adapter_config.json: peft_type is "IA3"; only LoRA adapters are supported so far');
    expect(parse({ peft_type: undefined })).toThrow('peft_type is null; only LoRA adapters are supported so far');
    expect(parse({ use_dora: true })).toThrow('a/adapter_config.json: this is a DoRA adapter (use_dora: true); DoRA is not supported, only plain LoRA');
  });

  it('validates rank, alpha, targets, flags and patterns', () => {
    expect(parse({ r: 0 })).toThrow('a/adapter_config.json: r must be a positive integer, got 0');
    expect(parse({ r: undefined })).toThrow('a/adapter_config.json: r (the LoRA rank) is missing');
    expect(parse({ lora_alpha: '8' })).toThrow('lora_alpha must be a number, got "8"');
    expect(parse({ target_modules: null })).toThrow('target_modules must be a list of module names or a regex string, got null');
    expect(parse({ use_rslora: 'yes' })).toThrow('use_rslora must be true or false, got "yes"');
    expect(parse({ rank_pattern: { q_proj: 2.5 } })).toThrow('rank_pattern["q_proj"] has a bad value 2.5');
    expect(() => parseLoraAdapterConfig('{"r": ', 'x.json')).toThrow(/^x\.json is not valid JSON/);
  });

  it('keeps a regex target_modules and fills defaults for older files', () => {
    const cfg = parseLoraAdapterConfig(JSON.stringify({ peft_type: 'LORA', r: 4, target_modules: '.*\\.(q|v)_proj' }), 'old.json');
    expect(cfg.target_modules).toBe('.*\\.(q|v)_proj');
    expect(cfg.lora_alpha).toBe(8);
    expect(cfg.lora_bias).toBe(false);
    expect(isTargetModule(cfg, 'model.layers.0.self_attn.q_proj')).toBe(true);
    expect(isTargetModule(cfg, 'model.layers.0.self_attn.k_proj')).toBe(false);
    expect(adapterLimitations(cfg)).toEqual([]);
    expect(adapterLimitations({ ...cfg, modules_to_save: ['lm_head'], lora_bias: true })).toEqual(['lora_bias (a bias on lora_B)', 'modules_to_save (lm_head)']);
    expect(adapterLimitations({ ...cfg, init_lora_weights: 'pissa_niter_4' })).toEqual(['init_lora_weights "pissa_niter_4" (peft rebuilds the base weights on load)']);
    expect(adapterLimitations({ ...cfg, init_lora_weights: 'gaussian' })).toEqual([]);
  });
});

describe('module keys, targets and scaling', () => {
  it('builds and parses state-dict keys', () => {
    expect(loraKey('model.layers.0.self_attn.q_proj', 'A')).toBe('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
    expect(parseLoraKey('base_model.model.transformer.h.1.attn.c_attn.lora_B.weight')).toEqual({ modulePath: 'transformer.h.1.attn.c_attn', which: 'B' });
    expect(parseLoraKey('base_model.model.lm_head.weight')).toBeNull();
    expect(parseLoraKey('model.layers.0.self_attn.q_proj.lora_A.weight')).toBeNull();
  });

  it('matches pattern keys like peft get_pattern_key', () => {
    const keys = ['layers.1.self_attn.q_proj', 'q_proj', 'mlp\\..*_proj'];
    expect(getPatternKey(keys, 'model.layers.1.self_attn.q_proj')).toBe('layers.1.self_attn.q_proj');
    expect(getPatternKey(keys, 'model.layers.0.self_attn.q_proj')).toBe('q_proj');
    expect(getPatternKey(keys, 'q_proj')).toBe('q_proj');
    expect(getPatternKey(keys, 'model.layers.0.mlp.up_proj')).toBe('mlp\\..*_proj');
    expect(getPatternKey(keys, 'model.layers.0.self_attn.xq_proj')).toBe('model.layers.0.self_attn.xq_proj');
    expect(getPatternKey(['(unclosed'], 'a.(unclosed')).toBe('(unclosed');
  });

  it('honours rank_pattern, alpha_pattern and rsLoRA', () => {
    const cfg = buildLoraAdapterConfig({ baseModelNameOrPath: 'm', r: 8, loraAlpha: 16, targetModules: ['q_proj', 'v_proj'], useRslora: false, loraDropout: 0, fanInFanOut: false, initLoraWeights: true, rankPattern: { v_proj: 4 }, alphaPattern: { 'layers.1.self_attn.q_proj': 32 } });
    expect(rankFor(cfg, 'model.layers.0.self_attn.v_proj')).toBe(4);
    expect(scalingFor(cfg, 'model.layers.0.self_attn.q_proj')).toBe(2);
    expect(scalingFor(cfg, 'model.layers.0.self_attn.v_proj')).toBe(4);
    expect(scalingFor(cfg, 'model.layers.1.self_attn.q_proj')).toBe(4);
    expect(scalingFor({ ...cfg, use_rslora: true }, 'model.layers.0.self_attn.v_proj')).toBe(8);
  });

  for (const rel of LORA_CASES) {
    it(`agrees with ${rel}/case.json on wrapped modules and scaling`, async () => {
      const caseJson = JSON.parse(fixtureText(`${rel}/case.json`)) as { scaling: number; wrapped_modules: string[] };
      const adapter = await openAdapter(await namedBlobsFromDir(join(REFERENCE, rel)));
      expect([...adapter.modules].sort()).toEqual([...caseJson.wrapped_modules].sort());
      for (const m of caseJson.wrapped_modules) {
        expect(isTargetModule(adapter.config, m)).toBe(true);
        expect(scalingFor(adapter.config, m)).toBeCloseTo(caseJson.scaling, 12);
      }
    });
  }
});

describe('openAdapter', () => {
  const text = (name: string, t: string): NamedBlob => ({ name, blob: new Blob([t]) });

  it('opens a fixture adapter folder', async () => {
    const a = await openAdapter(await namedBlobsFromDir(join(REFERENCE, 'llama-tiny/lora/r4_qv')));
    expect(a.config.r).toBe(4);
    expect(a.weights.entries.size).toBe(8);
    expect(a.modules).toContain('model.layers.1.self_attn.v_proj');
  });

  it('names what is missing and refuses .bin adapters', async () => {
    await expect(openAdapter([text('ad/adapter_config.json', '{}')])).rejects.toThrow(
      'ad: adapter_model.safetensors is missing; a PEFT adapter folder needs adapter_config.json and adapter_model.safetensors.',
    );
    await expect(openAdapter([text('ad/adapter_config.json', '{}'), text('ad/adapter_model.bin', '')])).rejects.toThrow(
      /It has adapter_model\.bin, a PyTorch pickle, which is not supported: re-save the adapter with safe_serialization=True/,
    );
    await expect(openAdapter([text('ad/README.md', '')])).rejects.toThrow('ad: adapter_config.json and adapter_model.safetensors are missing');
  });

  it('checks the weights against the configured rank', async () => {
    const files = await namedBlobsFromDir(join(REFERENCE, 'llama-tiny/lora/r4_qv'));
    const cfg = files.find((f) => f.name.endsWith('adapter_config.json')) as NamedBlob;
    cfg.blob = new Blob([(await cfg.blob.text()).replace('"r": 4', '"r": 8')]);
    await expect(openAdapter(files)).rejects.toThrow(
      'r4_qv/adapter_model.safetensors: model.layers.0.self_attn.q_proj has lora_A [4, 64] and lora_B [64, 4], expected [8, in] and [out, 8] for rank 8',
    );
  });
});
