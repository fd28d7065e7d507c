/**
 * Crash safety of importBlock: a child process importing blocks is killed with SIGKILL at random
 * moments, 24 times, while it writes state tree versions in each block's batch and prunes old
 * ones in the background (keeping only 3, so pruning runs all the time). After each kill the
 * database must open (which reads the state tree's root at the head and compares the state root
 * it gives with the head block's), the head must be a whole block, no block the child reported as
 * imported may be lost, and the full consistency check (`medchain doctor`'s, src/chain/doctor.ts:
 * the state root recomputed from every stored value, and the stored tree's root at the head) must
 * find the data consistent.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Chain } from '../../src/chain/chain.js'
import { checkNodeData } from '../../src/chain/doctor.js'
import { blockHash } from '../../src/types/block.js'
import { makeGenesis } from '../utils/factories.js'
import { accessControlApp } from '../../src/contracts/index.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/importLoop.ts', import.meta.url))
const KILLS = 24

/** Small seeded PRNG so a failing run can be reproduced. */
function xorshift (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 0x100000000 }
}

interface ChildRun { lastImported: number, exitSignal: NodeJS.Signals | null }

async function runAndKill (dir: string, killAfterMs: number): Promise<ChildRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  let lastImported = -1
  let stderr = ''
  let buffered = ''
  let timer: NodeJS.Timeout | undefined
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) {
      const [word, n] = line.split(' ')
      if (word === 'imported') lastImported = Number(n)
      // the kill clock starts once the chain is open, so every kill lands during block work
      if (word === 'ready' && timer === undefined) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    }
  })
  const exitSignal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)))
  if (timer !== undefined) clearTimeout(timer)
  if (exitSignal !== 'SIGKILL') assert.fail(`the import loop exited on its own (signal ${String(exitSignal)}): ${stderr}`)
  return { lastImported, exitSignal }
}

describe('crash safety of block import', () => {
  it(`survives ${KILLS} SIGKILLs at random moments with a whole head and a matching state root`, { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'medchain-crash-'))
    const genesis = makeGenesis(['hospital-a'])
    const random = xorshift(20261122)
    let highestReported = 0
    let progressed = 0
    try {
      for (let i = 0; i < KILLS; i++) {
        const run = await runAndKill(dir, Math.floor(random() * 600))
        highestReported = Math.max(highestReported, run.lastImported)
        const chain = await Chain.open({ app: accessControlApp, dir, genesis, keepVersions: 3, onTreeBuild: () => { throw new Error('a crash left no tree root at the head') } }) // throws STORE_STATE_MISMATCH on a torn state
        try {
          const head = chain.head
          assert.ok(head.height >= highestReported, `block ${highestReported} was reported imported but the head is ${head.height}`)
          if (head.height > 0) {
            const block = await chain.getBlock(head.height)
            assert.ok(block !== undefined, 'head block stored')
            assert.deepEqual(blockHash(block.header), head.hash, 'head hash is the stored block\'s')
            assert.deepEqual(chain.stateRoot, block.header.stateRoot, 'recomputed state root equals the header\'s')
            assert.equal(await chain.getBlock(head.height + 1), undefined, 'no block beyond the head')
          }
          if (run.lastImported >= 0) progressed++
        } finally {
          await chain.close()
        }
        const report = await checkNodeData({ dir, genesis })
        assert.deepEqual(report.problems, [], `after kill ${i + 1} the doctor finds the data consistent`)
        assert.equal(report.ok, true)
        assert.ok(report.height !== null && report.height >= highestReported && report.blocksChecked === report.height)
      }
      assert.ok(progressed >= KILLS / 4, `blocks were imported between kills (${progressed} of ${KILLS} runs)`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
