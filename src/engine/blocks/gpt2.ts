/**
 * One GPT-2 block, forward and backward (llm.c's layout):
 *   h   = x + c_proj(attn(split(c_attn(n1))))      n1 = layernorm(x)
 *   out = h + mlp.c_proj(gelu(c_fc(n2)))           n2 = layernorm(h)
 * c_attn is fused [C → 3C]; its output is split into q, k, v and the gradients joined back.
 */
import { attentionBackward, attentionForward } from '../../gpu/ops/attention';
import { geluBackward, geluForward } from '../../gpu/ops/activation';
import { copyColumns } from '../../gpu/ops/copy';
import { layernormBackward, layernormForward } from '../../gpu/ops/norm';
import type { GpuTensor } from '../../gpu/tensor';
import type { Pass } from '../pass';
import type { BlockModel } from './types';

export function gpt2BlockForward(m: BlockModel, l: number, p: Pass): void {
  const { rt, spec, arena } = m;
  const w = m.weights.blocks[l];
  const [c_attn, attn_proj, c_fc, mlp_proj] = w.linears;
  const { M } = p;
  const C = spec.hidden;
  const I = spec.intermediate;
  const x = arena.get(`res.${l}`, C);
  const n1 = arena.get(`n1.${l}`, C);
  layernormForward(rt, { out: n1, mean: arena.flat(`mean1.${l}`), rstd: arena.flat(`rstd1.${l}`), x, weight: w.ln1.weight, bias: w.ln1.bias as GpuTensor, M, C, eps: spec.normEps });
  const qkv = arena.get(`qkv.${l}`, 3 * C);
  c_attn.forward(rt, n1, qkv, M, p.ctx);
  const q = arena.get(`q.${l}`, C);
  const k = arena.get(`k.${l}`, C);
  const v = arena.get(`v.${l}`, C);
  [q, k, v].forEach((dst, i) => copyColumns(rt, { dst, src: qkv, rows: M, cols: C, srcStride: 3 * C, srcOffset: i * C, dstStride: C, dstOffset: 0 }));
  const att = arena.get(`att.${l}`, C);
  attentionForward(rt, { ...m.attentionShape(p, l, k, v), out: att, lse: arena.flat(`lse.${l}`, spec.heads), q });
  const h = arena.get(`mid.${l}`, C);
  rt.copy(x, h);
  attn_proj.forward(rt, att, h, M, p.ctx, true);
  const n2 = arena.get(`n2.${l}`, C);
  layernormForward(rt, { out: n2, mean: arena.flat(`mean2.${l}`), rstd: arena.flat(`rstd2.${l}`), x: h, weight: w.ln2.weight, bias: w.ln2.bias as GpuTensor, M, C, eps: spec.normEps });
  const fc = arena.get(`fc.${l}`, I);
  c_fc.forward(rt, n2, fc, M, p.ctx);
  const act = arena.get(`act.${l}`, I);
  geluForward(rt, { out: act, x: fc, n: M * I });
  const out = arena.get(`res.${l + 1}`, C);
  rt.copy(h, out);
  mlp_proj.forward(rt, act, out, M, p.ctx, true);
}

/** dres [M, C] holds ∂L/∂out on entry and ∂L/∂x on exit. */
export function gpt2BlockBackward(m: BlockModel, l: number, p: Pass, dres: GpuTensor): void {
  const { rt, spec, arena } = m;
  const w = m.weights.blocks[l];
  const [c_attn, attn_proj, c_fc, mlp_proj] = w.linears;
  const { M } = p;
  const C = spec.hidden;
  const I = spec.intermediate;
  // MLP branch.
  const dact = arena.get('g.I0', I);
  mlp_proj.backward(rt, arena.get(`act.${l}`, I), dres, dact, M, p.ctx);
  const dfc = arena.get('g.I1', I);
  geluBackward(rt, { dx: dfc, dout: dact, x: arena.get(`fc.${l}`, I), n: M * I });
  const dn = arena.get('g.C0', C);
  c_fc.backward(rt, arena.get(`n2.${l}`, C), dfc, dn, M, p.ctx);
  const h = arena.get(`mid.${l}`, C);
  layernormBackward(rt, { dx: dres, dout: dn, x: h, mean: arena.flat(`mean2.${l}`), rstd: arena.flat(`rstd2.${l}`), weight: w.ln2.weight, dweight: w.ln2.grad?.weight, dbias: w.ln2.grad?.bias, M, C });
  // Attention branch.
  const datt = arena.get('g.Q0', C);
  attn_proj.backward(rt, arena.get(`att.${l}`, C), dres, datt, M, p.ctx);
  const dq = arena.get('g.Q1', C);
  const dk = arena.get('g.K0', C);
  const dv = arena.get('g.K1', C);
  const k = arena.get(`k.${l}`, C);
  const v = arena.get(`v.${l}`, C);
  attentionBackward(rt, { ...m.attentionShape(p, l, k, v), dq, dk, dv, dout: datt, out: arena.get(`att.${l}`, C), lse: arena.flat(`lse.${l}`, spec.heads), q: arena.get(`q.${l}`, C) });
  const dqkv = arena.get('g.QKV', 3 * C);
  [dq, dk, dv].forEach((src, i) => copyColumns(rt, { dst: dqkv, src, rows: M, cols: C, srcStride: C, srcOffset: 0, dstStride: 3 * C, dstOffset: i * C }));
  c_attn.backward(rt, arena.get(`n1.${l}`, C), dqkv, dn, M, p.ctx);
  layernormBackward(rt, { dx: dres, dout: dn, x: arena.get(`res.${l}`, C), mean: arena.flat(`mean1.${l}`), rstd: arena.flat(`rstd1.${l}`), weight: w.ln1.weight, dweight: w.ln1.grad?.weight, dbias: w.ln1.grad?.bias, M, C });
}
