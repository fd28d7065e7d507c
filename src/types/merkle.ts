/**
 * Binary Merkle tree over an ordered list of leaves (transactions, receipts), RFC 6962 style:
 * leaf = sha256(0x00 || item), node = sha256(0x01 || left || right), the split at the largest
 * power of two below n; the root of no leaves is sha256(""). Inclusion proofs list the sibling
 * hashes from the leaf up.
 */
import { sha256, sha256Tagged } from '../crypto/hash.js'
import { equalBytes } from '../crypto/bytes.js'

const EMPTY_ROOT = sha256(new Uint8Array(0))

export function leafHash (item: Uint8Array): Uint8Array {
  return sha256Tagged(0, item)
}

export function nodeHash (left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256Tagged(1, left, right)
}

function splitPoint (n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

function rootOfLeafHashes (hashes: Uint8Array[], start: number, end: number): Uint8Array {
  const n = end - start
  if (n === 1) return hashes[start] as Uint8Array
  const k = splitPoint(n)
  return nodeHash(rootOfLeafHashes(hashes, start, start + k), rootOfLeafHashes(hashes, start + k, end))
}

/**
 * Root over items (each hashed as a leaf), level by level: pairing neighbours from the left and
 * lifting an odd last node unchanged gives exactly the tree of the largest-power-of-two split
 * (RFC 6962's MTH), without recursion; a test compares it with an independent reference.
 */
export function merkleRoot (items: readonly Uint8Array[]): Uint8Array {
  if (items.length === 0) return EMPTY_ROOT
  const level: Uint8Array[] = new Array<Uint8Array>(items.length)
  for (let i = 0; i < items.length; i++) level[i] = leafHash(items[i] as Uint8Array)
  let n = level.length
  while (n > 1) {
    let out = 0
    for (let i = 0; i + 1 < n; i += 2) level[out++] = nodeHash(level[i] as Uint8Array, level[i + 1] as Uint8Array)
    if ((n & 1) === 1) level[out++] = level[n - 1] as Uint8Array
    n = out
  }
  return level[0] as Uint8Array
}

export interface MerkleProof {
  index: number
  total: number
  /** Sibling hashes from the leaf up to the root. */
  siblings: Uint8Array[]
}

export function merkleProof (items: Uint8Array[], index: number): MerkleProof {
  if (index < 0 || index >= items.length) throw new RangeError(`leaf ${index} out of range 0..${items.length - 1}`)
  const hashes = items.map(leafHash)
  const siblings: Uint8Array[] = []
  const walk = (start: number, end: number): void => {
    const n = end - start
    if (n === 1) return
    const k = splitPoint(n)
    if (index < start + k) {
      walk(start, start + k)
      siblings.push(rootOfLeafHashes(hashes, start + k, end))
    } else {
      walk(start + k, end)
      siblings.push(rootOfLeafHashes(hashes, start, start + k))
    }
  }
  walk(0, items.length)
  return { index, total: items.length, siblings }
}

/** Recomputes the root from one item and its proof; true when it equals `root`. */
export function verifyMerkleProof (root: Uint8Array, item: Uint8Array, proof: MerkleProof): boolean {
  if (proof.index < 0 || proof.index >= proof.total) return false
  let used = 0
  const compute = (start: number, end: number): Uint8Array | undefined => {
    const n = end - start
    if (n === 1) return leafHash(item)
    const k = splitPoint(n)
    if (proof.index < start + k) {
      const left = compute(start, start + k)
      const sibling = proof.siblings[used++]
      return left === undefined || sibling === undefined ? undefined : nodeHash(left, sibling)
    }
    const right = compute(start + k, end)
    const sibling = proof.siblings[used++]
    return right === undefined || sibling === undefined ? undefined : nodeHash(sibling, right)
  }
  const got = compute(0, proof.total)
  return got !== undefined && used === proof.siblings.length && equalBytes(got, root)
}
