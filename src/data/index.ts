/** Data pipeline: tokenizer, chat templates, dataset loading, batching. */
export { loadTokenizer, type EncodeOptions, type Tokenizer } from './tokenizer';
export {
  assistantSpans,
  chatRenderer,
  encodeConversation,
  FALLBACK_FORMATS,
  renderChatTemplate,
  type ChatMessage,
  type ChatRenderer,
  type ChatRole,
  type EncodedConversation,
  type FallbackStyle,
  type SpecialTokens,
} from './chatTemplate';
export { loadDataset, SUPPORTED_EXTENSIONS, type PreparedDataset } from './datasets';
export { IGNORE_INDEX, lossTokenCount, packTokens, truncateExample, type Example } from './pack';
export { splitIndices, type Split } from './split';
export { BatchSampler, evalBatches, makeBatch, type Batch } from './batches';
