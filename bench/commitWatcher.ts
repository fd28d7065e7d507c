/**
 * How bench:network learns when each transaction was committed: node0 pushes every block it
 * commits to a `chain_subscribe` newHeads WebSocket subscription, and the moment the announcement
 * arrives is the commit time of the block's transactions. The block's transaction list is fetched
 * afterwards (`chain_getBlock`), off the clock.
 *
 * Not polling: a watcher that polls `chain_head` and fetches each new block before stamping it
 * queues its requests behind the load's own submissions at node0 and in the client, and that lag
 * lands in every p99 the benchmark reports (figures in bench/RESULTS.md).
 *
 * `CommitWatcher` holds the bookkeeping and no I/O (tested in test/unit/bench/commitWatcher.test.ts);
 * `subscribeNewHeads` is the WebSocket.
 */
import { WebSocket } from 'ws'

/** The transaction hashes (hex) of the block at `height`. */
export type BlockTxsFetcher = (height: number) => Promise<string[]>

export class CommitWatcher {
  /** Transaction hash (hex) → when the block holding it was committed (ms, the clock given). */
  readonly committedAt = new Map<string, number>()
  /** Height → when its announcement arrived; dropped once the block is mapped. */
  private readonly announcedAt = new Map<number, number>()
  private announced: number
  private mappedHeight: number
  private pumping = false
  private failure: Error | undefined
  private waiters: Array<{ height: number, resolve: () => void, reject: (err: Error) => void }> = []

  /** `startHeight`: node0's head when watching starts; its blocks up to there are not timed. */
  constructor (startHeight: number, private readonly fetchTxs: BlockTxsFetcher, private readonly now: () => number = Date.now) {
    this.announced = startHeight
    this.mappedHeight = startHeight
  }

  /** Every block up to this height has its transactions in `committedAt`. */
  get mapped (): number {
    return this.mappedHeight
  }

  /** node0 announced that it committed `height`, now. A repeated announcement keeps the first time. */
  announce (height: number): void {
    if (height <= this.mappedHeight || this.announcedAt.has(height)) return
    this.announcedAt.set(height, this.now())
    if (height > this.announced) this.announced = height
    this.pump()
  }

  /**
   * Resolves once every block up to `height` is mapped. Blocks that were not announced (committed
   * before the subscription started) count as committed now, which is never early.
   */
  async catchUp (height: number): Promise<void> {
    if (this.failure !== undefined) throw this.failure
    if (height <= this.mappedHeight) return
    if (height > this.announced) this.announce(height)
    await new Promise<void>((resolve, reject) => {
      this.waiters.push({ height, resolve, reject })
      this.settleWaiters()
    })
  }

  /**
   * When `height` was committed: its own announcement, or for a block whose announcement never
   * came, the first later one (an upper bound: it was committed no later than its successor).
   */
  private commitTime (height: number): number {
    const own = this.announcedAt.get(height)
    if (own !== undefined) return own
    let best: number | undefined
    for (const [h, t] of this.announcedAt) if (h > height && (best === undefined || t < best)) best = t
    return best ?? this.now()
  }

  private pump (): void {
    if (this.pumping || this.failure !== undefined) return
    this.pumping = true
    void (async () => {
      try {
        while (this.mappedHeight < this.announced) {
          const height = this.mappedHeight + 1
          const txs = await this.fetchTxs(height)
          const at = this.commitTime(height)
          for (const hash of txs) this.committedAt.set(hash, at)
          this.mappedHeight = height
          for (const h of this.announcedAt.keys()) if (h <= height) this.announcedAt.delete(h)
          this.settleWaiters()
        }
      } catch (err) {
        this.failure = err instanceof Error ? err : new Error(String(err))
        this.settleWaiters()
      } finally {
        this.pumping = false
      }
    })()
  }

  private settleWaiters (): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.failure !== undefined) { w.reject(this.failure); return false }
      if (w.height <= this.mappedHeight) { w.resolve(); return false }
      return true
    })
  }
}

/**
 * Subscribes to node0's newHeads over WebSocket (`wsUrl`, e.g. ws://127.0.0.1:26657/ws) and calls
 * `onHead` with each committed height. Resolves once the subscription is confirmed, and rejects if
 * it is refused or the connection ends first; afterwards `onClose` is called if the connection
 * ends before `close()`, which resolves once it has.
 */
export async function subscribeNewHeads (wsUrl: string, onHead: (height: number) => void, onClose: (reason: string) => void): Promise<{ close: () => Promise<void> }> {
  const ws = new WebSocket(wsUrl)
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => { resolve() })
    ws.once('error', (err) => { reject(new Error(`cannot open ${wsUrl}: ${err.message}`)) })
  })
  ws.on('error', () => undefined) // 'close' follows and reports it
  let confirmed = false
  let closing = false
  const closed = new Promise<void>((resolve) => { ws.once('close', () => { resolve() }) })
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      let msg: { id?: number, result?: unknown, error?: { message?: string }, method?: string, params?: { result?: { height?: unknown } } }
      try { msg = JSON.parse(data.toString('utf8')) as typeof msg } catch { return }
      if (msg.id === 1) {
        if (typeof msg.result === 'string') { confirmed = true; resolve() } else reject(new Error(`chain_subscribe was refused: ${msg.error?.message ?? JSON.stringify(msg)}`))
        return
      }
      const height = msg.method === 'chain_subscription' ? msg.params?.result?.height : undefined
      if (typeof height === 'number') onHead(height)
    })
    ws.on('close', () => {
      if (!confirmed) reject(new Error(`the newHeads WebSocket to ${wsUrl} closed before chain_subscribe was answered`))
      else if (!closing) onClose(`the newHeads WebSocket to ${wsUrl} closed`)
    })
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'chain_subscribe', params: { topic: 'newHeads' } }))
  })
  return { close: async () => { closing = true; ws.close(); await closed } }
}
