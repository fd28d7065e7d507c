import { describe, it, before, after } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import assert from 'node:assert/strict'
import { Level } from 'level'
import { ChainHarness, certify } from '../../utils/chainHarness.js'
import { bytes32, makeKeys, makeTx, TEST_CHAIN_ID } from '../../utils/factories.js'
import { anchor } from '../../utils/nodeData.js'
import { Chain } from '../../../src/chain/chain.js'
import type { BatchVerifier } from '../../../src/chain/blockExecutor.js'
import { BLOCK_STORE_DIR, RECENT_BLOCKS } from '../../../src/chain/store/blockStore.js'
import type { ChainDb } from '../../../src/chain/store/db.js'
import { ChainError } from '../../../src/types/errors.js'
import { blockHash, computeTxRoot, certificateHash, encodeBlock, type Block } from '../../../src/types/block.js'
import { ClinicianRole, Purpose, TxType, decodeTx, type Tx } from '../../../src/types/tx.js'
import { heightKey, metaKey, Meta, stateKey, Bucket } from '../../../src/chain/store/buckets.js'
import { hasErrorCode } from '../../../src/util/errors.js'
import { decodeRoot, encodeRoot, rootKey } from '../../../src/chain/store/treeNodes.js'
import { toHex } from '../../../src/crypto/bytes.js'
import { verify } from '../../../src/crypto/ed25519.js'
import { getEntity, getRecord, accessControlApp } from '../../../src/contracts/index.js'

const hospital = makeKeys('hospital-a')
const doctor = makeKeys('doctor-1')
const patient = makeKeys('patient-1')

function registerDoctor (nonce = 0): Tx {
  return makeTx(hospital, nonce, { type: TxType.RegisterClinician, publicKey: doctor.publicKey, name: 'Dr. One', role: ClinicianRole.Doctor })
}
function enrol (nonce = 0): Tx {
  return makeTx(doctor, nonce, { type: TxType.EnrolPatient, publicKey: patient.publicKey })
}

async function expectRefused (h: ChainHarness, block: Block, code: string, txCode?: string): Promise<void> {
  const before = { head: h.chain.head, root: h.chain.stateRoot }
  await assert.rejects(h.chain.importBlock(block), (err: unknown) => {
    assert.ok(err instanceof ChainError, `expected ChainError, got ${String(err)}`)
    assert.equal(err.code, code)
    if (txCode !== undefined && err.type.code === 'BLOCK_INVALID_TX') assert.equal(err.type.txCode, txCode)
    return true
  })
  assert.deepEqual(h.chain.head, before.head, 'head unchanged')
  assert.deepEqual(h.chain.stateRoot, before.root, 'state root unchanged')
}

/** Rebuilds a header field and fixes nothing else: the block must be refused for that field. */
function withHeader (block: Block, patch: Partial<Block['header']>): Block {
  return { ...block, header: { ...block.header, ...patch } }
}

function openLevel (dir: string): Level<Uint8Array, Uint8Array> {
  return new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
}

/** Every key of `db` whose first byte is `bucket`. */
async function bucketKeys (db: Level<Uint8Array, Uint8Array>, bucket: number): Promise<string[]> {
  const out: string[] = []
  for await (const key of db.keys({ gte: new Uint8Array([bucket]), lt: new Uint8Array([bucket + 1]) })) out.push(toHex(key))
  return out
}

/** A LevelDB database whose batch writes fail while `failing` is set, as if the process died before them. */
function crashableLevel (dir: string): { db: ChainDb, setFailing: (on: boolean) => void } {
  const real = openLevel(dir)
  let failing = false
  const db: ChainDb = {
    get status () { return real.status },
    open: async () => { await real.open() },
    close: async () => { await real.close() },
    get: async (key) => await real.get(key),
    batch: () => {
      const batch = real.batch()
      return {
        put: (key: Uint8Array, value: Uint8Array) => batch.put(key, value),
        del: (key: Uint8Array) => batch.del(key),
        write: async (options: { sync?: boolean }) => {
          if (failing) { await batch.close(); throw new Error('simulated crash before the state batch') }
          await batch.write(options)
        }
      }
    },
    iterator: (range) => real.iterator(range),
    keys: (range) => real.keys(range),
    values: (range) => real.values(range)
  }
  return { db, setFailing: (on) => { failing = on } }
}

describe('importBlock', () => {
  let h: ChainHarness
  before(async () => { h = await ChainHarness.open() })
  after(async () => { await h.close() })

  it('imports blocks, stores receipts, and indexes records and the audit trail by patient', async () => {
    const r1 = await h.commit([registerDoctor(0)])
    assert.equal(r1.height, 1)
    assert.equal(r1.receipts[0]?.code, 'OK')
    const r2 = await h.commit([enrol(0), anchor(1, 'rec-a'), anchor(2, 'rec-b')])
    assert.equal(r2.height, 2)
    assert.deepEqual(r2.receipts.map((r) => r.code), ['OK', 'OK', 'OK'])
    assert.equal(h.chain.head.height, 2)
    assert.deepEqual(h.chain.head.hash, blockHash(r2.block.header))

    const got = await h.chain.getReceipt((r2.block.txs[1] as Tx).hash)
    assert.equal(got?.height, 2)
    assert.equal(got?.index, 1)
    assert.equal(got?.receipt.code, 'OK')
    assert.equal((await h.chain.getBlock(2))?.txs.length, 3)
    assert.equal(await h.chain.getHeightByHash(blockHash(r2.block.header)), 2)
    // block 1's certificate arrived with block 2's lastCommit, block 2's with its import
    assert.ok(await h.chain.getCertificate(1))
    assert.ok(await h.chain.getCertificate(2))

    const records: Uint8Array[] = []
    for await (const id of h.chain.recordsByPatient(patient.publicKey)) records.push(id)
    assert.equal(records.length, 2)
    // after the first, only the second; after the last, nothing
    const [first, second] = records as [Uint8Array, Uint8Array]
    const anchoredAt = (id: Uint8Array): number => (getRecord(h.chain.stateView, id) as { anchoredAt: number }).anchoredAt
    const afterFirst: Uint8Array[] = []
    for await (const id of h.chain.recordsByPatient(patient.publicKey, { recordId: first, height: anchoredAt(first) })) afterFirst.push(id)
    assert.deepEqual(afterFirst, [second])
    const afterLast: Uint8Array[] = []
    for await (const id of h.chain.recordsByPatient(patient.publicKey, { recordId: second, height: anchoredAt(second) })) afterLast.push(id)
    assert.deepEqual(afterLast, [])
    const audit = await h.chain.listAuditByPatient(patient.publicKey)
    assert.ok(audit.length >= 3, `enrolment and two anchors are audited, got ${audit.length}`)
    assert.deepEqual(audit.map((a) => a.seq), [...audit.map((a) => a.seq)].sort((a, b) => a - b))
    // a cursor reads only what follows a known entry; reverse + limit 1 reads the newest
    const after = await h.chain.listAuditByPatient(patient.publicKey, { afterSeq: (audit[0] as { seq: number }).seq })
    assert.deepEqual(after.map((a) => a.seq), audit.slice(1).map((a) => a.seq))
    const [newest] = await h.chain.listAuditByPatient(patient.publicKey, { reverse: true, limit: 1 })
    assert.equal(newest?.seq, audit.at(-1)?.seq)
  })

  it('refuses a broken block with one code and changes nothing (malleate table)', async (t) => {
    const good = await h.build([anchor(3, 'rec-c')])
    const other = makeKeys('not-a-validator')
    const cases: Array<[string, Block, string, string?]> = [
      ['height skips', withHeader({ ...good.block, lastCommit: { ...good.block.lastCommit, height: 8 } }, { height: 9, lastCommitHash: certificateHash(TEST_CHAIN_ID, { ...good.block.lastCommit, height: 8 }) }), 'BLOCK_BAD_HEIGHT'],
      ['last commit for another height', withHeader(good.block, { height: 9 }), 'BLOCK_BAD_LAST_COMMIT'],
      ['wrong parent', withHeader(good.block, { prevHash: bytes32('x') }), 'BLOCK_BAD_PREV_HASH'],
      ['time not after parent', withHeader(good.block, { timestamp: h.chain.head.timestamp }), 'BLOCK_BAD_TIMESTAMP'],
      ['wrong validator set', withHeader(good.block, { validatorsHash: bytes32('v') }), 'BLOCK_BAD_VALIDATORS_HASH'],
      ['proposer not a validator', withHeader(good.block, { proposer: other.publicKey }), 'BLOCK_BAD_PROPOSER'],
      ['wrong state root', withHeader(good.block, { stateRoot: bytes32('s') }), 'BLOCK_BAD_STATE_ROOT'],
      ['wrong results root', withHeader(good.block, { resultsRoot: bytes32('r') }), 'BLOCK_BAD_RESULTS_ROOT'],
      ['wrong next validators', withHeader(good.block, { nextValidatorsHash: bytes32('n') }), 'BLOCK_BAD_NEXT_VALIDATORS_HASH'],
      ['wrong tx root', withHeader(good.block, { txRoot: bytes32('t') }), 'BLOCK_BAD_TX_ROOT'],
      ['wrong chain', withHeader(good.block, { chainId: 'other-chain' }), 'BLOCK_WRONG_CHAIN']
    ]
    // a last commit without enough signatures
    const emptyCert = { ...h.lastCommit, signatures: [] }
    cases.push(['last commit without signatures', withHeader({ ...good.block, lastCommit: emptyCert }, { lastCommitHash: certificateHash(TEST_CHAIN_ID, emptyCert) }), 'BLOCK_BAD_LAST_COMMIT'])
    // transactions that are not includable
    const withTxs = (txs: Tx[]): Block => withHeader({ ...good.block, txs }, { txRoot: computeTxRoot(txs) })
    const stranger = makeTx(other, 0, { type: TxType.EnrolPatient, publicKey: makeKeys('p-x').publicKey })
    cases.push(['unknown sender', withTxs([stranger]), 'BLOCK_INVALID_TX', 'TX_UNKNOWN_SENDER'])
    cases.push(['nonce reused', withTxs([anchor(2, 'again')]), 'BLOCK_INVALID_TX', 'TX_NONCE_TOO_LOW'])
    cases.push(['nonce gap', withTxs([anchor(5, 'gap')]), 'BLOCK_INVALID_TX', 'TX_NONCE_TOO_HIGH'])
    cases.push(['duplicate tx', withTxs([anchor(3, 'dup'), anchor(3, 'dup')]), 'BLOCK_DUPLICATE_TX'])
    const real = anchor(3, 'bad-sig')
    const tamperedBytes = new Uint8Array(real.bytes)
    tamperedBytes.set(doctor.sign(new Uint8Array([1, 2, 3])), tamperedBytes.length - 64)
    cases.push(['bad signature', withTxs([decodeTx(tamperedBytes)]), 'BLOCK_INVALID_TX', 'TX_BAD_SIGNATURE'])
    for (const [name, block, code, txCode] of cases) {
      await t.test(name, async () => { await expectRefused(h, block, code, txCode) })
    }
    // and the good block still imports afterwards
    const result = await h.chain.importBlock(good.block, { commit: certify(TEST_CHAIN_ID, good.block, h.validators) })
    h.lastCommit = certify(TEST_CHAIN_ID, good.block, h.validators)
    assert.equal(result.height, 3)
  })

  it('refuses a block whose own commit certificate is short of 2/3', async () => {
    const built = await h.build([anchor(4, 'rec-d')])
    const cert = { ...certify(TEST_CHAIN_ID, built.block, h.validators), signatures: [] }
    const before = h.chain.head
    await assert.rejects(h.chain.importBlock(built.block, { commit: cert }), (err: unknown) => hasErrorCode(err, 'COMMIT_INSUFFICIENT_POWER'))
    assert.deepEqual(h.chain.head, before)
  })
})

describe('getBlock', () => {
  it('serves the RECENT_BLOCKS newest blocks from memory and older ones from disk, the same bytes either way', async () => {
    const h = await ChainHarness.open()
    try {
      await h.commit([registerDoctor(0)])
      for (let i = 0; i < RECENT_BLOCKS + 3; i++) await h.commit(i % 4 === 0 ? [enrol(i / 4)] : [])
      const head = h.chain.head.height
      for (let height = 1; height <= head; height++) {
        const first = await h.chain.getBlock(height)
        const second = await h.chain.getBlock(height)
        assert.ok(first !== undefined && second !== undefined)
        assert.deepEqual(Buffer.from(encodeBlock(first)), Buffer.from(await h.chain.getBlockBytes(height) ?? []))
        assert.equal(first.header.height, height)
        // recent: the imported object itself; older: decoded afresh from the store on every read
        assert.equal(first === second, height > head - RECENT_BLOCKS, `height ${height} of ${head}`)
      }
      assert.equal(await h.chain.getBlock(head + 1), undefined)
    } finally {
      await h.close()
    }
  })
})

describe('chain store on disk', () => {
  it('reopens at the same head and state root', async () => {
    const h = await ChainHarness.open()
    const dir = h.dir
    await h.commit([registerDoctor(0)])
    await h.commit([enrol(0), anchor(1, 'a')])
    const head = h.chain.head
    const root = h.chain.stateRoot
    await h.chain.close()
    const reopened = await Chain.open({ app: accessControlApp, dir, genesis: h.genesis })
    assert.deepEqual(reopened.head, head)
    assert.deepEqual(reopened.stateRoot, root)
    assert.deepEqual(reopened.stateRoot, (await reopened.getHeader(head.height))?.stateRoot)
    await reopened.close()
    await h.close()
  })

  it('refuses to start when the stored state tree\'s root at the head was altered, saying what to do', async () => {
    const h = await ChainHarness.open()
    await h.commit([registerDoctor(0)])
    await h.chain.close()
    const db = new Level<Uint8Array, Uint8Array>(h.dir, { keyEncoding: 'view', valueEncoding: 'view' })
    const ref = decodeRoot(1, await db.get(rootKey(1)) as Uint8Array)
    assert.ok(ref !== null)
    await db.put(rootKey(1), encodeRoot({ ...ref, hash: String.fromCharCode(ref.hash.charCodeAt(0) ^ 1) + ref.hash.slice(1) }))
    await db.close()
    await assert.rejects(Chain.open({ app: accessControlApp, dir: h.dir, genesis: h.genesis }), (err: unknown) => {
      assert.ok(hasErrorCode(err, 'STORE_STATE_MISMATCH'))
      assert.match((err as Error).message, /backup|resync/)
      return true
    })
    await h.close().catch(() => undefined)
  })

  it('refuses a database created for another genesis', async () => {
    const h = await ChainHarness.open()
    await h.chain.close()
    await assert.rejects(Chain.open({ app: accessControlApp, dir: h.dir, genesis: { ...h.genesis, chainId: 'another-chain' } }), (err: unknown) => hasErrorCode(err, 'STORE_GENESIS_MISMATCH'))
    await h.close().catch(() => undefined)
  })

  it('skips signatures already verified on admission and verifies the rest (cold cache)', async () => {
    let jobs = 0
    const counting: BatchVerifier = { verifyBatch: async (list) => { jobs += list.length; return list.map((j) => verify(j.publicKey, j.message, j.signature)) } }
    const verified = new Set<string>()
    const cache = { has: (hash: Uint8Array) => verified.has(toHex(hash)), add: (hash: Uint8Array) => { verified.add(toHex(hash)) } }
    const h = await ChainHarness.open({ verifier: counting, verifiedTxs: cache })
    const t1 = registerDoctor(0)
    cache.add(t1.hash)
    await h.commit([t1])
    assert.equal(jobs, 0, 'a cached tx is not verified again')
    await h.commit([enrol(0), anchor(1, 'x')])
    assert.equal(jobs, 2, 'uncached txs are verified')
    assert.ok(cache.has(enrol(0).hash), 'imported txs are remembered')
    await h.close()
  })

  it('keeps blocks, receipts and certificates in the block store, and state, indexes and the head in the state database', async () => {
    const h = await ChainHarness.open()
    await h.commit([registerDoctor(0)])
    await h.commit([enrol(0)])
    await h.chain.close()
    const state = openLevel(h.dir)
    const blocks = openLevel(join(h.dir, BLOCK_STORE_DIR))
    for (const bucket of [Bucket.blockByHeight, Bucket.receiptsByHeight, Bucket.certificateByHeight]) {
      assert.deepEqual(await bucketKeys(blocks, bucket), [1, 2].map((n) => toHex(heightKey(bucket, n))), `bucket ${bucket} in the block store`)
      assert.deepEqual(await bucketKeys(state, bucket), [], `bucket ${bucket} not in the state database`)
    }
    assert.equal((await bucketKeys(state, Bucket.heightByHash)).length, 2)
    assert.equal((await bucketKeys(state, Bucket.txLocation)).length, 2)
    assert.ok((await state.get(metaKey(Meta.head))) !== undefined)
    assert.equal((await bucketKeys(blocks, Bucket.state)).length, 0)
    await state.close()
    await blocks.close()
    await h.close()
  })

  it('reads a data directory from before the block store (one database), and writes its new blocks to the block store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'medchain-test-'))
    try {
      // the old layout: every bucket in the one database at dir
      const old = await ChainHarness.open({ dir, db: openLevel(dir) })
      const first = registerDoctor(0)
      await old.commit([first])
      await old.commit([enrol(0)])
      const head = old.chain.head
      await old.chain.close()
      const h = await ChainHarness.open({ dir })
      assert.deepEqual(h.chain.head, head)
      assert.equal(toHex((await h.chain.getBlock(1))?.txs[0]?.hash ?? new Uint8Array(0)), toHex(first.hash))
      assert.equal((await h.chain.getReceipt(first.hash))?.receipt.code, 'OK')
      assert.equal((await h.chain.getCertificate(1))?.height, 1)
      assert.equal((await h.chain.getBlockReceiptBytes(2))?.length, 1)
      await h.commit([anchor(1, 'after-split')])
      await h.chain.close()
      const again = await Chain.open({ app: accessControlApp, dir, genesis: h.genesis })
      assert.equal(again.head.height, 3)
      for (let n = 1; n <= 3; n++) assert.equal((await again.getHeader(n))?.height, n)
      await again.close()
      const state = openLevel(dir)
      const blocks = openLevel(join(dir, BLOCK_STORE_DIR))
      assert.deepEqual(await bucketKeys(state, Bucket.blockByHeight), [1, 2].map((n) => toHex(heightKey(Bucket.blockByHeight, n))), 'old blocks stay where they were')
      assert.deepEqual(await bucketKeys(blocks, Bucket.blockByHeight), [toHex(heightKey(Bucket.blockByHeight, 3))])
      await state.close()
      await blocks.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a crash after the block store\'s write and before the state\'s keeps the old head, hides the stored block, and imports it again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'medchain-test-'))
    try {
      const crashable = crashableLevel(dir)
      const h = await ChainHarness.open({ dir, db: crashable.db, blocksDb: openLevel(join(dir, BLOCK_STORE_DIR)) })
      await h.commit([registerDoctor(0)])
      const built = await h.build([enrol(0)])
      const cert = certify(h.chain.chainId, built.block, h.validators)
      crashable.setFailing(true)
      await assert.rejects(h.chain.importBlock(built.block, { commit: cert }), /simulated crash/)
      await h.chain.close()
      const blocks = openLevel(join(dir, BLOCK_STORE_DIR))
      assert.ok((await blocks.get(heightKey(Bucket.blockByHeight, 2))) !== undefined, 'the block store got block 2')
      await blocks.close()
      const again = await Chain.open({ app: accessControlApp, dir, genesis: h.genesis })
      assert.equal(again.head.height, 1)
      assert.equal(await again.getBlock(2), undefined, 'a block above the head is not served')
      assert.equal(await again.getCertificate(2), undefined)
      assert.equal(await again.getBlockReceiptBytes(2), undefined)
      const result = await again.importBlock(built.block, { commit: cert })
      assert.equal(result.height, 2)
      assert.equal(toHex(blockHash((await again.getHeader(2)) as Block['header'])), toHex(blockHash(built.block.header)))
      await again.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('keeps stateKey in the state bucket', () => {
    assert.equal(stateKey('entity/x')[0], Bucket.state)
  })
})

describe('checkBlock and injected databases', () => {
  it('validates a candidate without writing, and importing it afterwards does not execute or verify it again', async () => {
    let jobs = 0
    const counting: BatchVerifier = { verifyBatch: async (list) => { jobs += list.length; return list.map((j) => verify(j.publicKey, j.message, j.signature)) } }
    const h = await ChainHarness.open({ verifier: counting })
    const built = await h.build([registerDoctor(0)])
    const before = { head: h.chain.head, root: h.chain.stateRoot }
    await h.chain.checkBlock(built.block)
    assert.equal(jobs, 1)
    assert.deepEqual(h.chain.head, before.head, 'checkBlock writes nothing')
    assert.deepEqual(h.chain.stateRoot, before.root)
    const cert = certify(TEST_CHAIN_ID, built.block, h.validators)
    const result = await h.chain.importBlock(built.block, { commit: cert })
    h.lastCommit = cert
    assert.equal(result.height, 1)
    assert.equal(jobs, 1, 'the prepared execution was reused')
    // a broken candidate is refused by checkBlock with the same codes as importBlock
    const next = await h.build([enrol(0)])
    await assert.rejects(h.chain.checkBlock(withHeader(next.block, { stateRoot: bytes32('bad') })), (err: unknown) => hasErrorCode(err, 'BLOCK_BAD_STATE_ROOT'))
    await h.close()
  })

  it('a proposer validating its own freshly built block (of admitted txs) does not execute or verify it again', async () => {
    let jobs = 0
    const counting: BatchVerifier = { verifyBatch: async (list) => { jobs += list.length; return list.map((j) => verify(j.publicKey, j.message, j.signature)) } }
    const verified = new Set<string>([toHex(registerDoctor(0).hash)])
    const cache = { has: (hash: Uint8Array) => verified.has(toHex(hash)), add: (hash: Uint8Array) => { verified.add(toHex(hash)) } }
    const h = await ChainHarness.open({ verifier: counting, verifiedTxs: cache })
    const built = await h.build([registerDoctor(0)])
    await h.chain.checkBlock(built.block)
    assert.equal(jobs, 0, 'buildBlock\'s execution was reused')
    // a block with the same parent but other contents is executed and verified as usual
    const other = await h.build([registerDoctor(0), enrol(0)])
    await h.chain.checkBlock((await h.build([registerDoctor(0)])).block)
    assert.equal(jobs, 0)
    await assert.rejects(h.chain.checkBlock(withHeader(other.block, { stateRoot: bytes32('x') })), (err: unknown) => hasErrorCode(err, 'BLOCK_BAD_STATE_ROOT'))
    assert.equal(jobs, 1, 'another block is executed, and its tx not seen before is verified')
    await h.close()
  })

  it('runs on an injected in-memory database and reopens from it', async () => {
    const { MemoryLevel } = await import('memory-level')
    const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
    const h = await ChainHarness.open({ db, dir: 'memory' })
    await h.commit([registerDoctor(0)])
    const head = h.chain.head
    await h.chain.close()
    const again = await Chain.open({ app: accessControlApp, db, dir: 'memory', genesis: h.genesis })
    assert.deepEqual(again.head, head)
    assert.deepEqual(again.stateRoot, (await again.getHeader(1))?.stateRoot)
    await again.close()
  })

  it('a sender\'s nonce is written once per block, after its identity changed mid-block, and repeats within the block are checked against it', async () => {
    const h = await ChainHarness.open({ hospitals: ['hospital-a', 'hospital-b'] })
    const doctorB = makeKeys('doctor-b')
    const hospitalB = makeKeys('hospital-b')
    await h.commit([registerDoctor(0), makeTx(hospitalB, 0, { type: TxType.RegisterClinician, publicKey: doctorB.publicKey, name: 'Dr. B', role: ClinicianRole.Doctor })])
    await h.commit([enrol(0)])
    const grant = (nonce: number): Tx => makeTx(patient, nonce, {
      type: TxType.Grant, grantee: doctor.publicKey, recordTypes: ['Observation'], recordIds: [], purpose: Purpose.Treatment, expiresAt: h.nextTimestamp() + 3_600_000, envelopes: []
    })
    // the patient sends, hospital B's doctor rewrites the patient's identity (a second enrolment), the patient sends again
    const built = await h.build([grant(0), makeTx(doctorB, 0, { type: TxType.EnrolPatient, publicKey: patient.publicKey }), grant(1), grant(1), anchor(1, 'a'), anchor(2, 'b')])
    assert.deepEqual(built.skipped.map((s) => s.error.code), ['TX_NONCE_TOO_LOW'], 'the repeated nonce 1 is left out')
    const result = await h.chain.importBlock(built.block, { commit: certify(h.chain.chainId, built.block, h.validators) })
    assert.deepEqual(result.receipts.map((r) => r.code), ['OK', 'OK', 'OK', 'OK', 'OK'])
    const stored = getEntity(h.chain.stateView, patient.publicKey)
    assert.equal(stored?.nonce, 2)
    assert.equal(stored?.enrolledAt.length, 2, 'the enrolment of the same block is kept')
    assert.equal(getEntity(h.chain.stateView, doctor.publicKey)?.nonce, 3)
    assert.equal(getEntity(h.chain.stateView, doctorB.publicKey)?.nonce, 1)
    // the stored values rebuild the same state root on reopening
    const { dir, genesis } = h
    await h.chain.close()
    const again = await Chain.open({ app: accessControlApp, dir, genesis })
    assert.deepEqual(again.stateRoot, result.stateRoot)
    await again.close()
    await h.close()
  })
})
