// Token (and optional learned position) embedding lookup, and its deterministic gradient.
//
// embedding_forward:     out[m, c] = table[ids[m], c]; ids outside [0, V) give a zero row.
//   bindings: 1 out (rw) [M,C], 2 ids (read, i32) [M], 3 table (read) [V,C]
// embedding_forward_pos: the same plus pos[(m % T) + offset, c] (the whole row stays zero for a bad id).
//   bindings: 1 out (rw) [M,C], 2 ids (read, i32) [M], 3 table (read) [V,C], 4 pos (read) [P,C]
//   dispatch (both): grid1d(ceil(M*C / 256)) workgroups of 256, one thread per output element.
//
// embedding_backward:    dtable[v, c] += sum over m with ids[m] == v of dout[m, c], m ascending.
//   bindings: 1 dtable (rw) [V,C], 2 dout (read) [M,C], 3 ids (read, i32) [M]
//   dispatch: (ceil(C / 64), S, 1) workgroups of 64. Thread (c, s) owns column c of the vocabulary slice
//   [s * slice, (s + 1) * slice) and walks all M ids in order, adding only rows whose id falls in its slice.
//   Every dtable element has exactly one owner and a fixed summation order: deterministic without float
//   atomics (which WGSL lacks), and the result does not depend on S. S only buys parallelism when C is small.
//
// Binding numbers repeat across entry points; WGSL allows that (the rule is per entry point).

struct Params {
  total: u32,   // forward: M * C; backward: M
  C: u32,
  V: u32,
  T: u32,       // forward_pos only
  offset: u32,  // forward_pos only
  slice: u32,   // backward only: vocabulary rows per y-workgroup
}

@group(0) @binding(0) var<uniform> u: Params;

// ---------------------------------------------------------------- forward (both variants)
@group(0) @binding(1) var<storage, read_write> ef_out: array<f32>;
@group(0) @binding(2) var<storage, read> ef_ids: array<i32>;
@group(0) @binding(3) var<storage, read> ef_table: array<f32>;
@group(0) @binding(4) var<storage, read> ef_pos: array<f32>;

fn token_value(m: u32, c: u32) -> vec2f {
  let id = ef_ids[m];
  // x = the table value, y = 1 when the id is valid.
  if (id < 0 || u32(id) >= u.V) { return vec2f(0.0, 0.0); }
  return vec2f(ef_table[u32(id) * u.C + c], 1.0);
}

@compute @workgroup_size(256)
fn embedding_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_id) lid: vec3u) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid.x;
  if (i >= u.total) { return; }
  ef_out[i] = token_value(i / u.C, i % u.C).x;
}

@compute @workgroup_size(256)
fn embedding_forward_pos(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                         @builtin(local_invocation_id) lid: vec3u) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid.x;
  if (i >= u.total) { return; }
  let m = i / u.C;
  let c = i % u.C;
  let tok = token_value(m, c);
  ef_out[i] = select(0.0, tok.x + ef_pos[(m % u.T + u.offset) * u.C + c], tok.y > 0.0);
}

// ---------------------------------------------------------------- embedding_backward
@group(0) @binding(1) var<storage, read_write> eb_dtable: array<f32>;
@group(0) @binding(2) var<storage, read> eb_dout: array<f32>;
@group(0) @binding(3) var<storage, read> eb_ids: array<i32>;

@compute @workgroup_size(64)
fn embedding_backward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let c = wid.x * 64u + lid.x;
  if (c >= u.C) { return; }
  let lo = wid.y * u.slice;
  let hi = min(lo + u.slice, u.V);
  for (var m = 0u; m < u.total; m++) {
    let id = eb_ids[m];
    // Negative ids wrap to huge u32 values and fall outside every slice.
    let v = u32(id);
    if (id >= 0 && v >= lo && v < hi) {
      let k = v * u.C + c;
      eb_dtable[k] = eb_dtable[k] + eb_dout[m * u.C + c];
    }
  }
}
