/**
 * The public SVD API of src/linalg: the exact SVD (one-sided Jacobi on the GPU, exact.ts) and the Halko–
 * Martinsson–Tropp randomized truncated SVD (randomized.ts). Matrices are row-major f32 GpuTensors; `m×n` means
 * m rows; U [m, k] and V [n, k] hold singular vectors as columns, S is float64, descending.
 */
export { type ExactSvdOptions, type Svd, exactSvd, releaseSvd, singularValues } from './exact';
export { type RandomizedSvdOptions, randomizedSvd } from './randomized';
