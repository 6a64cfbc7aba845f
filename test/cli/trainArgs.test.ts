/** `webpeft train` flags → TrainSettings: defaults, every method option, and one-line errors for bad values. */
import { describe, expect, it } from 'vitest';
import { parseTrain, trainError } from '../support/cliArgs';
import { FlagReader, parseFlags } from '../../cli/args';
import { METHOD_FLAGS, NUMERIC_FLAGS } from '../../cli/methodFlags';
import { parseTrainArgs } from '../../cli/trainArgs';
import { METHOD_DEFAULTS, METHOD_NAMES } from '../../src/run/api';

const parse = parseTrain;
const error = trainError;

describe('train flags', () => {
  it('default to a plain LoRA run without options or spectra', () => {
    const c = parse();
    expect(c).toMatchObject({ modelDir: 'm', dataPath: 'd.txt', out: 'o', mergedDir: undefined, adapterFormat: undefined, targetsFromModel: false });
    expect(c.settings).toEqual({
      method: 'lora',
      lora: { rank: 8, alpha: 16, useRslora: false, dropout: 0, targets: ['q_proj', 'v_proj'], initLoraWeights: 'default' },
      steps: 100, batchSize: 4, seqLen: 128, gradAccum: 1, lr: 2e-4, warmupSteps: 0, schedule: 'cosine', weightDecay: 0,
      beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, valEvery: 0, seed: 42,
    });
    expect(c.dataset).toEqual({ onBadLine: 'skip', valFraction: 0, seed: 42, trainOnAllTokens: false, seqLen: 128 });
  });

  it('accepts every method by name', () => {
    for (const m of METHOD_NAMES) expect(parse('--method', m).settings.method).toBe(m);
  });

  it('maps PiSSA with a randomized SVD, spectra and a merged checkpoint', () => {
    const c = parse('--method', 'pissa', '--rank', '4', '--svd', 'randomized', '--power-iters', '2', '--spectra-every', '5', '--merged', 'merged', '--seq-len=32');
    expect(c.settings).toMatchObject({ method: 'pissa', lora: { rank: 4, alpha: 8 }, options: { svd: 'randomized', powerIters: 2 }, spectraEvery: 5, seqLen: 32 });
    expect(c.mergedDir).toBe('merged');
    expect(c.dataset.seqLen).toBe(32);
  });

  it('maps each method option flag to its MethodOptions field', () => {
    const cases: [string, string[], Record<string, unknown>][] = [
      ['svfit', ['--svfit-energy', '0.95', '--svd', 'exact'], { svfitEnergy: 0.95, svd: 'exact' }],
      ['sorsa', ['--sorsa-gamma', '1e-3'], { sorsaGamma: 1e-3 }],
      ['eva', ['--eva-batches', '3', '--eva-rho', '1.5'], { evaBatches: 3, evaRho: 1.5 }],
      ['lorasb', ['--lorasb-batches', '2'], { lorasbBatches: 2 }],
      [
        'adalora',
        ['--adalora-init-r', '12', '--adalora-tinit', '10', '--adalora-tfinal', '20', '--adalora-delta-t', '5', '--adalora-beta1', '0.8', '--adalora-beta2', '0.9', '--adalora-orth-reg', '0.1'],
        { adaloraInitR: 12, adaloraTinit: 10, adaloraTfinal: 20, adaloraDeltaT: 5, adaloraBeta1: 0.8, adaloraBeta2: 0.9, adaloraOrthReg: 0.1 },
      ],
    ];
    for (const [method, flags, options] of cases) {
      expect(parse('--method', method, ...flags).settings.options).toEqual(options);
    }
  });

  it('has one flag for every MethodOptions field', () => {
    expect(METHOD_FLAGS.map((f) => f.key).sort()).toEqual(Object.keys(METHOD_DEFAULTS).sort());
    expect(new Set(METHOD_FLAGS.map((f) => f.flag)).size).toBe(METHOD_FLAGS.length);
    for (const f of NUMERIC_FLAGS) expect(typeof METHOD_DEFAULTS[f.key]).toBe('number');
  });

  it('keeps the LoRA flags', () => {
    const c = parse('--rank', '16', '--alpha', '8', '--rslora', '--dropout', '0.1', '--init', 'gaussian', '--targets', 'q_proj, k_proj,', '--val-every', '10', '--all-tokens', '--schedule', 'constant');
    expect(c.settings.lora).toEqual({ rank: 16, alpha: 8, useRslora: true, dropout: 0.1, targets: ['q_proj', 'k_proj'], initLoraWeights: 'gaussian' });
    expect(c.settings.schedule).toBe('constant');
    expect(c.dataset).toMatchObject({ valFraction: 0.1, trainOnAllTokens: true });
  });

  it('refuses unknown methods and bad words', () => {
    expect(error('--method', 'dora')).toMatch(/^--method must be one of lora, pissa, .*adalora, sparse, sara, subnet, dsee, bitfit, ia3, ssf, norms; got "dora"$/);
    expect(error('--method', 'pissa', '--svd', 'fast')).toBe('--svd must be exact or randomized, got "fast"');
    expect(error('--schedule', 'linear')).toBe('--schedule must be cosine or constant, got "linear"');
    expect(error('--init', 'xavier')).toBe('--init must be default or gaussian, got "xavier"');
    expect(error('--on-bad-line', 'ignore')).toMatch(/--on-bad-line must be skip or refuse/);
  });

  it('refuses options the method would ignore', () => {
    expect(error('--sorsa-gamma', '1')).toBe('--sorsa-gamma applies to --method sorsa, not --method lora');
    expect(error('--method', 'eva', '--svd', 'exact')).toMatch(/^--svd applies to --method pissa, --method milora, .* not --method eva$/);
    expect(error('--method', 'pissa', '--init', 'gaussian')).toBe('--init applies to --method lora, not --method pissa');
    expect(error('--method', 'pissa', '--power-iters', '4')).toMatch(/--power-iters applies to --svd randomized/);
  });

  it('refuses values out of range, naming the flag', () => {
    expect(error('--method', 'svfit', '--svfit-energy', '0')).toBe('--svfit-energy must be in (0, 1], got 0');
    expect(error('--method', 'svfit', '--svfit-energy', '1.5')).toBe('--svfit-energy must be in (0, 1], got 1.5');
    expect(error('--method', 'eva', '--eva-batches', '2.5')).toBe('--eva-batches must be an integer, got 2.5');
    expect(error('--method', 'eva', '--eva-rho', '0.5')).toBe('--eva-rho must be ≥ 1, got 0.5');
    expect(error('--method', 'adalora', '--adalora-beta1', '1')).toBe('--adalora-beta1 must be in [0, 1), got 1');
    expect(error('--method', 'sorsa', '--sorsa-gamma', 'lots')).toBe('--sorsa-gamma must be a number, got "lots"');
    expect(error('--method', 'pissa', '--svd', 'randomized', '--power-iters', '-1')).toBe('--power-iters must be ≥ 0, got -1');
    expect(error('--spectra-every', '-1')).toBe('--spectra-every must be ≥ 0, got -1');
    expect(error('--rank', '0')).toBe('--rank must be ≥ 1, got 0');
    expect(error('--lr', '0')).toBe('--lr must be > 0, got 0');
  });

  it('checks AdaLoRA budgets against the rank and the steps', () => {
    expect(error('--method', 'adalora', '--rank', '16')).toMatch(/--adalora-init-r \(12\) must be ≥ --rank \(16\)/);
    expect(error('--method', 'adalora', '--steps', '30', '--adalora-tinit', '10', '--adalora-tfinal', '20')).toMatch(/must be less than --steps \(30\)/);
    expect(parse('--method', 'adalora', '--rank', '4').settings.options).toBeUndefined();
  });

  it('needs the paths and rejects unknown flags', () => {
    expect(() => parseTrainArgs(new FlagReader(parseFlags(['--data', 'd', '--out', 'o'])))).toThrow('--model is required');
    expect(error('--merged')).toBe('--merged needs a value');
    expect(error('--spectra', '5')).toBe('unknown flag --spectra');
  });
});
