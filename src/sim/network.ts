/**
 * The simulated network between N nodes on the virtual clock. A broadcast is encoded once; every
 * copy is delivered to every peer after a base delay plus seeded jitter, unless it is dropped
 * (probability `dropRate`), blocked by a partition (at send or at delivery time), or the receiver
 * is down. The receiver decodes the bytes itself, so the real codecs run on every message; bytes
 * that do not decode are counted as malformed and never reach the node. A node receives its own
 * broadcasts too, with zero delay (never dropped), as the consensus engine expects.
 */
import type { Rng } from './random.js'
import type { Scheduler } from './scheduler.js'

export interface LinkConfig {
  /** Delay of every copy (virtual ms). */
  baseDelayMs: number
  /** Extra delay drawn uniformly from [0, jitterMs]. */
  jitterMs: number
  /** Probability that a copy to a peer is lost. */
  dropRate: number
}

export const DEFAULT_LINK: LinkConfig = { baseDelayMs: 20, jitterMs: 30, dropRate: 0 }

export interface MessageCodec<M> {
  encode: (message: M) => Uint8Array
  decode: (bytes: Uint8Array) => M
}

export interface NetworkStats {
  /** Copies handed to the network (self-deliveries included). */
  sent: number
  delivered: number
  dropped: number
  /** Lost to a partition. */
  blocked: number
  /** Arrived at a node that was down. */
  toDownNode: number
  /** Did not decode at the receiver. */
  malformed: number
  bytes: number
}

export interface NetworkOptions<M> {
  size: number
  scheduler: Scheduler
  rng: Rng
  codec: MessageCodec<M>
  link?: Partial<LinkConfig>
  /** Hands a decoded message to node `to`. */
  deliver: (to: number, from: number, message: M) => void | Promise<void>
  /** Whether node `id` is running; copies to a down node are lost. Default: always up. */
  isUp?: (id: number) => boolean
  /** Told about bytes that did not decode at `to`. */
  onMalformed?: (to: number, from: number, error: unknown) => void
}

export class Network<M> {
  readonly size: number
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, blocked: 0, toDownNode: 0, malformed: 0, bytes: 0 }
  private link: LinkConfig
  /** Partition group of each node; all equal when healed. */
  private group: number[]
  private readonly scheduler: Scheduler
  private readonly rng: Rng
  private readonly opts: NetworkOptions<M>

  constructor (opts: NetworkOptions<M>) {
    if (!Number.isSafeInteger(opts.size) || opts.size < 1) throw new RangeError(`Network: size must be a positive integer, got ${opts.size}`)
    this.size = opts.size
    this.scheduler = opts.scheduler
    this.rng = opts.rng
    this.opts = opts
    this.link = { ...DEFAULT_LINK, ...opts.link }
    this.group = new Array<number>(opts.size).fill(0)
  }

  get linkConfig (): Readonly<LinkConfig> {
    return this.link
  }

  setLink (link: Partial<LinkConfig>): void {
    this.link = { ...this.link, ...link }
  }

  /** Splits the nodes into groups that cannot reach each other; a node in no group is alone. */
  setPartition (groups: ReadonlyArray<readonly number[]>): void {
    const next = this.group.map((_, i) => -1 - i) // alone by default
    groups.forEach((members, g) => { for (const id of members) next[this.checkId(id)] = g })
    this.group = next
  }

  heal (): void {
    this.group = this.group.map(() => 0)
  }

  get partitioned (): boolean {
    return this.group.some((g) => g !== this.group[0])
  }

  canReach (from: number, to: number): boolean {
    return from === to || this.group[from] === this.group[to]
  }

  isUp (id: number): boolean {
    return this.opts.isUp?.(id) ?? true
  }

  /** Sends `message` to every node, itself included (encoded once). */
  broadcast (from: number, message: M): void {
    const bytes = this.opts.codec.encode(message)
    for (let to = 0; to < this.size; to++) this.sendBytes(from, to, bytes)
  }

  /** Sends `message` to the listed nodes only (a byzantine node telling peers different things). */
  sendTo (from: number, targets: readonly number[], message: M): void {
    const bytes = this.opts.codec.encode(message)
    for (const to of targets) this.sendBytes(from, to, bytes)
  }

  /** Sends raw bytes (possibly malformed) to one node; the receiver decodes them. */
  sendBytes (from: number, to: number, bytes: Uint8Array): void {
    this.checkId(from)
    this.checkId(to)
    this.stats.sent++
    this.stats.bytes += bytes.length
    this.transmit(from, to, 'msg', () => {
      let message: M
      try {
        message = this.opts.codec.decode(bytes)
      } catch (error) {
        this.stats.malformed++
        this.opts.onMalformed?.(to, from, error)
        return
      }
      this.stats.delivered++
      return this.opts.deliver(to, from, message)
    })
  }

  /**
   * Carries any other exchange (a block sync request or reply, a gossiped transaction) from `from`
   * to `to` under the same delay, drop and partition rules; `arrive` runs at the receiver.
   * Returns false when the copy was lost at send time.
   */
  transmit (from: number, to: number, label: string, arrive: () => void | Promise<void>): boolean {
    if (from === to) {
      this.scheduler.after(0, `${label} ${from}->${to}`, () => this.isUp(to) ? arrive() : undefined)
      return true
    }
    if (!this.canReach(from, to)) {
      this.stats.blocked++
      return false
    }
    if (this.rng.chance(this.link.dropRate)) {
      this.stats.dropped++
      return false
    }
    const delay = this.link.baseDelayMs + (this.link.jitterMs > 0 ? this.rng.int(0, this.link.jitterMs) : 0)
    this.scheduler.after(delay, `${label} ${from}->${to}`, () => {
      if (!this.canReach(from, to)) { this.stats.blocked++; return }
      if (!this.isUp(to)) { this.stats.toDownNode++; return }
      return arrive()
    })
    return true
  }

  private checkId (id: number): number {
    if (!Number.isSafeInteger(id) || id < 0 || id >= this.size) throw new RangeError(`Network: no node ${id}`)
    return id
  }
}
