// Moving values between a sparse delta's entries and a dense tensor addressed by u32 flat indices (e.g. merging Δ
// into W, or picking a dense gradient's entries).
//
// scatter_add: dense[indices[e]] += scale · values[e]
// gather:      out[e] = dense[indices[e]]
//   Shared layout: 1 dst (rw), 2 indices (read, u32) [n], 3 src (read); dst/src are dense [size]/values
//   [n] for scatter_add and out [n]/dense [size] for gather.
//   One thread per entry. The indices of one scatter must be unique: each dense element then has at most one writer
//   and no atomics are needed (WGSL has no float atomics). An index >= size is skipped (scatter) or reads 0 (gather)
//   rather than touching another tensor's memory; the host validates indices where it builds them.
//   dispatch: grid1d(ceil(n / 256)) workgroups of 256.

struct Params {
  n: u32,
  size: u32,   // elements of the dense tensor
  scale: f32,  // scatter_add only
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read> src: array<f32>;

@compute @workgroup_size(256)
fn scatter_add(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = (wid.x + wid.y * nwg.x) * 256u + li;
  if (e >= u.n) { return; }
  let f = indices[e];
  if (f < u.size) { dst[f] += u.scale * src[e]; }
}

@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = (wid.x + wid.y * nwg.x) * 256u + li;
  if (e >= u.n) { return; }
  let f = indices[e];
  dst[e] = select(0.0, src[min(f, u.size - 1u)], f < u.size);
}
