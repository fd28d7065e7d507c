/**
 * What the engine has counted at one height, across its rounds: per round the proposal, the
 * prevotes and the precommits (voteSet.ts) and the power of every validator heard from; the blocks
 * of the proposals; and which equivocations were already reported. It answers the counting
 * questions of Algorithm 1 (a quorum of precommits for a block, f+1 power in a later round); what
 * to do about the answers is the engine's.
 */
import type { Block } from '../types/block.js'
import type { Proposal } from '../types/consensusMessage.js'
import { toHex } from '../crypto/bytes.js'
import { VoteType, type Vote } from '../types/vote.js'
import { NIL_KEY, valueKey, VoteSet } from './voteSet.js'

/** A proposal counted in its round, with its block hash and that hash's key (`valueKey`). */
export interface ProposalEntry { proposal: Proposal, hash: Uint8Array, key: string }

/** What one round of the height has counted. */
export interface RoundVotes {
  proposal?: ProposalEntry
  prevotes: VoteSet
  precommits: VoteSet
  /** Every validator that sent any valid message for this round, with its power (round skip). */
  senders: Map<string, number>
}

export class HeightVotes {
  private readonly rounds = new Map<number, RoundVotes>()
  /** Blocks of the proposals counted at this height, by block hash hex. */
  private readonly blocks = new Map<string, Block>()
  /** (validator, round, type) already reported as equivocating. */
  private readonly reported = new Set<string>()

  /** The round's record, created empty when missing (an empty round counts for nothing). */
  round (round: number): RoundVotes {
    let rs = this.rounds.get(round)
    if (rs === undefined) {
      rs = { prevotes: new VoteSet(), precommits: new VoteSet(), senders: new Map() }
      this.rounds.set(round, rs)
    }
    return rs
  }

  /** The round's record; undefined when nothing ever touched that round. */
  get (round: number): RoundVotes | undefined {
    return this.rounds.get(round)
  }

  /** The block with this hash key, if a proposal brought it (or the engine added it). */
  block (key: string): Block | undefined {
    return this.blocks.get(key)
  }

  /** Every block held at this height, in the order they came. */
  allBlocks (): IterableIterator<Block> {
    return this.blocks.values()
  }

  /** Holds a block (a proposal's, or the one a restart found under the sign-state). */
  addBlock (key: string, block: Block): void {
    this.blocks.set(key, block)
  }

  /** True when this very vote (validator, round, type, value) is already counted. */
  hasVote (vote: Vote, validator: string): boolean {
    const key = valueKey(vote.blockHash)
    return this.rounds.get(vote.round)?.[vote.type === VoteType.Prevote ? 'prevotes' : 'precommits'].has(validator, key) === true
  }

  /** Counts a vote whose signature was checked; returns the earlier vote it conflicts with, if any. */
  addVote (vote: Vote, power: number): Vote | undefined {
    const rs = this.round(vote.round)
    const keep = (key: string): boolean => key === NIL_KEY || this.blocks.has(key)
    const { conflictsWith } = (vote.type === VoteType.Prevote ? rs.prevotes : rs.precommits).add(vote, power, keep)
    if (conflictsWith === undefined) rs.senders.set(toHex(vote.validator), power)
    return conflictsWith
  }

  /**
   * True the first time an equivocation of this vote's validator in its round and type is
   * reported, false after: one 'evidence' action per (validator, round, type).
   */
  firstReport (vote: Vote): boolean {
    const key = `${toHex(vote.validator)}/${vote.round}/${vote.type}`
    if (this.reported.has(key)) return false
    this.reported.add(key)
    return true
  }

  /** Counts the proposal of its round (signature checked) and holds its block. */
  addProposal (proposal: Proposal, hash: Uint8Array, power: number): void {
    const rs = this.round(proposal.round)
    const key = valueKey(hash)
    rs.proposal = { proposal, hash, key }
    rs.senders.set(toHex(proposal.proposer), power)
    this.blocks.set(key, proposal.block)
  }

  /** Rounds with precommits of at least `quorum` power for one block, in round order, with that block's key. */
  * precommitQuorums (quorum: number): Generator<{ round: number, key: string }> {
    for (const [round, rs] of [...this.rounds].sort((a, b) => a[0] - b[0])) {
      const key = rs.precommits.quorumBlock(quorum)
      if (key !== undefined) yield { round, key }
    }
  }

  /** The highest round above `current` whose senders hold more than 1/3 of `totalPower` (f+1), if any. */
  roundToSkipTo (current: number, totalPower: number): number | undefined {
    let skipTo: number | undefined
    for (const [round, rs] of this.rounds) {
      if (round <= current || (skipTo !== undefined && round <= skipTo)) continue
      let power = 0
      for (const p of rs.senders.values()) power += p
      if (power > totalPower / 3) skipTo = round
    }
    return skipTo
  }
}
