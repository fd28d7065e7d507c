import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { MemoryLevel } from 'memory-level'
import { SparseMerkleTree, type BinaryHash, type TreeChange } from '../../../src/chain/smt.js'
import { VersionedTree, treeStoreOf, type TreeStore, type TreeUpdate } from '../../../src/chain/versionedTree.js'
import { Bucket } from '../../../src/chain/store/buckets.js'
import { decodeNode, decodeRoot, encodeNode, nodeKey, parseNodeKey, rootKey, staleKey, decodeStaleList, encodeStaleList, type StoredNode } from '../../../src/chain/store/treeNodes.js'
import type { BatchOp } from '../../../src/chain/store/db.js'
import { verifySmtProof } from '../../../src/types/smtProof.js'
import { encodeCanonical, type Wire } from '../../../src/types/codec.js'
import { sha256Binary } from '../../../src/crypto/hash.js'
import { bytesOfLatin1, byteKey, toHex } from '../../../src/crypto/bytes.js'
import { hasErrorCode } from '../../../src/util/errors.js'

const kh = (i: number): BinaryHash => sha256Binary(`key-${i}`)
const vh = (i: number, v: number): BinaryHash => sha256Binary(`value-${i}-${v}`)

/** A TreeStore over a sorted in-memory map, counting the keys read; `failAfter` makes writes fail after that many operations (a crash). */
class MapStore implements TreeStore {
  readonly map = new Map<string, Uint8Array>()
  reads = 0
  readCalls = 0
  failAfter = Infinity

  async getMany (keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    this.reads += keys.length
    this.readCalls++
    return keys.map((k) => this.map.get(byteKey(k)))
  }

  async * keys (range: { gte: Uint8Array, lt: Uint8Array, limit?: number }): AsyncIterable<Uint8Array> {
    const lo = byteKey(range.gte)
    const hi = byteKey(range.lt)
    const all = [...this.map.keys()].filter((k) => k >= lo && k < hi).sort()
    for (const k of all.slice(0, range.limit ?? Infinity)) yield bytesOfLatin1(k)
  }

  async write (ops: BatchOp[]): Promise<void> {
    if (ops.length > this.failAfter) throw new Error('simulated crash')
    this.failAfter -= ops.length
    for (const op of ops) {
      if (op.type === 'put') this.map.set(byteKey(op.key), op.value)
      else this.map.delete(byteKey(op.key))
    }
  }

  count (bucket: number): number {
    let n = 0
    for (const k of this.map.keys()) if (k.charCodeAt(0) === bucket) n++
    return n
  }

  clone (): MapStore {
    const c = new MapStore()
    for (const [k, v] of this.map) c.map.set(k, v)
    return c
  }
}

async function commit (tree: VersionedTree, store: TreeStore, version: number, changes: TreeChange[], base?: number | null): Promise<TreeUpdate> {
  const update = await tree.prepareUpdate(version, changes, base)
  await store.write(update.puts.map(([key, value]) => ({ type: 'put', key, value })))
  tree.commit(update)
  return update
}

function changesOf (batch: Array<[number, number | null]>): TreeChange[] {
  return batch.map(([k, v]) => ({ keyHash: kh(k), valueHash: v === null ? null : vh(k, v) }))
}

/** Checks `version` of `tree` against `oracle` for keys 0..maxKey: root, get, prove (equal and verifying). */
async function checkVersion (tree: VersionedTree, version: number, oracle: SparseMerkleTree, maxKey: number): Promise<void> {
  const root = await tree.rootOf(version)
  assert.equal(toHex(root), toHex(oracle.root), `root of version ${version}`)
  for (let k = 0; k <= maxKey; k++) {
    const got = await tree.get(version, kh(k))
    assert.equal(got, oracle.get(kh(k)), `get ${k} at ${version}`)
    const proof = await tree.prove(version, kh(k))
    assert.deepEqual(proof, oracle.prove(kh(k)), `proof of ${k} at ${version}`)
    assert.ok(verifySmtProof(root, bytesOfLatin1(kh(k)), got === undefined ? undefined : bytesOfLatin1(got), proof))
  }
}

function errorCode (code: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(hasErrorCode(err, code), `expected ${code}, got ${String(err)}`)
    return true
  }
}

/** Every node key reachable from the root pointers of `versions`. */
async function reachable (store: MapStore, versions: number[]): Promise<Set<string>> {
  const seen = new Set<string>()
  const visit = (key: Uint8Array): void => {
    const k = byteKey(key)
    if (seen.has(k)) return
    seen.add(k)
    const bytes = store.map.get(k)
    assert.ok(bytes !== undefined, 'a referenced node exists')
    const node = decodeNode(key, bytes)
    if (node.leaf) return
    const { depth } = parseNodeKey(key)
    for (const [side, ref] of [[0, node.left], [1, node.right]] as const) {
      if (ref === null) continue
      const child = nodeKey(ref.version, depth + 1, key.subarray(11))
      const at = 11 + (depth >> 3)
      if (side === 1) child[at] = (child[at] as number) | (0x80 >> (depth & 7))
      visit(child)
    }
  }
  for (const v of versions) {
    const ptr = store.map.get(byteKey(rootKey(v)))
    assert.ok(ptr !== undefined)
    const ref = decodeRoot(v, ptr)
    if (ref !== null) visit(nodeKey(ref.version, 0, new Uint8Array(0)))
  }
  return seen
}

const batchArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.option(fc.integer({ min: 0, max: 3 }), { nil: null })), { maxLength: 15 })

describe('versioned state tree on disk', () => {
  it('gives SparseMerkleTree\'s roots, values and proofs at every version, the earlier ones included', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(batchArb, { minLength: 1, maxLength: 7 }),
      fc.constantFrom(0, 3000, 1 << 20),
      async (batches, cacheBytes) => {
        const store = new MapStore()
        const tree = new VersionedTree(store, { cacheBytes })
        const oracles: SparseMerkleTree[] = []
        let oracle = SparseMerkleTree.empty()
        for (let v = 0; v < batches.length; v++) {
          const changes = changesOf(batches[v] as Array<[number, number | null]>)
          oracle = oracle.update(changes)
          oracles.push(oracle)
          const update = await commit(tree, store, v, changes)
          assert.equal(toHex(update.root), toHex(oracle.root))
          await checkVersion(tree, v, oracle, 41)
        }
        // every version is still readable, from a cold cache too
        const cold = new VersionedTree(store, { cacheBytes: 0 })
        for (let v = 0; v < oracles.length; v++) await checkVersion(cold, v, oracles[v] as SparseMerkleTree, 41)
        // no node is written that no version references
        const live = await reachable(store, oracles.map((_, v) => v))
        assert.equal(store.count(Bucket.treeNode), live.size)
      }
    ), { seed: 7, numRuns: 60 })
  })

  it('builds the tree of a set of leaves in one stream, with SparseMerkleTree.fromLeaves\' root, and updates it from there', async () => {
    await fc.assert(fc.asyncProperty(
      fc.uniqueArray(fc.integer({ min: 0, max: 200 }), { maxLength: 80 }),
      batchArb,
      fc.integer({ min: 1, max: 7 }),
      async (keys, batch, chunkSize) => {
        const leaves = keys.map((k) => ({ keyHash: kh(k), valueHash: vh(k, 0) }))
        const oracle = SparseMerkleTree.fromLeaves(leaves)
        const store = new MapStore()
        const sorted = [...leaves].sort((a, b) => a.keyHash < b.keyHash ? -1 : 1)
        let chunks = 0
        const built = await VersionedTree.build(5, sorted, async (puts) => {
          assert.ok(puts.length <= chunkSize + 1, 'a chunk holds at most chunkSize nodes (and the root pointer)')
          chunks++
          await store.write(puts.map(([key, value]) => ({ type: 'put', key, value })))
        }, { chunkSize })
        assert.equal(toHex(built.root), toHex(oracle.root))
        assert.equal(built.leaves, leaves.length)
        assert.equal(store.count(Bucket.treeNode), built.nodes)
        assert.ok(chunks >= Math.ceil(built.nodes / chunkSize))
        const tree = new VersionedTree(store)
        await checkVersion(tree, 5, oracle, 200)
        // the same nodes as an incremental update from the empty tree would write
        const incremental = new MapStore()
        await commit(new VersionedTree(incremental), incremental, 5, leaves.map((l) => ({ ...l })), null)
        assert.equal(incremental.count(Bucket.treeNode), built.nodes)
        const next = oracle.update(changesOf(batch))
        const update = await commit(tree, store, 6, changesOf(batch))
        assert.equal(toHex(update.root), toHex(next.root))
        await checkVersion(new VersionedTree(store, { cacheBytes: 0 }), 6, next, 200)
      }
    ), { seed: 11, numRuns: 60 })
  })

  it('keeps the roots smt.test.ts pins (the state root of every existing chain)', async () => {
    const leaves = Array.from({ length: 100 }, (_, i) => ({ keyHash: sha256Binary(`key-${i}`), valueHash: sha256Binary(`value-${i}`) }))
    const store = new MapStore()
    const built = await VersionedTree.build(0, [...leaves].sort((a, b) => a.keyHash < b.keyHash ? -1 : 1), async (puts) => {
      await store.write(puts.map(([key, value]) => ({ type: 'put', key, value })))
    })
    assert.equal(toHex(built.root), '71ede163c2b787b578bb9098a7fe1a58c65dd47818111c9cf3b3f25e9d21fc06')
    const tree = new VersionedTree(store)
    const next = await commit(tree, store, 1, [{ keyHash: sha256Binary('key-3'), valueHash: null }, { keyHash: sha256Binary('key-200'), valueHash: sha256Binary('v') }])
    assert.equal(toHex(next.root), '6090ff9fe2e5f4b9f59f2483bc18f25446d9683cbdd6223b2dad0e5e8314c0be')
    assert.equal(toHex(await tree.rootOf(0)), '71ede163c2b787b578bb9098a7fe1a58c65dd47818111c9cf3b3f25e9d21fc06')
    // and one key at a time from the empty tree
    const one = new MapStore()
    const t1 = new VersionedTree(one)
    for (let i = 0; i < leaves.length; i++) await commit(t1, one, i, [leaves[i] as TreeChange], i === 0 ? null : i - 1)
    assert.equal(toHex(await t1.rootOf(99)), '71ede163c2b787b578bb9098a7fe1a58c65dd47818111c9cf3b3f25e9d21fc06')
  })

  it('stores the format its table states: key layout, canonical node values, root pointers and stale entries', async () => {
    const path = '\u00ff'.repeat(32)
    assert.equal(toHex(nodeKey(5, 3, path)), '0c' + '0000000000000005' + '0003' + 'e0')
    assert.equal(toHex(nodeKey(7, 0, path)), '0c' + '0000000000000007' + '0000')
    assert.equal(nodeKey(1, 256, path).length, 11 + 32)
    assert.deepEqual(parseNodeKey(nodeKey(9, 12, path)), { version: 9, depth: 12, path: '111111111111' })
    const leaf: StoredNode = { leaf: true, keyHash: kh(1), valueHash: vh(1, 0) }
    assert.deepEqual(encodeNode(leaf), encodeCanonical([0, bytesOfLatin1(kh(1)), bytesOfLatin1(vh(1, 0))]))
    const store = new MapStore()
    const tree = new VersionedTree(store)
    await commit(tree, store, 1, changesOf([[1, 0], [2, 0]]), null)
    const u = await commit(tree, store, 2, changesOf([[1, 1]]))
    // version 2 rewrote the root and key 1's leaf: one stale list, naming two nodes of version 1
    const stale = [...store.map.keys()].filter((k) => k.charCodeAt(0) === Bucket.treeStale).map((k) => bytesOfLatin1(k))
    assert.deepEqual(stale.map(toHex), ['0e' + '0000000000000002'])
    assert.deepEqual(stale[0], staleKey(2))
    assert.equal(u.staleNodes, 2)
    const list = store.map.get(byteKey(staleKey(2))) as Uint8Array
    const named = decodeStaleList(2, list)
    assert.equal(named.length, 2)
    for (const k of named) {
      assert.equal(parseNodeKey(k).version, 1)
      assert.equal(store.map.has(byteKey(k)), true, 'it names a stored node')
    }
    assert.deepEqual(encodeStaleList(named), list, 'the list is the node keys without their prefix, concatenated')
    assert.deepEqual(list.subarray(0, named[0]?.length as number - 1), named[0]?.subarray(1))
    // version 1 replaced nothing: it wrote no list
    assert.equal(store.map.has(byteKey(staleKey(1))), false)
    const rootNode = decodeNode(nodeKey(2, 0, path), store.map.get(byteKey(nodeKey(2, 0, path))) as Uint8Array)
    assert.equal(rootNode.leaf, false)
    const ptr = store.map.get(byteKey(rootKey(2))) as Uint8Array
    assert.deepEqual(ptr, encodeCanonical([u.root, 2n, 0]))
  })

  it('encodes every node exactly as encodeCanonical encodes its tuple (leaf, internal with one or two children, any version)', () => {
    const hash = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => String.fromCharCode(...b))
    const ref = fc.option(fc.record({ hash, version: fc.oneof(fc.nat(), fc.constantFrom(0, 255, 2 ** 32, Number.MAX_SAFE_INTEGER)), leaf: fc.boolean() }), { nil: null })
    const wireRef = (r: { hash: string, version: number, leaf: boolean } | null): Wire => r === null ? [] : [bytesOfLatin1(r.hash), BigInt(r.version), r.leaf ? 1 : 0]
    fc.assert(fc.property(hash, hash, (keyHash, valueHash) => {
      assert.deepEqual(encodeNode({ leaf: true, keyHash, valueHash }), encodeCanonical([0, bytesOfLatin1(keyHash), bytesOfLatin1(valueHash)]))
    }))
    fc.assert(fc.property(ref, ref, (left, right) => {
      assert.deepEqual(encodeNode({ leaf: false, left, right }), encodeCanonical([1, wireRef(left), wireRef(right)]))
    }))
  })

  it('refuses a damaged stale list with TREE_STALE_CORRUPT, naming the version', () => {
    const good = encodeStaleList([nodeKey(3, 9, '\u00aa'.repeat(32)), nodeKey(4, 0, '')])
    assert.equal(decodeStaleList(5, good).length, 2)
    assert.deepEqual(decodeStaleList(5, new Uint8Array(0)), [])
    for (const [bytes, reason] of [
      [good.subarray(0, good.length - 1), /cut short/],
      [good.subarray(0, 5), /cut short/],
      [Uint8Array.from([...good.subarray(0, 8), 0x01, 0x01, ...good.subarray(10)]), /depth/],
      [good, /not older/]
    ] as const) {
      const since = bytes === good ? 4 : 5
      assert.throws(() => decodeStaleList(since, bytes), (err: unknown) => {
        assert.ok(hasErrorCode(err, 'TREE_STALE_CORRUPT'))
        assert.equal((err as { type: { staleSince: number } }).type.staleSince, since)
        assert.match((err as Error).message, reason)
        assert.match((err as Error).message, /backup/)
        return true
      })
    }
  })

  it('reads the changed paths one level per batched read, and a warm cache reads less', async () => {
    const n = 2000
    const leaves = Array.from({ length: n }, (_, i) => ({ keyHash: kh(i), valueHash: vh(i, 0) })).sort((a, b) => a.keyHash < b.keyHash ? -1 : 1)
    const store = new MapStore()
    await VersionedTree.build(0, leaves, async (puts) => { await store.write(puts.map(([key, value]) => ({ type: 'put', key, value }))) })
    const changes = Array.from({ length: 200 }, (_, i) => ({ keyHash: kh(i * 7), valueHash: vh(i * 7, 1) }))
    const cold = new VersionedTree(store, { cacheBytes: 0 })
    store.reads = 0; store.readCalls = 0
    const a = await cold.prepareUpdate(1, changes)
    const coldReads = store.reads
    assert.ok(store.readCalls <= 1 + 30, `one read per level (${store.readCalls} reads for a tree ${Math.ceil(Math.log2(n))} levels deep)`)
    const warm = new VersionedTree(store, { cacheBytes: 1 << 24 })
    await warm.prepareUpdate(1, changes)
    store.reads = 0
    const b = await warm.prepareUpdate(1, changes)
    assert.deepEqual(b.root, a.root)
    assert.ok(store.reads < coldReads / 10, `warm ${store.reads} reads, cold ${coldReads}`)
    assert.ok(coldReads < changes.length * 20, 'reads only the changed paths')
  })

  it('prunes versions up to a version: later ones stay whole, the nodes only earlier ones used are deleted', async () => {
    const store = new MapStore()
    const tree = new VersionedTree(store)
    const oracles: SparseMerkleTree[] = []
    let oracle = SparseMerkleTree.empty()
    for (let v = 0; v < 12; v++) {
      const batch: Array<[number, number | null]> = Array.from({ length: 10 }, (_, i) => [(v * 7 + i * 5) % 50, (v + i) % 4 === 0 ? null : v])
      oracle = oracle.update(changesOf(batch))
      oracles.push(oracle)
      await commit(tree, store, v, changesOf(batch))
    }
    const before = store.count(Bucket.treeNode)
    await assert.rejects(tree.prune(11), errorCode('TREE_PRUNE_ALL'))
    const result = await tree.prune(5, { batchSize: 7 })
    const after = store.count(Bucket.treeNode)
    assert.ok(after < before, `nodes ${before} → ${after}`)
    assert.equal(result.nodes, before - after)
    assert.equal(result.roots, 6)
    assert.equal(store.count(Bucket.treeRoot), 6)
    // exactly the nodes of versions 6..11 remain, and their stale entries are all after 6
    const live = await reachable(store, [6, 7, 8, 9, 10, 11])
    assert.equal(after, live.size)
    for (let v = 6; v < 12; v++) await checkVersion(new VersionedTree(store, { cacheBytes: 0 }), v, oracles[v] as SparseMerkleTree, 50)
    for (let v = 0; v <= 5; v++) {
      await assert.rejects(tree.rootOf(v), errorCode('TREE_VERSION_PRUNED'))
      await assert.rejects(tree.get(v, kh(1)), errorCode('TREE_VERSION_PRUNED'))
      await assert.rejects(tree.prepareUpdate(12, [], v), errorCode('TREE_VERSION_PRUNED'))
    }
    await assert.rejects(tree.rootOf(12), errorCode('TREE_VERSION_MISSING'))
    // and the tree grows on from there
    const next = oracle.update(changesOf([[3, 9], [4, null]]))
    assert.equal(toHex((await commit(tree, store, 12, changesOf([[3, 9], [4, null]]))).root), toHex(next.root))
  })

  it('a crash in the middle of pruning leaves the later versions whole, and pruning again finishes the job', async () => {
    const store = new MapStore()
    const tree = new VersionedTree(store)
    const oracles: SparseMerkleTree[] = []
    let oracle = SparseMerkleTree.empty()
    for (let v = 0; v < 10; v++) {
      const batch: Array<[number, number | null]> = Array.from({ length: 12 }, (_, i) => [(v * 11 + i * 3) % 40, i % 5 === 0 ? null : v])
      oracle = oracle.update(changesOf(batch))
      oracles.push(oracle)
      await commit(tree, store, v, changesOf(batch))
    }
    const clean = store.clone()
    await new VersionedTree(clean).prune(6)
    for (const crashAfter of [0, 1, 5, 20, 41]) {
      const crashed = store.clone()
      crashed.failAfter = crashAfter
      await assert.rejects(new VersionedTree(crashed).prune(6, { batchSize: 4 }), /simulated crash/)
      crashed.failAfter = Infinity
      const reopened = new VersionedTree(crashed, { cacheBytes: 0 })
      for (let v = 7; v < 10; v++) await checkVersion(reopened, v, oracles[v] as SparseMerkleTree, 40)
      if (crashAfter > 0) await assert.rejects(reopened.rootOf(3), errorCode('TREE_VERSION_PRUNED'))
      await reopened.prune(6, { batchSize: 4 })
      assert.deepEqual([...crashed.map.keys()].sort(), [...clean.map.keys()].sort(), `after a crash at ${crashAfter} deletions`)
    }
  })

  it('refuses a damaged node (TREE_NODE_CORRUPT) or a missing one (TREE_NODE_MISSING), and otherwise answers as the oracle: never a wrong root', async () => {
    const base = new MapStore()
    const keys = [0, 1, 2, 3, 4, 5, 6, 7, 8]
    await commit(new VersionedTree(base), base, 1, changesOf(keys.map((k) => [k, 0])), null)
    const oracle = SparseMerkleTree.empty().update(changesOf(keys.map((k) => [k, 0])))
    // deletions that lift leaves and leave single children, so the children's kinds matter
    const deletions = changesOf([[0, null], [2, null], [4, null], [6, null], [8, null]])
    const next = oracle.update(deletions)
    const nodeKeys = [...base.map.keys()].filter((k) => k.charCodeAt(0) === Bucket.treeNode)
    let refused = 0
    for (const k of nodeKeys) {
      const original = base.map.get(k) as Uint8Array
      for (let i = 0; i < original.length; i++) {
        for (const flip of [0x01, 0xff]) {
          const damaged = new Uint8Array(original)
          damaged[i] = (damaged[i] as number) ^ flip
          base.map.set(k, damaged)
          const tree = new VersionedTree(base, { cacheBytes: 0 })
          const outcomes: Array<() => Promise<unknown>> = [
            async () => { assert.equal(toHex((await tree.prepareUpdate(2, deletions)).root), toHex(next.root)) },
            // get walks the path prove walks, and a proof names the value found
            ...keys.map((key) => async () => { assert.deepEqual(await tree.prove(1, kh(key)), oracle.prove(kh(key))) })
          ]
          for (const run of outcomes) {
            try {
              await run()
            } catch (err) {
              assert.ok(hasErrorCode(err, 'TREE_NODE_CORRUPT') || hasErrorCode(err, 'TREE_NODE_MISSING'), `byte ${i} ^ ${flip}: ${String(err)}`)
              refused++
            }
          }
        }
      }
      base.map.set(k, original)
    }
    assert.ok(refused > nodeKeys.length * 30, `${refused} refusals`)

    // a flipped byte inside a hash, read by each entry point
    const leafKey = nodeKeys.find((k) => decodeNode(bytesOfLatin1(k), base.map.get(k) as Uint8Array).leaf) as string
    const corrupt = base.clone()
    const bytes = new Uint8Array(corrupt.map.get(leafKey) as Uint8Array)
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0x10
    corrupt.map.set(leafKey, bytes)
    const damagedLeaf = decodeNode(bytesOfLatin1(leafKey), base.map.get(leafKey) as Uint8Array) as { keyHash: BinaryHash }
    const t = new VersionedTree(corrupt, { cacheBytes: 0 })
    await assert.rejects(t.get(1, damagedLeaf.keyHash), errorCode('TREE_NODE_CORRUPT'))
    await assert.rejects(t.prove(1, damagedLeaf.keyHash), errorCode('TREE_NODE_CORRUPT'))
    await assert.rejects(t.prepareUpdate(2, [{ keyHash: damagedLeaf.keyHash, valueHash: vh(0, 9) }]), (err: unknown) => {
      assert.ok(hasErrorCode(err, 'TREE_NODE_CORRUPT'))
      const type = (err as { type: { version: number, depth: number } }).type
      assert.deepEqual({ version: type.version, depth: type.depth }, { version: 1, depth: parseNodeKey(bytesOfLatin1(leafKey)).depth })
      return true
    })
    // a deleted node
    const missing = base.clone()
    missing.map.delete(leafKey)
    const m = new VersionedTree(missing, { cacheBytes: 0 })
    await assert.rejects(m.get(1, damagedLeaf.keyHash), errorCode('TREE_NODE_MISSING'))
    await assert.rejects(m.prepareUpdate(2, [{ keyHash: damagedLeaf.keyHash, valueHash: null }]), errorCode('TREE_NODE_MISSING'))
  })

  it('refuses a damaged root pointer: TREE_ROOT_CORRUPT when it does not decode, TREE_NODE_CORRUPT on the walk when its hash is off', async () => {
    const store = new MapStore()
    const tree = new VersionedTree(store, { cacheBytes: 0 })
    await commit(tree, store, 0, changesOf([[1, 0], [2, 0], [3, 0]]))
    const key = byteKey(rootKey(0))
    const ptr = store.map.get(key) as Uint8Array
    store.map.set(key, Uint8Array.of(0x94, ...ptr.subarray(1)))
    await assert.rejects(tree.rootOf(0), errorCode('TREE_ROOT_CORRUPT'))
    const flipped = new Uint8Array(ptr)
    flipped[10] = (flipped[10] as number) ^ 1
    store.map.set(key, flipped)
    await assert.rejects(tree.get(0, kh(1)), errorCode('TREE_NODE_CORRUPT'))
    await assert.rejects(tree.prove(0, kh(1)), errorCode('TREE_NODE_CORRUPT'))
    await assert.rejects(tree.prepareUpdate(1, changesOf([[4, 0]])), errorCode('TREE_NODE_CORRUPT'))
  })

  it('keeps its cache within cacheBytes, and a cold cache answers the same', async () => {
    const store = new MapStore()
    const limit = 20_000
    const tree = new VersionedTree(store, { cacheBytes: limit })
    let oracle = SparseMerkleTree.empty()
    for (let v = 0; v < 15; v++) {
      const batch: Array<[number, number | null]> = Array.from({ length: 30 }, (_, i) => [(v * 13 + i * 7) % 300, i % 9 === 0 ? null : v])
      oracle = oracle.update(changesOf(batch))
      await commit(tree, store, v, changesOf(batch))
      assert.ok(tree.cacheStats().bytes <= limit, `cache ${tree.cacheStats().bytes} bytes`)
      for (let k = 0; k < 300; k += 11) assert.equal(await tree.get(v, kh(k)), oracle.get(kh(k)))
      assert.ok(tree.cacheStats().bytes <= limit)
    }
    assert.ok(tree.cacheStats().nodes > 50, 'the cache is used')
    const cold = new VersionedTree(store, { cacheBytes: 0 })
    await checkVersion(cold, 14, oracle, 300)
    assert.equal(cold.cacheStats().nodes, 0, 'cacheBytes 0 caches nothing, even after reading a whole version')
  })

  it('refuses bad input and writes nothing', async () => {
    const store = new MapStore()
    const tree = new VersionedTree(store)
    await commit(tree, store, 0, changesOf([[1, 0]]))
    const size = store.map.size
    await assert.rejects(tree.prepareUpdate(1, [{ keyHash: kh(2).slice(1), valueHash: vh(2, 0) }]), errorCode('TREE_BAD_INPUT'))
    await assert.rejects(tree.prepareUpdate(1, [{ keyHash: kh(2), valueHash: '\u0100' + vh(2, 0).slice(1) }]), errorCode('TREE_BAD_INPUT'))
    await assert.rejects(tree.prepareUpdate(1, [], 1), errorCode('TREE_BAD_INPUT'))
    await assert.rejects(tree.prepareUpdate(-1, []), errorCode('TREE_BAD_INPUT'))
    await assert.rejects(tree.prepareUpdate(5, []), errorCode('TREE_VERSION_MISSING'))
    await assert.rejects(tree.get(0, 'short'), errorCode('TREE_BAD_INPUT'))
    await assert.rejects(VersionedTree.build(0, [{ keyHash: kh(2), valueHash: vh(2, 0) }, { keyHash: kh(2), valueHash: vh(2, 1) }], async () => {}), errorCode('TREE_BAD_INPUT'))
    assert.throws(() => new VersionedTree(store, { cacheBytes: -1 }), errorCode('TREE_BAD_INPUT'))
    assert.equal(store.map.size, size)
    // an update that changes nothing keeps the root and writes only the new root pointer
    const same = await tree.prepareUpdate(1, changesOf([[1, 0], [7, null]]))
    assert.equal(toHex(same.root), toHex(await tree.rootOf(0)))
    assert.equal(same.newNodes, 0)
    assert.equal(same.puts.length, 1)
  })

  it('runs over a chain database (memory-level) through treeStoreOf', async () => {
    const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    const store = treeStoreOf(db)
    const tree = new VersionedTree(store)
    let oracle = SparseMerkleTree.empty()
    for (let v = 0; v < 6; v++) {
      const batch: Array<[number, number | null]> = Array.from({ length: 8 }, (_, i) => [(v * 5 + i * 3) % 30, i % 4 === 0 ? null : v])
      oracle = oracle.update(changesOf(batch))
      await commit(tree, store, v, changesOf(batch))
    }
    await tree.prune(3)
    await checkVersion(new VersionedTree(store, { cacheBytes: 0 }), 5, oracle, 30)
    await assert.rejects(tree.rootOf(2), errorCode('TREE_VERSION_PRUNED'))
    await db.close()
  })
})
