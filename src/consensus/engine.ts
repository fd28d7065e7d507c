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
 * Added to it: a 'rebroadcast' timer that re-sends our own messages of every round of the height
 * while a round stalls (see `startRebroadcastTimer`); a restart resumes at the round and step of the
 * sign-state and re-sends every message signed at the height (`EngineOptions.ownMessages`, the
 * node's small WAL); last-commit catch-up: a message for the height we just decided gets that
 * height's certificate precommits re-sent (`onPreviousHeightMessage`, rate-limited); and block sync
 * once a validator has been seen ahead for about one timeout cap (`countTimeAhead`).
 * valid(v) is asynchronous: the first proposal of a block emits 'validateBlock'; the verdict is
 * cached per block hash and the rules are evaluated again when 'blockValidated' arrives.
 *
 * Votes are counted per value (voteSet.ts): an equivocator's two votes count once for "2f+1 of any
 * kind" and once for each value it signed, and give one 'evidence' action.
 *
 * Every message passes `handleMessage`'s checks before it counts; each failure gives one
 * 'rejected' action with a ConsensusError code as reason and changes nothing. Before signing
 * anything the engine checks the sign-state (`checkCanSign`), and every signed broadcast carries
 * the new sign-state for the node to persist first.
 */
import { blockHash as computeBlockHash, type Block, type CommitSignature } from '../types/block.js'
import { findValidator, proposerFor, quorumPower, type ValidatorSet } from '../types/validatorSet.js'
import { equalBytes, toHex } from '../crypto/bytes.js'
import type { Signer } from '../crypto/ed25519.js'
import { HASH_LENGTH } from '../crypto/hash.js'
import type { ConsensusErrorCode } from '../types/consensusErrors.js'
import { signProposal, verifyProposalSignature } from '../types/consensusMessage.js'
import { checkCanSign, compareSignPosition } from './signState.js'
import { DEFAULT_TIMEOUTS, Step, type EngineAction, type EngineEvent, type SignState, type TimeoutConfig } from './types.js'
import { type ConsensusMessage, type Proposal } from '../types/consensusMessage.js'
import { signVote, verifyVoteSignature, VoteType, type Vote } from '../types/vote.js'
import { NIL_KEY, valueKey, VoteSet } from './voteSet.js'

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
   * ADDED (optional): the block whose hash `signState` holds, if the node kept it (e.g. the last
   * proposal it prevoted or precommitted). With it a validator that crashed between its precommit
   * and the import can still decide that block after a restart; without it, it only knows the hash.
   */
  lastSignedBlock?: Block
  /**
   * ADDED (optional): every message this validator signed at `height` before a restart (the node's
   * small WAL: at most a proposal, a prevote and a precommit per round). They are loaded into each
   * round's own list, re-sent once on 'start' and by every 'rebroadcast', so peers that missed them
   * (or that lost what they had received) can count them again. Others (other heights, other
   * signers) are ignored. Nothing is signed anew for them.
   */
  ownMessages?: ConsensusMessage[]
}

/**
 * The last height this engine decided itself: its certificate's precommits (re-sent to peers still
 * at that height: last-commit catch-up) and the validator set that signed them.
 */
interface LastCommit {
  height: number
  validatorSet: ValidatorSet
  votes: Vote[]
  /** A re-send is allowed (re-armed by every timeout at the current height: the rate limit). */
  armed: boolean
}

/** Rounds further ahead of the current one than this are refused (MSG_BAD_ROUND). */
export const MAX_ROUND_AHEAD = 1000
/** Bound of the buffer of messages for the next height (replayed when we reach it). */
export const MAX_FUTURE_MESSAGES = 1024
/** Of which at most this many proposals (they carry whole blocks). */
export const MAX_FUTURE_PROPOSALS = 4
/** And at most this many from one validator, so one member cannot fill the buffer. */
export const MAX_FUTURE_MESSAGES_PER_VALIDATOR = 64

/** A round timeout: base + round × delta, never more than the cap. */
export function timeoutDelay (config: TimeoutConfig, step: Step, round: number): number {
  const base = step === Step.Propose ? config.proposeMs : step === Step.Prevote ? config.prevoteMs : config.precommitMs
  return Math.min(config.capMs, base + round * config.deltaMs)
}

interface ProposalEntry { proposal: Proposal, hash: Uint8Array, key: string }

interface RoundState {
  proposal?: ProposalEntry
  prevotes: VoteSet
  precommits: VoteSet
  /** Every validator that sent any valid message for this round, with its power (round skip). */
  senders: Map<string, number>
  prevoteTimeoutScheduled: boolean
  precommitTimeoutScheduled: boolean
  polkaHandled: boolean
  /** The 'rebroadcast' timer of this round is running. */
  rebroadcastScheduled: boolean
  /** What we signed in this round (re-sent while the round stalls). */
  own: ConsensusMessage[]
}

type Verdict = 'pending' | boolean

/**
 * Why we ask for block sync: the store is behind the sign-state, more than 1/3 of the power is at
 * later heights, 2f+1 precommitted a block we do not hold, or some validator has been seen at a
 * later height for about one timeout cap (a validator ahead with < 1/3 of the power that did not
 * hand us its certificate, e.g. because it restarted or synced the block). Each gives at most one request per
 * height, so a request made too early (the others had not imported the block yet) is followed by
 * one more once they show up at a later height.
 */
type SyncTrigger = 'signState' | 'peersAhead' | 'missingBlock' | 'peerAheadLong'

const hashKey = valueKey

function isRound (n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff
}

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

  private rounds = new Map<number, RoundState>()
  /** Blocks of valid proposals at this height, by block hash hex. */
  private blocks = new Map<string, Block>()
  private validity = new Map<string, Verdict>()
  /** (validator, round, type) already reported as equivocating. */
  private evidenceSent = new Set<string>()
  /** Validators of our set seen at heights above ours, with their power. */
  private higherHeightSenders = new Map<string, number>()
  /**
   * Virtual time (the nominal delays of the timeouts that fired) since a validator was first seen
   * at a later height; the first timeout after that is not counted (it may have been scheduled
   * before). undefined while nobody is ahead.
   */
  private aheadElapsedMs: number | undefined
  /** requestSync already emitted at this height, per trigger. */
  private syncRequested = new Set<SyncTrigger>()

  private futureBuffer: ConsensusMessage[] = []
  private futureKeys = new Set<string>()
  private futureProposals = 0
  private futurePerValidator = new Map<string, number>()

  private lastSigned: SignState | undefined
  /** Own messages restored from the node's disk at start (ownMessages), re-sent once on 'start'. */
  private restoredOwn: ConsensusMessage[] = []
  /** The certificate precommits of the block decided here (set by `commit`, until blockCommitted). */
  private decidedVotes: { height: number, hash: Uint8Array, votes: Vote[] } | undefined
  /** Last-commit catch-up: the certificate of height − 1 when this engine decided it. */
  private lastCommit: LastCommit | undefined
  /** Signing is refused while our height is below this (the store is behind the sign-state). */
  private signingBlockedUntil: number | undefined

  constructor (opts: EngineOptions) {
    this.chainId = opts.chainId
    this.signer = opts.signer
    this.timeouts = opts.timeouts ?? DEFAULT_TIMEOUTS
    this.validatorSet = opts.validatorSet
    this._height = opts.height
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
        this.blocks.set(key, block)
        if (s.step === Step.Precommit) {
          this.validBlock = block
          this.validRoundValue = s.round
        }
      }
    }
    const signer = this.signer
    for (const message of opts.ownMessages ?? []) {
      const m = messagePlace(message)
      if (signer === undefined || m === undefined || m.height !== opts.height || !equalBytes(m.signer, signer.publicKey)) continue
      // never beyond the sign-state (it is persisted first): such a message would not be covered by it
      if (s === undefined || compareSignPosition({ height: m.height, round: m.round, step: m.step }, s) > 0) continue
      if (this.pushOwn(m.round, message)) this.restoredOwn.push(message)
    }
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
    if (this.signingBlockedUntil !== undefined) this.requestSyncOnce('signState', out)
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
    this.resendRestored(s, out)
    if (s === undefined || s.height !== this._height || this.signingBlockedUntil !== undefined) {
      this.enterPropose(0, out)
    } else if (s.step === Step.Propose) {
      this.enterPropose(s.round, out)
    } else {
      this.resumeAt(s, out)
    }
  }

  /**
   * After a restart: every message we signed at this height (ownMessages), in round order, once,
   * except the vote at the sign-state's own position, which `resumeAt` re-sends with its sign-state.
   * They come back to us too (a broadcast reaches ourselves), so our own votes count again.
   */
  private resendRestored (s: SignState | undefined, out: EngineAction[]): void {
    const restored = this.restoredOwn
    this.restoredOwn = []
    if (this.signingBlockedUntil !== undefined) return
    const sorted = restored.map((message, i) => ({ message, i, place: messagePlace(message) }))
      .sort((a, b) => ((a.place?.round ?? 0) - (b.place?.round ?? 0)) || (a.i - b.i))
    for (const { message, place } of sorted) {
      if (place === undefined || place.height !== this._height) continue
      const resumedHere = s !== undefined && s.height === this._height && s.step !== Step.Propose && message.kind === 'vote' &&
        s.round === place.round && s.step === (message.vote.type === VoteType.Prevote ? Step.Prevote : Step.Precommit)
      if (!resumedHere) out.push({ type: 'broadcast', message })
    }
  }

  private resumeAt (s: SignState, out: EngineAction[]): void {
    this._round = s.round
    this._step = s.step
    this.started = true
    this.roundState(s.round)
    for (const block of this.blocks.values()) this.requestValidation(block, out)
    this.signAndBroadcastVote(s.step === Step.Prevote ? VoteType.Prevote : VoteType.Precommit, s.blockHash, out)
    this.startRebroadcastTimer(out)
  }

  private onMessage (message: ConsensusMessage, out: EngineAction[]): void {
    try {
      this.handleMessage(message, out)
    } catch (err) {
      // Backstop for inputs that are not even well-typed (a decoded message never gets here).
      this.reject(out, 'MSG_MALFORMED', `The consensus message could not be processed: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  private onTimeout (ev: Extract<EngineEvent, { type: 'timeout' }>, out: EngineAction[]): void {
    if (ev.height !== this._height) return
    if (this.lastCommit !== undefined) this.lastCommit.armed = true // the catch-up's rate limit
    this.countTimeAhead(ev, out)
    if (ev.step === 'commit') {
      if (!this.started) {
        this.beginHeight(out)
        this.checkRules(out)
      }
      return
    }
    if (!this.started || this.decided || ev.round !== this._round) return
    if (ev.step === 'rebroadcast') {
      this.rebroadcast(out)
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

  /**
   * The engine has no clock: the timeouts that fire are its clock. Once some validator of our set
   * has been seen at a later height for about capMs (concurrent timers may make it up to ~2× sooner),
   * ask for block sync once at this height, even if they hold < 1/3 of the power.
   */
  private countTimeAhead (ev: Extract<EngineEvent, { type: 'timeout' }>, out: EngineAction[]): void {
    if (this.higherHeightSenders.size === 0 || this.decided) return
    if (this.aheadElapsedMs === undefined) {
      this.aheadElapsedMs = 0 // first timeout after the sighting: may have been scheduled before it
      return
    }
    this.aheadElapsedMs += ev.step === 'commit'
      ? this.timeouts.commitMs
      : timeoutDelay(this.timeouts, ev.step === 'rebroadcast' ? Step.Prevote : ev.step, ev.round)
    if (this.aheadElapsedMs >= this.timeouts.capMs) this.requestSyncOnce('peerAheadLong', out)
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
    const decided = this.decidedVotes
    this.lastCommit = decided !== undefined && decided.height === ev.height && ev.height === previous && equalBytes(decided.hash, ev.hash)
      ? { height: ev.height, validatorSet: this.validatorSet, votes: decided.votes, armed: true }
      : undefined
    this.decidedVotes = undefined
    this.restoredOwn = []
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
    this.rounds = new Map()
    this.blocks = new Map()
    this.validity = new Map()
    this.evidenceSent = new Set()
    this.higherHeightSenders = new Map()
    this.aheadElapsedMs = undefined
    this.syncRequested = new Set()
    if (this.signingBlockedUntil !== undefined && this._height >= this.signingBlockedUntil) this.signingBlockedUntil = undefined
    const buffered = this.futureBuffer
    this.futureBuffer = []
    this.futureKeys = new Set()
    this.futureProposals = 0
    this.futurePerValidator = new Map()
    const delayMs = Math.max(0, this.timeouts.commitMs - Math.max(0, ev.sinceDecidedMs ?? 0))
    out.push({ type: 'scheduleTimeout', height: this._height, round: 0, step: 'commit', delayMs })
    if (this._height === previous + 1) {
      for (const message of buffered) this.onMessage(message, out)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Messages

  private reject (out: EngineAction[], reason: ConsensusErrorCode, detail: string): void {
    out.push({ type: 'rejected', reason, detail })
  }

  /** The one switch over peer messages. */
  private handleMessage (message: ConsensusMessage, out: EngineAction[]): void {
    switch (message.kind) {
      case 'proposal': this.onProposal(message.proposal, out); break
      case 'vote': this.onVote(message.vote, out); break
      default: this.reject(out, 'MSG_UNKNOWN_KIND', `Unknown consensus message kind ${String((message as { kind: unknown }).kind)}.`)
    }
  }

  /** Checks shared by votes and proposals: 'current' height, 'future' height, or 'drop' (stale or refused). */
  private checkPlace (chainId: string, height: number, round: number, out: EngineAction[]): 'current' | 'future' | 'previous' | 'drop' {
    if (chainId !== this.chainId) {
      this.reject(out, 'MSG_WRONG_CHAIN', `The message is for chain "${String(chainId)}", not "${this.chainId}".`)
      return 'drop'
    }
    if (typeof height !== 'number' || !Number.isSafeInteger(height) || height < 0) {
      this.reject(out, 'MSG_MALFORMED', 'The message height is not a non-negative integer.')
      return 'drop'
    }
    if (!isRound(round)) {
      this.reject(out, 'MSG_BAD_ROUND', 'The message round is not a 32-bit unsigned integer.')
      return 'drop'
    }
    if (height < this._height) {
      // stale: silently ignored, except that a peer still at the height we just decided gets its certificate
      return height === this._height - 1 && this.lastCommit?.height === height ? 'previous' : 'drop'
    }
    const current = height === this._height ? this._round : 0
    if (round > current + MAX_ROUND_AHEAD) {
      this.reject(out, 'MSG_BAD_ROUND', `Round ${round} is more than ${MAX_ROUND_AHEAD} rounds ahead of round ${current}.`)
      return 'drop'
    }
    return height === this._height ? 'current' : 'future'
  }

  private onVote (vote: Vote, out: EngineAction[]): void {
    const place = this.checkPlace(vote.chainId, vote.height, vote.round, out)
    if (place === 'drop') return
    if (place === 'previous') {
      this.onPreviousHeightMessage(vote.validator, () => verifyVoteSignature(vote), out)
      return
    }
    if (vote.type !== VoteType.Prevote && vote.type !== VoteType.Precommit) {
      this.reject(out, 'MSG_MALFORMED', 'The vote type is neither prevote nor precommit.')
      return
    }
    if (vote.blockHash !== undefined && vote.blockHash.length !== HASH_LENGTH) {
      this.reject(out, 'MSG_MALFORMED', `The vote's block hash is ${vote.blockHash.length} bytes, not ${HASH_LENGTH}.`)
      return
    }
    if (place === 'future') {
      this.onFutureMessage({ kind: 'vote', vote }, vote.validator, vote.height, () => verifyVoteSignature(vote), out)
      return
    }
    const validator = findValidator(this.validatorSet, vote.validator)
    const id = toHex(vote.validator)
    if (validator === undefined) {
      this.reject(out, 'MSG_NOT_VALIDATOR', `Validator ${id} is not in the validator set of height ${this._height}.`)
      return
    }
    const key = hashKey(vote.blockHash)
    if (this.rounds.get(vote.round)?.[vote.type === VoteType.Prevote ? 'prevotes' : 'precommits'].has(id, key) === true) return // duplicate
    if (!verifyVoteSignature(vote)) {
      this.reject(out, 'MSG_BAD_SIGNATURE', `The vote signature of validator ${id} does not verify.`)
      return
    }
    const conflictsWith = this.addVote(vote, validator.power)
    if (conflictsWith !== undefined) {
      // Equivocation: a second, different vote for the same (height, round, type). It does not count
      // again for "any", but does for its value (see voteSet.ts).
      const evidenceKey = `${id}/${vote.round}/${vote.type}`
      if (!this.evidenceSent.has(evidenceKey)) {
        this.evidenceSent.add(evidenceKey)
        out.push({ type: 'evidence', voteA: conflictsWith, voteB: vote })
      }
    }
    this.checkRules(out)
  }

  private onProposal (proposal: Proposal, out: EngineAction[]): void {
    const place = this.checkPlace(proposal.chainId, proposal.height, proposal.round, out)
    if (place === 'drop') return
    if (place === 'previous') {
      this.onPreviousHeightMessage(proposal.proposer, () => verifyProposalSignature(proposal), out)
      return
    }
    if (!Number.isInteger(proposal.polRound) || proposal.polRound < -1 || proposal.polRound >= proposal.round) {
      this.reject(out, 'MSG_BAD_POL_ROUND', `The proof-of-lock round ${proposal.polRound} is not in [-1, ${proposal.round}).`)
      return
    }
    const header = proposal.block.header
    if (header.height !== proposal.height) {
      this.reject(out, 'MSG_BAD_BLOCK', `The proposed block has height ${header.height}, the proposal ${proposal.height}.`)
      return
    }
    if (header.chainId !== this.chainId) {
      this.reject(out, 'MSG_BAD_BLOCK', `The proposed block is for chain "${header.chainId}".`)
      return
    }
    const hash = computeBlockHash(header)
    if (place === 'future') {
      this.onFutureMessage({ kind: 'proposal', proposal }, proposal.proposer, proposal.height, () => verifyProposalSignature(proposal, hash), out)
      return
    }
    const id = toHex(proposal.proposer)
    const validator = findValidator(this.validatorSet, proposal.proposer)
    if (validator === undefined) {
      this.reject(out, 'MSG_NOT_VALIDATOR', `Proposer ${id} is not in the validator set of height ${this._height}.`)
      return
    }
    const expected = proposerFor(this.validatorSet, this._height, proposal.round)
    if (!equalBytes(expected.publicKey, proposal.proposer)) {
      this.reject(out, 'MSG_NOT_PROPOSER', `Validator ${id} is not the proposer of round ${proposal.round}; ${toHex(expected.publicKey)} is.`)
      return
    }
    const existing = this.rounds.get(proposal.round)?.proposal
    if (existing !== undefined && equalBytes(existing.hash, hash) && existing.proposal.polRound === proposal.polRound) return // duplicate
    if (!verifyProposalSignature(proposal, hash)) {
      this.reject(out, 'MSG_BAD_SIGNATURE', `The proposal signature of ${id} does not verify.`)
      return
    }
    if (existing !== undefined) return // a second, conflicting proposal from the proposer: only the first counts
    this.addProposal(proposal, hash, validator.power, out)
    this.checkRules(out)
  }

  /**
   * A message for a later height: buffered when it is for height + 1; counted towards requestSync
   * when more than 1/3 of our set's power is ahead of us. Only members of our set are considered.
   */
  private onFutureMessage (message: ConsensusMessage, signer: Uint8Array, height: number, verifySignature: () => boolean, out: EngineAction[]): void {
    const validator = findValidator(this.validatorSet, signer)
    if (validator === undefined) return // may belong to a later set; nothing to judge it by yet
    const id = toHex(signer)
    const signature = message.kind === 'vote' ? message.vote.signature : message.proposal.signature
    const bufferKey = `${height}/${toHex(signature)}`
    if (this.futureKeys.has(bufferKey)) return // duplicate
    if (!verifySignature()) {
      this.reject(out, 'MSG_BAD_SIGNATURE', `The signature of validator ${id} on a message for height ${height} does not verify.`)
      return
    }
    const fromSigner = this.futurePerValidator.get(id) ?? 0
    if (height === this._height + 1 && this.futureBuffer.length < MAX_FUTURE_MESSAGES && fromSigner < MAX_FUTURE_MESSAGES_PER_VALIDATOR &&
      (message.kind === 'vote' || this.futureProposals < MAX_FUTURE_PROPOSALS)) {
      this.futureKeys.add(bufferKey)
      this.futureBuffer.push(message)
      this.futurePerValidator.set(id, fromSigner + 1)
      if (message.kind === 'proposal') this.futureProposals++
    }
    this.higherHeightSenders.set(id, validator.power)
    if (this.decided) return // we are importing our own decision; peers ahead of us are expected
    let power = 0
    for (const p of this.higherHeightSenders.values()) power += p
    if (power > this.validatorSet.totalPower / 3) this.requestSyncOnce('peersAhead', out)
  }

  /**
   * Last-commit catch-up (as CometBFT's consensus reactor): a valid, signed message for the height
   * we decided last means its signer has not seen 2f+1 of the certificate's precommits (a node at
   * height + 1 ignores height-h messages, and one validator ahead is too little for block sync).
   * Re-send the certificate's precommits — others' signatures, nothing signed here — at most once
   * per timeout the engine sees at the current height (the rate limit), and only for a member of
   * that height's validator set whose signature verifies (checked only when a re-send is due).
   */
  private onPreviousHeightMessage (signer: Uint8Array, verifySignature: () => boolean, out: EngineAction[]): void {
    const lc = this.lastCommit
    if (lc === undefined || !lc.armed) return
    if (findValidator(lc.validatorSet, signer) === undefined) return
    if (this.signer !== undefined && equalBytes(signer, this.signer.publicKey)) return // our own echo
    if (!verifySignature()) {
      this.reject(out, 'MSG_BAD_SIGNATURE', `The signature of validator ${toHex(signer)} on a message for height ${lc.height} does not verify.`)
      return
    }
    lc.armed = false
    for (const vote of lc.votes) out.push({ type: 'broadcast', message: { kind: 'vote', vote } })
  }

  private requestSyncOnce (trigger: SyncTrigger, out: EngineAction[]): void {
    if (this.syncRequested.has(trigger)) return
    this.syncRequested.add(trigger)
    out.push({ type: 'requestSync', fromHeight: this._height })
  }

  private roundState (round: number): RoundState {
    let rs = this.rounds.get(round)
    if (rs === undefined) {
      rs = {
        prevotes: new VoteSet(), precommits: new VoteSet(), senders: new Map(), prevoteTimeoutScheduled: false, precommitTimeoutScheduled: false, polkaHandled: false, rebroadcastScheduled: false, own: []
      }
      this.rounds.set(round, rs)
    }
    return rs
  }

  /** Counts a vote whose signature was checked; returns the earlier vote it conflicts with, if any. */
  private addVote (vote: Vote, power: number): Vote | undefined {
    const rs = this.roundState(vote.round)
    const keep = (key: string): boolean => key === NIL_KEY || this.blocks.has(key)
    const { conflictsWith } = (vote.type === VoteType.Prevote ? rs.prevotes : rs.precommits).add(vote, power, keep)
    if (conflictsWith === undefined) rs.senders.set(toHex(vote.validator), power)
    return conflictsWith
  }

  private addProposal (proposal: Proposal, hash: Uint8Array, power: number, out: EngineAction[]): void {
    const rs = this.roundState(proposal.round)
    const key = hashKey(hash)
    rs.proposal = { proposal, hash, key }
    rs.senders.set(toHex(proposal.proposer), power)
    this.blocks.set(key, proposal.block)
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

  /** Applies the first rule whose condition holds; false when none does. */
  private applyRulesOnce (out: EngineAction[]): boolean {
    const quorum = quorumPower(this.validatorSet.totalPower)

    // l. 49: 2f+1 precommits for a block of some round at this height → decide.
    for (const [round, rs] of [...this.rounds].sort((a, b) => a[0] - b[0])) {
      const key = rs.precommits.quorumBlock(quorum)
      if (key === undefined) continue
      const block = this.blocks.get(key)
      if (block === undefined) {
        this.requestSyncOnce('missingBlock', out) // decided by the others, but we never got the block
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
    let skipTo: number | undefined
    for (const [round, rs] of this.rounds) {
      if (round <= this._round || (skipTo !== undefined && round <= skipTo)) continue
      let power = 0
      for (const p of rs.senders.values()) power += p
      if (power > this.validatorSet.totalPower / 3) skipTo = round
    }
    if (skipTo !== undefined) {
      this.enterPropose(skipTo, out)
      return true
    }

    const rs = this.roundState(this._round)
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
        const polka = this.rounds.get(vr)
        if (polka !== undefined && polka.prevotes.powerFor(p.key) >= quorum) {
          const accept = verdict && (this.lockedRoundValue <= vr || this.lockedKey === p.key)
          this.enterPrevote(accept ? p.hash : undefined, out)
          return true
        }
      }
    }

    // l. 34: 2f+1 prevotes of any kind, first time → timeout prevote.
    if (this._step === Step.Prevote && !rs.prevoteTimeoutScheduled && rs.prevotes.totalPower() >= quorum) {
      rs.prevoteTimeoutScheduled = true
      this.scheduleTimeout(Step.Prevote, out)
      return true
    }

    // l. 36: the proposal, valid, with 2f+1 prevotes in this round, first time → lock and precommit.
    if (p !== undefined && this._step >= Step.Prevote && !rs.polkaHandled && this.validity.get(p.key) === true &&
      rs.prevotes.powerFor(p.key) >= quorum) {
      rs.polkaHandled = true
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
    if (!rs.precommitTimeoutScheduled && rs.precommits.totalPower() >= quorum) {
      rs.precommitTimeoutScheduled = true
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
    this.roundState(round)
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
   * fires in the same round it re-sends what we signed in it (identical messages, nothing new is
   * signed) and starts again. It never changes the state of the algorithm.
   */
  private startRebroadcastTimer (out: EngineAction[]): void {
    if (this.signer === undefined) return
    const rs = this.roundState(this._round)
    if (rs.rebroadcastScheduled) return
    rs.rebroadcastScheduled = true
    this.scheduleRebroadcast(out)
  }

  private scheduleRebroadcast (out: EngineAction[]): void {
    const step = this._step === Step.Precommit ? Step.Precommit : Step.Prevote
    out.push({ type: 'scheduleTimeout', height: this._height, round: this._round, step: 'rebroadcast', delayMs: timeoutDelay(this.timeouts, step, this._round) })
  }

  private rebroadcast (out: EngineAction[]): void {
    // Only what we signed ourselves, at this height: our votes of every round (in round order), as
    // a peer that restarted or was cut off may need an earlier round's votes (a polka, or f+1 for a
    // round skip); of our proposals only the latest. A proposal carries a whole block, and in a
    // stall of hours re-sending every round's proposal would send hundreds of blocks per timeout;
    // a peer that missed a decided round's proposal catches up by last-commit catch-up or block sync.
    const rounds = [...this.rounds].sort((a, b) => a[0] - b[0])
    let latestProposal: ConsensusMessage | undefined
    for (const [, rs] of rounds) for (const message of rs.own) if (message.kind === 'proposal') latestProposal = message
    for (const [, rs] of rounds) {
      for (const message of rs.own) if (message.kind === 'vote' || message === latestProposal) out.push({ type: 'broadcast', message })
    }
    this.scheduleRebroadcast(out)
  }

  /** Adds a message we signed to its round's own list, once (by signature); true when added. */
  private pushOwn (round: number, message: ConsensusMessage): boolean {
    const rs = this.roundState(round)
    const signature = message.kind === 'vote' ? message.vote.signature : message.proposal.signature
    if (rs.own.some((m) => equalBytes(m.kind === 'vote' ? m.vote.signature : m.proposal.signature, signature))) return false
    rs.own.push(message)
    return true
  }

  /** Decide (l. 49-54): hand the block and its certificate to the node, wait for blockCommitted. */
  private commit (round: number, key: string, block: Block, out: EngineAction[]): void {
    const rs = this.roundState(round)
    const signatures: CommitSignature[] = []
    const certVotes: Vote[] = []
    let hash: Uint8Array | undefined
    const votes = rs.precommits.votesFor(key)
    for (const v of this.validatorSet.validators) {
      const counted = votes.get(toHex(v.publicKey))
      if (counted === undefined) continue
      hash = counted.vote.blockHash
      signatures.push({ validator: v.publicKey, signature: counted.vote.signature })
      certVotes.push(counted.vote)
    }
    if (hash === undefined) return
    this.decided = true
    this.decidedVotes = { height: this._height, hash, votes: certVotes }
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
    this.pushOwn(this._round, message)
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
    this.pushOwn(this._round, message)
    const validator = findValidator(this.validatorSet, signer.publicKey)
    if (validator !== undefined) this.addVote(vote, validator.power)
  }
}

/** Height, round and signer of a consensus message; undefined when it is not well-formed enough to tell. */
function messagePlace (message: ConsensusMessage): { height: number, round: number, step: Step, signer: Uint8Array } | undefined {
  if (message.kind === 'vote') {
    const v = message.vote
    return { height: v.height, round: v.round, step: v.type === VoteType.Prevote ? Step.Prevote : Step.Precommit, signer: v.validator }
  }
  if (message.kind === 'proposal') return { height: message.proposal.height, round: message.proposal.round, step: Step.Propose, signer: message.proposal.proposer }
  return undefined
}
