/**
 * The BFT consensus engine: Tendermint's Algorithm 1 (Buchman, Kwon, Milosevic, "The latest gossip
 * on BFT consensus", 2018) as a pure state machine. Events in, actions out (src/consensus/types.ts):
 * no sockets, timers, disk or clock inside; `handle` returns its actions in a deterministic order.
 *
 * Map from the paper to this file (line numbers of Algorithm 1):
 *  - StartRound (l. 11-21)                → `enterPropose`
 *  - upon PROPOSAL vr = -1 (l. 22-27)      → `applyRulesOnce`, rule "propose/-1" → `enterPrevote`
 *  - upon PROPOSAL + polka at vr (l. 28-33) → rule "propose/vr" → `enterPrevote`
 *  - 2f+1 prevotes any, first time (l. 34)  → rule "prevote timeout"
 *  - PROPOSAL + polka in round (l. 36-43)   → rule "polka" → lock, `enterPrecommit`, validRound
 *  - 2f+1 prevotes nil (l. 44-46)           → rule "nil polka" → `enterPrecommit(nil)`
 *  - 2f+1 precommits any, first time (l. 47) → rule "precommit timeout"
 *  - PROPOSAL + 2f+1 precommits (l. 49-54)  → rule "decide" → `commit` (commitBlock, then wait for
 *                                            blockCommitted, which moves to the next height)
 *  - f+1 messages of a higher round (l. 55) → rule "round skip" → `enterPropose(round)`
 *  - OnTimeoutPropose/Prevote/Precommit (l. 57-67) → `onTimeout`
 * valid(v) is asynchronous: the first proposal of a block emits 'validateBlock'; the verdict is
 * cached per block hash and the rules are evaluated again on 'blockValidated'.
 *
 * Around the algorithm, each in its own file:
 *  - admission.ts: every peer message passes its checks before it counts; each failure gives one
 *    'rejected' action with a ConsensusError code as reason and changes nothing. Messages for the
 *    next height are buffered there and replayed here when the height is reached.
 *  - heightVotes.ts: the messages counted at the height, per round. Votes are counted per value
 *    (voteSet.ts): an equivocator's two votes count once for "2f+1 of any kind" and once for each
 *    value it signed, and give one 'evidence' action.
 *  - catchUp.ts: re-sending what was already signed: our own messages of every round of the
 *    height, by a 'rebroadcast' timer while a round stalls (see `startRebroadcastTimer`) and once
 *    after a restart (`EngineOptions.ownMessages`, the node's small WAL, wal.ts); and last-commit
 *    catch-up: a message for the height we just decided gets that height's certificate precommits.
 *  - syncRequests.ts: when to ask for block sync, e.g. once a validator has been seen ahead for
 *    about one timeout cap.
 * A restart resumes at the round and step of the sign-state (`beginHeight`). Before signing
 * anything the engine checks the sign-state (`checkCanSign`), and every signed broadcast carries
 * the new sign-state for the node to persist first.
 */
import { blockHash as computeBlockHash, type Block, type CommitSignature } from '../types/block.js'
import { findValidator, proposerFor, quorumPower, type ValidatorSet } from '../types/validatorSet.js'
import { equalBytes, toHex } from '../crypto/bytes.js'
import type { Signer } from '../crypto/ed25519.js'
import { signProposal, type ConsensusMessage, type Proposal } from '../types/consensusMessage.js'
import { signVote, VoteType, type Vote } from '../types/vote.js'
import { Admission, reject } from './admission.js'
import { LastCommitCatchUp, OwnMessages } from './catchUp.js'
import { HeightVotes } from './heightVotes.js'
import { checkCanSign, compareSignPosition } from './signState.js'
import { SyncRequests } from './syncRequests.js'
import { DEFAULT_TIMEOUTS, Step, timeoutDelay, type EngineAction, type EngineEvent, type SignState, type TimeoutConfig } from './types.js'
import { NIL_KEY, valueKey as hashKey } from './voteSet.js'

export { MAX_FUTURE_MESSAGES, MAX_FUTURE_MESSAGES_PER_VALIDATOR, MAX_FUTURE_PROPOSALS, MAX_ROUND_AHEAD } from './admission.js'
export { timeoutDelay } from './types.js'

export interface EngineOptions {
  chainId: string
  /** This validator's key; undefined = a full node that follows consensus and never signs. */
  signer?: Signer
  /** Next height to decide (chain head + 1). */
  height: number
  /** The validator set for `height`. */
  validatorSet: ValidatorSet
  /** Loaded from disk after a restart. */
  signState?: SignState
  timeouts?: TimeoutConfig
  /**
   * Optional: the block whose hash `signState` holds, if the node kept it (e.g. the last proposal
   * it prevoted or precommitted). With it a validator that crashed between its precommit and the
   * import can still decide that block after a restart; without it, it only knows the hash.
   */
  lastSignedBlock?: Block
  /**
   * Optional: every message this validator signed at `height` before a restart (the node's small
   * WAL, wal.ts: at most a proposal, a prevote and a precommit per round). They are loaded into each
   * round's own list, re-sent once on 'start' and by every 'rebroadcast', so peers that missed them
   * (or that lost what they had received) can count them again. Others (other heights, other
   * signers) are ignored. Nothing is signed anew for them.
   */
  ownMessages?: ConsensusMessage[]
}

/** Algorithm 1's "for the first time" conditions of one round (l. 34, 36, 47). */
interface RoundProgress {
  prevoteTimeoutScheduled: boolean
  precommitTimeoutScheduled: boolean
  polkaHandled: boolean
}

type Verdict = 'pending' | boolean

export class ConsensusEngine {
  private readonly chainId: string
  private readonly signer: Signer | undefined
  private readonly timeouts: TimeoutConfig
  private validatorSet: ValidatorSet

  private _height: number
  private _round = 0
  private _step: Step = Step.Propose
  private lockedRoundValue = -1
  private lockedKey: string | undefined
  private validRoundValue = -1
  private validBlock: Block | undefined

  /** StartRound ran at this height (false while waiting for the commit timeout). */
  private started = false
  /** commitBlock was emitted at this height; waiting for blockCommitted. */
  private decided = false
  private pendingBuild: { height: number, round: number } | undefined

  /** The proposals, votes and blocks counted at this height. */
  private votes = new HeightVotes()
  private progress = new Map<number, RoundProgress>()
  /** valid(v) of the blocks at this height, by block hash hex. */
  private validity = new Map<string, Verdict>()
  /** What we signed at this height (re-sent by 'rebroadcast'). */
  private own = new OwnMessages()
  private sync: SyncRequests

  private readonly admission: Admission
  private readonly lastCommit = new LastCommitCatchUp()
  private lastSigned: SignState | undefined
  /** Signing is refused while our height is below this (the store is behind the sign-state). */
  private signingBlockedUntil: number | undefined

  constructor (opts: EngineOptions) {
    this.chainId = opts.chainId
    this.signer = opts.signer
    this.timeouts = opts.timeouts ?? DEFAULT_TIMEOUTS
    this.validatorSet = opts.validatorSet
    this._height = opts.height
    this.sync = new SyncRequests(opts.height, this.timeouts)
    this.admission = new Admission(opts.chainId)
    this.lastSigned = opts.signState
    const s = opts.signState
    if (s !== undefined && s.height > opts.height) this.signingBlockedUntil = s.height
    if (s !== undefined && s.height === opts.height && s.blockHash !== undefined && s.step !== Step.Propose) {
      const key = hashKey(s.blockHash)
      if (s.step === Step.Precommit) {
        // We precommitted this block at s.round, so we were locked on it there: keep the lock.
        this.lockedRoundValue = s.round
        this.lockedKey = key
      }
      const block = opts.lastSignedBlock
      if (block !== undefined && block.header.height === opts.height && equalBytes(computeBlockHash(block.header), s.blockHash)) {
        this.votes.addBlock(key, block)
        if (s.step === Step.Precommit) {
          this.validBlock = block
          this.validRoundValue = s.round
        }
      }
    }
    this.own.restore(opts.ownMessages ?? [], this.signer?.publicKey, opts.height, s)
  }

  get height (): number { return this._height }
  get round (): number { return this._round }
  get step (): Step { return this._step }
  get signState (): SignState | undefined { return this.lastSigned }
  get lockedRound (): number { return this.lockedRoundValue }
  get validRound (): number { return this.validRoundValue }
  /**
   * While the store is behind the last signed height: the height from which this validator signs
   * again (the node logs it); undefined when signing normally.
   */
  get signingPausedUntil (): number | undefined { return this.signingBlockedUntil }
  /** Hex hash of the block we are locked on, if any. */
  get lockedBlockHash (): string | undefined { return this.lockedKey }

  /** Takes one event, returns the actions for the node. Never throws on peer input. */
  handle (event: EngineEvent): EngineAction[] {
    const out: EngineAction[] = []
    switch (event.type) {
      case 'start': this.onStart(out); break
      case 'message': this.onMessage(event.message, out); break
      case 'timeout': this.onTimeout(event, out); break
      case 'proposalBuilt': this.onProposalBuilt(event, out); break
      case 'blockValidated': this.onBlockValidated(event, out); break
      case 'blockCommitted': this.onBlockCommitted(event, out); break
    }
    return out
  }

  // ---------------------------------------------------------------------------------------------
  // Events

  private onStart (out: EngineAction[]): void {
    if (this.started) return
    if (this.signingBlockedUntil !== undefined) this.sync.request('signState', out)
    this.beginHeight(out)
    this.checkRules(out)
  }

  /**
   * The first round of a height: StartRound(0), unless we signed at this height before a crash. Then
   * we resume where we signed last (what a WAL replay gives Tendermint): the same round and step,
   * with the identical vote broadcast again so that peers that missed it count it.
   */
  private beginHeight (out: EngineAction[]): void {
    const s = this.lastSigned
    this.own.resendRestored(s, this._height, this.signingBlockedUntil !== undefined, out)
    if (s === undefined || s.height !== this._height || this.signingBlockedUntil !== undefined) {
      this.enterPropose(0, out)
    } else if (s.step === Step.Propose) {
      this.enterPropose(s.round, out)
    } else {
      this.resumeAt(s, out)
    }
  }

  private resumeAt (s: SignState, out: EngineAction[]): void {
    this._round = s.round
    this._step = s.step
    this.started = true
    for (const block of this.votes.allBlocks()) this.requestValidation(block, out)
    this.signAndBroadcastVote(s.step === Step.Prevote ? VoteType.Prevote : VoteType.Precommit, s.blockHash, out)
    this.startRebroadcastTimer(out)
  }

  private onMessage (message: ConsensusMessage, out: EngineAction[]): void {
    try {
      this.handleMessage(message, out)
    } catch (err) {
      // Backstop for inputs that are not even well-typed (a decoded message never gets here).
      reject(out, 'MSG_MALFORMED', `The consensus message could not be processed: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  private onTimeout (ev: Extract<EngineEvent, { type: 'timeout' }>, out: EngineAction[]): void {
    if (ev.height !== this._height) return
    this.lastCommit.arm() // the catch-up's rate limit
    this.sync.countTimeout(ev, this.decided, out)
    if (ev.step === 'commit') {
      if (!this.started) {
        this.beginHeight(out)
        this.checkRules(out)
      }
      return
    }
    if (!this.started || this.decided || ev.round !== this._round) return
    if (ev.step === 'rebroadcast') {
      this.own.rebroadcast(out)
      this.scheduleRebroadcast(out)
      return
    }
    if (ev.step === Step.Propose && this._step === Step.Propose) {
      this.enterPrevote(undefined, out) // l. 57-60
    } else if (ev.step === Step.Prevote && this._step === Step.Prevote) {
      this.enterPrecommit(undefined, out) // l. 61-64
    } else if (ev.step === Step.Precommit) {
      this.enterPropose(this._round + 1, out) // l. 65-67
    } else {
      return
    }
    this.checkRules(out)
  }

  private onProposalBuilt (ev: Extract<EngineEvent, { type: 'proposalBuilt' }>, out: EngineAction[]): void {
    const pending = this.pendingBuild
    if (pending === undefined || ev.height !== pending.height || ev.round !== pending.round) return
    if (ev.height !== this._height || ev.round !== this._round || this._step !== Step.Propose || this.decided) return
    this.pendingBuild = undefined
    if (ev.block.header.height !== this._height || ev.block.header.chainId !== this.chainId) return
    this.propose(ev.block, -1, out)
    this.checkRules(out)
  }

  private onBlockValidated (ev: Extract<EngineEvent, { type: 'blockValidated' }>, out: EngineAction[]): void {
    if (ev.height !== this._height) return
    const key = hashKey(ev.hash)
    if (this.validity.get(key) !== 'pending') return
    this.validity.set(key, ev.valid)
    this.checkRules(out)
  }

  /** Our chain imported block `height` (decided here or synced): move to height + 1 (l. 54). */
  private onBlockCommitted (ev: Extract<EngineEvent, { type: 'blockCommitted' }>, out: EngineAction[]): void {
    if (ev.height < this._height) return
    const previous = this._height
    this.lastCommit.imported(ev.height, ev.hash, previous, this.validatorSet)
    this._height = ev.height + 1
    this.validatorSet = ev.validatorSet
    this._round = 0
    this._step = Step.Propose
    this.lockedRoundValue = -1
    this.lockedKey = undefined
    this.validRoundValue = -1
    this.validBlock = undefined
    this.started = false
    this.decided = false
    this.pendingBuild = undefined
    this.votes = new HeightVotes()
    this.progress = new Map()
    this.validity = new Map()
    this.own = new OwnMessages()
    this.sync = new SyncRequests(this._height, this.timeouts)
    if (this.signingBlockedUntil !== undefined && this._height >= this.signingBlockedUntil) this.signingBlockedUntil = undefined
    const buffered = this.admission.takeBuffered()
    const delayMs = Math.max(0, this.timeouts.commitMs - Math.max(0, ev.sinceDecidedMs ?? 0))
    out.push({ type: 'scheduleTimeout', height: this._height, round: 0, step: 'commit', delayMs })
    if (this._height === previous + 1) {
      for (const message of buffered) this.onMessage(message, out)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Messages

  /** A peer message: admitted (admission.ts), then counted, answered by catch-up, or noted as a peer ahead. */
  private handleMessage (message: ConsensusMessage, out: EngineAction[]): void {
    const at = { height: this._height, round: this._round, validatorSet: this.validatorSet, votes: this.votes, catchUpHeight: this.lastCommit.height }
    const admitted = this.admission.admit(message, at, out)
    if (admitted === undefined) return
    if (admitted.place === 'previous') {
      this.lastCommit.answer(admitted.signer, admitted.verifySignature, this.signer?.publicKey, out)
      return
    }
    if (admitted.place === 'future') {
      this.sync.peerAhead(admitted.validator, admitted.power, this.decided, this.validatorSet.totalPower, out)
      return
    }
    if (admitted.kind === 'vote') {
      const vote = admitted.vote
      const conflictsWith = this.votes.addVote(vote, admitted.power)
      // Equivocation: a second, different vote for the same (height, round, type). It does not count
      // again for "any", but does for its value (see voteSet.ts).
      if (conflictsWith !== undefined && this.votes.firstReport(vote)) out.push({ type: 'evidence', voteA: conflictsWith, voteB: vote })
    } else {
      this.addProposal(admitted.proposal, admitted.hash, admitted.power, out)
    }
    this.checkRules(out)
  }

  private addProposal (proposal: Proposal, hash: Uint8Array, power: number, out: EngineAction[]): void {
    this.votes.addProposal(proposal, hash, power)
    this.requestValidation(proposal.block, out, hash)
  }

  /** valid(v): ask the node once per block hash; the verdict comes back as 'blockValidated'. */
  private requestValidation (block: Block, out: EngineAction[], hash = computeBlockHash(block.header)): void {
    const key = hashKey(hash)
    if (this.validity.has(key)) return
    this.validity.set(key, 'pending')
    out.push({ type: 'validateBlock', height: this._height, hash, block })
  }

  // ---------------------------------------------------------------------------------------------
  // The upon-rules

  private checkRules (out: EngineAction[]): void {
    for (let guard = 0; guard < 64 && this.started && !this.decided; guard++) {
      if (!this.applyRulesOnce(out)) return
    }
  }

  private roundProgress (round: number): RoundProgress {
    let progress = this.progress.get(round)
    if (progress === undefined) {
      progress = { prevoteTimeoutScheduled: false, precommitTimeoutScheduled: false, polkaHandled: false }
      this.progress.set(round, progress)
    }
    return progress
  }

  /** Applies the first rule whose condition holds; false when none does. */
  private applyRulesOnce (out: EngineAction[]): boolean {
    const quorum = quorumPower(this.validatorSet.totalPower)

    // l. 49: 2f+1 precommits for a block of some round at this height → decide.
    for (const { round, key } of this.votes.precommitQuorums(quorum)) {
      const block = this.votes.block(key)
      if (block === undefined) {
        this.sync.request('missingBlock', out) // decided by the others, but we never got the block
        continue
      }
      const verdict = this.validity.get(key)
      if (verdict === undefined) {
        this.requestValidation(block, out)
      } else if (verdict === true) {
        this.commit(round, key, block, out)
        return false
      }
    }

    // l. 55: f+1 power of messages for a higher round → skip to it (the highest such round).
    const skipTo = this.votes.roundToSkipTo(this._round, this.validatorSet.totalPower)
    if (skipTo !== undefined) {
      this.enterPropose(skipTo, out)
      return true
    }

    const rs = this.votes.round(this._round)
    const progress = this.roundProgress(this._round)
    const p = rs.proposal

    // l. 22 and l. 28: the proposal of this round, once its validity is known.
    if (this._step === Step.Propose && p !== undefined) {
      const verdict = this.validity.get(p.key)
      if (verdict === true || verdict === false) {
        const vr = p.proposal.polRound
        if (vr === -1) {
          const accept = verdict && (this.lockedRoundValue === -1 || this.lockedKey === p.key)
          this.enterPrevote(accept ? p.hash : undefined, out)
          return true
        }
        const polka = this.votes.get(vr)
        if (polka !== undefined && polka.prevotes.powerFor(p.key) >= quorum) {
          const accept = verdict && (this.lockedRoundValue <= vr || this.lockedKey === p.key)
          this.enterPrevote(accept ? p.hash : undefined, out)
          return true
        }
      }
    }

    // l. 34: 2f+1 prevotes of any kind, first time → timeout prevote.
    if (this._step === Step.Prevote && !progress.prevoteTimeoutScheduled && rs.prevotes.totalPower() >= quorum) {
      progress.prevoteTimeoutScheduled = true
      this.scheduleTimeout(Step.Prevote, out)
      return true
    }

    // l. 36: the proposal, valid, with 2f+1 prevotes in this round, first time → lock and precommit.
    if (p !== undefined && this._step >= Step.Prevote && !progress.polkaHandled && this.validity.get(p.key) === true &&
      rs.prevotes.powerFor(p.key) >= quorum) {
      progress.polkaHandled = true
      if (this._step === Step.Prevote) {
        this.lockedRoundValue = this._round
        this.lockedKey = p.key
        this.enterPrecommit(p.hash, out)
      }
      this.validRoundValue = this._round
      this.validBlock = p.proposal.block
      return true
    }

    // l. 44: 2f+1 prevotes for nil → precommit nil.
    if (this._step === Step.Prevote && rs.prevotes.powerFor(NIL_KEY) >= quorum) {
      this.enterPrecommit(undefined, out)
      return true
    }

    // l. 47: 2f+1 precommits of any kind, first time → timeout precommit.
    if (!progress.precommitTimeoutScheduled && rs.precommits.totalPower() >= quorum) {
      progress.precommitTimeoutScheduled = true
      this.scheduleTimeout(Step.Precommit, out)
      return true
    }
    return false
  }

  // ---------------------------------------------------------------------------------------------
  // Steps

  /** StartRound(round) (l. 11-21). */
  private enterPropose (round: number, out: EngineAction[]): void {
    this._round = round
    this._step = Step.Propose
    this.started = true
    this.pendingBuild = undefined
    const proposer = proposerFor(this.validatorSet, this._height, round)
    if (this.signer !== undefined && equalBytes(proposer.publicKey, this.signer.publicKey) && this.mayEverSign({ height: this._height, round, step: Step.Propose })) {
      if (this.validBlock !== undefined) {
        this.propose(this.validBlock, this.validRoundValue, out)
      } else {
        this.pendingBuild = { height: this._height, round }
        out.push({ type: 'buildProposal', height: this._height, round })
      }
    }
    this.scheduleTimeout(Step.Propose, out)
  }

  /** Prevote for `hash` (undefined = nil) and move to the prevote step. */
  private enterPrevote (hash: Uint8Array | undefined, out: EngineAction[]): void {
    this._step = Step.Prevote
    this.signAndBroadcastVote(VoteType.Prevote, hash, out)
    this.startRebroadcastTimer(out)
  }

  /** Precommit for `hash` (undefined = nil) and move to the precommit step. */
  private enterPrecommit (hash: Uint8Array | undefined, out: EngineAction[]): void {
    this._step = Step.Precommit
    this.signAndBroadcastVote(VoteType.Precommit, hash, out)
    this.startRebroadcastTimer(out)
  }

  /**
   * Not in Algorithm 1, which assumes gossip that re-delivers every message: in prevote and
   * precommit a round has no timer until 2f+1 votes arrived, so votes lost to a partition or to a
   * crashed peer would stall it for good. Once per round a 'rebroadcast' timer runs; each time it
   * fires in the same round it re-sends what we signed at the height (`OwnMessages.rebroadcast`:
   * identical messages, nothing new is signed) and starts again. It never changes the state of the
   * algorithm.
   */
  private startRebroadcastTimer (out: EngineAction[]): void {
    if (this.signer === undefined) return
    if (!this.own.startTimer(this._round)) return
    this.scheduleRebroadcast(out)
  }

  private scheduleRebroadcast (out: EngineAction[]): void {
    const step = this._step === Step.Precommit ? Step.Precommit : Step.Prevote
    out.push({ type: 'scheduleTimeout', height: this._height, round: this._round, step: 'rebroadcast', delayMs: timeoutDelay(this.timeouts, step, this._round) })
  }

  /** Decide (l. 49-54): hand the block and its certificate to the node, wait for blockCommitted. */
  private commit (round: number, key: string, block: Block, out: EngineAction[]): void {
    const signatures: CommitSignature[] = []
    const certVotes: Vote[] = []
    let hash: Uint8Array | undefined
    const votes = this.votes.round(round).precommits.votesFor(key)
    for (const v of this.validatorSet.validators) {
      const counted = votes.get(toHex(v.publicKey))
      if (counted === undefined) continue
      hash = counted.vote.blockHash
      signatures.push({ validator: v.publicKey, signature: counted.vote.signature })
      certVotes.push(counted.vote)
    }
    if (hash === undefined) return
    this.decided = true
    this.lastCommit.decided(this._height, hash, certVotes)
    out.push({ type: 'commitBlock', height: this._height, block, certificate: { height: this._height, round, blockHash: hash, signatures } })
  }

  private scheduleTimeout (step: Step, out: EngineAction[]): void {
    out.push({ type: 'scheduleTimeout', height: this._height, round: this._round, step, delayMs: timeoutDelay(this.timeouts, step, this._round) })
  }

  // ---------------------------------------------------------------------------------------------
  // Signing

  private isValidatorNow (): boolean {
    return this.signer !== undefined && findValidator(this.validatorSet, this.signer.publicKey) !== undefined
  }

  /** Whether a message at this position could be signed at all (ignoring the block hash). */
  private mayEverSign (position: SignState): boolean {
    if (!this.isValidatorNow() || this.signingBlockedUntil !== undefined) return false
    return this.lastSigned === undefined || compareSignPosition(position, this.lastSigned) >= 0
  }

  /** The sign-state check before any signature; records the new sign-state when allowed. */
  private trySign (next: SignState): boolean {
    if (!this.isValidatorNow() || this.signingBlockedUntil !== undefined) return false
    if (!checkCanSign(this.lastSigned, next)) return false
    this.lastSigned = next
    return true
  }

  private propose (block: Block, polRound: number, out: EngineAction[]): void {
    const signer = this.signer
    if (signer === undefined) return
    const hash = computeBlockHash(block.header)
    const next: SignState = { height: this._height, round: this._round, step: Step.Propose, blockHash: hash }
    if (!this.trySign(next)) return
    const proposal = signProposal({ chainId: this.chainId, height: this._height, round: this._round, polRound, block, proposer: signer.publicKey }, signer, hash)
    const message: ConsensusMessage = { kind: 'proposal', proposal }
    out.push({ type: 'broadcast', message, signState: next })
    this.own.add(this._round, message)
    const power = findValidator(this.validatorSet, signer.publicKey)?.power ?? 0
    this.addProposal(proposal, hash, power, out)
  }

  private signAndBroadcastVote (type: VoteType, hash: Uint8Array | undefined, out: EngineAction[]): void {
    const signer = this.signer
    if (signer === undefined) return
    const step = type === VoteType.Prevote ? Step.Prevote : Step.Precommit
    const next: SignState = { height: this._height, round: this._round, step, ...(hash !== undefined ? { blockHash: hash } : {}) }
    if (!this.trySign(next)) return
    const vote = signVote({ chainId: this.chainId, type, height: this._height, round: this._round, ...(hash !== undefined ? { blockHash: hash } : {}), validator: signer.publicKey }, signer)
    const message: ConsensusMessage = { kind: 'vote', vote }
    out.push({ type: 'broadcast', message, signState: next })
    this.own.add(this._round, message)
    const validator = findValidator(this.validatorSet, signer.publicKey)
    if (validator !== undefined) this.votes.addVote(vote, validator.power)
  }
}
