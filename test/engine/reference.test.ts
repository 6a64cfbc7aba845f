/**
 * The golden tests (llm.c's test_gpt2 in spirit): our WebGPU engine against what transformers and PEFT computed
 * for the same checkpoints and ids (fixtures/reference). Tolerances are DESIGN.md's: logits 1e-4 relative to the
 * largest reference logit, LoRA gradients 1e-3 relative (per-tensor norm); the largest difference is printed.
 */
import { describe, expect, it } from 'vitest';
import { Transformer } from '../../src/engine/transformer';
import { loraKey } from '../../src/formats/peft';
import { gpuRuntime, maxRelError, relNormError } from '../support/gpu';
import { REFERENCE_MODELS, loadFixtureModel, readJson, readSafetensor, refDir, withAdapter } from '../support/reference';
import { lossAndBackward, modelLogits } from '../support/methods';

interface ForwardJson {
  ids: number[][];
  loss_next_token: number;
}

const logitsOf = modelLogits;

describe.each(REFERENCE_MODELS)('%s against transformers + PEFT', (name) => {
  it('base forward logits and loss', async () => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, name);
    const ref = await readJson<ForwardJson>(refDir(name, 'forward.json'));
    const model = new Transformer(rt, m.spec, m.weights, 32);
    const got = await logitsOf(model, ref.ids);
    const want = await readSafetensor(refDir(name, 'forward.safetensors'), 'logits');
    const err = maxRelError(got, want);
    console.log(`${name} logits: max rel error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
    const loss = await lossAndBackward(model, ref.ids);
    expect(Math.abs(loss - ref.loss_next_token)).toBeLessThan(2e-5);
  });

  const cases = name.includes('gpt2') ? ['r4_qv', 'r8_all_rslora'] : ['r4_qv', 'r8_all_rslora', 'r4_mlp'];
  it.each(cases)('LoRA %s: loss, gradients and the after-step adapter', async (c) => {
    const rt = await gpuRuntime();
    const m = await loadFixtureModel(rt, name);
    const info = await readJson<{ ids: number[][]; loss_with_adapter: number }>(refDir(name, 'lora', c, 'case.json'));
    const { model, layers } = await withAdapter(rt, m, refDir(name, 'lora', c));
    const loss = await lossAndBackward(model, info.ids);
    expect(Math.abs(loss - info.loss_with_adapter), `loss ${loss} vs ${info.loss_with_adapter}`).toBeLessThan(2e-5);
    let worst = 0;
    for (const l of layers) {
      const g = l.grads();
      for (const [which, t] of [['A', g.A], ['B', g.B]] as const) {
        const key = loraKey(l.linear.modulePath, which);
        const err = relNormError(await rt.read(t), await readSafetensor(refDir(name, 'lora', c, 'grads.safetensors'), key));
        worst = Math.max(worst, err);
        expect(err, key).toBeLessThan(1e-3);
      }
    }
    console.log(`${name}/${c} gradients: worst per-tensor rel error ${worst.toExponential(2)}`);
    const stepped = await withAdapter(rt, m, refDir(name, 'lora', c, 'after_step'));
    const got = await logitsOf(stepped.model, info.ids);
    const want = await readSafetensor(refDir(name, 'lora', c, 'after_step', 'logits.safetensors'), 'logits');
    const err = maxRelError(got, want);
    console.log(`${name}/${c} after-step logits: max rel error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
  });
});
