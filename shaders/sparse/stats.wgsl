// Dense gradient statistics while calibrating which entries of a layer to train (sparse fine-tuning):
//   acc[i] += |scale · g[i]|     (mode 1)
//   acc[i] += (scale · g[i])²    (mode 2)
// Mode numbers match shaders/sparse/sddmm.wgsl, which accumulates the same statistics for a sparse candidate set.
//
// accumulate_stat: bindings 1 acc (rw) [n], 2 g (read) [n]. One thread per element.
//   dispatch: grid1d(ceil(n / 256)) workgroups of 256.

struct Params {
  n: u32,
  scale: f32,
  mode: u32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> acc: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;

@compute @workgroup_size(256)
fn accumulate_stat(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= u.n) { return; }
  let v = u.scale * g[i];
  acc[i] += select(abs(v), v * v, u.mode == 2u);
}
