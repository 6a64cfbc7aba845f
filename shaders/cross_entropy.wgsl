// Softmax cross-entropy per row, with the logits gradient fused in. Each thread keeps an online (max, sum of
// exp(l - max)) pair over its strided share of the row, the pairs of a row merge after one barrier, so the row is
// read once for the statistics and once more for the gradient.
//
//   losses[m]     = logsumexp(logits[m]) - logits[m, t]       (0 when t == -100, NaN when t is outside [0, V))
//   dlogits[m, j] = (softmax(logits[m])_j - [j == t]) * grad_scale   (all 0 when t == -100 or t is invalid)
//
// ce_loss:          bindings: 1 losses (rw) [M], 2 logits (read) [M,V], 3 targets (read, i32) [M]
// ce_grad:          bindings: 1 losses (rw) [M], 2 dlogits (rw) [M,V], 3 logits (read) [M,V], 4 targets (read) [M]
// ce_grad_inplace:  bindings: 1 losses (rw) [M], 2 logits (rw) [M,V] (overwritten by dlogits), 3 targets (read) [M]
//                   (for a [M, 150k] logits tensor, not holding a second copy is worth hundreds of MiB)
//
// Each comes in two forms (the op picks one from V, see src/gpu/ops/rows.ts), as in norm.wgsl:
// - `<name>`: TPR threads (pipeline override, a power of two in 2..64) share a row, a workgroup of 64 handles
//   64 / TPR rows; the TPR partial statistics meet after one barrier and every thread of the row merges them in
//   lane order. Threads past the last row run with an empty row (they must reach the barrier) and write nothing.
//   dispatch: grid1d(ceil(M / (64 / TPR))); row = (wid.x + wid.y * nwg.x) * (64 / TPR) + lid / TPR.
// - `<name>_serial`: one thread per row, no barrier (short rows; see the note in norm.wgsl).
//   dispatch: grid1d(ceil(M / 64)); row = (wid.x + wid.y * nwg.x) * 64 + lid, guarded against M.
// The statistics loops load 4 elements per iteration before using them, so a thread keeps several loads in flight.
//
// Binding numbers repeat across entry points; WGSL allows that (the rule is per entry point).

struct Params {
  M: u32,
  V: u32,
  grad_scale: f32,
  nan_bits: u32,   // 0x7fc00000: a NaN built at run time (a NaN constant is a shader-creation error in WGSL)
}

@group(0) @binding(0) var<uniform> u: Params;

const WG: u32 = 64u;
// Threads per row of the cooperative entry points (set by the op).
override TPR: u32 = 64u;
const IGNORE_INDEX: i32 = -100;
// A finite stand-in for -inf: exp(LOWEST - m) underflows to 0 and LOWEST - LOWEST is 0, never inf - inf.
const LOWEST: f32 = -3.4028234e38;

var<workgroup> red_max: array<f32, 64>;
var<workgroup> red_sum: array<f32, 64>;

// Online softmax statistics: (running max, sum of exp(l - running max)).
fn push(acc: vec2f, l: f32) -> vec2f {
  if (l > acc.x) { return vec2f(l, acc.y * exp(acc.x - l) + 1.0); }
  return vec2f(acc.x, acc.y + exp(l - acc.x));
}

// Four elements at once, without a branch: rescale to the new max once, then add their four exps.
fn push4(acc: vec2f, l: vec4f) -> vec2f {
  let m = max(acc.x, max(max(l.x, l.y), max(l.z, l.w)));
  let e = exp(l - vec4f(m));
  return vec2f(m, acc.y * exp(acc.x - m) + ((e.x + e.y) + (e.z + e.w)));
}

// Merges the TPR partial statistics of this thread's row in lane order (after one barrier): the row's max, then
// the partial sums rescaled to it. Runs once per entry point.
fn row_merge(lid: u32, v: vec2f) -> vec2f {
  red_max[lid] = v.x;
  red_sum[lid] = v.y;
  workgroupBarrier();
  let first = lid - lid % TPR;
  var m = LOWEST;
  for (var k = 0u; k < TPR; k++) { m = max(m, red_max[first + k]); }
  var s = 0.0;
  for (var k = 0u; k < TPR; k++) { s += red_sum[first + k] * exp(red_max[first + k] - m); }
  return vec2f(m, s);
}

// x = row, y = lane in the row (cooperative form).
fn coop_slot(wid: vec3u, nwg: vec3u, lid: u32) -> vec2u {
  return vec2u((wid.x + wid.y * nwg.x) * (WG / TPR) + lid / TPR, lid % TPR);
}

fn serial_row(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

fn is_valid(t: i32) -> bool {
  return t >= 0 && t < i32(u.V);
}

// The target's column, or 0 for an ignored or invalid target (so a select() that discards the load stays in bounds).
fn target_col(t: i32) -> u32 {
  return u32(select(0, t, is_valid(t)));
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

// grad_value of columns j, j + stride, j + 2 stride, j + 3 stride (valid target).
fn grad4(l: vec4f, j: u32, stride: u32, t: i32, stats: vec2f, inv_sum: f32) -> vec4f {
  let p = exp(l - vec4f(stats.x)) * inv_sum;
  let cols = vec4i(i32(j), i32(j + stride), i32(j + 2u * stride), i32(j + 3u * stride));
  return (p - select(vec4f(0.0), vec4f(1.0), cols == vec4i(t))) * u.grad_scale;
}

// 1 / sum for a row with a valid target (its sum is >= 1), 0 otherwise (the gradient is 0 there anyway).
fn inv_sum_of(t: i32, stats: vec2f) -> f32 {
  return select(0.0, 1.0 / select(1.0, stats.y, is_valid(t)), is_valid(t));
}

// ---------------------------------------------------------------- ce_loss(_serial)
@group(0) @binding(1) var<storage, read_write> cl_losses: array<f32>;
@group(0) @binding(2) var<storage, read> cl_logits: array<f32>;
@group(0) @binding(3) var<storage, read> cl_targets: array<i32>;

// Statistics over elements lane, lane + stride, ... < n of the row at base.
fn cl_stats(base: u32, lane: u32, stride: u32, n: u32) -> vec2f {
  var acc = vec2f(LOWEST, 0.0);
  var j = lane;
  for (; j + 3u * stride < n; j += 4u * stride) {
    let i = base + j;
    acc = push4(acc, vec4f(cl_logits[i], cl_logits[i + stride], cl_logits[i + 2u * stride], cl_logits[i + 3u * stride]));
  }
  for (; j < n; j += stride) { acc = push(acc, cl_logits[base + j]); }
  return acc;
}

@compute @workgroup_size(64)
fn ce_loss(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_id) lid: vec3u) {
  let s = coop_slot(wid, nwg, lid.x);
  let live = s.x < u.M;
  var t = IGNORE_INDEX;
  if (live) { t = cl_targets[s.x]; }
  let base = s.x * u.V;
  let stats = row_merge(lid.x, cl_stats(base, s.y, TPR, select(0u, u.V, live && is_valid(t))));
  if (live && s.y == 0u) {
    let target_logit = select(0.0, cl_logits[base + target_col(t)], is_valid(t));
    cl_losses[s.x] = loss_value(t, stats, target_logit);
  }
}

@compute @workgroup_size(64)
fn ce_loss_serial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_id) lid: vec3u) {
  let row = serial_row(wid, nwg, lid.x);
  if (row >= u.M) { return; }
  let t = cl_targets[row];
  if (!is_valid(t)) {
    cl_losses[row] = loss_value(t, vec2f(0.0), 0.0);
    return;
  }
  let base = row * u.V;
  cl_losses[row] = loss_value(t, cl_stats(base, 0u, 1u, u.V), cl_logits[base + u32(t)]);
}

// ---------------------------------------------------------------- ce_grad(_serial)
@group(0) @binding(1) var<storage, read_write> cg_losses: array<f32>;
@group(0) @binding(2) var<storage, read_write> cg_dlogits: array<f32>;
@group(0) @binding(3) var<storage, read> cg_logits: array<f32>;
@group(0) @binding(4) var<storage, read> cg_targets: array<i32>;

fn cg_stats(base: u32, lane: u32, stride: u32, n: u32) -> vec2f {
  var acc = vec2f(LOWEST, 0.0);
  var j = lane;
  for (; j + 3u * stride < n; j += 4u * stride) {
    let i = base + j;
    acc = push4(acc, vec4f(cg_logits[i], cg_logits[i + stride], cg_logits[i + 2u * stride], cg_logits[i + 3u * stride]));
  }
  for (; j < n; j += stride) { acc = push(acc, cg_logits[base + j]); }
  return acc;
}

// Writes this thread's share of the row's gradient and (lane 0) its loss.
fn cg_finish(row: u32, lane: u32, stride: u32, t: i32, stats: vec2f) {
  let base = row * u.V;
  let inv_sum = inv_sum_of(t, stats);
  if (!is_valid(t)) {
    for (var j = lane; j < u.V; j += stride) { cg_dlogits[base + j] = 0.0; }
  } else {
    var j = lane;
    for (; j + 3u * stride < u.V; j += 4u * stride) {
      let i = base + j;
      let g = grad4(vec4f(cg_logits[i], cg_logits[i + stride], cg_logits[i + 2u * stride], cg_logits[i + 3u * stride]), j, stride, t, stats, inv_sum);
      cg_dlogits[i] = g.x;
      cg_dlogits[i + stride] = g.y;
      cg_dlogits[i + 2u * stride] = g.z;
      cg_dlogits[i + 3u * stride] = g.w;
    }
    for (; j < u.V; j += stride) { cg_dlogits[base + j] = grad_value(cg_logits[base + j], j, t, stats, inv_sum); }
  }
  if (lane == 0u) {
    let target_logit = select(0.0, cg_logits[base + target_col(t)], is_valid(t));
    cg_losses[row] = loss_value(t, stats, target_logit);
  }
}

@compute @workgroup_size(64)
fn ce_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_id) lid: vec3u) {
  let s = coop_slot(wid, nwg, lid.x);
  let live = s.x < u.M;
  var t = IGNORE_INDEX;
  if (live) { t = cg_targets[s.x]; }
  let stats = row_merge(lid.x, cg_stats(s.x * u.V, s.y, TPR, select(0u, u.V, live && is_valid(t))));
  if (live) { cg_finish(s.x, s.y, TPR, t, stats); }
}

@compute @workgroup_size(64)
fn ce_grad_serial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_id) lid: vec3u) {
  let row = serial_row(wid, nwg, lid.x);
  if (row >= u.M) { return; }
  let t = cg_targets[row];
  let n = select(0u, u.V, is_valid(t));
  cg_finish(row, 0u, 1u, t, cg_stats(row * u.V, 0u, 1u, n));
}

// ---------------------------------------------------------------- ce_grad_inplace(_serial)
@group(0) @binding(1) var<storage, read_write> ci_losses: array<f32>;
@group(0) @binding(2) var<storage, read_write> ci_logits: array<f32>;
@group(0) @binding(3) var<storage, read> ci_targets: array<i32>;

fn ci_stats(base: u32, lane: u32, stride: u32, n: u32) -> vec2f {
  var acc = vec2f(LOWEST, 0.0);
  var j = lane;
  for (; j + 3u * stride < n; j += 4u * stride) {
    let i = base + j;
    acc = push4(acc, vec4f(ci_logits[i], ci_logits[i + stride], ci_logits[i + 2u * stride], ci_logits[i + 3u * stride]));
  }
  for (; j < n; j += stride) { acc = push(acc, ci_logits[base + j]); }
  return acc;
}

// target_logit was read before any thread of the row started overwriting it.
fn ci_finish(row: u32, lane: u32, stride: u32, t: i32, stats: vec2f, target_logit: f32) {
  let base = row * u.V;
  let inv_sum = inv_sum_of(t, stats);
  if (!is_valid(t)) {
    for (var j = lane; j < u.V; j += stride) { ci_logits[base + j] = 0.0; }
  } else {
    var j = lane;
    for (; j + 3u * stride < u.V; j += 4u * stride) {
      let i = base + j;
      let g = grad4(vec4f(ci_logits[i], ci_logits[i + stride], ci_logits[i + 2u * stride], ci_logits[i + 3u * stride]), j, stride, t, stats, inv_sum);
      ci_logits[i] = g.x;
      ci_logits[i + stride] = g.y;
      ci_logits[i + 2u * stride] = g.z;
      ci_logits[i + 3u * stride] = g.w;
    }
    for (; j < u.V; j += stride) { ci_logits[base + j] = grad_value(ci_logits[base + j], j, t, stats, inv_sum); }
  }
  if (lane == 0u) { ci_losses[row] = loss_value(t, stats, target_logit); }
}

@compute @workgroup_size(64)
fn ce_grad_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_id) lid: vec3u) {
  let s = coop_slot(wid, nwg, lid.x);
  let live = s.x < u.M;
  var t = IGNORE_INDEX;
  if (live) { t = ci_targets[s.x]; }
  let ok = live && is_valid(t);
  let base = s.x * u.V;
  // The target logit is read before row_merge's barrier: after it, its owner thread may overwrite it.
  let target_logit = select(0.0, ci_logits[base + target_col(t)], ok);
  let stats = row_merge(lid.x, ci_stats(base, s.y, TPR, select(0u, u.V, ok)));
  if (live) { ci_finish(s.x, s.y, TPR, t, stats, target_logit); }
}

@compute @workgroup_size(64)
fn ce_grad_inplace_serial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                          @builtin(local_invocation_id) lid: vec3u) {
  let row = serial_row(wid, nwg, lid.x);
  if (row >= u.M) { return; }
  let t = ci_targets[row];
  let ok = is_valid(t);
  let base = row * u.V;
  let target_logit = select(0.0, ci_logits[base + target_col(t)], ok);
  ci_finish(row, 0u, 1u, t, ci_stats(base, 0u, 1u, select(0u, u.V, ok)), target_logit);
}
