/**
 * Seeded simulations of the real consensus engine and block execution (src/sim), each
 * named after a failure seen in other PoA/BFT chains. Virtual time only: no sleeps, no wall clock.
 * A failing run prints its reproduction: `npm run sim -- ... --seed S` or the fault schedule.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runSimulation, type SimulationOptions, type SimulationResult } from '../../../src/sim/run.js'
import type { SimNode } from '../../../src/sim/simNode.js'
import type { Fault } from '../../../src/sim/faults.js'
import { sweepCase } from '../../../src/sim/cli.js'
import { DEFAULT_TIMEOUTS, Step } from '../../../src/consensus/types.js'
import { getEvidence } from '../../../src/contracts/index.js'
import { decodeVote, verifyVoteSignature } from '../../../src/types/vote.js'
import { fromHex, toHex } from '../../../src/crypto/bytes.js'
import { assertAllHeld, explain } from '../../utils/sim.js'

const CAP = DEFAULT_TIMEOUTS.capMs

async function run (opts: SimulationOptions): Promise<{ r: SimulationResult, nodes: SimNode[] }> {
  let nodes: SimNode[] = []
  const r = await runSimulation({ ...opts, setup: (ctx) => { nodes = ctx.nodes; opts.setup?.(ctx) } })
  return { r, nodes }
}

/** First commits of honest nodes inside [from, to). */
function commitsBetween (r: SimulationResult, from: number, to: number): number[] {
  return r.firstCommits.filter((c) => c.at >= from && c.at < to).map((c) => c.height)
}

/** (height, round, step) as one comparable number. */
function position (s: { height: number, round: number, step: number }): number {
  return (s.height * 1_000_000 + s.round) * 4 + s.step
}

type Signed = SimulationResult['history']['nodes'][number]['signed'][number]
const sameSigned = (a: Signed, b: Signed): boolean => position(a) === position(b) && toHex(a.blockHash ?? new Uint8Array()) === toHex(b.blockHash ?? new Uint8Array())

/**
 * The sign-state rule over a node's signing history: every message is at or past the furthest
 * position signed before it, or is the very same message signed before (a re-broadcast).
 */
function assertSignStateNeverGoesBack (signed: readonly Signed[], startingAfter?: Signed): void {
  let furthest = startingAfter
  const before: Signed[] = startingAfter !== undefined ? [startingAfter] : []
  for (const s of signed) {
    if (furthest !== undefined && position(s) < position(furthest)) {
      assert.ok(before.some((b) => sameSigned(b, s)), `signed h${s.height}/r${s.round}/s${s.step} at ${s.at} ms after reaching h${furthest.height}/r${furthest.round}/s${furthest.step}, and it is not a re-broadcast`)
    }
    if (furthest === undefined || position(s) > position(furthest)) furthest = s
    before.push(s)
  }
}

void describe('consensus simulation', () => {
  it('is deterministic: the same seed gives the same event trace and the same blocks', async () => {
    const opts: SimulationOptions = { validators: 4, heights: 4, seed: 11, faults: ['crash', 'partition'] }
    const a = await runSimulation(opts)
    const b = await runSimulation(opts)
    assert.equal(a.traceHash, b.traceHash)
    assert.deepEqual(a.firstCommits, b.firstCommits)
    const c = await runSimulation({ ...opts, seed: 12 })
    assert.notEqual(a.traceHash, c.traceHash)
  })

  for (const [n, f] of [[4, 1], [7, 2]] as const) {
    it(`f crashed out of 3f+1 (n = ${n}, f = ${f}): the chain goes on without them`, async () => {
      const crashed = Array.from({ length: f }, (_, i) => n - 1 - i)
      const faults: Fault[] = crashed.map((node) => ({ kind: 'crash', node, at: 2_500 }))
      const { r } = await run({ validators: n, heights: 10, seed: 100 + n, faults })
      assertAllHeld(r)
      assert.equal(r.stopReason, 'done', explain(r))
      assert.ok(r.committed >= 10, explain(r))
      for (const id of crashed) assert.ok((r.nodes[id]?.height ?? 0) < 10, 'the crashed validators did not take part')
      assert.ok(r.txsCommitted > 0, 'blocks carried transactions')
    })
  }

  it('f+1 down far longer than the timeout cap, then back: nothing committed while down, no fork, progress within 2 x cap, no manual restart', async () => {
    const down = 3_000
    const back = down + 5 * CAP
    const faults: Fault[] = [{ kind: 'crash', node: 2, at: down, until: back }, { kind: 'crash', node: 3, at: down, until: back }]
    const { r } = await run({ validators: 4, heights: 8, seed: 7, faults })
    // a block whose precommits were already on the wire may still land just after the crash
    assert.deepEqual(commitsBetween(r, down + 1_000, back), [], explain(r))
    assertAllHeld(r)
    const after = r.firstCommits.find((c) => c.at >= back)
    assert.ok(after !== undefined && after.at - back <= 2 * CAP, `no commit within ${2 * CAP} ms after the outage: ${explain(r)}`)
    assert.ok(r.committed >= 8, explain(r))
  })

  it('validators back from an outage in different rounds and steps (r0 prevote, r0 precommit x2, r1): they catch up and commit', async () => {
    // sweep seed 199 (npm run sim -- --validators 4 --heights 8 --faults crash,wipe,outage --seed 199):
    // the survivor moved to round 1 on the precommits it held; the two that come back precommitted
    // nil in round 0 and lost the votes they had received; the wiped one proposed late in round 0.
    // Re-sending only one's own current-round messages reaches no 2f+1 and no f+1 anywhere.
    const faults: Fault[] = [
      { kind: 'wipe', node: 3, at: 3_307, until: 6_017 },
      { kind: 'crash', node: 1, at: 5_833, until: 47_973 },
      { kind: 'crash', node: 2, at: 5_833, until: 47_973 },
      { kind: 'crash', node: 3, at: 7_337, until: 12_222 }
    ]
    const { r } = await run({ validators: 4, heights: 8, seed: 199, faults })
    assertAllHeld(r)
    assert.ok(r.committed >= 8, explain(r))
  })

  it('one validator committed a height alone (the others lost its precommits to drops): the others still decide it', async () => {
    // sweep seed 1079 (npm run sim -- --validators 4 --heights 8 --faults partition,drop --seed 1079):
    // validator 1 got 2f+1 precommits for height 6 and moved to height 7; validators 0, 2 and 3 never
    // did, two of them are locked on the block in round 0 and the third never saw that polka. A
    // validator at height 7 ignores their height-6 messages and one validator ahead (< 1/3 of the
    // power) does not trigger block sync, so nobody hands them the certificate.
    const faults: Fault[] = [
      { kind: 'partition', groups: [[2], [1, 3, 0]], at: 3_365, until: 17_601 },
      { kind: 'link', link: { dropRate: 0.26, jitterMs: 100 }, at: 4_729, until: 15_666 }
    ]
    const { r } = await run({ validators: 4, heights: 8, seed: 1079, faults })
    assertAllHeld(r)
    assert.ok(r.committed >= 8, explain(r))
  })

  it('2/2 split of 4 validators, then heal: no progress and no fork during the split, progress after', async () => {
    const split = 3_000
    const heal = split + 3 * CAP
    const faults: Fault[] = [{ kind: 'partition', groups: [[0, 1], [2, 3]], at: split, until: heal }]
    const { r } = await run({ validators: 4, heights: 8, seed: 21, faults })
    assert.deepEqual(commitsBetween(r, split + 1_000, heal), [], explain(r))
    assertAllHeld(r)
    assert.ok(r.committed >= 8, explain(r))
    assert.ok(r.nodes.every((node) => node.height >= 8), explain(r))
  })

  it('the round timer racing the 2f+1-th precommit: at most one certificate (one block) per height', async () => {
    // timeouts about as long as the network delay (10-50 ms): some validators prevote/precommit nil,
    // and the precommit timer races the 2f+1-th precommit for the block
    const timeouts = { proposeMs: 30, prevoteMs: 15, precommitMs: 15, deltaMs: 10, capMs: 400, commitMs: 20 }
    let laterRounds = 0
    for (const seed of [1, 2, 3]) {
      const r = await runSimulation({ validators: 4, heights: 12, seed, timeouts, link: { baseDelayMs: 10, jitterMs: 40 } })
      assertAllHeld(r)
      assert.ok(r.committed >= 12, explain(r))
      for (const height of new Set(r.history.nodes.flatMap((n) => n.certificates.map((c) => c.height)))) {
        const blocks = new Set(r.history.nodes.flatMap((n) => n.certificates.filter((c) => c.height === height).map((c) => toHex(c.certificate.blockHash))))
        assert.equal(blocks.size, 1, `height ${height} has certificates for ${blocks.size} blocks (seed ${seed})`)
      }
      laterRounds += r.history.nodes[0]?.certificates.filter((c) => c.certificate.round > 0).length ?? 0
    }
    assert.ok(laterRounds > 0, 'the race happened: some heights were decided after round 0')
  })

  it('one validator restarted with a wiped store: it syncs and rejoins, and signs nothing before it has synced', async () => {
    const faults: Fault[] = [{ kind: 'wipe', node: 1, at: 5_000, until: 8_000 }]
    const { r, nodes } = await run({ validators: 4, heights: 12, seed: 31, faults })
    assertAllHeld(r)
    assert.ok((r.nodes[1]?.height ?? 0) >= 12, explain(r))
    const wiped = r.history.nodes[1]?.signed ?? []
    const before = wiped.filter((s) => s.at < 5_000)
    const after = wiped.filter((s) => s.at >= 8_000)
    assert.ok(after.length > 0, 'the wiped validator votes again')
    assertSignStateNeverGoesBack(wiped)
    const last = before[before.length - 1]
    for (const s of after) assert.ok(last === undefined || position(s) >= position(last) || before.some((b) => sameSigned(b, s)), `after the wipe it signed h${s.height}/r${s.round}/s${s.step}, behind its sign-state`)
    assert.ok(nodes[1]?.chain !== undefined && nodes[1].chain.head.height >= 12)
  })

  it('a wiped quorum (3 of 4 stores lost): they sync from the last full store and the chain recovers', async () => {
    const faults: Fault[] = [0, 1, 2].map((node) => ({ kind: 'wipe', node, at: 6_000, until: 9_000 }))
    const { r } = await run({ validators: 4, heights: 12, seed: 41, faults })
    assertAllHeld(r)
    assert.ok(r.nodes.every((n) => n.height >= 12), explain(r))
  })

  it('a single-validator network commits alone and resumes after a restart', async () => {
    const faults: Fault[] = [{ kind: 'crash', node: 0, at: 4_000, until: 7_000 }]
    const { r } = await run({ validators: 1, heights: 10, seed: 51, faults })
    assertAllHeld(r)
    assert.ok(r.committed >= 10, explain(r))
    assert.ok(r.firstCommits.some((c) => c.at > 7_000), 'commits after the restart')
  })

  it('a validator crashes right after signing a precommit and restarts: it never signs a conflicting vote', async () => {
    const faults: Fault[] = [{ kind: 'crash-after-precommit', node: 2, height: 3, downMs: 1_500 }]
    const { r, nodes } = await run({ validators: 4, heights: 8, seed: 61, faults })
    assertAllHeld(r)
    const signed = r.history.nodes[2]?.signed ?? []
    const precommit = signed.find((s) => s.height >= 3 && s.step === Step.Precommit)
    assert.ok(precommit !== undefined, 'the scripted crash happened')
    // the sign-state never goes back, except to re-send the very same message
    assertSignStateNeverGoesBack(signed)
    const again = signed.filter((s) => s.height === precommit.height && s.round === precommit.round && s.step === Step.Precommit)
    for (const s of again) assert.equal(toHex(s.blockHash ?? new Uint8Array()), toHex(precommit.blockHash ?? new Uint8Array()), 'the same precommit, or none')
    const stored = nodes[2]?.storedSignState
    assert.ok(stored !== undefined && position(stored) >= position(precommit), 'the stored sign-state is at or past the precommit')
    assert.ok((r.nodes[2]?.height ?? 0) >= 8, explain(r))
  })

  it('an equivocating validator: evidence is produced, verified and recorded on chain, and safety holds', async () => {
    const faults: Fault[] = [{ kind: 'byzantine', node: 3, behaviours: ['equivocate', 'double-propose'], at: 0 }]
    const { r, nodes } = await run({ validators: 4, heights: 10, seed: 71, faults })
    assertAllHeld(r)
    assert.ok(r.evidence.submitted > 0, 'honest validators submitted evidence')
    assert.ok(r.evidence.recordedOnChain > 0, `evidence recorded on chain: ${explain(r)}`)
    const record = r.evidence.records[0] as SimulationResult['evidence']['records'][number]
    assert.equal(record.validator, toHex(nodes[3]?.signer.publicKey ?? new Uint8Array()), 'the byzantine validator is the one accused')
    const chain = nodes[0]?.chain
    assert.ok(chain !== undefined)
    const stored = getEvidence(chain.stateView, fromHex(record.validator), record.height, record.round, record.voteType)
    assert.ok(stored !== undefined, 'the evidence is in the contract state')
    const [a, b] = [decodeVote(stored.voteA), decodeVote(stored.voteB)]
    assert.ok(verifyVoteSignature(a) && verifyVoteSignature(b), 'both votes verify')
    assert.notEqual(toHex(a.blockHash ?? new Uint8Array()), toHex(b.blockHash ?? new Uint8Array()), 'the votes conflict')
  })

  it('f byzantine validators of 3f+1 (n = 7, every byzantine behaviour): no fork, invariants hold, the chain goes on', async () => {
    const { r } = await run({ validators: 7, heights: 8, seed: 81, faults: ['byzantine'] })
    assertAllHeld(r)
    assert.ok(r.committed >= 8, explain(r))
    assert.ok((r.rejected.MSG_NOT_VALIDATOR ?? 0) > 0, 'votes signed by a non-validator were refused')
  })

  it('property: random seeds with random fault schedules never violate an invariant', async () => {
    const failures: string[] = []
    for (let seed = 1; seed <= 20; seed++) {
      const { validators, faults } = sweepCase(seed)
      const r = await runSimulation({ validators, heights: 5, seed, faults })
      if (r.invariantViolations > 0) failures.push(`npm run sim -- --validators ${validators} --heights 5 --faults ${faults.join(',') || 'none'} --seed ${seed}: ${explain(r)}`)
    }
    assert.deepEqual(failures, [])
  })
})
