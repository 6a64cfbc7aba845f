/** AdaLoRA (adaptive budget allocation): SVD-parametrised updates whose singular values are pruned by importance. */
export { attachAdalora } from './attach';
export { type AdaloraConfig, adaloraConfigOf, adaloraScaling } from './config';
export { RankAllocator } from './allocator';
export { AdaloraRun, keptTriplets } from './run';
export { type AllocatorAction, type Budgets, allocatorAction, budgetSchedule, keepMask } from './schedule';
