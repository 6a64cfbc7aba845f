// Skinny kernels for the LoRA path y += s · drop(x) Aᵀ Bᵀ and its backward, rank r kept unpadded.
// Shapes: x [M, K], A [r, K], h [M, r], B [N, r], y/dy [M, N].
//
// Both entry points share Params and bindings: 0 u: Params, 1 out (rw), 2 X (read; H in lora_expand), 3 W (read).
//
// lora_reduce: out[p, j] = (ACCUMULATE ? out : 0) + scale · Σ_q drop(X)[p, q] · W[q, j], for j < R; Q is long
//   (K, N, or M), R is the rank. Covers four ops through the layout overrides:
//     loraDown  h  = drop(x) Aᵀ        P = M, Q = K, X = x  [p*Q+q], W = A  [j*Q+q], out h  [p*R+j], dropout
//     loraDh    dh = s · dy B          P = M, Q = N, X = dy [p*Q+q], W = B  [q*R+j], out dh [p*R+j]
//     loraGradB dB += s · dyᵀ h        P = N, Q = M, X = dy [q*P+p], W = h  [q*R+j], out dB [p*R+j], accumulate
//     loraGradA dA += dhᵀ drop(x)      P = K, Q = M, X = x  [q*P+p], W = dh [q*R+j], out dA [j*P+p], accumulate, dropout
//   A workgroup owns 16 outputs p and 4·NV ranks j from j0 = wid.y · 4 NV. Its WG threads are 4 groups of 4 p
//   times LANES = WG / 4 lanes striding over q; each thread keeps a 4-rank x 4-p block per rank quad (NV mat4x4,
//   so every W load feeds four p), then a fixed-order tree over the lanes in shared memory sums them
//   (deterministic; WGSL has no float atomics). Lanes are the fast thread index when q is X's contiguous
//   dimension, the p groups otherwise, so X reads coalesce either way. In both X layouts the flat X index is
//   m*K + k when X = x, which is the dropout index. WG = 64 normally; 256 for long reductions (Q >= 2048) so
//   gradients over many tokens still spread over enough threads.
//   dispatch: (ceil(P / 16), ceil(R / (4 NV)), 1).
//
// lora_expand: out[m, n] += scale · keep(m*N+n) · Σ_j H[m, j] · W(j, n), H [M, R]:
//     loraUp    y  += s · h Bᵀ         N = N, H = h,  W = B [n*R+j]   (W_JN = false)
//     loraDx    dx += drop'(dh A)      N = K, H = dh, W = A [j*N+n]   (W_JN = true), dropout mask on the output
//   256 threads (16 x 16) own a 64 x 64 tile, each a 4 x 4 block, looping over exactly R ranks with H and W read
//   straight from global memory: both are small and cache-resident, and with K = r there is nothing for a
//   shared-memory stage to amortise its barriers against. The cost is streaming out, read and written once.
//   dispatch: (ceil(N / 64), ceil(M / 64), 1).
//
// Dropout (inverted, as nn.Dropout): element i of x is kept iff dropout_hash(seed, i) >= keep_thr; kept values
// are multiplied by keep_scale = 1 / (1 - p). src/gpu/ops/lora.ts implements the same hash (dropoutKeep).

struct Params {
  P: u32, // rows of out (lora_reduce) / M (lora_expand)
  Q: u32, // reduced length (lora_reduce) / N, the columns of out (lora_expand)
  R: u32, // rank
  scale: f32,
  keep_thr: u32,
  seed: u32,
  keep_scale: f32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> W: array<f32>;

override X_PQ: bool = true; // lora_reduce: X[p*Q+q] (true) or X[q*P+p]
override W_JQ: bool = false; // lora_reduce: W[j*Q+q] (true) or W[q*R+j]
override OUT_JP: bool = false; // lora_reduce: out[j*P+p] (true) or out[p*R+j]
override ACCUMULATE: bool = false;
override DROPOUT: bool = false;
override NV: u32 = 1u; // lora_reduce: rank quads per workgroup, 1..4
override WG: u32 = 64u; // lora_reduce: threads, 64 or 256
override W_JN: bool = false; // lora_expand: W[j*N+n] (true) or W[n*R+j]

fn lowbias32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

// seed_mix = lowbias32(seed ^ 0x9e3779b9), hoisted out of the loops by the callers.
fn dropout_hash(seed_mix: u32, index: u32) -> u32 {
  return lowbias32(lowbias32(index ^ seed_mix) + u.seed);
}

fn drop(seed_mix: u32, index: u32, v: f32) -> f32 {
  if (!DROPOUT) { return v; }
  return select(0.0, v * u.keep_scale, dropout_hash(seed_mix, index) >= u.keep_thr);
}

// ------------------------------------------------------------------------------------------- lora_reduce

var<workgroup> red: array<vec4<f32>, 256>;

// X(p, q) after dropout; p must be < P.
fn x_at(seed_mix: u32, p: u32, q: u32) -> f32 {
  var i: u32;
  if (X_PQ) { i = p * u.Q + q; } else { i = q * u.P + p; }
  return drop(seed_mix, i, X[i]);
}

// W(q, j .. j+3); ranks past R are clamped (their sums are never stored).
fn w_quad(q: u32, j: u32) -> vec4<f32> {
  let last = u.R - 1u;
  let j0 = min(j, last);
  let j1 = min(j + 1u, last);
  let j2 = min(j + 2u, last);
  let j3 = min(j + 3u, last);
  if (W_JQ) { return vec4<f32>(W[j0 * u.Q + q], W[j1 * u.Q + q], W[j2 * u.Q + q], W[j3 * u.Q + q]); }
  let base = q * u.R;
  return vec4<f32>(W[base + j0], W[base + j1], W[base + j2], W[base + j3]);
}

// Sums v over the lanes of this thread's group (fixed order); the result is valid in lane 0.
fn lane_sum(li: u32, lane: u32, stride: u32, v: vec4<f32>) -> vec4<f32> {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 8u; s > 0u; s >>= 1u) {
    if (lane < s) { red[li] += red[li + s * stride]; }
    workgroupBarrier();
  }
  let r = red[li];
  workgroupBarrier(); // red is rewritten by the next call
  return r;
}

fn store_ranks(p: u32, j: u32, v: vec4<f32>) {
  for (var i = 0u; i < 4u; i++) {
    if (j + i >= u.R) { return; }
    var oi: u32;
    if (OUT_JP) { oi = (j + i) * u.P + p; } else { oi = p * u.R + j + i; }
    var o = u.scale * v[i];
    if (ACCUMULATE) { o += out[oi]; }
    out[oi] = o;
  }
}

@compute @workgroup_size(WG)
fn lora_reduce(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let lanes = WG / 4u;
  var lane: u32;
  var grp: u32;
  var stride: u32; // distance in li between neighbouring lanes of one group
  if (X_PQ) { lane = li % lanes; grp = li / lanes; stride = 1u; } else { grp = li % 4u; lane = li / 4u; stride = 4u; }
  let p0 = wid.x * 16u + grp * 4u;
  let j0 = wid.y * 4u * NV;
  let seed_mix = lowbias32(u.seed ^ 0x9e3779b9u);
  // Rows past P are clamped to P - 1; their sums are never stored.
  let last = u.P - 1u;
  let pa = min(p0, last);
  let pb = min(p0 + 1u, last);
  let pc = min(p0 + 2u, last);
  let pd = min(p0 + 3u, last);
  // acc<v>[c][i]: rank j0 + 4 v + i, p0 + c.
  var acc0 = mat4x4<f32>();
  var acc1 = mat4x4<f32>();
  var acc2 = mat4x4<f32>();
  var acc3 = mat4x4<f32>();
  for (var q = lane; q < u.Q; q += lanes) {
    let x = vec4<f32>(x_at(seed_mix, pa, q), x_at(seed_mix, pb, q), x_at(seed_mix, pc, q), x_at(seed_mix, pd, q));
    let w0 = w_quad(q, j0);
    acc0 += mat4x4<f32>(w0 * x.x, w0 * x.y, w0 * x.z, w0 * x.w);
    if (NV > 1u) {
      let w1 = w_quad(q, j0 + 4u);
      acc1 += mat4x4<f32>(w1 * x.x, w1 * x.y, w1 * x.z, w1 * x.w);
    }
    if (NV > 2u) {
      let w2 = w_quad(q, j0 + 8u);
      acc2 += mat4x4<f32>(w2 * x.x, w2 * x.y, w2 * x.z, w2 * x.w);
    }
    if (NV > 3u) {
      let w3 = w_quad(q, j0 + 12u);
      acc3 += mat4x4<f32>(w3 * x.x, w3 * x.y, w3 * x.z, w3 * x.w);
    }
  }
  let writer = lane == 0u;
  for (var c = 0u; c < 4u; c++) {
    let p = p0 + c;
    let ok = writer && p < u.P;
    let s0 = lane_sum(li, lane, stride, acc0[c]);
    if (ok) { store_ranks(p, j0, s0); }
    if (NV > 1u) {
      let s1 = lane_sum(li, lane, stride, acc1[c]);
      if (ok) { store_ranks(p, j0 + 4u, s1); }
    }
    if (NV > 2u) {
      let s2 = lane_sum(li, lane, stride, acc2[c]);
      if (ok) { store_ranks(p, j0 + 8u, s2); }
    }
    if (NV > 3u) {
      let s3 = lane_sum(li, lane, stride, acc3[c]);
      if (ok) { store_ranks(p, j0 + 12u, s3); }
    }
  }
}

// ------------------------------------------------------------------------------------------- lora_expand

// W(j, n .. n+3) with the columns already clamped below N.
fn w_cols(j: u32, n0: u32, n1: u32, n2: u32, n3: u32) -> vec4<f32> {
  if (W_JN) {
    let base = j * u.Q;
    return vec4<f32>(W[base + n0], W[base + n1], W[base + n2], W[base + n3]);
  }
  return vec4<f32>(W[n0 * u.R + j], W[n1 * u.R + j], W[n2 * u.R + j], W[n3 * u.R + j]);
}

fn expand_store(seed_mix: u32, m: u32, n: u32, v: vec4<f32>) {
  if (m >= u.P) { return; }
  for (var c = 0u; c < 4u; c++) {
    if (n + c >= u.Q) { return; }
    let oi = m * u.Q + n + c;
    out[oi] += drop(seed_mix, oi, u.scale * v[c]);
  }
}

@compute @workgroup_size(256)
fn lora_expand(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let M = u.P;
  let N = u.Q;
  let R = u.R;
  let m0 = wid.y * 64u + (li / 16u) * 4u;
  let n0 = wid.x * 64u + (li % 16u) * 4u;
  if (m0 >= M || n0 >= N) { return; }
  // Rows and columns past the edge are clamped; their sums are never stored.
  let h0 = m0 * R;
  let h1 = min(m0 + 1u, M - 1u) * R;
  let h2 = min(m0 + 2u, M - 1u) * R;
  let h3 = min(m0 + 3u, M - 1u) * R;
  let n1 = min(n0 + 1u, N - 1u);
  let n2 = min(n0 + 2u, N - 1u);
  let n3 = min(n0 + 3u, N - 1u);
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var j = 0u; j < R; j++) {
    let w = w_cols(j, n0, n1, n2, n3);
    c0 += X[h0 + j] * w;
    c1 += X[h1 + j] * w;
    c2 += X[h2 + j] * w;
    c3 += X[h3 + j] * w;
  }
  let seed_mix = lowbias32(u.seed ^ 0x9e3779b9u);
  expand_store(seed_mix, m0, n0, c0);
  expand_store(seed_mix, m0 + 1u, n0, c1);
  expand_store(seed_mix, m0 + 2u, n0, c2);
  expand_store(seed_mix, m0 + 3u, n0, c3);
}
