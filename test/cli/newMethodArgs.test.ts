/**
 * `webpeft train` flags of the sparse (sparse, sara, subnet, dsee) and diagonal (bitfit, ia3, ssf, norms) methods,
 * IA3's model-dependent default targets, --format, and the sparsity summary line.
 */
import { describe, expect, it } from 'vitest';
import { parseTrain, trainError } from '../support/cliArgs';
import { UsageError } from '../../cli/args';
import { IA3_DEFAULT_TARGETS, defaultTargets, uncoveredFeedforward } from '../../cli/methodFlags';
import { sparsityLine } from '../../cli/progress';
import { resolveModelDefaults } from '../../cli/trainArgs';
import type { LayerSparsity } from '../../src/run/api';

const parse = parseTrain;
const error = trainError;

describe('sparse method flags', () => {
  it('takes the issue example', () => {
    const c = parse('--method', 'sparse', '--density', '0.01', '--targets', 'q_proj,v_proj,up_proj,down_proj');
    expect(c.settings.method).toBe('sparse');
    expect(c.settings.options).toEqual({ density: 0.01 });
    expect(c.settings.lora.targets).toEqual(['q_proj', 'v_proj', 'up_proj', 'down_proj']);
    expect(c.targetsFromModel).toBe(false);
  });

  it('maps every sparse FT flag', () => {
    const c = parse(
      '--method', 'sparse', '--density', '0.05', '--sparse-init', 'magnitude', '--regrow-every', '10', '--regrow-fraction', '0.5',
      '--regrow-until', '0.8', '--candidate-factor', '2',
    );
    expect(c.settings.options).toEqual({ density: 0.05, sparseInit: 'magnitude', regrowEvery: 10, regrowFraction: 0.5, regrowUntil: 0.8, candidateFactor: 2 });
    expect(parse('--method', 'sparse', '--regrow-every', '0').settings.options).toEqual({ regrowEvery: 0 });
    expect(parse('--method', 'sparse', '--sparse-init', 'gradient', '--subnet-batches', '3', '--subnet-score', 'fisher').settings.options).toEqual({
      sparseInit: 'gradient', subnetBatches: 3, subnetScore: 'fisher',
    });
  });

  it('takes --match-lora-rank as a switch, with the rank it matches', () => {
    expect(parse('--method', 'sparse', '--match-lora-rank', '--rank', '4').settings).toMatchObject({ options: { matchLoraRank: true }, lora: { rank: 4 } });
    expect(parse('--method', 'subnet', '--match-lora-rank=true').settings.options).toEqual({ matchLoraRank: true });
    expect(parse('--method', 'dsee', '--match-lora-rank=false', '--density', '0.02').settings.options).toEqual({ matchLoraRank: false, density: 0.02 });
    expect(error('--method', 'sparse', '--match-lora-rank', 'yes')).toBe('--match-lora-rank is a switch (true/false), got "yes"');
  });

  it('maps SaRA, subnet and DSEE flags', () => {
    expect(parse('--method', 'sara', '--sara-fraction', '0.2', '--sara-reselect-at', '0').settings.options).toEqual({ saraFraction: 0.2, saraReselectAt: 0 });
    expect(parse('--method', 'subnet', '--density', '0.1', '--subnet-batches', '4', '--subnet-score', 'abs').settings.options).toEqual({
      density: 0.1, subnetBatches: 4, subnetScore: 'abs',
    });
    // DSEE has a LoRA part: rank, alpha and dropout all apply.
    const dsee = parse('--method', 'dsee', '--density', '1', '--rank', '4', '--alpha', '4', '--dropout', '0.1');
    expect(dsee.settings).toMatchObject({ options: { density: 1 }, lora: { rank: 4, alpha: 4, dropout: 0.1 } });
  });

  it('refuses values out of range and bad words', () => {
    expect(error('--method', 'sparse', '--density', '0')).toBe('--density must be in (0, 1], got 0');
    expect(error('--method', 'sparse', '--density', '1.5')).toBe('--density must be in (0, 1], got 1.5');
    expect(error('--method', 'sparse', '--density', 'dense')).toBe('--density must be a number, got "dense"');
    expect(error('--method', 'sparse', '--sparse-init', 'lottery')).toBe('--sparse-init must be random, gradient or magnitude, got "lottery"');
    expect(error('--method', 'sparse', '--regrow-every', '2.5')).toBe('--regrow-every must be an integer, got 2.5');
    expect(error('--method', 'sparse', '--regrow-every', '-1')).toBe('--regrow-every must be ≥ 0, got -1');
    expect(error('--method', 'sparse', '--regrow-fraction', '1.1')).toBe('--regrow-fraction must be in [0, 1], got 1.1');
    expect(error('--method', 'sparse', '--regrow-until', '-0.1')).toBe('--regrow-until must be in [0, 1], got -0.1');
    expect(error('--method', 'sparse', '--candidate-factor', '0')).toBe('--candidate-factor must be > 0, got 0');
    expect(error('--method', 'sara', '--sara-fraction', '0')).toBe('--sara-fraction must be in (0, 1], got 0');
    expect(error('--method', 'sara', '--sara-reselect-at', '1')).toBe('--sara-reselect-at must be in [0, 1), got 1');
    expect(error('--method', 'subnet', '--subnet-batches', '0')).toBe('--subnet-batches must be ≥ 1, got 0');
    expect(error('--method', 'subnet', '--subnet-score', 'grad')).toBe('--subnet-score must be abs or fisher, got "grad"');
    expect(error('--method', 'sparse', '--density')).toBe('--density needs a value');
  });

  it('refuses flags the method would ignore', () => {
    expect(error('--density', '0.1')).toBe('--density applies to --method sparse, --method subnet, --method dsee, not --method lora');
    expect(error('--method', 'sara', '--density', '0.1')).toBe('--density applies to --method sparse, --method subnet, --method dsee, not --method sara');
    expect(error('--method', 'sara', '--match-lora-rank')).toMatch(/^--match-lora-rank applies to .* not --method sara$/);
    expect(error('--method', 'subnet', '--regrow-every', '5')).toBe('--regrow-every applies to --method sparse, not --method subnet');
    expect(error('--method', 'dsee', '--sparse-init', 'random')).toBe('--sparse-init applies to --method sparse, not --method dsee');
    expect(error('--method', 'sparse', '--sara-fraction', '0.1')).toBe('--sara-fraction applies to --method sara, not --method sparse');
    expect(error('--method', 'dsee', '--subnet-batches', '2')).toBe('--subnet-batches applies to --method subnet, --method sparse, not --method dsee');
    expect(error('--method', 'sparse', '--subnet-batches', '2')).toBe('--subnet-batches applies to --method subnet and to --method sparse with --sparse-init gradient, not --sparse-init random');
    expect(error('--method', 'sparse', '--sparse-init', 'magnitude', '--subnet-score', 'fisher')).toMatch(/not --sparse-init magnitude$/);
    expect(error('--method', 'sparse', '--regrow-every', '0', '--regrow-fraction', '0.3')).toBe('--regrow-fraction has no effect with --regrow-every 0 (the index set never changes)');
    expect(error('--method', 'sparse', '--regrow-every', '0', '--candidate-factor', '2')).toMatch(/^--candidate-factor has no effect/);
    expect(error('--method', 'sparse', '--density', '0.1', '--match-lora-rank')).toMatch(/^--density and --match-lora-rank are exclusive/);
  });

  it('refuses LoRA flags where there are no low-rank factors', () => {
    expect(error('--method', 'sparse', '--rank', '4')).toBe('--rank has no effect with --method sparse (the budget is --density unless --match-lora-rank is given)');
    expect(error('--method', 'sara', '--alpha', '4')).toBe('--alpha has no effect with --method sara (it has no low-rank factors)');
    expect(error('--method', 'subnet', '--rslora')).toBe('--rslora has no effect with --method subnet (it has no low-rank factors)');
    expect(error('--method', 'bitfit', '--dropout', '0.1')).toBe('--dropout has no effect with --method bitfit (it has no low-rank factors)');
    expect(error('--method', 'ia3', '--rank', '4')).toBe('--rank has no effect with --method ia3 (it has no low-rank factors)');
    expect(error('--method', 'ssf', '--init', 'gaussian')).toBe('--init applies to --method lora, not --method ssf');
    expect(error('--method', 'norms', '--targets', 'q_proj')).toBe('--targets has no effect with --method norms (it trains every norm weight)');
  });
});

describe('diagonal method flags', () => {
  it('accepts bitfit, ssf and norms without options', () => {
    for (const m of ['bitfit', 'ssf', 'norms']) {
      const c = parse('--method', m);
      expect(c.settings.method).toBe(m);
      expect(c.settings.options).toBeUndefined();
      expect(c.settings.lora.targets).toEqual(['q_proj', 'v_proj']);
      expect(c.targetsFromModel).toBe(false);
    }
    expect(parse('--method', 'bitfit', '--targets', 'q_proj,o_proj').settings.lora.targets).toEqual(['q_proj', 'o_proj']);
  });

  it('maps --ia3-feedforward to a list', () => {
    expect(parse('--method', 'ia3', '--ia3-feedforward', 'down_proj').settings.options).toEqual({ ia3FeedForward: ['down_proj'] });
    expect(parse('--method', 'ia3', '--ia3-feedforward', 'down_proj, mlp.c_proj').settings.options).toEqual({ ia3FeedForward: ['down_proj', 'mlp.c_proj'] });
    // Empty: every target scales its output.
    expect(parse('--method', 'ia3', '--ia3-feedforward=').settings.options).toEqual({ ia3FeedForward: [] });
    expect(error('--method', 'ia3', '--ia3-feedforward')).toBe('--ia3-feedforward needs a value');
    expect(error('--method', 'ssf', '--ia3-feedforward', 'down_proj')).toBe('--ia3-feedforward applies to --method ia3, not --method ssf');
  });

  it('checks --ia3-feedforward against the targets (PEFT: feedforward_modules ⊆ target_modules)', () => {
    expect(parse('--method', 'ia3', '--targets', 'c_attn,mlp.c_proj', '--ia3-feedforward', 'c_proj').settings.options).toEqual({ ia3FeedForward: ['c_proj'] });
    expect(error('--method', 'ia3', '--targets', 'k_proj,v_proj', '--ia3-feedforward', 'down_proj')).toBe(
      '--ia3-feedforward names "down_proj", not among the targets (k_proj, v_proj): PEFT requires feedforward_modules ⊆ target_modules',
    );
    expect(uncoveredFeedforward(['down_proj', 'up_proj', 'c_proj'], ['k_proj', 'down_proj', 'mlp.c_proj'])).toEqual(['up_proj']);
  });
});

describe('IA3 default targets', () => {
  it("are PEFT's, per family", () => {
    expect(defaultTargets('ia3', 'gpt2')).toEqual(['c_attn', 'mlp.c_proj']);
    for (const t of ['llama', 'mistral', 'qwen2', undefined]) expect(defaultTargets('ia3', t)).toEqual(['k_proj', 'v_proj', 'down_proj']);
    expect(defaultTargets('lora', 'gpt2')).toEqual(['q_proj', 'v_proj']);
    expect(defaultTargets('sparse')).toEqual(['q_proj', 'v_proj']);
    expect(IA3_DEFAULT_TARGETS.llama).toEqual(['k_proj', 'v_proj', 'down_proj']);
  });

  it('start as the Llama family and resolve once the model is loaded', () => {
    const c = parse('--method', 'ia3');
    expect(c.targetsFromModel).toBe(true);
    expect(c.settings.lora.targets).toEqual(['k_proj', 'v_proj', 'down_proj']);
    expect(resolveModelDefaults(c, 'gpt2')).toMatch(/^ia3: targets c_attn, mlp\.c_proj \(PEFT's defaults for gpt2/);
    expect(c.settings.lora.targets).toEqual(['c_attn', 'mlp.c_proj']);
    expect(c.targetsFromModel).toBe(false);
    expect(resolveModelDefaults(c, 'gpt2')).toBeNull();

    const llama = parse('--method', 'ia3');
    expect(resolveModelDefaults(llama, 'llama')).toMatch(/^ia3: targets k_proj, v_proj, down_proj/);
    expect(llama.settings.lora.targets).toEqual(['k_proj', 'v_proj', 'down_proj']);
  });

  it('leave given targets alone', () => {
    const c = parse('--method', 'ia3', '--targets', 'q_proj');
    expect(c.targetsFromModel).toBe(false);
    expect(resolveModelDefaults(c, 'gpt2')).toBeNull();
    expect(c.settings.lora.targets).toEqual(['q_proj']);
    expect(resolveModelDefaults(parse(), 'gpt2')).toBeNull();
  });

  it('check an explicit --ia3-feedforward against the resolved targets', () => {
    const gpt2 = parse('--method', 'ia3', '--ia3-feedforward', 'down_proj');
    expect(() => resolveModelDefaults(gpt2, 'gpt2')).toThrow(UsageError);
    expect(() => resolveModelDefaults(parse('--method', 'ia3', '--ia3-feedforward', 'down_proj'), 'llama')).not.toThrow();
    expect(() => resolveModelDefaults(parse('--method', 'ia3', '--ia3-feedforward', 'mlp.c_proj'), 'gpt2')).not.toThrow();
  });
});

describe('--format', () => {
  it('picks the adapter format, defaulting to the method’s own', () => {
    expect(parse().adapterFormat).toBeUndefined();
    expect(parse('--format', 'peft').adapterFormat).toBe('peft');
    expect(parse('--method', 'bitfit', '--format', 'webpeft-delta').adapterFormat).toBe('webpeft-delta');
    expect(error('--format', 'gguf')).toBe('--format must be peft or webpeft-delta, got "gguf"');
    expect(error('--format')).toBe('--format needs a value');
  });
});

describe('--merged', () => {
  it('never overwrites the base checkpoint', () => {
    expect(parse('--merged', 'merged').mergedDir).toBe('merged');
    expect(error('--merged', './m')).toBe('--merged ./m is the --model folder: the merged checkpoint would overwrite the base; give another folder');
  });
});

describe('sparsity summary line', () => {
  const layer = (over: Partial<LayerSparsity>): LayerSparsity => ({
    modulePath: 'model.layers.0.self_attn.q_proj', shape: [64, 64], kept: 41, density: 0.01, updates: 0, dropped: 0, regrown: 0,
    lastDropped: 0, lastRegrown: 0, rowsTouched: 0.5, colsTouched: 0.5, gridRows: 1, gridCols: 1, grid: [41], ...over,
  });

  it('reports kept entries, mean density and the last update', () => {
    expect(sparsityLine({ step: 0, layers: [layer({}), layer({ kept: 82, density: 0.02 })] })).toBe(
      'sparsity step 0: 2 layers keep 123 entries, mean density 1.50%; index set unchanged so far',
    );
    const s = { step: 40, layers: [layer({ updates: 2, dropped: 20, regrown: 20, lastDropped: 8, lastRegrown: 8 }), layer({ updates: 2, dropped: 10, regrown: 10, lastDropped: 4, lastRegrown: 3 })] };
    expect(sparsityLine(s)).toBe('sparsity step 40: 2 layers keep 82 entries, mean density 1.00%; last update dropped 12, regrew 11 (2 updates, 30 dropped in all)');
    expect(sparsityLine({ step: 1, layers: [] })).toBe('sparsity step 1: no sparse layers');
    expect(sparsityLine({ step: 1, layers: [layer({ density: 0.0005 })] })).toMatch(/1 layer keep 41 entries, mean density 0\.050%/);
  });
});
