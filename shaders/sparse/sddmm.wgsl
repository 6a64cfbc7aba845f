// Gradient of a sparse delta's values (sampled dense-dense product, SDDMM): for every entry e = (rows[e], cols[e])
//   g_e = Σ_m dy[m, rows[e]] · x[m, cols[e]],   grad[e] = (accumulate ? grad[e] : 0) + f(scale · g_e)
// with f = identity (mode 0, the value gradient), |·| (mode 1) or (·)² (mode 2): the last two accumulate gradient
// statistics of candidate entries. Mode and accumulate are uniforms, not overrides: the m loop dominates, and
// fewer pipeline variants compile faster.
//
// bindings: 1 grad (rw) [nnz], 2 rows (read, u32) [nnz], 3 cols (read, u32) [nnz], 4 dy (read) [M, N],
//           5 x (read) [M, K]
//
// sddmm_serial: one thread per entry walks m = 0 .. M-1. Neighbouring threads hold neighbouring entries (mostly of
//   one row, ascending columns), so at each m they read one element of dy and nearby elements of one row of x.
//   No barrier (SwiftShader runs barrier-free workgroups far faster). Used when nnz alone fills the GPU.
//   dispatch: grid1d(ceil(nnz / 256)) workgroups of 256.
// sddmm: `lanes` threads (a power of two, 2..64) share an entry when nnz is small, so a handful of entries still
//   spread M over many threads. A workgroup holds E = 256 / lanes entries; thread li is slot li % E (entry
//   wid · E + slot) and lane li / E, summing m = lane, lane + lanes, ... (neighbouring threads still hold
//   neighbouring entries at the same m). After one barrier, lane 0 adds the lanes' partials in lane order.
//   dispatch: grid1d(ceil(nnz / E)) workgroups of 256.
// Both are deterministic for a given (nnz, M): the op picks `lanes` from those alone.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  nnz: u32,
  scale: f32,
  mode: u32,        // 0 sum, 1 abs, 2 square
  accumulate: u32,  // 0 or 1
  lanes: u32,       // sddmm only
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<u32>;
@group(0) @binding(3) var<storage, read> cols: array<u32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> x: array<f32>;

// Σ over m = first, first + step, ... < M of dy[m, r] · x[m, c].
fn partial(e: u32, first: u32, step: u32) -> f32 {
  let r = rows[e];
  let c = cols[e];
  var s = 0.0;
  for (var m = first; m < u.M; m += step) { s += dy[m * u.N + r] * x[m * u.K + c]; }
  return s;
}

fn store(e: u32, g: f32) {
  let v = u.scale * g;
  var o = v;
  if (u.mode == 1u) { o = abs(v); } else if (u.mode == 2u) { o = v * v; }
  if (u.accumulate != 0u) { o += grad[e]; }
  grad[e] = o;
}

@compute @workgroup_size(256)
fn sddmm_serial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = (wid.x + wid.y * nwg.x) * 256u + li;
  if (e >= u.nnz) { return; }
  store(e, partial(e, 0u, 1u));
}

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn sddmm(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let E = 256u / u.lanes;
  let slot = li % E;
  let lane = li / E;
  let e = (wid.x + wid.y * nwg.x) * E + slot;
  var s = 0.0;
  if (e < u.nnz) { s = partial(e, lane, u.lanes); }
  part[li] = s;
  workgroupBarrier();
  if (lane == 0u && e < u.nnz) {
    var g = 0.0;
    for (var l = 0u; l < u.lanes; l++) { g += part[l * E + slot]; }
    store(e, g);
  }
}
