/**
 * The index of a layer's sparse delta Δ (sparse fine-tuning): which entries of W [N = out, K = in] are trainable.
 *
 * An entry e is identified by its flat index f = row · K + col (row = output feature, col = input feature);
 * entries are sorted ascending by f and unique, so e orders entries row-major. Views kept per layer:
 *   rows, cols   u32 [nnz]     coordinates of entry e
 *   rowPtr       u32 [N + 1]   CSR offsets: row o owns entries rowPtr[o] .. rowPtr[o + 1] - 1 (contiguous, since
 *                              entries are row-major)
 *   colPtr       u32 [K + 1]   CSC offsets into colOrder
 *   colOrder     u32 [nnz]     entry ids grouped by column, ascending within a column: column i owns entries
 *                              colOrder[colPtr[i] .. colPtr[i + 1] - 1]. A permutation instead of a second copy of the
 *                              values, so the trainable values stay in one [nnz] tensor in entry order.
 * The values themselves (and their gradient and optimizer state) are separate f32 [nnz] tensors.
 *
 * This file builds the views on the host (pure TS) and uploads them; the kernels are in ./sparse.ts.
 */
import type { GpuRuntime } from '../runtime';
import type { GpuTensor } from '../tensor';

export interface SparseIndexHost {
  /** Output features (rows of W). */
  N: number;
  /** Input features (columns of W). */
  K: number;
  nnz: number;
  rows: Uint32Array;
  cols: Uint32Array;
  rowPtr: Uint32Array;
  colPtr: Uint32Array;
  colOrder: Uint32Array;
}

/** The entries' coordinates only: all the sampled-gradient kernel needs (e.g. a candidate set, not the trained one). */
export interface SparseEntries {
  nnz: number;
  /** u32 [nnz] */
  rows: GpuTensor;
  /** u32 [nnz] */
  cols: GpuTensor;
}

/** The uploaded index. With nnz = 0 the [0]-shaped tensors still own a small buffer (see uploadSparseIndex). */
export interface SparseIndex extends SparseEntries {
  N: number;
  K: number;
  /** u32 [N + 1] */
  rowPtr: GpuTensor;
  /** u32 [K + 1] */
  colPtr: GpuTensor;
  /** u32 [nnz] */
  colOrder: GpuTensor;
}

/**
 * Sorted, duplicate-free copy of a set of flat indices (e.g. the union of top-k picks). Values must be integers in
 * [0, 2³²); they are not checked against a layer size here, buildSparseIndex does that.
 */
export function sortUnique(flat: ArrayLike<number>): Uint32Array {
  const sorted = Uint32Array.from(flat);
  for (let i = 0; i < flat.length; i++) {
    // Uint32Array.from wraps silently (-1 → 4294967295, 1.5 → 1): refuse instead of training the wrong entry.
    if (sorted[i] !== flat[i]) throw new Error(`sortUnique: index ${flat[i]} at position ${i} is not a u32`);
  }
  sorted.sort();
  let n = 0;
  for (let i = 0; i < sorted.length; i++) {
    if (i === 0 || sorted[i] !== sorted[n - 1]) sorted[n++] = sorted[i];
  }
  return sorted.slice(0, n);
}

/**
 * Builds the CSR and CSC views of the entries with flat indices `flat` in an N x K layer. `flat` must be sorted
 * ascending, unique and below N · K (sortUnique produces such a list): the entry order is the order of the trained
 * values, so this function never reorders silently.
 */
export function buildSparseIndex(flat: Uint32Array, N: number, K: number): SparseIndexHost {
  const op = 'buildSparseIndex';
  for (const [name, v] of Object.entries({ N, K })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${op}: ${name} = ${v} must be a positive integer`);
  }
  // Flat indices are u32 on the GPU; every one must be representable, so N · K may be at most 2³².
  if (N * K > 2 ** 32) throw new Error(`${op}: a ${N} x ${K} layer has more entries than 32-bit flat indices can address`);
  const size = N * K;
  const nnz = flat.length;
  for (let e = 0; e < nnz; e++) {
    const f = flat[e];
    if (f >= size) throw new Error(`${op}: flat index ${f} at position ${e} is outside the ${N} x ${K} layer (must be < ${size})`);
    if (e > 0 && f <= flat[e - 1]) {
      const what = f === flat[e - 1] ? 'a duplicate of' : 'smaller than';
      throw new Error(`${op}: flat index ${f} at position ${e} is ${what} the previous one (${flat[e - 1]}); indices must be sorted ascending and unique`);
    }
  }

  const rows = new Uint32Array(nnz);
  const cols = new Uint32Array(nnz);
  const rowPtr = new Uint32Array(N + 1);
  const colPtr = new Uint32Array(K + 1);
  for (let e = 0; e < nnz; e++) {
    const r = Math.floor(flat[e] / K);
    const c = flat[e] - r * K;
    rows[e] = r;
    cols[e] = c;
    rowPtr[r + 1]++;
    colPtr[c + 1]++;
  }
  for (let o = 0; o < N; o++) rowPtr[o + 1] += rowPtr[o];
  for (let i = 0; i < K; i++) colPtr[i + 1] += colPtr[i];

  // Visiting entries in ascending order keeps entry ids ascending inside each column: the column sums in the
  // dx kernel then run in a fixed, documented order.
  const colOrder = new Uint32Array(nnz);
  const fill = colPtr.slice(0, K);
  for (let e = 0; e < nnz; e++) colOrder[fill[cols[e]]++] = e;

  return { N, K, nnz, rows, cols, rowPtr, colPtr, colOrder };
}

/**
 * Uploads the index as u32 tensors labelled `${label}.rows` etc. An empty index (nnz = 0) gets [0]-shaped rows, cols
 * and colOrder: the runtime backs a zero-element tensor with a 16-byte buffer and binds 16 bytes of it, so such
 * tensors are valid bindings, and the ops skip their dispatch anyway when nnz = 0.
 */
export function uploadSparseIndex(rt: GpuRuntime, label: string, host: SparseIndexHost): SparseIndex {
  const { N, K, nnz } = host;
  const check = (name: string, a: Uint32Array, n: number): Uint32Array => {
    if (a.length !== n) throw new Error(`uploadSparseIndex: ${label}.${name} has ${a.length} elements, expected ${n}`);
    return a;
  };
  return {
    N,
    K,
    nnz,
    rows: rt.upload(`${label}.rows`, [nnz], check('rows', host.rows, nnz), 'u32'),
    cols: rt.upload(`${label}.cols`, [nnz], check('cols', host.cols, nnz), 'u32'),
    rowPtr: rt.upload(`${label}.rowPtr`, [N + 1], check('rowPtr', host.rowPtr, N + 1), 'u32'),
    colPtr: rt.upload(`${label}.colPtr`, [K + 1], check('colPtr', host.colPtr, K + 1), 'u32'),
    colOrder: rt.upload(`${label}.colOrder`, [nnz], check('colOrder', host.colOrder, nnz), 'u32'),
  };
}

export function releaseSparseIndex(rt: GpuRuntime, index: SparseIndex): void {
  for (const t of [index.rows, index.cols, index.rowPtr, index.colPtr, index.colOrder]) rt.release(t);
}
