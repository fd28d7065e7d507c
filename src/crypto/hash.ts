/**
 * SHA-256 and domain separation.
 *
 * Every hash and signature in medchain is taken over `domain || 0x00 || chainId || 0x00 || body`
 * (see `domainBytes`), so bytes signed or hashed for one purpose or one chain are never valid for
 * another. Hashing uses node:crypto (OpenSSL), measured 2–3× faster than @noble/hashes here; a test
 * checks the two agree.
 */
import { createHash, hash as oneShotHash } from 'node:crypto'
import { concatBytes, utf8 } from './bytes.js'

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

/** SHA-256 of bytes, or of a string's UTF-8 bytes (state keys are hashed from the string). */
export function sha256 (data: Uint8Array | string): Uint8Array {
  if (hasOneShot) {
    const out = oneShotHash('sha256', data, 'buffer') as unknown as Buffer
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
  }
  return new Uint8Array(createHash('sha256').update(data).digest())
}

/**
 * One reusable input buffer for hashing a concatenation: hashing runs synchronously, so a buffer
 * filled, hashed and left is never read again, and the hot paths (Merkle nodes, transaction ids,
 * tree leaves: tens of thousands per block) allocate no input buffer per hash. Inputs larger than
 * SCRATCH_MAX get a buffer of their own, so one large hash does not keep its size in memory.
 */
const SCRATCH_MAX = 64 * 1024
let scratch = new Uint8Array(4096)

function scratchOf (length: number): Uint8Array {
  if (length > SCRATCH_MAX) return new Uint8Array(length)
  if (scratch.length < length) scratch = new Uint8Array(Math.max(length, Math.min(scratch.length * 2, SCRATCH_MAX)))
  return scratch
}

/** SHA-256 over the concatenation of `parts`. */
export function sha256Parts (...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const buf = scratchOf(length)
  let offset = 0
  for (const p of parts) {
    buf.set(p, offset)
    offset += p.length
  }
  return sha256(buf.subarray(0, length))
}

const TAG_BYTES = [Uint8Array.of(0), Uint8Array.of(1)] as const

/** sha256(tag || a || b) for the one-byte tags of Merkle leaves (0) and nodes (1). */
export function sha256Tagged (tag: 0 | 1, a: Uint8Array, b?: Uint8Array): Uint8Array {
  return b === undefined ? sha256Parts(TAG_BYTES[tag], a) : sha256Parts(TAG_BYTES[tag], a, b)
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
  return sha256Parts(domainBytes(domain, chainId), body)
}
