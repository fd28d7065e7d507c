/**
 * A lone validator's MedchainNode performs its engine's actions with the shared executor
 * (src/node/actions.ts): when a signed message reaches the network, the sign-state on disk already
 * covers it and <home>/data/own_messages.bin does not hold it yet; right after, it does. The network
 * is a recording stub that reads the node's files at the moment of each publish.
 */
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { HomePaths } from '../../../src/node/config.js'
import { initHome } from '../../../src/node/home.js'
import { MedchainNode, type NodeNetwork } from '../../../src/node/node.js'
import { ActionExecutor } from '../../../src/node/actions.js'
import { InPlaceFile } from '../../../src/node/inPlaceFile.js'
import { OWN_MESSAGES_FILE } from '../../../src/node/validatorDisk.js'
import { SignStateFile } from '../../../src/consensus/signState.js'
import { decodeOwnMessages } from '../../../src/consensus/wal.js'
import { Step, type EngineAction } from '../../../src/consensus/types.js'
import { type ConsensusMessage, encodeConsensusMessage } from '../../../src/types/consensusMessage.js'
import { VoteType } from '../../../src/types/vote.js'
import { toHex } from '../../../src/crypto/bytes.js'

const CHEAP_SCRYPT = { n: 1024, r: 8, p: 1 }
const FAST = { proposeMs: 200, prevoteMs: 200, precommitMs: 200, deltaMs: 50, capMs: 2_000, commitMs: 10 }

/** (height, round, step) of a signed message, as one comparable number. */
function position (m: ConsensusMessage): number {
  const [height, round, step] = m.kind === 'proposal'
    ? [m.proposal.height, m.proposal.round, Step.Propose]
    : [m.vote.height, m.vote.round, m.vote.type === VoteType.Prevote ? Step.Prevote : Step.Precommit]
  return (height * 1_000_000 + round) * 4 + step
}

describe('node: the shared action executor persists around the publish', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medchain-nodeactions-'))
  let node: MedchainNode | undefined
  after(async () => {
    await node?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('the sign-state is on disk before each signed message leaves; the own-messages WAL has it only after', async () => {
    const home = join(dir, 'home')
    initHome({ home, moniker: 'st-mary', passphrase: 'pw', scrypt: CHEAP_SCRYPT })
    const signState = new SignStateFile(HomePaths.signState(home))
    const wal = new InPlaceFile(join(HomePaths.data(home), OWN_MESSAGES_FILE))
    const walHolds = (m: ConsensusMessage): boolean => {
      const body = wal.read()
      const want = toHex(encodeConsensusMessage(m))
      return body !== undefined && decodeOwnMessages(body).some((x) => toHex(encodeConsensusMessage(x)) === want)
    }
    const performed: string[] = []
    const perform = ActionExecutor.prototype.perform
    ActionExecutor.prototype.perform = async function (this: ActionExecutor, action: EngineAction, pending) {
      performed.push(action.type)
      await perform.call(this, action, pending)
    }
    const problems: string[] = []
    let published = 0
    let resolveDone: () => void = () => undefined
    const done = new Promise<void>((resolve) => { resolveDone = resolve })
    const network: NodeNetwork = {
      publishConsensus: (message) => {
        const saved = signState.load()
        if (saved === undefined || (saved.height * 1_000_000 + saved.round) * 4 + saved.step < position(message)) problems.push(`sign-state behind a message as it left: ${JSON.stringify(saved)} vs ${position(message)}`)
        if (walHolds(message)) problems.push(`the WAL held a message before it left (${position(message)})`)
        // the executor writes the WAL synchronously once the publish returned: a microtask queued
        // here runs right after that write, before anything else the node does
        queueMicrotask(() => {
          if (!walHolds(message)) problems.push(`the WAL lacked a message right after it left (${position(message)})`)
          if (++published >= 6) resolveDone()
        })
      },
      publishTxs: () => undefined,
      syncFrom: async () => 0,
      peers: () => [],
      refreshAllowlist: async () => undefined,
      stop: async () => undefined
    }
    try {
      node = await MedchainNode.start({
        home,
        logger: pino({ level: 'silent' }),
        network: async () => network,
        config: (c) => ({ ...c, rpc: { ...c.rpc, port: 0 }, consensus: { ...c.consensus, timeouts: FAST, createEmptyBlocks: true } })
      })
      await done
      await node.stop()
    } finally {
      ActionExecutor.prototype.perform = perform
    }
    assert.deepEqual(problems, [])
    assert.ok(published >= 6, `published ${published}`)
    assert.ok(performed.includes('broadcast') && performed.includes('commitBlock'), `the node performed through ActionExecutor: ${[...new Set(performed)].join(', ')}`)
  })
})
