// Elementwise helpers on flat f32 arrays.
//
// add_inplace:  a[i] += alpha * b[i]          bindings: 1 a (rw) [n], 2 b (read) [n]
// fill:         a[i] = value                  bindings: 1 a (rw) [n]
// dispatch: grid1d(ceil(n / 256)) workgroups of 256.

struct Params {
  n: u32,
  alpha: f32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;

fn linear_index(gid: vec3u, wid: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wid.x + wid.y * nwg.x) * 256u + lid.x;
}

@compute @workgroup_size(256)
fn add_inplace(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u,
               @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = linear_index(gid, wid, nwg, lid);
  if (i >= u.n) { return; }
  a[i] = a[i] + u.alpha * b[i];
}

@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = linear_index(gid, wid, nwg, lid);
  if (i >= u.n) { return; }
  a[i] = u.alpha;
}
