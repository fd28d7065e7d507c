/**
 * State-tree proofs: the format of an inclusion or absence proof of the sparse Merkle state tree
 * (src/chain/smt.ts), and `verifySmtProof`, the rule a light client checks it by.
 *
 *   leaf     = sha256(0x00 || keyHash || valueHash)
 *   internal = sha256(0x01 || left || right)
 *   empty    = 32 zero bytes
 *
 * A subtree holding a single leaf is represented by that leaf, so a proof has one sibling per
 * level above the leaf where the search for the key ended.
 */
import { equalBytes } from '../crypto/bytes.js'
import { sha256Tagged } from '../crypto/hash.js'

/** The root of the empty tree. */
export const EMPTY_TREE_ROOT = new Uint8Array(32)

export interface SmtProof {
  /** Sibling hashes from the root down to the node where the search ended. */
  siblings: Uint8Array[]
  /** The leaf where the search ended: the key itself (inclusion) or another key (absence); absent = empty subtree. */
  leaf?: { keyHash: Uint8Array, valueHash: Uint8Array }
}

function byteBit (keyHash: Uint8Array, depth: number): number {
  return ((keyHash[depth >> 3] as number) >> (7 - (depth & 7))) & 1
}

/**
 * Checks a proof against `root`, on bytes and with its own hashing (sha256Tagged), so it does not
 * share the tree's code: a verifier needs no tree, and the tests check one against the other.
 * With `valueHash` set, proves the key holds that value; with `valueHash` undefined, proves the
 * key is absent.
 */
export function verifySmtProof (root: Uint8Array, keyHash: Uint8Array, valueHash: Uint8Array | undefined, proof: SmtProof): boolean {
  const depth = proof.siblings.length
  if (depth > 256) return false
  let hash: Uint8Array
  if (proof.leaf === undefined) {
    if (valueHash !== undefined) return false
    hash = EMPTY_TREE_ROOT
  } else {
    const sameKey = equalBytes(proof.leaf.keyHash, keyHash)
    if (valueHash !== undefined) {
      if (!sameKey || !equalBytes(proof.leaf.valueHash, valueHash)) return false
    } else {
      if (sameKey) return false
      // the other leaf must sit on the searched key's path
      for (let d = 0; d < depth; d++) if (byteBit(proof.leaf.keyHash, d) !== byteBit(keyHash, d)) return false
    }
    hash = sha256Tagged(0, proof.leaf.keyHash, proof.leaf.valueHash)
  }
  for (let d = depth - 1; d >= 0; d--) {
    const sibling = proof.siblings[d] as Uint8Array
    hash = byteBit(keyHash, d) === 1 ? sha256Tagged(1, sibling, hash) : sha256Tagged(1, hash, sibling)
  }
  return equalBytes(hash, root)
}
