/**
 * Validates instruction/chat records and turns them into conversations. Two forms are accepted:
 *  - alpaca: {instruction, input?, output, system?} → [system], user: instruction (+ "\n\n" + input), assistant: output
 *  - chat:   {messages: [{role, content}]} (HF/OpenAI), or ShareGPT {conversations: [{from, value}]} with
 *            human→user, gpt→assistant. `content` may also be a list of text parts ({type:"text", text|value}).
 * Every failure is a precise, user-facing message (the line number is carried separately).
 */
import type { ChatMessage, ChatRole } from './chatTemplate';

export type RecordForm = 'alpaca' | 'chat';

export type RecordResult = { ok: true; form: RecordForm; messages: ChatMessage[] } | { ok: false; message: string };

const SHAREGPT_ROLES: Record<string, ChatRole> = {
  human: 'user',
  user: 'user',
  gpt: 'assistant',
  assistant: 'assistant',
  system: 'system',
};

/** Which form a record is trying to be, judged by its keys (so a broken record still gets a useful message). */
export function recordForm(value: unknown): RecordForm | undefined {
  if (!isObject(value)) return undefined;
  if ('messages' in value || 'conversations' in value) return 'chat';
  if ('instruction' in value || 'output' in value) return 'alpaca';
  return undefined;
}

export function normalizeRecord(value: unknown): RecordResult {
  if (!isObject(value)) return fail(`expected a JSON object, got ${describe(value)}`);
  const form = recordForm(value);
  if (form === 'alpaca') return normalizeAlpaca(value);
  if (form === 'chat') return normalizeChat(value);
  const keys = Object.keys(value).slice(0, 6).map((k) => JSON.stringify(k));
  return fail(
    `unrecognised record: expected alpaca keys "instruction"/"output" or chat key "messages"/"conversations"` +
      ` (found ${keys.length ? keys.join(', ') : 'no keys'})`,
  );
}

function normalizeAlpaca(r: Record<string, unknown>): RecordResult {
  for (const key of ['instruction', 'output']) {
    if (!(key in r)) return fail(`missing "${key}" (alpaca records need "instruction" and "output" strings)`);
  }
  for (const key of ['instruction', 'input', 'output', 'system']) {
    const v = r[key];
    if (v !== undefined && v !== null && typeof v !== 'string') return fail(`"${key}" must be a string, got ${describe(v)}`);
  }
  const instruction = (r.instruction as string | null) ?? '';
  const input = (r.input as string | null | undefined) ?? '';
  const output = (r.output as string | null) ?? '';
  const system = (r.system as string | null | undefined) ?? '';
  if (output.trim() === '') return fail('empty "output": there is no response to train on');
  if (instruction.trim() === '' && input.trim() === '') return fail('empty "instruction" and "input"');
  const user = input.trim() === '' ? instruction : `${instruction}\n\n${input}`;
  const messages: ChatMessage[] = [];
  if (system.trim() !== '') messages.push({ role: 'system', content: system });
  messages.push({ role: 'user', content: user }, { role: 'assistant', content: output });
  return { ok: true, form: 'alpaca', messages };
}

function normalizeChat(r: Record<string, unknown>): RecordResult {
  const shareGpt = !('messages' in r);
  const key = shareGpt ? 'conversations' : 'messages';
  const list = r[key];
  if (!Array.isArray(list)) return fail(`"${key}" must be an array of messages, got ${describe(list)}`);
  if (list.length === 0) return fail(`"${key}" is empty`);
  const messages: ChatMessage[] = [];
  for (let i = 0; i < list.length; i++) {
    const m = shareGpt ? shareGptMessage(list[i], i) : chatMessage(list[i], i);
    if (typeof m === 'string') return fail(m);
    messages.push(m);
  }
  const answers = messages.filter((m) => m.role === 'assistant');
  if (answers.length === 0) return fail(`"${key}" has no assistant message: there is no response to train on`);
  const emptyAt = messages.findIndex((m) => m.role === 'assistant' && m.content.trim() === '');
  if (emptyAt >= 0) return fail(`${key}[${emptyAt}] is an assistant message with empty content`);
  return { ok: true, form: 'chat', messages };
}

function chatMessage(m: unknown, i: number): ChatMessage | string {
  if (!isObject(m)) return `messages[${i}] must be an object with "role" and "content", got ${describe(m)}`;
  if (typeof m.role !== 'string') return `messages[${i}].role must be a string, got ${describe(m.role)}`;
  if (m.role !== 'system' && m.role !== 'user' && m.role !== 'assistant') {
    return `messages[${i}].role ${JSON.stringify(m.role)} is not one of "system", "user", "assistant"`;
  }
  const content = contentText(m.content);
  if (content === undefined) return `messages[${i}].content must be a string or a list of text parts, got ${describe(m.content)}`;
  return { role: m.role, content };
}

function shareGptMessage(m: unknown, i: number): ChatMessage | string {
  if (!isObject(m)) return `conversations[${i}] must be an object with "from" and "value", got ${describe(m)}`;
  if (typeof m.from !== 'string') return `conversations[${i}].from must be a string, got ${describe(m.from)}`;
  const role = SHAREGPT_ROLES[m.from];
  if (!role) return `conversations[${i}].from ${JSON.stringify(m.from)} is not one of "human", "gpt", "system"`;
  if (typeof m.value !== 'string') return `conversations[${i}].value must be a string, got ${describe(m.value)}`;
  return { role, content: m.value };
}

/** A string, or text parts [{type: "text", text}] / [{type: "text", value}] joined. */
function contentText(c: unknown): string | undefined {
  if (typeof c === 'string') return c;
  if (!Array.isArray(c)) return undefined;
  let out = '';
  for (const part of c) {
    if (!isObject(part) || part.type !== 'text') return undefined;
    const t = typeof part.text === 'string' ? part.text : part.value;
    if (typeof t !== 'string') return undefined;
    out += t;
  }
  return out;
}

function fail(message: string): RecordResult {
  return { ok: false, message };
}

/** Short description of a JSON value for messages: its type and, for scalars, the value. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  const s = JSON.stringify(v);
  return `${typeof v} ${s.length > 40 ? s.slice(0, 37) + '...' : s}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
