/** EVA (Explained Variance Adaptation): data-driven LoRA init with ranks redistributed by explained variance. */
export { attachEva } from './attach';
export { type EvaConfig, evaConfigOf, evaScaling, maxComponents, roundHalfEven } from './config';
export { type EvaLayerVariance, evaRankDistribution, explainedVarianceRatios, flipComponentSigns } from './ranks';
