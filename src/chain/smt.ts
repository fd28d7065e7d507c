/**
 * The state tree: an in-memory, persistent (copy-on-write) sparse Merkle tree over 256-bit key
 * hashes, compressed the way Diem/Aptos' Jellyfish tree is (binary here): a subtree holding a
 * single leaf is represented by that leaf, so a key sits about log2(n) levels deep instead of 256.
 *
 *   leaf     = sha256(0x00 || keyHash || valueHash)
 *   internal = sha256(0x01 || left || right)
 *   empty    = 32 zero bytes
 *
 * The root depends only on the set of (keyHash, valueHash) pairs, not on the order of updates.
 * `update` takes a whole block's changes at once, sorted, so every touched internal node is
 * hashed exactly once per block: about k·(log2(n/k) + 2) hashes for k changes in a tree of n
 * leaves, instead of 256·k for a naive sparse Merkle tree. Proofs (`prove`/`verifySmtProof`)
 * show inclusion of a key's value, or absence of a key, against a root.
 *
 * Only hashes live here; the values themselves are in the state store. The tree is rebuilt from
 * the stored values when a node starts (which is also the start-up consistency check).
 */
import { byteKey, compareBytes, equalBytes } from '../crypto/bytes.js'
import { sha256Tagged } from '../crypto/hash.js'

export const EMPTY_TREE_ROOT = new Uint8Array(32)

interface Leaf { readonly leaf: true, readonly keyHash: Uint8Array, readonly valueHash: Uint8Array, readonly hash: Uint8Array }
interface Internal { readonly leaf: false, readonly left: TreeNode | null, readonly right: TreeNode | null, readonly hash: Uint8Array }
type TreeNode = Leaf | Internal

/** One change: a value hash to set, or null to delete the key. */
export interface TreeChange { keyHash: Uint8Array, valueHash: Uint8Array | null }

function bit (keyHash: Uint8Array, depth: number): number {
  return ((keyHash[depth >> 3] as number) >> (7 - (depth & 7))) & 1
}

function makeLeaf (keyHash: Uint8Array, valueHash: Uint8Array): Leaf {
  return { leaf: true, keyHash, valueHash, hash: sha256Tagged(0, keyHash, valueHash) }
}

function hashOf (node: TreeNode | null): Uint8Array {
  return node === null ? EMPTY_TREE_ROOT : node.hash
}

function makeInternal (left: TreeNode | null, right: TreeNode | null): TreeNode | null {
  if (left === null && right === null) return null
  // a lone leaf is lifted: the subtree is represented by the leaf itself
  if (left === null && right !== null && right.leaf) return right
  if (right === null && left !== null && left.leaf) return left
  return { leaf: false, left, right, hash: sha256Tagged(1, hashOf(left), hashOf(right)) }
}

/** Builds the subtree at `depth` holding exactly `items` (sorted by keyHash, distinct). */
function build (items: readonly Leaf[], lo: number, hi: number, depth: number): TreeNode | null {
  if (hi - lo === 0) return null
  if (hi - lo === 1) return items[lo] as Leaf
  let mid = lo
  while (mid < hi && bit((items[mid] as Leaf).keyHash, depth) === 0) mid++
  return makeInternal(build(items, lo, mid, depth + 1), build(items, mid, hi, depth + 1))
}

/**
 * The subtree `node` at `depth` with changes[lo, hi) applied; `size.delta` counts the leaves added
 * minus those deleted (a key's one possible old leaf is the leaf this walk ends at).
 */
function applyChanges (node: TreeNode | null, changes: readonly TreeChange[], lo: number, hi: number, depth: number, size: { delta: number }): TreeNode | null {
  if (hi === lo) return node
  if (node === null || node.leaf) {
    // merge the existing leaf (if any) with the changes, then build the subtree afresh
    const items: Leaf[] = []
    let existing: Leaf | null = node
    for (let i = lo; i < hi; i++) {
      const c = changes[i] as TreeChange
      if (existing !== null && compareBytes(existing.keyHash, c.keyHash) < 0) {
        items.push(existing)
        existing = null
      }
      const had = existing !== null && equalBytes(existing.keyHash, c.keyHash)
      if (had) existing = null // replaced or deleted by the change
      if (c.valueHash !== null) items.push(makeLeaf(c.keyHash, c.valueHash))
      if (had && c.valueHash === null) size.delta--
      else if (!had && c.valueHash !== null) size.delta++
    }
    if (existing !== null) items.push(existing)
    return build(items, 0, items.length, depth)
  }
  let mid = lo
  while (mid < hi && bit((changes[mid] as TreeChange).keyHash, depth) === 0) mid++
  const left = applyChanges(node.left, changes, lo, mid, depth + 1, size)
  const right = applyChanges(node.right, changes, mid, hi, depth + 1, size)
  if (left === node.left && right === node.right) return node
  return makeInternal(left, right)
}

export interface SmtProof {
  /** Sibling hashes from the root down to the node where the search ended. */
  siblings: Uint8Array[]
  /** The leaf where the search ended: the key itself (inclusion) or another key (absence); absent = empty subtree. */
  leaf?: { keyHash: Uint8Array, valueHash: Uint8Array }
}

export class SparseMerkleTree {
  private constructor (private readonly rootNode: TreeNode | null, readonly size: number) {}

  static empty (): SparseMerkleTree {
    return new SparseMerkleTree(null, 0)
  }

  /** Builds a tree from (keyHash, valueHash) pairs in any order; keyHashes must be distinct. */
  static fromLeaves (leaves: ReadonlyArray<{ keyHash: Uint8Array, valueHash: Uint8Array }>): SparseMerkleTree {
    const items = leaves.map((l) => makeLeaf(l.keyHash, l.valueHash)).sort((a, b) => compareBytes(a.keyHash, b.keyHash))
    for (let i = 1; i < items.length; i++) {
      if (equalBytes((items[i] as Leaf).keyHash, (items[i - 1] as Leaf).keyHash)) throw new RangeError('duplicate key hash in tree leaves')
    }
    return new SparseMerkleTree(build(items, 0, items.length, 0), items.length)
  }

  get root (): Uint8Array {
    return hashOf(this.rootNode)
  }

  /** A new tree with the changes applied; this tree is unchanged. Later changes to a key win. */
  update (changes: readonly TreeChange[]): SparseMerkleTree {
    if (changes.length === 0) return this
    const byKey = new Map<string, TreeChange>()
    for (const c of changes) byKey.set(byteKey(c.keyHash), c)
    const sorted = [...byKey.values()].sort((a, b) => compareBytes(a.keyHash, b.keyHash))
    const size = { delta: 0 }
    const root = applyChanges(this.rootNode, sorted, 0, sorted.length, 0, size)
    return new SparseMerkleTree(root, this.size + size.delta)
  }

  /** The value hash stored under keyHash, if any. */
  get (keyHash: Uint8Array): Uint8Array | undefined {
    let node = this.rootNode
    let depth = 0
    while (node !== null && !node.leaf) {
      node = bit(keyHash, depth) === 0 ? node.left : node.right
      depth++
    }
    return node !== null && equalBytes(node.keyHash, keyHash) ? node.valueHash : undefined
  }

  /** An inclusion proof (if the key is present) or an absence proof (if not). */
  prove (keyHash: Uint8Array): SmtProof {
    const siblings: Uint8Array[] = []
    let node = this.rootNode
    let depth = 0
    while (node !== null && !node.leaf) {
      const goRight = bit(keyHash, depth) === 1
      siblings.push(hashOf(goRight ? node.left : node.right))
      node = goRight ? node.right : node.left
      depth++
    }
    return node === null ? { siblings } : { siblings, leaf: { keyHash: node.keyHash, valueHash: node.valueHash } }
  }
}

/**
 * Checks a proof against `root`. With `valueHash` set, proves the key holds that value; with
 * `valueHash` undefined, proves the key is absent.
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
      for (let d = 0; d < depth; d++) if (bit(proof.leaf.keyHash, d) !== bit(keyHash, d)) return false
    }
    hash = makeLeaf(proof.leaf.keyHash, proof.leaf.valueHash).hash
  }
  for (let d = depth - 1; d >= 0; d--) {
    const sibling = proof.siblings[d] as Uint8Array
    hash = bit(keyHash, d) === 1 ? sha256Tagged(1, sibling, hash) : sha256Tagged(1, hash, sibling)
  }
  return equalBytes(hash, root)
}
