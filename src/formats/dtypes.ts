/**
 * Safetensors element types and the bit-exact conversions between them and float32.
 *
 * The conversions work on raw bit patterns through Uint32Array views rather than arithmetic, so NaN payloads,
 * signed zeros and subnormals come out exactly as torch's `.float()` gives them. Typed-array views assume a
 * little-endian host, which every browser and Node platform we run on is (safetensors is little-endian too).
 */

/** Every dtype the safetensors format defines (Rust `safetensors::Dtype`, 0.4.x). */
export type SafetensorsDType =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'F64'
  | 'I64'
  | 'U64';

/**
 * Bytes per element. The key order is the Rust enum's declaration order, which is what the reference writer
 * sorts by (descending) when it lays tensors out; see `dtypeRank`.
 */
const DTYPE_SIZES: Record<SafetensorsDType, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

const DTYPE_ORDER = Object.keys(DTYPE_SIZES) as SafetensorsDType[];

export function isSafetensorsDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZES, s);
}

export function dtypeSize(dtype: SafetensorsDType): number {
  return DTYPE_SIZES[dtype];
}

/**
 * Position of the dtype in Rust's `Dtype` enum. The Python/Rust writer sorts tensors by this, descending
 * (`right.dtype().cmp(&left.dtype())`), not by byte size: F32 tensors come before I32 ones and BF16 before F16.
 */
export function dtypeRank(dtype: SafetensorsDType): number {
  return DTYPE_ORDER.indexOf(dtype);
}

export const knownDTypes: readonly SafetensorsDType[] = DTYPE_ORDER;

// ---------------------------------------------------------------- half precision

/** float16 bit pattern → float32 bit pattern (exact: every f16 is representable in f32). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal (mant · 2^-24): shift the mantissa up until its leading bit is the implicit one.
  let e = 113;
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** One float16 bit pattern as a number. */
export function f16ToNumber(h: number): number {
  scratchU32[0] = f16BitsToF32Bits(h);
  return scratchF32[0];
}

/** One bfloat16 bit pattern as a number. */
export function bf16ToNumber(h: number): number {
  scratchU32[0] = (h & 0xffff) << 16;
  return scratchF32[0];
}

/** float → float16 bits, round to nearest even, overflow to ±inf, NaN stays NaN (quiet). */
export function numberToF16Bits(x: number): number {
  scratchF32[0] = x;
  const b = scratchU32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: rounds to ±0
    return sign | roundShift(mant | 0x800000, 14 - e);
  }
  // A carry out of the mantissa correctly bumps the exponent (and reaches inf at the top).
  return sign | roundShift((e << 23) | mant, 13);
}

/** float → bfloat16 bits, round to nearest even (what torch's `.to(torch.bfloat16)` does). */
export function numberToBf16Bits(x: number): number {
  scratchF32[0] = x;
  const b = scratchU32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return (b >>> 16) | 0x40;
  return roundShift(b, 16) & 0xffff;
}

/** value >> shift with round-half-to-even on the dropped bits. */
function roundShift(value: number, shift: number): number {
  const kept = Math.floor(value / 2 ** shift);
  const rem = value - kept * 2 ** shift;
  const half = 2 ** (shift - 1);
  return rem > half || (rem === half && kept % 2 === 1) ? kept + 1 : kept;
}

// ---------------------------------------------------------------- whole buffers

/** Decodes little-endian float16 bytes into a new Float32Array. */
export function f16BytesToF32(bytes: Uint8Array): Float32Array {
  const src = u16View(bytes);
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = f16BitsToF32Bits(src[i]);
  return out;
}

/** Decodes little-endian bfloat16 bytes into a new Float32Array (bf16 is the top half of an f32). */
export function bf16BytesToF32(bytes: Uint8Array): Float32Array {
  const src = u16View(bytes);
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

/** A Uint16Array over the bytes, copying only when the bytes are not 2-byte aligned. */
function u16View(bytes: Uint8Array): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
  return new Uint16Array(bytes.slice().buffer, 0, bytes.byteLength >> 1);
}
