/** PiSSA and MiLoRA: SVD-initialised LoRA on a residual base (see attach.ts). */
export { attachPissa } from './attach';
export { svdFactors, type SvdChoice, type SvdFactors } from './factors';
export { ResidualLoraRun, type ResidualLayer } from './run';
export { attachResidualLora, layerSeed, type InitFactors } from './residualAttach';
export { loadTrainedAdapter, writeLoraValues } from './values';
