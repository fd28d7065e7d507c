/**
 * The inputs every contract command receives, and the shape of a command's verdict.
 *
 * A command is a pair of functions over the typed state view (see stateView.ts):
 *  - `verifyX(view, tx, ctx, sender)` only reads, and returns `refuse(code)` or `ok(plan)`, where
 *    `plan` carries what it already looked up so that execution does not look it up again;
 *  - `executeX(view, tx, ctx, sender, plan)` writes, and is only called after `verifyX` said ok,
 *    so a refused transaction never writes anything (only its audit entry is appended).
 * Both are pure: the only clock is `ctx.timestamp`, the block's agreed time.
 */
import type { TxEvent } from '../types/receipt.js'
import type { PayloadOf, Tx, TxType } from '../types/tx.js'
import type { ContractErrorCode } from './errors.js'
import type { Entity } from './schema.js'

/** A transaction whose payload is known to be of type T. */
export type TxOf<T extends TxType> = Tx & { payload: PayloadOf<T> }

/** The registered identity that signed the transaction, as stored before the transaction ran. */
export interface Sender {
  publicKey: Uint8Array
  entity: Entity
}

export type Verdict<P> = { code: 'OK', plan: P } | { code: ContractErrorCode }

export function ok<P> (plan: P): Verdict<P> {
  return { code: 'OK', plan }
}

export function refuse<P = never> (code: ContractErrorCode): Verdict<P> {
  return { code }
}

/** What a successful execution reports back to the dispatcher. */
export interface Effects {
  events: TxEvent[]
  /** The record the transaction created or read, for the audit entry. */
  recordId?: Uint8Array
  /** True when access was granted only by an emergency (break-glass) window. */
  emergency?: boolean
}
