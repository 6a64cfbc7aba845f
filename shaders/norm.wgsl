// RMSNorm (HF LlamaRMSNorm) and LayerNorm (torch, biased variance), forward and backward, all in f32.
//
// Row kernels come in two forms (the op picks one from C, see src/gpu/ops/rows.ts):
// - `<name>`: cooperative. TPR threads (pipeline override, a power of two in 2..64) share a row, and a workgroup
//   of 64 handles 64 / TPR consecutive rows. Each thread strides over its row with stride TPR; the TPR partial
//   sums meet after ONE barrier, every thread of the row adding them in lane order (same total in every thread,
//   deterministic). Each reduction of an entry point has its own shared array, so none needs a second barrier.
//   dispatch: grid1d(ceil(M / (64 / TPR))); row = (wid.x + wid.y * nwg.x) * (64 / TPR) + lid / TPR, and threads
//   of rows >= M run with an empty row (they must still reach the barrier) and write nothing.
// - `<name>_serial`: one thread per row (short rows), no barrier, no shared memory: on a CPU implementation of
//   WebGPU a workgroup with a barrier costs far more to run than the arithmetic on a short row.
//   dispatch: grid1d(ceil(M / 64)); row = (wid.x + wid.y * nwg.x) * 64 + lid, guarded against M.
// Both forms run the same per-row functions below (a thread's share of a row: lane, lane + stride, ...).
//
// Parameter-gradient kernels (dweight/dbias) run one thread per (channel, row lane): 8 channels (one 32-byte
// sector per row) x 8 row lanes per workgroup of 64, each lane summing rows lane, lane+8, ... in order, then the
// 8 lanes are added in a fixed order: deterministic, no atomics. dispatch: ceil(C / 8) workgroups.
//
// Every entry point declares its own bindings right above it. Binding numbers repeat across entry points,
// which WGSL allows (the rule is per entry point's resource interface; the WebGPU CTS tests both ways); it
// lets each op bind exactly the buffers it uses, read-only where it only reads.

struct Params {
  M: u32,
  C: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> u: Params;

const WG: u32 = 64u;
// Threads per row of the cooperative entry points (set by the op).
override TPR: u32 = 64u;
// Parameter-gradient tiling: 8 adjacent channels x 8 row lanes.
const PG_CH: u32 = 8u;
const PG_LANES: u32 = 8u;

var<workgroup> red_a: array<f32, 64>;
var<workgroup> red_b: array<f32, 64>;
var<workgroup> red_v: array<vec2f, 64>;

// Where a thread of a cooperative entry point works: x = row, y = lane in the row, z = elements it may touch
// (C, or 0 past the last row).
fn coop_slot(wid: vec3u, nwg: vec3u, lid: u32) -> vec3u {
  let row = (wid.x + wid.y * nwg.x) * (WG / TPR) + lid / TPR;
  return vec3u(row, lid % TPR, select(0u, u.C, row < u.M));
}

fn serial_row(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

// Sum of v over the TPR threads of this thread's row, added in lane order after one barrier.
// Each of these may run once per entry point (no barrier protects its array from a second round of writes).
fn row_sum_a(lid: u32, v: f32) -> f32 {
  red_a[lid] = v;
  workgroupBarrier();
  let first = lid - lid % TPR;
  var s = 0.0;
  for (var k = 0u; k < TPR; k++) { s += red_a[first + k]; }
  return s;
}

fn row_sum_b(lid: u32, v: f32) -> f32 {
  red_b[lid] = v;
  workgroupBarrier();
  let first = lid - lid % TPR;
  var s = 0.0;
  for (var k = 0u; k < TPR; k++) { s += red_b[first + k]; }
  return s;
}

fn row_sum_v(lid: u32, v: vec2f) -> vec2f {
  red_v[lid] = v;
  workgroupBarrier();
  let first = lid - lid % TPR;
  var s = vec2f(0.0);
  for (var k = 0u; k < TPR; k++) { s += red_v[first + k]; }
  return s;
}

// Adds the 8 row-lane partials of one channel in lane order (after all lanes stored theirs in red_a).
fn lanes_total(lid: u32, acc: f32) -> f32 {
  red_a[lid] = acc;
  workgroupBarrier();
  var total = 0.0;
  for (var l = 0u; l < PG_LANES; l++) { total += red_a[(lid % PG_CH) + l * PG_CH]; }
  return total;
}

// ---------------------------------------------------------------- rmsnorm_forward(_serial)
// out[m,c] = x[m,c] * rstd[m] * weight[c];  rstd[m] = 1 / sqrt(mean_c(x[m,c]^2) + eps)
// bindings: 1 out (rw) [M,C], 2 rstd (rw) [M], 3 x (read) [M,C], 4 weight (read) [C]
@group(0) @binding(1) var<storage, read_write> rf_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> rf_rstd: array<f32>;
@group(0) @binding(3) var<storage, read> rf_x: array<f32>;
@group(0) @binding(4) var<storage, read> rf_w: array<f32>;

fn rf_sumsq(base: u32, lane: u32, stride: u32, n: u32) -> f32 {
  var ss = 0.0;
  for (var c = lane; c < n; c += stride) { let v = rf_x[base + c]; ss += v * v; }
  return ss;
}

fn rf_finish(row: u32, lane: u32, stride: u32, total: f32) {
  let base = row * u.C;
  let r = 1.0 / sqrt(total / f32(u.C) + u.eps);
  // Same association as HF: weight * (x * rstd).
  for (var c = lane; c < u.C; c += stride) { rf_out[base + c] = rf_w[c] * (rf_x[base + c] * r); }
  if (lane == 0u) { rf_rstd[row] = r; }
}

@compute @workgroup_size(64)
fn rmsnorm_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_id) lid: vec3u) {
  let s = coop_slot(wid, nwg, lid.x);
  let total = row_sum_a(lid.x, rf_sumsq(s.x * u.C, s.y, TPR, s.z));
  if (s.z > 0u) { rf_finish(s.x, s.y, TPR, total); }
}

@compute @workgroup_size(64)
fn rmsnorm_forward_serial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                          @builtin(local_invocation_id) lid: vec3u) {
  let row = serial_row(wid, nwg, lid.x);
  if (row >= u.M) { return; }
  rf_finish(row, 0u, 1u, rf_sumsq(row * u.C, 0u, 1u, u.C));
}

// ---------------------------------------------------------------- rmsnorm_backward(_serial)
// dx[m,c] += rstd * (w[c] dout[m,c] - x[m,c] * rstd^2 * mean_c(dout * w * x))
// bindings: 1 dx (rw) [M,C], 2 dout (read) [M,C], 3 x (read) [M,C], 4 rstd (read) [M], 5 weight (read) [C]
@group(0) @binding(1) var<storage, read_write> rb_dx: array<f32>;
@group(0) @binding(2) var<storage, read> rb_dout: array<f32>;
@group(0) @binding(3) var<storage, read> rb_x: array<f32>;
@group(0) @binding(4) var<storage, read> rb_rstd: array<f32>;
@group(0) @binding(5) var<storage, read> rb_w: array<f32>;

fn rb_dot(base: u32, lane: u32, stride: u32, n: u32) -> f32 {
  var dot = 0.0;
  for (var c = lane; c < n; c += stride) { dot += rb_dout[base + c] * rb_w[c] * rb_x[base + c]; }
  return dot;
}

fn rb_finish(row: u32, lane: u32, stride: u32, total: f32) {
  let base = row * u.C;
  let r = rb_rstd[row];
  let k = r * r * total / f32(u.C);
  for (var c = lane; c < u.C; c += stride) {
    let i = base + c;
    rb_dx[i] = rb_dx[i] + r * (rb_w[c] * rb_dout[i] - rb_x[i] * k);
  }
}

@compute @workgroup_size(64)
fn rmsnorm_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_id) lid: vec3u) {
  let s = coop_slot(wid, nwg, lid.x);
  let total = row_sum_a(lid.x, rb_dot(s.x * u.C, s.y, TPR, s.z));
  if (s.z > 0u) { rb_finish(s.x, s.y, TPR, total); }
}

@compute @workgroup_size(64)
fn rmsnorm_backward_serial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                           @builtin(local_invocation_id) lid: vec3u) {
  let row = serial_row(wid, nwg, lid.x);
  if (row >= u.M) { return; }
  rb_finish(row, 0u, 1u, rb_dot(row * u.C, 0u, 1u, u.C));
}

// ---------------------------------------------------------------- rmsnorm_dweight
// dweight[c] += sum_m dout[m,c] * x[m,c] * rstd[m]
// bindings: 1 dweight (rw) [C], 2 dout (read) [M,C], 3 x (read) [M,C], 4 rstd (read) [M]
// dispatch: ceil(C / 8) workgroups (see the file header).
@group(0) @binding(1) var<storage, read_write> rw_dw: array<f32>;
@group(0) @binding(2) var<storage, read> rw_dout: array<f32>;
@group(0) @binding(3) var<storage, read> rw_x: array<f32>;
@group(0) @binding(4) var<storage, read> rw_rstd: array<f32>;

@compute @workgroup_size(64)
fn rmsnorm_dweight(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lidv: vec3u) {
  let lid = lidv.x;
  let c = wid.x * PG_CH + lid % PG_CH;
  var acc = 0.0;
  if (c < u.C) {
    for (var m = lid / PG_CH; m < u.M; m += PG_LANES) { acc += rw_dout[m * u.C + c] * rw_x[m * u.C + c] * rw_rstd[m]; }
  }
  let total = lanes_total(lid, acc);
  if (lid < PG_CH && c < u.C) { rw_dw[c] = rw_dw[c] + total; }
}

// ---------------------------------------------------------------- layernorm_forward(_serial)
// mean = mean_c(x), var = mean_c((x - mean)^2) (two passes over the row: no E[x^2] - mean^2 cancellation),
// rstd = 1 / sqrt(var + eps), out = (x - mean) * rstd * weight + bias
// bindings: 1 out (rw) [M,C], 2 mean (rw) [M], 3 rstd (rw) [M], 4 x (read) [M,C], 5 weight (read) [C],
//           6 bias (read) [C]
@group(0) @binding(1) var<storage, read_write> lf_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> lf_mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> lf_rstd: array<f32>;
@group(0) @binding(4) var<storage, read> lf_x: array<f32>;
@group(0) @binding(5) var<storage, read> lf_w: array<f32>;
@group(0) @binding(6) var<storage, read> lf_b: array<f32>;

fn lf_sum(base: u32, lane: u32, stride: u32, n: u32) -> f32 {
  var s = 0.0;
  for (var c = lane; c < n; c += stride) { s += lf_x[base + c]; }
  return s;
}

fn lf_sqdev(base: u32, lane: u32, stride: u32, n: u32, mean: f32) -> f32 {
  var sq = 0.0;
  for (var c = lane; c < n; c += stride) { let d = lf_x[base + c] - mean; sq += d * d; }
  return sq;
}

fn lf_finish(row: u32, lane: u32, stride: u32, mean: f32, sq: f32) {
  let base = row * u.C;
  let r = 1.0 / sqrt(sq / f32(u.C) + u.eps);
  for (var c = lane; c < u.C; c += stride) { lf_out[base + c] = (lf_x[base + c] - mean) * r * lf_w[c] + lf_b[c]; }
  if (lane == 0u) {
    lf_mean[row] = mean;
    lf_rstd[row] = r;
  }
}

@compute @workgroup_size(64)
fn layernorm_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_id) lid: vec3u) {
  let s = coop_slot(wid, nwg, lid.x);
  let base = s.x * u.C;
  let mean = row_sum_a(lid.x, lf_sum(base, s.y, TPR, s.z)) / f32(u.C);
  let sq = row_sum_b(lid.x, lf_sqdev(base, s.y, TPR, s.z, mean));
  if (s.z > 0u) { lf_finish(s.x, s.y, TPR, mean, sq); }
}

@compute @workgroup_size(64)
fn layernorm_forward_serial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                            @builtin(local_invocation_id) lid: vec3u) {
  let row = serial_row(wid, nwg, lid.x);
  if (row >= u.M) { return; }
  let base = row * u.C;
  let mean = lf_sum(base, 0u, 1u, u.C) / f32(u.C);
  lf_finish(row, 0u, 1u, mean, lf_sqdev(base, 0u, 1u, u.C, mean));
}

// ---------------------------------------------------------------- layernorm_backward(_serial)
// xhat = (x - mean) * rstd, g = dout * weight:  dx += rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))
// bindings: 1 dx (rw) [M,C], 2 dout (read) [M,C], 3 x (read) [M,C], 4 mean (read) [M], 5 rstd (read) [M],
//           6 weight (read) [C]
@group(0) @binding(1) var<storage, read_write> lb_dx: array<f32>;
@group(0) @binding(2) var<storage, read> lb_dout: array<f32>;
@group(0) @binding(3) var<storage, read> lb_x: array<f32>;
@group(0) @binding(4) var<storage, read> lb_mean: array<f32>;
@group(0) @binding(5) var<storage, read> lb_rstd: array<f32>;
@group(0) @binding(6) var<storage, read> lb_w: array<f32>;

// (sum_c g, sum_c g * xhat) over this thread's share of the row.
fn lb_sums(row: u32, lane: u32, stride: u32, n: u32) -> vec2f {
  var acc = vec2f(0.0);
  if (n == 0u) { return acc; }
  let base = row * u.C;
  let mean = lb_mean[row];
  let r = lb_rstd[row];
  for (var c = lane; c < n; c += stride) {
    let g = lb_dout[base + c] * lb_w[c];
    acc += vec2f(g, g * (lb_x[base + c] - mean) * r);
  }
  return acc;
}

fn lb_finish(row: u32, lane: u32, stride: u32, totals: vec2f) {
  let base = row * u.C;
  let mean = lb_mean[row];
  let r = lb_rstd[row];
  let sums = totals / f32(u.C);
  for (var c = lane; c < u.C; c += stride) {
    let i = base + c;
    let xhat = (lb_x[i] - mean) * r;
    lb_dx[i] = lb_dx[i] + r * (lb_dout[i] * lb_w[c] - sums.x - xhat * sums.y);
  }
}

@compute @workgroup_size(64)
fn layernorm_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                      @builtin(local_invocation_id) lid: vec3u) {
  let s = coop_slot(wid, nwg, lid.x);
  let totals = row_sum_v(lid.x, lb_sums(s.x, s.y, TPR, s.z));
  if (s.z > 0u) { lb_finish(s.x, s.y, TPR, totals); }
}

@compute @workgroup_size(64)
fn layernorm_backward_serial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                             @builtin(local_invocation_id) lid: vec3u) {
  let row = serial_row(wid, nwg, lid.x);
  if (row >= u.M) { return; }
  lb_finish(row, 0u, 1u, lb_sums(row, 0u, 1u, u.C));
}

// ---------------------------------------------------------------- layernorm_dweight
// dweight[c] += sum_m dout[m,c] * (x[m,c] - mean[m]) * rstd[m]
// bindings: 1 dweight (rw) [C], 2 dout (read) [M,C], 3 x (read) [M,C], 4 mean (read) [M], 5 rstd (read) [M]
// dispatch: ceil(C / 8) workgroups.
@group(0) @binding(1) var<storage, read_write> lw_dw: array<f32>;
@group(0) @binding(2) var<storage, read> lw_dout: array<f32>;
@group(0) @binding(3) var<storage, read> lw_x: array<f32>;
@group(0) @binding(4) var<storage, read> lw_mean: array<f32>;
@group(0) @binding(5) var<storage, read> lw_rstd: array<f32>;

@compute @workgroup_size(64)
fn layernorm_dweight(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lidv: vec3u) {
  let lid = lidv.x;
  let c = wid.x * PG_CH + lid % PG_CH;
  var acc = 0.0;
  if (c < u.C) {
    for (var m = lid / PG_CH; m < u.M; m += PG_LANES) {
      acc += lw_dout[m * u.C + c] * (lw_x[m * u.C + c] - lw_mean[m]) * lw_rstd[m];
    }
  }
  let total = lanes_total(lid, acc);
  if (lid < PG_CH && c < u.C) { lw_dw[c] = lw_dw[c] + total; }
}

// ---------------------------------------------------------------- layernorm_dbias
// dbias[c] += sum_m dout[m,c]
// bindings: 1 dbias (rw) [C], 2 dout (read) [M,C].  dispatch: ceil(C / 8) workgroups.
@group(0) @binding(1) var<storage, read_write> lbb_db: array<f32>;
@group(0) @binding(2) var<storage, read> lbb_dout: array<f32>;

@compute @workgroup_size(64)
fn layernorm_dbias(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lidv: vec3u) {
  let lid = lidv.x;
  let c = wid.x * PG_CH + lid % PG_CH;
  var acc = 0.0;
  if (c < u.C) {
    for (var m = lid / PG_CH; m < u.M; m += PG_LANES) { acc += lbb_dout[m * u.C + c]; }
  }
  let total = lanes_total(lid, acc);
  if (lid < PG_CH && c < u.C) { lbb_db[c] = lbb_db[c] + total; }
}
