/**
 * The chain's state tree on disk: a normal open reads the head's root and builds nothing; a data
 * directory without tree buckets (as every directory written before the tree moved to disk looks)
 * has its tree built once at open, with the same roots, and a build stopped half-way is simply
 * done again; old versions are pruned to the last keepVersions, the kept ones still proving;
 * bad options are refused before anything is opened.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { MemoryLevel } from 'memory-level'
import { ChainHarness } from '../../utils/chainHarness.js'
import { makeGenesis, makeKeys, makeTx } from '../../utils/factories.js'
import { Chain } from '../../../src/chain/chain.js'
import { stateKeyHash, treeRootOfValues } from '../../../src/chain/stateOverlay.js'
import { Bucket, stateKey } from '../../../src/chain/store/buckets.js'
import { rootKey, staleKeyVersion } from '../../../src/chain/store/treeNodes.js'
import type { TreeBuildProgress } from '../../../src/chain/treeMigration.js'
import { accessControlApp, StateKeys } from '../../../src/contracts/index.js'
import { bytesOfLatin1, toHex } from '../../../src/crypto/bytes.js'
import { sha256 } from '../../../src/crypto/hash.js'
import { ClinicianRole, TxType, type Tx } from '../../../src/types/tx.js'
import { verifySmtProof } from '../../../src/types/smtProof.js'
import { hasErrorCode } from '../../../src/util/errors.js'

const hospital = makeKeys('hospital-a')
let nonce = 0

/** `n` transactions registering new clinicians: each adds state keys. */
function registrations (n: number): Tx[] {
  const txs: Tx[] = []
  for (let i = 0; i < n; i++) {
    const doc = makeKeys(`tree-doctor-${nonce}`)
    txs.push(makeTx(hospital, nonce++, { type: TxType.RegisterClinician, publicKey: doc.publicKey, name: `Dr. ${nonce}`, role: ClinicianRole.Doctor }))
  }
  return txs
}

/** A chain on disk of `blocks` blocks of `perBlock` registrations, closed; returns its dir, genesis and final roots. */
async function makeChain (blocks: number, perBlock: number): Promise<{ h: ChainHarness, stateRoot: string, treeRoot: string, keys: number }> {
  nonce = 0
  const h = await ChainHarness.open()
  for (let i = 0; i < blocks; i++) await h.commit(registrations(perBlock))
  const stateRoot = toHex(h.chain.stateRoot)
  const treeRoot = toHex(h.chain.stateTreeRoot)
  await h.chain.close()
  const { root, keys } = await valuesRoot(h.dir)
  assert.equal(root, treeRoot, 'the tree\'s root is the one computed from every stored value')
  return { h, stateRoot, treeRoot, keys }
}

/** The tree root computed in memory from every state value stored in `dir` (a closed chain), and their number. */
async function valuesRoot (dir: string): Promise<{ root: string, keys: number }> {
  const db = openLevel(dir)
  const values: Array<[string, Uint8Array]> = []
  for await (const [key, value] of db.iterator({ gte: Uint8Array.of(Bucket.state), lt: Uint8Array.of(Bucket.state + 1) })) values.push([new TextDecoder().decode(key.subarray(1)), value])
  await db.close()
  return { root: toHex(treeRootOfValues(values)), keys: values.length }
}

function openLevel (dir: string): Level<Uint8Array, Uint8Array> {
  return new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
}

/** Deletes the tree buckets 0x0c-0x0f: the directory then looks like one written before the tree moved to disk. */
async function dropTree (dir: string): Promise<void> {
  const db = openLevel(dir)
  const keys: Uint8Array[] = []
  for await (const key of db.keys({ gte: Uint8Array.of(Bucket.treeNode), lt: Uint8Array.of(Bucket.treeMeta + 1) })) keys.push(key)
  assert.ok(keys.length > 0, 'the chain wrote its tree')
  await db.batch(keys.map((key) => ({ type: 'del' as const, key })))
  await db.close()
}

async function reopen (h: ChainHarness, extra: Partial<Parameters<typeof Chain.open>[0]> = {}): Promise<Chain> {
  return await Chain.open({ app: accessControlApp, dir: h.dir, genesis: h.genesis, now: () => Number.MAX_SAFE_INTEGER / 2, ...extra })
}

void describe('the state tree on disk', () => {
  void it('a reopen reads the head\'s root and builds nothing; the root is the one computed from every value', async () => {
    const { h, stateRoot, treeRoot, keys } = await makeChain(3, 10)
    try {
      const progress: TreeBuildProgress[] = []
      const chain = await reopen(h, { onTreeBuild: (p) => { progress.push(p) } })
      assert.deepEqual(progress, [], 'no tree build at a normal open')
      assert.equal(toHex(chain.stateRoot), stateRoot)
      assert.equal(toHex(chain.stateTreeRoot), treeRoot)
      assert.ok(keys > 30)
      await chain.close()
    } finally {
      await h.close()
    }
  })

  void it('a directory without tree buckets is migrated at open: same roots, proofs verify, blocks import on it, and the next open builds nothing', async () => {
    const { h, stateRoot, treeRoot, keys } = await makeChain(3, 10)
    try {
      await dropTree(h.dir)
      const progress: TreeBuildProgress[] = []
      const chain = await reopen(h, { onTreeBuild: (p) => { progress.push(p) }, treeBuildChunkSize: 16 })
      assert.ok(progress.length > 2, 'the build reported its progress')
      assert.deepEqual(progress[0], { done: 0, total: keys })
      assert.deepEqual(progress.at(-1), { done: keys, total: keys })
      assert.equal(toHex(chain.stateRoot), stateRoot)
      assert.equal(toHex(chain.stateTreeRoot), treeRoot)
      const key = StateKeys.entity(hospital.publicKey)
      const value = chain.stateView.get(key)
      assert.ok(value !== undefined)
      assert.ok(verifySmtProof(chain.stateTreeRoot, bytesOfLatin1(stateKeyHash(key)), sha256(value), await chain.proveState(stateKeyHash(key))))
      await chain.close()

      // the migrated directory takes new blocks, and opens without building again
      const h2 = await ChainHarness.open({ dir: h.dir, genesis: h.genesis })
      nonce = 30
      await h2.commit(registrations(5))
      const after = toHex(h2.chain.stateRoot)
      const afterTree = toHex(h2.chain.stateTreeRoot)
      await h2.chain.close()
      assert.equal((await valuesRoot(h.dir)).root, afterTree, 'the block\'s tree update on the migrated tree gives the root of the values')
      const again: TreeBuildProgress[] = []
      const chain3 = await reopen(h, { onTreeBuild: (p) => { again.push(p) } })
      assert.deepEqual(again, [], 'the second open does not migrate again')
      assert.equal(toHex(chain3.stateRoot), after)
      await chain3.close()
    } finally {
      await h.close()
    }
  })

  void it('a migration stopped half-way leaves no root: the next open builds again and succeeds', async () => {
    const { h, stateRoot } = await makeChain(2, 15)
    try {
      await dropTree(h.dir)
      let calls = 0
      await assert.rejects(reopen(h, {
        treeBuildChunkSize: 8,
        onTreeBuild: () => { if (++calls === 3) throw new Error('killed during the build') }
      }), /killed during the build/)
      const db = openLevel(h.dir)
      let nodes = 0
      for await (const _ of db.keys({ gte: Uint8Array.of(Bucket.treeNode), lt: Uint8Array.of(Bucket.treeNode + 1) })) nodes++
      assert.ok(nodes >= 16, 'some chunks were written')
      assert.equal(await db.get(rootKey(2)), undefined, 'but no root pointer')
      await db.close()
      const progress: TreeBuildProgress[] = []
      const chain = await reopen(h, { onTreeBuild: (p) => { progress.push(p) } })
      assert.ok(progress.length > 0, 'the build ran again')
      assert.equal(toHex(chain.stateRoot), stateRoot)
      await chain.close()
    } finally {
      await h.close()
    }
  })

  void it('a migration over a damaged state value refuses to start with STORE_STATE_MISMATCH, saying what to do', async () => {
    const { h } = await makeChain(1, 5)
    try {
      await dropTree(h.dir)
      const db = openLevel(h.dir)
      const key = stateKey(StateKeys.entity(hospital.publicKey))
      const value = await db.get(key) as Uint8Array
      await db.put(key, Uint8Array.from(value, (b, i) => i === value.length - 1 ? b ^ 1 : b))
      await db.close()
      await assert.rejects(reopen(h), (err: unknown) => {
        assert.ok(hasErrorCode(err, 'STORE_STATE_MISMATCH'))
        assert.match((err as Error).message, /backup|resync/)
        return true
      })
    } finally {
      await h.close()
    }
  })

  void it('keeps the last keepVersions versions readable (their proofs verify) and prunes the older ones from the database', async () => {
    nonce = 0
    const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
    const h = await ChainHarness.open({ db, keepVersions: 2 })
    try {
      const roots: Uint8Array[] = [h.chain.stateTreeRoot]
      const key = StateKeys.entity(hospital.publicKey)
      for (let i = 0; i < 5; i++) {
        await h.commit(registrations(3))
        roots.push(h.chain.stateTreeRoot)
        await h.chain.pruneSettled()
      }
      const head = h.chain.head.height
      assert.equal(head, 5)
      for (const v of [head - 1, head]) {
        const proof = await h.chain.proveState(stateKeyHash(key), v)
        assert.ok(proof.leaf !== undefined)
        assert.ok(verifySmtProof(roots[v] as Uint8Array, bytesOfLatin1(stateKeyHash(key)), proof.leaf.valueHash, proof), `version ${v} proves against its root`)
        assert.notEqual(await db.get(rootKey(v)), undefined)
      }
      for (let v = 0; v < head - 1; v++) {
        await assert.rejects(h.chain.proveState(stateKeyHash(key), v), (err: unknown) => hasErrorCode(err, 'TREE_VERSION_PRUNED'))
        assert.equal(await db.get(rootKey(v)), undefined, `root pointer ${v} deleted`)
      }
      let stale = 0
      for await (const k of db.keys({ gte: Uint8Array.of(Bucket.treeStale), lt: Uint8Array.of(Bucket.treeStale + 1) })) {
        stale++
        const since = staleKeyVersion(k)
        assert.ok(since > head - 1, `stale entries up to version ${head - 1} were pruned (found ${since})`)
      }
      assert.ok(stale > 0, 'the head version\'s stale entries are kept')
    } finally {
      await h.close()
    }
  })

  void it('refuses a keepVersions below 1 or a negative cache size before opening anything', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'medchain-tree-')), 'data')
    try {
      for (const [opts, reason] of [[{ keepVersions: 0 }, /keepVersions 0 .*at least/], [{ keepVersions: 1.5 }, /keepVersions 1.5/], [{ treeCacheBytes: -1 }, /treeCacheBytes -1/]] as const) {
        await assert.rejects(Chain.open({ app: accessControlApp, dir, genesis: makeGenesis(['hospital-a']), ...opts }), (err: unknown) => {
          assert.ok(hasErrorCode(err, 'TREE_BAD_INPUT'))
          assert.match((err as Error).message, reason)
          return true
        })
        assert.equal(existsSync(dir), false, 'no database was created')
      }
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true })
    }
  })
})
