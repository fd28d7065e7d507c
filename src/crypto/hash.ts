/**
 * SHA-256 and domain separation.
 *
 * Every hash and signature in medchain is taken over `domain || 0x00 || chainId || 0x00 || body`
 * (see `domainBytes`), so bytes signed or hashed for one purpose or one chain are never valid for
 * another. Hashing uses node:crypto (OpenSSL), faster than @noble/hashes (figures in
 * bench/RESULTS.md); a test checks the two agree.
 */
import { createHash, hash as oneShotHash } from 'node:crypto'
import { bytesOfLatin1, concatBytes, utf8 } from './bytes.js'

export const HASH_LENGTH = 32

/** Domain tags: one per kind of signed or hashed object. Never reuse one for another purpose. */
export const Domain = {
  tx: 'medchain/tx/v1',
  txId: 'medchain/txid/v1',
  block: 'medchain/block/v1',
  vote: 'medchain/vote/v1',
  proposal: 'medchain/proposal/v1',
  record: 'medchain/record/v1',
  receipt: 'medchain/receipt/v1',
  state: 'medchain/state/v1',
  audit: 'medchain/audit/v1',
  validators: 'medchain/validators/v1',
  commit: 'medchain/commit/v1',
  query: 'medchain/query/v1'
} as const
export type DomainTag = typeof Domain[keyof typeof Domain]

const hasOneShot = typeof oneShotHash === 'function'

/**
 * SHA-256 as a 32-character latin1 ('binary') string, one character per byte, exactly as
 * OpenSSL's digest comes back: no copy at all. For hashes that are kept in memory in large
 * numbers (the state tree's: see BinaryHash in src/chain/smt.ts); `byteKey`/`bytesOfLatin1`
 * convert.
 */
export function sha256Binary (data: Uint8Array | string): string {
  if (hasOneShot) return oneShotHash('sha256', data, 'binary') // 'binary' is Node's name for latin1
  return createHash('sha256').update(data).digest('binary')
}

/**
 * SHA-256 of bytes, or of a string's UTF-8 bytes (state keys are hashed from the string).
 *
 * The digest comes back from OpenSSL as a latin1 string (sha256Binary) and is copied into a plain
 * 32-byte Uint8Array, which V8 keeps inside its heap. Asking for a Buffer
 * instead costs an ArrayBuffer with a separately allocated backing store per hash, which V8's
 * scavenger must track and free, on a path that runs over ten times per transaction of a block
 * (figures in bench/RESULTS.md). (A plain Uint8Array also avoids the Buffer subclass, whose slice,
 * toString and deepStrictEqual differ.)
 */
export function sha256 (data: Uint8Array | string): Uint8Array {
  return bytesOfLatin1(sha256Binary(data))
}

/**
 * One reusable input buffer for hashing a concatenation: hashing runs synchronously, so a buffer
 * filled, hashed and left is never read again, and the hot paths (Merkle nodes, transaction ids,
 * tree leaves: tens of thousands per block) allocate no input buffer per hash. Inputs larger than
 * SCRATCH_MAX get a buffer of their own, so one large hash does not keep its size in memory.
 */
const SCRATCH_MAX = 64 * 1024
let scratch = new Uint8Array(4096)
/**
 * Views of the scratch's first n bytes, for the lengths hashed over and over (65: a Merkle or tree
 * node, 33: a leaf over a hash, ~50: a domain-prefixed id), so that a hash allocates no view either.
 */
const VIEW_CACHE_MAX_LENGTH = 128
let scratchViews: Array<Uint8Array | undefined> = []

function scratchOf (length: number): Uint8Array {
  if (length > SCRATCH_MAX) return new Uint8Array(length)
  if (scratch.length < length) {
    scratch = new Uint8Array(Math.max(length, Math.min(scratch.length * 2, SCRATCH_MAX)))
    scratchViews = []
  }
  return scratch
}

/**
 * sha256(a || b || c): THE concatenation hash that every other one here calls. Fixed arity, no
 * rest-parameter array: the hot paths run it ~100,000 times per 10k-tx block.
 */
function hashConcat (a: Uint8Array, b?: Uint8Array, c?: Uint8Array): Uint8Array {
  const lb = b === undefined ? 0 : b.length
  const length = a.length + lb + (c === undefined ? 0 : c.length)
  const buf = scratchOf(length)
  buf.set(a, 0)
  if (b !== undefined) buf.set(b, a.length)
  if (c !== undefined) buf.set(c, a.length + lb)
  if (length > VIEW_CACHE_MAX_LENGTH) return sha256(buf.subarray(0, length))
  let view = scratchViews[length]
  if (view === undefined) {
    view = buf.subarray(0, length)
    scratchViews[length] = view
  }
  return sha256(view)
}

const EMPTY = new Uint8Array(0)

/** SHA-256 over the concatenation of `parts` (the general form; the hot paths call the two below). */
export function sha256Parts (...parts: Uint8Array[]): Uint8Array {
  return parts.length <= 3 ? hashConcat(parts[0] ?? EMPTY, parts[1], parts[2]) : hashConcat(concatBytes(...parts))
}

const TAG_BYTES = [Uint8Array.of(0), Uint8Array.of(1)] as const

/** sha256(tag || a || b) for the one-byte tags of Merkle leaves (0) and nodes (1). */
export function sha256Tagged (tag: 0 | 1, a: Uint8Array, b?: Uint8Array): Uint8Array {
  return hashConcat(TAG_BYTES[tag], a, b)
}

/** Bounded: chain ids come from untrusted input (decodeTx hashes before the chain id is checked). */
const PREFIX_CACHE_LIMIT = 1024
const prefixCache = new Map<string, Uint8Array>()

/** `domain || 0x00 || chainId || 0x00`: the prefix of every domain-separated message. */
export function domainBytes (domain: DomainTag, chainId: string): Uint8Array {
  const key = domain + '\u0000' + chainId
  let prefix = prefixCache.get(key)
  if (prefix === undefined) {
    prefix = concatBytes(utf8(domain), new Uint8Array([0]), utf8(chainId), new Uint8Array([0]))
    if (prefixCache.size >= PREFIX_CACHE_LIMIT) prefixCache.clear()
    prefixCache.set(key, prefix)
  }
  return prefix
}

/** sha256(domainBytes(domain, chainId) || body). */
export function hashWithDomain (domain: DomainTag, chainId: string, body: Uint8Array): Uint8Array {
  return hashConcat(domainBytes(domain, chainId), body)
}
