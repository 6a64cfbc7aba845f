import { describe, expect, it } from 'vitest';
import { chatRenderer, encodeConversation, renderChatTemplate, type ChatMessage } from '../../src/data/chatTemplate';
import { loadTokenizer } from '../../src/data/tokenizer';
import { chatmlTokenizer, fixtureTokenizer, lossRuns, readFixture } from './fixtures';
import { CHATML_QWEN2, LLAMA2_INST, THINK_LAST } from './templates';

const TWO_TURNS: ChatMessage[] = [
  { role: 'user', content: 'hi there' },
  { role: 'assistant', content: 'Hello! How are you?' },
  { role: 'user', content: 'Say hi again.' },
  { role: 'assistant', content: 'Hi again.' },
];

describe('ChatML (Qwen2) template', () => {
  const tok = chatmlTokenizer(CHATML_QWEN2);

  it('renders like transformers apply_chat_template', () => {
    const text = renderChatTemplate(CHATML_QWEN2, TWO_TURNS.slice(0, 1), true, { eosToken: '<|im_end|>' });
    expect(text).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('puts loss exactly on each answer and its <|im_end|>', () => {
    const e = encodeConversation(TWO_TURNS, tok, chatRenderer(tok, 'chat'));
    expect(e.text).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\nHello! How are you?<|im_end|>\n' +
        '<|im_start|>user\nSay hi again.<|im_end|>\n<|im_start|>assistant\nHi again.<|im_end|>\n',
    );
    expect(e.ids).toEqual(tok.encode(e.text, { addSpecialTokens: false }));
    expect(e.ids.filter((id) => id === 50301)).toHaveLength(5); // <|im_end|> is one special token
    expect(lossRuns(tok, e.ids, e.labels)).toEqual(['Hello! How are you?<|im_end|>', 'Hi again.<|im_end|>']);
    // The trailing "\n" after <|im_end|> is not trained: the last token has no loss.
    expect(e.labels[e.labels.length - 1]).toBe(-100);
  });

  it('trains on everything when asked', () => {
    const e = encodeConversation(TWO_TURNS, tok, chatRenderer(tok, 'chat'), true);
    expect(e.labels).toEqual(e.ids);
  });
});

describe('Llama-2 [INST] template', () => {
  const json = readFixture('models/tiny-random-llama/tokenizer.json');
  const config = JSON.parse(readFixture('models/tiny-random-llama/tokenizer_config.json')) as Record<string, unknown>;
  const tok = loadTokenizer(json, { ...config, chat_template: LLAMA2_INST });
  const withSystem: ChatMessage[] = [{ role: 'system', content: 'Be nice.' }, ...TWO_TURNS];

  it('renders the known Llama-2 chat format', () => {
    const r = chatRenderer(tok, 'chat');
    expect(r.usesModelTemplate).toBe(true);
    expect(r.render(withSystem, false)).toBe(
      '<s>[INST] <<SYS>>\nBe nice.\n<</SYS>>\n\nhi there [/INST] Hello! How are you? </s><s>[INST] Say hi again. [/INST] Hi again. </s>',
    );
  });

  it('masks: loss tokens decode to each answer plus " </s>", BOS comes from the template', () => {
    const e = encodeConversation(withSystem, tok, chatRenderer(tok, 'chat'));
    expect(e.ids[0]).toBe(1);
    expect(e.ids.filter((id) => id === 1)).toHaveLength(2); // one <s> per user turn, none added by encode
    expect(lossRuns(tok, e.ids, e.labels)).toEqual(['Hello! How are you? </s>', 'Hi again. </s>']);
  });

  it('the fixture model template (with its default-system-prompt branch) masks the same way', () => {
    const own = fixtureTokenizer('tiny-random-llama');
    const e = encodeConversation(TWO_TURNS, own, chatRenderer(own, 'chat'));
    expect(lossRuns(own, e.ids, e.labels)).toEqual(['Hello! How are you? </s>', 'Hi again. </s>']);
  });

  it('surfaces raise_exception from the template', () => {
    const bad: ChatMessage[] = [{ role: 'assistant', content: 'x' }];
    expect(() => encodeConversation(bad, tok, chatRenderer(tok, 'chat'))).toThrow(/roles must alternate/);
  });
});

describe('templates that re-render earlier turns (Qwen3-like)', () => {
  it('finds the earlier answer by search, the last one by prefix', () => {
    const tok = chatmlTokenizer(THINK_LAST);
    const e = encodeConversation(TWO_TURNS, tok, chatRenderer(tok, 'chat'));
    expect(e.text).toContain('assistant\nHello! How are you?<|im_end|>'); // no think block on turn 1
    expect(lossRuns(tok, e.ids, e.labels)).toEqual([
      'Hello! How are you?<|im_end|>',
      '<think>\n\n</think>\n\nHi again.<|im_end|>',
    ]);
  });

  it('does not match the answer text inside an earlier user turn', () => {
    const tok = chatmlTokenizer(THINK_LAST);
    const echo: ChatMessage[] = [
      { role: 'user', content: 'Repeat: OK' },
      { role: 'assistant', content: 'OK' },
      { role: 'user', content: 'again' },
      { role: 'assistant', content: 'OK' },
    ];
    const e = encodeConversation(echo, tok, chatRenderer(tok, 'chat'));
    expect(lossRuns(tok, e.ids, e.labels)).toEqual(['OK<|im_end|>', '<think>\n\n</think>\n\nOK<|im_end|>']);
  });
});

describe('fallback formats (no chat template)', () => {
  const tok = fixtureTokenizer('stories260K');

  it('alpaca: ### Instruction / ### Response, BOS when the model adds one, EOS after the answer', () => {
    const multi = chatRenderer(tok, 'alpaca').render(
      [{ role: 'system', content: 'S' }, ...TWO_TURNS.slice(0, 3)],
      true,
    );
    expect(multi).toBe(
      '<s>S\n\n### Instruction:\nhi there\n\n### Response:\nHello! How are you?</s>\n\n### Instruction:\nSay hi again.\n\n### Response:\n',
    );
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'Name a color.' },
      { role: 'assistant', content: 'Red.' },
    ];
    const r = chatRenderer(tok, 'alpaca');
    expect(r.usesModelTemplate).toBe(false);
    const e = encodeConversation(msgs, tok, r);
    expect(e.text).toBe('<s>### Instruction:\nName a color.\n\n### Response:\nRed.</s>');
    expect(lossRuns(tok, e.ids, e.labels)).toEqual(['Red.</s>']);
  });

  it('chat: "role: content" lines; GPT-2 gets no BOS, the space before the answer belongs to it', () => {
    const gpt2 = fixtureTokenizer('tiny-random-gpt2');
    const e = encodeConversation(TWO_TURNS, gpt2, chatRenderer(gpt2, 'chat'));
    expect(e.text).toBe(
      'user: hi there\nassistant: Hello! How are you?<|endoftext|>\nuser: Say hi again.\nassistant: Hi again.<|endoftext|>',
    );
    expect(lossRuns(gpt2, e.ids, e.labels)).toEqual([' Hello! How are you?<|endoftext|>', ' Hi again.<|endoftext|>']);
  });
});
