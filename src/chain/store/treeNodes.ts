/**
 * The on-disk format of the versioned state tree (src/chain/versionedTree.ts): its keys and
 * values in the state database, their encoders, and the strict decoders that refuse damaged bytes.
 *
 * A node is written once, under the version that created it and its position (path) in the tree,
 * and never changed; a later version that changes the node writes a new one and records the old
 * one in its stale list (the nodes that left the tree at that version). Several versions are
 * therefore readable at once, and the old ones are removed by pruning the stale lists.
 *
 * | prefix | key                                                  | value                                  |
 * | ------ | ---------------------------------------------------- | -------------------------------------- |
 * | 0x0c   | version u64be + depth u16be + path (ceil(depth/8) B) | node: [0, keyHash, valueHash] (leaf),  |
 * |        |                                                      | or [1, left, right] (internal)         |
 * | 0x0d   | version u64be                                        | root of that version: child ref or []  |
 * | 0x0e   | staleSince u64be                                     | stale list: the node keys, without     |
 * |        |                                                      | their prefix, of the nodes that left   |
 * |        |                                                      | the tree then, concatenated            |
 * | 0x0f   | 'pruned-upto' (utf8)                                 | [u64]: versions up to it are pruned    |
 *
 * - The path of a node at depth d is the first d bits of every key hash below it, packed big-end
 *   first into ceil(d/8) bytes, unused bits zero. Depth runs from 0 (the root) to 256 (a leaf
 *   below two keys that differ only in their last bit), hence two bytes.
 * - A child ref is `[hash, version, isLeaf]` (32-byte bin, u64, 0 or 1), or `[]` for an empty
 *   subtree. A parent's hash is thus computable without loading its children, a child's node key
 *   follows from the parent's path, the side and the ref's version, and whether a child is a leaf
 *   (which a deletion may lift to a higher position) is known without loading it.
 * - The hashes are those of src/chain/smt.ts: leaf = sha256(0x00 || keyHash || valueHash),
 *   internal = sha256(0x01 || left || right), empty = 32 zero bytes. A leaf's hash does not
 *   depend on its position, so a lifted leaf keeps its hash.
 * - Every value but a stale list is a canonical tuple (src/types/codec.ts). A stale list needs no
 *   framing: a node key without its prefix is its version (8 bytes), its depth (2) and
 *   ceil(depth/8) bytes of path, so each entry's length follows from its depth. A version that
 *   replaced no node writes no list. One value per version keeps a block's stale index to one
 *   write whatever the number of nodes it replaced (figures in bench/RESULTS.md).
 *
 * Why version first in the node key: every read is a point read of a key the parent names
 * exactly (its version is in the ref), so ordering by path would serve no range scan. Version
 * first makes each block's new nodes one contiguous key range above every older one (LevelDB's
 * cheapest write pattern: new tables overlap no old ones), and puts the nodes pruning deletes at
 * the low end of the bucket. The stale lists are ordered by the version that replaced the nodes,
 * so pruning up to a version is one range scan of them from the start.
 */
import { bytesOfLatin1, concatBytes, latin1String, utf8, readU64be, writeU64be } from '../../crypto/bytes.js'
import { CodecError, decodeCanonical, encodeCanonical, type Wire } from '../../types/codec.js'
import { MedchainError } from '../../util/errors.js'
import type { BinaryHash } from '../smt.js'
import { Bucket, heightKey } from './buckets.js'

/** A reference to a child node, as its parent (or a root pointer) stores it. */
export interface ChildRef {
  readonly hash: BinaryHash
  /** The version that wrote the child node (part of its node key). */
  readonly version: number
  readonly leaf: boolean
}

export interface LeafNode { readonly leaf: true, readonly keyHash: BinaryHash, readonly valueHash: BinaryHash }
export interface InternalNode { readonly leaf: false, readonly left: ChildRef | null, readonly right: ChildRef | null }
export type StoredNode = LeafNode | InternalNode

export type TreeErrorType =
  | { code: 'TREE_NODE_CORRUPT', version: number, depth: number, path: string, reason: string }
  | { code: 'TREE_NODE_MISSING', version: number, depth: number, path: string }
  | { code: 'TREE_ROOT_CORRUPT', version: number, reason: string }
  | { code: 'TREE_STALE_CORRUPT', staleSince: number, reason: string }
  | { code: 'TREE_VERSION_MISSING', version: number }
  | { code: 'TREE_VERSION_PRUNED', version: number, prunedUpto: number }
  | { code: 'TREE_PRUNE_ALL', uptoVersion: number }
  | { code: 'TREE_BAD_INPUT', reason: string }

/** An error of the versioned state tree; the codes are listed in `TreeErrorType`. */
export class TreeError extends MedchainError<TreeErrorType> {}

const RESTORE = 'restore the data directory from a backup or move it away and resync from peers'

/** The largest depth of a node: a leaf under an internal node at depth 255. */
export const MAX_DEPTH = 256

/** Bytes of a node key: prefix, version, depth, packed path. */
export function nodeKeyLength (depth: number): number {
  return 11 + ((depth + 7) >> 3)
}

/**
 * The node key of the node at `depth` written by `version`, whose path is the first `depth` bits
 * of `pathSource` (a key hash below the node, or any buffer holding the path's bits).
 */
export function nodeKey (version: number, depth: number, pathSource: BinaryHash | Uint8Array): Uint8Array {
  const n = (depth + 7) >> 3
  const out = new Uint8Array(11 + n)
  out[0] = Bucket.treeNode
  writeU64be(out, 1, version)
  out[9] = depth >> 8
  out[10] = depth & 0xff
  if (typeof pathSource === 'string') {
    for (let i = 0; i < n; i++) out[11 + i] = pathSource.charCodeAt(i)
  } else {
    for (let i = 0; i < n; i++) out[11 + i] = pathSource[i] as number
  }
  if ((depth & 7) !== 0) out[10 + n] = (out[10 + n] as number) & (0xff << (8 - (depth & 7)))
  return out
}

/** The version, depth and path (as a string of '0' and '1') a node key names. */
export function parseNodeKey (key: Uint8Array): { version: number, depth: number, path: string } {
  if (key.length < 11 || key[0] !== Bucket.treeNode) throw new TreeError({ code: 'TREE_BAD_INPUT', reason: 'not a tree node key' }, 'The key is not a state tree node key; pass a key of bucket 0x0c.')
  const version = readU64be(key, 1)
  const depth = ((key[9] as number) << 8) | (key[10] as number)
  if (depth > MAX_DEPTH || key.length !== nodeKeyLength(depth)) throw new TreeError({ code: 'TREE_BAD_INPUT', reason: 'node key length' }, `The tree node key's length does not match its depth ${depth}; the key is damaged.`)
  let path = ''
  for (let d = 0; d < depth; d++) path += ((key[11 + (d >> 3)] as number) >> (7 - (d & 7))) & 1
  return { version, depth, path }
}

/** The root pointer key of `version`. */
export function rootKey (version: number): Uint8Array {
  return heightKey(Bucket.treeRoot, version)
}

/** The version a root pointer key names. */
export function rootKeyVersion (key: Uint8Array): number {
  return readU64be(key, 1)
}

/** The key of the stale list of `staleSince`: the nodes that left the tree at that version. */
export function staleKey (staleSince: number): Uint8Array {
  return heightKey(Bucket.treeStale, staleSince)
}

/** The version a stale list key names. */
export function staleKeyVersion (key: Uint8Array): number {
  return readU64be(key, 1)
}

/** The stored value of a stale list: the node keys (each with its 0x0c prefix) without their prefix, concatenated. */
export function encodeStaleList (nodeKeys: Iterable<Uint8Array>): Uint8Array {
  const keys = [...nodeKeys]
  let length = 0
  for (const k of keys) length += k.length - 1
  const out = new Uint8Array(length)
  let at = 0
  for (const k of keys) {
    out.set(k.subarray(1), at)
    at += k.length - 1
  }
  return out
}

/**
 * The node keys (with their prefix) of the stale list of `staleSince`; TREE_STALE_CORRUPT if an
 * entry is cut short, names a depth beyond MAX_DEPTH or a version not before `staleSince`.
 */
export function decodeStaleList (staleSince: number, bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  let at = 0
  while (at < bytes.length) {
    if (at + 10 > bytes.length) throw staleCorrupt(staleSince, 'an entry is cut short')
    const depth = ((bytes[at + 8] as number) << 8) | (bytes[at + 9] as number)
    if (depth > MAX_DEPTH) throw staleCorrupt(staleSince, 'an entry\'s depth is beyond the deepest level')
    const length = nodeKeyLength(depth) - 1
    if (at + length > bytes.length) throw staleCorrupt(staleSince, 'an entry is cut short')
    if (readU64be(bytes, at) >= staleSince) throw staleCorrupt(staleSince, 'an entry names a node not older than the list')
    const key = new Uint8Array(length + 1)
    key[0] = Bucket.treeNode
    key.set(bytes.subarray(at, at + length), 1)
    out.push(key)
    at += length
  }
  return out
}

function staleCorrupt (staleSince: number, reason: string): TreeError {
  return new TreeError({ code: 'TREE_STALE_CORRUPT', staleSince, reason }, `The state tree's stale list of version ${staleSince} is damaged (${reason}); ${RESTORE}.`)
}

/** The key of the pruning watermark: versions up to its value are pruned. */
export const PRUNED_UPTO_KEY = concatBytes(Uint8Array.of(Bucket.treeMeta), utf8('pruned-upto'))

function refWire (ref: ChildRef | null): Wire {
  return ref === null ? [] : [bytesOfLatin1(ref.hash), BigInt(ref.version), ref.leaf ? 1 : 0]
}

/** Writes the 32 bytes of binary hash `h` at `at`. */
function putHash (out: Uint8Array, at: number, h: BinaryHash): void {
  for (let i = 0; i < 32; i++) out[at + i] = h.charCodeAt(i)
}

/** Writes the canonical encoding of a child ref at `at` (0x90 for none; else a 3-tuple of bin8 hash, int64 version, fixint flag); returns the end. */
function putRef (out: Uint8Array, at: number, ref: ChildRef | null): number {
  if (ref === null) {
    out[at] = 0x90
    return at + 1
  }
  out[at] = 0x93
  out[at + 1] = 0xc4
  out[at + 2] = 32
  putHash(out, at + 3, ref.hash)
  out[at + 35] = 0xd3
  writeU64be(out, at + 36, ref.version)
  out[at + 44] = ref.leaf ? 1 : 0
  return at + 45
}

/**
 * The stored value of a node: exactly `encodeCanonical([0, keyHash, valueHash])` for a leaf and
 * `encodeCanonical([1, left, right])` for an internal node (each ref `[hash, u64 version, 0|1]`
 * or `[]`), written byte by byte because a block writes tens of thousands of nodes; the unit tests
 * pin it against encodeCanonical.
 */
export function encodeNode (node: StoredNode): Uint8Array {
  if (node.leaf) {
    const out = new Uint8Array(70)
    out[0] = 0x93
    out[1] = 0
    out[2] = 0xc4
    out[3] = 32
    putHash(out, 4, node.keyHash)
    out[36] = 0xc4
    out[37] = 32
    putHash(out, 38, node.valueHash)
    return out
  }
  const out = new Uint8Array(2 + (node.left === null ? 1 : 45) + (node.right === null ? 1 : 45))
  out[0] = 0x93
  out[1] = 1
  putRef(out, putRef(out, 2, node.left), node.right)
  return out
}

/** The stored value of a root pointer: the root's ref, or [] for the empty tree. */
export function encodeRoot (ref: ChildRef | null): Uint8Array {
  return encodeCanonical(refWire(ref))
}

/** The stored value of the pruning watermark. */
export function encodePrunedUpto (version: number): Uint8Array {
  return encodeCanonical([BigInt(version)])
}

const NODE_LIMITS = { maxBytes: 128, maxItems: 3, maxDepth: 3 }

/** Why `w` is not a child ref, or the ref (null for []). */
function readRef (w: Wire | undefined, maxVersion: number): ChildRef | null | string {
  if (!Array.isArray(w)) return 'child is not a tuple'
  if (w.length === 0) return null
  const [hash, version, leaf] = w
  if (w.length !== 3 || !(hash instanceof Uint8Array) || hash.length !== 32) return 'child ref is not [hash, version, isLeaf]'
  if (typeof version !== 'bigint' || version > BigInt(maxVersion)) return 'child version is later than its parent'
  if (leaf !== 0 && leaf !== 1) return 'child isLeaf is not 0 or 1'
  return { hash: latin1String(hash, 0, 32), version: Number(version), leaf: leaf === 1 }
}

/** Bit `depth` (0 = the most significant bit of the first byte) of binary hash `h`: 0 goes left, 1 right. */
export function bit (h: BinaryHash, depth: number): number {
  return (h.charCodeAt(depth >> 3) >> (7 - (depth & 7))) & 1
}

/**
 * Decodes the stored node under `key` (a node key), checking its shape and that it may stand at
 * its position: a leaf's key hash lies on the node's path, an internal node has two children or
 * one internal child (a single leaf would have been lifted), no child is newer than the node.
 * Throws TREE_NODE_CORRUPT naming the node otherwise. The node's hash is checked by the caller,
 * against the ref it followed.
 */
export function decodeNode (key: Uint8Array, bytes: Uint8Array): StoredNode {
  const { version, depth, path } = parseNodeKey(key)
  const corrupt = (reason: string): TreeError => new TreeError(
    { code: 'TREE_NODE_CORRUPT', version, depth, path, reason },
    `The state tree node of version ${version} at depth ${depth} is damaged (${reason}); ${RESTORE}.`
  )
  let w: Wire
  try {
    w = decodeCanonical(bytes, NODE_LIMITS)
  } catch (err) {
    if (err instanceof CodecError) throw corrupt(`not a canonical tuple: ${err.code}`)
    throw err
  }
  if (!Array.isArray(w) || w.length !== 3) throw corrupt('not a 3-tuple')
  const [tag, a, b] = w
  if (tag === 0) {
    if (!(a instanceof Uint8Array) || a.length !== 32 || !(b instanceof Uint8Array) || b.length !== 32) throw corrupt('leaf hashes are not 32 bytes')
    const keyHash = latin1String(a, 0, 32)
    for (let d = 0; d < depth; d++) {
      if (bit(keyHash, d) !== ((key[11 + (d >> 3)] as number) >> (7 - (d & 7)) & 1)) throw corrupt('leaf key hash is off the node\'s path')
    }
    return { leaf: true, keyHash, valueHash: latin1String(b, 0, 32) }
  }
  if (tag !== 1) throw corrupt('unknown node tag')
  if (depth >= MAX_DEPTH) throw corrupt('internal node below the deepest level')
  const left = readRef(a, version)
  const right = readRef(b, version)
  if (typeof left === 'string') throw corrupt(left)
  if (typeof right === 'string') throw corrupt(right)
  if (left === null && right === null) throw corrupt('internal node without children')
  if ((left === null && right?.leaf === true) || (right === null && left?.leaf === true)) throw corrupt('a single leaf under an internal node')
  return { leaf: false, left, right }
}

/** Decodes the root pointer of `version`: the root's ref, or null for the empty tree. */
export function decodeRoot (version: number, bytes: Uint8Array): ChildRef | null {
  let w: Wire
  try {
    w = decodeCanonical(bytes, NODE_LIMITS)
  } catch (err) {
    if (err instanceof CodecError) throw rootCorrupt(version, `not a canonical tuple: ${err.code}`)
    throw err
  }
  const ref = readRef(w, version)
  if (typeof ref === 'string') throw rootCorrupt(version, ref)
  return ref
}

function rootCorrupt (version: number, reason: string): TreeError {
  return new TreeError({ code: 'TREE_ROOT_CORRUPT', version, reason }, `The state tree's root pointer of version ${version} is damaged (${reason}); ${RESTORE}.`)
}

/** Decodes the pruning watermark. */
export function decodePrunedUpto (bytes: Uint8Array): number {
  let w: Wire
  try {
    w = decodeCanonical(bytes, NODE_LIMITS)
  } catch {
    w = []
  }
  if (!Array.isArray(w) || w.length !== 1 || typeof w[0] !== 'bigint') {
    throw new TreeError({ code: 'TREE_ROOT_CORRUPT', version: -1, reason: 'pruning watermark' }, `The state tree's pruning watermark is damaged; ${RESTORE}.`)
  }
  return Number(w[0])
}

/** TREE_NODE_CORRUPT for a node whose bytes decode but whose hash differs from its parent's ref. */
export function nodeHashMismatch (key: Uint8Array): TreeError {
  const { version, depth, path } = parseNodeKey(key)
  return new TreeError(
    { code: 'TREE_NODE_CORRUPT', version, depth, path, reason: 'hash differs from the parent\'s reference' },
    `The state tree node of version ${version} at depth ${depth} does not hash to what its parent references; ${RESTORE}.`
  )
}

/** TREE_NODE_MISSING for a node a parent (or a root pointer) references but the store lacks. */
export function nodeMissing (key: Uint8Array): TreeError {
  const { version, depth, path } = parseNodeKey(key)
  return new TreeError(
    { code: 'TREE_NODE_MISSING', version, depth, path },
    `The state tree node of version ${version} at depth ${depth} (path ${path.length > 0 ? path : 'root'}) is missing; ${RESTORE}.`
  )
}
