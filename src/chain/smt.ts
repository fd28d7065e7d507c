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
 * show inclusion of a key's value, or absence of a key, against a root; their format and
 * verifier are in src/types/smtProof.ts.
 *
 * Only hashes live here, as binary strings (see BinaryHash); the values themselves are in the
 * state store. Roots and proofs leave the tree as bytes. The chain keeps its tree on disk
 * (src/chain/versionedTree.ts, byte-identical roots and proofs); this one is the reference that
 * tree is tested against and that `medchain doctor` recomputes the root from every value with.
 */
import { bytesOfLatin1 } from '../crypto/bytes.js'
import { sha256Binary } from '../crypto/hash.js'

import { EMPTY_TREE_ROOT, type SmtProof } from '../types/smtProof.js'

export { EMPTY_TREE_ROOT }

/**
 * A 32-byte hash held as a 32-character latin1 ("binary") string, one character per byte: the
 * form every hash takes inside the tree. A tree holds about two nodes per key for as long as the
 * key lives, so its memory is what the garbage collector marks over and over: a string is one
 * flat heap object with nothing inside to trace, where a 32-byte Uint8Array is a typed-array
 * object plus its byte store, so the tree takes a fraction of the heap and of the collection
 * time (figures in bench/RESULTS.md, "State growth"). Strings also compare in byte order (`<`),
 * so sorting needs no compare function of our own.
 */
export type BinaryHash = string

/** The hash of an empty subtree: 32 zero bytes. */
export const EMPTY_HASH: BinaryHash = '\u0000'.repeat(32)

interface Leaf { readonly leaf: true, readonly keyHash: BinaryHash, readonly valueHash: BinaryHash, readonly hash: BinaryHash }
interface Internal { readonly leaf: false, readonly left: TreeNode | null, readonly right: TreeNode | null, readonly hash: BinaryHash }
type TreeNode = Leaf | Internal

/** One change: a value hash to set, or null to delete the key. */
export interface TreeChange { keyHash: BinaryHash, valueHash: BinaryHash | null }

function bit (keyHash: BinaryHash, depth: number): number {
  return (keyHash.charCodeAt(depth >> 3) >> (7 - (depth & 7))) & 1
}

/** The input of a node hash (tag, then two 32-byte hashes), filled and hashed synchronously. */
const nodeInput = new Uint8Array(65)

/** sha256(tag || a || b) over two binary hashes: a leaf (tag 0: keyHash, valueHash) or an internal node (tag 1: left, right). */
export function hashNode (tag: 0 | 1, a: BinaryHash, b: BinaryHash): BinaryHash {
  nodeInput[0] = tag
  for (let i = 0; i < 32; i++) {
    nodeInput[1 + i] = a.charCodeAt(i)
    nodeInput[33 + i] = b.charCodeAt(i)
  }
  return sha256Binary(nodeInput)
}

function checkHash (h: BinaryHash, what: string): void {
  // eslint-disable-next-line no-control-regex
  if (h.length !== 32 || /[^\u0000-\u00ff]/.test(h)) throw new RangeError(`${what} must be a 32-byte binary string`)
}

function makeLeaf (keyHash: BinaryHash, valueHash: BinaryHash): Leaf {
  return { leaf: true, keyHash, valueHash, hash: hashNode(0, keyHash, valueHash) }
}

function hashOf (node: TreeNode | null): BinaryHash {
  return node === null ? EMPTY_HASH : node.hash
}

function makeInternal (left: TreeNode | null, right: TreeNode | null): TreeNode | null {
  if (left === null && right === null) return null
  // a lone leaf is lifted: the subtree is represented by the leaf itself
  if (left === null && right !== null && right.leaf) return right
  if (right === null && left !== null && left.leaf) return left
  return { leaf: false, left, right, hash: hashNode(1, hashOf(left), hashOf(right)) }
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
      if (existing !== null && existing.keyHash < c.keyHash) {
        items.push(existing)
        existing = null
      }
      const had = existing !== null && existing.keyHash === c.keyHash
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

const byKeyHash = (a: { keyHash: BinaryHash }, b: { keyHash: BinaryHash }): number => a.keyHash < b.keyHash ? -1 : a.keyHash > b.keyHash ? 1 : 0

export class SparseMerkleTree {
  private constructor (private readonly rootNode: TreeNode | null, readonly size: number) {}

  static empty (): SparseMerkleTree {
    return new SparseMerkleTree(null, 0)
  }

  /** Builds a tree from (keyHash, valueHash) pairs in any order; keyHashes must be distinct. */
  static fromLeaves (leaves: ReadonlyArray<{ keyHash: BinaryHash, valueHash: BinaryHash }>): SparseMerkleTree {
    for (const l of leaves) { checkHash(l.keyHash, 'keyHash'); checkHash(l.valueHash, 'valueHash') }
    const items = leaves.map((l) => makeLeaf(l.keyHash, l.valueHash)).sort(byKeyHash)
    for (let i = 1; i < items.length; i++) {
      if ((items[i] as Leaf).keyHash === (items[i - 1] as Leaf).keyHash) throw new RangeError('duplicate key hash in tree leaves')
    }
    return new SparseMerkleTree(build(items, 0, items.length, 0), items.length)
  }

  get root (): Uint8Array {
    return bytesOfLatin1(hashOf(this.rootNode))
  }

  /** A new tree with the changes applied; this tree is unchanged. Later changes to a key win. */
  update (changes: readonly TreeChange[]): SparseMerkleTree {
    if (changes.length === 0) return this
    const byKey = new Map<BinaryHash, TreeChange>()
    for (const c of changes) {
      checkHash(c.keyHash, 'keyHash')
      if (c.valueHash !== null) checkHash(c.valueHash, 'valueHash')
      byKey.set(c.keyHash, c)
    }
    const sorted = [...byKey.values()].sort(byKeyHash)
    const size = { delta: 0 }
    const root = applyChanges(this.rootNode, sorted, 0, sorted.length, 0, size)
    return new SparseMerkleTree(root, this.size + size.delta)
  }

  /** The value hash stored under keyHash, if any. */
  get (keyHash: BinaryHash): BinaryHash | undefined {
    let node = this.rootNode
    let depth = 0
    while (node !== null && !node.leaf) {
      node = bit(keyHash, depth) === 0 ? node.left : node.right
      depth++
    }
    return node !== null && node.keyHash === keyHash ? node.valueHash : undefined
  }

  /** An inclusion proof (if the key is present) or an absence proof (if not). */
  prove (keyHash: BinaryHash): SmtProof {
    const siblings: Uint8Array[] = []
    let node = this.rootNode
    let depth = 0
    while (node !== null && !node.leaf) {
      const goRight = bit(keyHash, depth) === 1
      siblings.push(bytesOfLatin1(hashOf(goRight ? node.left : node.right)))
      node = goRight ? node.right : node.left
      depth++
    }
    return node === null ? { siblings } : { siblings, leaf: { keyHash: bytesOfLatin1(node.keyHash), valueHash: bytesOfLatin1(node.valueHash) } }
  }
}
