/**
 * Re-sending messages already signed to peers that missed them; nothing here signs anything.
 *  - `OwnMessages`: what this validator signed at the current height, per round, re-sent by the
 *    engine's 'rebroadcast' timer, and after a restart once on 'start' (`EngineOptions.ownMessages`,
 *    the node's small WAL, wal.ts);
 *  - `LastCommitCatchUp`: the certificate precommits of the height this engine decided last,
 *    re-sent to a validator still at that height.
 */
import { findValidator, type ValidatorSet } from '../types/validatorSet.js'
import { equalBytes, toHex } from '../crypto/bytes.js'
import type { ConsensusMessage } from '../types/consensusMessage.js'
import { VoteType, type Vote } from '../types/vote.js'
import { reject } from './admission.js'
import { compareSignPosition } from './signState.js'
import { Step, type EngineAction, type SignState } from './types.js'

/** Height, round and signer of a consensus message; undefined when it is not well-formed enough to tell. */
function messagePlace (message: ConsensusMessage): { height: number, round: number, step: Step, signer: Uint8Array } | undefined {
  if (message.kind === 'vote') {
    const v = message.vote
    return { height: v.height, round: v.round, step: v.type === VoteType.Prevote ? Step.Prevote : Step.Precommit, signer: v.validator }
  }
  if (message.kind === 'proposal') return { height: message.proposal.height, round: message.proposal.round, step: Step.Propose, signer: message.proposal.proposer }
  return undefined
}

/**
 * What this validator signed at one height, per round (identical messages are re-sent, nothing is
 * signed anew), and which rounds have their 'rebroadcast' timer running.
 */
export class OwnMessages {
  private readonly byRound = new Map<number, ConsensusMessage[]>()
  private readonly timerRounds = new Set<number>()
  /** Own messages restored from the node's disk at start (`restore`), re-sent once on 'start'. */
  private restored: ConsensusMessage[] = []

  /** Adds a message we signed to its round's list, once (by signature); true when added. */
  add (round: number, message: ConsensusMessage): boolean {
    let own = this.byRound.get(round)
    if (own === undefined) {
      own = []
      this.byRound.set(round, own)
    }
    const signature = message.kind === 'vote' ? message.vote.signature : message.proposal.signature
    if (own.some((m) => equalBytes(m.kind === 'vote' ? m.vote.signature : m.proposal.signature, signature))) return false
    own.push(message)
    return true
  }

  /**
   * After a restart: keeps those of `messages` that `signer` signed at `height`, no further than the
   * sign-state `s` (it is persisted first, so a message beyond it would not be covered by it), each
   * in its round's list and for `resendRestored`. Others (other heights, other signers) are ignored.
   */
  restore (messages: readonly ConsensusMessage[], signer: Uint8Array | undefined, height: number, s: SignState | undefined): void {
    for (const message of messages) {
      const m = messagePlace(message)
      if (signer === undefined || m === undefined || m.height !== height || !equalBytes(m.signer, signer)) continue
      if (s === undefined || compareSignPosition({ height: m.height, round: m.round, step: m.step }, s) > 0) continue
      if (this.add(m.round, message)) this.restored.push(message)
    }
  }

  /**
   * Once, on the first start at the height: every restored message, in round order, except the
   * vote at the sign-state's own position, which the engine re-signs (identically) as it resumes
   * there. They come back to us too (a broadcast reaches ourselves), so our own votes count again.
   * Nothing is sent while signing is `paused`, and the restored messages are dropped either way.
   */
  resendRestored (s: SignState | undefined, height: number, paused: boolean, out: EngineAction[]): void {
    const restored = this.restored
    this.restored = []
    if (paused) return
    const sorted = restored.map((message, i) => ({ message, i, place: messagePlace(message) }))
      .sort((a, b) => ((a.place?.round ?? 0) - (b.place?.round ?? 0)) || (a.i - b.i))
    for (const { message, place } of sorted) {
      if (place === undefined || place.height !== height) continue
      const resumedHere = s !== undefined && s.height === height && s.step !== Step.Propose && message.kind === 'vote' &&
        s.round === place.round && s.step === (message.vote.type === VoteType.Prevote ? Step.Prevote : Step.Precommit)
      if (!resumedHere) out.push({ type: 'broadcast', message })
    }
  }

  /** Marks the round's 'rebroadcast' timer as running; false when it already was. */
  startTimer (round: number): boolean {
    if (this.timerRounds.has(round)) return false
    this.timerRounds.add(round)
    return true
  }

  /**
   * One re-send: our votes of every round (in round order), as a peer that restarted or was cut
   * off may need an earlier round's votes (a polka, or f+1 for a round skip); of our proposals only
   * the latest. A proposal carries a whole block, and in a stall of hours re-sending every round's
   * proposal would send hundreds of blocks per timeout; a peer that missed a decided round's
   * proposal catches up by last-commit catch-up or block sync.
   */
  rebroadcast (out: EngineAction[]): void {
    const rounds = [...this.byRound].sort((a, b) => a[0] - b[0])
    let latestProposal: ConsensusMessage | undefined
    for (const [, own] of rounds) for (const message of own) if (message.kind === 'proposal') latestProposal = message
    for (const [, own] of rounds) {
      for (const message of own) if (message.kind === 'vote' || message === latestProposal) out.push({ type: 'broadcast', message })
    }
  }
}

/**
 * The last height this engine decided itself: its certificate's precommits and the validator set
 * that signed them.
 */
interface LastCommit {
  height: number
  validatorSet: ValidatorSet
  votes: Vote[]
  /** A re-send is allowed (re-armed by every timeout at the current height: the rate limit). */
  armed: boolean
}

/**
 * Last-commit catch-up (as CometBFT's consensus reactor): a valid, signed message for the height
 * we decided last means its signer has not seen 2f+1 of the certificate's precommits (a node at
 * height + 1 ignores height-h messages, and one validator ahead is too little for block sync).
 * The certificate's precommits — others' signatures, nothing signed here — are re-sent at most once
 * per timeout the engine sees at the current height (the rate limit), and only to a member of that
 * height's validator set whose signature verifies (checked only when a re-send is due).
 */
export class LastCommitCatchUp {
  /** The certificate precommits of the block decided here (set by `decided`, until it is imported). */
  private decidedVotes: { height: number, hash: Uint8Array, votes: Vote[] } | undefined
  /** The certificate of height − 1 when this engine decided it. */
  private lastCommit: LastCommit | undefined

  /** The engine decided block `hash` at `height` with these certificate precommits. */
  decided (height: number, hash: Uint8Array, votes: Vote[]): void {
    this.decidedVotes = { height, hash, votes }
  }

  /**
   * The chain imported block `height` with `hash` while the engine was at `engineHeight` with
   * `validatorSet`: keeps its certificate when it is the block decided here, else none.
   */
  imported (height: number, hash: Uint8Array, engineHeight: number, validatorSet: ValidatorSet): void {
    const decided = this.decidedVotes
    this.lastCommit = decided !== undefined && decided.height === height && height === engineHeight && equalBytes(decided.hash, hash)
      ? { height, validatorSet, votes: decided.votes, armed: true }
      : undefined
    this.decidedVotes = undefined
  }

  /** The height whose certificate can be re-sent, if any. */
  get height (): number | undefined {
    return this.lastCommit?.height
  }

  /** A timeout fired at the current height: one more re-send is allowed. */
  arm (): void {
    if (this.lastCommit !== undefined) this.lastCommit.armed = true
  }

  /**
   * A message for the certificate's height from `signer`: re-sends the certificate when one is
   * due, `signer` is a member of that height's set other than ourselves (`ownKey`) and its
   * signature verifies.
   */
  answer (signer: Uint8Array, verifySignature: () => boolean, ownKey: Uint8Array | undefined, out: EngineAction[]): void {
    const lc = this.lastCommit
    if (lc === undefined || !lc.armed) return
    if (findValidator(lc.validatorSet, signer) === undefined) return
    if (ownKey !== undefined && equalBytes(signer, ownKey)) return // our own echo
    if (!verifySignature()) {
      reject(out, 'MSG_BAD_SIGNATURE', `The signature of validator ${toHex(signer)} on a message for height ${lc.height} does not verify.`)
      return
    }
    lc.armed = false
    for (const vote of lc.votes) out.push({ type: 'broadcast', message: { kind: 'vote', vote } })
  }
}
