export { attachSparse } from './attach';
export { type SparseMethod, sparseBudget } from './budget';
export { SparseLayer } from './layer';
export { SparseRun } from './run';
