// Sparse delta times dense activations: the forward y += s · x Δᵀ and the input gradient dx += s · dy Δ of a layer
// whose trainable delta Δ [N, K] is sparse (see src/gpu/ops/sparseIndex.ts for the index layout). Both are one
// kernel over a compressed dimension: out[m, o] += scale · Σ_{e in segment o} values[e] · A[m, idx[e]].
//
// spmm_rows (forward, CSR):  out = y [M, N], A = x [M, K], segPtr = rowPtr [N+1], idx = cols, segment o = the
//                            entries rowPtr[o] .. rowPtr[o+1]-1 themselves.
// spmm_cols (dx, CSC):       out = dx [M, K], A = dy [M, N], segPtr = colPtr [K+1], idx = rows, segment i = the entries
//                            colOrder[colPtr[i] .. colPtr[i+1]-1] (perm = colOrder).
//   bindings: 1 out (rw) [M, nOut], 2 segPtr (read, u32) [nOut+1], 3 idx (read, u32) [nnz], 4 values (read) [nnz],
//             5 A (read) [M, nIn], 6 perm (read, u32) [nnz] (spmm_cols only)
//   Thread t owns output column o = t % nOut and the TM = 4 rows m0 = (t / nOut) · 4 .. +3: it walks its segment once,
//   loading each entry's index and value once for 4 rows of A (rows past M are clamped to M-1 for the loads and not
//   written). Neighbouring threads share m0, so their gathers hit the same rows of A and their read-modify-write of
//   out is coalesced. Each output element has one owner and sums its segment in entry order: deterministic, no
//   atomics. Threads with an empty segment return without touching out, so a very sparse Δ costs little more than
//   reading segPtr. No barriers: fine on SwiftShader, where barriers are expensive.
//   dispatch: grid1d(ceil(nOut · ceil(M / 4) / 256)) workgroups of 256; linear workgroup wid.x + wid.y · nwg.x.

struct Params {
  M: u32,
  nOut: u32,   // columns of out (N forward, K for dx)
  nIn: u32,    // columns of A (K forward, N for dx)
  scale: f32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> segPtr: array<u32>;
@group(0) @binding(3) var<storage, read> idx: array<u32>;
@group(0) @binding(4) var<storage, read> values: array<f32>;
@group(0) @binding(5) var<storage, read> A: array<f32>;
@group(0) @binding(6) var<storage, read> perm: array<u32>;

const TM = 4u;

struct Task {
  o: u32,
  m0: u32,
  // Row offsets into A of rows m0 .. m0+3, clamped to the last row.
  base: vec4u,
  begin: u32,
  end: u32,
}

fn task(wid: vec3u, nwg: vec3u, li: u32) -> Task {
  var t: Task;
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  t.o = i % u.nOut;
  t.m0 = (i / u.nOut) * TM;
  t.begin = 0u;
  t.end = 0u;
  if (t.m0 >= u.M) { return t; }
  let last = u.M - 1u;
  t.base = vec4u(t.m0, min(t.m0 + 1u, last), min(t.m0 + 2u, last), min(t.m0 + 3u, last)) * u.nIn;
  t.begin = segPtr[t.o];
  t.end = segPtr[t.o + 1u];
  return t;
}

// The contribution of entry e to the 4 rows.
fn term(e: u32, base: vec4u) -> vec4f {
  let c = idx[e];
  return values[e] * vec4f(A[base.x + c], A[base.y + c], A[base.z + c], A[base.w + c]);
}

fn finish(t: Task, acc: vec4f) {
  let s = u.scale * acc;
  let n = min(TM, u.M - t.m0);
  var j = t.m0 * u.nOut + t.o;
  out[j] += s.x;
  if (n > 1u) { j += u.nOut; out[j] += s.y; }
  if (n > 2u) { j += u.nOut; out[j] += s.z; }
  if (n > 3u) { j += u.nOut; out[j] += s.w; }
}

@compute @workgroup_size(256)
fn spmm_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = task(wid, nwg, li);
  if (t.begin >= t.end) { return; }
  var acc = vec4f(0.0);
  for (var j = t.begin; j < t.end; j++) { acc += term(j, t.base); }
  finish(t, acc);
}

@compute @workgroup_size(256)
fn spmm_cols(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = task(wid, nwg, li);
  if (t.begin >= t.end) { return; }
  var acc = vec4f(0.0);
  for (var j = t.begin; j < t.end; j++) { acc += term(perm[j], t.base); }
  finish(t, acc);
}
