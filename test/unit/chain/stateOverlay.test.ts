/**
 * The per-block overlay over the committed state: reads see the overlay's own writes first,
 * nothing reaches the committed map before applyTo, the commitment's tree root is that of the
 * resulting values at the next version (the tree on disk, read but not written), and applyTo
 * never commits a view of a larger buffer (encodings come back as views of msgpackr's shared
 * buffers, and a view kept in the committed map would pin its whole buffer for as long as the
 * key lives).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryLevel } from 'memory-level'
import { EMPTY_ACCUMULATOR } from '../../../src/chain/auditLog.js'
import { stateKeyHash, StateOverlay, treeRootOfValues } from '../../../src/chain/stateOverlay.js'
import { writeBatch } from '../../../src/chain/store/db.js'
import { treeStoreOf, VersionedTree } from '../../../src/chain/versionedTree.js'
import { toHex } from '../../../src/crypto/bytes.js'
import { sha256Binary } from '../../../src/crypto/hash.js'

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b)

/** The committed state of `entries` at tree version 0, its tree in a fresh in-memory database. */
async function committedWith (entries: Array<[string, Uint8Array]>): Promise<{ values: Map<string, Uint8Array>, overlay: StateOverlay, db: MemoryLevel<Uint8Array, Uint8Array> }> {
  const values = new Map(entries)
  const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
  const leaves = entries.map(([k, v]) => ({ keyHash: stateKeyHash(k), valueHash: sha256Binary(v) })).sort((a, b) => a.keyHash < b.keyHash ? -1 : 1)
  const { root } = await VersionedTree.build(0, leaves, async (puts) => { await writeBatch(db, puts.map(([key, value]) => ({ type: 'put', key, value })), false) })
  const tree = new VersionedTree(treeStoreOf(db))
  const overlay = new StateOverlay({ values, tree, version: 0, root, audit: EMPTY_ACCUMULATOR })
  return { values, overlay, db }
}

void describe('StateOverlay', () => {
  void it('reads its own writes and deletions first, the committed values otherwise, and leaves them untouched until applyTo', async () => {
    const { values, overlay } = await committedWith([['a', bytes(1)], ['b', bytes(2)]])
    overlay.set('a', bytes(9))
    overlay.delete('b')
    overlay.set('c', bytes(3))
    assert.deepEqual(overlay.get('a'), bytes(9))
    assert.equal(overlay.get('b'), undefined)
    assert.deepEqual(overlay.get('c'), bytes(3))
    assert.deepEqual([...values.keys()], ['a', 'b'])
    assert.deepEqual(values.get('a'), bytes(1))
  })

  void it('the commitment is that of a tree built from the resulting values, at the next version, and applyTo commits exactly them', async () => {
    const { values, overlay, db } = await committedWith([['a', bytes(1)], ['b', bytes(2)]])
    overlay.set('a', bytes(9))
    overlay.delete('b')
    overlay.delete('never-there')
    overlay.set('c', bytes(3))
    let stored = 0
    for await (const _ of db.keys()) stored++
    const commitment = await overlay.commitment('chain-1', 1)
    let storedAfter = 0
    for await (const _ of db.keys()) storedAfter++
    assert.equal(storedAfter, stored, 'the commitment writes nothing')
    assert.equal(commitment.tree.version, 1)
    assert.equal(commitment.tree.base, 0)
    assert.equal(toHex(commitment.tree.root), toHex(treeRootOfValues([['a', bytes(9)], ['c', bytes(3)]])))
    await writeBatch(db, commitment.tree.puts.map(([key, value]) => ({ type: 'put', key, value })), false)
    const after = overlay.applyTo(values, commitment)
    assert.deepEqual([...after.values].sort(), [['a', bytes(9)], ['c', bytes(3)]])
    assert.equal(after.version, 1)
    assert.equal(toHex(after.root), toHex(commitment.tree.root))
    assert.equal(toHex(await after.tree.rootOf(1)), toHex(commitment.tree.root))
  })

  void it('applyTo commits a view of a larger buffer as a copy: a buffer of its own size, unaffected by later writes to the old one', async () => {
    const shared = new Uint8Array(64 * 1024).fill(7)
    const view = shared.subarray(100, 110)
    const { values, overlay } = await committedWith([])
    overlay.set('k', view)
    overlay.applyTo(values, await overlay.commitment('chain-1', 1))
    const kept = values.get('k')
    assert.ok(kept !== undefined)
    assert.equal(kept.buffer.byteLength, 10, 'the committed value owns a buffer of its own size')
    shared.fill(0)
    assert.deepEqual(kept, new Uint8Array(10).fill(7))
  })

  void it('applyTo keeps a value that owns its buffer as the same object (caches keyed by it stay valid)', async () => {
    const own = Uint8Array.of(1, 2, 3)
    const { values, overlay } = await committedWith([])
    overlay.set('k', own)
    overlay.applyTo(values, await overlay.commitment('chain-1', 1))
    assert.equal(values.get('k'), own)
  })
})
