/**
 * Building the state tree on disk from the stored state values: what `Chain.open` does once for
 * a data directory that has state values but no tree root pointer at its head (one written before
 * the tree moved to disk, or one whose build was interrupted).
 *
 * The build first deletes whatever the tree buckets (0x0c-0x0f) hold, then streams the state
 * bucket into (key hash, value hash) leaves, sorts them, and writes the whole tree as the head's
 * version in synced chunks (VersionedTree.build), the root pointer in the last one. Until that
 * last chunk is on disk there is no root pointer at the head, so a crash at any point leaves a
 * directory that the next open builds again from the start; nothing else in the database changes.
 */
import { sha256Binary } from '../crypto/hash.js'
import { hasErrorCode } from '../util/errors.js'
import { stateKeyHash } from './stateOverlay.js'
import { Bucket, prefixRange } from './store/buckets.js'
import { writeBatch, type BatchOp, type ChainDb } from './store/db.js'
import { VersionedTree, type TreeLeaf } from './versionedTree.js'

/** Progress of a tree build: leaves written so far of `total` (the number of state keys). */
export interface TreeBuildProgress { done: number, total: number }

export interface TreeBuildOptions {
  /** Called at the start (done 0) and after each chunk is on disk. An exception stops the build (as a crash would). */
  onProgress?: (p: TreeBuildProgress) => void
  /** Node writes per synced chunk. Default 10,000. */
  chunkSize?: number
}

/** True when the tree has a root pointer at `version`; false when it has none (TREE_VERSION_MISSING). */
export async function hasTreeVersion (tree: VersionedTree, version: number): Promise<boolean> {
  try {
    await tree.rootOf(version)
    return true
  } catch (err) {
    if (hasErrorCode(err, 'TREE_VERSION_MISSING')) return false
    throw err
  }
}

/** Deletes every key of the tree buckets 0x0c-0x0f, in batches. */
async function clearTreeBuckets (db: ChainDb): Promise<void> {
  const range = { gte: Uint8Array.of(Bucket.treeNode), lt: Uint8Array.of(Bucket.treeMeta + 1), limit: 10_000 }
  for (;;) {
    const ops: BatchOp[] = []
    for await (const key of db.keys(range)) ops.push({ type: 'del', key })
    if (ops.length === 0) return
    await writeBatch(db, ops, false)
  }
}

/**
 * Writes the tree of every value in the state bucket of `db` as `version` and returns its root
 * (32 bytes). Holds two 32-byte hashes per state key while it sorts them.
 */
export async function buildTreeFromValues (db: ChainDb, version: number, opts: TreeBuildOptions = {}): Promise<Uint8Array> {
  await clearTreeBuckets(db)
  const decoder = new TextDecoder()
  const leaves: TreeLeaf[] = []
  for await (const [key, value] of db.iterator(prefixRange(Uint8Array.of(Bucket.state)))) {
    leaves.push({ keyHash: stateKeyHash(decoder.decode(key.subarray(1))), valueHash: sha256Binary(value) })
  }
  leaves.sort((a, b) => a.keyHash < b.keyHash ? -1 : a.keyHash > b.keyHash ? 1 : 0)
  const total = leaves.length
  let done = 0
  opts.onProgress?.({ done, total })
  function * counted (): Generator<TreeLeaf> {
    for (const leaf of leaves) {
      done++
      yield leaf
    }
  }
  const built = await VersionedTree.build(version, counted(), async (puts) => {
    await writeBatch(db, puts.map(([key, value]) => ({ type: 'put', key, value })), true)
    opts.onProgress?.({ done, total })
  }, opts.chunkSize !== undefined ? { chunkSize: opts.chunkSize } : {})
  return built.root
}
