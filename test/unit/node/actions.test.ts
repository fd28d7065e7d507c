/**
 * The action executor (src/node/actions.ts) with recording ports: for a signed broadcast the block
 * signed for and the sign-state reach the disk before the publish and the own-messages WAL after
 * it; a publish during which the host went down leaves the WAL as it was; the own message goes
 * back to the engine only on a loopback host; a commit at or above the WAL's height empties it.
 * Both hosts run this executor: a MedchainNode (node.test below) and a SimNode (test/unit/sim).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ActionExecutor, type ActionPorts, type ExecutorChain } from '../../../src/node/actions.js'
import { Step, type EngineAction, type EngineEvent, type SignState } from '../../../src/consensus/types.js'
import { ZERO_HASH, blockHash, type Block } from '../../../src/types/block.js'
import type { ConsensusMessage } from '../../../src/types/consensusMessage.js'
import { signVote, VoteType } from '../../../src/types/vote.js'
import { toHex } from '../../../src/crypto/bytes.js'
import { GENESIS_TIME, makeKeys, TEST_CHAIN_ID } from '../../utils/factories.js'
import { labelledBlock } from '../../utils/blocks.js'

const me = makeKeys('actions/validator')

const block = (height: number, label: string): Block => labelledBlock(height, label, me.publicKey)

function vote (height: number, round: number, type: VoteType, hash?: Uint8Array): ConsensusMessage {
  return { kind: 'vote', vote: signVote({ chainId: TEST_CHAIN_ID, type, height, round, ...(hash !== undefined ? { blockHash: hash } : {}), validator: me.publicKey }, me) }
}

const label = (m: ConsensusMessage): string => m.kind === 'vote' ? `h${m.vote.height}/r${m.vote.round}/${m.vote.type === VoteType.Prevote ? 'prevote' : 'precommit'}` : `h${m.proposal.height}/r${m.proposal.round}/proposal`

interface Recorder {
  log: string[]
  engineSaw: EngineEvent[]
  ports: ActionPorts
}

/** Ports that record, in order, what reaches the disk and the network; the engine plays `script`. */
function recordingPorts (script: (event: EngineEvent) => EngineAction[], opts: { loopback?: boolean, publish?: (m: ConsensusMessage) => boolean } = {}): Recorder {
  const log: string[] = []
  const engineSaw: EngineEvent[] = []
  const chain = { chainId: TEST_CHAIN_ID, head: { height: 4, hash: ZERO_HASH, timestamp: GENESIS_TIME } } as unknown as ExecutorChain
  const ports: ActionPorts = {
    signer: me,
    chain,
    engine: { handle: (event) => { engineSaw.push(event); return script(event) } },
    disk: {
      saveLastSignedBlock: (b) => { log.push(`disk: last signed block ${b === undefined ? 'none' : toHex(blockHash(b.header)).slice(0, 8)}`) },
      saveSignState: (s) => { log.push(`disk: sign-state h${s.height}/r${s.round}/s${s.step}`) },
      saveOwnMessages: (messages) => { log.push(`disk: own messages [${messages.map(label).join(', ')}]`) }
    },
    publish: (message) => { log.push(`publish ${label(message)}`); return opts.publish?.(message) ?? true },
    loopback: opts.loopback ?? true,
    scheduleTimeout: () => undefined,
    proposals: { reap: () => [], now: () => GENESIS_TIME },
    startSync: () => undefined,
    evidence: { pendingOwnTxs: () => 0, submit: () => undefined },
    monotonicMs: () => 0,
    errorCode: (err) => String(err),
    session: () => ({ event: () => true, action: () => true }),
    hooks: {
      engineThrew: (_e, err) => { throw err },
      blockRefused: () => undefined,
      committed: () => undefined,
      importFailed: (_a, err) => { throw err },
      rejected: () => undefined
    }
  }
  return { log, engineSaw, ports }
}

const signStateOf = (m: ConsensusMessage, step: Step, hash?: Uint8Array): SignState =>
  ({ height: m.kind === 'vote' ? m.vote.height : m.proposal.height, round: m.kind === 'vote' ? m.vote.round : m.proposal.round, step, ...(hash !== undefined ? { blockHash: hash } : {}) })

void describe('action executor (shared by the node and the simulator)', () => {
  void it('saves the signed block and the sign-state before the publish, and the own-messages WAL after it', async () => {
    const b = block(5, 'b5')
    const hash = blockHash(b.header)
    const prevote = vote(5, 0, VoteType.Prevote, hash)
    const precommit = vote(5, 0, VoteType.Precommit, hash)
    const rec = recordingPorts((event) => {
      if (event.type === 'start') return [{ type: 'validateBlock', height: 5, hash, block: b }]
      if (event.type === 'blockValidated') return [{ type: 'broadcast', message: prevote, signState: signStateOf(prevote, Step.Prevote, hash) }, { type: 'broadcast', message: precommit, signState: signStateOf(precommit, Step.Precommit, hash) }]
      return []
    })
    rec.ports.chain = { ...rec.ports.chain, checkBlock: async () => undefined } as unknown as ExecutorChain
    const executor = new ActionExecutor(rec.ports)
    await executor.handle({ type: 'start' })
    const short = toHex(hash).slice(0, 8)
    assert.deepEqual(rec.log, [
      `disk: last signed block ${short}`, 'disk: sign-state h5/r0/s2', 'publish h5/r0/prevote', 'disk: own messages [h5/r0/prevote]',
      `disk: last signed block ${short}`, 'disk: sign-state h5/r0/s3', 'publish h5/r0/precommit', 'disk: own messages [h5/r0/prevote, h5/r0/precommit]'
    ])
    // the node's host hands its own messages back to its engine, in order
    assert.deepEqual(rec.engineSaw.filter((e) => e.type === 'message').map((e) => e.type === 'message' ? label(e.message) : ''), ['h5/r0/prevote', 'h5/r0/precommit'])
    assert.deepEqual(executor.ownMessages.map(label), ['h5/r0/prevote', 'h5/r0/precommit'])
  })

  void it('a relayed message (no sign-state) is published without touching the disk', async () => {
    const other = vote(5, 0, VoteType.Precommit)
    const rec = recordingPorts((event) => event.type === 'start' ? [{ type: 'broadcast', message: other }] : [])
    await new ActionExecutor(rec.ports).handle({ type: 'start' })
    assert.deepEqual(rec.log, ['publish h5/r0/precommit'])
  })

  void it('a host that went down during the publish (a simulated crash) keeps the WAL as it was and performs nothing more', async () => {
    const first = vote(5, 0, VoteType.Prevote)
    const second = vote(5, 0, VoteType.Precommit)
    let up = true
    const rec = recordingPorts((event) => event.type === 'start'
      ? [{ type: 'broadcast', message: first, signState: signStateOf(first, Step.Prevote) }, { type: 'broadcast', message: second, signState: signStateOf(second, Step.Precommit) }]
      : [], { loopback: false, publish: (m) => { up = label(m) !== 'h5/r0/precommit'; return up } })
    rec.ports.session = () => ({ event: () => up, action: () => up })
    const executor = new ActionExecutor(rec.ports)
    await executor.handle({ type: 'start' })
    assert.deepEqual(rec.log, [
      'disk: last signed block none', 'disk: sign-state h5/r0/s2', 'publish h5/r0/prevote', 'disk: own messages [h5/r0/prevote]',
      'disk: last signed block none', 'disk: sign-state h5/r0/s3', 'publish h5/r0/precommit'
    ])
    assert.deepEqual(executor.ownMessages.map(label), ['h5/r0/prevote'])
    assert.equal(rec.engineSaw.filter((e) => e.type === 'message').length, 0, 'no loopback: the simulated network delivers own messages')
  })

  void it('a block committed at or above the WAL\'s height empties it; a lower one does not', () => {
    const rec = recordingPorts(() => [])
    const executor = new ActionExecutor(rec.ports, { ownMessages: [vote(5, 0, VoteType.Prevote)] })
    executor.clearOwnMessages(4)
    assert.deepEqual(rec.log, [])
    executor.clearOwnMessages(5)
    assert.deepEqual(rec.log, ['disk: own messages []'])
    assert.deepEqual(executor.ownMessages, [])
  })
})
