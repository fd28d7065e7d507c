/**
 * The audit accumulator: a Merkle mountain range over every audit entry ever appended, in order.
 * Appending costs one leaf hash plus, on average, one merge hash; the root ("bagged peaks")
 * commits to the count and every entry. It is part of the state root, so a patient's audit
 * trail is as final as the blocks: nothing can be removed or rewritten.
 *
 *   leaf  = sha256(0x00 || entry)
 *   merge = sha256(0x01 || left || right)
 *   root  = sha256(0x02 || count u64be || peak_0 || … || peak_k)   (peaks from the tallest)
 */
import { concatBytes, u64be } from '../crypto/bytes.js'
import { sha256, sha256Tagged } from '../crypto/hash.js'
import { decodeCanonical, encodeCanonical, readBytes, readList, readTuple, readU32, readU64, u64 } from '../types/codec.js'

export interface AuditAccumulator {
  /** Number of entries appended so far. */
  readonly count: number
  /** Peak hashes from the tallest (leftmost) to the smallest, with their heights (0 = leaf). */
  readonly peaks: ReadonlyArray<{ height: number, hash: Uint8Array }>
}

export const EMPTY_ACCUMULATOR: AuditAccumulator = { count: 0, peaks: [] }

export function auditLeafHash (entry: Uint8Array): Uint8Array {
  return sha256Tagged(0, entry)
}

/** A new accumulator with `entries` appended (the input is not changed). */
export function appendEntries (acc: AuditAccumulator, entries: readonly Uint8Array[]): AuditAccumulator {
  if (entries.length === 0) return acc
  const peaks = acc.peaks.map((p) => ({ ...p }))
  for (const entry of entries) {
    let node = { height: 0, hash: auditLeafHash(entry) }
    while (peaks.length > 0 && (peaks[peaks.length - 1] as { height: number }).height === node.height) {
      const left = peaks.pop() as { height: number, hash: Uint8Array }
      node = { height: node.height + 1, hash: sha256Tagged(1, left.hash, node.hash) }
    }
    peaks.push(node)
  }
  return { count: acc.count + entries.length, peaks }
}

export function accumulatorRoot (acc: AuditAccumulator): Uint8Array {
  return sha256(concatBytes(new Uint8Array([2]), u64be(acc.count), ...acc.peaks.map((p) => p.hash)))
}

export function encodeAccumulator (acc: AuditAccumulator): Uint8Array {
  return encodeCanonical([u64(acc.count), acc.peaks.map((p) => [p.height, p.hash])])
}

export function decodeAccumulator (bytes: Uint8Array): AuditAccumulator {
  const t = readTuple(decodeCanonical(bytes, { maxBytes: 4096, maxItems: 64, maxDepth: 3 }), 2, 'accumulator')
  return {
    count: readU64(t[0], 'accumulator.count'),
    peaks: readList(t[1], 64, 'accumulator.peaks').map((p) => {
      const pair = readTuple(p, 2, 'accumulator.peaks[]')
      return { height: readU32(pair[0], 'peak.height', 63), hash: readBytes(pair[1], 'peak.hash', 32) }
    })
  }
}
