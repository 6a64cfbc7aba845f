/** OLoRA: QR-initialised LoRA on a residual base (see attach.ts). */
export { attachOlora } from './attach';
export { oloraFactors, oloraRefusal } from './factors';
