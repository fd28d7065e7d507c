/**
 * Every contract scenario suite again, in the harness's strict mode: each block (so far, and when
 * committed) is executed the chain's way through a StrictState loaded ONLY with the key list of
 * src/contracts/touchedKeys.ts, and must read nothing else and give the same receipts, state and
 * audit trail. So every scenario (registry, grants, revocations, emergency access, governance,
 * evidence, key shares, refusals) is also a check of the key list.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { strictStats, useStrictState } from './harness.js'

// strict mode first, then the suites (their worlds are built while they load)
useStrictState({})
await import('./scenarios.test.js')
await import('./registry.test.js')
await import('./governance.test.js')
await import('./accessTable.test.js')

describe('strict mode', () => {
  it('replayed the suites\' blocks through the strict backend, skipping none', () => {
    assert.ok(strictStats.committedBlocks >= 400, `only ${strictStats.committedBlocks} committed blocks replayed`)
    assert.ok(strictStats.replays >= 1500, `only ${strictStats.replays} replays`)
    assert.equal(strictStats.skippedBlocks, 0, 'a test wrote to the state directly during a block')
  })
})
