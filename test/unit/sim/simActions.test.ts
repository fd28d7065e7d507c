/**
 * The simulator runs the node's own action executor (src/node/actions.ts), so a simulated run
 * exercises the node's persistence order: when a validator's signed message reaches the simulated
 * network its sign-state is already on the simulated disk and, the first time it is sent, its
 * own-messages WAL does not hold the message yet (the engine re-sends identical messages later); once a block at the WAL's height is imported the WAL is empty, as the node
 * empties own_messages.bin. Checked on every broadcast and commit of a seeded run with crashes.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runSimulation } from '../../../src/sim/run.js'
import type { SimNode } from '../../../src/sim/simNode.js'
import { ActionExecutor } from '../../../src/node/actions.js'
import { messageHeight } from '../../../src/consensus/wal.js'
import { Step, type EngineAction } from '../../../src/consensus/types.js'
import type { ConsensusMessage } from '../../../src/types/consensusMessage.js'
import { VoteType } from '../../../src/types/vote.js'
import { equalBytes, toHex } from '../../../src/crypto/bytes.js'
import { assertAllHeld } from '../../utils/sim.js'

function place (m: ConsensusMessage): { signer: Uint8Array, height: number, round: number, step: Step } {
  return m.kind === 'proposal'
    ? { signer: m.proposal.proposer, height: m.proposal.height, round: m.proposal.round, step: Step.Propose }
    : { signer: m.vote.validator, height: m.vote.height, round: m.vote.round, step: m.vote.type === VoteType.Prevote ? Step.Prevote : Step.Precommit }
}

const signatureOf = (m: ConsensusMessage): string => toHex(m.kind === 'proposal' ? m.proposal.signature : m.vote.signature)

const position = (s: { height: number, round: number, step: number }): number => (s.height * 1_000_000 + s.round) * 4 + s.step

void describe('simulator on the node\'s action executor', () => {
  void it('every signed broadcast finds its sign-state on disk, a first one not yet in the WAL; a commit empties the WAL', async () => {
    const performed = new Map<string, number>()
    const perform = ActionExecutor.prototype.perform
    ActionExecutor.prototype.perform = async function (this: ActionExecutor, action: EngineAction, pending) {
      performed.set(action.type, (performed.get(action.type) ?? 0) + 1)
      await perform.call(this, action, pending)
    }
    const problems: string[] = []
    let broadcasts = 0
    /** Signatures of the messages broadcast so far (the engine re-sends identical messages). */
    const sent = new Set<string>()
    let result
    try {
      result = await runSimulation({
        validators: 4,
        heights: 6,
        seed: 7,
        faults: ['crash'],
        setup: ({ env, nodes }) => {
          const observer = env.observer
          const node = (id: number): SimNode => nodes[id] as SimNode
          env.observer = {
            ...observer,
            onBroadcast: (id, message, at) => {
              const p = place(message)
              if (equalBytes(p.signer, node(id).signer.publicKey)) {
                broadcasts++
                const saved = node(id).storedSignState
                if (saved === undefined || position(saved) < position(p)) problems.push(`n${id} h${p.height}/r${p.round}/s${p.step}: sign-state ${JSON.stringify(saved)} not on disk before the broadcast`)
                const signature = signatureOf(message)
                const first = !sent.has(signature)
                sent.add(signature)
                // by signature, not by object: a WAL holding an equal copy is as wrong as one holding this object
                if (first && node(id).storedOwnMessages.some((m) => signatureOf(m) === signature)) problems.push(`n${id} h${p.height}/r${p.round}/s${p.step}: in the WAL before its first broadcast`)
              }
              observer.onBroadcast(id, message, at)
            },
            onCommit: (id, height, hash, txs, at, via) => {
              const stale = node(id).storedOwnMessages.filter((m) => messageHeight(m) <= height)
              if (stale.length > 0) problems.push(`n${id}: ${stale.length} own messages of height ≤ ${height} left in the WAL after its commit`)
              observer.onCommit(id, height, hash, txs, at, via)
            }
          }
        }
      })
    } finally {
      ActionExecutor.prototype.perform = perform
    }
    assertAllHeld(result)
    assert.deepEqual(problems, [])
    assert.ok(broadcasts > 20, `own broadcasts checked: ${broadcasts}`)
    for (const type of ['broadcast', 'scheduleTimeout', 'buildProposal', 'validateBlock', 'commitBlock']) {
      assert.ok((performed.get(type) ?? 0) > 0, `the simulator performed '${type}' through ActionExecutor: ${JSON.stringify([...performed])}`)
    }
  })
})
