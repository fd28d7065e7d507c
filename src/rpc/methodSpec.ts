/**
 * What a JSON-RPC method is (`MethodSpec`, built with `method()`), the context it runs in, and the
 * audit-visibility rule that several method tables share. Its own module so that methods.ts and
 * proofMethods.ts both build on it without importing each other.
 */
import type { Chain } from '../chain/chain.js'
import type { Mempool } from '../chain/mempool.js'
import type { Tx } from '../types/tx.js'
import { toHex } from '../crypto/bytes.js'
import type { AuditEntry } from '../contracts/index.js'
import type { ReaderScope, ReplayCache } from './auth.js'
import type { Params } from './params.js'

/** What the methods read and call; built once by the server. */
export interface RpcContext {
  chain: Chain
  mempool: Mempool
  now: () => number
  replay: ReplayCache
  nodeInfo: () => Record<string, unknown>
  peers: () => unknown[]
  /** Called with each transaction `tx_submit` admitted (the node gossips it). */
  onTx?: (tx: Tx) => void
}

/** The WebSocket connection a call arrived on, for the subscription methods. */
export interface SubscriptionHost {
  subscribeNewHeads: () => string
  subscribeAudit: (patient: Uint8Array, scope: ReaderScope) => string
  unsubscribe: (id: string) => boolean
}

export interface CallContext {
  rpc: RpcContext
  /** Present for calls over WebSocket. */
  session?: SubscriptionHost
}

export interface MethodSpec<A> {
  params: readonly string[]
  parse: (p: Params) => A
  /** For signed queries: the patient whose data is read. */
  patientOf?: (args: A) => Uint8Array
  /**
   * For signed queries: a reader this method admits besides authoriseReader's (e.g. a record's
   * author for that one record), or undefined to apply authoriseReader alone.
   */
  alsoReader?: (args: A, chain: Chain, requester: Uint8Array) => ReaderScope | undefined
  wsOnly?: boolean
  run: (args: A, ctx: CallContext, scope: ReaderScope | undefined) => unknown
}

export function method<A> (spec: MethodSpec<A>): MethodSpec<unknown> {
  return spec as MethodSpec<unknown>
}

/** Whether a reader sees an audit entry: the patient all of them, anyone else its own actions. */
export function auditVisibleTo (scope: ReaderScope, e: AuditEntry): boolean {
  return scope.ground === 'patient' || toHex(e.actor) === toHex(scope.requester)
}
