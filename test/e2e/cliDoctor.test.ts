/**
 * `medchain doctor` as an operator runs it, in a process of its own: the verdict and exit code of
 * a consistent and of a damaged home, one JSON document with --json, and the refusals (a node
 * holding the data open in another process, a home without data) that leave the data untouched.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Chain } from '../../src/chain/chain.js'
import { stateKey } from '../../src/chain/store/buckets.js'
import { accessControlApp } from '../../src/contracts/index.js'
import { toHex } from '../../src/crypto/bytes.js'
import { failedCode, oneJson, okJson, runCli } from '../utils/cli.js'
import { dumpNodeData, makeNodeHome, snapshotFiles, withLevel } from '../utils/nodeData.js'

interface Report { ok: boolean, height: number, stateRoot: string, stateValues: number, blocksChecked: number, problems: Array<{ code: string, height?: number, message: string }>, notes: string[] }

void describe('medchain doctor (CLI)', () => {
  void it('OK and exit 0 on a consistent home; DAMAGED and exit 1 once a state value is overwritten, the data left as it was', { timeout: 120_000 }, async () => {
    const h = await makeNodeHome()
    try {
      const text = await runCli(['doctor', '--home', h.home])
      assert.equal(text.code, 0, text.stderr)
      assert.match(text.stdout, new RegExp(`^OK: ${h.home} is consistent at height 4 \\(state root ${toHex(h.stateRoot)}, \\d+ state values, 4 blocks checked\\)\n$`))
      const report = okJson<Report>(await runCli(['doctor', '--home', h.home, '--json']))
      assert.deepEqual({ ...report, stateValues: 0 }, { ok: true, height: 4, stateRoot: toHex(h.stateRoot), stateValues: 0, blocksChecked: 4, problems: [], notes: [] })

      await withLevel(h.dataDir, async (db) => { await db.put(stateKey('doctor/planted'), new Uint8Array([1])) })
      const before = await dumpNodeData(h.dataDir)
      const damaged = await runCli(['doctor', '--home', h.home, '--json'])
      assert.equal(damaged.code, 1, damaged.stderr)
      const doc = oneJson<Report>(damaged)
      assert.equal(doc.ok, false)
      assert.equal(doc.stateValues, report.stateValues + 1)
      assert.deepEqual(doc.problems.map((p) => [p.code, p.height]), [['DOCTOR_STATE_ROOT_MISMATCH', 4]])
      assert.deepEqual(await dumpNodeData(h.dataDir), before, 'no key or value changed')
      const damagedText = await runCli(['doctor', '--home', h.home])
      assert.equal(damagedText.code, 1)
      assert.match(damagedText.stdout, /^DAMAGED: .*\n {2}DOCTOR_STATE_ROOT_MISMATCH at height 4: .*\n(.*\n)*What to do: .*\n$/)
    } finally {
      h.remove()
    }
  })

  void it('a node holding the data open in another process: DOCTOR_LOCKED, exit 1, not a byte changed', { timeout: 120_000 }, async () => {
    const h = await makeNodeHome()
    try {
      const chain = await Chain.open({ app: accessControlApp, dir: h.dataDir, genesis: h.genesis })
      try {
        const before = snapshotFiles(h.dataDir)
        const run = await runCli(['doctor', '--home', h.home, '--json'])
        assert.equal(failedCode(run), 'DOCTOR_LOCKED')
        assert.match(run.stderr, new RegExp(`error: The node at ${h.dataDir} is running \\(LevelDB lock\\); stop it first\\.\n$`))
        assert.deepEqual(snapshotFiles(h.dataDir), before)
        assert.ok((await chain.getBlock(4)) !== undefined, 'the node still reads its blocks')
      } finally {
        await chain.close()
      }
    } finally {
      h.remove()
    }
  })

  void it('a home without data: DOCTOR_NO_DATA, exit 1, nothing created', { timeout: 60_000 }, async () => {
    const home = mkdtempSync(join(tmpdir(), 'medchain-doctor-cli-'))
    try {
      assert.equal(failedCode(await runCli(['doctor', '--home', home, '--json'])), 'DOCTOR_NO_DATA')
      assert.deepEqual(snapshotFiles(home), {})
    } finally {
      rmSync(home, { recursive: true, force: true })
    }
  })
})

