/**
 * Chat rendering and assistant-only loss masks.
 *
 * Rendering: the model's Jinja `chat_template` (tokenizer_config.json) through @huggingface/jinja, with the same
 * variables transformers' apply_chat_template passes (messages, add_generation_prompt, bos_token, eos_token,
 * pad_token, unk_token). Models without a template get a documented plain fallback (see FALLBACK_FORMATS).
 *
 * Masking, for any template: for the assistant message at index i we render
 *   prefix_i = render(messages[0..i), add_generation_prompt = true)   // ends where the model starts answering
 *   full_i   = render(messages[0..i],  add_generation_prompt = false)  // ends after the answer and its end token
 * The answer's character span in the full conversation text is [len(prefix_i), len(full_i)), with trailing
 * whitespace dropped (so ChatML's "<|im_end|>" is trained but the "\n" after it is not). Character positions are
 * turned into token positions by tokenizing text[0..p] and taking the common prefix with the ids of the whole
 * text, because tokenizing segments separately would not reproduce the ids of the whole (SentencePiece prepends
 * "▁" to every separately encoded piece).
 *
 * Limits: (1) a token that straddles a prompt/answer boundary counts as answer (it carries loss);
 * (2) templates that render earlier turns differently once later turns exist (e.g. Qwen3 dropping <think> blocks
 * from history) fail the prefix check; for those turns the answer is located by searching for its (trimmed)
 * content after the previous answer and after the text the prompt shares with the conversation, plus the
 * end-of-turn text the template put after it in full_i;
 * (3) templates that read more variables (tools, documents) render as if those were absent.
 */
import { Template } from '@huggingface/jinja';
import type { Tokenizer } from './tokenizer';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** Which plain format to use when the model has no chat template. */
export type FallbackStyle = 'alpaca' | 'chat';

export interface ChatRenderer {
  /** True when the model's own chat_template renders; false for the plain fallback format. */
  readonly usesModelTemplate: boolean;
  render(messages: ChatMessage[], addGenerationPrompt: boolean): string;
}

/** Plain formats used without a chat template; shown to the user in the dataset summary. */
export const FALLBACK_FORMATS: Record<FallbackStyle, string> = {
  alpaca:
    '[BOS][system + "\\n\\n"]### Instruction:\\n{user}\\n\\n### Response:\\n{assistant}[EOS] ' +
    '(BOS only when the model adds one)',
  chat: '[BOS]"{role}: {content}" lines joined by "\\n", the EOS token right after each assistant content; prompt "assistant:"',
};

export interface SpecialTokens {
  bosToken?: string;
  eosToken?: string;
  padToken?: string;
  unkToken?: string;
}

/** Renders one conversation with a Jinja chat template string, like transformers' apply_chat_template. */
export function renderChatTemplate(
  template: string | Template,
  messages: ChatMessage[],
  addGenerationPrompt: boolean,
  special: SpecialTokens = {},
): string {
  const compiled = typeof template === 'string' ? new Template(template) : template;
  return compiled.render({
    messages,
    add_generation_prompt: addGenerationPrompt,
    bos_token: special.bosToken ?? '',
    eos_token: special.eosToken ?? '',
    pad_token: special.padToken ?? '',
    unk_token: special.unkToken ?? '',
  });
}

/** The model's template when it has one, else the fallback format of `style`. */
export function chatRenderer(tokenizer: Tokenizer, style: FallbackStyle): ChatRenderer {
  const special: SpecialTokens = {
    bosToken: tokenizer.bosToken,
    eosToken: tokenizer.eosToken,
    padToken: tokenizer.padToken,
    unkToken: tokenizer.unkToken,
  };
  if (tokenizer.chatTemplate) {
    let compiled: Template;
    try {
      compiled = new Template(tokenizer.chatTemplate);
    } catch (e) {
      throw new Error(`The model's chat_template could not be parsed: ${(e as Error).message}`);
    }
    return { usesModelTemplate: true, render: (m, gen) => renderChatTemplate(compiled, m, gen, special) };
  }
  const bos = tokenizer.addsBos ? (tokenizer.bosToken ?? '') : '';
  const eos = tokenizer.eosToken ?? '';
  const render = style === 'alpaca' ? renderAlpacaFallback : renderChatFallback;
  return { usesModelTemplate: false, render: (m, gen) => bos + render(m, gen, eos) };
}

function renderAlpacaFallback(messages: ChatMessage[], _gen: boolean, eos: string): string {
  // "### Response:" ends the instruction block, so the generation prompt adds nothing; nothing follows the last
  // answer's EOS (a trailing separator would only be untrained padding).
  let out = '';
  messages.forEach((m, i) => {
    if (m.role === 'system') out += `${m.content}\n\n`;
    else if (m.role === 'user') out += `${i > 0 && messages[i - 1].role === 'assistant' ? '\n\n' : ''}### Instruction:\n${m.content}\n\n### Response:\n`;
    else out += `${m.content}${eos}`;
  });
  return out;
}

/**
 * Lines "role: content" joined by "\n". The prompt ends in "assistant:" without the space: BPE tokenizers
 * (GPT-2) merge the space into the next word, so a prompt ending in a bare space would be a token sequence the
 * model never sees in training.
 */
function renderChatFallback(messages: ChatMessage[], gen: boolean, eos: string): string {
  const lines = messages.map((m) => `${m.role}: ${m.content}${m.role === 'assistant' ? eos : ''}`);
  if (gen) lines.push('assistant:');
  return lines.join('\n');
}

/** Character spans [start, end) of every assistant answer (with its end-of-turn text) in `text`. */
export function assistantSpans(messages: ChatMessage[], renderer: ChatRenderer): { text: string; spans: Array<[number, number]> } {
  const text = renderer.render(messages, false);
  const spans: Array<[number, number]> = [];
  let searchFrom = 0;
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const prefix = renderer.render(messages.slice(0, i), true);
    const full = renderer.render(messages.slice(0, i + 1), false);
    let span: [number, number];
    if (full.startsWith(prefix) && text.startsWith(full)) {
      span = [prefix.length, trimEndIndex(full, prefix.length)];
    } else {
      const from = Math.max(searchFrom, commonPrefixLength(text, prefix));
      span = searchSpan(text, from, m.content, full.startsWith(prefix) ? full.slice(prefix.length) : '');
    }
    if (span[1] <= span[0]) throw new Error(`assistant message ${i + 1} renders to nothing`);
    spans.push(span);
    searchFrom = span[1];
  });
  return { text, spans };
}

function commonPrefixLength(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** End of `s` with trailing whitespace removed, but never before `min`. */
function trimEndIndex(s: string, min: number): number {
  let end = s.length;
  while (end > min && /\s/.test(s[end - 1])) end--;
  return end;
}

/** Fallback for templates that are not prefix-stable: find the content, then the end-of-turn text after it. */
function searchSpan(text: string, from: number, content: string, response: string): [number, number] {
  const needle = content.trim();
  const start = text.indexOf(needle, from);
  if (needle === '' || start < 0) {
    throw new Error('the chat template changes earlier turns and the assistant content was not found in the rendered text');
  }
  let end = start + needle.length;
  const at = response.lastIndexOf(needle);
  if (at >= 0) {
    const tail = response.slice(at + needle.length);
    const tailEnd = trimEndIndex(tail, 0);
    if (text.startsWith(tail.slice(0, tailEnd), end)) end += tailEnd;
  }
  return [start, end];
}

export interface EncodedConversation {
  /** Rendered text (template applied). */
  text: string;
  ids: number[];
  /** Token id where the token carries loss, -100 elsewhere (not shifted). */
  labels: number[];
}

/**
 * Tokenizes a conversation; only assistant answers (and their end token) carry loss unless trainOnAllTokens.
 * Like apply_chat_template(tokenize=True), the rendered text is encoded without adding special tokens: the
 * template (or the fallback) already wrote BOS where the model wants it.
 */
export function encodeConversation(
  messages: ChatMessage[],
  tokenizer: Tokenizer,
  renderer: ChatRenderer,
  trainOnAllTokens = false,
): EncodedConversation {
  if (trainOnAllTokens) {
    const text = renderer.render(messages, false);
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    return { text, ids, labels: ids.slice() };
  }
  const { text, spans } = assistantSpans(messages, renderer);
  const ids = tokenizer.encode(text, { addSpecialTokens: false });
  const labels = new Array<number>(ids.length).fill(-100);
  const tokenAt = tokenIndexer(text, ids, tokenizer);
  for (const [start, end] of spans) {
    for (let t = tokenAt(start); t < tokenAt(end); t++) labels[t] = ids[t];
  }
  return { text, ids, labels };
}

/** Maps a character position to the index of the first token not entirely before it (see module comment). */
function tokenIndexer(text: string, ids: number[], tokenizer: Tokenizer): (pos: number) => number {
  const cache = new Map<number, number>();
  return (pos) => {
    if (pos <= 0) return 0;
    if (pos >= text.length) return ids.length;
    let index = cache.get(pos);
    if (index === undefined) {
      const head = tokenizer.encode(text.slice(0, pos), { addSpecialTokens: false });
      index = 0;
      while (index < head.length && index < ids.length && head[index] === ids[index]) index++;
      cache.set(pos, index);
    }
    return index;
  };
}
