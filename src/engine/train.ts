/**
 * The training loop: gradient accumulation, AdamW with clipping, warmup + cosine/constant schedule, periodic
 * validation, metrics. Each micro-batch is recorded into one command encoder and submitted; the loss and
 * gradient norm of step s are read back while step s+1 is already recorded, so the GPU never waits on the CPU.
 */
import { fill } from '../gpu/ops/elementwise';
import type { Batch } from '../data/batches';
import type { StepMetrics, TrainSettings } from '../run/api';
import type { TrainableParam } from '../methods/types';
import { AdamW, type OptimizerMoments } from './optimizer';
import { trainingPass } from './pass';
import { learningRate } from './schedule';
import type { Transformer } from './transformer';

export interface BatchSource {
  next(): Batch;
}

export interface TrainLoopHooks {
  onMetrics(m: StepMetrics): void;
  shouldStop(): boolean;
  now(): number;
  /** After every micro-batch's backward, before clipping and AdamW (step counts from 0): regulariser gradients. */
  beforeOptimizerStep?(step: number): void | Promise<void>;
  /** After AdamW, with that step's gradients still in place: budget schedules, masks, index-set updates. */
  afterOptimizerStep?(step: number, optimizer: OptimizerMoments): Promise<void>;
  /** After a step is recorded (step counts from 1): periodic measurements such as spectra. */
  afterStep?(stepNo: number): Promise<void>;
}

export interface TrainLoopResult {
  steps: number;
  finalLoss: number;
  finalValLoss?: number;
  stopped: boolean;
}

/** Mixes the run seed with a step and micro-batch index for per-pass dropout masks. */
export function passSeed(seed: number, step: number, micro: number): number {
  let h = (seed ^ Math.imul(step + 1, 0x85ebca6b)) >>> 0;
  h = (h ^ Math.imul(micro + 1, 0xc2b2ae35)) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export async function trainLoop(
  model: Transformer,
  params: TrainableParam[],
  s: TrainSettings,
  train: BatchSource,
  val: Batch[],
  hooks: TrainLoopHooks,
): Promise<TrainLoopResult> {
  const { rt } = model;
  const opt = new AdamW(rt, params, s);
  const acc = rt.tensor('train.loss', [2]); // [mean loss of the step, gradient norm]
  let pending: Promise<StepMetrics> | null = null;
  let lastLoss = NaN;
  let lastVal: number | undefined;
  let last = hooks.now();
  let done = 0;
  try {
    for (let step = 0; step < s.steps; step++) {
      if (hooks.shouldStop()) break;
      const lr = learningRate(step, s.steps, s.lr, s.warmupSteps, s.schedule);
      const micro = Array.from({ length: s.gradAccum }, () => train.next());
      const lossTokens = Math.max(1, micro.reduce((n, b) => n + b.lossTokens, 0));
      opt.zeroGrad();
      fill(rt, acc, 0);
      micro.forEach((b, i) => {
        model.setInputs(b.inputs, b.targets);
        model.forwardLoss(trainingPass(s.batchSize, s.seqLen, true, passSeed(s.seed, step, i)), 1 / lossTokens, acc, 0, true);
        rt.flush();
      });
      await hooks.beforeOptimizerStep?.(step);
      opt.step(lr);
      rt.copy(opt.stats, acc, 1, 1, 1);
      const read = rt.readback(acc);
      rt.flush();
      if (hooks.afterOptimizerStep) await hooks.afterOptimizerStep(step, opt);
      const stepNo = step + 1;
      const tokens = s.gradAccum * s.batchSize * s.seqLen;
      const previous = pending;
      pending = read.then((buf) => {
        const [loss, gradNorm] = new Float32Array(buf);
        if (!Number.isFinite(loss)) throw new Error(`training diverged at step ${stepNo}: loss is ${loss} (try a lower learning rate)`);
        const t = hooks.now();
        const tokensPerS = tokens / Math.max(1e-6, (t - last) / 1000);
        last = t;
        lastLoss = loss;
        return { step: stepNo, loss, lr, tokensPerS, gradNorm };
      });
      // Emit step s-1 while step s runs on the GPU.
      if (previous) hooks.onMetrics(await previous);
      done = stepNo;
      if (s.valEvery > 0 && val.length > 0 && (stepNo % s.valEvery === 0 || stepNo === s.steps)) {
        const m = await pending;
        pending = null;
        lastVal = await evaluateLoss(model, val, s.batchSize, s.seqLen);
        hooks.onMetrics({ ...m, valLoss: lastVal });
        last = hooks.now();
      }
      if (hooks.afterStep) await hooks.afterStep(stepNo);
    }
    if (pending) hooks.onMetrics(await pending);
  } finally {
    opt.release();
    rt.release(acc);
  }
  return { steps: done, finalLoss: lastLoss, finalValLoss: lastVal, stopped: done < s.steps };
}

/** Mean next-token loss over all loss tokens of the batches (forward only, dropout off). */
export async function evaluateLoss(model: Transformer, batches: Batch[], B: number, T: number): Promise<number> {
  const { rt } = model;
  const acc = rt.tensor('eval.loss', [1]);
  const tokens = Math.max(1, batches.reduce((n, b) => n + b.lossTokens, 0));
  try {
    for (const b of batches) {
      model.setInputs(b.inputs, b.targets);
      model.forwardLoss(trainingPass(B, T, false, 0), 1 / tokens, acc, 0, false);
      rt.flush();
    }
    return (await rt.read(acc))[0];
  } finally {
    rt.release(acc);
  }
}
