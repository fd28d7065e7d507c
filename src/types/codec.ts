/**
 * The canonical codec: every signed or hashed structure of medchain is a msgpack array (a
 * fixed-position tuple) of these wire types only:
 *
 * | wire type | msgpack encodings               | TypeScript        |
 * | --------- | ------------------------------- | ----------------- |
 * | uint32    | positive fixint, uint8/16/32    | number            |
 * | uint64    | int64 (0xd3), always 9 bytes    | bigint on the wire, number (< 2^53) in types |
 * | string    | fixstr, str8/16/32 (UTF-8)      | string            |
 * | bytes     | bin8/16/32                      | Uint8Array        |
 * | tuple     | fixarray, array16/32            | Wire[]            |
 *
 * No maps, no nil, no booleans, no floats, no negative integers, no extension types.
 *
 * `decodeCanonical` refuses any other type byte, and every length prefix larger than the remaining
 * input or the limits, before it allocates anything for it; and it refuses every encoding but the
 * shortest (the rules are listed at `WireReader` below): one value has exactly one encoding, so one
 * hash. All encoding goes through the one `packr` below; decoding is our own, one pass.
 */
import { Packr } from 'msgpackr'
import { latin1String } from '../crypto/bytes.js'
import { MedchainError } from '../util/errors.js'

export type Wire = number | bigint | string | Uint8Array | Wire[]

export type CodecErrorType =
  | { code: 'CODEC_TOO_LARGE', size: number, limit: number }
  | { code: 'CODEC_MALFORMED', offset: number }
  | { code: 'CODEC_FORBIDDEN_TYPE', offset: number, byte: number }
  | { code: 'CODEC_TRAILING_BYTES', offset: number }
  | { code: 'CODEC_NON_CANONICAL' }
  | { code: 'CODEC_TOO_DEEP', depth: number }
  | { code: 'CODEC_WRONG_SHAPE', field: string, reason: string }

export class CodecError extends MedchainError<CodecErrorType> {}

const packr = new Packr({
  useRecords: false,
  moreTypes: false,
  bundleStrings: false,
  int64AsType: 'bigint'
} as ConstructorParameters<typeof Packr>[0])

export interface DecodeLimits {
  /** Largest accepted input in bytes. */
  maxBytes: number
  /** Largest accepted array length anywhere in the value. */
  maxItems: number
  /** Deepest accepted nesting of arrays. */
  maxDepth: number
}

export function encodeCanonical (value: Wire): Uint8Array {
  const out = packr.pack(value)
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}

function malformed (offset: number): CodecError {
  return new CodecError({ code: 'CODEC_MALFORMED', offset }, `The encoding is cut short or a length prefix is larger than the input at byte ${offset}.`)
}

function forbidden (offset: number, b: number): CodecError {
  return new CodecError({ code: 'CODEC_FORBIDDEN_TYPE', offset, byte: b }, `Byte ${offset} holds msgpack type 0x${b.toString(16)}, which medchain encodings never use.`)
}

/** The checks before a whole input is read, and after: its size against the limit, nothing after its value. */
function checkInputSize (bytes: Uint8Array, limits: DecodeLimits): void {
  if (bytes.length > limits.maxBytes) {
    throw new CodecError({ code: 'CODEC_TOO_LARGE', size: bytes.length, limit: limits.maxBytes }, `The input is ${bytes.length} bytes, more than the limit of ${limits.maxBytes}.`)
  }
}

function checkNoTrailingBytes (bytes: Uint8Array, end: number): void {
  if (end !== bytes.length) {
    throw new CodecError({ code: 'CODEC_TRAILING_BYTES', offset: end }, `The input has ${bytes.length - end} bytes after the end of the encoded value.`)
  }
}

/**
 * The checks of an array header at `offset` (its items start at `itemsAt`) before anything is
 * read or allocated for it: the nesting depth and item count against the limits, and room in the
 * input for `count` items of at least one byte each.
 */
function checkArrayHeader (bytes: Uint8Array, offset: number, itemsAt: number, count: number, depth: number, limits: DecodeLimits): void {
  if (depth + 1 > limits.maxDepth) {
    throw new CodecError({ code: 'CODEC_TOO_DEEP', depth: depth + 1 }, `The encoding nests deeper than ${limits.maxDepth} levels.`)
  }
  if (count > limits.maxItems) {
    throw new CodecError({ code: 'CODEC_TOO_LARGE', size: count, limit: limits.maxItems }, `An array of ${count} items is larger than the limit of ${limits.maxItems}.`)
  }
  if (itemsAt + count > bytes.length) throw malformed(offset)
}

/** Big-endian length field of `size` bytes at `at` (1, 2 or 4). */
function lengthAt (bytes: Uint8Array, at: number, size: number): number {
  if (size === 1) return bytes[at] as number
  if (size === 2) return ((bytes[at] as number) << 8) | (bytes[at + 1] as number)
  return (((bytes[at] as number) << 24) >>> 0) + (((bytes[at + 1] as number) << 16) | ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number))
}

/**
 * Walks one msgpack value at `offset` and returns the offset just after it. Refuses every type not
 * in the table above and every length that does not fit in the input or the limits.
 */
function scanValue (bytes: Uint8Array, offset: number, depth: number, limits: DecodeLimits): number {
  const end = bytes.length
  if (offset >= end) throw malformed(offset)
  const b = bytes[offset] as number
  if (b <= 0x7f) return offset + 1
  let size: number // bytes of the length field
  let isArray = false
  if (b >= 0xa0 && b <= 0xbf) {
    const next = offset + 1 + (b & 0x1f)
    if (next > end) throw malformed(offset)
    return next
  } else if (b >= 0x90 && b <= 0x9f) {
    isArray = true
    size = 0
  } else {
    switch (b) {
      case 0xcc: if (offset + 2 > end) throw malformed(offset); return offset + 2
      case 0xcd: if (offset + 3 > end) throw malformed(offset); return offset + 3
      case 0xce: if (offset + 5 > end) throw malformed(offset); return offset + 5
      case 0xd3: if (offset + 9 > end) throw malformed(offset); return offset + 9
      case 0xc4: case 0xd9: size = 1; break
      case 0xc5: case 0xda: size = 2; break
      case 0xc6: case 0xdb: size = 4; break
      case 0xdc: size = 2; isArray = true; break
      case 0xdd: size = 4; isArray = true; break
      default: throw forbidden(offset, b)
    }
  }
  const header = 1 + size
  if (offset + header > end) throw malformed(offset)
  const count = size === 0 ? b & 0x0f : lengthAt(bytes, offset + 1, size)
  if (!isArray) {
    const next = offset + header + count
    if (next > end) throw malformed(offset)
    return next
  }
  let pos = offset + header
  checkArrayHeader(bytes, offset, pos, count, depth, limits)
  for (let i = 0; i < count; i++) pos = scanValue(bytes, pos, depth + 1, limits)
  return pos
}

/**
 * The offset just after the value at `offset` of bytes this node encoded itself (e.g. to patch a
 * fixed-width field in place). Throws CodecError as scanWire does.
 */
export function skipValue (bytes: Uint8Array, offset: number): number {
  return scanValue(bytes, offset, 0, { maxBytes: bytes.length, maxItems: bytes.length, maxDepth: 64 })
}

/** Structural check only (no allocation): one value of allowed types spanning exactly `bytes`. */
export function scanWire (bytes: Uint8Array, limits: DecodeLimits): void {
  checkInputSize(bytes, limits)
  checkNoTrailingBytes(bytes, scanValue(bytes, 0, 0, limits))
}

/** Decodes `bytes` into a Wire value, refusing anything that is not the one canonical encoding. */
export function decodeCanonical (bytes: Uint8Array, limits: DecodeLimits): Wire {
  return decodeWire(bytes, limits, true)
}

/**
 * Decodes a value this node encoded itself and keeps in its own store, whose integrity the state
 * root checks on start (contract state values): the structural checks still guard allocation, but
 * a non-minimal width is not refused. Never use it for bytes from the network or from a client.
 */
export function decodeTrusted (bytes: Uint8Array, limits: DecodeLimits): Wire {
  return decodeWire(bytes, limits, false)
}

// ---------------------------------------------------------------------------------------------
// The decoder: one pass that checks structure, limits and canonical form while it builds the value.
//
// The canonical form is what `encodeCanonical` writes, and it is spelled out here rather than
// found by re-encoding: an integer below 0x80 is a fixint, 0xcc holds 0x80..0xff, 0xcd
// 0x100..0xffff, 0xce 0x10000..0xffffffff; int64 is always 0xd3 (9 bytes); a str or bin or array
// uses the shortest length prefix for its length (fixstr < 32 bytes, str8 < 256, str16 < 65,536;
// bin8 < 256, bin16 < 65,536; fixarray < 16, array16 < 65,536); a str is valid UTF-8 (no
// overlong forms, no surrogates, nothing above U+10FFFF; a BOM is a character like any other).
// Structural errors (cut short, forbidden type, too deep, too large, trailing bytes) are reported
// before a non-canonical form anywhere in the input. test/unit/types/codec.test.ts pins every
// verdict and value against the re-encoding rule (msgpackr's unpack, then pack, then compare),
// which this reader is faster than (figures in bench/RESULTS.md).

const utf8Fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const utf8Lenient = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true })

class WireReader {
  /** Whether a non-canonical form was met; reported once the whole input proved well-formed. */
  nonCanonical = false
  /** The value read last (one slot instead of a result object per value). */
  value: Wire = 0

  constructor (readonly bytes: Uint8Array, readonly limits: DecodeLimits) {}

  /** Reads the value at `offset` into `this.value`; returns the offset just after it. */
  read (offset: number, depth: number): number {
    const bytes = this.bytes
    const end = bytes.length
    if (offset >= end) throw malformed(offset)
    const b = bytes[offset] as number
    if (b <= 0x7f) {
      this.value = b
      return offset + 1
    }
    if (b >= 0xa0 && b <= 0xbf) return this.str(offset, 1, b & 0x1f, 0)
    if (b >= 0x90 && b <= 0x9f) return this.array(offset, 1, b & 0x0f, 0, depth)
    switch (b) {
      case 0xcc: return this.uint(offset, 1, 0x80)
      case 0xcd: return this.uint(offset, 2, 0x100)
      case 0xce: return this.uint(offset, 4, 0x10000)
      case 0xd3: {
        if (offset + 9 > end) throw malformed(offset)
        const hi = lengthAt(bytes, offset + 1, 4)
        const lo = lengthAt(bytes, offset + 5, 4)
        // every u64 field of medchain is below 2^53: one BigInt from an exact number
        this.value = hi < 0x200000 ? BigInt(hi * 0x100000000 + lo) : new DataView(bytes.buffer, bytes.byteOffset + offset + 1, 8).getBigInt64(0)
        return offset + 9
      }
      case 0xc4: return this.bin(offset, 1, 0)
      case 0xc5: return this.bin(offset, 2, 0x100)
      case 0xc6: return this.bin(offset, 4, 0x10000)
      case 0xd9: return this.str(offset, 2, this.prefix(offset, 1), 0x20)
      case 0xda: return this.str(offset, 3, this.prefix(offset, 2), 0x100)
      case 0xdb: return this.str(offset, 5, this.prefix(offset, 4), 0x10000)
      case 0xdc: return this.array(offset, 3, this.prefix(offset, 2), 0x10, depth)
      case 0xdd: return this.array(offset, 5, this.prefix(offset, 4), 0x10000, depth)
      default: throw forbidden(offset, b)
    }
  }

  /** The `size`-byte length field after the type byte at `offset`. */
  private prefix (offset: number, size: number): number {
    if (offset + 1 + size > this.bytes.length) throw malformed(offset)
    return lengthAt(this.bytes, offset + 1, size)
  }

  /** A uint8/16/32 of `size` bytes; canonical only from `min` up (smaller values have a shorter form). */
  private uint (offset: number, size: number, min: number): number {
    const v = this.prefix(offset, size)
    if (v < min) this.nonCanonical = true
    this.value = v
    return offset + 1 + size
  }

  private bin (offset: number, size: number, min: number): number {
    const length = this.prefix(offset, size)
    if (length < min) this.nonCanonical = true
    const start = offset + 1 + size
    const next = start + length
    if (next > this.bytes.length) throw malformed(offset)
    this.value = this.bytes.subarray(start, next) // a view, as msgpackr gave
    return next
  }

  /** A str of `length` bytes after a `header`-byte prefix; canonical only from `min` bytes up. */
  private str (offset: number, header: number, length: number, min: number): number {
    if (length < min) this.nonCanonical = true
    const bytes = this.bytes
    const start = offset + header
    const next = start + length
    if (next > bytes.length) throw malformed(offset)
    let ascii = true
    for (let i = start; i < next; i++) {
      if ((bytes[i] as number) >= 0x80) {
        ascii = false
        break
      }
    }
    if (ascii) {
      this.value = latin1String(bytes, start, next) // ASCII: latin1 and UTF-8 agree
    } else {
      try {
        this.value = utf8Fatal.decode(bytes.subarray(start, next))
      } catch {
        this.nonCanonical = true
        this.value = utf8Lenient.decode(bytes.subarray(start, next))
      }
    }
    return next
  }

  /** An array of `count` items after a `header`-byte prefix; canonical only from `min` items up. */
  private array (offset: number, header: number, count: number, min: number, depth: number): number {
    if (count < min) this.nonCanonical = true
    let pos = offset + header
    checkArrayHeader(this.bytes, offset, pos, count, depth, this.limits)
    const items = new Array<Wire>(count)
    for (let i = 0; i < count; i++) {
      pos = this.read(pos, depth + 1)
      items[i] = this.value
    }
    this.value = items
    return pos
  }
}

function decodeWire (bytes: Uint8Array, limits: DecodeLimits, canonical: boolean): Wire {
  checkInputSize(bytes, limits)
  // bin values are views of the input: plain Uint8Arrays, so a Buffer (whose subarray is a Buffer)
  // is viewed as one first; a plain Uint8Array is read as it is
  const plain = Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const reader = new WireReader(plain, limits)
  checkNoTrailingBytes(bytes, reader.read(0, 0))
  if (canonical && reader.nonCanonical) {
    throw new CodecError({ code: 'CODEC_NON_CANONICAL' }, 'The input is not the canonical encoding of its value (for example an integer wider than needed or invalid UTF-8).')
  }
  return reader.value
}

// ---------------------------------------------------------------------------------------------
// Field readers: turn a decoded Wire value into typed fields, or throw CODEC_WRONG_SHAPE.

export const U32_MAX = 0xffffffff

/** The error of a decoded value whose fields do not have the expected shape. */
export function wrongShape (field: string, reason: string): CodecError {
  return new CodecError({ code: 'CODEC_WRONG_SHAPE', field, reason }, `Field ${field} ${reason}.`)
}

export function readTuple (value: Wire | undefined, arity: number, field: string): Wire[] {
  if (!Array.isArray(value)) throw wrongShape(field, 'must be a tuple')
  if (value.length !== arity) throw wrongShape(field, `must have ${arity} elements, got ${value.length}`)
  return value
}

export function readList (value: Wire | undefined, maxItems: number, field: string): Wire[] {
  if (!Array.isArray(value)) throw wrongShape(field, 'must be a list')
  if (value.length > maxItems) throw wrongShape(field, `has ${value.length} items, more than ${maxItems}`)
  return value
}

export function readU32 (value: Wire | undefined, field: string, max = U32_MAX): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > U32_MAX) throw wrongShape(field, 'must be an unsigned 32-bit integer')
  if (value > max) throw wrongShape(field, `must be at most ${max}`)
  return value
}

export function readU64 (value: Wire | undefined, field: string): number {
  if (typeof value !== 'bigint') throw wrongShape(field, 'must be a 64-bit unsigned integer')
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) throw wrongShape(field, 'is out of range')
  return Number(value)
}

/** Encodes a 64-bit field (timestamps, heights, nonces): always the 9-byte int64 form. */
export function u64 (n: number): bigint {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not a non-negative safe integer: ${n}`)
  return BigInt(n)
}

/** Bytes of exactly `length`, copied (the decoded input may be a buffer its owner reuses). */
export function readBytes (value: Wire | undefined, field: string, length: number): Uint8Array {
  return new Uint8Array(viewBytes(value, field, length))
}

export function readBytesMax (value: Wire | undefined, field: string, maxLength: number): Uint8Array {
  return new Uint8Array(viewBytesMax(value, field, maxLength))
}

/**
 * The checks of readBytes / readBytesMax / readOptionalBytes without the copy: the result is a
 * view into the decoded input. Only for decoders that own their input and never let it change
 * (decodeTx decodes its own copy of the transaction), where a copy per field was most of the
 * decoding's allocation.
 */
export function viewBytes (value: Wire | undefined, field: string, length: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw wrongShape(field, 'must be bytes')
  if (value.length !== length) throw wrongShape(field, `must be ${length} bytes, got ${value.length}`)
  return value
}

export function viewBytesMax (value: Wire | undefined, field: string, maxLength: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw wrongShape(field, 'must be bytes')
  if (value.length > maxLength) throw wrongShape(field, `must be at most ${maxLength} bytes, got ${value.length}`)
  return value
}

export function viewOptionalBytes (value: Wire | undefined, field: string, length: number): Uint8Array | undefined {
  if (value instanceof Uint8Array && value.length === 0) return undefined
  return viewBytes(value, field, length)
}

/** Bytes that are either empty (absent) or exactly `length` long. */
export function readOptionalBytes (value: Wire | undefined, field: string, length: number): Uint8Array | undefined {
  const view = viewOptionalBytes(value, field, length)
  return view === undefined ? undefined : new Uint8Array(view)
}

export function readString (value: Wire | undefined, field: string, maxLength: number): string {
  if (typeof value !== 'string') throw wrongShape(field, 'must be a string')
  if (value.length > maxLength) throw wrongShape(field, `must be at most ${maxLength} characters`)
  return value
}

export const EMPTY_BYTES = new Uint8Array(0)
