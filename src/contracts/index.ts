/**
 * The native access-control module ("the contract"): the public entry points that block execution
 * calls. PLACEHOLDER SIGNATURES — implemented by the contracts work package.
 */
import type { Genesis } from '../chain/genesis.js'
import type { Receipt } from '../chain/receipt.js'
import type { StateBackend } from '../chain/state.js'
import type { Tx } from '../chain/tx.js'
import type { ValidatorSet } from '../chain/validatorSet.js'

export interface BlockContext {
  chainId: string
  height: number
  /** The block's timestamp (ms); the only clock the contract knows. */
  timestamp: number
}

export interface ExecContext extends BlockContext {
  txIndex: number
  txHash: Uint8Array
}

export declare function getSenderNonce (state: StateBackend, publicKey: Uint8Array): number | undefined
export declare function setSenderNonce (state: StateBackend, publicKey: Uint8Array, nonce: number): void
export declare function executeTx (state: StateBackend, tx: Tx, ctx: ExecContext): Receipt
export declare function endBlock (state: StateBackend, ctx: BlockContext): void
export declare function getValidatorSet (state: StateBackend): ValidatorSet
export declare function initGenesisState (state: StateBackend, genesis: Genesis): void
