/**
 * The error codes of transaction and block validity (TX_*, BLOCK_*: a transaction or block that
 * cannot be included, as opposed to a contract refusal, which is a receipt) and of the chain's
 * store (STORE_*). Thrown by the formats here and by src/chain as `ChainError`.
 */
import { MedchainError } from '../util/errors.js'

export type ChainErrorType =
  | { code: 'TX_TOO_LARGE', size: number, limit: number }
  | { code: 'TX_BAD_VERSION', version: number }
  | { code: 'TX_WRONG_CHAIN', chainId: string }
  | { code: 'TX_UNKNOWN_TYPE', type: number }
  | { code: 'TX_BAD_SIGNATURE' }
  | { code: 'TX_UNKNOWN_SENDER' }
  | { code: 'TX_NONCE_TOO_LOW', expected: number, got: number }
  | { code: 'TX_NONCE_TOO_HIGH', expected: number, got: number }
  | { code: 'TX_DUPLICATE' }
  | { code: 'BLOCK_TOO_LARGE', size: number, limit: number }
  | { code: 'BLOCK_TOO_MANY_TXS', count: number, limit: number }
  | { code: 'BLOCK_BAD_VERSION', version: number }
  | { code: 'BLOCK_WRONG_CHAIN', chainId: string }
  | { code: 'BLOCK_BAD_HEIGHT', expected: number, got: number }
  | { code: 'BLOCK_BAD_PREV_HASH' }
  | { code: 'BLOCK_BAD_TIMESTAMP', reason: string }
  | { code: 'BLOCK_BAD_TX_ROOT' }
  | { code: 'BLOCK_BAD_STATE_ROOT' }
  | { code: 'BLOCK_BAD_RESULTS_ROOT' }
  | { code: 'BLOCK_BAD_VALIDATORS_HASH' }
  | { code: 'BLOCK_BAD_NEXT_VALIDATORS_HASH' }
  | { code: 'BLOCK_BAD_PROPOSER' }
  | { code: 'BLOCK_BAD_LAST_COMMIT', reason: string }
  | { code: 'BLOCK_DUPLICATE_TX', index: number }
  | { code: 'BLOCK_INVALID_TX', index: number, txCode: string, reason: string }
  | { code: 'STORE_GENESIS_MISMATCH' }
  | { code: 'STORE_STATE_MISMATCH', height: number }
  | { code: 'STORE_CORRUPT', reason: string }
  | { code: 'STORE_CLOSED' }

export class ChainError extends MedchainError<ChainErrorType> {}
