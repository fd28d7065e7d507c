/**
 * The state tree on disk: the sparse Merkle tree of src/chain/smt.ts (same leaves, same hashes,
 * same roots and proofs, byte for byte), with its nodes in the state database, versioned the way
 * Aptos' Jellyfish Merkle tree is: every version's nodes are written under that version and never
 * changed, so every unpruned version is readable at once. The format is in store/treeNodes.ts.
 *
 * The tree writes nothing itself. `prepareUpdate` reads what a block's changes touch and returns
 * the writes of the new version (new nodes, its root pointer, its stale-index entries); the caller
 * adds them to the block's atomic batch and, once the batch is on disk, calls `commit` so the new
 * nodes may be cached. `prune` and `build` write through the store or the sink they are given.
 *
 * Memory is the node cache (an LRU bounded by `cacheBytes`, approximate) plus what one update
 * touches: about k·(log2(n/k) + 2) nodes for k changes in a tree of n leaves, read level by level
 * in one batched read per level. Every node read is checked against the reference its parent
 * holds (its hash and whether it is a leaf), so a damaged or missing node is an error
 * (TREE_NODE_CORRUPT, TREE_NODE_MISSING), never a wrong root or a wrong proof.
 */
import { bytesOfLatin1, byteKey } from '../crypto/bytes.js'
import type { SmtProof } from '../types/smtProof.js'
import { EMPTY_HASH, hashNode, type BinaryHash, type TreeChange } from './smt.js'
import { writeBatch, type BatchOp, type ChainDb } from './store/db.js'
import { Bucket } from './store/buckets.js'
import {
  PRUNED_UPTO_KEY, TreeError, bit, decodeNode, decodePrunedUpto, decodeRoot, encodeNode, encodePrunedUpto, encodeRoot,
  decodeStaleList, encodeStaleList, nodeHashMismatch, nodeKey, nodeMissing, rootKey, staleKey, staleKeyVersion,
  type ChildRef, type StoredNode
} from './store/treeNodes.js'

export { TreeError, type TreeErrorType } from './store/treeNodes.js'

/** Point reads of many keys at once, in order; undefined for a missing key (abstract-level's getMany). */
export interface TreeReader {
  getMany: (keys: Uint8Array[]) => Promise<Array<Uint8Array | undefined>>
}

/** What pruning needs besides reads: a key range scan and one atomic batch. */
export interface TreeStore extends TreeReader {
  keys: (range: { gte: Uint8Array, lt: Uint8Array, limit?: number }) => AsyncIterable<Uint8Array>
  /** Writes `ops` as one atomic batch. */
  write: (ops: BatchOp[]) => Promise<void>
}

/**
 * The tree's store over a chain database (LevelDB or memory-level). Its batches (prune's, the
 * only writes the tree makes itself) are not synced: LevelDB appends them to its log in order, so
 * a crash keeps them all (a killed process) or loses a suffix of them (a power cut), and prune
 * is correct after any prefix of its writes; the next block's synced batch makes them durable.
 * A synced prune cost every validator one or two more fsyncs per block.
 */
export function treeStoreOf (db: ChainDb): TreeStore {
  const native = (db as ChainDb & { getMany?: (keys: Uint8Array[]) => Promise<Array<Uint8Array | undefined>> }).getMany
  return {
    getMany: typeof native === 'function'
      ? async (keys) => await native.call(db, keys)
      : async (keys) => await Promise.all(keys.map(async (k) => await db.get(k))),
    keys: (range) => db.keys(range),
    write: async (ops) => { await writeBatch(db, ops, false) }
  }
}

/** The writes of one version, for the caller's atomic batch, and what the tree computed. */
export interface TreeUpdate {
  readonly version: number
  /** The version the changes apply to; null for the empty tree. */
  readonly base: number | null
  /** The new version's root (32 bytes). */
  readonly root: Uint8Array
  /** New nodes, the root pointer of `version`, its stale list (if it replaced any node): all puts, in no particular order. */
  readonly puts: ReadonlyArray<readonly [Uint8Array, Uint8Array]>
  /** How many nodes of earlier versions this version replaced. */
  readonly staleNodes: number
  /** How many nodes this version writes. */
  readonly newNodes: number
}

export interface VersionedTreeOptions {
  /** Bound of the node cache in (approximate) bytes; 0 disables it. Default 64 MiB. */
  cacheBytes?: number
}

export interface PruneOptions {
  /** Deletions per atomic batch. Default 10,000. */
  batchSize?: number
}

export interface PruneResult {
  /** Nodes deleted by this run. */
  nodes: number
  /** Root pointers deleted by this run. */
  roots: number
}

/** A leaf of `build`: key hash and value hash, binary strings as in smt.ts. */
export interface TreeLeaf { keyHash: BinaryHash, valueHash: BinaryHash }

export const DEFAULT_TREE_CACHE_BYTES = 64 * 1024 * 1024


function hashOfNode (node: StoredNode): BinaryHash {
  return node.leaf ? hashNode(0, node.keyHash, node.valueHash) : hashNode(1, node.left?.hash ?? EMPTY_HASH, node.right?.hash ?? EMPTY_HASH)
}

function isBinaryHash (h: unknown): h is BinaryHash {
  // eslint-disable-next-line no-control-regex
  return typeof h === 'string' && h.length === 32 && !/[^\u0000-\u00ff]/.test(h)
}

function badInput (reason: string, message: string): TreeError {
  return new TreeError({ code: 'TREE_BAD_INPUT', reason }, message)
}

function checkVersion (v: number, what: string): void {
  if (!Number.isSafeInteger(v) || v < 0) throw badInput(`${what} not a version`, `The ${what} ${v} is not a version (an integer from 0 up); pass a block height.`)
}

/**
 * The node key of the child at `depth` (>= 1) on `side` of the node whose path is the first
 * depth - 1 bits of `pathHash`.
 */
function childNodeKey (version: number, depth: number, pathHash: BinaryHash, side: number): Uint8Array {
  const key = nodeKey(version, depth, pathHash)
  const i = 11 + ((depth - 1) >> 3)
  const mask = 0x80 >> ((depth - 1) & 7)
  key[i] = side === 1 ? (key[i] as number) | mask : (key[i] as number) & ~mask
  return key
}

/** Approximate heap bytes of one cached node with its key (Map entry, strings, objects). */
function approxBytes (key: string, node: StoredNode): number {
  return 96 + key.length + (node.leaf ? 2 * 56 : (node.left === null ? 0 : 104) + (node.right === null ? 0 : 104))
}

/**
 * Decoded nodes by node key, bounded by approximate bytes: two generations, each at most half the
 * bound. New and re-used nodes go to the young one; when it is full it becomes the old one and the
 * old one is dropped whole, so the nodes of the last two half-bounds of use stay. Evicting a whole
 * Map keeps every operation O(1): evicting entry by entry from the front of one Map walks the
 * deleted entries V8 leaves there, which grows with every eviction (the same trap as the
 * signature caches' BoundedSet, src/util/boundedSet.ts).
 */
class NodeCache {
  private young = new Map<string, { node: StoredNode, bytes: number }>()
  private old = new Map<string, { node: StoredNode, bytes: number }>()
  private youngBytes = 0
  private oldBytes = 0

  constructor (readonly limit: number) {}

  get size (): number {
    return this.young.size + this.old.size
  }

  get bytes (): number {
    return this.youngBytes + this.oldBytes
  }

  get (key: string): StoredNode | undefined {
    const y = this.young.get(key)
    if (y !== undefined) return y.node
    const o = this.old.get(key)
    if (o === undefined) return undefined
    this.old.delete(key)
    this.oldBytes -= o.bytes
    this.insert(key, o)
    return o.node
  }

  set (key: string, node: StoredNode): void {
    const bytes = approxBytes(key, node)
    if (bytes > this.limit / 2) return
    const y = this.young.get(key)
    if (y !== undefined) {
      this.young.delete(key)
      this.youngBytes -= y.bytes
    }
    const o = this.old.get(key)
    if (o !== undefined) {
      this.old.delete(key)
      this.oldBytes -= o.bytes
    }
    this.insert(key, { node, bytes })
  }

  private insert (key: string, entry: { node: StoredNode, bytes: number }): void {
    if (this.youngBytes + entry.bytes > this.limit / 2) {
      this.old = this.young
      this.oldBytes = this.youngBytes
      this.young = new Map()
      this.youngBytes = 0
    }
    this.young.set(key, entry)
    this.youngBytes += entry.bytes
  }
}

/** A subtree during an update: a stored node (at its original depth) or a new one. */
interface OldMem { readonly t: 0, readonly ref: ChildRef, readonly key: Uint8Array, readonly depth: number }
interface NewLeaf { readonly t: 1, readonly hash: BinaryHash, readonly keyHash: BinaryHash, readonly valueHash: BinaryHash }
interface NewInternal { readonly t: 2, readonly hash: BinaryHash, readonly left: Mem | null, readonly right: Mem | null }
type Mem = OldMem | NewLeaf | NewInternal

const memHash = (m: Mem | null): BinaryHash => m === null ? EMPTY_HASH : m.t === 0 ? m.ref.hash : m.hash
const memIsLeaf = (m: Mem): boolean => m.t === 0 ? m.ref.leaf : m.t === 1

function newLeaf (keyHash: BinaryHash, valueHash: BinaryHash): NewLeaf {
  return { t: 1, keyHash, valueHash, hash: hashNode(0, keyHash, valueHash) }
}

interface SortedChange { keyHash: BinaryHash, valueHash: BinaryHash | null }

/** The work of one prepareUpdate: what it loaded, what it replaced, what it writes. */
class UpdateWork {
  readonly loaded = new Map<string, StoredNode>()
  readonly stale = new Map<string, Uint8Array>()
  /** Stored subtrees left as the only child of a new internal node: their isLeaf flag decides the shape. */
  readonly lone: OldMem[] = []
  readonly moved: Array<{ from: OldMem, to: Uint8Array }> = []
  readonly puts: Array<readonly [Uint8Array, Uint8Array]> = []
  readonly newNodes: Array<[string, StoredNode]> = []
  private readonly path = new Uint8Array(33)

  constructor (readonly version: number, readonly changes: readonly SortedChange[]) {}

  split (lo: number, hi: number, depth: number): number {
    let mid = lo
    while (mid < hi && bit((this.changes[mid] as SortedChange).keyHash, depth) === 0) mid++
    return mid
  }

  markStale (m: OldMem): void {
    this.stale.set(byteKey(m.key), m.key)
  }

  makeInternal (l: Mem | null, r: Mem | null): Mem | null {
    if (l === null && r === null) return null
    if (l === null && r !== null && memIsLeaf(r)) return r
    if (r === null && l !== null && memIsLeaf(l)) return l
    const only = l ?? r
    if ((l === null || r === null) && only !== null && only.t === 0 && !this.loaded.has(byteKey(only.key))) this.lone.push(only)
    return { t: 2, left: l, right: r, hash: hashNode(1, memHash(l), memHash(r)) }
  }

  build (items: readonly NewLeaf[], lo: number, hi: number, depth: number): Mem | null {
    if (hi - lo === 0) return null
    if (hi - lo === 1) return items[lo] as NewLeaf
    let mid = lo
    while (mid < hi && bit((items[mid] as NewLeaf).keyHash, depth) === 0) mid++
    return this.makeInternal(this.build(items, lo, mid, depth + 1), this.build(items, mid, hi, depth + 1))
  }

  /** The subtree `mem` at `depth` with changes[lo, hi) applied (smt.ts' applyChanges over stored nodes). */
  apply (mem: OldMem | null, depth: number, lo: number, hi: number): Mem | null {
    if (hi === lo) return mem
    const changes = this.changes
    const node = mem === null ? null : this.loaded.get(byteKey(mem.key))
    if (mem !== null && node === undefined) throw new Error('versioned tree: a node on a changed path was not loaded')
    if (node === null || node === undefined || node.leaf) {
      const items: NewLeaf[] = []
      let existing: { keyHash: BinaryHash, valueHash: BinaryHash } | null = node ?? null
      for (let i = lo; i < hi; i++) {
        const c = changes[i] as SortedChange
        if (existing !== null && existing.keyHash < c.keyHash) {
          items.push(newLeaf(existing.keyHash, existing.valueHash))
          existing = null
        }
        if (existing !== null && existing.keyHash === c.keyHash) existing = null
        if (c.valueHash !== null) items.push(newLeaf(c.keyHash, c.valueHash))
      }
      if (existing !== null) items.push(newLeaf(existing.keyHash, existing.valueHash))
      const result = this.build(items, 0, items.length, depth)
      if (mem === null) return result
      if (result !== null && memHash(result) === mem.ref.hash) return mem
      this.markStale(mem)
      return result
    }
    if (mem === null) throw new Error('versioned tree: an internal node without its reference')
    const pathHash = (changes[lo] as SortedChange).keyHash
    const l0: OldMem | null = node.left === null ? null : { t: 0, ref: node.left, key: childNodeKey(node.left.version, depth + 1, pathHash, 0), depth: depth + 1 }
    const r0: OldMem | null = node.right === null ? null : { t: 0, ref: node.right, key: childNodeKey(node.right.version, depth + 1, pathHash, 1), depth: depth + 1 }
    const mid = this.split(lo, hi, depth)
    const l = this.apply(l0, depth + 1, lo, mid)
    const r = this.apply(r0, depth + 1, mid, hi)
    if (l === l0 && r === r0) return mem
    const result = this.makeInternal(l, r)
    if (result !== null && memHash(result) === mem.ref.hash) return mem
    this.markStale(mem)
    return result
  }

  private put (key: Uint8Array, node: StoredNode): void {
    this.puts.push([key, encodeNode(node)])
    this.newNodes.push([byteKey(key), node])
  }

  /** Writes the new nodes of `m` placed at `depth` (path bits in this.path) and returns its ref. */
  emit (m: Mem, depth: number): ChildRef {
    const version = this.version
    if (m.t === 0) {
      if (m.depth === depth) return m.ref
      // a stored leaf lifted by a deletion: rewritten at its new position once its content is read
      this.markStale(m)
      this.moved.push({ from: m, to: nodeKey(version, depth, this.path) })
      return { hash: m.ref.hash, version, leaf: true }
    }
    if (m.t === 1) {
      this.put(nodeKey(version, depth, m.keyHash), { leaf: true, keyHash: m.keyHash, valueHash: m.valueHash })
      return { hash: m.hash, version, leaf: true }
    }
    const byte = depth >> 3
    const mask = 0x80 >> (depth & 7)
    this.path[byte] = (this.path[byte] as number) & ~mask
    const left = m.left === null ? null : this.emit(m.left, depth + 1)
    this.path[byte] = (this.path[byte] as number) | mask
    const right = m.right === null ? null : this.emit(m.right, depth + 1)
    this.put(nodeKey(version, depth, this.path), { leaf: false, left, right })
    return { hash: m.hash, version, leaf: false }
  }

  addMoved (content: StoredNode, to: Uint8Array): void {
    this.put(to, content)
  }
}

export class VersionedTree {
  private readonly cache: NodeCache

  constructor (private readonly store: TreeReader | TreeStore, opts: VersionedTreeOptions = {}) {
    const cacheBytes = opts.cacheBytes ?? DEFAULT_TREE_CACHE_BYTES
    if (!Number.isSafeInteger(cacheBytes) || cacheBytes < 0) throw badInput('cacheBytes', `cacheBytes ${cacheBytes} is not a byte count; pass an integer from 0 up.`)
    this.cache = new NodeCache(cacheBytes)
  }

  /** The node cache's approximate size in bytes and its number of nodes. */
  cacheStats (): { bytes: number, nodes: number, limit: number } {
    return { bytes: this.cache.bytes, nodes: this.cache.size, limit: this.cache.limit }
  }

  /**
   * The root pointer of `version`: the root's ref, or null for the empty tree. One batched read
   * (the pointer and the pruning watermark). TREE_VERSION_PRUNED, TREE_VERSION_MISSING otherwise.
   */
  private async rootRef (version: number): Promise<ChildRef | null> {
    checkVersion(version, 'version')
    const [bytes, prunedBytes] = await this.store.getMany([rootKey(version), PRUNED_UPTO_KEY])
    const prunedUpto = prunedBytes === undefined ? -1 : decodePrunedUpto(prunedBytes)
    if (version <= prunedUpto) {
      throw new TreeError({ code: 'TREE_VERSION_PRUNED', version, prunedUpto }, `The state tree of version ${version} was pruned (versions up to ${prunedUpto} are); read a later version.`)
    }
    if (bytes === undefined) throw new TreeError({ code: 'TREE_VERSION_MISSING', version }, `The state tree has no version ${version}; read a version that was written.`)
    return decodeRoot(version, bytes)
  }

  /**
   * The root of `version` as its root pointer stores it (32 bytes; the empty tree's is 32 zero
   * bytes): one read, no node loaded. A damaged pointer that still decodes gives another root,
   * which the caller's comparison with the block header catches; every walk from it (get, prove,
   * prepareUpdate) checks the root node against it.
   */
  async rootOf (version: number): Promise<Uint8Array> {
    return bytesOfLatin1((await this.rootRef(version))?.hash ?? EMPTY_HASH)
  }

  /**
   * Loads the nodes `mems` reference (through the cache), checking each against its ref:
   * TREE_NODE_MISSING if absent, TREE_NODE_CORRUPT if its bytes, hash or kind are wrong.
   */
  private async load (mems: ReadonlyArray<{ ref: ChildRef, key: Uint8Array }>): Promise<StoredNode[]> {
    const out: StoredNode[] = new Array<StoredNode>(mems.length)
    const miss: number[] = []
    for (let i = 0; i < mems.length; i++) {
      const cached = this.cache.get(byteKey((mems[i] as { key: Uint8Array }).key))
      if (cached === undefined) miss.push(i)
      else out[i] = cached
    }
    if (miss.length === 0) return out
    const values = await this.store.getMany(miss.map((i) => (mems[i] as { key: Uint8Array }).key))
    for (let j = 0; j < miss.length; j++) {
      const i = miss[j] as number
      const { ref, key } = mems[i] as { ref: ChildRef, key: Uint8Array }
      const bytes = values[j]
      if (bytes === undefined) throw nodeMissing(key)
      const node = decodeNode(key, bytes)
      if (node.leaf !== ref.leaf || hashOfNode(node) !== ref.hash) throw nodeHashMismatch(key)
      out[i] = node
      this.cache.set(byteKey(key), node)
    }
    return out
  }

  /**
   * Applies `changes` (later changes to a key win; valueHash null deletes) to version `base`
   * (default version - 1; null, or version 0 by default, means the empty tree) and returns the
   * writes of `version`. Reads the nodes on the changed paths level by level, one batched read
   * per level; computes the root synchronously; then reads the few stored leaves a deletion
   * lifts, or leaves as the only child of a node. Writes nothing and changes no cache until
   * `commit`. Throws TreeError (bad input, a missing or pruned base, a damaged node) before
   * returning any root.
   *
   * Versions form one line: of the updates prepared on one base, at most one is committed, and
   * the base of a committed update is the newest committed version (the chain's head). The stale
   * index, and so pruning, relies on it: a node an update replaces is used by no later version.
   */
  async prepareUpdate (version: number, changes: readonly TreeChange[], base: number | null = version === 0 ? null : version - 1): Promise<TreeUpdate> {
    checkVersion(version, 'version')
    if (base !== null) {
      checkVersion(base, 'base version')
      if (base >= version) throw badInput('base not before version', `The base version ${base} is not before the new version ${version}; versions only grow.`)
    }
    const byKey = new Map<BinaryHash, SortedChange>()
    for (const c of changes) {
      if (!isBinaryHash(c.keyHash) || (c.valueHash !== null && !isBinaryHash(c.valueHash))) {
        throw badInput('hash not 32 binary characters', 'A change\'s keyHash or valueHash is not a 32-byte binary string; pass sha256Binary digests.')
      }
      byKey.set(c.keyHash, { keyHash: c.keyHash, valueHash: c.valueHash })
    }
    const sorted = [...byKey.values()].sort((a, b) => a.keyHash < b.keyHash ? -1 : a.keyHash > b.keyHash ? 1 : 0)
    const work = new UpdateWork(version, sorted)
    const baseRef = base === null ? null : await this.rootRef(base)
    const rootMem: OldMem | null = baseRef === null ? null : { t: 0, ref: baseRef, key: nodeKey(baseRef.version, 0, EMPTY_HASH), depth: 0 }

    // 1. every stored node on the changed paths, one level per batched read
    let frontier: Array<{ mem: OldMem, lo: number, hi: number }> = rootMem === null || sorted.length === 0 ? [] : [{ mem: rootMem, lo: 0, hi: sorted.length }]
    while (frontier.length > 0) {
      const nodes = await this.load(frontier.map((f) => f.mem))
      const next: typeof frontier = []
      for (let i = 0; i < frontier.length; i++) {
        const { mem, lo, hi } = frontier[i] as { mem: OldMem, lo: number, hi: number }
        const node = nodes[i] as StoredNode
        work.loaded.set(byteKey(mem.key), node)
        if (node.leaf) continue
        const d = mem.depth
        const mid = work.split(lo, hi, d)
        if (mid > lo && node.left !== null) next.push({ mem: { t: 0, ref: node.left, key: childNodeKey(node.left.version, d + 1, (sorted[lo] as SortedChange).keyHash, 0), depth: d + 1 }, lo, hi: mid })
        if (hi > mid && node.right !== null) next.push({ mem: { t: 0, ref: node.right, key: childNodeKey(node.right.version, d + 1, (sorted[mid] as SortedChange).keyHash, 1), depth: d + 1 }, lo: mid, hi })
      }
      frontier = next
    }

    // 2. the new tree, synchronously
    const newRoot = work.apply(rootMem, 0, 0, sorted.length)
    const rootRef = newRoot === null ? null : work.emit(newRoot, 0)

    // 3. the stored subtrees whose kind shaped the result, and the lifted leaves' content
    const unread = [...work.lone, ...work.moved.map((m) => m.from)].filter((m) => !work.loaded.has(byteKey(m.key)))
    if (unread.length > 0) {
      const nodes = await this.load(unread)
      for (let i = 0; i < unread.length; i++) work.loaded.set(byteKey((unread[i] as OldMem).key), nodes[i] as StoredNode)
    }
    for (const { from, to } of work.moved) work.addMoved(work.loaded.get(byteKey(from.key)) as StoredNode, to)

    const newNodes = work.newNodes.length
    work.puts.push([rootKey(version), encodeRoot(rootRef)])
    if (work.stale.size > 0) work.puts.push([staleKey(version), encodeStaleList(work.stale.values())])
    const update: TreeUpdate = {
      version,
      base,
      root: bytesOfLatin1(rootRef?.hash ?? EMPTY_HASH),
      puts: work.puts,
      staleNodes: work.stale.size,
      newNodes
    }
    this.pending.set(update, work.newNodes)
    return update
  }

  private readonly pending = new WeakMap<TreeUpdate, ReadonlyArray<[string, StoredNode]>>()

  /** Tells the tree `update`'s writes are on disk: its new nodes may now be served from the cache. */
  commit (update: TreeUpdate): void {
    const nodes = this.pending.get(update)
    if (nodes === undefined) return
    this.pending.delete(update)
    for (const [key, node] of nodes) this.cache.set(key, node)
  }

  /** Walks from the root of `version` towards `keyHash`; calls `visit` on each internal node passed. */
  private async walk (version: number, keyHash: BinaryHash, visit: (node: StoredNode, depth: number) => void): Promise<StoredNode | null> {
    if (!isBinaryHash(keyHash)) throw badInput('keyHash not 32 binary characters', 'The keyHash is not a 32-byte binary string; pass a sha256Binary digest.')
    let ref = await this.rootRef(version)
    let depth = 0
    while (ref !== null) {
      const node = (await this.load([{ ref, key: nodeKey(ref.version, depth, keyHash) }]))[0] as StoredNode
      if (node.leaf) return node
      visit(node, depth)
      ref = bit(keyHash, depth) === 1 ? node.right : node.left
      depth++
    }
    return null
  }

  /** The value hash stored under `keyHash` at `version`, if any. */
  async get (version: number, keyHash: BinaryHash): Promise<BinaryHash | undefined> {
    const end = await this.walk(version, keyHash, () => {})
    return end !== null && end.leaf && end.keyHash === keyHash ? end.valueHash : undefined
  }

  /** An inclusion (key present) or absence proof of `keyHash` at `version`, as SparseMerkleTree.prove gives. */
  async prove (version: number, keyHash: BinaryHash): Promise<SmtProof> {
    const siblings: Uint8Array[] = []
    const end = await this.walk(version, keyHash, (node, depth) => {
      if (node.leaf) return
      const sibling = bit(keyHash, depth) === 1 ? node.left : node.right
      siblings.push(bytesOfLatin1(sibling?.hash ?? EMPTY_HASH))
    })
    return end === null || !end.leaf ? { siblings } : { siblings, leaf: { keyHash: bytesOfLatin1(end.keyHash), valueHash: bytesOfLatin1(end.valueHash) } }
  }

  /**
   * Makes every version up to `uptoVersion` unreadable (TREE_VERSION_PRUNED) and deletes what only
   * they used: the nodes that left the tree at uptoVersion + 1 or before, their stale lists, and
   * those versions' root pointers. First writes the watermark, then deletes in atomic batches of
   * about `batchSize` deletions, each batch whole stale lists with the nodes they name (a list
   * longer than batchSize is one batch), so a crash at any point leaves every later version
   * whole, and running it again finishes the job. Refuses (TREE_PRUNE_ALL) when no version after
   * `uptoVersion` exists. Needs a TreeStore.
   */
  async prune (uptoVersion: number, opts: PruneOptions = {}): Promise<PruneResult> {
    checkVersion(uptoVersion, 'prune version')
    const batchSize = opts.batchSize ?? 10_000
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw badInput('batchSize', `batchSize ${batchSize} is not a positive integer.`)
    const store = this.store as Partial<TreeStore>
    if (typeof store.keys !== 'function' || typeof store.write !== 'function') throw badInput('read-only store', 'Pruning needs a store that can scan and write (a TreeStore); open the tree over treeStoreOf(db).')
    const keys = store.keys.bind(store)
    const write = store.write.bind(store)
    const endOfRoots = Uint8Array.of(Bucket.treeRoot + 1)
    let later = false
    for await (const _ of keys({ gte: rootKey(uptoVersion + 1), lt: endOfRoots, limit: 1 })) later = true
    if (!later) throw new TreeError({ code: 'TREE_PRUNE_ALL', uptoVersion }, `Pruning up to version ${uptoVersion} would leave no readable version; prune only below the newest version.`)
    const [prunedBytes] = await this.store.getMany([PRUNED_UPTO_KEY])
    const prev = prunedBytes === undefined ? -1 : decodePrunedUpto(prunedBytes)
    if (uptoVersion > prev) await write([{ type: 'put', key: PRUNED_UPTO_KEY, value: encodePrunedUpto(uptoVersion) }])
    const upto = Math.max(prev, uptoVersion)

    const result: PruneResult = { nodes: 0, roots: 0 }
    const staleRange = { gte: staleKey(0), lt: staleKey(upto + 2), limit: batchSize }
    for (;;) {
      const listKeys: Uint8Array[] = []
      for await (const k of keys(staleRange)) listKeys.push(k)
      if (listKeys.length === 0) break
      const lists = await this.store.getMany(listKeys)
      let ops: BatchOp[] = []
      let nodeDels = 0
      for (let i = 0; i < listKeys.length; i++) {
        const key = listKeys[i] as Uint8Array
        const bytes = lists[i]
        for (const nodeKeyBytes of bytes === undefined ? [] : decodeStaleList(staleKeyVersion(key), bytes)) {
          ops.push({ type: 'del', key: nodeKeyBytes })
          nodeDels++
        }
        ops.push({ type: 'del', key })
        if (ops.length >= batchSize || i === listKeys.length - 1) {
          await write(ops)
          result.nodes += nodeDels
          ops = []
          nodeDels = 0
        }
      }
    }
    const rootRange = { gte: Uint8Array.of(Bucket.treeRoot), lt: rootKey(upto + 1), limit: batchSize }
    for (;;) {
      const ops: BatchOp[] = []
      for await (const k of keys(rootRange)) ops.push({ type: 'del', key: k })
      if (ops.length === 0) break
      await write(ops)
      result.roots += ops.length
    }
    return result
  }

  /**
   * Writes the whole tree of `leaves` as `version` (its nodes, then its root pointer, in the last
   * call of `sink`), for a migration or a state-sync restore; returns its root, which equals
   * SparseMerkleTree.fromLeaves of the same leaves. `leaves` must come in strictly ascending
   * keyHash order (TREE_BAD_INPUT otherwise, possibly after some chunks went to the sink: they are
   * unreferenced without the root pointer, and a retry overwrites them). Streams: it holds one
   * chunk of writes (`chunkSize`, default 10,000) and one pending node per level of the tree
   * (at most 256), whatever the number of leaves. The version's nodes are not entered in the stale
   * index of earlier versions: build into a store with no other version of the tree.
   */
  static async build (
    version: number,
    leaves: Iterable<TreeLeaf> | AsyncIterable<TreeLeaf>,
    sink: (puts: Array<[Uint8Array, Uint8Array]>) => Promise<void>,
    opts: { chunkSize?: number } = {}
  ): Promise<{ root: Uint8Array, leaves: number, nodes: number }> {
    checkVersion(version, 'version')
    const chunkSize = opts.chunkSize ?? 10_000
    let chunk: Array<[Uint8Array, Uint8Array]> = []
    let nodes = 0
    const put = async (key: Uint8Array, node: StoredNode): Promise<void> => {
      chunk.push([key, encodeNode(node)])
      nodes++
      if (chunk.length >= chunkSize) {
        const out = chunk
        chunk = []
        await sink(out)
      }
    }
    /** A finished subtree not yet placed: a leaf (depth unknown until its neighbours are), or an internal node at `depth`. */
    interface Pending { hash: BinaryHash, leaf: boolean, depth: number, anyKey: BinaryHash, valueHash: BinaryHash }
    /** Writes `p` as the child of a node at `parentDepth` (adding single-child internal nodes down to an internal p) and returns its ref. */
    const attach = async (p: Pending, parentDepth: number): Promise<ChildRef> => {
      if (p.leaf) {
        await put(nodeKey(version, parentDepth + 1, p.anyKey), { leaf: true, keyHash: p.anyKey, valueHash: p.valueHash })
        return { hash: p.hash, version, leaf: true }
      }
      let ref: ChildRef = { hash: p.hash, version, leaf: false }
      for (let j = p.depth - 1; j > parentDepth; j--) {
        const node: StoredNode = bit(p.anyKey, j) === 1 ? { leaf: false, left: null, right: ref } : { leaf: false, left: ref, right: null }
        await put(nodeKey(version, j, p.anyKey), node)
        ref = { hash: hashOfNode(node), version, leaf: false }
      }
      return ref
    }
    const internal = async (depth: number, left: ChildRef, right: ChildRef, anyKey: BinaryHash): Promise<Pending> => {
      const node: StoredNode = { leaf: false, left, right }
      await put(nodeKey(version, depth, anyKey), node)
      return { hash: hashOfNode(node), leaf: false, depth, anyKey, valueHash: EMPTY_HASH }
    }
    // open internal nodes on the right edge, their depth increasing, each waiting for its right child
    const stack: Array<{ depth: number, left: ChildRef, anyKey: BinaryHash }> = []
    let cur: Pending | null = null
    let count = 0
    let prevKey = ''
    for await (const l of leaves) {
      if (!isBinaryHash(l.keyHash) || !isBinaryHash(l.valueHash)) throw badInput('hash not 32 binary characters', `Leaf ${count}'s keyHash or valueHash is not a 32-byte binary string; pass sha256Binary digests.`)
      const leaf: Pending = { hash: hashNode(0, l.keyHash, l.valueHash), leaf: true, depth: -1, anyKey: l.keyHash, valueHash: l.valueHash }
      count++
      if (cur === null) { cur = leaf; prevKey = l.keyHash; continue }
      if (!(prevKey < l.keyHash)) throw badInput('leaves not ascending', `Leaf ${count - 1} does not come after the one before it in keyHash order; sort the leaves by keyHash and drop duplicates.`)
      let d = 0
      while (bit(prevKey, d) === bit(l.keyHash, d)) d++
      for (let top = stack.at(-1); top !== undefined && top.depth > d; top = stack.at(-1)) {
        stack.pop()
        cur = await internal(top.depth, top.left, await attach(cur, top.depth), top.anyKey)
      }
      stack.push({ depth: d, left: await attach(cur, d), anyKey: l.keyHash })
      cur = leaf
      prevKey = l.keyHash
    }
    let rootRef: ChildRef | null = null
    if (cur !== null) {
      for (let top = stack.pop(); top !== undefined; top = stack.pop()) cur = await internal(top.depth, top.left, await attach(cur, top.depth), top.anyKey)
      rootRef = await attach(cur, -1)
    }
    chunk.push([rootKey(version), encodeRoot(rootRef)])
    await sink(chunk)
    return { root: bytesOfLatin1(rootRef?.hash ?? EMPTY_HASH), leaves: count, nodes }
  }
}
