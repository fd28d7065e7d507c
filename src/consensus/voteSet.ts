/**
 * The votes of one type (prevote or precommit) in one round at one height.
 *
 * Two ways of counting, as Algorithm 1 needs them:
 *  - "2f+1 of any kind" (timeouts, round skip) counts each validator once, by its first vote;
 *  - "2f+1 for id(v)" counts every validator that signed a vote for v, including a validator that
 *    also signed another value (an equivocator). Counting that vote is safe (two quorums for
 *    different values would still need an honest validator in both) and needed for liveness: a
 *    byzantine validator that shows one value to some peers and another to the rest would
 *    otherwise leave the honest validators with different, never-completing views of a polka
 *    (CometBFT accepts such conflicting votes for a value a peer claims has 2/3, for this reason).
 * Conflicting votes are kept only for values worth it (nil, a block we hold, or a value another
 * validator voted for), at most MAX_VALUES_PER_VALIDATOR per validator, so an equivocator cannot
 * fill memory with random hashes.
 */
import { toHex } from '../crypto/bytes.js'
import type { Vote } from '../types/vote.js'

export const NIL_KEY = 'nil'
export const MAX_VALUES_PER_VALIDATOR = 4

/** The key of a vote's value: the block hash in hex, or 'nil'. */
export function valueKey (hash: Uint8Array | undefined): string {
  return hash === undefined ? NIL_KEY : toHex(hash)
}

export interface CountedVote { vote: Vote, power: number }

export class VoteSet {
  private readonly firstVotes = new Map<string, CountedVote>()
  private readonly byValue = new Map<string, Map<string, CountedVote>>()
  private readonly valueCount = new Map<string, number>()

  /** The first vote of a validator (by hex key), the one that counts for "any". */
  first (validator: string): CountedVote | undefined {
    return this.firstVotes.get(validator)
  }

  /** True when this validator's vote for this value is already here. */
  has (validator: string, key: string): boolean {
    return this.byValue.get(key)?.has(validator) ?? false
  }

  /**
   * Adds a vote whose signature was checked. Returns the validator's earlier vote for another value
   * when this one conflicts with it (equivocation), else undefined. `keepConflicting(key)` decides
   * whether a conflicting vote is stored for its value.
   */
  add (vote: Vote, power: number, keepConflicting: (key: string) => boolean): { conflictsWith?: Vote } {
    const id = toHex(vote.validator)
    const key = valueKey(vote.blockHash)
    const first = this.firstVotes.get(id)
    if (first === undefined) {
      this.firstVotes.set(id, { vote, power })
      this.store(id, key, { vote, power })
      return {}
    }
    const count = this.valueCount.get(id) ?? 1
    if (count < MAX_VALUES_PER_VALIDATOR && (keepConflicting(key) || this.powerFor(key) > 0)) this.store(id, key, { vote, power })
    return { conflictsWith: first.vote }
  }

  private store (id: string, key: string, counted: CountedVote): void {
    let votes = this.byValue.get(key)
    if (votes === undefined) {
      votes = new Map()
      this.byValue.set(key, votes)
    }
    votes.set(id, counted)
    this.valueCount.set(id, (this.valueCount.get(id) ?? 0) + 1)
  }

  /** Power of the validators that voted at all (each once). */
  totalPower (): number {
    let sum = 0
    for (const v of this.firstVotes.values()) sum += v.power
    return sum
  }

  /** Power of the validators that signed a vote for this value. */
  powerFor (key: string): number {
    let sum = 0
    for (const v of this.byValue.get(key)?.values() ?? []) sum += v.power
    return sum
  }

  /** A block (not nil) with at least `quorum` power, if any. */
  quorumBlock (quorum: number): string | undefined {
    for (const key of this.byValue.keys()) {
      if (key !== NIL_KEY && this.powerFor(key) >= quorum) return key
    }
    return undefined
  }

  /** The votes for a value, by validator hex key. */
  votesFor (key: string): ReadonlyMap<string, CountedVote> {
    return this.byValue.get(key) ?? new Map()
  }
}
