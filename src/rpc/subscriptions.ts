/**
 * WebSocket subscriptions: new heads, and a patient's audit trail.
 *
 * Notifications:
 *   {"jsonrpc": "2.0", "method": "chain_subscription", "params": {"subscription": id, "result": {height, hash, timestamp}}}
 *   {"jsonrpc": "2.0", "method": "audit_subscription", "params": {"subscription": id, "result": <audit entry>}}
 *   {"jsonrpc": "2.0", "method": "audit_subscription", "params": {"subscription": id, "error": {code, message, data}}}
 *     (the last one ends the subscription: the requester lost its consent)
 *
 * New heads are sent from the chain's 'block' event directly. Audit entries are read from the
 * store's patient index after each block, one block after another (a queue), remembering per
 * patient the last sequence number delivered; a reader other than the patient is authorised again
 * at every block (a revoked or expired grant ends its subscription) and sees only its own actions.
 *
 * A closed socket drops its subscriptions; a socket whose unsent data passes `maxBufferedBytes`
 * (a client that does not read) is cut off.
 */
import { randomBytes } from 'node:crypto'
import type { WebSocket } from 'ws'
import type { Chain, ChainEvents } from '../chain/chain.js'
import { toHex } from '../crypto/bytes.js'
import { decodeAuditEntry } from '../contracts/index.js'
import { authoriseReader, type ReaderScope } from './auth.js'
import { RpcError } from './errors.js'
import { auditEntryJson, auditVisibleTo, type SubscriptionHost } from './methods.js'

export interface SubscriptionLimits {
  maxSubscriptionsPerSocket: number
  maxBufferedBytes: number
}

interface NewHeadsSub { id: string, session: WsSession }
interface AuditSub { id: string, session: WsSession, scope: ReaderScope }
interface AuditGroup { patient: Uint8Array, lastSeq: number, subs: Set<AuditSub> }

export class SubscriptionHub {
  private readonly newHeads = new Set<NewHeadsSub>()
  private readonly auditGroups = new Map<string, AuditGroup>()
  private queue: Promise<void> = Promise.resolve()
  private readonly onBlock = (event: ChainEvents['block'][0]): void => {
    const head = { height: event.block.header.height, hash: toHex(event.hash), timestamp: event.block.header.timestamp }
    for (const sub of this.newHeads) sub.session.notify('chain_subscription', { subscription: sub.id, result: head })
    if (this.auditGroups.size > 0) this.enqueue(async () => { await this.deliverAudit() })
  }

  constructor (
    private readonly chain: Chain,
    readonly limits: SubscriptionLimits,
    private readonly logError: (err: unknown, what: string) => void
  ) {
    chain.on('block', this.onBlock)
  }

  session (socket: WebSocket): WsSession {
    return new WsSession(this, socket)
  }

  private enqueue (task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch((err: unknown) => { this.logError(err, 'audit subscription') })
  }

  addNewHeads (sub: NewHeadsSub): void {
    this.newHeads.add(sub)
  }

  removeNewHeads (sub: NewHeadsSub): void {
    this.newHeads.delete(sub)
  }

  addAudit (patient: Uint8Array, sub: AuditSub): void {
    const key = toHex(patient)
    let group = this.auditGroups.get(key)
    if (group === undefined) {
      const created: AuditGroup = { patient, lastSeq: Number.POSITIVE_INFINITY, subs: new Set() }
      group = created
      this.auditGroups.set(key, created)
      // deliver only what comes after the subscription: start after the trail's current end
      this.enqueue(async () => {
        const [last] = await this.chain.listAuditByPatient(patient, { reverse: true, limit: 1 })
        created.lastSeq = last === undefined ? -1 : last.seq
      })
    }
    group.subs.add(sub)
  }

  removeAudit (patient: Uint8Array, sub: AuditSub): void {
    const key = toHex(patient)
    const group = this.auditGroups.get(key)
    if (group === undefined) return
    group.subs.delete(sub)
    if (group.subs.size === 0) this.auditGroups.delete(key)
  }

  private async deliverAudit (): Promise<void> {
    const state = this.chain.stateView
    const headTimestamp = this.chain.head.timestamp
    for (const group of [...this.auditGroups.values()]) {
      if (group.subs.size === 0 || !Number.isFinite(group.lastSeq)) continue
      const fresh = await this.chain.listAuditByPatient(group.patient, { afterSeq: group.lastSeq, limit: Number.POSITIVE_INFINITY })
      if (fresh.length === 0) continue
      group.lastSeq = (fresh[fresh.length - 1] as { seq: number }).seq
      const entries = fresh.map(({ seq, entry }) => ({ seq, entry: decodeAuditEntry(entry) }))
      for (const sub of [...group.subs]) {
        if (sub.scope.ground !== 'patient') {
          try {
            sub.scope = authoriseReader(state, headTimestamp, group.patient, sub.scope.requester)
          } catch (err) {
            if (!(err instanceof RpcError)) throw err
            sub.session.notify('audit_subscription', { subscription: sub.id, error: err.toJson() })
            sub.session.unsubscribe(sub.id)
            continue
          }
        }
        for (const { seq, entry } of entries) {
          if (auditVisibleTo(sub.scope, entry)) sub.session.notify('audit_subscription', { subscription: sub.id, result: auditEntryJson(seq, entry) })
        }
      }
    }
  }

  /** Live subscriptions over every connection. */
  get subscriptionCount (): number {
    let n = this.newHeads.size
    for (const group of this.auditGroups.values()) n += group.subs.size
    return n
  }

  /** Stops listening to the chain and waits for deliveries under way. */
  async close (): Promise<void> {
    this.chain.off('block', this.onBlock)
    await this.queue
  }
}

/** One WebSocket connection's subscriptions. */
export class WsSession implements SubscriptionHost {
  private readonly subs = new Map<string, { remove: () => void }>()

  constructor (private readonly hub: SubscriptionHub, private readonly socket: WebSocket) {}

  private nextId (): string {
    if (this.subs.size >= this.hub.limits.maxSubscriptionsPerSocket) {
      const limit = this.hub.limits.maxSubscriptionsPerSocket
      throw new RpcError({ code: 'RPC_TOO_MANY_SUBSCRIPTIONS', limit }, `This connection already has ${limit} subscriptions; unsubscribe from one first.`)
    }
    return randomBytes(16).toString('hex')
  }

  subscribeNewHeads (): string {
    const sub: NewHeadsSub = { id: this.nextId(), session: this }
    this.hub.addNewHeads(sub)
    this.subs.set(sub.id, { remove: () => { this.hub.removeNewHeads(sub) } })
    return sub.id
  }

  subscribeAudit (patient: Uint8Array, scope: ReaderScope): string {
    const sub: AuditSub = { id: this.nextId(), session: this, scope }
    this.hub.addAudit(patient, sub)
    this.subs.set(sub.id, { remove: () => { this.hub.removeAudit(patient, sub) } })
    return sub.id
  }

  unsubscribe (id: string): boolean {
    const sub = this.subs.get(id)
    if (sub === undefined) return false
    this.subs.delete(id)
    sub.remove()
    return true
  }

  /** Drops every subscription (the socket closed). */
  close (): void {
    for (const id of [...this.subs.keys()]) this.unsubscribe(id)
  }

  get subscriptionCount (): number {
    return this.subs.size
  }

  send (message: unknown): void {
    if (this.socket.readyState !== this.socket.OPEN) return
    if (this.socket.bufferedAmount > this.hub.limits.maxBufferedBytes) {
      this.close()
      this.socket.terminate()
      return
    }
    this.socket.send(JSON.stringify(message))
  }

  notify (method: string, params: unknown): void {
    this.send({ jsonrpc: '2.0', method, params })
  }
}
