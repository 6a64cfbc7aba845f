/**
 * Splits a .jsonl or .json dataset file into records, each tagged with the 1-based line it starts on, so every
 * later problem can point at a line the user can open in an editor.
 */
import type { DatasetProblem } from '../run/api';

export interface RawRecord {
  line: number;
  value: unknown;
}

export interface ParsedRecords {
  records: RawRecord[];
  problems: DatasetProblem[];
}

/** One JSON value per line; blank lines are ignored (trailing newlines are common), anything else must parse. */
export function parseJsonl(text: string): ParsedRecords {
  const records: RawRecord[] = [];
  const problems: DatasetProblem[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = i + 1;
    const src = raw.replace(/\r$/, '');
    if (src.trim() === '') return;
    try {
      records.push({ line, value: JSON.parse(src) });
    } catch (e) {
      problems.push({ line, message: `invalid JSON: ${lineErrorDetail(e)}` });
    }
  });
  return { records, problems };
}

/**
 * A JSON array of records, or an object whose "data" member is that array. Invalid JSON or another shape is a
 * whole-file error (there are no records to skip to), reported with the line where parsing stopped when known.
 */
export function parseJsonArray(text: string, fileName: string): RawRecord[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const pos = jsonErrorPosition(e);
    const where = pos === undefined ? '' : ` at line ${lineAt(text, pos)}`;
    throw new Error(`${fileName} is not valid JSON${where}: ${jsonErrorDetail(e)}`);
  }
  let items: unknown[];
  let inData: boolean;
  if (Array.isArray(value)) {
    items = value;
    inData = false;
  } else if (typeof value === 'object' && value !== null && Array.isArray((value as Record<string, unknown>).data)) {
    items = (value as { data: unknown[] }).data;
    inData = true;
  } else {
    throw new Error(`${fileName} must hold a JSON array of records, or an object with a "data" array`);
  }
  const lines = elementLines(text, inData);
  return items.map((item, i) => ({ line: lines[i] ?? 1, value: item }));
}

function jsonErrorDetail(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The engine's message for one JSONL line, with its position turned into a column of that line: a bare
 * "position 1" or "line 1" next to our file line number would read as a contradiction.
 */
function lineErrorDetail(e: unknown): string {
  return jsonErrorDetail(e)
    .replace(/ in JSON at position (\d+)(?: \(line \d+ column \d+\))?/, (_, pos: string) => ` at column ${Number(pos) + 1}`)
    .replace(/ at line 1 column (\d+) of the JSON data/, ' at column $1');
}

/** V8 and SpiderMonkey mention "position N" (V8) or "line L column C" (both); take what is there. */
function jsonErrorPosition(e: unknown): number | undefined {
  const m = /position (\d+)/.exec(jsonErrorDetail(e));
  return m ? Number(m[1]) : undefined;
}

function lineAt(text: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * Start line of each element of the record array: the top-level array, or the array under the top-level key
 * "data". A small scanner over already-valid JSON: it tracks strings, nesting and (in objects) the current key.
 */
function elementLines(text: string, inData: boolean): number[] {
  const out: number[] = [];
  // Per open container: is it an array, the key it sits under (for objects' children), awaiting a key?
  const stack: Array<{ array: boolean; key?: string; expectKey: boolean; target: boolean; awaitingElement: boolean }> = [];
  let line = 1;
  let lastKey: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      line++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') continue;
    const top = stack[stack.length - 1];
    if (top?.target && top.awaitingElement && c !== ']') {
      out.push(line);
      top.awaitingElement = false;
    }
    if (c === '"') {
      const end = stringEnd(text, i);
      if (top && !top.array && top.expectKey) {
        lastKey = JSON.parse(text.slice(i, end + 1)) as string;
        top.expectKey = false;
      }
      for (let j = i; j < end; j++) if (text.charCodeAt(j) === 10) line++;
      i = end;
    } else if (c === '[' || c === '{') {
      const array = c === '[';
      const depth = stack.length;
      const target = array && (inData ? depth === 1 && !stack[0].array && lastKey === 'data' : depth === 0);
      stack.push({ array, expectKey: !array, target, awaitingElement: target });
    } else if (c === ']' || c === '}') {
      stack.pop();
    } else if (c === ',') {
      if (top?.array) top.awaitingElement = top.target;
      else if (top) top.expectKey = true;
    }
  }
  return out;
}

/** Index of the closing quote of the string starting at `start`. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '"') return i;
  }
  return text.length - 1;
}
