// General matrix multiply on flat row-major f32 buffers:
//   out[M, N] = (ACCUMULATE ? out : 0) + alpha * op(a) op(b) + (HAS_BIAS ? bias[n] : 0)
// op(a) is a [M, K], or a [K, M] read transposed (TRANS_A); op(b) is b [K, N], or b [N, K] read transposed (TRANS_B).
//
// Bindings (every entry point): 0 u: Params, 1 out (rw) [M, N], 2 a (read), 3 b (read), 4 bias (read) [N].
// The bias binding is always present because overrides do not remove static use; without a bias the op binds a
// stand-in (b) there and HAS_BIAS = false keeps it unread.
//
// matmul_tiled: the production kernel. A workgroup of 64 threads (8 x 8) owns a 64 x 64 tile of out; thread
//   (tx, ty) keeps an 8 x 8 register block (rows 8 ty.., columns 8 tx..) in sixteen vec4 accumulators. K is
//   walked in steps of 16 through shared tiles stored k-major as vec4s (As[k][m / 4], Bs[k][n / 4]): each k step
//   is four 16-byte shared loads for 64 multiply-adds. Each thread stages four 4-element quads of A and of B per
//   step, taken along the operand's contiguous global dimension so the reads coalesce in every transpose combo.
//   Why 64 threads with 8 x 8 rather than 256 with 4 x 4: the same tile with half the shared-memory loads
//   per FMA, and CPU fallbacks (SwiftShader) pay per thread for each barrier and workgroup launch (a
//   256-thread workgroup costs them ~1 ms to start and ~35 us per barrier, a 64-thread one ~0.1 ms and ~6 us).
//   Accumulators are named vec4s, not loop-indexed arrays, which such backends would keep in memory.
//   Workgroup memory: 2 * 16 * 64 * 4 B = 8 KiB.
//   dispatch: (ceil(N / 64), ceil(M / 64), 1).
// matmul_rows: for M <= 8 (LM head and projections while decoding), where a 64-row tile would be mostly empty.
//   One thread per output column accumulating all MR = M rows over the whole of K, no shared memory or barriers.
//   b is read coalesced when [K, N]; when [N, K] (TRANS_B) each thread streams its own row of b, which caches
//   serve; decoding is latency-bound, and a k-split with a shared-memory reduction costs CPU fallbacks 6x.
//   dispatch: (ceil(N / 256), 1, 1).
// matmul_naive: one thread per output, a straight K loop from global memory; the baseline for tests and benches.
//   dispatch: (ceil(N / 16), ceil(M / 16), 1) workgroups of 16 x 16.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  alpha: f32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override MR: u32 = 8u; // matmul_rows: M, 1..8

const TK = 16u;

var<workgroup> As: array<vec4<f32>, 256>; // As[k * 16 + m / 4]: the A tile transposed, 16 k x 64 m
var<workgroup> Bs: array<vec4<f32>, 256>; // Bs[k * 16 + n / 4]: the B tile, 16 k x 64 n

fn load_a(m: u32, k: u32) -> f32 {
  if (m >= u.M || k >= u.K) { return 0.0; }
  if (TRANS_A) { return a[k * u.M + m]; }
  return a[m * u.K + k];
}

fn load_b(k: u32, n: u32) -> f32 {
  if (k >= u.K || n >= u.N) { return 0.0; }
  if (TRANS_B) { return b[n * u.K + k]; }
  return b[k * u.N + n];
}

fn epilogue(m: u32, n: u32, acc: f32) {
  if (m >= u.M || n >= u.N) { return; }
  var v = u.alpha * acc;
  if (HAS_BIAS) { v += bias[n]; }
  let i = m * u.N + n;
  if (ACCUMULATE) { v += out[i]; }
  out[i] = v;
}

fn epilogue4(m: u32, n: u32, acc: vec4<f32>) {
  epilogue(m, n, acc.x);
  epilogue(m, n + 1u, acc.y);
  epilogue(m, n + 2u, acc.z);
  epilogue(m, n + 3u, acc.w);
}

// Stages quad `i` (0..3) of this thread into As / Bs for the K step starting at k0.
fn stage(li: u32, i: u32, row0: u32, col0: u32, k0: u32) {
  let l = li + 64u * i;
  // A k-quad: 4 consecutive k of one row (4 threads per row of 16 k); an m/n-quad: 4 consecutive m or n at one k.
  let q_row = l / 4u;
  let q_k = (l % 4u) * 4u;
  let v_k = l / 16u;
  let v_col = (l % 16u) * 4u;
  if (TRANS_A) {
    let m = row0 + v_col;
    let k = k0 + v_k;
    As[v_k * 16u + v_col / 4u] = vec4<f32>(load_a(m, k), load_a(m + 1u, k), load_a(m + 2u, k), load_a(m + 3u, k));
  } else {
    let m = row0 + q_row;
    let k = k0 + q_k;
    let slot = q_row / 4u;
    let c = q_row % 4u;
    As[q_k * 16u + slot][c] = load_a(m, k);
    As[(q_k + 1u) * 16u + slot][c] = load_a(m, k + 1u);
    As[(q_k + 2u) * 16u + slot][c] = load_a(m, k + 2u);
    As[(q_k + 3u) * 16u + slot][c] = load_a(m, k + 3u);
  }
  if (TRANS_B) {
    let n = col0 + q_row;
    let k = k0 + q_k;
    let slot = q_row / 4u;
    let c = q_row % 4u;
    Bs[q_k * 16u + slot][c] = load_b(k, n);
    Bs[(q_k + 1u) * 16u + slot][c] = load_b(k + 1u, n);
    Bs[(q_k + 2u) * 16u + slot][c] = load_b(k + 2u, n);
    Bs[(q_k + 3u) * 16u + slot][c] = load_b(k + 3u, n);
  } else {
    let n = col0 + v_col;
    let k = k0 + v_k;
    Bs[v_k * 16u + v_col / 4u] = vec4<f32>(load_b(k, n), load_b(k, n + 1u), load_b(k, n + 2u), load_b(k, n + 3u));
  }
}

@compute @workgroup_size(64)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let row0 = wid.y * 64u;
  let col0 = wid.x * 64u;
  let tx = li % 8u;
  let ty = li / 8u;
  // c<row><half>: row 8 ty + row, columns 8 tx + 4 half ..
  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
  var c40 = vec4<f32>(0.0); var c41 = vec4<f32>(0.0);
  var c50 = vec4<f32>(0.0); var c51 = vec4<f32>(0.0);
  var c60 = vec4<f32>(0.0); var c61 = vec4<f32>(0.0);
  var c70 = vec4<f32>(0.0); var c71 = vec4<f32>(0.0);
  let ntiles = (u.K + TK - 1u) / TK;
  for (var t = 0u; t < ntiles; t++) {
    let k0 = t * TK;
    // A loop, not four hand-inlined calls: SwiftShader's compiler takes minutes on the unrolled form.
    for (var i = 0u; i < 4u; i++) { stage(li, i, row0, col0, k0); }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let a0 = As[kk * 16u + ty * 2u];
      let a1 = As[kk * 16u + ty * 2u + 1u];
      let b0 = Bs[kk * 16u + tx * 2u];
      let b1 = Bs[kk * 16u + tx * 2u + 1u];
      c00 += a0.x * b0; c01 += a0.x * b1;
      c10 += a0.y * b0; c11 += a0.y * b1;
      c20 += a0.z * b0; c21 += a0.z * b1;
      c30 += a0.w * b0; c31 += a0.w * b1;
      c40 += a1.x * b0; c41 += a1.x * b1;
      c50 += a1.y * b0; c51 += a1.y * b1;
      c60 += a1.z * b0; c61 += a1.z * b1;
      c70 += a1.w * b0; c71 += a1.w * b1;
    }
    workgroupBarrier();
  }
  let m = row0 + ty * 8u;
  let n = col0 + tx * 8u;
  epilogue4(m, n, c00); epilogue4(m, n + 4u, c01);
  epilogue4(m + 1u, n, c10); epilogue4(m + 1u, n + 4u, c11);
  epilogue4(m + 2u, n, c20); epilogue4(m + 2u, n + 4u, c21);
  epilogue4(m + 3u, n, c30); epilogue4(m + 3u, n + 4u, c31);
  epilogue4(m + 4u, n, c40); epilogue4(m + 4u, n + 4u, c41);
  epilogue4(m + 5u, n, c50); epilogue4(m + 5u, n + 4u, c51);
  epilogue4(m + 6u, n, c60); epilogue4(m + 6u, n + 4u, c61);
  epilogue4(m + 7u, n, c70); epilogue4(m + 7u, n + 4u, c71);
}

// Row m of a for matmul_rows; rows at or past MR fold away at pipeline creation.
fn load_a_row(m: u32, k: u32) -> f32 {
  if (m >= MR) { return 0.0; }
  return load_a(m, k);
}

@compute @workgroup_size(256)
fn matmul_rows(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let n = wid.x * 256u + li;
  if (n >= u.N) { return; }
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  for (var k = 0u; k < u.K; k++) {
    let bv = load_b(k, n);
    acc0 += bv * vec4<f32>(load_a_row(0u, k), load_a_row(1u, k), load_a_row(2u, k), load_a_row(3u, k));
    if (MR > 4u) { acc1 += bv * vec4<f32>(load_a_row(4u, k), load_a_row(5u, k), load_a_row(6u, k), load_a_row(7u, k)); }
  }
  epilogue(0u, n, acc0.x);
  epilogue(1u, n, acc0.y);
  epilogue(2u, n, acc0.z);
  epilogue(3u, n, acc0.w);
  if (MR > 4u) {
    epilogue(4u, n, acc1.x);
    epilogue(5u, n, acc1.y);
    epilogue(6u, n, acc1.z);
    epilogue(7u, n, acc1.w);
  }
}

@compute @workgroup_size(16, 16)
fn matmul_naive(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  let m = gid.y;
  if (m >= u.M || n >= u.N) { return; }
  var s = 0.0;
  for (var k = 0u; k < u.K; k++) {
    s += load_a(m, k) * load_b(k, n);
  }
  epilogue(m, n, s);
}
