/**
 * The interface of the BFT consensus engine: the events it takes, the actions it returns, and the
 * steps, sign-state and round timeouts they speak of.
 * The engine (engine.ts) is a pure state machine — no sockets, timers, disk or clock inside; the
 * node (or the simulator) performs the actions and feeds the results back as events.
 *
 * Protocol: Tendermint (Buchman, Kwon, Milosevic, "The latest gossip on BFT consensus", 2018,
 * Algorithm 1) over heights and rounds, proposer by round-robin (`proposerFor` in
 * src/types/validatorSet.ts), steps propose → prevote → precommit, locking on a polka.
 */
import type { Block, CommitCertificate } from '../types/block.js'
import type { ConsensusMessage } from '../types/consensusMessage.js'
import type { ValidatorSet } from '../types/validatorSet.js'
import type { Vote } from '../types/vote.js'

export const Step = { Propose: 1, Prevote: 2, Precommit: 3 } as const
export type Step = typeof Step[keyof typeof Step]

/**
 * What a validator signed last. Persisted (fsync) by the node BEFORE a signed message leaves it;
 * after a restart the engine never signs anything at an earlier (height, round, step), nor a
 * different block at the same one.
 */
export interface SignState {
  height: number
  round: number
  /** Step.Propose for a proposal, Step.Prevote / Step.Precommit for votes. */
  step: Step
  /** Block hash signed; undefined for a nil vote. */
  blockHash?: Uint8Array
}

/** Round timeouts: base + round × delta, never more than capMs. */
export interface TimeoutConfig {
  proposeMs: number
  prevoteMs: number
  precommitMs: number
  /** Added per round to each of the three. */
  deltaMs: number
  /** Upper bound of any round timeout, so a long outage never leaves hour-long timeouts behind. */
  capMs: number
  /**
   * Pause after a decision before the next height starts (the block interval); counted from the
   * decision, so the block's import is part of it.
   */
  commitMs: number
}

export const DEFAULT_TIMEOUTS: TimeoutConfig = {
  proposeMs: 1000,
  prevoteMs: 500,
  precommitMs: 500,
  deltaMs: 500,
  capMs: 10_000,
  commitMs: 1000
}

/** A round timeout: base + round × delta, never more than the cap. */
export function timeoutDelay (config: TimeoutConfig, step: Step, round: number): number {
  const base = step === Step.Propose ? config.proposeMs : step === Step.Prevote ? config.prevoteMs : config.precommitMs
  return Math.min(config.capMs, base + round * config.deltaMs)
}

/**
 * What a timeout is for: a step of the round (Algorithm 1's timeouts), 'commit' (the pause after a
 * commit before the next height starts) or 'rebroadcast' (not in Algorithm 1: while a round
 * stalls in prevote or precommit without 2f+1 votes, the engine re-sends its own messages of the
 * height every step-timeout, so that peers that were down or cut off when they were first sent get
 * them; Algorithm 1 assumes gossip that re-delivers, and a partition or a crash loses messages).
 */
export type TimeoutStep = Step | 'commit' | 'rebroadcast'

export type EngineEvent =
  /** Start (or restart) consensus at the height after the chain's head. */
  | { type: 'start' }
  /** A consensus message from the network (already decoded; the engine checks everything else). */
  | { type: 'message', message: ConsensusMessage }
  /** A timeout scheduled earlier fired. Stale ones (other height/round/step) are ignored. */
  | { type: 'timeout', height: number, round: number, step: TimeoutStep }
  /** Answer to a 'buildProposal' action. */
  | { type: 'proposalBuilt', height: number, round: number, block: Block }
  /** Answer to a 'validateBlock' action. */
  | { type: 'blockValidated', height: number, hash: Uint8Array, valid: boolean, reason?: string }
  /**
   * The chain imported a block (decided here, or received by block sync): move to height + 1
   * with the validator set for it. `sinceDecidedMs`: how long the import of a block decided here
   * took; the commit pause (`commitMs`) counts from the decision, as CometBFT's timeout_commit
   * counts from the commit time, so the import is not added to every block interval.
   */
  | { type: 'blockCommitted', height: number, hash: Uint8Array, validatorSet: ValidatorSet, timestamp: number, sinceDecidedMs?: number }

export type EngineAction =
  /**
   * Persist `signState` durably, THEN send `message` to every peer (and to ourselves). Without
   * `signState` it is a re-send of a message signed earlier (by the 'rebroadcast' timer, after a
   * restart, or others' precommits by last-commit catch-up): nothing to persist, just send.
   */
  | { type: 'broadcast', message: ConsensusMessage, signState?: SignState }
  | { type: 'scheduleTimeout', height: number, round: number, step: TimeoutStep, delayMs: number }
  /** We are the proposer: build a block for (height, round) from the mempool and answer with 'proposalBuilt'. */
  | { type: 'buildProposal', height: number, round: number }
  /** Fully validate (execute) a proposed block and answer with 'blockValidated'. */
  | { type: 'validateBlock', height: number, hash: Uint8Array, block: Block }
  /** Decided: import `block` with its commit certificate; answer with 'blockCommitted'. */
  | { type: 'commitBlock', height: number, block: Block, certificate: CommitCertificate }
  /** Peers are at a later height than our chain: fetch blocks from `fromHeight` by block sync. */
  | { type: 'requestSync', fromHeight: number }
  /** Two conflicting signed votes from one validator: submit an Evidence transaction. */
  | { type: 'evidence', voteA: Vote, voteB: Vote }
  /** A peer message was refused, with a typed reason (for peer scoring and logs). */
  | { type: 'rejected', reason: string, detail: string }
