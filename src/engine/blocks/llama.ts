/**
 * One Llama/Mistral/Qwen2 decoder block, forward and backward, written out as in llm.c:
 *   h   = x + o_proj(attn(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1)))     n1 = rmsnorm(x)
 *   out = h + down_proj(silu(gate_proj(n2)) * up_proj(n2))                      n2 = rmsnorm(h)
 * The backward pass is the forward list reversed; the residual gradient `dres` flows through unchanged and
 * every branch adds into it.
 */
import { attentionBackward, attentionForward } from '../../gpu/ops/attention';
import { swigluBackward, swigluForward } from '../../gpu/ops/activation';
import { rmsnormBackward, rmsnormForward } from '../../gpu/ops/norm';
import { ropeApply } from '../../gpu/ops/rope';
import type { GpuTensor } from '../../gpu/tensor';
import type { Pass } from '../pass';
import type { BlockModel } from './types';

/** Widths of the block's activations: hidden, query and key/value projections, MLP. */
function blockDims(m: BlockModel): { C: number; qDim: number; kvDim: number; I: number } {
  const { spec } = m;
  return { C: spec.hidden, qDim: spec.heads * spec.headDim, kvDim: spec.kvHeads * spec.headDim, I: spec.intermediate };
}

export function llamaBlockForward(m: BlockModel, l: number, p: Pass): void {
  const { rt, spec, arena } = m;
  const w = m.weights.blocks[l];
  const [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj] = w.linears;
  const { M } = p;
  const { C, qDim, kvDim, I } = blockDims(m);
  const x = arena.get(`res.${l}`, C);
  const n1 = arena.get(`n1.${l}`, C);
  rmsnormForward(rt, { out: n1, rstd: arena.flat(`rstd1.${l}`), x, weight: w.ln1.weight, M, C, eps: spec.normEps });
  const q = arena.get(`q.${l}`, qDim);
  const k = arena.get(`k.${l}`, kvDim);
  const v = arena.get(`v.${l}`, kvDim);
  q_proj.forward(rt, n1, q, M, p.ctx);
  k_proj.forward(rt, n1, k, M, p.ctx);
  v_proj.forward(rt, n1, v, M, p.ctx);
  const rope = { cos: m.rope.cos, sin: m.rope.sin, rows: M, T: p.T, headDim: spec.headDim, positionOffset: p.position };
  ropeApply(rt, { ...rope, x: q, nHeads: spec.heads });
  ropeApply(rt, { ...rope, x: k, nHeads: spec.kvHeads });
  const att = arena.get(`att.${l}`, qDim);
  attentionForward(rt, { ...m.attentionShape(p, l, k, v), out: att, lse: arena.flat(`lse.${l}`, spec.heads), q });
  const h = arena.get(`mid.${l}`, C);
  rt.copy(x, h);
  o_proj.forward(rt, att, h, M, p.ctx, true);
  const n2 = arena.get(`n2.${l}`, C);
  rmsnormForward(rt, { out: n2, rstd: arena.flat(`rstd2.${l}`), x: h, weight: w.ln2.weight, M, C, eps: spec.normEps });
  const gate = arena.get(`gate.${l}`, I);
  const up = arena.get(`up.${l}`, I);
  gate_proj.forward(rt, n2, gate, M, p.ctx);
  up_proj.forward(rt, n2, up, M, p.ctx);
  const act = arena.get(`act.${l}`, I);
  swigluForward(rt, { out: act, gate, up, n: M * I });
  const out = arena.get(`res.${l + 1}`, C);
  rt.copy(h, out);
  down_proj.forward(rt, act, out, M, p.ctx, true);
}

/** dres [M, C] holds ∂L/∂out on entry and ∂L/∂x on exit. */
export function llamaBlockBackward(m: BlockModel, l: number, p: Pass, dres: GpuTensor): void {
  const { rt, spec, arena } = m;
  const w = m.weights.blocks[l];
  const [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj] = w.linears;
  const { M } = p;
  const { C, qDim, kvDim, I } = blockDims(m);
  const n2 = arena.get(`n2.${l}`, C);
  const gate = arena.get(`gate.${l}`, I);
  const up = arena.get(`up.${l}`, I);
  // MLP branch.
  const dact = arena.get('g.I0', I);
  down_proj.backward(rt, arena.get(`act.${l}`, I), dres, dact, M, p.ctx);
  const dgate = arena.get('g.I1', I);
  const dup = arena.get('g.I2', I);
  swigluBackward(rt, { dgate, dup, dout: dact, gate, up, n: M * I });
  const dn = arena.get('g.C0', C);
  gate_proj.backward(rt, n2, dgate, dn, M, p.ctx);
  up_proj.backward(rt, n2, dup, dn, M, p.ctx, true);
  const h = arena.get(`mid.${l}`, C);
  rmsnormBackward(rt, { dx: dres, dout: dn, x: h, rstd: arena.flat(`rstd2.${l}`), weight: w.ln2.weight, dweight: w.ln2.grad?.weight, M, C });
  // Attention branch.
  const datt = arena.get('g.Q0', qDim);
  o_proj.backward(rt, arena.get(`att.${l}`, qDim), dres, datt, M, p.ctx);
  const dq = arena.get('g.Q1', qDim);
  const dk = arena.get('g.K0', kvDim);
  const dv = arena.get('g.K1', kvDim);
  const q = arena.get(`q.${l}`, qDim);
  const k = arena.get(`k.${l}`, kvDim);
  const v = arena.get(`v.${l}`, kvDim);
  attentionBackward(rt, { ...m.attentionShape(p, l, k, v), dq, dk, dv, dout: datt, out: arena.get(`att.${l}`, qDim), lse: arena.flat(`lse.${l}`, spec.heads), q });
  const rope = { cos: m.rope.cos, sin: m.rope.sin, rows: M, T: p.T, headDim: spec.headDim, positionOffset: p.position, inverse: true };
  ropeApply(rt, { ...rope, x: dq, nHeads: spec.heads });
  ropeApply(rt, { ...rope, x: dk, nHeads: spec.kvHeads });
  const n1 = arena.get(`n1.${l}`, C);
  q_proj.backward(rt, n1, dq, dn, M, p.ctx);
  k_proj.backward(rt, n1, dk, dn, M, p.ctx, true);
  v_proj.backward(rt, n1, dv, dn, M, p.ctx, true);
  rmsnormBackward(rt, { dx: dres, dout: dn, x: arena.get(`res.${l}`, C), rstd: arena.flat(`rstd1.${l}`), weight: w.ln1.weight, dweight: w.ln1.grad?.weight, M, C });
}
