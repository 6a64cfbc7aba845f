// Pointwise activations and their gradients, f32.
//
// GPT-2 "gelu_new": 0.5 x (1 + tanh(k (x + 0.044715 x^3))), k = sqrt(2/pi). We evaluate it through the identity
// 0.5 (1 + tanh(u)) = sigmoid(2u): no tanh of a large argument (which some drivers turn into inf/inf = NaN) and
// no 1 + tanh(u) cancellation for negative x. sigmoid clamps its argument so exp never overflows, and the cubic
// uses x clamped to +-20 (beyond which the sigmoid is exactly 0 or 1 in f32) so x^3 never overflows either: WGSL
// lets implementations assume no infinities, so we never create one.
//
// gelu_forward:    out[i] = gelu(x[i])                     bindings: 1 out (rw) [n], 2 x (read) [n]
// gelu_backward:   dx[i] = dout[i] * gelu'(x[i])  (write)  bindings: 1 dx (rw) [n], 2 dout (read) [n], 3 x (read) [n]
// swiglu_forward:  out[i] = silu(gate[i]) * up[i]          bindings: 1 out (rw) [n], 2 gate (read) [n], 3 up (read) [n]
// swiglu_backward: dgate[i] = dout * up * silu'(gate), dup[i] = dout * silu(gate)  (both write)
//                  bindings: 1 dgate (rw) [n], 2 dup (rw) [n], 3 dout (read) [n], 4 gate (read) [n], 5 up (read) [n]
// dispatch: grid1d(ceil(n / 256)) workgroups of 256; i = (wid.x + wid.y * nwg.x) * 256 + lid.x, guarded by n.
//
// Binding numbers repeat across entry points with different roles; WGSL allows that (the rule is per entry
// point), and it lets each op bind exactly its buffers.

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> u: Params;

const GELU_K: f32 = 0.7978845608028654; // sqrt(2 / pi)
const GELU_C: f32 = 0.044715;
const GELU_XMAX: f32 = 20.0;

fn linear_index(wid: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wid.x + wid.y * nwg.x) * 256u + lid.x;
}

// exp(-z) stays finite for z >= -80 (e^80 < f32 max); beyond +-80 the result is 0 or 1 to f32 precision anyway.
fn sigmoid(z: f32) -> f32 {
  return 1.0 / (1.0 + exp(-clamp(z, -80.0, 80.0)));
}

// ---------------------------------------------------------------- gelu_forward
@group(0) @binding(1) var<storage, read_write> gf_out: array<f32>;
@group(0) @binding(2) var<storage, read> gf_x: array<f32>;

@compute @workgroup_size(256)
fn gelu_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_id) lid: vec3u) {
  let i = linear_index(wid, nwg, lid);
  if (i >= u.n) { return; }
  let x = gf_x[i];
  let xc = clamp(x, -GELU_XMAX, GELU_XMAX);
  gf_out[i] = x * sigmoid(2.0 * GELU_K * (xc + GELU_C * xc * xc * xc));
}

// ---------------------------------------------------------------- gelu_backward
// With s = sigmoid(2u), u = k (x + c x^3):  d/dx [x s] = s + x * 2 s (1 - s) * k (1 + 3 c x^2)
// (the second term uses the clamped x: beyond +-20 it is 0 in f32, and x^2 of a huge x would be inf * 0).
@group(0) @binding(1) var<storage, read_write> gb_dx: array<f32>;
@group(0) @binding(2) var<storage, read> gb_dout: array<f32>;
@group(0) @binding(3) var<storage, read> gb_x: array<f32>;

@compute @workgroup_size(256)
fn gelu_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_id) lid: vec3u) {
  let i = linear_index(wid, nwg, lid);
  if (i >= u.n) { return; }
  let x = clamp(gb_x[i], -GELU_XMAX, GELU_XMAX);
  let x2 = x * x;
  let s = sigmoid(2.0 * GELU_K * (x + GELU_C * x2 * x));
  let grad = s + x * 2.0 * s * (1.0 - s) * GELU_K * (1.0 + 3.0 * GELU_C * x2);
  gb_dx[i] = gb_dout[i] * grad;
}

// ---------------------------------------------------------------- swiglu_forward
@group(0) @binding(1) var<storage, read_write> sf_out: array<f32>;
@group(0) @binding(2) var<storage, read> sf_gate: array<f32>;
@group(0) @binding(3) var<storage, read> sf_up: array<f32>;

@compute @workgroup_size(256)
fn swiglu_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_id) lid: vec3u) {
  let i = linear_index(wid, nwg, lid);
  if (i >= u.n) { return; }
  let g = sf_gate[i];
  sf_out[i] = g * sigmoid(g) * sf_up[i];
}

// ---------------------------------------------------------------- swiglu_backward
// silu'(g) = s (1 + g (1 - s)), s = sigmoid(g)
@group(0) @binding(1) var<storage, read_write> sb_dgate: array<f32>;
@group(0) @binding(2) var<storage, read_write> sb_dup: array<f32>;
@group(0) @binding(3) var<storage, read> sb_dout: array<f32>;
@group(0) @binding(4) var<storage, read> sb_gate: array<f32>;
@group(0) @binding(5) var<storage, read> sb_up: array<f32>;

@compute @workgroup_size(256)
fn swiglu_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_id) lid: vec3u) {
  let i = linear_index(wid, nwg, lid);
  if (i >= u.n) { return; }
  let g = sb_gate[i];
  let s = sigmoid(g);
  let d = sb_dout[i];
  sb_dgate[i] = d * sb_up[i] * s * (1.0 + g * (1.0 - s));
  sb_dup[i] = d * g * s;
}
