// Per-channel (per-column) operations on token-major activations [M, n] (one row per token): the diagonal cores
// of factored adapters (SVFit's Δσ, SORSA's Σ, AdaLoRA's Λ; see src/gpu/ops/lowrank_core.ts) and the per-channel
// scales and shifts of IA3, SSF and BitFit (src/gpu/ops/channel.ts).
//
// Bindings shared by all entry points: 0 u: Params, 1 out (rw), 2 A (read), 3 V (read).
//
// scale_columns: out[m, j] = (ACCUMULATE ? out[m, j] : 0) + scale · A[m, j] · V[j]
//   One thread per element; dispatch grid1d(ceil(M n / 256)); the linear workgroup index is wid.x + wid.y · nwg.x.
// add_columns: out[m, j] += V[j]            (A is bound but unused; a bias broadcast over rows)
//   Same launch as scale_columns.
// column_sum: out[j] = (ACCUMULATE ? out[j] : 0) + scale · Σ_m A[m, j] · (PRODUCT ? V[m, j] : 1)
//   V is [M, n] here (with PRODUCT; bound but unused without). colsum(h ⊙ dh2) is a diagonal core's gradient and
//   a scale's; colsum(dy) a shift's. A workgroup of 256 owns 16 columns j0 = wid.x · 16 .. +15 and 16 row lanes:
//   thread (lane = li / 16, c = li % 16) sums rows m = lane, lane + 16, ... of column j0 + c, so the 16 threads of
//   a lane read 16 neighbouring floats of one row (coalesced). The 16 lane partials of a column are added by a
//   fixed-order tree in shared memory (deterministic; WGSL has no float atomics). dispatch: (ceil(n / 16), 1, 1).

struct Params {
  M: u32,
  n: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;

override ACCUMULATE: bool = true;
override PRODUCT: bool = true; // column_sum only

@compute @workgroup_size(256)
fn scale_columns(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= u.M * u.n) { return; }
  var o = u.scale * A[i] * V[i % u.n];
  if (ACCUMULATE) { o += out[i]; }
  out[i] = o;
}

@compute @workgroup_size(256)
fn add_columns(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= u.M * u.n) { return; }
  out[i] = out[i] + V[i % u.n];
}

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn column_sum(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let c = li % 16u;
  let lane = li / 16u;
  let j = wid.x * 16u + c;
  var s = 0.0;
  if (j < u.n) {
    for (var m = lane; m < u.M; m += 16u) {
      let i = m * u.n + j;
      if (PRODUCT) { s += A[i] * V[i]; } else { s += A[i]; }
    }
  }
  red[li] = s;
  workgroupBarrier();
  // Lanes are li / 16: the partner of lane l at step w is lane l + w, i.e. li + 16 w.
  for (var w = 8u; w > 0u; w >>= 1u) {
    if (lane < w) { red[li] += red[li + w * 16u]; }
    workgroupBarrier();
  }
  if (lane == 0u && j < u.n) {
    var o = u.scale * red[c];
    if (ACCUMULATE) { o += out[j]; }
    out[j] = o;
  }
}
