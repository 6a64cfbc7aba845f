// Gradient clipping factor and the AdamW update (torch.optim.AdamW, default non-amsgrad, non-fused semantics).
//
// clip_scale: in: stats[0] = sum of squared gradients over all parameters. out: stats[0] = clip factor,
//   stats[1] = total norm. factor = min(1, max_norm / (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_, or 1
//   when max_norm <= 0 (clipping off). A NaN norm gives factor 1 (comparisons with NaN are false): callers detect
//   a non-finite step from stats[1].
//   bindings: 1 stats (rw) [>= 2].  dispatch: (1, 1, 1), one thread.
//
// adamw / adamw_scaled: per element, with g = grad[i] (* gscale[0] for adamw_scaled: the clip factor):
//   p <- p * (1 - lr * wd)                      (decoupled weight decay, applied first as torch does)
//   m <- m + (1 - beta1) * (g - m)              (torch: exp_avg.lerp_(grad, 1 - beta1))
//   v <- beta2 * v + (1 - beta2) * g * g
//   p <- p - step_size * m / (sqrt(v) / sqrt_bc2 + eps),  step_size = lr / (1 - beta1^t), sqrt_bc2 = sqrt(1 - beta2^t)
//   The bias corrections are computed on the host in float64 and arrive as uniforms.
//   bindings: 1 param (rw) [n], 2 m (rw) [n], 3 v (rw) [n], 4 grad (read) [n] (+ 5 gscale (read) [>= 1])
//   dispatch: grid1d(ceil(n / 256)) workgroups of 256.
//
// Binding numbers repeat across entry points; WGSL allows that (the rule is per entry point).

struct ClipParams {
  max_norm: f32,
}

struct AdamParams {
  n: u32,
  decay: f32,         // 1 - lr * weight_decay
  beta1: f32,
  beta2: f32,
  one_minus_beta1: f32,
  one_minus_beta2: f32,
  step_size: f32,     // lr / (1 - beta1^t)
  sqrt_bc2: f32,      // sqrt(1 - beta2^t)
  eps: f32,
}

// ---------------------------------------------------------------- clip_scale
@group(0) @binding(0) var<uniform> cu: ClipParams;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;

@compute @workgroup_size(1)
fn clip_scale() {
  let norm = sqrt(stats[0]);
  var factor = 1.0;
  if (cu.max_norm > 0.0) {
    let coef = cu.max_norm / (norm + 1e-6);
    factor = select(1.0, coef, coef < 1.0);
  }
  stats[0] = factor;
  stats[1] = norm;
}

// ---------------------------------------------------------------- adamw, adamw_scaled
@group(0) @binding(0) var<uniform> au: AdamParams;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> m1: array<f32>;
@group(0) @binding(3) var<storage, read_write> m2: array<f32>;
@group(0) @binding(4) var<storage, read> grad: array<f32>;
@group(0) @binding(5) var<storage, read> gscale: array<f32>;

fn adam_update(i: u32, g: f32) {
  let m = m1[i] + au.one_minus_beta1 * (g - m1[i]);
  let v = au.beta2 * m2[i] + au.one_minus_beta2 * g * g;
  m1[i] = m;
  m2[i] = v;
  let p = param[i] * au.decay;
  param[i] = p - au.step_size * m / (sqrt(v) / au.sqrt_bc2 + au.eps);
}

@compute @workgroup_size(256)
fn adamw(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid.x;
  if (i >= au.n) { return; }
  adam_update(i, grad[i]);
}

@compute @workgroup_size(256)
fn adamw_scaled(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid.x;
  if (i >= au.n) { return; }
  adam_update(i, grad[i] * gscale[0]);
}
