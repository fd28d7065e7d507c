/**
 * Admission of peer messages: the checks a consensus message passes before the engine acts on it
 * (chain, height, round, shape, membership, proposer, duplicates, signature), each failure giving
 * one 'rejected' action with a ConsensusError code as reason; and the bounded buffer of verified
 * messages for the next height, replayed by the engine when it gets there.
 */
import { blockHash as computeBlockHash } from '../types/block.js'
import { findValidator, proposerFor, type ValidatorSet } from '../types/validatorSet.js'
import { equalBytes, toHex } from '../crypto/bytes.js'
import { HASH_LENGTH } from '../crypto/hash.js'
import type { ConsensusErrorCode } from '../types/consensusErrors.js'
import { verifyProposalSignature, type ConsensusMessage, type Proposal } from '../types/consensusMessage.js'
import { verifyVoteSignature, VoteType, type Vote } from '../types/vote.js'
import type { EngineAction } from './types.js'
import type { HeightVotes } from './heightVotes.js'

/** Rounds further ahead of the current one than this are refused (MSG_BAD_ROUND). */
export const MAX_ROUND_AHEAD = 1000
/** Bound of the buffer of messages for the next height (replayed when we reach it). */
export const MAX_FUTURE_MESSAGES = 1024
/** Of which at most this many proposals (they carry whole blocks). */
export const MAX_FUTURE_PROPOSALS = 4
/** And at most this many from one validator, so one member cannot fill the buffer. */
export const MAX_FUTURE_MESSAGES_PER_VALIDATOR = 64

/** The engine's position and what it has counted, as the checks need them. */
export interface AdmissionView {
  height: number
  round: number
  validatorSet: ValidatorSet
  votes: HeightVotes
  /** The height whose certificate last-commit catch-up can re-send (height − 1), if any. */
  catchUpHeight: number | undefined
}

/** A message that passed admission; what the engine does with it depends on its height. */
export type Admitted =
  /** At the current height, from a member, signature checked, not counted before: count it. */
  | { place: 'current', kind: 'vote', vote: Vote, power: number }
  /** At the current height, from the round's proposer, signature checked, the round's first proposal. */
  | { place: 'current', kind: 'proposal', proposal: Proposal, hash: Uint8Array, power: number }
  /**
   * At a later height, from a member of our set (by hex key, with its power), signature checked;
   * already buffered when it is for height + 1 and there was room.
   */
  | { place: 'future', validator: string, power: number }
  /**
   * At the height decided last, for last-commit catch-up. The signature is not checked yet
   * (`verifySignature`), since it only matters when a re-send is due.
   */
  | { place: 'previous', signer: Uint8Array, verifySignature: () => boolean }

function isRound (n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff
}

/** Refuses a peer message: one 'rejected' action with a ConsensusError code as reason. */
export function reject (out: EngineAction[], reason: ConsensusErrorCode, detail: string): void {
  out.push({ type: 'rejected', reason, detail })
}

export class Admission {
  private futureBuffer: ConsensusMessage[] = []
  private futureKeys = new Set<string>()
  private futureProposals = 0
  private futurePerValidator = new Map<string, number>()

  constructor (private readonly chainId: string) {}

  /**
   * Checks a peer message against the engine's position `at`. Returns what passed, or undefined
   * when the message is refused (a 'rejected' action in `out`) or silently dropped (stale, a
   * duplicate, a second proposal of a round, or for a later height from a non-member).
   */
  admit (message: ConsensusMessage, at: AdmissionView, out: EngineAction[]): Admitted | undefined {
    switch (message.kind) {
      case 'proposal': return this.admitProposal(message.proposal, at, out)
      case 'vote': return this.admitVote(message.vote, at, out)
      default:
        reject(out, 'MSG_UNKNOWN_KIND', `Unknown consensus message kind ${String((message as { kind: unknown }).kind)}.`)
        return undefined
    }
  }

  /** The buffered messages for the next height, in arrival order; empties the buffer. */
  takeBuffered (): ConsensusMessage[] {
    const buffered = this.futureBuffer
    this.futureBuffer = []
    this.futureKeys = new Set()
    this.futureProposals = 0
    this.futurePerValidator = new Map()
    return buffered
  }

  /** Checks shared by votes and proposals: 'current' height, 'future' height, 'previous' (catch-up), or 'drop' (stale or refused). */
  private checkPlace (chainId: string, height: number, round: number, at: AdmissionView, out: EngineAction[]): 'current' | 'future' | 'previous' | 'drop' {
    if (chainId !== this.chainId) {
      reject(out, 'MSG_WRONG_CHAIN', `The message is for chain "${String(chainId)}", not "${this.chainId}".`)
      return 'drop'
    }
    if (typeof height !== 'number' || !Number.isSafeInteger(height) || height < 0) {
      reject(out, 'MSG_MALFORMED', 'The message height is not a non-negative integer.')
      return 'drop'
    }
    if (!isRound(round)) {
      reject(out, 'MSG_BAD_ROUND', 'The message round is not a 32-bit unsigned integer.')
      return 'drop'
    }
    if (height < at.height) {
      // stale: silently ignored, except that a peer still at the height we just decided gets its certificate
      return height === at.height - 1 && at.catchUpHeight === height ? 'previous' : 'drop'
    }
    const current = height === at.height ? at.round : 0
    if (round > current + MAX_ROUND_AHEAD) {
      reject(out, 'MSG_BAD_ROUND', `Round ${round} is more than ${MAX_ROUND_AHEAD} rounds ahead of round ${current}.`)
      return 'drop'
    }
    return height === at.height ? 'current' : 'future'
  }

  private admitVote (vote: Vote, at: AdmissionView, out: EngineAction[]): Admitted | undefined {
    const place = this.checkPlace(vote.chainId, vote.height, vote.round, at, out)
    if (place === 'drop') return undefined
    if (place === 'previous') return { place, signer: vote.validator, verifySignature: () => verifyVoteSignature(vote) }
    if (vote.type !== VoteType.Prevote && vote.type !== VoteType.Precommit) {
      reject(out, 'MSG_MALFORMED', 'The vote type is neither prevote nor precommit.')
      return undefined
    }
    if (vote.blockHash !== undefined && vote.blockHash.length !== HASH_LENGTH) {
      reject(out, 'MSG_MALFORMED', `The vote's block hash is ${vote.blockHash.length} bytes, not ${HASH_LENGTH}.`)
      return undefined
    }
    if (place === 'future') {
      return this.admitFuture({ kind: 'vote', vote }, vote.validator, vote.height, () => verifyVoteSignature(vote), at, out)
    }
    const validator = findValidator(at.validatorSet, vote.validator)
    const id = toHex(vote.validator)
    if (validator === undefined) {
      reject(out, 'MSG_NOT_VALIDATOR', `Validator ${id} is not in the validator set of height ${at.height}.`)
      return undefined
    }
    if (at.votes.hasVote(vote, id)) return undefined // duplicate
    if (!verifyVoteSignature(vote)) {
      reject(out, 'MSG_BAD_SIGNATURE', `The vote signature of validator ${id} does not verify.`)
      return undefined
    }
    return { place, kind: 'vote', vote, power: validator.power }
  }

  private admitProposal (proposal: Proposal, at: AdmissionView, out: EngineAction[]): Admitted | undefined {
    const place = this.checkPlace(proposal.chainId, proposal.height, proposal.round, at, out)
    if (place === 'drop') return undefined
    if (place === 'previous') return { place, signer: proposal.proposer, verifySignature: () => verifyProposalSignature(proposal) }
    if (!Number.isInteger(proposal.polRound) || proposal.polRound < -1 || proposal.polRound >= proposal.round) {
      reject(out, 'MSG_BAD_POL_ROUND', `The proof-of-lock round ${proposal.polRound} is not in [-1, ${proposal.round}).`)
      return undefined
    }
    const header = proposal.block.header
    if (header.height !== proposal.height) {
      reject(out, 'MSG_BAD_BLOCK', `The proposed block has height ${header.height}, the proposal ${proposal.height}.`)
      return undefined
    }
    if (header.chainId !== this.chainId) {
      reject(out, 'MSG_BAD_BLOCK', `The proposed block is for chain "${header.chainId}".`)
      return undefined
    }
    const hash = computeBlockHash(header)
    if (place === 'future') {
      return this.admitFuture({ kind: 'proposal', proposal }, proposal.proposer, proposal.height, () => verifyProposalSignature(proposal, hash), at, out)
    }
    const id = toHex(proposal.proposer)
    const validator = findValidator(at.validatorSet, proposal.proposer)
    if (validator === undefined) {
      reject(out, 'MSG_NOT_VALIDATOR', `Proposer ${id} is not in the validator set of height ${at.height}.`)
      return undefined
    }
    const expected = proposerFor(at.validatorSet, at.height, proposal.round)
    if (!equalBytes(expected.publicKey, proposal.proposer)) {
      reject(out, 'MSG_NOT_PROPOSER', `Validator ${id} is not the proposer of round ${proposal.round}; ${toHex(expected.publicKey)} is.`)
      return undefined
    }
    const existing = at.votes.get(proposal.round)?.proposal
    if (existing !== undefined && equalBytes(existing.hash, hash) && existing.proposal.polRound === proposal.polRound) return undefined // duplicate
    if (!verifyProposalSignature(proposal, hash)) {
      reject(out, 'MSG_BAD_SIGNATURE', `The proposal signature of ${id} does not verify.`)
      return undefined
    }
    if (existing !== undefined) return undefined // a second, conflicting proposal from the proposer: only the first counts
    return { place, kind: 'proposal', proposal, hash, power: validator.power }
  }

  /**
   * A message for a later height, from a member of our set (others may belong to a later set;
   * there is nothing to judge them by yet): buffered when it is for height + 1 and within the
   * bounds above.
   */
  private admitFuture (message: ConsensusMessage, signer: Uint8Array, height: number, verifySignature: () => boolean, at: AdmissionView, out: EngineAction[]): Admitted | undefined {
    const validator = findValidator(at.validatorSet, signer)
    if (validator === undefined) return undefined
    const id = toHex(signer)
    const signature = message.kind === 'vote' ? message.vote.signature : message.proposal.signature
    const bufferKey = `${height}/${toHex(signature)}`
    if (this.futureKeys.has(bufferKey)) return undefined // duplicate
    if (!verifySignature()) {
      reject(out, 'MSG_BAD_SIGNATURE', `The signature of validator ${id} on a message for height ${height} does not verify.`)
      return undefined
    }
    const fromSigner = this.futurePerValidator.get(id) ?? 0
    if (height === at.height + 1 && this.futureBuffer.length < MAX_FUTURE_MESSAGES && fromSigner < MAX_FUTURE_MESSAGES_PER_VALIDATOR &&
      (message.kind === 'vote' || this.futureProposals < MAX_FUTURE_PROPOSALS)) {
      this.futureKeys.add(bufferKey)
      this.futureBuffer.push(message)
      this.futurePerValidator.set(id, fromSigner + 1)
      if (message.kind === 'proposal') this.futureProposals++
    }
    return { place: 'future', validator: id, power: validator.power }
  }
}
