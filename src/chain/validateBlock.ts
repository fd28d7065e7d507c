/**
 * Stateful block checks that need no execution: does this block extend our head, with the
 * right time, validator set, proposer and last commit? Pure: the chain's view and the clock are
 * arguments. Execution-dependent checks (state and results roots, next validators) follow in
 * importBlock once the transactions ran.
 */
import { equalBytes } from '../crypto/bytes.js'
import { verifyCommit, CommitError } from '../types/commit.js'
import { EMPTY_COMMIT, type Block, type BlockHeader } from '../types/block.js'
import { ChainError } from '../types/errors.js'
import { findValidator, validatorSetHash, type ValidatorSet } from '../types/validatorSet.js'

/** What validateBlock needs to know about the chain: the head and the sets around it. */
export interface ChainView {
  chainId: string
  /** Height and hash of the last imported block (0 and zero hash at genesis). */
  headHeight: number
  headHash: Uint8Array
  /** Timestamp of the head block, or the genesis time. */
  headTimestamp: number
  /** The set that validates the next block. */
  validatorSet: ValidatorSet
  /** The set that validated the head block (whose precommits form the next block's lastCommit). */
  headValidatorSet: ValidatorSet
}

export interface ValidateBlockOptions {
  /** How far ahead of `now` a block timestamp may be (clock drift between hospitals). */
  maxClockDriftMs: number
}

export function validateBlock (view: ChainView, block: Block, now: number, opts: ValidateBlockOptions): void {
  const h: BlockHeader = block.header
  const expected = view.headHeight + 1
  if (h.height !== expected) throw new ChainError({ code: 'BLOCK_BAD_HEIGHT', expected, got: h.height }, `The block is at height ${h.height}, but the next height is ${expected}.`)
  if (!equalBytes(h.prevHash, view.headHash)) throw new ChainError({ code: 'BLOCK_BAD_PREV_HASH' }, 'The block does not extend this node\'s head (prevHash differs).')
  if (h.timestamp <= view.headTimestamp) throw new ChainError({ code: 'BLOCK_BAD_TIMESTAMP', reason: 'not after the previous block' }, 'The block timestamp is not later than the previous block\'s.')
  if (h.timestamp > now + opts.maxClockDriftMs) throw new ChainError({ code: 'BLOCK_BAD_TIMESTAMP', reason: 'in the future' }, `The block timestamp is more than ${opts.maxClockDriftMs} ms ahead of this node's clock; check the clocks (NTP).`)
  if (!equalBytes(h.validatorsHash, validatorSetHash(view.chainId, view.validatorSet))) throw new ChainError({ code: 'BLOCK_BAD_VALIDATORS_HASH' }, 'The block names a validator set other than the one in force at its height.')
  if (findValidator(view.validatorSet, h.proposer) === undefined) throw new ChainError({ code: 'BLOCK_BAD_PROPOSER' }, 'The block proposer is not a validator at this height.')
  if (h.height === 1) {
    if (block.lastCommit.signatures.length !== 0 || block.lastCommit.height !== EMPTY_COMMIT.height || block.lastCommit.blockHash.length !== 0) {
      throw new ChainError({ code: 'BLOCK_BAD_LAST_COMMIT', reason: 'block 1 must carry the empty commit' }, 'Block 1 must carry the empty last commit.')
    }
    return
  }
  try {
    verifyCommit(view.chainId, view.headValidatorSet, view.headHash, view.headHeight, block.lastCommit)
  } catch (err) {
    if (err instanceof CommitError) throw new ChainError({ code: 'BLOCK_BAD_LAST_COMMIT', reason: err.code }, `The block's last commit is invalid: ${err.message}`)
    throw err
  }
}
