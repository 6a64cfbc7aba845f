/** Helpers shared by the method tests: logits of a few fixed rows, and a setup for methods that need no calibration. */
import { trainingPass } from '../../src/engine/pass';
import type { Transformer } from '../../src/engine/transformer';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { view } from '../../src/gpu/tensor';
import { LoraLayer } from '../../src/methods/lora/layer';
import type { LowRankDelta, MethodSetup } from '../../src/methods/method';
import { referenceBatch } from './reference';

/** Logits [rows · T, V] of equal-length rows of token ids, adapters as attached, no dropout. */
export async function modelLogits(model: Transformer, ids: number[][]): Promise<Float32Array> {
  model.setInputs(Int32Array.from(ids.flat()));
  const p = trainingPass(ids.length, ids[0].length, false, 0);
  const hidden = model.forwardHidden(p);
  const out = model.arena.get('logits', model.spec.vocab);
  model.logits(hidden, p.M, out);
  return model.rt.read(view(out, [p.M, model.spec.vocab]));
}

/** A MethodSetup whose calibrate() refuses: for methods initialised from the weights alone. */
export function weightOnlySetup(rt: GpuRuntime, model: Transformer, checkpoint: MethodSetup['checkpoint'], seed: number, method: string): MethodSetup {
  return {
    rt, linears: model.linears, checkpoint, seed,
    calibrate: () => Promise.reject(new Error(`${method} needs no calibration`)),
    progress: () => undefined,
  };
}

/** Mean next-token loss of the rows (targets = the next id), with the backward pass run into the adapters. */
export async function lossAndBackward(model: Transformer, ids: number[][]): Promise<number> {
  const b = referenceBatch(ids);
  const acc = model.rt.tensor('loss', [1]);
  model.setInputs(b.inputs, b.targets);
  model.forwardLoss(trainingPass(ids.length, ids[0].length, false, 0), 1 / b.lossTokens, acc, 0, true);
  const loss = (await model.rt.read(acc))[0];
  model.rt.release(acc);
  return loss;
}

/** Attaches each ΔW = s·B A as a plain LoRA layer on its linear (what a method's LoRA export promises); returns a detach-and-free. */
export function attachDeltasAsLora(rt: GpuRuntime, model: Transformer, deltas: LowRankDelta[]): () => void {
  const layers = deltas.map((d) => {
    const lin = model.linears.find((l) => l.spec.modulePath === d.linear.modulePath);
    if (!lin) throw new Error(`no linear ${d.linear.modulePath}`);
    const layer = new LoraLayer(rt, d.linear, d.k, d.scaling, 0, 0, { A: d.A, B: d.B });
    lin.adapters.push(layer);
    return layer;
  });
  return () => {
    for (const l of model.linears) l.adapters.length = 0;
    for (const p of layers) p.release(rt);
  };
}
