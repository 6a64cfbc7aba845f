/** Small host-side matrix helpers for method init and deltas (factors of rank k, row-major Float32Array). */

/** rows x cols → cols x rows. */
export function transposeHost(x: ArrayLike<number>, rows: number, cols: number): Float32Array {
  if (x.length !== rows * cols) throw new Error(`transposeHost: ${x.length} values, expected ${rows} x ${cols}`);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j];
  return out;
}

/** X [rows, k] with column j multiplied by s[j] (U diag(σ)). */
export function scaleColumns(x: ArrayLike<number>, rows: number, k: number, s: ArrayLike<number>): Float32Array {
  const out = new Float32Array(rows * k);
  for (let i = 0; i < rows; i++) for (let j = 0; j < k; j++) out[i * k + j] = x[i * k + j] * s[j];
  return out;
}

/** The first `keep` columns of X [rows, cols]. */
export function leadingColumns(x: ArrayLike<number>, rows: number, cols: number, keep: number): Float32Array {
  if (keep > cols) throw new Error(`leadingColumns: ${keep} of ${cols} columns`);
  const out = new Float32Array(rows * keep);
  for (let i = 0; i < rows; i++) for (let j = 0; j < keep; j++) out[i * keep + j] = x[i * cols + j];
  return out;
}

/** [X | Y]: X [rows, a], Y [rows, b] → [rows, a + b]. */
export function concatColumns(x: ArrayLike<number>, a: number, y: ArrayLike<number>, b: number, rows: number): Float32Array {
  const out = new Float32Array(rows * (a + b));
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < a; j++) out[i * (a + b) + j] = x[i * a + j];
    for (let j = 0; j < b; j++) out[i * (a + b) + a + j] = y[i * b + j];
  }
  return out;
}

/** [X; Y]: rows of X then rows of Y. */
export function concatRows(x: Float32Array, y: Float32Array): Float32Array {
  const out = new Float32Array(x.length + y.length);
  out.set(x, 0);
  out.set(y, x.length);
  return out;
}

/** Σ x² in float64. */
export function sumSquares(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}
