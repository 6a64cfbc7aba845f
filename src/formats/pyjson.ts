/**
 * Byte-exact emulation of Python's `json.dumps(value, indent=2, sort_keys=True)` (ensure_ascii on, the default),
 * which is how PEFT writes adapter_config.json. Files we export should diff cleanly against files PEFT writes.
 *
 * JavaScript has one number type, Python two: `0.0` and `0` print differently. Keys listed in `floatKeys` are
 * always printed as Python floats; every other integral number is printed as a Python int.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface PyJsonOptions {
  indent?: number;
  sortKeys?: boolean;
  /** Object keys whose numeric values are Python floats (e.g. lora_dropout: 0 → "0.0"). */
  floatKeys?: ReadonlySet<string>;
}

export function pythonJsonDumps(value: JsonValue, options: PyJsonOptions = {}): string {
  const opts = { indent: options.indent ?? 2, sortKeys: options.sortKeys ?? true, floatKeys: options.floatKeys ?? new Set<string>() };
  return encode(value, 0, false, opts);
}

function encode(value: JsonValue, level: number, asFloat: boolean, opts: Required<PyJsonOptions>): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return asFloat || !Number.isInteger(value) ? pythonFloatRepr(value) : pythonIntRepr(value);
  if (typeof value === 'string') return pythonJsonString(value);
  const pad = ' '.repeat(opts.indent * (level + 1));
  const end = ' '.repeat(opts.indent * level);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const items = value.map((v) => pad + encode(v, level + 1, asFloat, opts));
    return `[\n${items.join(',\n')}\n${end}]`;
  }
  const keys = Object.keys(value);
  if (keys.length === 0) return '{}';
  if (opts.sortKeys) keys.sort(compareCodePoints);
  const items = keys.map((k) => `${pad}${pythonJsonString(k)}: ${encode(value[k], level + 1, opts.floatKeys.has(k), opts)}`);
  return `{\n${items.join(',\n')}\n${end}}`;
}

function pythonIntRepr(x: number): string {
  // Beyond 2^53 a JS number is not an exact integer anyway; BigInt prints the digits Python would.
  return Math.abs(x) < 1e21 ? String(x) : BigInt(x).toString();
}

/** Python's `repr(float)`: shortest round-trip digits, scientific below 1e-4 and from 1e16 on, "e-05" style. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mantissa, expText] = Math.abs(x).toExponential().split('e');
  const exp = Number(expText);
  const digits = mantissa.replace('.', '');
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  if (exp >= digits.length - 1) return `${sign}${digits}${'0'.repeat(exp - digits.length + 1)}.0`;
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

const SHORT_ESCAPES: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t', 0x08: '\\b', 0x0c: '\\f' };

/** Python's ensure_ascii string encoding: everything outside printable ASCII becomes \uXXXX (lowercase hex). */
export function pythonJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const short = SHORT_ESCAPES[c];
    if (short !== undefined) out += short;
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return `${out}"`;
}

/**
 * Orders strings by Unicode code point, which is how Python sorts str and how Rust sorts String (UTF-8 byte
 * order equals code-point order). JavaScript's default `<` compares UTF-16 units, which differs for astral
 * characters versus U+E000..U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i) as number;
    const cb = b.codePointAt(i) as number;
    if (ca !== cb) return ca - cb;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}
