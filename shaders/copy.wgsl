// Strided column-block copy between row-major matrices, e.g. splitting GPT-2's fused qkv [M, 3C] into q, k, v
// and joining their gradients back.
//
// copy_columns: dst[r * dst_stride + dst_offset + c] (+)= src[r * src_stride + src_offset + c], r < rows, c < cols
// bindings: 1 dst (rw), 2 src (read)
// dispatch: grid1d(ceil(rows * cols / 256)) workgroups of 256, one thread per (r, c), c fastest (coalesced).

struct Params {
  total: u32,  // rows * cols
  cols: u32,
  src_stride: u32,
  src_offset: u32,
  dst_stride: u32,
  dst_offset: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

@compute @workgroup_size(256)
fn copy_columns(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_id) lid: vec3u) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid.x;
  if (i >= u.total) { return; }
  let r = i / u.cols;
  let c = i % u.cols;
  let v = src[r * u.src_stride + u.src_offset + c];
  let d = r * u.dst_stride + u.dst_offset + c;
  if (u.accumulate != 0u) {
    dst[d] = dst[d] + v;
  } else {
    dst[d] = v;
  }
}
