export { attachDiag, type DiagMethod } from './attach';
export { ChannelAffineLayer, type ChannelAffineValues } from './channelLayer';
export { NormParams } from './normParams';
export { DiagRun } from './run';
export { biasName, planBiases } from './biases';
