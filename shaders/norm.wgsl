// RMSNorm (HF LlamaRMSNorm) and LayerNorm (torch, biased variance), forward and backward, all in f32.
//
// Row kernels run one workgroup of 256 per row (C up to 8192: each thread strides over the row and the partial
// sums meet in a shared-memory tree). dispatch: grid1d(M); row = wid.x + wid.y * nwg.x, guarded against M.
// Parameter-gradient kernels (dweight/dbias) run one thread per (channel, row lane): 32 channels x 8 row lanes
// per workgroup of 256, each lane summing rows lane, lane+8, ... in order, then the 8 lanes are added in a
// fixed order: deterministic, no atomics. dispatch: ceil(C / 32) workgroups.
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

const WG: u32 = 256u;
// Parameter-gradient tiling: 32 adjacent channels (coalesced 128-byte reads) x 8 row lanes.
const PG_CH: u32 = 32u;
const PG_LANES: u32 = 8u;

var<workgroup> red: array<f32, 256>;
var<workgroup> red2: array<vec2f, 256>;

fn row_index(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// Sum of v over the workgroup. The leading barrier protects red from readers of the previous call's result.
fn wg_sum(lid: u32, v: f32) -> f32 {
  workgroupBarrier();
  red[lid] = v;
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    workgroupBarrier();
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
  }
  workgroupBarrier();
  return red[0];
}

fn wg_sum2(lid: u32, v: vec2f) -> vec2f {
  workgroupBarrier();
  red2[lid] = v;
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    workgroupBarrier();
    if (lid < s) { red2[lid] = red2[lid] + red2[lid + s]; }
  }
  workgroupBarrier();
  return red2[0];
}

// Adds the 8 row-lane partials of one channel in lane order (after all lanes stored theirs in red).
fn lanes_total(lid: u32, acc: f32) -> f32 {
  red[lid] = acc;
  workgroupBarrier();
  var total = 0.0;
  for (var l = 0u; l < PG_LANES; l++) { total += red[(lid % PG_CH) + l * PG_CH]; }
  return total;
}

// ---------------------------------------------------------------- rmsnorm_forward
// out[m,c] = x[m,c] * rstd[m] * weight[c];  rstd[m] = 1 / sqrt(mean_c(x[m,c]^2) + eps)
// bindings: 1 out (rw) [M,C], 2 rstd (rw) [M], 3 x (read) [M,C], 4 weight (read) [C]
@group(0) @binding(1) var<storage, read_write> rf_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> rf_rstd: array<f32>;
@group(0) @binding(3) var<storage, read> rf_x: array<f32>;
@group(0) @binding(4) var<storage, read> rf_w: array<f32>;

@compute @workgroup_size(256)
fn rmsnorm_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_id) lidv: vec3u) {
  let row = row_index(wid, nwg);
  if (row >= u.M) { return; }
  let lid = lidv.x;
  let base = row * u.C;
  var ss = 0.0;
  for (var c = lid; c < u.C; c += WG) { let v = rf_x[base + c]; ss += v * v; }
  let total = wg_sum(lid, ss);
  let r = 1.0 / sqrt(total / f32(u.C) + u.eps);
  // Same association as HF: weight * (x * rstd).
  for (var c = lid; c < u.C; c += WG) { rf_out[base + c] = rf_w[c] * (rf_x[base + c] * r); }
  if (lid == 0u) { rf_rstd[row] = r; }
}

// ---------------------------------------------------------------- rmsnorm_backward
// dx[m,c] += rstd * (w[c] dout[m,c] - x[m,c] * rstd^2 * mean_c(dout * w * x))
// bindings: 1 dx (rw) [M,C], 2 dout (read) [M,C], 3 x (read) [M,C], 4 rstd (read) [M], 5 weight (read) [C]
@group(0) @binding(1) var<storage, read_write> rb_dx: array<f32>;
@group(0) @binding(2) var<storage, read> rb_dout: array<f32>;
@group(0) @binding(3) var<storage, read> rb_x: array<f32>;
@group(0) @binding(4) var<storage, read> rb_rstd: array<f32>;
@group(0) @binding(5) var<storage, read> rb_w: array<f32>;

@compute @workgroup_size(256)
fn rmsnorm_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_id) lidv: vec3u) {
  let row = row_index(wid, nwg);
  if (row >= u.M) { return; }
  let lid = lidv.x;
  let base = row * u.C;
  var dot = 0.0;
  for (var c = lid; c < u.C; c += WG) { dot += rb_dout[base + c] * rb_w[c] * rb_x[base + c]; }
  let total = wg_sum(lid, dot);
  let r = rb_rstd[row];
  let k = r * r * total / f32(u.C);
  for (var c = lid; c < u.C; c += WG) {
    let i = base + c;
    rb_dx[i] = rb_dx[i] + r * (rb_w[c] * rb_dout[i] - rb_x[i] * k);
  }
}

// ---------------------------------------------------------------- rmsnorm_dweight
// dweight[c] += sum_m dout[m,c] * x[m,c] * rstd[m]
// bindings: 1 dweight (rw) [C], 2 dout (read) [M,C], 3 x (read) [M,C], 4 rstd (read) [M]
// dispatch: ceil(C / 32) workgroups (see the file header).
@group(0) @binding(1) var<storage, read_write> rw_dw: array<f32>;
@group(0) @binding(2) var<storage, read> rw_dout: array<f32>;
@group(0) @binding(3) var<storage, read> rw_x: array<f32>;
@group(0) @binding(4) var<storage, read> rw_rstd: array<f32>;

@compute @workgroup_size(256)
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

// ---------------------------------------------------------------- layernorm_forward
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

@compute @workgroup_size(256)
fn layernorm_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_id) lidv: vec3u) {
  let row = row_index(wid, nwg);
  if (row >= u.M) { return; }
  let lid = lidv.x;
  let base = row * u.C;
  var s = 0.0;
  for (var c = lid; c < u.C; c += WG) { s += lf_x[base + c]; }
  let mean = wg_sum(lid, s) / f32(u.C);
  var sq = 0.0;
  for (var c = lid; c < u.C; c += WG) { let d = lf_x[base + c] - mean; sq += d * d; }
  let r = 1.0 / sqrt(wg_sum(lid, sq) / f32(u.C) + u.eps);
  for (var c = lid; c < u.C; c += WG) { lf_out[base + c] = (lf_x[base + c] - mean) * r * lf_w[c] + lf_b[c]; }
  if (lid == 0u) {
    lf_mean[row] = mean;
    lf_rstd[row] = r;
  }
}

// ---------------------------------------------------------------- layernorm_backward
// xhat = (x - mean) * rstd, g = dout * weight:  dx += rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))
// bindings: 1 dx (rw) [M,C], 2 dout (read) [M,C], 3 x (read) [M,C], 4 mean (read) [M], 5 rstd (read) [M],
//           6 weight (read) [C]
@group(0) @binding(1) var<storage, read_write> lb_dx: array<f32>;
@group(0) @binding(2) var<storage, read> lb_dout: array<f32>;
@group(0) @binding(3) var<storage, read> lb_x: array<f32>;
@group(0) @binding(4) var<storage, read> lb_mean: array<f32>;
@group(0) @binding(5) var<storage, read> lb_rstd: array<f32>;
@group(0) @binding(6) var<storage, read> lb_w: array<f32>;

@compute @workgroup_size(256)
fn layernorm_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                      @builtin(local_invocation_id) lidv: vec3u) {
  let row = row_index(wid, nwg);
  if (row >= u.M) { return; }
  let lid = lidv.x;
  let base = row * u.C;
  let mean = lb_mean[row];
  let r = lb_rstd[row];
  var acc = vec2f(0.0);
  for (var c = lid; c < u.C; c += WG) {
    let g = lb_dout[base + c] * lb_w[c];
    acc += vec2f(g, g * (lb_x[base + c] - mean) * r);
  }
  let sums = wg_sum2(lid, acc) / f32(u.C);
  for (var c = lid; c < u.C; c += WG) {
    let i = base + c;
    let xhat = (lb_x[i] - mean) * r;
    lb_dx[i] = lb_dx[i] + r * (lb_dout[i] * lb_w[c] - sums.x - xhat * sums.y);
  }
}

// ---------------------------------------------------------------- layernorm_dweight
// dweight[c] += sum_m dout[m,c] * (x[m,c] - mean[m]) * rstd[m]
// bindings: 1 dweight (rw) [C], 2 dout (read) [M,C], 3 x (read) [M,C], 4 mean (read) [M], 5 rstd (read) [M]
// dispatch: ceil(C / 32) workgroups.
@group(0) @binding(1) var<storage, read_write> lw_dw: array<f32>;
@group(0) @binding(2) var<storage, read> lw_dout: array<f32>;
@group(0) @binding(3) var<storage, read> lw_x: array<f32>;
@group(0) @binding(4) var<storage, read> lw_mean: array<f32>;
@group(0) @binding(5) var<storage, read> lw_rstd: array<f32>;

@compute @workgroup_size(256)
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
// bindings: 1 dbias (rw) [C], 2 dout (read) [M,C].  dispatch: ceil(C / 32) workgroups.
@group(0) @binding(1) var<storage, read_write> lbb_db: array<f32>;
@group(0) @binding(2) var<storage, read> lbb_dout: array<f32>;

@compute @workgroup_size(256)
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
