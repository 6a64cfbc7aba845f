/**
 * The run API: what the worker exposes to the page (through comlink) and what the CLI drives directly.
 * Plain data in and out, so it crosses the worker boundary by structured clone; callbacks are wrapped with
 * comlink.proxy on the page side.
 */

/** One file of a dropped checkpoint folder or dataset. `name` is the path relative to the folder root. */
export interface NamedBlob {
  name: string;
  blob: Blob;
}

export interface DeviceSummary {
  description: string;
  features: string[];
  maxBufferMiB: number;
}

export interface ModelSummary {
  modelType: string;
  architecture: string;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
  maxPositions: number;
  parameters: number;
  /** Storage dtype(s) of the checkpoint, e.g. "F32" or "F16"; computation is always f32. */
  dtype: string;
  tiedEmbeddings: boolean;
  hasTokenizer: boolean;
  hasChatTemplate: boolean;
  /** Module names LoRA may target for this architecture, e.g. q_proj..down_proj or c_attn/c_proj/c_fc. */
  targetableModules: string[];
  files: string[];
}

export interface DatasetProblem {
  line: number;
  message: string;
}

export interface DatasetOptions {
  /** What to do with malformed lines: skip them (and report) or refuse the whole file. */
  onBadLine: 'skip' | 'refuse';
  /** Fraction of examples held out for validation. */
  valFraction: number;
  seed: number;
  /** Train on every token instead of only the response tokens of instruction/chat data. */
  trainOnAllTokens: boolean;
  seqLen: number;
}

export interface DatasetSummary {
  fileName: string;
  format: 'text' | 'alpaca' | 'chat';
  examples: number;
  trainExamples: number;
  valExamples: number;
  /** Training tokens (after packing / truncation) and how many of them carry loss. */
  tokens: number;
  lossTokens: number;
  problems: DatasetProblem[];
  /** A rendered example as the model will see it (chat template applied). */
  preview: string;
}

export interface LoraSettings {
  rank: number;
  alpha: number;
  useRslora: boolean;
  dropout: number;
  targets: string[];
  /** PEFT's default (true): A Kaiming-uniform, B zero; 'gaussian': A ~ N(0, 1/r²), B zero. */
  initLoraWeights: 'default' | 'gaussian';
}

/** The methods `train` offers; names as PEFT spells them where PEFT has them. */
export const METHOD_NAMES = ['lora', 'pissa', 'milora', 'olora', 'svfit', 'sorsa', 'loraxs', 'lorasb', 'eva', 'adalora', 'sparse', 'sara', 'subnet', 'dsee', 'bitfit', 'ia3', 'ssf', 'norms'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

/**
 * Hyperparameters of the non-LoRA methods. Rank, alpha, dropout and targets come from LoraSettings for every
 * method (AdaLoRA's target rank is LoraSettings.rank).
 */
export interface MethodOptions {
  /** SVD used at init (PiSSA, MiLoRA, SVFit, SORSA, LoRA-XS): 'exact' = PEFT "pissa", 'randomized' = "pissa_niter_N". */
  svd: 'exact' | 'randomized';
  /** Power iterations of the randomized SVD (N of PEFT's "pissa_niter_N"). */
  powerIters: number;
  /** SVFit: per layer, keep the top singular values holding this fraction of Σσ² (0 < e ≤ 1). */
  svfitEnergy: number;
  /** SORSA: weight γ of the orthonormal regulariser γ(‖UᵀU − I‖² + ‖VᵀV − I‖²). */
  sorsaGamma: number;
  /** EVA: batches of activations for the SVD, and rho (a layer's rank may grow to round(rho · r)). */
  evaBatches: number;
  evaRho: number;
  /** LoRA-SB: batches whose summed gradient initialises the adapter. */
  lorasbBatches: number;
  /** AdaLoRA (PEFT names): initial rank, budget schedule steps, EMA betas, orthogonal regulariser weight. */
  adaloraInitR: number;
  adaloraTinit: number;
  adaloraTfinal: number;
  adaloraDeltaT: number;
  adaloraBeta1: number;
  adaloraBeta2: number;
  adaloraOrthReg: number;
  /** Sparse methods (sparse, subnet, dsee): fraction of each target weight's entries trained. */
  density: number;
  /**
   * Sparse methods: keep r·(in + out) entries per layer (r = the LoRA rank) instead of a density: the same
   * trainable count as LoRA, and the budget PEFT's SHiRA format requires.
   */
  matchLoraRank: boolean;
  /** Sparse FT: how the first index set is chosen. */
  sparseInit: 'random' | 'gradient' | 'magnitude';
  /** Sparse FT: prune and regrow every N steps (0: never). */
  regrowEvery: number;
  /** Sparse FT: fraction of the kept entries replaced at the first update, decaying (cosine) to 0 at regrowUntil. */
  regrowFraction: number;
  /** Sparse FT: fraction of the training after which the index set stays fixed. */
  regrowUntil: number;
  /** Sparse FT: regrowth candidates per kept entry, drawn afresh (seeded) for each update interval. */
  candidateFactor: number;
  /** SaRA: fraction of each weight's entries, the smallest |W|, that train. */
  saraFraction: number;
  /** SaRA: weight λ of the nuclear-norm regulariser λ‖ΔW‖_* on the sparse update (0: off). */
  saraNuclear: number;
  /** SaRA: singular triplets of ΔW in the regulariser's gradient (0: all, by an exact SVD per layer and step). */
  saraNuclearRank: number;
  /** SaRA's progressive adjustment: at this fraction of the training, re-select the smallest |W + ΔW| (0: never). */
  saraReselectAt: number;
  /** Gradient-selected subnetwork: calibration batches and the score (Σ|g| or Σg², a Fisher estimate). */
  subnetBatches: number;
  subnetScore: 'abs' | 'fisher';
  /** IA3: target modules that scale their input (PEFT's feedforward_modules); the others scale their output. */
  ia3FeedForward: string[];
}

export const METHOD_DEFAULTS: MethodOptions = {
  svd: 'exact',
  powerIters: 4,
  svfitEnergy: 0.99,
  sorsaGamma: 4e-4,
  evaBatches: 8,
  evaRho: 2,
  lorasbBatches: 4,
  adaloraInitR: 12,
  adaloraTinit: 0,
  adaloraTfinal: 0,
  adaloraDeltaT: 1,
  adaloraBeta1: 0.85,
  adaloraBeta2: 0.85,
  adaloraOrthReg: 0.5,
  density: 0.01,
  matchLoraRank: false,
  sparseInit: 'random',
  regrowEvery: 20,
  regrowFraction: 0.3,
  regrowUntil: 0.75,
  candidateFactor: 1,
  saraFraction: 0.1,
  saraNuclear: 0,
  saraNuclearRank: 8,
  saraReselectAt: 0.5,
  subnetBatches: 8,
  subnetScore: 'abs',
  ia3FeedForward: ['down_proj', 'mlp.c_proj'],
};

export interface TrainSettings {
  method: MethodName;
  lora: LoraSettings;
  /** Per-method hyperparameters; missing fields take METHOD_DEFAULTS. */
  options?: Partial<MethodOptions>;
  /** Stream the spectra of every adapted layer every N steps (0: never). */
  spectraEvery?: number;
  steps: number;
  batchSize: number;
  seqLen: number;
  gradAccum: number;
  lr: number;
  warmupSteps: number;
  schedule: 'cosine' | 'constant';
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 0 disables clipping. */
  maxGradNorm: number;
  /** Measure validation loss every N steps (0: never). */
  valEvery: number;
  seed: number;
}

export interface StepMetrics {
  step: number;
  loss: number;
  lr: number;
  tokensPerS: number;
  gradNorm?: number;
  valLoss?: number;
}

/** Singular values of one target weight before training, to help choose the rank and the method. */
export interface WeightSpectrum {
  /** Tensor name as in the checkpoint, e.g. model.layers.0.self_attn.q_proj.weight */
  name: string;
  modulePath: string;
  /** [out, in] */
  shape: [number, number];
  /** All of them, descending. */
  singularValues: number[];
  /** The rank the settings would give this layer and the fraction of Σσ² the top `rank` keep. */
  rank: number;
  energyAtRank: number;
}

/** The spectra of one adapted layer at a training step. */
export interface LayerSpectrum {
  modulePath: string;
  /** σ(ΔW), descending (ΔW against the original weight). */
  delta: number[];
  /** Top singular values of W + ΔW and of W. */
  merged: number[];
  base: number[];
  /** exp(entropy of σ(ΔW)/Σσ) (Roy & Vetterli). */
  effectiveRank: number;
  /** Top singular vectors of W + ΔW whose best |cos| with any of W's top vectors is below the threshold. */
  intruders: number;
}

export interface SpectraSnapshot {
  step: number;
  intruderThreshold: number;
  layers: LayerSpectrum[];
}

/** One sparse layer at a step: what it keeps, how its index set changed, and where the kept entries sit. */
export interface LayerSparsity {
  modulePath: string;
  /** [out, in] */
  shape: [number, number];
  kept: number;
  /** kept / (out · in) */
  density: number;
  /** Index-set updates so far, and entries dropped and regrown over all of them and at the last one. */
  updates: number;
  dropped: number;
  regrown: number;
  lastDropped: number;
  lastRegrown: number;
  /** Fractions of output rows and input columns holding at least one kept entry. */
  rowsTouched: number;
  colsTouched: number;
  /** Kept entries per cell of a gridRows × gridCols partition of the [out, in] weight (row-major): the picture. */
  gridRows: number;
  gridCols: number;
  grid: number[];
}

export interface SparsitySnapshot {
  step: number;
  layers: LayerSparsity[];
}

/** `webpeft spectrum` output: {"weights": {"<checkpoint tensor name>": {"shape": [rows, cols], "singular_values": [...]}}}. */
export interface SpectrumFile {
  weights: Record<string, { shape: [number, number]; singular_values: number[] }>;
}

/** A file to save, e.g. of a merged checkpoint folder. */
export interface OutputFile {
  name: string;
  data: Uint8Array<ArrayBuffer>;
}

export interface RunSummary {
  steps: number;
  finalLoss: number;
  finalValLoss?: number;
  baseValLoss?: number;
  seconds: number;
  stopped: boolean;
}

export interface GenerateOptions {
  prompt: string;
  maxNewTokens: number;
  /** 0 means greedy. */
  temperature: number;
  seed: number;
  useAdapter: boolean;
}

export interface AdapterFiles {
  /** adapter_config.json text (webpeft_delta.json for our own delta format). */
  config: string;
  /** adapter_model.safetensors bytes (webpeft_delta.safetensors). */
  weights: Uint8Array<ArrayBuffer>;
  /** File names when they are not PEFT's adapter_config.json / adapter_model.safetensors. */
  configName?: string;
  weightsName?: string;
}

/** Adapter formats the studio loads. */
export type AdapterKind = 'lora' | 'adalora' | 'ia3' | 'shira' | 'webpeft-delta';

export interface TrainerApi {
  init(): Promise<DeviceSummary>;
  loadModel(files: NamedBlob[]): Promise<ModelSummary>;
  loadDataset(file: NamedBlob, options: DatasetOptions): Promise<DatasetSummary>;
  /** Parameters the adapter would train with these settings on the loaded model. */
  trainableParameters(settings: LoraSettings, method?: MethodName, options?: Partial<MethodOptions>): Promise<number>;
  /** onProgress reports the method's setup (SVDs, calibration) before the first step, fraction in [0, 1]. */
  train(
    settings: TrainSettings,
    onMetrics: (m: StepMetrics) => void,
    onSpectra?: (s: SpectraSnapshot) => void,
    onProgress?: (message: string, fraction: number) => void,
    onSparsity?: (s: SparsitySnapshot) => void,
  ): Promise<RunSummary>;
  /** Singular values of every weight the settings target, before training. */
  weightSpectra(settings: TrainSettings): Promise<WeightSpectrum[]>;
  /** Asks a running train() to stop after the current step; it resolves with stopped: true. */
  stop(): Promise<void>;
  generate(options: GenerateOptions): Promise<string>;
  /** Mean validation loss with or without the trained adapter. */
  evaluate(useAdapter: boolean): Promise<number>;
  /**
   * The trained adapter: in PEFT's format where PEFT has the method (LoRA and the SVD methods as LoRA, IA3,
   * SHiRA when the budget fits), else, or when asked, as a webpeft delta.
   */
  exportAdapter(format?: 'peft' | 'webpeft-delta'): Promise<AdapterFiles>;
  /** The base with the trained update merged in: config.json, model.safetensors and the tokenizer files. */
  exportMerged(): Promise<OutputFile[]>;
  /**
   * Applies an adapter folder to the loaded model, replacing any current one: PEFT LoRA/AdaLoRA, IA3 or SHiRA (as
   * PEFT saves them), or a webpeft delta. `r` is the LoRA/SHiRA rank (0 for formats without one).
   */
  loadAdapter(files: NamedBlob[]): Promise<{ kind: AdapterKind; modules: number; r: number }>;
}

/** What the CLI and tests use beyond the page's API: raw logits, full spectra and memory. */
export interface EngineApi extends TrainerApi {
  /** Logits [T, V] of one sequence, with the current adapter applied when there is one. */
  logits(ids: number[]): Promise<{ shape: [number, number]; data: Float32Array }>;
  /**
   * Singular values of every 2-D weight of the loaded checkpoint, of W + ΔW where the current adapter touches it,
   * in the schema of the reference spectra.json.
   */
  spectrum(onProgress?: (done: number, total: number) => void): Promise<SpectrumFile>;
  /** Bytes of GPU memory held in tensors now and at peak. */
  memory(): { liveBytes: number; peakBytes: number };
}
