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

export interface TrainSettings {
  method: 'lora';
  lora: LoraSettings;
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
  /** adapter_config.json text. */
  config: string;
  /** adapter_model.safetensors bytes. */
  weights: Uint8Array<ArrayBuffer>;
}

export interface TrainerApi {
  init(): Promise<DeviceSummary>;
  loadModel(files: NamedBlob[]): Promise<ModelSummary>;
  loadDataset(file: NamedBlob, options: DatasetOptions): Promise<DatasetSummary>;
  /** Parameters the adapter would train with these settings on the loaded model. */
  trainableParameters(settings: LoraSettings): Promise<number>;
  train(settings: TrainSettings, onMetrics: (m: StepMetrics) => void): Promise<RunSummary>;
  /** Asks a running train() to stop after the current step; it resolves with stopped: true. */
  stop(): Promise<void>;
  generate(options: GenerateOptions): Promise<string>;
  /** Mean validation loss with or without the trained adapter. */
  evaluate(useAdapter: boolean): Promise<number>;
  exportAdapter(): Promise<AdapterFiles>;
}

/** What the CLI and tests use beyond the page's API: adapters from disk and raw logits. */
export interface EngineApi extends TrainerApi {
  /** Applies a PEFT LoRA adapter (as PEFT saves it) to the loaded model, replacing any current adapter. */
  loadAdapter(files: NamedBlob[]): Promise<{ modules: number; r: number }>;
  /** Logits [T, V] of one sequence, with the current adapter applied when there is one. */
  logits(ids: number[]): Promise<{ shape: [number, number]; data: Float32Array }>;
  /** Bytes of GPU memory held in tensors now and at peak. */
  memory(): { liveBytes: number; peakBytes: number };
}
