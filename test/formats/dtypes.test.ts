import { describe, expect, it } from 'vitest';
import { bf16BytesToF32, bf16ToNumber, f16BytesToF32, f16ToNumber, numberToBf16Bits, numberToF16Bits } from '../../src/formats/dtypes';
import { compareCodePoints, pythonFloatRepr, pythonJsonDumps, pythonJsonString } from '../../src/formats/pyjson';

/** The textbook definition of a binary16 value, to check the bit-twiddling decoder against. */
function f16Reference(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

describe('float16', () => {
  it('decodes known values', () => {
    expect(f16ToNumber(0x3c00)).toBe(1);
    expect(f16ToNumber(0xc000)).toBe(-2);
    expect(f16ToNumber(0x7bff)).toBe(65504);
    expect(f16ToNumber(0x0001)).toBe(2 ** -24);
    expect(f16ToNumber(0x0001)).toBeCloseTo(5.96e-8, 10);
    expect(f16ToNumber(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(f16ToNumber(0x0400)).toBe(2 ** -14); // smallest normal
    expect(f16ToNumber(0x3555)).toBe(0.333251953125);
    expect(f16ToNumber(0x7c00)).toBe(Infinity);
    expect(f16ToNumber(0xfc00)).toBe(-Infinity);
    expect(f16ToNumber(0x7e00)).toBeNaN();
    expect(Object.is(f16ToNumber(0x8000), -0)).toBe(true);
  });

  it('decodes all 65536 bit patterns like the definition', () => {
    const bits = new Uint16Array(65536).map((_, i) => i);
    const got = f16BytesToF32(new Uint8Array(bits.buffer));
    const wrong: string[] = [];
    for (let h = 0; h < 65536; h++) {
      const want = f16Reference(h);
      if (!Object.is(got[h], want)) wrong.push(`0x${h.toString(16)}: ${got[h]} vs ${want}`);
    }
    expect(wrong).toEqual([]);
  });

  it('encodes with round-to-nearest-even and round-trips every finite value', () => {
    expect(numberToF16Bits(1)).toBe(0x3c00);
    expect(numberToF16Bits(65504)).toBe(0x7bff);
    expect(numberToF16Bits(65520)).toBe(0x7c00); // halfway to the next power: rounds to inf
    expect(numberToF16Bits(1e-8)).toBe(0); // below half the smallest subnormal
    expect(numberToF16Bits(2 ** -25)).toBe(0); // exactly half: ties to even (0)
    expect(numberToF16Bits(1.5 * 2 ** -25)).toBe(1);
    expect(numberToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(numberToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(numberToF16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(numberToF16Bits(NaN) & 0x3ff).not.toBe(0);
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const isNaN16 = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (!isNaN16 && numberToF16Bits(f16ToNumber(h)) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });
});

describe('bfloat16', () => {
  it('decodes known values', () => {
    expect(bf16ToNumber(0x3f80)).toBe(1);
    expect(bf16ToNumber(0xc000)).toBe(-2);
    expect(bf16ToNumber(0x4049)).toBe(3.140625);
    expect(bf16ToNumber(0x7f7f)).toBe(3.3895313892515355e38);
    expect(bf16ToNumber(0x0001)).toBe(9.183549615799121e-41);
    expect(bf16ToNumber(0x7f80)).toBe(Infinity);
    expect(bf16ToNumber(0x7fc0)).toBeNaN();
    const got = bf16BytesToF32(new Uint8Array(new Uint16Array([0x3f80, 0xbf80, 0x4049]).buffer));
    expect(Array.from(got)).toEqual([1, -1, 3.140625]);
  });

  it('encodes with round-to-nearest-even', () => {
    expect(numberToBf16Bits(Math.PI)).toBe(0x4049);
    expect(numberToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie → even (down)
    expect(numberToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie → even (up)
    expect(numberToBf16Bits(3.4e38)).toBe(0x7f80); // rounds past the largest bf16
    expect(numberToBf16Bits(NaN) & 0x7fc0).toBe(0x7fc0);
  });
});

describe('Python-compatible JSON', () => {
  it('prints floats like repr()', () => {
    const cases: [number, string][] = [
      [0, '0.0'],
      [-0, '-0.0'],
      [0.05, '0.05'],
      [1e-5, '1e-05'],
      [0.0001, '0.0001'],
      [123, '123.0'],
      [1e16, '1e+16'],
      [1234567890123456.7, '1234567890123456.8'],
      [1.5e300, '1.5e+300'],
      [-2.5e-7, '-2.5e-07'],
      [0.1 + 0.2, '0.30000000000000004'],
    ];
    for (const [x, want] of cases) expect(pythonFloatRepr(x)).toBe(want);
  });

  it('escapes strings like ensure_ascii', () => {
    expect(pythonJsonString('a"b\\c\n\u0001\u007fé😀')).toBe('"a\\"b\\\\c\\n\\u0001\\u007f\\u00e9\\ud83d\\ude00"');
  });

  it('indents and sorts like json.dumps(indent=2, sort_keys=True)', () => {
    const text = pythonJsonDumps({ b: [1, 'x'], a: {}, c: [], d: { y: null, x: true }, p: 0 }, { floatKeys: new Set(['p']) });
    expect(text).toBe('{\n  "a": {},\n  "b": [\n    1,\n    "x"\n  ],\n  "c": [],\n  "d": {\n    "x": true,\n    "y": null\n  },\n  "p": 0.0\n}');
  });

  it('sorts by code point', () => {
    expect(['\u{1F600}', '\uFF01', 'b', 'B'].sort(compareCodePoints)).toEqual(['B', 'b', '\uFF01', '\u{1F600}']);
  });
});
