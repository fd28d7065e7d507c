/**
 * Batching of the transactions the node admitted over RPC for gossip: what arrives within
 * TX_GOSSIP_FLUSH_MS, or fills a batch of MAX_TX_BATCH_TXS, leaves as one message. One message per
 * transaction would cost each validator a noise frame, a socket write and a gossipsub message id
 * per transaction per peer (figures in bench/RESULTS.md). Nothing is published after `stop`.
 */
import type { Tx } from '../types/tx.js'
import { MAX_TX_BATCH_TXS } from '../p2p/gossip.js'

/** How long RPC-admitted transactions wait to be gossiped together. */
export const TX_GOSSIP_FLUSH_MS = 10

export class TxGossipBatcher {
  private batch: Tx[] = []
  private flushTimer: NodeJS.Timeout | undefined
  private stopped = false

  /** `publish` gets each batch, in admission order. */
  constructor (private readonly publish: (txs: readonly Tx[]) => void) {}

  /** Adds an admitted transaction to the next batch. */
  add (tx: Tx): void {
    if (this.stopped) return
    this.batch.push(tx)
    if (this.batch.length >= MAX_TX_BATCH_TXS) { this.flush(); return }
    if (this.flushTimer !== undefined) return
    this.flushTimer = setTimeout(() => { this.flush() }, TX_GOSSIP_FLUSH_MS)
  }

  /** Publishes what is batched now (nothing after stop). */
  flush (): void {
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer)
      this.flushTimer = undefined
    }
    const batch = this.batch
    this.batch = []
    if (batch.length > 0 && !this.stopped) this.publish(batch)
  }

  /** Clears the flush timer; later batches are dropped. */
  stop (): void {
    this.stopped = true
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
  }
}
