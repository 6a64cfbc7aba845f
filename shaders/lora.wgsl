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
//   A workgroup of 256 threads owns 16 outputs p by RB ranks j (j0 = wid.y * RB); 16 lanes per p stride over q
//   with RB accumulators each, then a fixed-order tree over the lanes in shared memory (deterministic, no atomics).
//   Lanes are the fast thread index when q is the contiguous dimension of X, else the 16 p are, so global reads
//   of X coalesce either way. In both X layouts the flat X index is m*K + k when X = x, which is the dropout index.
//   dispatch: (ceil(P / 16), ceil(R / RB), 1).
//
// lora_expand: out[m, n] += scale · keep(m*N+n) · Σ_j H[m, j] · W(j, n), H [M, R]:
//     loraUp    y  += s · h Bᵀ         N = N, H = h,  W = B [n*R+j]   (W_JN = false)
//     loraDx    dx += drop'(dh A)      N = K, H = dh, W = A [j*N+n]   (W_JN = true), dropout mask on the output
//   64 x 64 output tiles, 4 x 4 strided register block per thread as in matmul_tiled; the rank is walked in
//   chunks of 16 whose inner loop stops at r, so a rank-4 adapter does 4 steps, not 16.
//   dispatch: (ceil(N / 64), ceil(M / 64), 1).
//
// Dropout (inverted, as nn.Dropout): element i of x is kept iff dropout_hash(seed, i) >= keep_thr, kept values
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
override RB: u32 = 4u; // lora_reduce: ranks per workgroup, 1..16
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

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn lora_reduce(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  var lane: u32;
  var pi: u32;
  var lane_stride: u32; // distance in li between neighbouring lanes of one p
  if (X_PQ) { lane = li % 16u; pi = li / 16u; lane_stride = 1u; } else { pi = li % 16u; lane = li / 16u; lane_stride = 16u; }
  let p = wid.x * 16u + pi;
  let j0 = wid.y * RB;
  let seed_mix = lowbias32(u.seed ^ 0x9e3779b9u);
  var acc: array<f32, 16>;
  if (p < u.P) {
    for (var q = lane; q < u.Q; q += 16u) {
      var xi: u32;
      if (X_PQ) { xi = p * u.Q + q; } else { xi = q * u.P + p; }
      var xv = X[xi];
      if (DROPOUT) { xv = select(0.0, xv * u.keep_scale, dropout_hash(seed_mix, xi) >= u.keep_thr); }
      for (var jj = 0u; jj < RB; jj++) {
        let j = j0 + jj;
        if (j < u.R) {
          var wi: u32;
          if (W_JQ) { wi = j * u.Q + q; } else { wi = q * u.R + j; }
          acc[jj] += xv * W[wi];
        }
      }
    }
  }
  for (var jj = 0u; jj < RB; jj++) {
    red[li] = acc[jj];
    workgroupBarrier();
    for (var s = 8u; s > 0u; s >>= 1u) {
      if (lane < s) { red[li] += red[li + s * lane_stride]; }
      workgroupBarrier();
    }
    let j = j0 + jj;
    if (lane == 0u && p < u.P && j < u.R) {
      var oi: u32;
      if (OUT_JP) { oi = j * u.P + p; } else { oi = p * u.R + j; }
      var v = u.scale * red[li];
      if (ACCUMULATE) { v += out[oi]; }
      out[oi] = v;
    }
    workgroupBarrier(); // red is rewritten for the next rank
  }
}

const LDS = 65u;
var<workgroup> Hs: array<f32, 1040>; // Hs[j * LDS + m], 16 ranks x 64 rows
var<workgroup> Ws: array<f32, 1040>; // Ws[j * LDS + n], 16 ranks x 64 columns

@compute @workgroup_size(256)
fn lora_expand(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let M = u.P;
  let N = u.Q;
  let R = u.R;
  let row0 = wid.y * 64u;
  let col0 = wid.x * 64u;
  let tx = li % 16u;
  let ty = li / 16u;
  var acc: array<f32, 16>;
  var hv: array<f32, 4>;
  var wv: array<f32, 4>;
  for (var j0 = 0u; j0 < R; j0 += 16u) {
    let jn = min(16u, R - j0);
    for (var i = 0u; i < 4u; i++) {
      let l = li + 256u * i;
      // H rows are contiguous in j: consecutive threads take consecutive ranks of one row.
      let jj = l % 16u;
      let mm = l / 16u;
      var v = 0.0;
      if (jj < jn && row0 + mm < M) { v = X[(row0 + mm) * R + j0 + jj]; }
      Hs[jj * LDS + mm] = v;
      var nn: u32;
      var wj: u32;
      if (W_JN) { nn = l % 64u; wj = l / 64u; } else { wj = l % 16u; nn = l / 16u; }
      var w = 0.0;
      if (wj < jn && col0 + nn < N) {
        if (W_JN) { w = W[(j0 + wj) * N + col0 + nn]; } else { w = W[(col0 + nn) * R + j0 + wj]; }
      }
      Ws[wj * LDS + nn] = w;
    }
    workgroupBarrier();
    for (var jj = 0u; jj < jn; jj++) {
      let base = jj * LDS;
      for (var i = 0u; i < 4u; i++) { hv[i] = Hs[base + ty + 16u * i]; }
      for (var k = 0u; k < 4u; k++) { wv[k] = Ws[base + tx + 16u * k]; }
      for (var i = 0u; i < 4u; i++) {
        for (var k = 0u; k < 4u; k++) {
          acc[i * 4u + k] += hv[i] * wv[k];
        }
      }
    }
    workgroupBarrier();
  }
  let seed_mix = lowbias32(u.seed ^ 0x9e3779b9u);
  for (var i = 0u; i < 4u; i++) {
    let m = row0 + ty + 16u * i;
    if (m >= M) { continue; }
    for (var k = 0u; k < 4u; k++) {
      let n = col0 + tx + 16u * k;
      if (n >= N) { continue; }
      let oi = m * N + n;
      var v = u.scale * acc[i * 4u + k];
      if (DROPOUT) { v = select(0.0, v * u.keep_scale, dropout_hash(seed_mix, oi) >= u.keep_thr); }
      out[oi] += v;
    }
  }
}
