// The middle of an orthogonality regulariser's gradient (SORSA, AdaLoRA). Given the Gram matrix G = X Xᵀ (or
// XᵀX) of a factor whose rows (columns) should be orthonormal, this kernel turns G into the coefficient matrix
// E with ∂f/∂X = E X (or X E), which the op then multiplies by X with an accumulating matmul:
//   squared (NORM = false)  f = γ ‖G − I‖²_F   E = 4 γ (G − I)
//   norm    (NORM = true)   f = γ ‖G − I‖_F    E = 2 γ (G − I) / ‖G − I‖_F   (E = 0 when G = I exactly)
// and, when WRITE_VALUE, adds f to value[index] (a stats buffer the step reads once).
//
// orth_residual: bindings 1 G (rw) [k, k] row-major, rewritten in place as E; 2 value (rw) [>= index + 1].
//   One workgroup of 256 threads: every thread rewrites G[i] − δ for its own strided elements i and sums their
//   squares, a fixed-order shared-memory tree gives ‖G − I‖²_F to all threads (deterministic, no readback), then
//   each thread scales the same elements it wrote. k is a rank (tens), so k² fits one workgroup comfortably.
//   dispatch: (1, 1, 1).

struct Params {
  k: u32,
  gamma: f32,
  index: u32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> value: array<f32>;

override NORM: bool = false;
override WRITE_VALUE: bool = false;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn orth_residual(@builtin(local_invocation_index) li: u32) {
  let n = u.k * u.k;
  var s = 0.0;
  for (var i = li; i < n; i += 256u) {
    let e = G[i] - select(0.0, 1.0, i / u.k == i % u.k);
    G[i] = e;
    s += e * e;
  }
  red[li] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (li < w) { red[li] += red[li + w]; }
    workgroupBarrier();
  }
  let ss = red[0];
  var coef: f32;
  var f: f32;
  if (NORM) {
    let nrm = sqrt(ss);
    coef = select(0.0, 2.0 * u.gamma / nrm, nrm > 0.0);
    f = u.gamma * nrm;
  } else {
    coef = 4.0 * u.gamma;
    f = u.gamma * ss;
  }
  for (var i = li; i < n; i += 256u) {
    G[i] = coef * G[i];
  }
  if (WRITE_VALUE && li == 0u) {
    value[u.index] += f;
  }
}
