/**
 * bench:state (bench/state.ts) at a tiny size, through tsx: the shape and sanity of its JSON line,
 * that it cleans up its temporary directory, and that bad flags stop it before any work. No speed
 * assertions (speed only in bench/RESULTS.md).
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SCRIPT = fileURLToPath(new URL('../../../bench/state.ts', import.meta.url))
/** Transactions of the fixture's pre-state (bench/fixtures.ts): 102 registrations, 2,000 enrolments, 2,000 anchors. */
const PRE_STATE_TXS = 4102
const PRE_STATE_BLOCKS = 3

interface Run { code: number | null, stdout: string, stderr: string }

/** The benchmark's own directories under `tmp` (tsx keeps its cache there too). */
const benchDirs = (tmp: string): string[] => readdirSync(tmp).filter((name) => name.startsWith('medchain-'))

/** Runs the benchmark with TMPDIR set to `tmp`, so that everything it writes lands there. */
async function runBench (args: string[], tmp: string): Promise<Run> {
  return await new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { env: { ...process.env, TMPDIR: tmp }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      resolve({ code, stdout, stderr })
    })
  })
}

describe('bench:state', () => {
  let tmp: string
  before(() => { tmp = mkdtempSync(join(tmpdir(), 'medchain-bench-state-test-')) })
  after(() => { rmSync(tmp, { recursive: true, force: true }) })

  it('grows a chain to two checkpoints and prints one JSON object with the figures of the last', async () => {
    const run = await runBench(['--txs', '20000', '--block-txs', '2000', '--checkpoints', '10000,20000', '--timed-blocks', '2', '--proofs', '3', '--json'], tmp)
    assert.equal(run.code, 0, run.stderr)
    const lines = run.stdout.trim().split('\n')
    assert.equal(lines.length, 1, 'with --json, stdout holds only the JSON object')
    const out = JSON.parse(lines[0] as string) as Record<string, unknown>
    assert.deepEqual(Object.keys(out).slice(0, 11), ['txs', 'stateKeys', 'openMs', 'openRssMB', 'openHeapMB', 'importTxPerSecSmall', 'importTxPerSecLarge', 'diskMB', 'stateSyncMs', 'replayMs', 'checkpoints'])
    assert.equal(out.txs, 20000)
    assert.equal(out.stateSyncMs, null)

    const rows = out.checkpoints as Array<Record<string, number>>
    assert.deepEqual(rows.map((r) => r.txs), [10000, 20000])
    const [small, large] = rows as [Record<string, number>, Record<string, number>]
    for (const r of rows) {
      for (const key of ['stateKeys', 'openMs', 'openRssMB', 'openHeapMB', 'importTxPerSec', 'importTxPerSecGrowing', 'recordProofMs', 'diskMB', 'blockStoreMB']) {
        assert.ok(Number.isFinite(r[key]) && (r[key] as number) > 0, `${key} of the ${r.txs ?? '?'} row is a positive number: ${String(r[key])}`)
      }
      assert.ok((r.openRssMB as number) > (r.openHeapMB as number), 'the RSS holds the heap')
      assert.ok((r.diskMB as number) > (r.blockStoreMB as number), 'the data directory holds the block store and the state database')
    }
    assert.ok((large.stateKeys as number) > (small.stateKeys as number), 'the state grows between checkpoints')
    assert.ok((large.diskMB as number) > (small.diskMB as number), 'the disk grows between checkpoints')
    // the top-level figures are the last checkpoint's and the first's import
    assert.equal(out.stateKeys, large.stateKeys)
    assert.equal(out.openMs, large.openMs)
    assert.equal(out.openRssMB, large.openRssMB)
    assert.equal(out.openHeapMB, large.openHeapMB)
    assert.equal(out.diskMB, large.diskMB)
    assert.equal(out.importTxPerSecSmall, small.importTxPerSec)
    assert.equal(out.importTxPerSecLarge, large.importTxPerSec)
    assert.ok(typeof out.replayMs === 'number' && out.replayMs > 0)
    // the replay covers every block: the pre-state, the 10 blocks to --txs and the 2 timed after it
    assert.equal(out.replayBlocks, PRE_STATE_BLOCKS + 12)
    assert.equal(out.replayTxs, PRE_STATE_TXS + 12 * 2000)
    assert.match(run.stderr, /checkpoint 20,000 txs/, 'progress goes to stderr')
    assert.deepEqual(benchDirs(tmp), [], 'the benchmark removes its data directories')
  })

  const refused: Array<[string[], RegExp]> = [
    [['--txs', '0'], /--txs must be between 1 and/],
    [['--txs', '2500', '--block-txs', '2000'], /--txs 2500 must be a whole number of blocks of --block-txs 2000/],
    [['--block-txs', '30000'], /--block-txs must be between 100 and 20000/],
    [['--checkpoints', '10000,x'], /--checkpoints must be a whole number/],
    [['--txs'], /--txs needs a value/]
  ]
  for (const [args, message] of refused) {
    it(`refuses ${args.join(' ')} with exit 2 before any work`, async () => {
      const run = await runBench(args, tmp)
      assert.equal(run.code, 2)
      assert.match(run.stderr, message)
      assert.match(run.stderr, /See --help\./)
      assert.equal(run.stdout, '')
      assert.deepEqual(benchDirs(tmp), [], 'nothing was written')
    })
  }
})
