import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { blockHash, EMPTY_COMMIT, ZERO_HASH, type Block } from '../../../src/types/block.js'
import { makeValidatorSet, proposerFor, type ValidatorSet } from '../../../src/types/validatorSet.js'
import { equalBytes, toHex } from '../../../src/crypto/bytes.js'
import type { Signer } from '../../../src/crypto/ed25519.js'
import { verifyCommit } from '../../../src/types/commit.js'
import { ConsensusEngine, MAX_FUTURE_MESSAGES_PER_VALIDATOR, MAX_ROUND_AHEAD, timeoutDelay, type EngineOptions } from '../../../src/consensus/engine.js'
import { signProposal, type ConsensusMessage, type Proposal } from '../../../src/types/consensusMessage.js'
import { DEFAULT_TIMEOUTS, Step, type EngineAction, type EngineEvent, type SignState, type TimeoutConfig } from '../../../src/consensus/types.js'
import { signVote, verifyVoteSignature, VoteType, type Vote } from '../../../src/types/vote.js'
import { bytes32, GENESIS_TIME, makeGenesis, makeKeys, TEST_CHAIN_ID } from '../../utils/factories.js'
import { ChainHarness } from '../../utils/chainHarness.js'

const CHAIN = TEST_CHAIN_ID
const HOSPITALS = ['hospital-a', 'hospital-b', 'hospital-c', 'hospital-d']

function setOf (hospitals: string[]): ValidatorSet {
  return makeValidatorSet(makeGenesis(hospitals).validators.map((v) => ({ ...v })))
}

const SET4 = setOf(HOSPITALS)
const SIGNERS4 = HOSPITALS.map((h) => makeKeys(`${h}/validator`))
/** The four validators in validator-set order (proposerFor(h, r) is VAL[(h + r) % 4]). */
const VAL: Signer[] = SET4.validators.map((v) => SIGNERS4.find((s) => equalBytes(s.publicKey, v.publicKey)) as Signer)
const SET1 = setOf(['hospital-a'])
const SOLO = makeKeys('hospital-a/validator')

function val (i: number): Signer {
  return VAL[i] as Signer
}

function proposerOf (set: ValidatorSet, signers: Signer[], height: number, round: number): Signer {
  const pk = proposerFor(set, height, round).publicKey
  return signers.find((s) => equalBytes(s.publicKey, pk)) as Signer
}

/** A block that only needs a distinct hash: validity is fed to the engine with 'blockValidated'. */
function fakeBlock (height: number, label: string, proposer: Uint8Array = val(0).publicKey): Block {
  const h = bytes32(label)
  return {
    header: {
      version: 1, chainId: CHAIN, height, timestamp: GENESIS_TIME + height * 1000, prevHash: ZERO_HASH, txRoot: h, stateRoot: h,
      resultsRoot: ZERO_HASH, validatorsHash: ZERO_HASH, nextValidatorsHash: ZERO_HASH, proposer, lastCommitHash: ZERO_HASH
    },
    txs: [],
    lastCommit: EMPTY_COMMIT
  }
}

const hashOf = (b: Block): Uint8Array => blockHash(b.header)

function vote (signer: Signer, type: VoteType, height: number, round: number, hash?: Uint8Array, chainId = CHAIN): Vote {
  return signVote({ chainId, type, height, round, ...(hash !== undefined ? { blockHash: hash } : {}), validator: signer.publicKey }, signer)
}

function proposal (signer: Signer, height: number, round: number, block: Block, polRound = -1, chainId = CHAIN): Proposal {
  return signProposal({ chainId, height, round, polRound, block, proposer: signer.publicKey }, signer)
}

const voteMsg = (v: Vote): EngineEvent => ({ type: 'message', message: { kind: 'vote', vote: v } })
const proposalMsg = (p: Proposal): EngineEvent => ({ type: 'message', message: { kind: 'proposal', proposal: p } })
const prevote = (s: Signer, h: number, r: number, hash?: Uint8Array): EngineEvent => voteMsg(vote(s, VoteType.Prevote, h, r, hash))
const precommit = (s: Signer, h: number, r: number, hash?: Uint8Array): EngineEvent => voteMsg(vote(s, VoteType.Precommit, h, r, hash))
const validated = (h: number, b: Block, valid = true): EngineEvent => ({ type: 'blockValidated', height: h, hash: hashOf(b), valid })

function ofType<T extends EngineAction['type']> (actions: EngineAction[], type: T): Array<Extract<EngineAction, { type: T }>> {
  return actions.filter((a): a is Extract<EngineAction, { type: T }> => a.type === type)
}

function votesOut (actions: EngineAction[]): Vote[] {
  return ofType(actions, 'broadcast').flatMap((a) => a.message.kind === 'vote' ? [a.message.vote] : [])
}

function proposalsOut (actions: EngineAction[]): Proposal[] {
  return ofType(actions, 'broadcast').flatMap((a) => a.message.kind === 'proposal' ? [a.message.proposal] : [])
}

function hexOf (hash: Uint8Array | undefined): string {
  return hash === undefined ? 'nil' : toHex(hash)
}

/** An engine plus a log of every action it returned. */
class Driver {
  readonly engine: ConsensusEngine
  readonly log: EngineAction[] = []
  constructor (opts: Partial<EngineOptions> = {}) {
    this.engine = new ConsensusEngine({ chainId: CHAIN, height: 1, validatorSet: SET4, ...opts })
  }

  send (...events: EngineEvent[]): EngineAction[] {
    const out: EngineAction[] = []
    for (const e of events) out.push(...this.engine.handle(e))
    this.log.push(...out)
    return out
  }

  snapshot (): unknown {
    const e = this.engine
    return { height: e.height, round: e.round, step: e.step, lockedRound: e.lockedRound, validRound: e.validRound, locked: e.lockedBlockHash, signState: e.signState }
  }
}

void describe('consensus engine', () => {
  void describe('single validator', () => {
    void it('commits alone: buildProposal → proposal → validateBlock → prevote, precommit → commitBlock with a certificate that verifies', () => {
      const d = new Driver({ signer: SOLO, validatorSet: SET1 })
      const start = d.send({ type: 'start' })
      assert.deepEqual(start, [
        { type: 'buildProposal', height: 1, round: 0 },
        { type: 'scheduleTimeout', height: 1, round: 0, step: Step.Propose, delayMs: DEFAULT_TIMEOUTS.proposeMs }
      ])
      const block = fakeBlock(1, 'solo block 1', SOLO.publicKey)
      const built = d.send({ type: 'proposalBuilt', height: 1, round: 0, block })
      assert.deepEqual(built.map((a) => a.type), ['broadcast', 'validateBlock'])
      const [p] = proposalsOut(built)
      assert.ok(p !== undefined)
      assert.equal(p.polRound, -1)
      assert.deepEqual(ofType(built, 'broadcast')[0]?.signState, { height: 1, round: 0, step: Step.Propose, blockHash: hashOf(block) })
      assert.equal(toHex(ofType(built, 'validateBlock')[0]?.hash ?? new Uint8Array()), toHex(hashOf(block)))

      const decided = d.send(validated(1, block))
      assert.deepEqual(decided.map((a) => a.type === 'scheduleTimeout' ? `timeout ${String(a.step)}` : a.type), ['broadcast', 'timeout rebroadcast', `timeout ${Step.Prevote}`, 'broadcast', 'commitBlock'])
      const [pv, pc] = votesOut(decided)
      assert.equal(pv?.type, VoteType.Prevote)
      assert.equal(pc?.type, VoteType.Precommit)
      assert.equal(hexOf(pv?.blockHash), toHex(hashOf(block)))
      assert.equal(hexOf(pc?.blockHash), toHex(hashOf(block)))
      const commit = ofType(decided, 'commitBlock')[0]
      assert.ok(commit !== undefined)
      assert.equal(commit.block, block)
      assert.equal(commit.certificate.signatures.length, 1)
      verifyCommit(CHAIN, SET1, hashOf(block), 1, commit.certificate)
      assert.deepEqual(d.engine.signState, { height: 1, round: 0, step: Step.Precommit, blockHash: hashOf(block) })

      // blockCommitted → height 2 after the commit timeout
      const next = d.send({ type: 'blockCommitted', height: 1, hash: hashOf(block), validatorSet: SET1, timestamp: block.header.timestamp })
      assert.deepEqual(next, [{ type: 'scheduleTimeout', height: 2, round: 0, step: 'commit', delayMs: DEFAULT_TIMEOUTS.commitMs }])
      assert.equal(d.engine.height, 2)
      assert.equal(d.engine.lockedRound, -1)
      assert.deepEqual(d.send({ type: 'timeout', height: 2, round: 0, step: 'commit' })[0], { type: 'buildProposal', height: 2, round: 0 })
    })

    void it('the commit pause counts from the decision: the import time reported with blockCommitted is taken off it', () => {
      for (const [since, delay] of [[0, DEFAULT_TIMEOUTS.commitMs], [240, DEFAULT_TIMEOUTS.commitMs - 240], [DEFAULT_TIMEOUTS.commitMs + 500, 0], [-5, DEFAULT_TIMEOUTS.commitMs]] as const) {
        const d = new Driver({ signer: SOLO, validatorSet: SET1 })
        d.send({ type: 'start' })
        const block = fakeBlock(1, `solo pause ${since}`, SOLO.publicKey)
        d.send({ type: 'proposalBuilt', height: 1, round: 0, block }, validated(1, block))
        assert.equal(ofType(d.log, 'commitBlock').length, 1)
        const next = d.send({ type: 'blockCommitted', height: 1, hash: hashOf(block), validatorSet: SET1, timestamp: block.header.timestamp, sinceDecidedMs: since })
        assert.deepEqual(next, [{ type: 'scheduleTimeout', height: 2, round: 0, step: 'commit', delayMs: delay }], `import took ${since} ms`)
      }
    })

    void it('an invalid own block gets a nil prevote and no commit', () => {
      const d = new Driver({ signer: SOLO, validatorSet: SET1 })
      d.send({ type: 'start' })
      const block = fakeBlock(1, 'bad solo block', SOLO.publicKey)
      d.send({ type: 'proposalBuilt', height: 1, round: 0, block })
      const out = d.send(validated(1, block, false))
      const votes = votesOut(out)
      assert.deepEqual(votes.map((v) => [v.type, hexOf(v.blockHash)]), [[VoteType.Prevote, 'nil'], [VoteType.Precommit, 'nil']])
      assert.equal(ofType(out, 'commitBlock').length, 0)
      // the precommit timeout moves to round 1, where the single validator proposes again
      const timeout = ofType(out, 'scheduleTimeout').find((a) => a.step === Step.Precommit)
      assert.ok(timeout !== undefined)
      const r1 = d.send({ type: 'timeout', height: 1, round: 0, step: Step.Precommit })
      assert.equal(d.engine.round, 1)
      assert.deepEqual(r1[0], { type: 'buildProposal', height: 1, round: 1 })
    })
  })

  void describe('with a real chain', () => {
    void it('a single validator drives a real chain three heights: built, checked, imported with its certificates', async () => {
      const harness = await ChainHarness.open({ hospitals: ['hospital-a'] })
      try {
        const chain = harness.chain
        const engine = new ConsensusEngine({ chainId: chain.chainId, signer: SOLO, height: chain.head.height + 1, validatorSet: chain.validatorSet })
        let lastCommit = EMPTY_COMMIT
        const queue: EngineEvent[] = [{ type: 'start' }]
        const committed: number[] = []
        // the node's job, done inline: perform each action, feed the answer back
        while (queue.length > 0 && committed.length < 3) {
          const event = queue.shift() as EngineEvent
          for (const action of engine.handle(event)) {
            if (action.type === 'buildProposal') {
              const { block } = await chain.buildBlock({ txs: [], timestamp: chain.head.timestamp + 1000, proposer: SOLO.publicKey, lastCommit })
              queue.push({ type: 'proposalBuilt', height: action.height, round: action.round, block })
            } else if (action.type === 'validateBlock') {
              const valid = await chain.checkBlock(action.block).then(() => true, () => false)
              queue.push({ type: 'blockValidated', height: action.height, hash: action.hash, valid })
            } else if (action.type === 'commitBlock') {
              const result = await chain.importBlock(action.block, { commit: action.certificate })
              lastCommit = action.certificate
              committed.push(result.height)
              queue.push({ type: 'blockCommitted', height: result.height, hash: result.hash, validatorSet: chain.validatorSet, timestamp: action.block.header.timestamp })
            } else if (action.type === 'scheduleTimeout' && action.step === 'commit') {
              queue.push({ type: 'timeout', height: action.height, round: action.round, step: 'commit' })
            } else if (action.type === 'rejected' || action.type === 'requestSync' || action.type === 'evidence') {
              assert.fail(`unexpected ${action.type}`)
            }
          }
        }
        assert.deepEqual(committed, [1, 2, 3])
        assert.equal(chain.head.height, 3)
        const cert = await chain.getCertificate(3)
        assert.ok(cert !== undefined)
        verifyCommit(chain.chainId, SET1, chain.head.hash, 3, cert)
      } finally {
        await harness.close()
      }
    })
  })

  void describe('four validators', () => {
    void it('happy path as the proposer: commits at round 0 with the others\' votes', () => {
      const me = proposerOf(SET4, VAL, 1, 0)
      const others = VAL.filter((s) => s !== me)
      const d = new Driver({ signer: me })
      assert.equal(ofType(d.send({ type: 'start' }), 'buildProposal').length, 1)
      const block = fakeBlock(1, 'block A', me.publicKey)
      d.send({ type: 'proposalBuilt', height: 1, round: 0, block }, validated(1, block))
      assert.equal(d.engine.step, Step.Prevote)
      const h = hashOf(block)
      assert.deepEqual(d.send(prevote(others[0] as Signer, 1, 0, h)), [])
      const polka = d.send(prevote(others[1] as Signer, 1, 0, h))
      assert.deepEqual(votesOut(polka).map((v) => [v.type, hexOf(v.blockHash)]), [[VoteType.Precommit, toHex(h)]])
      assert.equal(d.engine.lockedRound, 0)
      assert.equal(d.engine.validRound, 0)
      d.send(prevote(others[2] as Signer, 1, 0, h))
      assert.deepEqual(d.send(precommit(others[0] as Signer, 1, 0, h)), [])
      const done = d.send(precommit(others[1] as Signer, 1, 0, h))
      const commit = ofType(done, 'commitBlock')
      assert.equal(commit.length, 1)
      assert.equal(commit[0]?.certificate.round, 0)
      assert.equal(commit[0]?.certificate.signatures.length, 3)
      verifyCommit(CHAIN, SET4, h, 1, commit[0]?.certificate as NonNullable<typeof commit[0]>['certificate'])
      // later precommits change nothing: decided, waiting for blockCommitted
      assert.deepEqual(d.send(precommit(others[2] as Signer, 1, 0, h)), [])
    })

    void it('happy path as a non-proposer, and a full node (no signer) decides too without signing', () => {
      const proposer = proposerOf(SET4, VAL, 1, 0)
      const me = VAL.find((s) => s !== proposer) as Signer
      const others = VAL.filter((s) => s !== me)
      const block = fakeBlock(1, 'block A', proposer.publicKey)
      const h = hashOf(block)
      for (const signer of [me, undefined]) {
        const d = new Driver(signer !== undefined ? { signer } : {})
        d.send({ type: 'start' })
        const got = d.send(proposalMsg(proposal(proposer, 1, 0, block)))
        assert.deepEqual(got.map((a) => a.type), ['validateBlock'])
        d.send(validated(1, block))
        for (const s of others) d.send(prevote(s, 1, 0, h))
        for (const s of others) d.send(precommit(s, 1, 0, h))
        assert.equal(ofType(d.log, 'commitBlock').length, 1)
        assert.equal(votesOut(d.log).length, signer === undefined ? 0 : 2)
      }
    })

    void it('locks on a polka, prevotes nil for another block, unlocks on a newer polka (polRound) and relocks', () => {
      // me = VAL[0]; proposers at height 1: round 0 → VAL[1], round 1 → VAL[2], round 2 → VAL[3]
      const me = val(0)
      const d = new Driver({ signer: me })
      d.send({ type: 'start' })
      const A = fakeBlock(1, 'block A')
      const B = fakeBlock(1, 'block B')
      const a = hashOf(A)
      const b = hashOf(B)

      // round 0: polka for A → locked on A
      d.send(proposalMsg(proposal(val(1), 1, 0, A)), validated(1, A))
      assert.equal(hexOf(votesOut(d.log).at(-1)?.blockHash), toHex(a))
      const lock = d.send(prevote(val(1), 1, 0, a), prevote(val(2), 1, 0, a))
      assert.deepEqual(votesOut(lock).map((v) => [v.type, v.round, hexOf(v.blockHash)]), [[VoteType.Precommit, 0, toHex(a)]])
      assert.equal(d.engine.lockedRound, 0)
      assert.equal(d.engine.lockedBlockHash, toHex(a))
      // no decision: the others precommit nil → timeout precommit → round 1
      const pcs = d.send(precommit(val(2), 1, 0), precommit(val(3), 1, 0))
      assert.deepEqual(ofType(pcs, 'scheduleTimeout').map((t) => t.step), [Step.Precommit])
      d.send({ type: 'timeout', height: 1, round: 0, step: Step.Precommit })
      assert.equal(d.engine.round, 1)

      // round 1: proposal of B without a newer polka → prevote nil (locked on A)
      const r1 = d.send(proposalMsg(proposal(val(2), 1, 1, B)), validated(1, B))
      assert.deepEqual(votesOut(r1).map((v) => [v.type, v.round, hexOf(v.blockHash)]), [[VoteType.Prevote, 1, 'nil']])
      assert.equal(d.engine.lockedRound, 0)

      // f+1 messages of round 2 (the round 2 proposal of B with polRound 1, and a prevote) → skip to round 2
      d.send(proposalMsg(proposal(val(3), 1, 2, B, 1)))
      assert.equal(d.engine.round, 1)
      const skip = d.send(prevote(val(1), 1, 2, b))
      assert.equal(d.engine.round, 2)
      assert.equal(votesOut(skip).length, 0, 'no prevote before the polka of round 1 is seen')

      // the polka of round 1 for B arrives (late): round 1 > lockedRound 0 → prevote B in round 2
      d.send(prevote(val(1), 1, 1, b), prevote(val(2), 1, 1, b))
      const unlock = d.send(prevote(val(3), 1, 1, b))
      assert.deepEqual(votesOut(unlock).map((v) => [v.type, v.round, hexOf(v.blockHash)]), [[VoteType.Prevote, 2, toHex(b)]])

      // a polka for B in round 2 → relock on B at round 2 and precommit B
      const relock = d.send(prevote(val(2), 1, 2, b))
      assert.deepEqual(votesOut(relock).map((v) => [v.type, v.round, hexOf(v.blockHash)]), [[VoteType.Precommit, 2, toHex(b)]])
      assert.equal(d.engine.lockedRound, 2)
      assert.equal(d.engine.lockedBlockHash, toHex(b))
      assert.equal(d.engine.validRound, 2)
    })

    void it('an invalid block is never locked nor precommitted, even with a polka of the others', () => {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' })
      const A = fakeBlock(1, 'invalid block A')
      const a = hashOf(A)
      const out = d.send(proposalMsg(proposal(val(1), 1, 0, A)), validated(1, A, false))
      assert.deepEqual(votesOut(out).map((v) => [v.type, hexOf(v.blockHash)]), [[VoteType.Prevote, 'nil']])
      const polka = d.send(prevote(val(1), 1, 0, a), prevote(val(2), 1, 0, a), prevote(val(3), 1, 0, a))
      assert.equal(votesOut(polka).length, 0)
      assert.equal(d.engine.lockedRound, -1)
      assert.equal(d.engine.validRound, -1)
      // 2f+1 precommits for it do not make us commit it either
      const pcs = d.send(precommit(val(1), 1, 0, a), precommit(val(2), 1, 0, a), precommit(val(3), 1, 0, a))
      assert.equal(ofType(pcs, 'commitBlock').length, 0)
    })

    void it('decides only once the block validated, however early the precommits arrive', () => {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' })
      const A = fakeBlock(1, 'block A')
      const a = hashOf(A)
      d.send(proposalMsg(proposal(val(1), 1, 0, A)))
      const early = d.send(precommit(val(1), 1, 0, a), precommit(val(2), 1, 0, a), precommit(val(3), 1, 0, a))
      assert.equal(ofType(early, 'commitBlock').length, 0)
      assert.equal(ofType(early, 'requestSync').length, 0, 'we hold the block: no sync needed')
      const out = d.send(validated(1, A))
      const commit = ofType(out, 'commitBlock')
      assert.equal(commit.length, 1)
      assert.equal(votesOut(out).length, 0, 'decided before prevoting: nothing more to sign at this height')
      verifyCommit(CHAIN, SET4, a, 1, commit[0]?.certificate as NonNullable<typeof commit[0]>['certificate'])
    })

    void it('a locked proposer re-proposes its valid block with polRound = validRound', () => {
      // me = VAL[0] is the proposer of (1, 3)
      const me = val(0)
      const d = new Driver({ signer: me })
      d.send({ type: 'start' })
      const A = fakeBlock(1, 'block A')
      const a = hashOf(A)
      d.send(proposalMsg(proposal(val(1), 1, 0, A)), validated(1, A), prevote(val(1), 1, 0, a), prevote(val(2), 1, 0, a))
      assert.equal(d.engine.validRound, 0)
      // jump to round 3 on f+1 round-3 messages
      const out = d.send(prevote(val(1), 1, 3), prevote(val(2), 1, 3))
      assert.equal(d.engine.round, 3)
      const [p] = proposalsOut(out)
      assert.ok(p !== undefined)
      assert.equal(p.round, 3)
      assert.equal(p.polRound, 0)
      assert.equal(toHex(hashOf(p.block)), toHex(a))
      assert.equal(ofType(out, 'buildProposal').length, 0)
      // its own proposal with the polka of round 0 → prevote A (validity cached, no new validateBlock)
      assert.equal(ofType(out, 'validateBlock').length, 0)
      assert.deepEqual(votesOut(out).map((v) => [v.type, v.round, hexOf(v.blockHash)]), [[VoteType.Prevote, 3, toHex(a)]])
    })

    void it('precommits nil on 2f+1 nil prevotes and prevotes nil on timeout propose', () => {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' })
      const t = d.send({ type: 'timeout', height: 1, round: 0, step: Step.Propose })
      assert.deepEqual(votesOut(t).map((v) => [v.type, hexOf(v.blockHash)]), [[VoteType.Prevote, 'nil']])
      d.send(prevote(val(1), 1, 0))
      const out = d.send(prevote(val(2), 1, 0))
      assert.deepEqual(out.map((a) => a.type), ['scheduleTimeout', 'broadcast'])
      assert.deepEqual(votesOut(out).map((v) => [v.type, hexOf(v.blockHash)]), [[VoteType.Precommit, 'nil']])
      assert.equal(d.engine.step, Step.Precommit)
    })

    void it('timeout prevote after 2f+1 mixed prevotes precommits nil', () => {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' }, { type: 'timeout', height: 1, round: 0, step: Step.Propose })
      const out = d.send(prevote(val(1), 1, 0, bytes32('x')), prevote(val(2), 1, 0, bytes32('y')))
      const t = ofType(out, 'scheduleTimeout')
      assert.deepEqual(t, [{ type: 'scheduleTimeout', height: 1, round: 0, step: Step.Prevote, delayMs: DEFAULT_TIMEOUTS.prevoteMs }])
      assert.equal(votesOut(out).length, 0)
      const fired = d.send({ type: 'timeout', height: 1, round: 0, step: Step.Prevote })
      assert.deepEqual(votesOut(fired).map((v) => [v.type, hexOf(v.blockHash)]), [[VoteType.Precommit, 'nil']])
    })
  })

  void describe('timeouts', () => {
    void it('grow per round and are capped', () => {
      for (const [round, propose, prevote, precommit] of [[0, 1000, 500, 500], [1, 1500, 1000, 1000], [5, 3500, 3000, 3000], [100, 10_000, 10_000, 10_000]] as const) {
        assert.equal(timeoutDelay(DEFAULT_TIMEOUTS, Step.Propose, round), propose)
        assert.equal(timeoutDelay(DEFAULT_TIMEOUTS, Step.Prevote, round), prevote)
        assert.equal(timeoutDelay(DEFAULT_TIMEOUTS, Step.Precommit, round), precommit)
      }
      const config: TimeoutConfig = { proposeMs: 100, prevoteMs: 50, precommitMs: 60, deltaMs: 10, capMs: 120, commitMs: 7 }
      assert.deepEqual([0, 1, 2, 3, 1000].map((r) => timeoutDelay(config, Step.Propose, r)), [100, 110, 120, 120, 120])
    })

    void it('the engine schedules min(cap, base + round × delta) in rounds 0, 1, 5 and 100', () => {
      const config: TimeoutConfig = { proposeMs: 1000, prevoteMs: 500, precommitMs: 500, deltaMs: 500, capMs: 10_000, commitMs: 1000 }
      const d = new Driver({ signer: val(0), timeouts: config })
      const delays: Array<[number, number]> = []
      const record = (out: EngineAction[]): void => {
        for (const t of ofType(out, 'scheduleTimeout')) if (t.step === Step.Propose) delays.push([t.round, t.delayMs])
      }
      record(d.send({ type: 'start' }))
      record(d.send({ type: 'timeout', height: 1, round: 0, step: Step.Propose }, prevote(val(1), 1, 0), prevote(val(2), 1, 0)))
      record(d.send(precommit(val(1), 1, 0), precommit(val(2), 1, 0), { type: 'timeout', height: 1, round: 0, step: Step.Precommit }))
      record(d.send(prevote(val(1), 1, 5), prevote(val(2), 1, 5)))
      record(d.send(prevote(val(1), 1, 100), prevote(val(2), 1, 100)))
      assert.deepEqual(delays, [[0, 1000], [1, 1500], [5, 3500], [100, 10_000]])
    })

    void it('a stalled round re-sends our own messages of that round on its rebroadcast timer, and nothing else changes', () => {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' })
      const t = d.send({ type: 'timeout', height: 1, round: 0, step: Step.Propose })
      const [pv] = votesOut(t)
      assert.ok(pv !== undefined)
      assert.deepEqual(ofType(t, 'scheduleTimeout'), [{ type: 'scheduleTimeout', height: 1, round: 0, step: 'rebroadcast', delayMs: DEFAULT_TIMEOUTS.prevoteMs }])
      const before = d.snapshot()
      // only one other prevote: no 2f+1, no Algorithm-1 timer; the rebroadcast timer keeps the round alive
      d.send(prevote(val(1), 1, 0))
      const again = d.send({ type: 'timeout', height: 1, round: 0, step: 'rebroadcast' })
      assert.deepEqual(again, [
        { type: 'broadcast', message: { kind: 'vote', vote: pv } },
        { type: 'scheduleTimeout', height: 1, round: 0, step: 'rebroadcast', delayMs: DEFAULT_TIMEOUTS.prevoteMs }
      ])
      assert.deepEqual(d.snapshot(), before)
      // in precommit, both votes of the round are re-sent with the precommit delay
      const pc = d.send(prevote(val(2), 1, 0))
      assert.equal(votesOut(pc).length, 1)
      const third = d.send({ type: 'timeout', height: 1, round: 0, step: 'rebroadcast' })
      assert.deepEqual(votesOut(third).map((v) => v.type), [VoteType.Prevote, VoteType.Precommit])
      assert.ok(ofType(third, 'broadcast').every((b) => b.signState === undefined), 'nothing new is signed')
      // after the round changed, the old round's timer is stale
      d.send(prevote(val(1), 1, 4, bytes32('z')), prevote(val(2), 1, 4, bytes32('z')))
      assert.equal(d.engine.round, 4)
      assert.deepEqual(d.send({ type: 'timeout', height: 1, round: 0, step: 'rebroadcast' }), [])
      // a full node has nothing to re-send and runs no such timer
      const full = new Driver()
      full.send({ type: 'start' })
      assert.equal(ofType(full.send({ type: 'timeout', height: 1, round: 0, step: Step.Propose }), 'scheduleTimeout').length, 0)
    })

    void it('stale timeouts (other height, round or step) are ignored', () => {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' }, prevote(val(1), 1, 2, bytes32('z')), prevote(val(2), 1, 2, bytes32('z')))
      assert.equal(d.engine.round, 2)
      const before = d.snapshot()
      for (const t of [
        { type: 'timeout', height: 1, round: 0, step: Step.Propose },
        { type: 'timeout', height: 1, round: 1, step: Step.Precommit },
        { type: 'timeout', height: 2, round: 2, step: Step.Propose },
        { type: 'timeout', height: 1, round: 2, step: Step.Prevote },
        { type: 'timeout', height: 1, round: 2, step: 'commit' }
      ] as EngineEvent[]) {
        assert.deepEqual(d.send(t), [], JSON.stringify(t))
      }
      assert.deepEqual(d.snapshot(), before)
      // the live one works
      assert.equal(votesOut(d.send({ type: 'timeout', height: 1, round: 2, step: Step.Propose })).length, 1)
    })
  })

  void describe('round skip, other heights and sync', () => {
    void it('skips to a higher round on f+1 power of its messages, not on f', () => {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' })
      assert.deepEqual(d.send(precommit(val(1), 1, 3)), [])
      assert.equal(d.engine.round, 0)
      const out = d.send(prevote(val(2), 1, 3))
      assert.equal(d.engine.round, 3)
      assert.equal(d.engine.step, Step.Propose)
      assert.deepEqual(ofType(out, 'scheduleTimeout'), [{ type: 'scheduleTimeout', height: 1, round: 3, step: Step.Propose, delayMs: timeoutDelay(DEFAULT_TIMEOUTS, Step.Propose, 3) }])
    })

    void it('requests sync once when more than 1/3 of the power is at higher heights', () => {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' })
      assert.deepEqual(d.send(prevote(val(1), 7, 0)), [])
      assert.deepEqual(d.send(prevote(val(1), 9, 0)), [], 'the same validator again does not add power')
      assert.deepEqual(d.send(precommit(val(2), 5, 0)), [{ type: 'requestSync', fromHeight: 1 }])
      assert.deepEqual(d.send(prevote(val(3), 5, 0)), [], 'once per height')
      assert.equal(d.engine.height, 1)
      assert.equal(d.engine.round, 0)
    })

    void it('requests sync once when one validator (< 1/3 of the power) has been seen ahead for about one timeout cap', () => {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' }, { type: 'timeout', height: 1, round: 0, step: Step.Propose })
      const tick = (): EngineAction[] => ofType(d.send({ type: 'timeout', height: 1, round: 0, step: 'rebroadcast' }), 'requestSync')
      // nobody ahead: the timers alone never ask for sync
      for (let i = 0; i < 40; i++) assert.deepEqual(tick(), [])
      assert.deepEqual(d.send(prevote(val(3), 2, 0)), [], 'one validator ahead is not enough at once')
      const every = timeoutDelay(DEFAULT_TIMEOUTS, Step.Prevote, 0)
      const ticks = 1 + Math.ceil(DEFAULT_TIMEOUTS.capMs / every) // the first one after the sighting does not count
      for (let i = 1; i < ticks; i++) assert.deepEqual(tick(), [], `tick ${i}`)
      assert.deepEqual(tick(), [{ type: 'requestSync', fromHeight: 1 }])
      assert.deepEqual(tick(), [], 'once per height')
      // a new height starts the count again from nothing
      d.send({ type: 'blockCommitted', height: 1, hash: bytes32('synced'), validatorSet: SET4, timestamp: GENESIS_TIME })
      for (let i = 0; i < 40; i++) assert.deepEqual(ofType(d.send({ type: 'timeout', height: 2, round: 0, step: Step.Propose }), 'requestSync'), [])
    })

    void it('requests sync on 2f+1 precommits for a block it never received', () => {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' })
      const x = bytes32('unseen block')
      d.send(precommit(val(1), 1, 0, x), precommit(val(2), 1, 0, x))
      const out = d.send(precommit(val(3), 1, 0, x))
      assert.deepEqual(ofType(out, 'requestSync'), [{ type: 'requestSync', fromHeight: 1 }])
      assert.equal(ofType(out, 'commitBlock').length, 0)
      assert.deepEqual(ofType(d.send(precommit(val(0), 1, 0, x)), 'requestSync'), [], 'once for this reason')
      // that request may have come too early; once f+1 power shows up at later heights, one more
      assert.deepEqual(d.send(prevote(val(1), 2, 0), prevote(val(2), 2, 0)), [{ type: 'requestSync', fromHeight: 1 }])
      assert.deepEqual(d.send(prevote(val(3), 2, 0)), [])
      // block sync imports it: move on from any step
      const moved = d.send({ type: 'blockCommitted', height: 1, hash: x, validatorSet: SET4, timestamp: GENESIS_TIME })
      assert.deepEqual(moved, [{ type: 'scheduleTimeout', height: 2, round: 0, step: 'commit', delayMs: DEFAULT_TIMEOUTS.commitMs }])
      assert.equal(d.engine.height, 2)
    })

    void it('buffers messages for height + 1 and replays them when it gets there; old heights are ignored', () => {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' })
      const B2 = fakeBlock(2, 'block at height 2')
      const p2 = proposal(proposerOf(SET4, VAL, 2, 0), 2, 0, B2)
      assert.deepEqual(d.send(proposalMsg(p2)), [])
      const moved = d.send({ type: 'blockCommitted', height: 1, hash: bytes32('h1'), validatorSet: SET4, timestamp: GENESIS_TIME })
      assert.deepEqual(moved.map((a) => a.type), ['scheduleTimeout', 'validateBlock'])
      assert.deepEqual(d.send(prevote(val(1), 1, 0, bytes32('old'))), [], 'stale height: silently ignored')
      // the round starts after the commit timeout and uses the buffered proposal
      d.send({ type: 'timeout', height: 2, round: 0, step: 'commit' })
      const out = d.send(validated(2, B2))
      assert.deepEqual(votesOut(out).map((v) => [v.height, v.type, hexOf(v.blockHash)]), [[2, VoteType.Prevote, toHex(hashOf(B2))]])
    })
  })

  void describe('next-height buffer bound', () => {
    void it('keeps at most MAX_FUTURE_MESSAGES_PER_VALIDATOR messages of one validator for height + 1', () => {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' })
      for (let round = 0; round < MAX_FUTURE_MESSAGES_PER_VALIDATOR + 6; round++) d.send(prevote(val(1), 2, round, bytes32('h2')))
      const last = MAX_FUTURE_MESSAGES_PER_VALIDATOR + 2
      const early = 5
      d.send(prevote(val(2), 2, last), prevote(val(2), 2, early))
      d.send({ type: 'blockCommitted', height: 1, hash: bytes32('h1'), validatorSet: SET4, timestamp: GENESIS_TIME })
      d.send({ type: 'timeout', height: 2, round: 0, step: 'commit' })
      // val(1)'s vote of round `last` was beyond its share and dropped: only round `early` has f+1 senders
      assert.equal(d.engine.round, early)
    })
  })

  void describe('equivocation', () => {
    void it('two different votes of one validator for the same (height, round, type) give exactly one evidence', () => {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' })
      const Y = fakeBlock(1, 'block Y')
      const y = hashOf(Y)
      d.send(proposalMsg(proposal(val(1), 1, 0, Y)), validated(1, Y)) // we prevote y
      const first = vote(val(1), VoteType.Prevote, 1, 0, bytes32('x'))
      const second = vote(val(1), VoteType.Prevote, 1, 0, y)
      assert.deepEqual(d.send(voteMsg(first)), [])
      const ev = d.send(voteMsg(second))
      assert.equal(ev.length, 1)
      const e = ofType(ev, 'evidence')[0]
      assert.ok(e !== undefined)
      assert.equal(e.voteA, first)
      assert.equal(e.voteB, second)
      for (const v of [e.voteA, e.voteB]) assert.equal(verifyVoteSignature(v), true)
      assert.equal(toHex(e.voteA.validator), toHex(e.voteB.validator))
      assert.deepEqual([e.voteA.height, e.voteA.round, e.voteA.type], [e.voteB.height, e.voteB.round, e.voteB.type])
      assert.notEqual(hexOf(e.voteA.blockHash), hexOf(e.voteB.blockHash))
      // a third conflicting vote (nil) and a replay of the second give nothing more
      assert.deepEqual(d.send(prevote(val(1), 1, 0)), [])
      assert.deepEqual(d.send(voteMsg(second)), [])
      // a precommit is another type: a single one is no evidence
      assert.deepEqual(d.send(precommit(val(1), 1, 0, y)), [])
    })

    void it('an equivocator counts once for "any" (timeouts, round skip) but for each value it signed (polkas)', () => {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' })
      const Y = fakeBlock(1, 'block Y')
      const y = hashOf(Y)
      d.send(proposalMsg(proposal(val(1), 1, 0, Y)), validated(1, Y)) // we prevote y
      // val(2) shows x to us first, then y (what it showed the others)
      const a = d.send(prevote(val(2), 1, 0, bytes32('x')))
      const b = d.send(prevote(val(2), 1, 0, y))
      assert.deepEqual(ofType([...a, ...b], 'scheduleTimeout'), [], 'two votes of val(2) + ours are 2 validators, not 2f+1 "any"')
      assert.equal(ofType(b, 'evidence').length, 1)
      // y: ours + val(2) + val(3) = 3 → a polka, although val(2) showed us x first
      const polka = d.send(prevote(val(3), 1, 0, y))
      assert.deepEqual(votesOut(polka).map((v) => [v.type, hexOf(v.blockHash)]), [[VoteType.Precommit, toHex(y)]])
      // round skip: an equivocator's two votes of round 5 are one sender (f+1 = 2 needed)
      d.send(prevote(val(3), 1, 5, bytes32('p')), prevote(val(3), 1, 5, bytes32('q')))
      assert.equal(d.engine.round, 0)
      // random values of an equivocator are not stored: they never help a quorum
      const r = new Driver({ signer: val(0) })
      r.send({ type: 'start' })
      const junk = bytes32('junk')
      r.send(prevote(val(1), 1, 0), prevote(val(1), 1, 0, junk), prevote(val(2), 1, 0), prevote(val(2), 1, 0, junk))
      r.send(precommit(val(1), 1, 0), precommit(val(1), 1, 0, junk), precommit(val(2), 1, 0), precommit(val(2), 1, 0, junk), precommit(val(3), 1, 0, junk))
      assert.equal(ofType(r.log, 'requestSync').length, 0, 'no 2f+1 precommits for "junk" were counted')
    })
  })

  void describe('crash-safe signing', () => {
    const X = fakeBlock(1, 'block X')
    const Y = fakeBlock(1, 'block Y')
    const x = hashOf(X)
    const y = hashOf(Y)

    function everySignedAfter (actions: EngineAction[], last: SignState): void {
      for (const b of ofType(actions, 'broadcast')) {
        const s = b.signState
        assert.ok(s !== undefined, 'every signed broadcast carries its sign-state')
        const msg = b.message
        const at = msg.kind === 'vote'
          ? { height: msg.vote.height, round: msg.vote.round, step: msg.vote.type === VoteType.Prevote ? Step.Prevote : Step.Precommit, hash: msg.vote.blockHash }
          : { height: msg.proposal.height, round: msg.proposal.round, step: Step.Propose, hash: hashOf(msg.proposal.block) }
        assert.deepEqual([s.height, s.round, s.step, hexOf(s.blockHash)], [at.height, at.round, at.step, hexOf(at.hash)])
        const order = at.height - last.height || at.round - last.round || at.step - last.step
        assert.ok(order > 0 || (order === 0 && hexOf(at.hash) === hexOf(last.blockHash)), `signed ${JSON.stringify([at.height, at.round, at.step, hexOf(at.hash)])} after ${JSON.stringify([last.height, last.round, last.step, hexOf(last.blockHash)])}`)
      }
    }

    void it('after a restart with a precommit for X at (1, 2) it never signs another hash at (1, 2) nor anything at rounds < 2', () => {
      // me = VAL[0]; proposer of round 2 is VAL[3], of round 3 is me
      const signState: SignState = { height: 1, round: 2, step: Step.Precommit, blockHash: x }
      const d = new Driver({ signer: val(0), signState })
      assert.equal(d.engine.lockedRound, 2, 'the precommit locked us on X')
      const start = d.send({ type: 'start' })
      // resumes at (1, 2, precommit) and re-broadcasts the identical precommit
      assert.equal(d.engine.round, 2)
      assert.equal(d.engine.step, Step.Precommit)
      assert.deepEqual(votesOut(start).map((v) => [v.round, v.type, hexOf(v.blockHash)]), [[2, VoteType.Precommit, toHex(x)]])
      // peers push for Y in rounds 0..2
      d.send(proposalMsg(proposal(val(1), 1, 0, Y)), validated(1, Y))
      d.send(prevote(val(1), 1, 0, y), prevote(val(2), 1, 0, y), prevote(val(3), 1, 0, y))
      d.send(proposalMsg(proposal(val(3), 1, 2, Y)), prevote(val(1), 1, 2, y), prevote(val(2), 1, 2, y), prevote(val(3), 1, 2, y))
      d.send(precommit(val(1), 1, 2, y), precommit(val(2), 1, 2))
      d.send({ type: 'timeout', height: 1, round: 2, step: Step.Prevote }, { type: 'timeout', height: 1, round: 2, step: Step.Propose })
      everySignedAfter(d.log, signState)
      assert.equal(votesOut(d.log).filter((v) => v.round === 2 && v.type === VoteType.Precommit && hexOf(v.blockHash) !== toHex(x)).length, 0)
      // round 3 (we propose): we re-propose Y, the valid block of round 2, with polRound 2, and prevote it:
      // the polka of round 2 is not older than our lock (round 2). Both are after the sign-state.
      const r3 = d.send({ type: 'timeout', height: 1, round: 2, step: Step.Precommit })
      assert.equal(d.engine.round, 3)
      assert.deepEqual(proposalsOut(r3).map((p) => [p.round, p.polRound, toHex(hashOf(p.block))]), [[3, 2, toHex(y)]])
      assert.deepEqual(votesOut(r3).map((v) => [v.round, v.type, hexOf(v.blockHash)]), [[3, VoteType.Prevote, toHex(y)]])
      everySignedAfter(d.log, signState)
      assert.ok(votesOut(d.log).every((v) => v.round >= 2))
    })

    void it('at the same (height, round, step) it re-signs only the same block: a different proposal is not signed', () => {
      // we proposed X at (1, 3) (me = VAL[0] is the proposer of round 3), then crashed
      const signState: SignState = { height: 1, round: 3, step: Step.Propose, blockHash: x }
      const d = new Driver({ signer: val(0), signState })
      const start = d.send({ type: 'start' })
      assert.equal(d.engine.round, 3)
      assert.deepEqual(ofType(start, 'buildProposal'), [{ type: 'buildProposal', height: 1, round: 3 }])
      const other = d.send({ type: 'proposalBuilt', height: 1, round: 3, block: Y })
      assert.deepEqual(other, [], 'a different block at the same (h, r, propose) is refused')
      assert.deepEqual(d.engine.signState, signState)
      // the identical proposal may be re-signed (same bytes)
      const d2 = new Driver({ signer: val(0), signState })
      d2.send({ type: 'start' })
      const same = d2.send({ type: 'proposalBuilt', height: 1, round: 3, block: X })
      assert.equal(proposalsOut(same).length, 1)
      // a prevote at the next step is fine
      const t = d.send({ type: 'timeout', height: 1, round: 3, step: Step.Propose })
      assert.deepEqual(votesOut(t).map((v) => [v.round, v.type, hexOf(v.blockHash)]), [[3, VoteType.Prevote, 'nil']])
    })

    void it('with signState.height > height it signs nothing until blockCommitted reaches that height, but still follows consensus', () => {
      const signState: SignState = { height: 3, round: 0, step: Step.Precommit, blockHash: bytes32('block 3') }
      const d = new Driver({ signer: val(0), signState })
      const start = d.send({ type: 'start' })
      assert.deepEqual(ofType(start, 'requestSync'), [{ type: 'requestSync', fromHeight: 1 }])
      assert.equal(d.engine.signingPausedUntil, 3)
      // height 1: me = VAL[0] is not the proposer; a full round with the others decides without my votes
      const A = fakeBlock(1, 'block A')
      const a = hashOf(A)
      d.send(proposalMsg(proposal(val(1), 1, 0, A)), validated(1, A))
      for (const s of [val(1), val(2), val(3)]) d.send(prevote(s, 1, 0, a))
      for (const s of [val(1), val(2), val(3)]) d.send(precommit(s, 1, 0, a))
      assert.equal(ofType(d.log, 'commitBlock').length, 1)
      d.send({ type: 'blockCommitted', height: 1, hash: a, validatorSet: SET4, timestamp: GENESIS_TIME })
      // height 2: the proposer of (2, 0) is VAL[2], of (2, 2) me: still nothing signed, no block built
      d.send({ type: 'timeout', height: 2, round: 0, step: 'commit' }, { type: 'timeout', height: 2, round: 0, step: Step.Propose })
      d.send(prevote(val(1), 2, 2), prevote(val(2), 2, 2))
      assert.equal(d.engine.round, 2)
      assert.equal(ofType(d.log, 'broadcast').length, 0)
      assert.equal(ofType(d.log, 'buildProposal').length, 0)
      d.send({ type: 'blockCommitted', height: 2, hash: bytes32('b2'), validatorSet: SET4, timestamp: GENESIS_TIME })
      assert.equal(ofType(d.log, 'broadcast').length, 0)
      // height 3 = signState.height: signing resumes, starting with the identical precommit
      assert.equal(d.engine.signingPausedUntil, undefined)
      const resumed = d.send({ type: 'timeout', height: 3, round: 0, step: 'commit' })
      assert.deepEqual(ofType(resumed, 'broadcast').map((b) => b.signState), [signState])
      everySignedAfter(d.log, signState)
    })

    void it('a restarted single validator with the block it precommitted decides it', () => {
      const block = fakeBlock(1, 'solo X', SOLO.publicKey)
      const signState: SignState = { height: 1, round: 0, step: Step.Precommit, blockHash: hashOf(block) }
      const d = new Driver({ signer: SOLO, validatorSet: SET1, signState, lastSignedBlock: block })
      const start = d.send({ type: 'start' })
      assert.deepEqual(start.map((a) => a.type === 'scheduleTimeout' ? `timeout ${String(a.step)}` : a.type), ['validateBlock', 'broadcast', 'timeout rebroadcast', `timeout ${Step.Precommit}`])
      assert.equal(ofType(start, 'commitBlock').length, 0, 'not before the block is validated again')
      const out = d.send(validated(1, block))
      const commit = ofType(out, 'commitBlock')[0]
      assert.ok(commit !== undefined)
      verifyCommit(CHAIN, SET1, hashOf(block), 1, commit.certificate)
    })
  })

  void describe('bad input', () => {
    const A = fakeBlock(1, 'block A')
    const stranger = makeKeys('not a validator')
    const flip = (sig: Uint8Array): Uint8Array => {
      const out = new Uint8Array(sig)
      out[5] = (out[5] as number) ^ 1
      return out
    }
    const good = proposal(val(1), 1, 0, A)
    const cases: Array<[string, EngineEvent, string]> = [
      ['vote: wrong chain id', voteMsg(vote(val(1), VoteType.Prevote, 1, 0, hashOf(A), 'other-chain')), 'MSG_WRONG_CHAIN'],
      ['vote: signer not in the set', voteMsg(vote(stranger, VoteType.Prevote, 1, 0, hashOf(A))), 'MSG_NOT_VALIDATOR'],
      ['vote: bad signature', voteMsg({ ...vote(val(1), VoteType.Prevote, 1, 0, hashOf(A)), signature: flip(vote(val(1), VoteType.Prevote, 1, 0, hashOf(A)).signature) }), 'MSG_BAD_SIGNATURE'],
      ['vote: far-future round', voteMsg(vote(val(1), VoteType.Prevote, 1, MAX_ROUND_AHEAD + 1, hashOf(A))), 'MSG_BAD_ROUND'],
      ['vote: 31-byte block hash', voteMsg({ ...vote(val(1), VoteType.Prevote, 1, 0, hashOf(A)), blockHash: new Uint8Array(31) }), 'MSG_MALFORMED'],
      ['vote at a future height: bad signature', voteMsg({ ...vote(val(1), VoteType.Prevote, 2, 0), signature: flip(vote(val(1), VoteType.Prevote, 2, 0).signature) }), 'MSG_BAD_SIGNATURE'],
      ['proposal: wrong chain id', proposalMsg(proposal(val(1), 1, 0, A, -1, 'other-chain')), 'MSG_WRONG_CHAIN'],
      ['proposal: not from the round\'s proposer', proposalMsg(proposal(val(2), 1, 0, A)), 'MSG_NOT_PROPOSER'],
      ['proposal: proposer not in the set', proposalMsg(proposal(stranger, 1, 0, A)), 'MSG_NOT_VALIDATOR'],
      ['proposal: bad signature', proposalMsg({ ...good, signature: flip(good.signature) }), 'MSG_BAD_SIGNATURE'],
      ['proposal: polRound = round', proposalMsg(proposal(val(2), 1, 1, A, 1)), 'MSG_BAD_POL_ROUND'],
      ['proposal: polRound > round', proposalMsg(proposal(val(2), 1, 1, A, 5)), 'MSG_BAD_POL_ROUND'],
      ['proposal: polRound < -1', proposalMsg(proposal(val(1), 1, 0, A, -2)), 'MSG_BAD_POL_ROUND'],
      ['proposal: block height ≠ proposal height', proposalMsg(proposal(val(1), 1, 0, fakeBlock(2, 'block A'))), 'MSG_BAD_BLOCK'],
      ['proposal: far-future round', proposalMsg(proposal(proposerOf(SET4, VAL, 1, MAX_ROUND_AHEAD + 3), 1, MAX_ROUND_AHEAD + 3, A)), 'MSG_BAD_ROUND'],
      ['proposal: block signed for another block', proposalMsg({ ...good, block: fakeBlock(1, 'block B') }), 'MSG_BAD_SIGNATURE'],
      ['vote without height or round', { type: 'message', message: { kind: 'vote', vote: { chainId: CHAIN } as unknown as Vote } }, 'MSG_MALFORMED'],
      ['unknown message kind', { type: 'message', message: { kind: 'gossip' } as unknown as ConsensusMessage }, 'MSG_UNKNOWN_KIND']
    ]

    for (const [name, event, code] of cases) {
      void it(`${name} → one 'rejected' ${code}, state unchanged`, () => {
        const d = new Driver({ signer: val(0) })
        d.send({ type: 'start' })
        const before = d.snapshot()
        const out = d.send(event)
        assert.equal(out.length, 1, JSON.stringify(out.map((a) => a.type)))
        assert.equal(out[0]?.type, 'rejected')
        assert.equal((out[0] as Extract<EngineAction, { type: 'rejected' }>).reason, code)
        assert.deepEqual(d.snapshot(), before)
        // the valid message is still accepted afterwards (a refused one is not remembered as seen)
        assert.deepEqual(d.send(proposalMsg(good)).map((a) => a.type), ['validateBlock'])
        assert.deepEqual(d.send(prevote(val(1), 1, 0, hashOf(A))), [])
      })
    }

    void it('duplicates and stale heights are ignored silently', () => {
      const d = new Driver({ signer: val(0), height: 5 })
      d.send({ type: 'start' })
      const v = prevote(val(1), 5, 0, hashOf(A))
      assert.deepEqual(d.send(v), [])
      assert.deepEqual(d.send(v), [])
      assert.deepEqual(d.send(prevote(val(1), 4, 0, hashOf(A))), [])
      assert.deepEqual(d.send(proposalMsg(proposal(val(1), 2, 0, fakeBlock(2, 'old')))), [])
      const p = proposal(proposerOf(SET4, VAL, 5, 0), 5, 0, fakeBlock(5, 'five'))
      assert.equal(d.send(proposalMsg(p)).length, 1)
      assert.deepEqual(d.send(proposalMsg(p)), [])
    })
  })

  void describe('restart with the own messages of the height (ownMessages)', () => {
    const sig = (m: ConsensusMessage): string => toHex(m.kind === 'vote' ? m.vote.signature : m.proposal.signature)
    const signedOut = (actions: EngineAction[]): ConsensusMessage[] => ofType(actions, 'broadcast').filter((b) => b.signState !== undefined).map((b) => b.message)

    /** val(0) (no proposer in rounds 0 and 1 of height 1) signs prevote r0, precommit r0 and prevote r1, all nil. */
    function signThreeVotes (): { messages: ConsensusMessage[], signState: SignState } {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' }, { type: 'timeout', height: 1, round: 0, step: Step.Propose })
      d.send(prevote(val(1), 1, 0), prevote(val(2), 1, 0))
      d.send(precommit(val(1), 1, 0), precommit(val(2), 1, 0))
      d.send({ type: 'timeout', height: 1, round: 0, step: Step.Precommit }, { type: 'timeout', height: 1, round: 1, step: Step.Propose })
      const messages = signedOut(d.log)
      assert.deepEqual(messages.map((m) => m.kind === 'vote' ? [m.vote.round, m.vote.type] : []), [[0, VoteType.Prevote], [0, VoteType.Precommit], [1, VoteType.Prevote]])
      return { messages, signState: d.engine.signState as SignState }
    }

    void it('a rebroadcast re-sends our votes of every round but only our latest proposal (a proposal carries a whole block)', () => {
      const me = proposerOf(SET4, VAL, 1, 0)
      assert.equal(proposerOf(SET4, VAL, 1, 4), me, 'round-robin: the same proposer at rounds 0 and 4')
      const others = VAL.filter((s) => s !== me)
      const d = new Driver({ signer: me })
      d.send({ type: 'start' })
      const a = fakeBlock(1, 'stall A', me.publicKey)
      d.send({ type: 'proposalBuilt', height: 1, round: 0, block: a }, validated(1, a))
      // f+1 prevotes of round 4: round skip, and we propose again
      const skip = d.send(prevote(others[0] as Signer, 1, 4), prevote(others[1] as Signer, 1, 4))
      assert.deepEqual(ofType(skip, 'buildProposal'), [{ type: 'buildProposal', height: 1, round: 4 }])
      const b = fakeBlock(1, 'stall B', me.publicKey)
      d.send({ type: 'proposalBuilt', height: 1, round: 4, block: b }, validated(1, b))
      const signed = ofType(d.log, 'broadcast').filter((x) => x.signState !== undefined).map((x) => x.message)
      assert.deepEqual(signed.map((m) => m.kind === 'vote' ? `vote r${m.vote.round}` : `proposal r${m.proposal.round}`), ['proposal r0', 'vote r0', 'proposal r4', 'vote r4'])
      const again = ofType(d.send({ type: 'timeout', height: 1, round: 4, step: 'rebroadcast' }), 'broadcast')
      assert.deepEqual(again.map((x) => x.message.kind === 'vote' ? `vote r${x.message.vote.round}` : `proposal r${x.message.proposal.round}`), ['vote r0', 'proposal r4', 'vote r4'])
      assert.ok(again.every((x) => x.signState === undefined), 'nothing new is signed')
    })

    void it('re-sends every own message of the height on start and on each rebroadcast, signing nothing new', () => {
      const { messages, signState } = signThreeVotes()
      // without them (the old behaviour) only the last signed vote goes out again
      const bare = new Driver({ signer: val(0), signState })
      assert.deepEqual(ofType(bare.send({ type: 'start' }), 'broadcast').map((b) => sig(b.message)), [sig(messages[2] as ConsensusMessage)])
      // others' messages and other heights are not ours to re-send
      const stranger: ConsensusMessage = { kind: 'vote', vote: vote(val(1), VoteType.Prevote, 1, 0) }
      const otherHeight: ConsensusMessage = { kind: 'vote', vote: vote(val(0), VoteType.Prevote, 2, 0) }
      const d = new Driver({ signer: val(0), signState, ownMessages: [...messages, stranger, otherHeight] })
      const start = d.send({ type: 'start' })
      assert.equal(d.engine.round, 1)
      assert.equal(d.engine.step, Step.Prevote)
      const sent = ofType(start, 'broadcast')
      assert.deepEqual(sent.map((b) => sig(b.message)), messages.map(sig), 'all three, in round order, each once')
      // only the vote at the sign-state's position carries it (re-signed identically); the others are re-sends
      assert.deepEqual(sent.map((b) => b.signState !== undefined), [false, false, true])
      assert.deepEqual(sent[2]?.signState, signState)
      everySignedAfterState(start, signState)
      // the rebroadcast timer of round 1 re-sends the messages of rounds 0 and 1
      const again = d.send({ type: 'timeout', height: 1, round: 1, step: 'rebroadcast' })
      assert.deepEqual(ofType(again, 'broadcast').map((b) => sig(b.message)), messages.map(sig))
      assert.ok(ofType(again, 'broadcast').every((b) => b.signState === undefined), 'nothing new is signed')
      assert.deepEqual(d.engine.signState, signState)
    })

    void it('ignores restored messages beyond the sign-state (it is persisted first) and restores nothing without a signer', () => {
      const { messages } = signThreeVotes()
      const older: SignState = { height: 1, round: 0, step: Step.Precommit }
      const d = new Driver({ signer: val(0), signState: older, ownMessages: messages })
      const start = d.send({ type: 'start' })
      assert.deepEqual(ofType(start, 'broadcast').map((b) => sig(b.message)), messages.slice(0, 2).map(sig))
      const full = new Driver({ signState: older, ownMessages: messages })
      assert.deepEqual(ofType(full.send({ type: 'start' }), 'broadcast'), [])
    })

    function everySignedAfterState (actions: EngineAction[], last: SignState): void {
      for (const b of ofType(actions, 'broadcast')) {
        if (b.signState === undefined) continue
        const order = b.signState.height - last.height || b.signState.round - last.round || b.signState.step - last.step
        assert.ok(order > 0 || (order === 0 && hexOf(b.signState.blockHash) === hexOf(last.blockHash)))
      }
    }
  })

  void describe('last-commit catch-up', () => {
    const A1 = fakeBlock(1, 'catch-up A', val(1).publicKey)
    const a = hashOf(A1)

    /** val(0) decides A1 at height 1 with the precommits of val(0), val(1), val(2), and moves to height 2. */
    function decided (): { d: Driver, certificate: Extract<EngineAction, { type: 'commitBlock' }>['certificate'] } {
      const d = new Driver({ signer: val(0) })
      d.send({ type: 'start' }, proposalMsg(proposal(val(1), 1, 0, A1)), validated(1, A1))
      d.send(prevote(val(1), 1, 0, a), prevote(val(2), 1, 0, a))
      const done = d.send(precommit(val(1), 1, 0, a), precommit(val(2), 1, 0, a))
      const [commit] = ofType(done, 'commitBlock')
      assert.ok(commit !== undefined)
      d.send({ type: 'blockCommitted', height: 1, hash: a, validatorSet: SET4, timestamp: A1.header.timestamp })
      assert.equal(d.engine.height, 2)
      return { d, certificate: commit.certificate }
    }

    void it('a valid message for the height just decided gets the certificate precommits back, at most once per timeout', () => {
      const { d, certificate } = decided()
      const out = d.send(prevote(val(3), 1, 0, a))
      const sent = ofType(out, 'broadcast')
      assert.equal(sent.length, certificate.signatures.length)
      assert.ok(sent.every((b) => b.signState === undefined), 'a relay: nothing signed, nothing to persist')
      const votes = votesOut(out)
      assert.deepEqual(votes.map((v) => [v.height, v.round, v.type, hexOf(v.blockHash)]), votes.map(() => [1, 0, VoteType.Precommit, toHex(a)]))
      assert.deepEqual(votes.map((v) => toHex(v.signature)), certificate.signatures.map((s) => toHex(s.signature)))
      assert.ok(votes.every((v) => verifyVoteSignature(v)))
      assert.deepEqual(ofType(out, 'scheduleTimeout'), [], 'the engine state is unchanged')
      // rate limit: nothing more until a timeout of the current height fires
      assert.deepEqual(d.send(precommit(val(3), 1, 1), proposalMsg(proposal(val(2), 1, 1, fakeBlock(1, 'late', val(2).publicKey)))), [])
      d.send({ type: 'timeout', height: 2, round: 0, step: 'commit' })
      assert.equal(votesOut(d.send(prevote(val(3), 1, 2))).length, certificate.signatures.length)
      assert.deepEqual(d.send(prevote(val(3), 1, 3)), [])
      // older heights stay silent
      d.send({ type: 'timeout', height: 2, round: 0, step: Step.Propose })
      assert.deepEqual(d.send(prevote(val(3), 0, 0)), [])
    })

    void it('only for a signed message of a member of that height\'s set, not our own echo, and only after deciding it here', () => {
      const { d } = decided()
      const forged = { ...vote(val(3), VoteType.Prevote, 1, 0, a), signature: new Uint8Array(64) }
      assert.deepEqual(ofType(d.send(voteMsg(forged)), 'rejected').map((r) => r.reason), ['MSG_BAD_SIGNATURE'])
      const stranger = makeKeys('stranger/validator')
      assert.deepEqual(d.send(voteMsg(vote(stranger, VoteType.Prevote, 1, 0, a))), [])
      assert.deepEqual(d.send(precommit(val(0), 1, 0, a)), [], 'our own late echo')
      assert.equal(votesOut(d.send(prevote(val(3), 1, 0, a))).length, 3, 'still armed after the refused ones')
      // a height received by block sync (not decided here): no certificate votes to hand out
      const synced = new Driver({ signer: val(0) })
      synced.send({ type: 'start' }, { type: 'blockCommitted', height: 1, hash: a, validatorSet: SET4, timestamp: A1.header.timestamp })
      assert.deepEqual(synced.send(prevote(val(3), 1, 0, a)), [])
    })
  })
})
