/**
 * The application interface: what block execution (src/chain) needs of the state machine that
 * runs inside it, the built-in access-control contract (src/contracts). The chain never imports
 * the contract; the node hands it one `Application` (src/contracts: `accessControlApp`), as it
 * hands the mempool a nonce lookup. Every function is pure over the StateBackend it is given:
 * no disk, no clock but `ctx.timestamp`.
 */
import type { Genesis } from './genesis.js'
import type { Receipt } from './receipt.js'
import type { StateBackend, StateRead, TouchedKeys } from './state.js'
import type { Tx } from './tx.js'
import type { ValidatorSet } from './validatorSet.js'

export interface BlockContext {
  chainId: string
  height: number
  /** The block's timestamp (ms); the only clock the contract knows. */
  timestamp: number
  /**
   * Validators whose precommits for the previous block this block carries (its lastCommit):
   * the contract's only evidence of which validators are online. Empty at height 1.
   */
  lastCommitSigners?: readonly Uint8Array[]
}

export interface ExecContext extends BlockContext {
  txIndex: number
  txHash: Uint8Array
}

export interface Application {
  /** The next nonce of a registered sender, or undefined when the key is not a registered identity. */
  getSenderNonce: (state: StateBackend, publicKey: Uint8Array) => number | undefined
  /** Stores a sender's next nonce (once per block, after its last transaction). */
  setSenderNonce: (state: StateBackend, publicKey: Uint8Array, nonce: number) => void
  /** Runs one includable transaction; a refusal is a receipt with a non-OK code, never a throw. */
  executeTx: (state: StateBackend, tx: Tx, ctx: ExecContext) => Receipt
  /** Applies what is due at the end of a block (validator-set changes for the next height). */
  endBlock: (state: StateBackend, ctx: BlockContext) => void
  /** The validator set the state holds for the next height. */
  getValidatorSet: (state: StateBackend) => ValidatorSet
  /** Writes the genesis state (hospitals, validators) into an empty state. */
  initGenesisState: (state: StateBackend, genesis: Genesis) => void
  /**
   * The state keys executing `txs` as one block may read (the sender checks, every transaction,
   * `endBlock` and `getValidatorSet`), given the values loaded so far; incomplete while a key
   * depends on a value not loaded yet. `loadTouchedKeys` (state.ts) runs it to its fixed point,
   * and the block then executes against a StrictState over what it loaded. Optional: an
   * application without it can only run over a state that holds every value.
   */
  touchedKeys?: (txs: readonly Tx[], ctx: BlockContext, read: StateRead) => TouchedKeys
}
