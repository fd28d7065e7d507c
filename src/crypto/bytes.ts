/** Small byte helpers shared by every module (no dependencies, no I/O). */

/**
 * Buffer's own string encoders, called on a Uint8Array directly: they accept any ArrayBufferView,
 * and `Buffer.from(ab, off, len).toString(…)` would first allocate a Buffer view per call (~100 ns
 * and ~100 bytes of garbage; state keys, map keys and ids make this ~100,000 calls per 10k-tx
 * block). Undocumented but what `buf.toString` itself calls; without them, the documented way.
 */
type SliceFn = (this: Uint8Array, start: number, end: number) => string
const nativeSlices = Buffer.prototype as unknown as { hexSlice?: SliceFn, latin1Slice?: SliceFn }
const hexSlice = typeof nativeSlices.hexSlice === 'function' ? nativeSlices.hexSlice : undefined
const latin1Slice = typeof nativeSlices.latin1Slice === 'function' ? nativeSlices.latin1Slice : undefined

/** A Buffer over the same memory (no copy), for Buffer's encoders. */
export function bufferView (bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

export function toHex (bytes: Uint8Array): string {
  if (hexSlice !== undefined) return hexSlice.call(bytes, 0, bytes.length)
  return bufferView(bytes).toString('hex')
}

/** Parses lower- or upper-case hex with an even number of digits; throws on anything else. */
export function fromHex (hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError(`not a hex string: ${hex.length > 20 ? hex.slice(0, 20) + '…' : hex}`)
  }
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

/** A byte string as a Map key, without copying (latin1 maps each byte to one character). */
export function byteKey (bytes: Uint8Array): string {
  return latin1String(bytes, 0, bytes.length)
}

/**
 * bytes[start, end) as one latin1 character per byte, made by one native call into a flat string
 * (for ASCII this is also the UTF-8 decoding: the codec's fast path for its strings).
 */
export function latin1String (bytes: Uint8Array, start: number, end: number): string {
  if (latin1Slice !== undefined) return latin1Slice.call(bytes, start, end)
  return bufferView(bytes).toString('latin1', start, end)
}

/** The bytes of a latin1 string (one byte per character, each below 256): byteKey's inverse. */
export function bytesOfLatin1 (text: string): Uint8Array {
  const out = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i)
  return out
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Lexicographic comparison, shorter first on a common prefix. */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return a.length - b.length
}

export function concatBytes (...parts: Uint8Array[]): Uint8Array {
  let total = 0
  for (const p of parts) total += p.length
  const out = new Uint8Array(total)
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}

const encoder = new TextEncoder()
export function utf8 (text: string): Uint8Array {
  return encoder.encode(text)
}

/** 8-byte big-endian encoding of a safe non-negative integer (heights, counters in keys). */
export function u64be (n: number): Uint8Array {
  if (!Number.isInteger(n)) throw new RangeError(`not an integer: ${n}`)
  const out = new Uint8Array(8)
  writeU64be(out, 0, n)
  return out
}

/** Writes an integer as 8 big-endian bytes at `at` (modulo 2^64, as setBigUint64 would; no BigInt, no DataView: store keys on hot paths). */
/** The unsigned big-endian 64-bit integer at `at` (exact up to 2^53). */
export function readU64be (bytes: Uint8Array, at: number): number {
  let n = 0
  for (let i = 0; i < 8; i++) n = n * 256 + (bytes[at + i] as number)
  return n
}

export function writeU64be (out: Uint8Array, at: number, n: number): void {
  const hi = Math.floor(n / 0x1_0000_0000)
  const lo = n >>> 0
  out[at] = hi >>> 24; out[at + 1] = (hi >>> 16) & 0xff; out[at + 2] = (hi >>> 8) & 0xff; out[at + 3] = hi & 0xff
  out[at + 4] = lo >>> 24; out[at + 5] = (lo >>> 16) & 0xff; out[at + 6] = (lo >>> 8) & 0xff; out[at + 7] = lo & 0xff
}

/** Writes an unsigned 32-bit integer as 4 big-endian bytes at `at`. */
export function writeU32be (out: Uint8Array, at: number, n: number): void {
  out[at] = n >>> 24; out[at + 1] = (n >>> 16) & 0xff; out[at + 2] = (n >>> 8) & 0xff; out[at + 3] = n & 0xff
}
