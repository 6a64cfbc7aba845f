/**
 * Dataset loading: a dropped file → tokenized, masked, split examples plus a summary for the UI.
 *
 *  .txt          one document: encoded with the model's special tokens (BOS first when the model adds one), packed
 *                into blocks of seqLen + 1 tokens (pack.ts), loss on every token; split at block level.
 *  .jsonl/.json  alpaca or chat records (records.ts), rendered with the model's chat template or the plain fallback
 *                (chatTemplate.ts), loss on the assistant answers only unless trainOnAllTokens, truncated to
 *                seqLen + 1 tokens keeping the beginning.
 *
 * Problems: malformed records are "bad lines" (onBadLine: skip → dropped and listed, refuse → Error). An example
 * whose answer was cut off entirely by truncation is always dropped and listed (the file is fine, seqLen is short).
 */
import type { DatasetOptions, DatasetProblem, DatasetSummary, NamedBlob } from '../run/api';
import { chatRenderer, encodeConversation, FALLBACK_FORMATS, type ChatMessage } from './chatTemplate';
import { lossTokenCount, packTokens, truncateExample, type Example } from './pack';
import { parseJsonArray, parseJsonl, type RawRecord } from './parseRecords';
import { normalizeRecord, type RecordForm } from './records';
import { splitIndices } from './split';
import type { Tokenizer } from './tokenizer';

export type { Example } from './pack';

export interface PreparedDataset {
  summary: DatasetSummary;
  train: Example[];
  val: Example[];
  /** How records were rendered: the model's chat template, the plain fallback format, or not at all (.txt). */
  rendering: 'template' | 'fallback' | 'none';
}

export const SUPPORTED_EXTENSIONS = ['.txt', '.jsonl', '.json'] as const;

interface Prepared {
  format: DatasetSummary['format'];
  examples: Example[];
  problems: DatasetProblem[];
  rendering: PreparedDataset['rendering'];
  /** The first kept example as text (before the fallback note). */
  preview: string;
}

export async function loadDataset(file: NamedBlob, tokenizer: Tokenizer, options: DatasetOptions): Promise<PreparedDataset> {
  checkOptions(options);
  const ext = extensionOf(file.name);
  if (!(SUPPORTED_EXTENSIONS as readonly string[]).includes(ext)) {
    const what = ext === '' ? 'has no extension' : `has the unsupported extension "${ext}"`;
    throw new Error(
      `${file.name} ${what}. Supported dataset files: ${SUPPORTED_EXTENSIONS.join(', ')} (CSV and Parquet are planned).`,
    );
  }
  const text = await file.blob.text();
  if (text.trim() === '') throw new Error(`${file.name} is empty`);
  const prepared = ext === '.txt' ? prepareText(text, file.name, tokenizer, options) : prepareRecords(text, ext, file.name, tokenizer, options);
  const { train, val } = splitIndices(prepared.examples.length, options.valFraction, options.seed);
  const trainExamples = train.map((i) => prepared.examples[i]);
  const valExamples = val.map((i) => prepared.examples[i]);
  const summary: DatasetSummary = {
    fileName: file.name,
    format: prepared.format,
    examples: prepared.examples.length,
    trainExamples: trainExamples.length,
    valExamples: valExamples.length,
    // Counted over the training split: what an epoch of training sees.
    tokens: trainExamples.reduce((s, e) => s + e.ids.length, 0),
    lossTokens: trainExamples.reduce((s, e) => s + lossTokenCount(e), 0),
    problems: prepared.problems,
    preview: previewOf(prepared),
  };
  return { summary, train: trainExamples, val: valExamples, rendering: prepared.rendering };
}

function checkOptions(o: DatasetOptions): void {
  if (!Number.isInteger(o.seqLen) || o.seqLen < 1) throw new Error(`seqLen must be a positive integer, got ${o.seqLen}`);
  if (!(o.valFraction >= 0 && o.valFraction < 1)) throw new Error(`valFraction must be in [0, 1), got ${o.valFraction}`);
}

function extensionOf(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot).toLowerCase();
}

function prepareText(text: string, fileName: string, tokenizer: Tokenizer, o: DatasetOptions): Prepared {
  const tokens = tokenizer.encode(text);
  const examples = packTokens(tokens, o.seqLen);
  if (examples.length === 0) throw new Error(`${fileName} is too short: ${tokens.length} token(s), at least 2 are needed`);
  // Decoded with special tokens so the user sees the BOS the model gets.
  return { format: 'text', examples, problems: [], rendering: 'none', preview: tokenizer.decode(examples[0].ids, false) };
}

interface Conversation {
  line: number;
  messages: ChatMessage[];
}

function prepareRecords(text: string, ext: string, fileName: string, tokenizer: Tokenizer, o: DatasetOptions): Prepared {
  const parsed = parseFile(text, ext, fileName);
  const problems = parsed.problems;
  if (parsed.records.length === 0 && problems.length === 0) throw new Error(`${fileName} contains no records`);
  const { form, conversations } = validateRecords(parsed.records, problems);
  refuseIfBad(fileName, problems, o);
  if (!form) throw noUsable(fileName, problems);

  const renderer = chatRenderer(tokenizer, form);
  const encoded: Encoded[] = [];
  for (const c of conversations) {
    try {
      encoded.push({ line: c.line, ...encodeConversation(c.messages, tokenizer, renderer, o.trainOnAllTokens) });
    } catch (e) {
      problems.push({ line: c.line, message: `could not render with the chat template: ${(e as Error).message}` });
    }
  }
  refuseIfBad(fileName, problems, o);

  const { examples, preview } = truncateAll(encoded, problems, tokenizer, o.seqLen);
  problems.sort((a, b) => a.line - b.line);
  if (examples.length === 0) throw noUsable(fileName, problems);
  return { format: form, examples, problems, rendering: renderer.usesModelTemplate ? 'template' : 'fallback', preview };
}

function parseFile(text: string, ext: string, fileName: string): { records: RawRecord[]; problems: DatasetProblem[] } {
  if (ext === '.json') return { records: parseJsonArray(text, fileName), problems: [] };
  const parsed = parseJsonl(text);
  // A JSON array saved as .jsonl (a common export mistake): no line parses alone, but the whole file does.
  if (parsed.records.length === 0 && text.trimStart().startsWith('[')) {
    try {
      return { records: parseJsonArray(text, fileName), problems: [] };
    } catch {
      // Not a JSON array either: keep the per-line problems.
    }
  }
  return parsed;
}

interface Encoded {
  line: number;
  text: string;
  ids: number[];
  labels: number[];
}

/** Truncates to seqLen + 1 tokens; examples left without loss tokens are dropped and reported. */
function truncateAll(
  encoded: Encoded[],
  problems: DatasetProblem[],
  tokenizer: Tokenizer,
  seqLen: number,
): { examples: Example[]; preview: string } {
  const examples: Example[] = [];
  let preview = '';
  for (const e of encoded) {
    const example = truncateExample(e.ids, e.labels, seqLen);
    if (lossTokenCount(example) === 0) {
      problems.push({ line: e.line, message: truncationMessage(e.ids, e.labels, seqLen) });
      continue;
    }
    // The rendered text reads better than a decode (no tokenizer spacing artefacts) unless it was cut.
    if (examples.length === 0) preview = e.ids.length === example.ids.length ? e.text : truncatedPreview(example, tokenizer);
    examples.push(example);
  }
  return { examples, preview };
}

/** Normalizes records; the file's form is the form of the first valid record, the other form is a problem. */
function validateRecords(records: RawRecord[], problems: DatasetProblem[]): { form?: RecordForm; conversations: Conversation[] } {
  let form: RecordForm | undefined;
  let formLine = 0;
  const conversations: Conversation[] = [];
  for (const r of records) {
    const result = normalizeRecord(r.value);
    if (!result.ok) {
      problems.push({ line: r.line, message: result.message });
    } else if (form !== undefined && result.form !== form) {
      problems.push({
        line: r.line,
        message: `${result.form} record in a file of ${form} records (the form was set by line ${formLine})`,
      });
    } else {
      form ??= result.form;
      formLine ||= r.line;
      conversations.push({ line: r.line, messages: result.messages });
    }
  }
  return { form, conversations };
}

function refuseIfBad(fileName: string, problems: DatasetProblem[], o: DatasetOptions): void {
  if (o.onBadLine !== 'refuse' || problems.length === 0) return;
  const sorted = [...problems].sort((a, b) => a.line - b.line);
  const first = sorted[0];
  const others = sorted.length - 1;
  const more = others > 0 ? ` (and ${others} other problem${others === 1 ? '' : 's'})` : '';
  throw new Error(`${fileName}: line ${first.line}: ${first.message}${more}. Fix the file, or choose to skip bad lines.`);
}

function noUsable(fileName: string, problems: DatasetProblem[]): Error {
  const sorted = [...problems].sort((a, b) => a.line - b.line);
  const shown = sorted.slice(0, 3).map((p) => `line ${p.line}: ${p.message}`).join('; ');
  return new Error(`${fileName} has no usable examples (${sorted.length} problem${sorted.length === 1 ? '' : 's'}${shown ? `: ${shown}` : ''})`);
}

function truncationMessage(ids: number[], labels: number[], seqLen: number): string {
  const firstLoss = labels.findIndex((l, t) => t > 0 && l !== -100);
  if (firstLoss < 0) return 'no tokens carry loss (nothing to train on)';
  return (
    `no loss tokens left after truncation to seqLen + 1 = ${seqLen + 1} tokens: the example has ${ids.length} ` +
    `tokens and its first response token is token ${firstLoss + 1}; increase seqLen or shorten the prompt`
  );
}

function truncatedPreview(e: Example, tokenizer: Tokenizer): string {
  return `${tokenizer.decode(e.ids, false)}\n[… truncated to seqLen + 1 = ${e.ids.length} tokens]`;
}

/** The summary has no field for the rendering, so a fallback format is announced at the top of the preview. */
function previewOf(p: Prepared): string {
  if (p.rendering !== 'fallback') return p.preview;
  const style = FALLBACK_FORMATS[p.format === 'alpaca' ? 'alpaca' : 'chat'];
  return `[The model has no chat template; using the plain fallback format: ${style}]\n\n${p.preview}`;
}
