/**
 * OLoRA on the targeted linear layers, as PEFT's init_lora_weights "olora": B = Q_r, A = R_r of the QR of each
 * weight, the rest left in the frozen base as W_res = W − s·B A. GPT-2 (Conv1D) is refused up front, as it has no
 * PEFT-compatible OLoRA. Exports as PEFT's conversion does: a plain rank-2r LoRA on the original base.
 */
import type { LoraSettings, MethodOptions } from '../../run/api';
import { rankFor, targetsModule } from '../lora/config';
import type { MethodSetup } from '../method';
import { attachResidualLora } from '../pissa/residualAttach';
import { loraConfigFrom } from '../common/targets';
import type { ResidualLoraRun } from '../pissa/run';
import { oloraFactors, oloraRefusal } from './factors';

// MethodOptions has nothing for OLoRA yet; the parameter keeps every method's attach call alike.
export async function attachOlora(setup: MethodSetup, lora: LoraSettings, _options?: MethodOptions): Promise<ResidualLoraRun> {
  const cfg = loraConfigFrom(lora);
  // Refuse before any weight is touched.
  for (const l of setup.linears) {
    if (!targetsModule(cfg, l.spec.modulePath)) continue;
    const refusal = oloraRefusal(l.spec, rankFor(cfg, l.spec.modulePath));
    if (refusal) throw new Error(refusal);
  }
  return attachResidualLora(setup, lora, 'olora', 'OLoRA', (rt, W, spec, r) => oloraFactors(rt, W, spec, r));
}
