/**
 * The sparse, vector and norm methods in the settings form: which options each shows and sends, validation of
 * the option kinds beyond numbers (checkbox, select, comma-separated list), which adapter fields each reads, IA3's
 * default targets, and what each adapter downloads as.
 */
import { describe, expect, it } from 'vitest';
import { METHOD_DEFAULTS, METHOD_NAMES, type MethodOptions, type ModelSummary } from '../../src/run/api';
import {
  DELTA_NOTE,
  METHOD_INFO,
  OPTION_FIELDS,
  SHIRA_NOTE,
  expectedExport,
  exportNote,
  formatList,
  isSparseMethod,
  loraUse,
  optionValueProblem,
  parseList,
  relevantOptions,
} from '../../src/ui/methods';
import { createStudioStore } from '../../src/ui/store';
import { DEFAULT_DATA, DEFAULT_LORA, DEFAULT_METHOD_OPTIONS, DEFAULT_TRAIN, defaultTargetsFor, settingsForModel, targetChoices, toTrainSettings } from '../../src/ui/store/defaults';
import { type FormSettings, methodProblems, settingsProblems } from '../../src/ui/store/validate';

const LLAMA = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const GPT2 = ['c_attn', 'c_proj', 'c_fc'];
const FORM: FormSettings = { method: 'lora', options: DEFAULT_METHOD_OPTIONS, lora: DEFAULT_LORA, train: DEFAULT_TRAIN, data: DEFAULT_DATA };

function model(over: Partial<ModelSummary> = {}): ModelSummary {
  return {
    modelType: 'llama', architecture: 'LlamaForCausalLM', layers: 5, hidden: 64, heads: 8, kvHeads: 4, intermediate: 172,
    vocab: 512, maxPositions: 512, parameters: 260032, dtype: 'F32', tiedEmbeddings: true, hasTokenizer: true,
    hasChatTemplate: false, targetableModules: LLAMA, files: ['config.json', 'model.safetensors'], ...over,
  };
}
const GPT2_MODEL = model({ modelType: 'gpt2', architecture: 'GPT2LMHeadModel', targetableModules: GPT2 });

/** A deliberately wrong value for an option, as a form or a stale store could hold it. */
function bad<K extends keyof MethodOptions>(key: K, value: unknown): Partial<MethodOptions> {
  return { [key]: value } as Partial<MethodOptions>;
}

describe('option fields', () => {
  it('have a field for every option whose kind follows the default value', () => {
    for (const [key, field] of Object.entries(OPTION_FIELDS)) {
      const v: unknown = METHOD_DEFAULTS[key as keyof MethodOptions];
      const kind = typeof v === 'boolean' ? 'boolean' : typeof v === 'number' ? 'number' : Array.isArray(v) ? 'list' : 'choice';
      expect(field.kind, key).toBe(kind);
      expect(field.key).toBe(key);
      if (field.kind === 'choice') expect(field.choices.map((c) => c.value), key).toContain(v);
      expect(optionValueProblem(field.key, v), key).toBeNull();
    }
  });

  it('names a wrong value of each kind', () => {
    expect(optionValueProblem('density', 0)).toBe('Density must be in (0, 1]');
    expect(optionValueProblem('density', 1)).toBeNull();
    expect(optionValueProblem('regrowEvery', 2.5)).toBe('Regrow every must be a whole number ≥ 0');
    expect(optionValueProblem('saraReselectAt', 1)).toBe('Re-select at must be in [0, 1)');
    expect(optionValueProblem('candidateFactor', 0)).toBe('Candidates must be > 0');
    expect(optionValueProblem('density', '0.1')).toBe('Density must be a number');
    expect(optionValueProblem('matchLoraRank', 'yes')).toBe('Match LoRA rank must be on or off');
    expect(optionValueProblem('matchLoraRank', false)).toBeNull();
    expect(optionValueProblem('sparseInit', 'lottery')).toBe('First entries must be one of Random, Largest |gradient|, Largest |W|');
    expect(optionValueProblem('subnetScore', 'fisher')).toBeNull();
    expect(optionValueProblem('svd', 'approximate')).toBe('SVD must be one of Exact, Randomized');
    expect(optionValueProblem('ia3FeedForward', [])).toBeNull();
    expect(optionValueProblem('ia3FeedForward', ['mlp.c_proj', 'model.layers.0.mlp.down_proj'])).toBeNull();
    expect(optionValueProblem('ia3FeedForward', ['down proj', 'mlp..c_proj', 'ok'])).toBe('Feed-forward modules: not a module name: “down proj”, “mlp..c_proj”');
    expect(optionValueProblem('ia3FeedForward', 'down_proj')).toBe('Feed-forward modules must be a list of module names');
    expect(optionValueProblem('ia3FeedForward', [3])).toBe('Feed-forward modules must be a list of module names');
  });

  it('reads a comma-separated list, dropping blanks, and writes it back', () => {
    expect(parseList(' down_proj ,mlp.c_proj, ,')).toEqual(['down_proj', 'mlp.c_proj']);
    expect(parseList('')).toEqual([]);
    expect(formatList(['down_proj', 'mlp.c_proj'])).toBe('down_proj, mlp.c_proj');
  });
});

describe('the new methods', () => {
  it('are described, and four of them stream sparsity', () => {
    for (const m of ['sparse', 'sara', 'subnet', 'dsee', 'bitfit', 'ia3', 'ssf', 'norms'] as const) expect(METHOD_INFO[m].description, m).toMatch(/^Trains /);
    expect(METHOD_NAMES.filter(isSparseMethod)).toEqual(['sparse', 'sara', 'subnet', 'dsee']);
  });

  it('send only the options they read', () => {
    expect(relevantOptions('sparse', METHOD_DEFAULTS)).toEqual({
      density: 0.01, matchLoraRank: false, sparseInit: 'random', regrowEvery: 20, regrowFraction: 0.3, regrowUntil: 0.75, candidateFactor: 1,
    });
    // "Match LoRA rank" replaces the density; a gradient-chosen first set reads the calibration options.
    expect(relevantOptions('sparse', { ...METHOD_DEFAULTS, matchLoraRank: true, sparseInit: 'gradient', regrowEvery: 0 })).toEqual({
      matchLoraRank: true, sparseInit: 'gradient', subnetBatches: 8, subnetScore: 'abs', regrowEvery: 0,
    });
    expect(relevantOptions('subnet', METHOD_DEFAULTS)).toEqual({ density: 0.01, matchLoraRank: false, subnetBatches: 8, subnetScore: 'abs' });
    expect(relevantOptions('subnet', { ...METHOD_DEFAULTS, matchLoraRank: true })).toEqual({ matchLoraRank: true, subnetBatches: 8, subnetScore: 'abs' });
    expect(relevantOptions('sara', METHOD_DEFAULTS)).toEqual({ saraFraction: 0.1, saraReselectAt: 0.5, saraNuclear: 0, saraNuclearRank: 8 });
    expect(relevantOptions('dsee', { ...METHOD_DEFAULTS, matchLoraRank: true })).toEqual({ density: 0.01 });
    expect(relevantOptions('ia3', METHOD_DEFAULTS)).toEqual({ ia3FeedForward: ['down_proj', 'mlp.c_proj'] });
    for (const m of ['bitfit', 'ssf', 'norms'] as const) expect(relevantOptions(m, METHOD_DEFAULTS), m).toEqual({});
  });

  it('read the rank only where it counts (DSEE, and sparse/subnet matching LoRA), and norms reads no targets', () => {
    expect(loraUse('lora', METHOD_DEFAULTS)).toMatchObject({ rank: true, alpha: true, dropout: true, init: true, targets: true });
    expect(loraUse('pissa', METHOD_DEFAULTS)).toMatchObject({ rank: true, init: false });
    expect(loraUse('dsee', METHOD_DEFAULTS)).toMatchObject({ rank: true, alpha: true, dropout: true, init: true, targets: true });
    expect(loraUse('sparse', METHOD_DEFAULTS)).toMatchObject({ rank: false, alpha: false, targets: true });
    expect(loraUse('subnet', { matchLoraRank: true })).toMatchObject({ rank: true, alpha: false, dropout: false, targets: true });
    for (const m of ['sara', 'bitfit', 'ia3', 'ssf'] as const) expect(loraUse(m, { matchLoraRank: true }), m).toEqual({ rank: false, alpha: false, dropout: false, init: false, targets: true });
    expect(loraUse('norms', METHOD_DEFAULTS).targets).toBe(false);
  });
});

describe('validation of the new methods', () => {
  it('accepts every method at the defaults on both families', () => {
    for (const method of METHOD_NAMES) {
      expect(settingsProblems({ ...FORM, method }, model()), method).toEqual([]);
      if (method === 'olora') continue;
      const lora = { ...DEFAULT_LORA, targets: defaultTargetsFor(method, GPT2_MODEL) };
      expect(settingsProblems({ ...FORM, method, lora }, GPT2_MODEL), method).toEqual([]);
    }
  });

  it('checks the shown options of each kind and skips the hidden ones', () => {
    const options = { ...DEFAULT_METHOD_OPTIONS, density: 0, regrowFraction: 2, ...bad('sparseInit', 'lottery') };
    expect(settingsProblems({ ...FORM, method: 'sparse', options })).toEqual([
      'Density must be in (0, 1]',
      'First entries must be one of Random, Largest |gradient|, Largest |W|',
      'Regrow fraction must be in [0, 1]',
    ]);
    // Matching LoRA's rank hides the density; regrowing never hides the regrowth details.
    expect(settingsProblems({ ...FORM, method: 'sparse', options: { ...options, sparseInit: 'random', matchLoraRank: true, regrowEvery: 0 } })).toEqual([]);
    expect(settingsProblems({ ...FORM, method: 'subnet', options: { ...DEFAULT_METHOD_OPTIONS, ...bad('subnetScore', 'l2'), subnetBatches: 0 } })).toEqual([
      'Calibration batches must be a whole number ≥ 1',
      'Score must be one of Σ|g|, Σg² (Fisher)',
    ]);
    expect(settingsProblems({ ...FORM, method: 'sara', options: { ...DEFAULT_METHOD_OPTIONS, saraFraction: 1.5 } })).toEqual(['Fraction trained must be in (0, 1]']);
    expect(settingsProblems({ ...FORM, method: 'ia3', options: { ...DEFAULT_METHOD_OPTIONS, ia3FeedForward: ['down_proj', 'up proj'] } })).toEqual([
      'Feed-forward modules: not a module name: “up proj”',
    ]);
    expect(settingsProblems({ ...FORM, method: 'sparse', options: { ...DEFAULT_METHOD_OPTIONS, ...bad('matchLoraRank', 'on') } })).toEqual(['Match LoRA rank must be on or off']);
  });

  it('checks rank, alpha and dropout only for methods that read them', () => {
    const lora = { ...DEFAULT_LORA, rank: 0, alpha: -1, dropout: 2 };
    for (const method of ['sara', 'bitfit', 'ia3', 'ssf', 'norms', 'sparse', 'subnet'] as const) {
      expect(settingsProblems({ ...FORM, method, lora: { ...lora, targets: method === 'ia3' ? ['k_proj'] : lora.targets } }), method).toEqual([]);
    }
    expect(settingsProblems({ ...FORM, method: 'subnet', lora, options: { ...DEFAULT_METHOD_OPTIONS, matchLoraRank: true } })).toEqual(['Rank must be a whole number ≥ 1']);
    expect(settingsProblems({ ...FORM, method: 'dsee', lora })).toEqual(['Rank must be a whole number ≥ 1', 'Alpha must be in (0, 1000000]', 'Dropout must be in [0, 0.99]']);
  });

  it('needs no targets for norms, and knows the qualified GPT-2 module names', () => {
    expect(settingsProblems({ ...FORM, method: 'norms', lora: { ...DEFAULT_LORA, targets: [] } }, model())).toEqual([]);
    expect(settingsProblems({ ...FORM, method: 'bitfit', lora: { ...DEFAULT_LORA, targets: [] } }, model())).toEqual(['Pick at least one target module']);
    expect(settingsProblems({ ...FORM, method: 'ia3', lora: { ...DEFAULT_LORA, targets: ['c_attn', 'mlp.c_proj'] } }, GPT2_MODEL)).toEqual([]);
    expect(settingsProblems({ ...FORM, method: 'ia3', lora: { ...DEFAULT_LORA, targets: ['mlp.c_proj'] } }, model())).toEqual(['Not a module of this model: mlp.c_proj']);
    expect(targetChoices(GPT2_MODEL)).toEqual(['c_attn', 'c_proj', 'attn.c_proj', 'mlp.c_proj', 'c_fc']);
    expect(targetChoices(model())).toEqual(LLAMA);
  });

  it('methodProblems (what gates the trainable count) sees the option kinds too', () => {
    expect(methodProblems({ ...FORM, method: 'sparse', options: { ...DEFAULT_METHOD_OPTIONS, density: Number.NaN } })).toEqual(['Density must be in (0, 1]']);
    expect(methodProblems({ ...FORM, method: 'lora', options: { ...DEFAULT_METHOD_OPTIONS, density: Number.NaN } })).toEqual([]);
  });
});

describe('the run payload', () => {
  it('sends the LoRA fields a method does not read at their defaults', () => {
    const lora = { ...DEFAULT_LORA, rank: Number.NaN, alpha: 0, dropout: 0.5, useRslora: true };
    expect(toTrainSettings('sara', DEFAULT_METHOD_OPTIONS, lora, DEFAULT_TRAIN).lora).toEqual({ ...DEFAULT_LORA, targets: DEFAULT_LORA.targets });
    const dsee = toTrainSettings('dsee', DEFAULT_METHOD_OPTIONS, { ...DEFAULT_LORA, rank: 4, alpha: 8, dropout: 0.1 }, DEFAULT_TRAIN);
    expect(dsee).toMatchObject({ method: 'dsee', options: { density: 0.01 }, lora: { rank: 4, alpha: 8, dropout: 0.1 } });
    const matched = toTrainSettings('sparse', { ...DEFAULT_METHOD_OPTIONS, matchLoraRank: true }, { ...DEFAULT_LORA, rank: 2, alpha: 99 }, DEFAULT_TRAIN);
    expect(matched.lora).toMatchObject({ rank: 2, alpha: DEFAULT_LORA.alpha });
    expect(matched.options).not.toHaveProperty('density');
  });
});

describe('IA3 targets', () => {
  it("uses PEFT's IA3 defaults when IA3 is picked, and gives the other targets back when it is left", () => {
    const store = createStudioStore();
    const s = () => store.getState();
    s().modelLoaded(model(), 'llama');
    s().toggleTarget('o_proj', true);
    s().setMethod('ia3');
    expect(s().settings.lora.targets).toEqual(['k_proj', 'v_proj', 'down_proj']);
    s().toggleTarget('up_proj', true);
    s().setMethod('bitfit');
    expect(s().settings.lora.targets).toEqual(['q_proj', 'v_proj', 'o_proj']);
    s().setMethod('lora');
    expect(s().settings.lora.targets).toEqual(['q_proj', 'v_proj', 'o_proj']);
    s().setMethod('ia3');
    expect(s().settings.lora.targets).toEqual(['k_proj', 'v_proj', 'down_proj', 'up_proj']);
  });

  it('follows the family: c_attn and mlp.c_proj on GPT-2, with or without a model loaded first', () => {
    const store = createStudioStore();
    const s = () => store.getState();
    s().setMethod('ia3');
    expect(s().settings.lora.targets).toEqual(['k_proj', 'v_proj', 'down_proj']);
    s().modelLoaded(GPT2_MODEL, 'gpt2');
    expect(s().settings.lora.targets).toEqual(['c_attn', 'mlp.c_proj']);
    s().setMethod('lora'); // the stashed q_proj, v_proj are not GPT-2's
    expect(s().settings.lora.targets).toEqual(['c_attn']);
    expect(defaultTargetsFor('ia3', { targetableModules: ['foo'] })).toEqual(['foo']);
    expect(settingsForModel(GPT2_MODEL, { ...DEFAULT_LORA, targets: ['c_attn', 'mlp.c_proj'] }, DEFAULT_TRAIN, 'ia3').lora.targets).toEqual(['c_attn', 'mlp.c_proj']);
  });
});

describe('what the adapter downloads as', () => {
  it('predicts the format from the run and the family', () => {
    expect(expectedExport('lora', {})).toBe('peft');
    expect(expectedExport('ia3', {})).toBe('peft');
    expect(expectedExport('sparse', {}, 'llama')).toBe('webpeft-delta');
    expect(expectedExport('sparse', { matchLoraRank: true }, 'llama')).toBe('peft');
    expect(expectedExport('subnet', { matchLoraRank: true }, 'gpt2')).toBe('webpeft-delta');
    for (const m of ['sara', 'dsee', 'bitfit', 'ssf', 'norms'] as const) expect(expectedExport(m, { matchLoraRank: true }, 'llama'), m).toBe('webpeft-delta');
  });

  it('says so under the options', () => {
    expect(exportNote('sparse', {}, 'llama')).toBe(`${SHIRA_NOTE}.`);
    expect(exportNote('subnet', { matchLoraRank: true }, 'gpt2')).toMatch(/GPT-2's Conv1D layers have no PEFT SHiRA support/);
    for (const m of ['bitfit', 'ssf', 'norms', 'dsee'] as const) expect(exportNote(m, {}), m).toBe(DELTA_NOTE);
    expect(DELTA_NOTE).toMatch(/README/);
    expect(DELTA_NOTE).toMatch(/merged model always works/);
    expect(exportNote('ia3', {})).toMatch(/PEFT IA3/);
    expect(exportNote('lora', {})).toBeNull();
  });
});
