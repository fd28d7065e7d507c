/**
 * Decoding the few contract state values a proof carries. The value bytes are checked against the
 * state tree by hash before they are decoded, and decoded strictly (canonical encoding only).
 */
import { decodeCanonical, readBytes, readList } from '../types/codec.js'
import { HASH_LENGTH } from '../crypto/hash.js'

/** Longest grant-id list an index entry holds (the contract's growing-list bound). */
const MAX_GRANT_IDS = 4096

/** The value of `grants/<patient>/<grantee>`: the pair's grant ids, oldest first. */
export function decodeGrantIdList (bytes: Uint8Array): Uint8Array[] {
  const list = readList(decodeCanonical(bytes, { maxBytes: MAX_GRANT_IDS * 40 + 8, maxItems: MAX_GRANT_IDS, maxDepth: 1 }), MAX_GRANT_IDS, 'grantIds')
  return list.map((w, i) => readBytes(w, `grantIds[${i}]`, HASH_LENGTH))
}
