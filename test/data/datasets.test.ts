import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/datasets';
import { lossTokenCount } from '../../src/data/pack';
import { CHATML_QWEN2 } from './templates';
import { chatmlTokenizer, fixtureBlob, fixtureTokenizer, lossRuns, options, readFixture, textBlob } from './fixtures';

const IDENTITY = JSON.parse(readFixture('datasets/llamafactory_identity/identity.json')) as Array<{ instruction: string; output: string }>;

describe('alpaca .json (identity.json)', () => {
  it('without a chat template: fallback format, loss exactly on output + EOS', async () => {
    const tok = fixtureTokenizer('stories260K');
    const d = await loadDataset(fixtureBlob('datasets/llamafactory_identity/identity.json'), tok, options({ seqLen: 512, valFraction: 0 }));
    expect(d.summary).toMatchObject({ fileName: 'identity.json', format: 'alpaca', examples: 91, trainExamples: 91, valExamples: 0, problems: [] });
    expect(d.rendering).toBe('fallback');
    expect(d.summary.preview).toMatch(/^\[The model has no chat template; using the plain fallback format: /);
    expect(d.summary.preview).toContain('\n\n<s>### Instruction:\nhi\n\n### Response:\nHello! I am {{name}}, an AI assistant developed by {{author}}.');
    d.train.forEach((e, i) => {
      expect(e.ids[0]).toBe(1);
      expect(lossRuns(tok, e.ids, e.labels)).toEqual([IDENTITY[i].output + '</s>']);
    });
    expect(d.summary.lossTokens).toBe(d.train.reduce((s, e) => s + lossTokenCount(e), 0));
    expect(d.summary.tokens).toBe(d.train.reduce((s, e) => s + e.ids.length, 0));
  });

  it('splits 91 examples into 82 train / 9 validation with valFraction 0.1', async () => {
    const d = await loadDataset(fixtureBlob('datasets/llamafactory_identity/identity.json'), fixtureTokenizer('tiny-random-gpt2'), options({ seqLen: 512 }));
    expect([d.summary.trainExamples, d.summary.valExamples, d.train.length, d.val.length]).toEqual([82, 9, 82, 9]);
  });
});

describe('chat .jsonl (identity_messages.jsonl)', () => {
  const file = 'datasets/llamafactory_identity/identity_messages.jsonl';

  it('with the Llama-2 template: loss on each answer + " </s>", preview is the rendered text', async () => {
    const tok = fixtureTokenizer('tiny-random-llama');
    const d = await loadDataset(fixtureBlob(file), tok, options({ seqLen: 256, valFraction: 0 }));
    expect(d.summary).toMatchObject({ format: 'chat', examples: 91, problems: [] });
    expect(d.rendering).toBe('template');
    expect(d.summary.preview).toBe(
      '<s>[INST] hi [/INST] Hello! I am {{name}}, an AI assistant developed by {{author}}. How can I assist you today? </s>',
    );
    d.train.forEach((e, i) => expect(lossRuns(tok, e.ids, e.labels)).toEqual([IDENTITY[i].output.trim() + ' </s>']));
  });

  it('gives the same examples as the alpaca file (instruction with empty input == user message)', async () => {
    const tok = fixtureTokenizer('tiny-random-llama');
    const o = options({ seqLen: 256, seed: 7 });
    const chat = await loadDataset(fixtureBlob(file), tok, o);
    const alpaca = await loadDataset(fixtureBlob('datasets/llamafactory_identity/identity.json'), tok, o);
    expect(chat.train.map((e) => Array.from(e.ids))).toEqual(alpaca.train.map((e) => Array.from(e.ids)));
    expect(chat.val.map((e) => Array.from(e.labels))).toEqual(alpaca.val.map((e) => Array.from(e.labels)));
  });

  it('trainOnAllTokens puts loss on every token', async () => {
    const d = await loadDataset(fixtureBlob(file), fixtureTokenizer('tiny-random-gpt2'), options({ trainOnAllTokens: true, valFraction: 0, seqLen: 512 }));
    for (const e of d.train) expect(Array.from(e.labels)).toEqual(Array.from(e.ids));
    expect(d.summary.lossTokens).toBe(d.summary.tokens - d.train.length);
  });
});

describe('ShareGPT conversations', () => {
  it('maps human/gpt/system to user/assistant/system', async () => {
    const tok = chatmlTokenizer(CHATML_QWEN2);
    const line = JSON.stringify({
      conversations: [
        { from: 'system', value: 'Be brief.' },
        { from: 'human', value: 'Capital of France?' },
        { from: 'gpt', value: 'Paris.' },
      ],
    });
    const d = await loadDataset(textBlob('sg.jsonl', line + '\n'), tok, options({ valFraction: 0 }));
    expect(d.summary.format).toBe('chat');
    expect(d.summary.preview).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\nParis.<|im_end|>\n',
    );
    expect(lossRuns(tok, d.train[0].ids, d.train[0].labels)).toEqual(['Paris.<|im_end|>']);
  });
});

const BAD_ALPACA = [
  '{"instruction": "Say hi", "output": "Hi!"}',
  '{"instruction": "Count", "input": "1 2", "output": "3"}',
  '{not json}',
  '[1, 2]',
  '',
  '{"instruction": "No output"}',
  '{"instruction": "x", "input": 5, "output": "y"}',
  '{"instruction": "x", "output": "   "}',
  '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}',
  '{"instruction": "Last", "output": "Done."}',
].join('\r\n');

describe('bad lines', () => {
  const tok = fixtureTokenizer('stories260K');

  it('skip: drops them and reports each with its 1-based line and a precise message', async () => {
    const d = await loadDataset(textBlob('bad.jsonl', BAD_ALPACA), tok, options({ valFraction: 0 }));
    expect(d.summary.examples).toBe(3);
    expect(d.summary.format).toBe('alpaca');
    const problems = d.summary.problems;
    expect(problems.map((p) => p.line)).toEqual([3, 4, 6, 7, 8, 9]);
    expect(problems[0].message).toMatch(/^invalid JSON: .* at column 2$/); // V8: "... at position 1" → column
    expect(problems[1].message).toBe('expected a JSON object, got an array');
    expect(problems[2].message).toBe('missing "output" (alpaca records need "instruction" and "output" strings)');
    expect(problems[3].message).toBe('"input" must be a string, got number 5');
    expect(problems[4].message).toBe('empty "output": there is no response to train on');
    expect(problems[5].message).toBe('chat record in a file of alpaca records (the form was set by line 1)');
  });

  it('refuse: throws naming the file, the first bad line, its problem and the count of others', async () => {
    await expect(loadDataset(textBlob('bad.jsonl', BAD_ALPACA), tok, options({ onBadLine: 'refuse' }))).rejects.toThrow(
      /^bad\.jsonl: line 3: invalid JSON: .* \(and 5 other problems\)\. Fix the file, or choose to skip bad lines\.$/,
    );
  });

  it('refuse accepts a clean file', async () => {
    const d = await loadDataset(textBlob('ok.jsonl', BAD_ALPACA.split('\r\n').slice(0, 2).join('\n')), tok, options({ onBadLine: 'refuse' }));
    expect(d.summary.examples).toBe(2);
  });

  it('chat records: roles, content types, missing answers', async () => {
    const lines = [
      { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] },
      { messages: [{ role: 'bot', content: 'q' }] },
      { messages: [{ role: 'user', content: 7 }] },
      { messages: [{ role: 'user', content: 'only a question' }] },
      { messages: [] },
      { messages: 'hello' },
      { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: '' }] },
      { conversations: [{ from: 'robot', value: 'x' }] },
      { messages: [{ role: 'user', content: [{ type: 'text', text: 'parts ' }, { type: 'text', value: 'work' }] }, { role: 'assistant', content: 'ok' }] },
      { prompt: 'x', completion: 'y' },
    ].map((r) => JSON.stringify(r));
    const d = await loadDataset(textBlob('chat.jsonl', lines.join('\n')), tok, options({ valFraction: 0 }));
    expect(d.summary.examples).toBe(2);
    expect(d.summary.problems).toEqual([
      { line: 2, message: 'messages[0].role "bot" is not one of "system", "user", "assistant"' },
      { line: 3, message: 'messages[0].content must be a string or a list of text parts, got number 7' },
      { line: 4, message: '"messages" has no assistant message: there is no response to train on' },
      { line: 5, message: '"messages" is empty' },
      { line: 6, message: '"messages" must be an array of messages, got string "hello"' },
      { line: 7, message: 'messages[1] is an assistant message with empty content' },
      { line: 8, message: 'conversations[0].from "robot" is not one of "human", "gpt", "system"' },
      {
        line: 10,
        message: 'unrecognised record: expected alpaca keys "instruction"/"output" or chat key "messages"/"conversations" (found "prompt", "completion")',
      },
    ]);
    expect(tok.decode(d.train[1].ids, false)).toBe('<s> user: parts work\nassistant: ok</s>');
  });

  it('template errors are bad lines too', async () => {
    const tok2 = fixtureTokenizer('tiny-random-llama');
    const lines = [
      JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] }),
      JSON.stringify({ messages: [{ role: 'assistant', content: 'a' }] }),
    ];
    const d = await loadDataset(textBlob('t.jsonl', lines.join('\n')), tok2, options({ valFraction: 0 }));
    expect(d.summary.problems).toEqual([
      { line: 2, message: expect.stringMatching(/^could not render with the chat template: .*roles must alternate/) as unknown as string },
    ]);
    await expect(loadDataset(textBlob('t.jsonl', lines.join('\n')), tok2, options({ onBadLine: 'refuse' }))).rejects.toThrow(/t\.jsonl: line 2: could not render/);
  });

  it('a file with no usable record is an error listing the first problems', async () => {
    await expect(loadDataset(textBlob('x.jsonl', '{}\n[]\n"s"\n{"a":1}\n'), tok, options())).rejects.toThrow(
      /^x\.jsonl has no usable examples \(4 problems: line 1: unrecognised record.*; line 2: expected a JSON object, got an array; line 3: expected a JSON object, got string "s"\)$/,
    );
  });
});

describe('.json files', () => {
  const tok = fixtureTokenizer('stories260K');

  it('accepts {"data": [...]} and reports records by the line they start on', async () => {
    const doc = {
      meta: { list: [1, 2, { nested: ['[', '{', 'quote " and \\ backslash'] }] },
      data: [
        { instruction: 'a', output: 'b', tags: ['x', 'y'] },
        { instruction: 'c' },
        { instruction: 'multi\nline', output: 'ok' },
        { instruction: 'd', output: 42 },
      ],
    };
    const text = JSON.stringify(doc, null, 2);
    const lines = text.split('\n');
    const startOf = (key: string): number => lines.findIndex((l) => l.includes(key)); // 0-based key line = 1-based "{" line
    const d = await loadDataset(textBlob('d.json', text), tok, options({ valFraction: 0 }));
    expect(d.summary.examples).toBe(2);
    expect(d.summary.problems).toEqual([
      { line: startOf('"instruction": "c"'), message: expect.stringContaining('missing "output"') as unknown as string },
      { line: startOf('"instruction": "d"'), message: '"output" must be a string, got number 42' },
    ]);
    expect(startOf('"instruction": "c"')).toBe(24);
  });

  it('a compact top-level array: records sharing a line share its number', async () => {
    const text = '[{"instruction": "a", "output": "b"},\n{"instruction": "c"}, {"instruction": "[{", "output": 1}]';
    const d = await loadDataset(textBlob('c.json', text), tok, options({ valFraction: 0 }));
    expect(d.summary.problems.map((p) => p.line)).toEqual([2, 2]);
  });

  it('a JSON array saved as .jsonl is read as an array', async () => {
    const text = JSON.stringify([{ instruction: 'a', output: 'b' }, { instruction: 'c', output: 'd' }], null, 2);
    const d = await loadDataset(textBlob('arr.jsonl', text), tok, options({ valFraction: 0 }));
    expect(d.summary).toMatchObject({ examples: 2, problems: [] });
  });

  it('invalid JSON is a whole-file error with the line where parsing stopped', async () => {
    const text = '[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c" "output": "d"}\n]';
    await expect(loadDataset(textBlob('broken.json', text), tok, options())).rejects.toThrow(/^broken\.json is not valid JSON at line 3: /);
  });

  it('other shapes are refused', async () => {
    await expect(loadDataset(textBlob('o.json', '{"rows": []}'), tok, options())).rejects.toThrow(
      'o.json must hold a JSON array of records, or an object with a "data" array',
    );
    await expect(loadDataset(textBlob('e.json', '[]'), tok, options())).rejects.toThrow('e.json contains no records');
  });
});

describe('truncation', () => {
  it('keeps the beginning; an example whose answer is cut off entirely is reported and dropped', async () => {
    const tok = fixtureTokenizer('stories260K');
    const long = 'word '.repeat(30).trim();
    const text = [
      JSON.stringify({ instruction: 'Hi', output: 'Hello there, this answer is long enough to be cut.' }),
      JSON.stringify({ instruction: long, output: 'short' }),
    ].join('\n');
    const d = await loadDataset(textBlob('t.jsonl', text), tok, options({ seqLen: 40, valFraction: 0, onBadLine: 'refuse' }));
    expect(d.summary.examples).toBe(1);
    expect(d.summary.problems).toHaveLength(1);
    expect(d.summary.problems[0].line).toBe(2);
    expect(d.summary.problems[0].message).toMatch(/^no loss tokens left after truncation to seqLen \+ 1 = 41 tokens: the example has \d+ tokens/);
    const e = d.train[0];
    expect(e.ids.length).toBe(41);
    expect(lossTokenCount(e)).toBeGreaterThan(0);
    const full = tok.encode('<s>### Instruction:\nHi\n\n### Response:\nHello there, this answer is long enough to be cut.</s>', { addSpecialTokens: false });
    expect(full.length).toBeGreaterThan(41);
    expect(Array.from(e.ids)).toEqual(full.slice(0, 41));
    expect(d.summary.preview).toMatch(/\n\[… truncated to seqLen \+ 1 = 41 tokens\]$/);
  });
});

describe('file-level errors', () => {
  const tok = fixtureTokenizer('stories260K');

  it('empty files', async () => {
    await expect(loadDataset(textBlob('e.jsonl', ''), tok, options())).rejects.toThrow('e.jsonl is empty');
    await expect(loadDataset(textBlob('e.txt', ' \n\n '), tok, options())).rejects.toThrow('e.txt is empty');
  });

  it('unsupported extensions name the extension and list the supported ones', async () => {
    await expect(loadDataset(textBlob('data.CSV', 'a,b\n1,2'), tok, options())).rejects.toThrow(
      'data.CSV has the unsupported extension ".csv". Supported dataset files: .txt, .jsonl, .json (CSV and Parquet are planned).',
    );
    await expect(loadDataset(textBlob('train.parquet', 'PAR1'), tok, options())).rejects.toThrow(/unsupported extension "\.parquet"/);
    await expect(loadDataset(textBlob('README', 'x'), tok, options())).rejects.toThrow(/^README has no extension\. Supported/);
  });

  it('bad options', async () => {
    await expect(loadDataset(textBlob('a.txt', 'abc'), tok, options({ seqLen: 0 }))).rejects.toThrow(/seqLen must be a positive integer/);
    await expect(loadDataset(textBlob('a.txt', 'abc'), tok, options({ valFraction: 1 }))).rejects.toThrow(/valFraction must be in \[0, 1\)/);
  });
});
