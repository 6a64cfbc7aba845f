// Per-channel (per-column) operations on token-major activations [M, n] (one row per token), for the diagonal
// methods: IA3 and SSF scale a layer's input or output per channel, BitFit and SSF shift it.
//
// Bindings shared by all entry points: 0 u: Params, 1 out (rw), 2 A (read), 3 v (read).
//
// scale_columns: out[m, j] = (ACCUMULATE ? out[m, j] : 0) + A[m, j] · v[j]
//   One thread per element; dispatch grid1d(ceil(M n / 256)); the linear workgroup index is wid.x + wid.y · nwg.x.
// add_columns: out[m, j] += v[j]            (A is bound but unused; a bias broadcast over rows)
//   Same launch as scale_columns.
// column_sum: out[j] = (ACCUMULATE ? out[j] : 0) + Σ_m A[m, j]   (v is bound but unused; ∂L/∂bias = colsum(dy))
//   A workgroup of 256 owns 16 columns and 16 row lanes; the 16 lane partials are added by a fixed-order tree,
//   so the sum is deterministic (WGSL has no float atomics). dispatch: (ceil(n / 16), 1, 1).

struct Params {
  M: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;

override ACCUMULATE: bool = true;

@compute @workgroup_size(256)
fn scale_columns(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= u.M * u.n) { return; }
  var o = A[i] * v[i % u.n];
  if (ACCUMULATE) { o += out[i]; }
  out[i] = o;
}

@compute @workgroup_size(256)
fn add_columns(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= u.M * u.n) { return; }
  out[i] = out[i] + v[i % u.n];
}

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn column_sum(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let c = li % 16u;
  let lane = li / 16u;
  let j = wid.x * 16u + c;
  var s = 0.0;
  if (j < u.n) {
    for (var m = lane; m < u.M; m += 16u) { s += A[m * u.n + j]; }
  }
  red[li] = s;
  workgroupBarrier();
  for (var w = 8u; w > 0u; w >>= 1u) {
    if (lane < w) { red[li] += red[li + w * 16u]; }
    workgroupBarrier();
  }
  if (lane == 0u && j < u.n) {
    var o = red[c];
    if (ACCUMULATE) { o += out[j]; }
    out[j] = o;
  }
}
