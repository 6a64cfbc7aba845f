// Rotary position embedding, HF Llama `rotate_half` convention, applied in place.
//
// rope_apply: for row r (position p = r % T + offset), head h and i < d/2, with c = cos[p, i], s = sign * sin[p, i]:
//   x[i]       <- x[i] c - x[i + d/2] s
//   x[i + d/2] <- x[i + d/2] c + x[i] s
// sign = +1 is the forward pass; sign = -1 rotates by -angle, the transpose (= inverse) of the rotation, which is
// the backward pass applied to the gradient. One thread owns one (i, i + d/2) pair, so in place is race-free.
// bindings: 1 x (rw) [rows, nHeads * d], 2 cos (read) [P, d/2], 3 sin (read) [P, d/2]
// dispatch: grid1d(ceil(rows * nHeads * d/2 / 256)) workgroups of 256; linear pair index guarded by `pairs`.

struct Params {
  pairs: u32,      // rows * nHeads * half
  half: u32,       // d / 2
  n_heads: u32,
  T: u32,
  offset: u32,
  sign: f32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> cos_t: array<f32>;
@group(0) @binding(3) var<storage, read> sin_t: array<f32>;

@compute @workgroup_size(256)
fn rope_apply(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_id) lid: vec3u) {
  let t = (wid.x + wid.y * nwg.x) * 256u + lid.x;
  if (t >= u.pairs) { return; }
  let i = t % u.half;
  let rh = t / u.half;              // row * n_heads + head
  let row = rh / u.n_heads;
  let pos = row % u.T + u.offset;
  let base = rh * 2u * u.half;      // rows are n_heads * d wide, heads d wide
  let c = cos_t[pos * u.half + i];
  let s = u.sign * sin_t[pos * u.half + i];
  let x0 = x[base + i];
  let x1 = x[base + i + u.half];
  x[base + i] = x0 * c - x1 * s;
  x[base + i + u.half] = x1 * c + x0 * s;
}
