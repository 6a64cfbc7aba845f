// The diagonal core of a factored low-rank adapter y += s · core(drop(x) Aᵀ) Bᵀ with core(h) = h ⊙ d, and its
// backward. h, h2, dh2, dh are [M, k] row-major (one row per token); d and dd are [k].
//
// Both entry points share Params and bindings: 0 u: Params, 1 out (rw), 2 H (read), 3 V (read).
//
// diag_scale: out[m, j] = scale · H[m, j] · V[j]
//     forward   h2 = h ⊙ d            H = h,   V = d
//     backward  dh = dh2 ⊙ d          H = dh2, V = d
//   One thread per element. dispatch: grid1d(ceil(M k / 256)) workgroups of 256; the linear workgroup index is
//   wid.x + wid.y · nwg.x, threads past M k return.
//
// diag_grad: out[j] = (ACCUMULATE ? out[j] : 0) + scale · Σ_m H[m, j] · V[m, j]      (dd += colsum(h ⊙ dh2))
//   V is [M, k] here. A workgroup of 256 owns 16 columns j0 = wid.x · 16 .. +15 and 16 row lanes: thread
//   (lane = li / 16, c = li % 16) sums rows m = lane, lane + 16, ... of column j0 + c, so the 16 threads of a lane
//   read 16 neighbouring floats of one row (coalesced). The 16 lane partials of a column are added by a
//   fixed-order tree in shared memory (deterministic; WGSL has no float atomics).
//   dispatch: (ceil(k / 16), 1, 1).

struct Params {
  M: u32,
  k: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> H: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;

override ACCUMULATE: bool = true; // diag_grad only

@compute @workgroup_size(256)
fn diag_scale(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= u.M * u.k) { return; }
  out[i] = u.scale * H[i] * V[i % u.k];
}

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn diag_grad(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let c = li % 16u;
  let lane = li / 16u;
  let j = wid.x * 16u + c;
  var s = 0.0;
  if (j < u.k) {
    for (var m = lane; m < u.M; m += 16u) {
      let i = m * u.k + j;
      s += H[i] * V[i];
    }
  }
  red[li] = s;
  workgroupBarrier();
  // Lanes are li / 16: the partner of lane l at step w is lane l + w, i.e. li + 16 w.
  for (var w = 8u; w > 0u; w >>= 1u) {
    if (lane < w) { red[li] += red[li + w * 16u]; }
    workgroupBarrier();
  }
  if (lane == 0u && j < u.k) {
    var o = u.scale * red[c];
    if (ACCUMULATE) { o += out[j]; }
    out[j] = o;
  }
}
