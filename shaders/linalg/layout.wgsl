// Layout changes around the Jacobi SVD: its working matrix keeps vectors as rows, the public result as columns.
//
// transpose: out [cols, rows] = in [rows, cols]ᵀ, i.e. out[c * rows + r] = in[r * cols + c].
//   bindings: 0 u: Params {rows, cols}, 1 out (rw) [cols, rows], 2 src (read) [rows, cols]
//   dispatch: (ceil(cols / 16), ceil(rows / 16), 1) workgroups of 16 x 16; a 16 x 16 tile goes through
//   workgroup memory so both the read and the write are row-contiguous (one barrier).
//
// gather_columns: out [len, k] with out[t, j] = src[index[j], t] · scale[j]: vector index[j] (a row of src
//   [*, len]) becomes column j of out, scaled; this sorts the singular vectors and normalises U = X / σ.
//   table (read) u32 [2k]: index[j] = table[j], scale[j] = bitcast<f32>(table[k + j]).
//   bindings: 0 u: Params {rows = len, cols = k}, 1 out (rw) [len, k], 2 src (read), 3 table (read)
//   dispatch: grid1d(ceil(len · k / 256)) workgroups of 256, one thread per output (writes contiguous).

struct Params {
  rows: u32,
  cols: u32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> table: array<u32>;

var<workgroup> tile: array<array<f32, 17>, 16>; // 17: no bank conflicts on the transposed read

@compute @workgroup_size(16, 16)
fn transpose(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.y * 16u + lid.y;
  let c = wid.x * 16u + lid.x;
  if (r < u.rows && c < u.cols) { tile[lid.y][lid.x] = src[r * u.cols + c]; }
  workgroupBarrier();
  let orow = wid.x * 16u + lid.y; // a column of src
  let ocol = wid.y * 16u + lid.x; // a row of src
  if (orow < u.cols && ocol < u.rows) { out[orow * u.rows + ocol] = tile[lid.x][lid.y]; }
}

@compute @workgroup_size(256)
fn gather_columns(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid.x;
  let k = u.cols;
  if (i >= u.rows * k) { return; }
  let t = i / k;
  let j = i % k;
  out[i] = src[table[j] * u.rows + t] * bitcast<f32>(table[k + j]);
}
