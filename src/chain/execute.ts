/**
 * Block execution: the state transition of one block over a StateBackend, running each transaction
 * through the Application the chain was opened with (the contract). Pure: no disk, no clock.
 *
 * Per transaction: the sender must be a registered identity and the nonce must be exactly the
 * sender's next nonce — otherwise the transaction is not includable at all (the block is invalid,
 * or the proposer skips it). An includable transaction always bumps the nonce and gets a receipt,
 * even when the contract refuses it (so refused attempts are on the audit trail). After the last
 * transaction `endBlock` applies validator-set changes due at the next height.
 */
import { byteKey } from '../crypto/bytes.js'
import type { Application, BlockContext } from '../types/application.js'
import { ChainError } from '../types/errors.js'
import type { Receipt } from '../types/receipt.js'
import type { StateBackend } from '../types/state.js'
import type { Tx } from '../types/tx.js'
import type { ValidatorSet } from '../types/validatorSet.js'

export interface ExecutionOutput {
  /** The transactions executed, in order (all of them in 'reject-block' mode). */
  included: Tx[]
  receipts: Receipt[]
  /** Transactions left out in 'skip-tx' mode, with the reason. */
  skipped: Array<{ tx: Tx, error: ChainError }>
  /** The validator set for the next height, after endBlock. */
  nextValidatorSet: ValidatorSet
}

export interface ExecuteOptions {
  /** 'reject-block' (validating a received block) throws on the first non-includable tx;
   *  'skip-tx' (building a proposal) leaves it out. */
  onInvalidTx: 'reject-block' | 'skip-tx'
}

/**
 * The stateful includability check of one transaction: registered sender, exact next nonce.
 * `pendingNonce` is the sender's next nonce after its earlier transactions in the same block.
 */
export function checkSenderAndNonce (app: Application, state: StateBackend, tx: Tx, pendingNonce?: number): number {
  const nonce = pendingNonce ?? app.getSenderNonce(state, tx.from)
  if (nonce === undefined) {
    throw new ChainError({ code: 'TX_UNKNOWN_SENDER' }, 'The sender is not a registered identity; ask a hospital or clinician to register the key first.')
  }
  if (tx.nonce < nonce) throw new ChainError({ code: 'TX_NONCE_TOO_LOW', expected: nonce, got: tx.nonce }, `Nonce ${tx.nonce} was already used; the sender's next nonce is ${nonce}.`)
  if (tx.nonce > nonce) throw new ChainError({ code: 'TX_NONCE_TOO_HIGH', expected: nonce, got: tx.nonce }, `Nonce ${tx.nonce} is ahead of the sender's next nonce ${nonce}.`)
  return nonce
}

export function executeBlockTxs (app: Application, state: StateBackend, txs: readonly Tx[], ctx: BlockContext, opts: ExecuteOptions): ExecutionOutput {
  const included: Tx[] = []
  const receipts: Receipt[] = []
  const skipped: Array<{ tx: Tx, error: ChainError }> = []
  // each sender's next nonce, written into its stored identity once after the last transaction
  // (the contract never reads an identity's nonce, so its stored copy may lag until then)
  const nextNonces = new Map<string, { sender: Uint8Array, next: number }>()
  for (let i = 0; i < txs.length; i++) {
    const tx = txs[i] as Tx
    const senderKey = byteKey(tx.from)
    const pending = nextNonces.get(senderKey)
    let nonce: number
    try {
      nonce = checkSenderAndNonce(app, state, tx, pending?.next)
    } catch (err) {
      if (!(err instanceof ChainError)) throw err
      if (opts.onInvalidTx === 'skip-tx') { skipped.push({ tx, error: err }); continue }
      throw new ChainError({ code: 'BLOCK_INVALID_TX', index: i, txCode: err.code, reason: err.message }, `Transaction ${i} cannot be included: ${err.message}`)
    }
    if (pending === undefined) nextNonces.set(senderKey, { sender: tx.from, next: nonce + 1 })
    else pending.next = nonce + 1
    receipts.push(app.executeTx(state, tx, { ...ctx, txIndex: included.length, txHash: tx.hash }))
    included.push(tx)
  }
  for (const { sender, next } of nextNonces.values()) app.setSenderNonce(state, sender, next)
  app.endBlock(state, ctx)
  return { included, receipts, skipped, nextValidatorSet: app.getValidatorSet(state) }
}
