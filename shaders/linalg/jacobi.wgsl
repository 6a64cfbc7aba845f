// One-sided (Hestenes) Jacobi SVD. The working matrix X [C, L] holds the C columns being orthogonalised as its
// rows, so every dot product and rotation reads contiguous memory; Vt [C, C] accumulates the same rotations
// (row j = column j of V). After convergence the rows of X are σ_j u_j and their norms the singular values.
//
// jacobi_round_threads / jacobi_round_groups: one round of the round-robin (circle method) tournament over
//   P = C rounded up to even players: in round r the fixed player P − 1 meets r, and for p = 1 .. P/2 − 1 player
//   (r + p) mod (P − 1) meets (r − p) mod (P − 1). Pairs are disjoint within a round, so the pairs of one
//   dispatch never touch the same rows, and P − 1 rounds meet every pair once (a sweep). For its pair (i, j) the
//   kernel sums α = ‖x_i‖², β = ‖x_j‖², γ = x_i·x_j over L, records off = |γ| / (‖x_i‖‖x_j‖) in conv[sweep]
//   (atomicMax on the bit pattern: for non-negative floats u32 order is float order, and a NaN reads back as
//   NaN), and when off > tol applies the rotation that makes the pair orthogonal (Rutishauser's stable
//   tangent) to both rows of X and, if VECTORS, of Vt. A pair holding the padding player C (odd C) is skipped.
//   The pair is computed from the round and the pair index (no table): both are uniform, as the workgroup
//   barriers of the groups variant require.
//   bindings (both): 0 u: Params, 1 X (rw) [C, L], 2 Vt (rw) [C, C] (a 4-element stand-in when VECTORS is
//             false), 3 conv (rw) u32 [max sweeps]
//   jacobi_round_threads: one invocation per pair, sequential over L. dispatch: (ceil(P / 128), 1, 1) of 64.
//     For columns up to a few thousand long: no workgroup memory and no barrier, which on a CPU implementation
//     of WebGPU (SwiftShader) is 20-30x cheaper than a workgroup per pair, and on a GPU still a few µs a pair.
//   jacobi_round_groups: one workgroup of WG (override, 64 or 256) per pair: strided partial sums, a fixed-order
//     two-barrier reduction (every thread gets the same α, β, γ, hence the same rotation), strided rotation.
//     For long columns, where one thread per pair would serialise too much. dispatch: (P / 2, 1, 1).
//
// column_sumsq: out[offset + j] = Σ_t X[j, t]², the squared singular values once converged (offset travels
//   in Params.sweep).
//   bindings: 0 u: Params, 1 out (rw) [≥ offset + C], 2 X (read) [C, L]
//   dispatch: (ceil(C / 64), 1, 1), one invocation per row (runs once per SVD).
//
// set_identity: out [C, C] = I.
//   bindings: 0 u: Params, 1 out (rw) [C, C]
//   dispatch: grid1d(ceil(C² / 256)) workgroups of 256.

struct Params {
  C: u32, // columns being orthogonalised (rows of X)
  L: u32, // their length (columns of X)
  P: u32, // players: C rounded up to even
  round: u32,
  sweep: u32,
  tol: f32, // rotate only pairs with off > tol
}

@group(0) @binding(0) var<uniform> u: Params;

override WG: u32 = 64u; // jacobi_round_groups: a multiple of 8, at most 256
override VECTORS: bool = true;
const BLOCK: u32 = 16u; // elements a thread sums alone before adding to its total (bounds f32 error growth)

var<workgroup> red: array<vec3f, 256>;
var<workgroup> red8: array<vec3f, 32>;

// Fixed-order two-level sum of one vec3 per thread; every thread gets the same total (two barriers).
fn workgroup_sum3(lid: u32, v: vec3f) -> vec3f {
  red[lid] = v;
  workgroupBarrier();
  if (lid < WG / 8u) {
    var s = vec3f(0.0);
    for (var k = 0u; k < 8u; k++) { s += red[lid * 8u + k]; }
    red8[lid] = s;
  }
  workgroupBarrier();
  var total = vec3f(0.0);
  for (var k = 0u; k < WG / 8u; k++) { total += red8[k]; }
  return total;
}

@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Vt: array<f32>;
@group(0) @binding(3) var<storage, read_write> conv: array<atomic<u32>>;

// Pair p of round r in the circle method (see the header).
fn round_pair(r: u32, p: u32) -> vec2u {
  let n = u.P - 1u;
  if (p == 0u) { return vec2u(r, n); }
  return vec2u((r + p) % n, (r + n - p) % n);
}

// Rotation (c, s) that zeroes γ' for the pair: x_i' = c x_i − s x_j, x_j' = s x_i + c x_j.
fn rotation(alpha: f32, beta: f32, gamma: f32) -> vec2f {
  let zeta = (beta - alpha) / (2.0 * gamma);
  var t: f32;
  if (abs(zeta) > 1e15) {
    t = 0.5 / zeta; // 1 + ζ² would overflow; t ≈ 1 / (2ζ)
  } else {
    t = select(-1.0, 1.0, zeta >= 0.0) / (abs(zeta) + sqrt(1.0 + zeta * zeta));
  }
  let c = 1.0 / sqrt(1.0 + t * t); // not inverseSqrt: an approximate one makes every rotation scale the pair
  return vec2f(c, c * t);
}

// Partial α, β, γ of rows oi, oj over t = start, start + stride, ... < L, summed in blocks of BLOCK terms.
fn pair_dots(oi: u32, oj: u32, start: u32, stride: u32) -> vec3f {
  let L = u.L;
  var acc = vec3f(0.0);
  var t = start;
  while (t < L) {
    var block = vec3f(0.0);
    let end = min(L, t + BLOCK * stride);
    for (; t < end; t += stride) {
      let a = X[oi + t];
      let b = X[oj + t];
      block += vec3f(a * a, b * b, a * b);
    }
    acc += block;
  }
  return acc;
}

// Records the pair's cosine for the sweep, then returns the rotation, or (1, 0) when none is due.
fn pair_rotation(s: vec3f, record: bool) -> vec2f {
  let na = sqrt(s.x);
  let nb = sqrt(s.y);
  // A zero column is orthogonal to everything; written so that a NaN in either column makes off NaN.
  var off = 0.0;
  if (!(na == 0.0 || nb == 0.0)) { off = abs(s.z) / na / nb; }
  if (record) { atomicMax(&conv[u.sweep], bitcast<u32>(off)); }
  if (!(off > u.tol)) { return vec2f(1.0, 0.0); }
  return rotation(s.x, s.y, s.z);
}

// Applies the rotation to rows pi, pj of X (and of Vt when VECTORS), elements start, start + stride, ...
fn rotate_pair(pi: u32, pj: u32, cs: vec2f, start: u32, stride: u32) {
  let L = u.L;
  for (var q = start; q < L; q += stride) {
    let a = X[pi * L + q];
    let b = X[pj * L + q];
    X[pi * L + q] = cs.x * a - cs.y * b;
    X[pj * L + q] = cs.y * a + cs.x * b;
  }
  if (VECTORS) {
    let C = u.C;
    for (var q = start; q < C; q += stride) {
      let a = Vt[pi * C + q];
      let b = Vt[pj * C + q];
      Vt[pi * C + q] = cs.x * a - cs.y * b;
      Vt[pj * C + q] = cs.y * a + cs.x * b;
    }
  }
}

@compute @workgroup_size(WG)
fn jacobi_round_groups(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lidv: vec3u) {
  let lid = lidv.x;
  let pair = round_pair(u.round, wid.x);
  if (pair.x >= u.C || pair.y >= u.C) { return; } // the padding player of an odd C: uniform for the workgroup
  let s = workgroup_sum3(lid, pair_dots(pair.x * u.L, pair.y * u.L, lid, WG));
  let cs = pair_rotation(s, lid == 0u);
  if (cs.y == 0.0) { return; }
  rotate_pair(pair.x, pair.y, cs, lid, WG);
}

@compute @workgroup_size(64)
fn jacobi_round_threads(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= u.P / 2u) { return; }
  let pair = round_pair(u.round, gid.x);
  if (pair.x >= u.C || pair.y >= u.C) { return; }
  let cs = pair_rotation(pair_dots(pair.x * u.L, pair.y * u.L, 0u, 1u), true);
  if (cs.y == 0.0) { return; }
  rotate_pair(pair.x, pair.y, cs, 0u, 1u);
}

@group(0) @binding(1) var<storage, read_write> sumsq_out: array<f32>;
@group(0) @binding(2) var<storage, read> Xr: array<f32>;

@compute @workgroup_size(64)
fn column_sumsq(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  if (j >= u.C) { return; }
  let o = j * u.L;
  var acc = 0.0;
  var t = 0u;
  while (t < u.L) {
    var block = 0.0;
    let end = min(u.L, t + BLOCK);
    for (; t < end; t++) {
      let a = Xr[o + t];
      block += a * a;
    }
    acc += block;
  }
  sumsq_out[u.sweep + j] = acc; // the op passes its output offset in the sweep slot
}

@group(0) @binding(1) var<storage, read_write> eye: array<f32>;

@compute @workgroup_size(256)
fn set_identity(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid.x;
  if (i >= u.C * u.C) { return; }
  eye[i] = select(0.0, 1.0, i / u.C == i % u.C);
}
