// Softmax cross-entropy per row, with the logits gradient fused in. One workgroup of 256 per row (V up to ~150k):
// each thread keeps an online (max, sum of exp(l - max)) pair over its strided share of the row, the pairs merge
// in a shared-memory tree, so the row is read once for the statistics and once more for the gradient.
//
//   losses[m]     = logsumexp(logits[m]) - logits[m, t]       (0 when t == -100, NaN when t is outside [0, V))
//   dlogits[m, j] = (softmax(logits[m])_j - [j == t]) * grad_scale   (all 0 when t == -100 or t is invalid)
//
// ce_loss:          bindings: 1 losses (rw) [M], 2 logits (read) [M,V], 3 targets (read, i32) [M]
// ce_grad:          bindings: 1 losses (rw) [M], 2 dlogits (rw) [M,V], 3 logits (read) [M,V], 4 targets (read) [M]
// ce_grad_inplace:  bindings: 1 losses (rw) [M], 2 logits (rw) [M,V] (overwritten by dlogits), 3 targets (read) [M]
//                   (for a [M, 150k] logits tensor, not holding a second copy is worth hundreds of MiB)
// dispatch: grid1d(M) workgroups of 256; row = wid.x + wid.y * nwg.x, guarded against M.
//
// Binding numbers repeat across entry points; WGSL allows that (the rule is per entry point).

struct Params {
  M: u32,
  V: u32,
  grad_scale: f32,
  nan_bits: u32,   // 0x7fc00000: a NaN built at run time (a NaN constant is a shader-creation error in WGSL)
}

@group(0) @binding(0) var<uniform> u: Params;

const WG: u32 = 256u;
const IGNORE_INDEX: i32 = -100;
// A finite stand-in for -inf: exp(LOWEST - m) underflows to 0 and LOWEST - LOWEST is 0, never inf - inf.
const LOWEST: f32 = -3.4028234e38;

var<workgroup> red_max: array<f32, 256>;
var<workgroup> red_sum: array<f32, 256>;
var<workgroup> wg_target: i32;

// Online softmax statistics: (running max, sum of exp(l - running max)).
fn push(acc: vec2f, l: f32) -> vec2f {
  if (l > acc.x) { return vec2f(l, acc.y * exp(acc.x - l) + 1.0); }
  return vec2f(acc.x, acc.y + exp(l - acc.x));
}

fn merge(a: vec2f, b: vec2f) -> vec2f {
  let m = max(a.x, b.x);
  return vec2f(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

fn wg_merge(lid: u32, v: vec2f) -> vec2f {
  red_max[lid] = v.x;
  red_sum[lid] = v.y;
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    workgroupBarrier();
    if (lid < s) {
      let r = merge(vec2f(red_max[lid], red_sum[lid]), vec2f(red_max[lid + s], red_sum[lid + s]));
      red_max[lid] = r.x;
      red_sum[lid] = r.y;
    }
  }
  workgroupBarrier();
  return vec2f(red_max[0], red_sum[0]);
}

fn is_valid(t: i32) -> bool {
  return t >= 0 && t < i32(u.V);
}

fn loss_value(t: i32, stats: vec2f, target_logit: f32) -> f32 {
  if (t == IGNORE_INDEX) { return 0.0; }
  if (!is_valid(t)) { return bitcast<f32>(u.nan_bits); }
  return stats.x + log(stats.y) - target_logit;
}

// (softmax_j - [j == t]) * grad_scale, or 0 for an ignored or invalid target.
fn grad_value(l: f32, j: u32, t: i32, stats: vec2f, inv_sum: f32) -> f32 {
  if (!is_valid(t)) { return 0.0; }
  let p = exp(l - stats.x) * inv_sum;
  return (p - select(0.0, 1.0, i32(j) == t)) * u.grad_scale;
}

// ---------------------------------------------------------------- ce_loss
@group(0) @binding(1) var<storage, read_write> cl_losses: array<f32>;
@group(0) @binding(2) var<storage, read> cl_logits: array<f32>;
@group(0) @binding(3) var<storage, read> cl_targets: array<i32>;

@compute @workgroup_size(256)
fn ce_loss(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_id) lidv: vec3u) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.M) { return; }
  let lid = lidv.x;
  if (lid == 0u) { wg_target = cl_targets[row]; }
  let t = workgroupUniformLoad(&wg_target);
  if (!is_valid(t)) {
    if (lid == 0u) { cl_losses[row] = loss_value(t, vec2f(0.0), 0.0); }
    return;
  }
  let base = row * u.V;
  var acc = vec2f(LOWEST, 0.0);
  for (var j = lid; j < u.V; j += WG) { acc = push(acc, cl_logits[base + j]); }
  let stats = wg_merge(lid, acc);
  if (lid == 0u) { cl_losses[row] = loss_value(t, stats, cl_logits[base + u32(t)]); }
}

// ---------------------------------------------------------------- ce_grad
@group(0) @binding(1) var<storage, read_write> cg_losses: array<f32>;
@group(0) @binding(2) var<storage, read_write> cg_dlogits: array<f32>;
@group(0) @binding(3) var<storage, read> cg_logits: array<f32>;
@group(0) @binding(4) var<storage, read> cg_targets: array<i32>;

@compute @workgroup_size(256)
fn ce_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_id) lidv: vec3u) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.M) { return; }
  let lid = lidv.x;
  if (lid == 0u) { wg_target = cg_targets[row]; }
  let t = workgroupUniformLoad(&wg_target);
  let base = row * u.V;
  if (!is_valid(t)) {
    for (var j = lid; j < u.V; j += WG) { cg_dlogits[base + j] = 0.0; }
    if (lid == 0u) { cg_losses[row] = loss_value(t, vec2f(0.0), 0.0); }
    return;
  }
  var acc = vec2f(LOWEST, 0.0);
  for (var j = lid; j < u.V; j += WG) { acc = push(acc, cg_logits[base + j]); }
  let stats = wg_merge(lid, acc);
  let inv_sum = 1.0 / stats.y;
  for (var j = lid; j < u.V; j += WG) { cg_dlogits[base + j] = grad_value(cg_logits[base + j], j, t, stats, inv_sum); }
  if (lid == 0u) { cg_losses[row] = loss_value(t, stats, cg_logits[base + u32(t)]); }
}

// ---------------------------------------------------------------- ce_grad_inplace
@group(0) @binding(1) var<storage, read_write> ci_losses: array<f32>;
@group(0) @binding(2) var<storage, read_write> ci_logits: array<f32>;
@group(0) @binding(3) var<storage, read> ci_targets: array<i32>;

@compute @workgroup_size(256)
fn ce_grad_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_id) lidv: vec3u) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.M) { return; }
  let lid = lidv.x;
  if (lid == 0u) { wg_target = ci_targets[row]; }
  let t = workgroupUniformLoad(&wg_target);
  let base = row * u.V;
  if (!is_valid(t)) {
    for (var j = lid; j < u.V; j += WG) { ci_logits[base + j] = 0.0; }
    if (lid == 0u) { ci_losses[row] = loss_value(t, vec2f(0.0), 0.0); }
    return;
  }
  // The target logit is read before wg_merge's barriers: after them, its owner thread may overwrite it.
  let target_logit = ci_logits[base + u32(t)];
  var acc = vec2f(LOWEST, 0.0);
  for (var j = lid; j < u.V; j += WG) { acc = push(acc, ci_logits[base + j]); }
  let stats = wg_merge(lid, acc);
  let inv_sum = 1.0 / stats.y;
  for (var j = lid; j < u.V; j += WG) { ci_logits[base + j] = grad_value(ci_logits[base + j], j, t, stats, inv_sum); }
  if (lid == 0u) { ci_losses[row] = loss_value(t, stats, target_logit); }
}
