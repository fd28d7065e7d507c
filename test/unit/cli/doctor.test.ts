import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Writable } from 'node:stream'
import { Chain } from '../../../src/chain/chain.js'
import { Bucket, heightKey } from '../../../src/chain/store/buckets.js'
import { BLOCK_STORE_DIR } from '../../../src/chain/store/blockStore.js'
import { doctorText, progressPrinter, runDoctor } from '../../../src/cli/doctor.js'
import type { CliIo } from '../../../src/cli/output.js'
import { accessControlApp } from '../../../src/contracts/index.js'
import { toHex } from '../../../src/crypto/bytes.js'
import { hasErrorCode } from '../../../src/util/errors.js'
import { makeNodeHome, withLevel, type NodeHome } from '../../utils/nodeData.js'

/** A CliIo whose stdout and stderr are collected. */
function fakeIo (): { io: CliIo, stderr: () => string } {
  let err = ''
  const sink = (onData: (s: string) => void): Writable => new Writable({ write (chunk: Buffer, _enc, cb) { onData(chunk.toString()); cb() } })
  const io: CliIo = { stdin: new PassThrough(), stdout: sink(() => {}), stderr: sink((s) => { err += s }), env: {}, homedir: () => tmpdir() }
  return { io, stderr: () => err }
}

async function withHome (fn: (h: NodeHome) => Promise<void>): Promise<void> {
  const h = await makeNodeHome()
  try {
    await fn(h)
  } finally {
    h.remove()
  }
}

void describe('medchain doctor (runDoctor)', () => {
  void it('a consistent home: exit 0, the OK line with height, state root and counts, the report as JSON, no progress for a quick check', async () => {
    await withHome(async (h) => {
      const { io, stderr } = fakeIo()
      const { result, exitCode } = await runDoctor(io, h.home)
      assert.equal(exitCode, 0)
      const report = result.json as { ok: boolean, height: number, stateRoot: string, stateValues: number, blocksChecked: number }
      assert.equal(report.ok, true)
      assert.equal(result.text, `OK: ${h.home} is consistent at height 4 (state root ${toHex(h.stateRoot)}, ${report.stateValues} state values, 4 blocks checked)`)
      assert.equal(stderr(), '')
    })
  })

  void it('a damaged home: exit 1, DAMAGED with the problem, where, and what to do', async () => {
    await withHome(async (h) => {
      await withLevel(join(h.dataDir, BLOCK_STORE_DIR), async (db) => { await db.del(heightKey(Bucket.blockByHeight, 3)) })
      const { io } = fakeIo()
      const { result, exitCode } = await runDoctor(io, h.home)
      assert.equal(exitCode, 1)
      assert.deepEqual((result.json as { problems: unknown }).problems, [{ code: 'DOCTOR_BLOCK_MISSING', height: 3, message: 'Block 3 is not in the block store.', count: 1 }])
      const lines = result.text.split('\n')
      assert.equal(lines[0], `DAMAGED: ${h.home}: 1 kind of problem (the first of each):`)
      assert.equal(lines[1], '  DOCTOR_BLOCK_MISSING at height 3: Block 3 is not in the block store.')
      assert.match(lines.at(-1) ?? '', /^What to do: .*restore data\/ from a backup.*resync from its peers\.$/)
    })
  })

  void it('a running node: refused with DOCTOR_LOCKED; a home without data: DOCTOR_NO_DATA', async () => {
    await withHome(async (h) => {
      const chain = await Chain.open({ app: accessControlApp, dir: h.dataDir, genesis: h.genesis })
      try {
        await assert.rejects(runDoctor(fakeIo().io, h.home), (err: unknown) => hasErrorCode(err, 'DOCTOR_LOCKED'))
      } finally {
        await chain.close()
      }
    })
    const empty = mkdtempSync(join(tmpdir(), 'medchain-doctor-cli-'))
    try {
      await assert.rejects(runDoctor(fakeIo().io, empty), (err: unknown) => hasErrorCode(err, 'DOCTOR_NO_DATA'))
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })

  void it('repeated problems of a kind: the first is described, with how many more', () => {
    const text = doctorText('/h', {
      ok: false,
      height: 9,
      stateRoot: null,
      stateValues: 0,
      blocksChecked: 9,
      problems: [{ code: 'DOCTOR_INDEX_MISSING', height: 2, message: 'The tx-location index has no entry for transaction 0 of block 2 (ab).', count: 1201 }],
      notes: []
    })
    assert.match(text, /\n {2}DOCTOR_INDEX_MISSING at height 2: The tx-location index has no entry for transaction 0 of block 2 \(ab\)\. \(and 1,200 more like it\)\n/)
    assert.match(text, /state root not computed/)
  })

  void it('another genesis: the advice is to point --home at the right node, not to resync', () => {
    const text = doctorText('/h', { ok: false, height: null, stateRoot: null, stateValues: 0, blocksChecked: 0, problems: [{ code: 'DOCTOR_GENESIS_MISMATCH', message: 'x.', count: 1 }], notes: [] })
    assert.match(text.split('\n').at(-1) ?? '', /^What to do: point --home at the node this data belongs to/)
  })
})

void describe('progressPrinter', () => {
  void it('prints nothing for a phase done within a second, then each further tenth, and at least every 3 s', () => {
    const { io, stderr } = fakeIo()
    let t = 0
    const print = progressPrinter(io, () => t)
    // a quick phase: no line
    print({ phase: 'state', done: 5000, total: 10_000 }); t = 500
    print({ phase: 'state', done: 10_000, total: 10_000 })
    assert.equal(stderr(), '')
    // a long phase: tenths once a second has passed, and a line every 3 s when the tenths come slowly
    t = 10_000
    print({ phase: 'blocks', done: 1, total: 1_000_000 }); t = 11_000
    print({ phase: 'blocks', done: 120_000, total: 1_000_000 }) // 1 s in, past a tenth
    print({ phase: 'blocks', done: 150_000, total: 1_000_000 }) // same tenth: nothing
    t = 13_999
    print({ phase: 'blocks', done: 160_000, total: 1_000_000 }) // 2.999 s since the last line: nothing
    t = 14_000
    print({ phase: 'blocks', done: 170_000, total: 1_000_000 }) // 3 s since the last line
    print({ phase: 'blocks', done: 200_000, total: 1_000_000 }) // a new tenth
    assert.equal(stderr(), 'checked 120,000 of 1,000,000 blocks…\nchecked 170,000 of 1,000,000 blocks…\nchecked 200,000 of 1,000,000 blocks…\n')
  })
})
