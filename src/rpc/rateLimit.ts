/**
 * Per-client rate limit: a token bucket per client IP address, refilled at `ratePerSecond` up to
 * `burst`. Every JSON-RPC call costs one token (a batch of n calls costs n), over HTTP and
 * WebSocket alike. The client is the socket's peer address: X-Forwarded-For is not trusted (a
 * proxy in front of the node would make every client one client; configure the limit there).
 *
 * The table of buckets is bounded: past `maxClients` entries, buckets that have refilled completely
 * (idle clients) are dropped, and if none has, the oldest.
 */
export interface RateLimitOptions {
  ratePerSecond: number
  burst: number
  now: () => number
  maxClients?: number
}

interface Bucket { tokens: number, at: number }

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>()
  private readonly maxClients: number

  constructor (private readonly opts: RateLimitOptions) {
    if (!(opts.ratePerSecond > 0) || !(opts.burst >= 1)) throw new RangeError('RateLimiter: ratePerSecond must be > 0 and burst >= 1')
    this.maxClients = opts.maxClients ?? 10_000
  }

  private refill (client: string, now: number): Bucket {
    let bucket = this.buckets.get(client)
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxClients) this.evict(now)
      bucket = { tokens: this.opts.burst, at: now }
      this.buckets.set(client, bucket)
    } else {
      const elapsed = Math.max(0, now - bucket.at) / 1000
      bucket.tokens = Math.min(this.opts.burst, bucket.tokens + elapsed * this.opts.ratePerSecond)
      bucket.at = now
    }
    return bucket
  }

  /** Takes `cost` tokens from the client's bucket; false (and takes nothing) when it has fewer. */
  take (client: string, cost = 1): boolean {
    const bucket = this.refill(client, this.opts.now())
    if (bucket.tokens < cost) return false
    bucket.tokens -= cost
    return true
  }

  /** Seconds until `cost` tokens are available (for Retry-After). */
  retryAfterSeconds (client: string, cost = 1): number {
    const bucket = this.buckets.get(client)
    if (bucket === undefined) return 0
    return Math.max(1, Math.ceil((cost - bucket.tokens) / this.opts.ratePerSecond))
  }

  private evict (now: number): void {
    for (const [client, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.opts.ratePerSecond >= this.opts.burst) this.buckets.delete(client)
    }
    if (this.buckets.size >= this.maxClients) {
      const oldest = this.buckets.keys().next()
      if (oldest.done !== true) this.buckets.delete(oldest.value)
    }
  }
}
