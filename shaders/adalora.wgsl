// AdaLoRA's RankAllocator on the GPU (PEFT peft/tuners/adalora/layer.py): per-entry importance EMAs of the
// factors P = lora_A [k, in], Λ = lora_E [k], Q = lora_B [out, k], one score per singular triplet, and the mask
// that zeroes the pruned entries of Λ.
//
// An EMA state buffer holds two planes of a parameter's n entries: [0, n) the sensitivity Ī (exp_avg_ipt) and
// [n, 2n) the uncertainty Ū (exp_avg_unc), both in the parameter's own layout.
//
// All entry points share Params (unused fields are 0) and the bindings 0 u: Params, 1 out (rw), 2 in1 (read),
// 3 in2 (read), 4 in3 (read); each binds only the ones it uses.
//
// ipt_ema: for every entry i < n of one parameter θ with gradient g:
//     I = |θ g|,  Ī ← β1 Ī + (1 − β1) I,  Ū ← β2 Ū + (1 − β2) |I − Ī|   (Ū uses the updated Ī, as PEFT)
//   out = state [2n], in1 = θ [n], in2 = g [n]; uses n, beta1, beta2.
//   One thread per entry. dispatch: grid1d(ceil(n / 256)) workgroups of 256; linear workgroup index
//   wid.x + wid.y · nwg.x, threads past n return.
//
// triplet_score: for every rank j < k of one layer, with the element score s = Ī · Ū:
//     scores[offset + j] = s_E[j] + (mean_i s_A[j, i] + mean_o s_B[o, j])
//   (PEFT's _combine_ipt: ipt_E plus the sum of the two vector means).
//   out = scores [≥ offset + k], in1 = stateA [2, k·in], in2 = stateE [2, k], in3 = stateB [2, out·k];
//   uses k, inF, outF, offset.
//   A workgroup of 64 owns rank j = wid.x: its threads stride over the in entries of row j of A and the out
//   entries of column j of B, then a fixed-order tree in shared memory adds the 64 partial pairs (deterministic).
//   64 threads, not 256: a CPU fallback (SwiftShader) pays per thread for each barrier, and k is small.
//   dispatch: (k, 1, 1).
//
// mask_core: E[j] = 0 where keep[offset + j] == 0 (PEFT's masked_fill_ of lora_E), for j < k.
//   out = E [k], in1 = keep [≥ offset + k]; uses k, offset.
//   One thread per rank. dispatch: (ceil(k / 64), 1, 1) workgroups of 64.

struct Params {
  n: u32,
  k: u32,
  inF: u32,
  outF: u32,
  offset: u32,
  beta1: f32,
  beta2: f32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read> in2: array<f32>;
@group(0) @binding(4) var<storage, read> in3: array<f32>;

// ------------------------------------------------------------------------------------------- ipt_ema

@compute @workgroup_size(256)
fn ipt_ema(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= u.n) { return; }
  let ipt = abs(in1[i] * in2[i]);
  let e = u.beta1 * out[i] + (1.0 - u.beta1) * ipt;
  out[i] = e;
  out[u.n + i] = u.beta2 * out[u.n + i] + (1.0 - u.beta2) * abs(ipt - e);
}

// ------------------------------------------------------------------------------------------- triplet_score

var<workgroup> red: array<vec2<f32>, 64>;

@compute @workgroup_size(64)
fn triplet_score(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let j = wid.x;
  let nA = u.k * u.inF;
  let nB = u.outF * u.k;
  var s = vec2<f32>(0.0);
  if (j < u.k) {
    for (var i = li; i < u.inF; i += 64u) {
      let a = j * u.inF + i;
      s.x += in1[a] * in1[nA + a];
    }
    for (var o = li; o < u.outF; o += 64u) {
      let b = o * u.k + j;
      s.y += in3[b] * in3[nB + b];
    }
  }
  red[li] = s;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w >>= 1u) {
    if (li < w) { red[li] += red[li + w]; }
    workgroupBarrier();
  }
  if (li == 0u && j < u.k) {
    let sE = in2[j] * in2[u.k + j];
    out[u.offset + j] = sE + (red[0].x / f32(u.inF) + red[0].y / f32(u.outF));
  }
}

// ------------------------------------------------------------------------------------------- mask_core

@compute @workgroup_size(64)
fn mask_core(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  if (j >= u.k) { return; }
  if (in1[u.offset + j] == 0.0) { out[j] = 0.0; }
}
