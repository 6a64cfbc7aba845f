// Whole-tensor sums into one element of a small stats buffer (loss totals, squared gradient norms).
//
// sum_into:          out[index] = (accumulate ? out[index] : 0) + scale * sum_i x[i]
// sum_squares_into:  out[index] = (accumulate ? out[index] : 0) + scale * sum_i x[i]^2   (the op passes scale 1)
// bindings (both): 1 out (rw) [>= index + 1], 2 x (read) [n]
// dispatch: (1, 1, 1): a single workgroup of 256. Each thread walks x with stride 256 in blocks of 256 elements,
// summing each block separately before adding it to its total (error grows with n / 65536 + 256 instead of
// n / 256, without relying on compensated summation, which fast-math compilers may optimise away), then a
// shared-memory tree adds the 256 partials in a fixed order: deterministic.
// A single workgroup reads at most one SM's worth of bandwidth: fine for per-step statistics over adapter
// gradients; a tensor of 100M+ elements would want a two-pass multi-workgroup variant.

struct Params {
  n: u32,
  index: u32,
  scale: f32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

const WG: u32 = 256u;
const BLOCK: u32 = 256u; // elements per thread per block

var<workgroup> red: array<f32, 256>;

fn thread_partial(lid: u32, square: bool) -> f32 {
  var total = 0.0;
  var i = lid;
  while (i < u.n) {
    var block = 0.0;
    let end = min(u.n, i + BLOCK * WG);
    for (; i < end; i += WG) {
      let v = x[i];
      block += select(v, v * v, square);
    }
    total += block;
  }
  return total;
}

fn finish(lid: u32, partial: f32) {
  red[lid] = partial;
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    workgroupBarrier();
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
  }
  if (lid == 0u) {
    let prev = select(0.0, out[u.index], u.accumulate != 0u);
    out[u.index] = prev + u.scale * red[0];
  }
}

@compute @workgroup_size(256)
fn sum_into(@builtin(local_invocation_id) lid: vec3u) {
  finish(lid.x, thread_partial(lid.x, false));
}

@compute @workgroup_size(256)
fn sum_squares_into(@builtin(local_invocation_id) lid: vec3u) {
  finish(lid.x, thread_partial(lid.x, true));
}
