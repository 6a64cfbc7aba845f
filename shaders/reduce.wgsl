// Whole-tensor sums into one element of a small stats buffer (loss totals, squared gradient norms).
//
// sum_into:          out[index] = (accumulate ? out[index] : 0) + scale * sum_i x[i]
// sum_squares_into:  out[index] = (accumulate ? out[index] : 0) + scale * sum_i x[i]^2   (the op passes scale 1)
// bindings (both): 1 out (rw) [>= index + 1], 2 x (read) [n]
// dispatch: (1, 1, 1): a single workgroup of WG (pipeline override: 64, or 256 for n >= 65536, chosen by the op;
// on a CPU implementation of WebGPU a small workgroup with few barriers is far cheaper to start, and the
// per-step statistics over small adapter tensors are many such launches). Each thread walks x with stride WG in
// blocks of 256 elements, summing each block separately before adding it to its total (error grows with
// n / (256 WG) + 256 instead of n / WG, without relying on compensated summation, which fast-math compilers
// may optimise away), then the WG partials are added in a fixed order in two levels (groups of 8, then the
// group sums; two barriers): deterministic.
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

override WG: u32 = 64u; // a multiple of 8, at most 256
const BLOCK: u32 = 256u; // elements per thread per block

var<workgroup> red: array<f32, 256>;
var<workgroup> red8: array<f32, 32>;

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
  workgroupBarrier();
  if (lid < WG / 8u) {
    var s = 0.0;
    for (var k = 0u; k < 8u; k++) { s += red[lid * 8u + k]; }
    red8[lid] = s;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var total = 0.0;
    for (var k = 0u; k < WG / 8u; k++) { total += red8[k]; }
    let prev = select(0.0, out[u.index], u.accumulate != 0u);
    out[u.index] = prev + u.scale * total;
  }
}

@compute @workgroup_size(WG)
fn sum_into(@builtin(local_invocation_id) lid: vec3u) {
  finish(lid.x, thread_partial(lid.x, false));
}

@compute @workgroup_size(WG)
fn sum_squares_into(@builtin(local_invocation_id) lid: vec3u) {
  finish(lid.x, thread_partial(lid.x, true));
}
