import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Chain } from '../../../src/chain/chain.js'
import { checkNodeData, DoctorError, type DoctorProgress, type DoctorReport } from '../../../src/chain/doctor.js'
import { BLOCK_STORE_DIR } from '../../../src/chain/store/blockStore.js'
import { Bucket, hashKey, heightKey, stateKey } from '../../../src/chain/store/buckets.js'
import { accessControlApp } from '../../../src/contracts/index.js'
import { decodeRoot, encodeRoot, rootKey } from '../../../src/chain/store/treeNodes.js'
import { toHex } from '../../../src/crypto/bytes.js'
import { decodeBlock, decodeCertificate, encodeBlock, encodeCertificate } from '../../../src/types/block.js'
import { makeGenesis } from '../../utils/factories.js'
import { dumpNodeData, makeNodeHome, snapshotFiles, withLevel, type NodeHome } from '../../utils/nodeData.js'

async function withHome (fn: (h: NodeHome) => Promise<void>, opts: Parameters<typeof makeNodeHome>[0] = {}): Promise<void> {
  const h = await makeNodeHome(opts)
  try {
    await fn(h)
  } finally {
    h.remove()
  }
}

async function doctor (h: NodeHome): Promise<DoctorReport> {
  return await checkNodeData({ dir: h.dataDir, genesis: h.genesis })
}

function codes (report: DoctorReport): Array<[string, number | undefined]> {
  return report.problems.map((p) => [p.code, p.height])
}

/** A damaged home: the report names the damage and the data is as it was before the check. */
async function expectDamaged (h: NodeHome, expected: Array<[string, number | undefined]>): Promise<DoctorReport> {
  const before = await dumpNodeData(h.dataDir)
  const report = await doctor(h)
  assert.equal(report.ok, false)
  assert.deepEqual(codes(report), expected, JSON.stringify(report.problems))
  for (const p of report.problems) assert.match(p.message, /^[A-Z].+\.$/, 'one sentence')
  assert.deepEqual(await dumpNodeData(h.dataDir), before, 'the check changed no key or value')
  assert.deepEqual(await doctor(h), report, 'a second run reports the same')
  return report
}

async function stateValueCount (dataDir: string): Promise<number> {
  return await withLevel(dataDir, async (db) => {
    let n = 0
    for await (const _k of db.keys({ gte: new Uint8Array([Bucket.state]), lt: new Uint8Array([Bucket.state + 1]) })) n++
    return n
  })
}

void describe('checkNodeData (medchain doctor\'s checks)', () => {
  void it('a healthy chain: OK at its head, with its state root, its state values and every block checked, changing nothing', async () => {
    await withHome(async (h) => {
      const before = await dumpNodeData(h.dataDir)
      const progress: DoctorProgress[] = []
      const report = await checkNodeData({ dir: h.dataDir, genesis: h.genesis, onProgress: (p) => progress.push(p) })
      const values = await stateValueCount(h.dataDir)
      assert.ok(values > 3, 'the chain stores the genesis, the clinician, the patient and the records')
      assert.deepEqual(report, { ok: true, height: 4, stateRoot: toHex(h.stateRoot), stateValues: values, blocksChecked: 4, problems: [], notes: [] })
      assert.deepEqual(await dumpNodeData(h.dataDir), before)
      assert.deepEqual(progress.filter((p) => p.phase === 'blocks'), [1, 2, 3, 4].map((done) => ({ phase: 'blocks', done, total: 4 })))
      assert.deepEqual(progress.filter((p) => p.phase === 'state').at(-1), { phase: 'state', done: values, total: values })
      // the chain opens on it afterwards, as before
      const chain = await Chain.open({ app: accessControlApp, dir: h.dataDir, genesis: h.genesis })
      assert.equal(chain.head.height, 4)
      await chain.close()
    })
  })

  void it('a head whose certificate is not stored yet: OK, with a note saying so', async () => {
    await withHome(async (h) => {
      const report = await doctor(h)
      assert.equal(report.ok, true)
      assert.equal(report.height, 3)
      assert.deepEqual(report.notes, ['The head\'s certificate (block 3) is not stored yet; the next block carries it.'])
    }, { blocks: 3, headCertificate: false })
  })

  void it('a chain at genesis: OK at height 0 with the genesis state root', async () => {
    await withHome(async (h) => {
      const report = await doctor(h)
      assert.deepEqual(report, { ok: true, height: 0, stateRoot: toHex(h.stateRoot), stateValues: await stateValueCount(h.dataDir), blocksChecked: 0, problems: [], notes: [] })
    }, { blocks: 0 })
  })

  void it('a state value overwritten on disk: DOCTOR_STATE_ROOT_MISMATCH at the head', async () => {
    await withHome(async (h) => {
      await withLevel(h.dataDir, async (db) => {
        for await (const key of db.keys({ gte: new Uint8Array([Bucket.state]), lt: new Uint8Array([Bucket.state + 1]), limit: 1 })) {
          const value = await db.get(key) as Uint8Array
          await db.put(key, Uint8Array.from(value, (b, i) => i === value.length - 1 ? b ^ 1 : b))
        }
      })
      const report = await expectDamaged(h, [['DOCTOR_STATE_ROOT_MISMATCH', 4]])
      assert.notEqual(report.stateRoot, toHex(h.stateRoot))
      assert.match(report.problems[0]?.message ?? '', /not to the state root of block 4, the head/)
    })
  })

  void it('a state value deleted on disk: DOCTOR_STATE_ROOT_MISMATCH, one value fewer counted', async () => {
    await withHome(async (h) => {
      const values = await stateValueCount(h.dataDir)
      await withLevel(h.dataDir, async (db) => { await db.del(stateKey('nonexistent-key-is-fine')) })
      assert.equal((await doctor(h)).ok, true, 'deleting an absent key changes nothing')
      await withLevel(h.dataDir, async (db) => {
        for await (const key of db.keys({ gte: new Uint8Array([Bucket.state]), lt: new Uint8Array([Bucket.state + 1]), limit: 1 })) await db.del(key)
      })
      const report = await expectDamaged(h, [['DOCTOR_STATE_ROOT_MISMATCH', 4]])
      assert.equal(report.stateValues, values - 1)
    })
  })

  void it('a state tree whose root at the head was altered: DOCTOR_TREE_MISMATCH at the head, the state values still OK', async () => {
    await withHome(async (h) => {
      await withLevel(h.dataDir, async (db) => {
        const ref = decodeRoot(4, await db.get(rootKey(4)) as Uint8Array)
        assert.ok(ref !== null)
        await db.put(rootKey(4), encodeRoot({ ...ref, hash: ref.hash.slice(0, 31) + String.fromCharCode(ref.hash.charCodeAt(31) ^ 1) }))
      })
      const report = await expectDamaged(h, [['DOCTOR_TREE_MISMATCH', 4]])
      assert.equal(report.stateRoot, toHex(h.stateRoot), 'the values still hash to the head\'s root')
      assert.match(report.problems[0]?.message ?? '', /state tree stored at the head \(block 4\) gives the state root/)
      await withLevel(h.dataDir, async (db) => { await db.put(rootKey(4), Uint8Array.of(0xc1)) })
      const unreadable = await expectDamaged(h, [['DOCTOR_TREE_MISMATCH', 4]])
      assert.match(unreadable.problems[0]?.message ?? '', /cannot be read/)
    })
  })

  void it('a data directory without a state tree (written before it moved to disk): OK, with a note that the next start builds it', async () => {
    await withHome(async (h) => {
      await withLevel(h.dataDir, async (db) => {
        const keys: Uint8Array[] = []
        for await (const key of db.keys({ gte: new Uint8Array([Bucket.treeNode]), lt: new Uint8Array([Bucket.treeMeta + 1]) })) keys.push(key)
        assert.ok(keys.length > 0)
        for (const key of keys) await db.del(key)
      })
      const report = await doctor(h)
      assert.equal(report.ok, true, JSON.stringify(report.problems))
      assert.equal(report.stateRoot, toHex(h.stateRoot))
      assert.deepEqual(report.notes, ['The state tree has no version at the head (block 4): the node builds it from the stored state values on its next start.'])
    })
  })

  void it('a block deleted from the block store: DOCTOR_BLOCK_MISSING at its height, and nothing else', async () => {
    await withHome(async (h) => {
      await withLevel(join(h.dataDir, BLOCK_STORE_DIR), async (db) => { await db.del(heightKey(Bucket.blockByHeight, 2)) })
      const report = await expectDamaged(h, [['DOCTOR_BLOCK_MISSING', 2]])
      assert.equal(report.blocksChecked, 4, 'the heights after it are still checked')
    })
  })

  void it('the head block deleted: DOCTOR_BLOCK_MISSING at the head, the state not compared', async () => {
    await withHome(async (h) => {
      await withLevel(join(h.dataDir, BLOCK_STORE_DIR), async (db) => { await db.del(heightKey(Bucket.blockByHeight, 4)) })
      await expectDamaged(h, [['DOCTOR_BLOCK_MISSING', 4]])
    })
  })

  void it('a flipped byte in a stored block: DOCTOR_BLOCK_CORRUPT at its height', async () => {
    await withHome(async (h) => {
      await withLevel(join(h.dataDir, BLOCK_STORE_DIR), async (db) => {
        const key = heightKey(Bucket.blockByHeight, 3)
        const bytes = await db.get(key) as Uint8Array
        const middle = bytes.length >> 1
        await db.put(key, Uint8Array.from(bytes, (b, i) => i === middle ? b ^ 0x40 : b))
      })
      await expectDamaged(h, [['DOCTOR_BLOCK_CORRUPT', 3]])
    })
  })

  void it('a stored header altered so the block still decodes and passes the stateless checks: DOCTOR_BLOCK_CORRUPT through its certificate, the next block still linked', async () => {
    await withHome(async (h) => {
      await withLevel(join(h.dataDir, BLOCK_STORE_DIR), async (db) => {
        const key = heightKey(Bucket.blockByHeight, 2)
        const block = decodeBlock(await db.get(key) as Uint8Array)
        const stateRoot = Uint8Array.from(block.header.stateRoot, (b, i) => i === 0 ? b ^ 1 : b)
        await db.put(key, encodeBlock({ ...block, header: { ...block.header, stateRoot } }))
      })
      const report = await expectDamaged(h, [['DOCTOR_BLOCK_CORRUPT', 2]])
      assert.match(report.problems[0]?.message ?? '', /does not hash to the block its certificate commits to/)
    })
  })

  void it('a tampered certificate: DOCTOR_BAD_CERTIFICATE at its height', async () => {
    await withHome(async (h) => {
      await withLevel(join(h.dataDir, BLOCK_STORE_DIR), async (db) => {
        const key = heightKey(Bucket.certificateByHeight, 2)
        const cert = decodeCertificate(await db.get(key) as Uint8Array)
        const first = cert.signatures[0] as { validator: Uint8Array, signature: Uint8Array }
        const signature = Uint8Array.from(first.signature, (b, i) => i === 7 ? b ^ 1 : b)
        await db.put(key, encodeCertificate({ ...cert, signatures: [{ ...first, signature }, ...cert.signatures.slice(1)] }))
      })
      const report = await expectDamaged(h, [['DOCTOR_BAD_CERTIFICATE', 2]])
      assert.match(report.problems[0]?.message ?? '', /does not verify/)
    })
  })

  void it('the head\'s tampered certificate: DOCTOR_BAD_CERTIFICATE at the head', async () => {
    await withHome(async (h) => {
      await withLevel(join(h.dataDir, BLOCK_STORE_DIR), async (db) => {
        const key = heightKey(Bucket.certificateByHeight, 4)
        const cert = decodeCertificate(await db.get(key) as Uint8Array)
        await db.put(key, encodeCertificate({ ...cert, round: cert.round + 1 }))
      })
      await expectDamaged(h, [['DOCTOR_BAD_CERTIFICATE', 4]])
    })
  })

  void it('a deleted certificate below the head: DOCTOR_BAD_CERTIFICATE', async () => {
    await withHome(async (h) => {
      await withLevel(join(h.dataDir, BLOCK_STORE_DIR), async (db) => { await db.del(heightKey(Bucket.certificateByHeight, 1)) })
      const report = await expectDamaged(h, [['DOCTOR_BAD_CERTIFICATE', 1]])
      assert.match(report.problems[0]?.message ?? '', /is not stored/)
    })
  })

  void it('deleted receipts: DOCTOR_RECEIPTS_MISSING; another block\'s receipts: DOCTOR_RECEIPTS_MISMATCH', async () => {
    await withHome(async (h) => {
      await withLevel(join(h.dataDir, BLOCK_STORE_DIR), async (db) => {
        await db.del(heightKey(Bucket.receiptsByHeight, 2))
        await db.put(heightKey(Bucket.receiptsByHeight, 3), await db.get(heightKey(Bucket.receiptsByHeight, 4)) as Uint8Array)
      })
      await expectDamaged(h, [['DOCTOR_RECEIPTS_MISSING', 2], ['DOCTOR_RECEIPTS_MISMATCH', 3]])
    })
  })

  void it('a missing tx-location entry: DOCTOR_INDEX_MISSING at the block of the transaction', async () => {
    await withHome(async (h) => {
      const tx = h.blocks[2]?.txs[1]
      assert.ok(tx !== undefined)
      await withLevel(h.dataDir, async (db) => { await db.del(hashKey(Bucket.txLocation, tx.hash)) })
      const report = await expectDamaged(h, [['DOCTOR_INDEX_MISSING', 3]])
      assert.match(report.problems[0]?.message ?? '', new RegExp(`transaction 1 of block 3 \\(${toHex(tx.hash)}\\)`))
    })
  })

  void it('another genesis: DOCTOR_GENESIS_MISMATCH and nothing else checked', async () => {
    await withHome(async (h) => {
      const report = await checkNodeData({ dir: h.dataDir, genesis: makeGenesis(['hospital-b']) })
      assert.equal(report.ok, false)
      assert.deepEqual(codes(report), [['DOCTOR_GENESIS_MISMATCH', undefined]])
      assert.equal(report.blocksChecked, 0)
    })
  })

  void it('a database a chain holds open (a running node): DOCTOR_LOCKED, and not a byte of data/ changed', async () => {
    await withHome(async (h) => {
      const chain = await Chain.open({ app: accessControlApp, dir: h.dataDir, genesis: h.genesis })
      try {
        const before = snapshotFiles(h.dataDir)
        await assert.rejects(doctor(h), (err: unknown) => {
          assert.ok(err instanceof DoctorError)
          assert.equal(err.code, 'DOCTOR_LOCKED')
          assert.equal(err.message, `The node at ${h.dataDir} is running (LevelDB lock); stop it first.`)
          return true
        })
        assert.deepEqual(snapshotFiles(h.dataDir), before)
        assert.equal(chain.head.height, 4, 'the chain is still open and serving')
        assert.ok(await chain.getBlock(4) !== undefined)
      } finally {
        await chain.close()
      }
      assert.equal((await doctor(h)).ok, true, 'once the chain is closed the check runs')
    })
  })

  void it('a home without data: DOCTOR_NO_DATA, creating nothing', async () => {
    const home = mkdtempSync(join(tmpdir(), 'medchain-doctor-empty-'))
    try {
      const dataDir = join(home, 'data')
      const noData = (err: unknown): boolean => { assert.ok(err instanceof DoctorError); assert.equal(err.code, 'DOCTOR_NO_DATA'); return true }
      await assert.rejects(checkNodeData({ dir: dataDir, genesis: makeGenesis(['hospital-a']) }), noData)
      assert.equal(existsSync(dataDir), false, 'data/ was not created')
      mkdirSync(dataDir)
      await assert.rejects(checkNodeData({ dir: dataDir, genesis: makeGenesis(['hospital-a']) }), noData)
      assert.deepEqual(readdirSync(dataDir), [], 'nothing was created in an empty data/')
    } finally {
      rmSync(home, { recursive: true, force: true })
    }
  })
})
