/**
 * The mempool: transactions waiting for a block, admitted through ONE `checkTx` that both doors
 * call, the RPC (`tx_submit`) and the gossip validator (CometBFT `mempool.CheckTx` serves both the
 * same way).
 *
 * ## Admission (`checkTx`), cheapest check first
 *  1. decode (bytes only): CodecError / ChainError from `decodeTx`;
 *  2. chain id and size (`validateTxBasic` without the signature): TX_WRONG_CHAIN, TX_TOO_LARGE;
 *  3. already in the pool: TX_DUPLICATE;
 *  4. the sender is a registered identity: TX_UNKNOWN_SENDER;
 *  5. account nonce <= nonce <= account nonce + maxNonceGap: TX_NONCE_TOO_LOW / TX_NONCE_TOO_HIGH;
 *  6. no pending transaction of the same sender with the same nonce: TX_DUPLICATE_NONCE (there is
 *     no replacement: the first one admitted stays until it is included or removed);
 *  7. the signature, unless the SignatureCache holds the hash: TX_BAD_SIGNATURE; on success the
 *     hash goes into the cache, so block validation does not verify it again;
 *  8. capacity (maxTxs, maxBytes): when full, the highest-nonce transactions of the sender with the
 *     most pending transactions are evicted, but only while that sender has more pending than the
 *     newcomer's sender would; otherwise MEMPOOL_FULL and nothing changes.
 * A refused transaction changes nothing in the pool.
 *
 * The account nonce is the next nonce the sender's account accepts (the committed state's), read
 * through `getAccountNonce`; `undefined` means the key is not a registered identity.
 *
 * A `Tx` passed in (instead of bytes) must come from `decodeTx` or `signTx`: its `hash` is trusted
 * as the hash of its `bytes`, which is what the signature cache is keyed on.
 *
 * ## Block building (`reap`) and commit (`update`)
 * `reap` does not remove anything: the proposer reaps, the block commits, and `update` drops what
 * was committed and what the commit made stale (nonce below the new account nonce, or a sender no
 * longer registered), keeping transactions for later nonces.
 */
import { byteKey } from '../crypto/bytes.js'
import { BoundedSet } from '../util/boundedSet.js'
import { MinHeap } from '../util/minHeap.js'
import { MedchainError } from '../util/errors.js'
import { ChainError } from '../types/errors.js'
import { decodeTx, validateTxBasic, verifyTxSignature, type Tx } from '../types/tx.js'

export const DEFAULT_MEMPOOL_MAX_TXS = 10_000
export const DEFAULT_MEMPOOL_MAX_BYTES = 32 * 1024 * 1024
export const DEFAULT_MAX_NONCE_GAP = 64
export const DEFAULT_SIGNATURE_CACHE_LIMIT = 100_000

export type MempoolErrorType =
  | { code: 'MEMPOOL_FULL', maxTxs: number, maxBytes: number }
  | { code: 'TX_DUPLICATE_NONCE', nonce: number }

export class MempoolError extends MedchainError<MempoolErrorType> {}

/**
 * Hashes of transactions whose signature verified, so a transaction is verified once: at
 * admission, not again when its block is validated. Keyed by transaction hash, which covers the
 * whole encoding (signature and chain id included), so a hit means the very same bytes verified.
 * Bounded: at most `limit` hashes, the oldest dropped first (a BoundedSet: O(1) per operation).
 */
export class SignatureCache {
  private readonly hashes: BoundedSet

  /** Throws RangeError (from BoundedSet) unless `limit` is a positive integer. */
  constructor (limit = DEFAULT_SIGNATURE_CACHE_LIMIT) {
    this.hashes = new BoundedSet(limit)
  }

  get limit (): number {
    return this.hashes.limit
  }

  add (txHash: Uint8Array): void {
    this.hashes.add(byteKey(txHash))
  }

  has (txHash: Uint8Array): boolean {
    return this.hashes.has(byteKey(txHash))
  }

  get size (): number {
    return this.hashes.size
  }
}

export interface MempoolOptions {
  chainId: string
  /** Most transactions held; default 10,000. */
  maxTxs?: number
  /** Most bytes (sum of encoded transactions) held; default 32 MiB. */
  maxBytes?: number
  /** How far ahead of the account nonce a transaction may be; default 64. */
  maxNonceGap?: number
  /** The next nonce the sender's account accepts; `undefined` = not a registered identity. */
  getAccountNonce: (publicKey: Uint8Array) => number | undefined
  /** Shared with block validation; default a fresh cache of 100,000 entries. */
  signatureCache?: SignatureCache
  /** The signature check; default `verifyTxSignature` (THE verify). Tests count calls through it. */
  verifySignature?: (tx: Tx) => boolean
}

interface Entry {
  readonly tx: Tx
  readonly key: string
  readonly sender: string
  /** Arrival order: reaping is first come, first served across senders. */
  readonly seq: number
}

interface SenderQueue {
  readonly from: Uint8Array
  readonly byNonce: Map<number, Entry>
}

export class Mempool {
  readonly chainId: string
  readonly maxTxs: number
  readonly maxBytes: number
  readonly maxNonceGap: number
  readonly signatureCache: SignatureCache
  private readonly getAccountNonce: (publicKey: Uint8Array) => number | undefined
  private readonly verifySignature: (tx: Tx) => boolean
  private readonly byHash = new Map<string, Entry>()
  private readonly bySender = new Map<string, SenderQueue>()
  private totalBytes = 0
  private nextSeq = 0
  private lastHeight = 0

  constructor (opts: MempoolOptions) {
    const positive = (name: string, value: number, min: number): number => {
      if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`Mempool: ${name} must be an integer >= ${min}, got ${value}`)
      return value
    }
    this.chainId = opts.chainId
    this.maxTxs = positive('maxTxs', opts.maxTxs ?? DEFAULT_MEMPOOL_MAX_TXS, 1)
    this.maxBytes = positive('maxBytes', opts.maxBytes ?? DEFAULT_MEMPOOL_MAX_BYTES, 1)
    this.maxNonceGap = positive('maxNonceGap', opts.maxNonceGap ?? DEFAULT_MAX_NONCE_GAP, 0)
    this.getAccountNonce = opts.getAccountNonce
    this.signatureCache = opts.signatureCache ?? new SignatureCache()
    this.verifySignature = opts.verifySignature ?? verifyTxSignature
  }

  get size (): number {
    return this.byHash.size
  }

  /** Transactions of one sender waiting in the pool (executable or not). */
  pendingCount (sender: Uint8Array): number {
    return this.bySender.get(byteKey(sender))?.byNonce.size ?? 0
  }

  /** Sum of the encoded sizes of the transactions held. */
  get bytes (): number {
    return this.totalBytes
  }

  /** Height of the last commit passed to `update` (0 before the first). */
  get height (): number {
    return this.lastHeight
  }

  has (hash: Uint8Array): boolean {
    return this.byHash.has(byteKey(hash))
  }

  /**
   * Admits a transaction (encoded bytes from RPC or gossip, or a decoded Tx) or throws a typed
   * error naming the first rule it breaks; the order of the checks is in the module comment.
   * Returns the admitted transaction.
   */
  checkTx (input: Uint8Array | Tx): Tx {
    const tx = input instanceof Uint8Array ? decodeTx(input) : input
    validateTxBasic(tx, { chainId: this.chainId, signatureVerified: true }) // the signature comes last

    const key = byteKey(tx.hash)
    if (this.byHash.has(key)) {
      throw new ChainError({ code: 'TX_DUPLICATE' }, 'The transaction is already in the mempool; wait for it to be included in a block.')
    }
    const accountNonce = this.getAccountNonce(tx.from)
    if (accountNonce === undefined) {
      throw new ChainError({ code: 'TX_UNKNOWN_SENDER' }, 'The sender is not a registered identity; have it registered (or enrolled) before it sends transactions.')
    }
    if (tx.nonce < accountNonce) {
      throw new ChainError({ code: 'TX_NONCE_TOO_LOW', expected: accountNonce, got: tx.nonce }, `The transaction nonce ${tx.nonce} was already used; the sender's next nonce is ${accountNonce}.`)
    }
    if (tx.nonce > accountNonce + this.maxNonceGap) {
      throw new ChainError({ code: 'TX_NONCE_TOO_HIGH', expected: accountNonce, got: tx.nonce }, `The transaction nonce ${tx.nonce} is more than ${this.maxNonceGap} ahead of the sender's next nonce ${accountNonce}; send the missing transactions first.`)
    }
    const sender = byteKey(tx.from)
    if (this.bySender.get(sender)?.byNonce.has(tx.nonce) === true) {
      throw new MempoolError({ code: 'TX_DUPLICATE_NONCE', nonce: tx.nonce }, `Another transaction of this sender with nonce ${tx.nonce} is already pending; wait for it to be included or use the next nonce.`)
    }
    if (!this.signatureCache.has(tx.hash)) {
      if (!this.verifySignature(tx)) {
        throw new ChainError({ code: 'TX_BAD_SIGNATURE' }, 'The transaction signature does not verify against its sender key; re-sign it with the sender\'s key.')
      }
      this.signatureCache.add(tx.hash)
    }
    for (const victim of this.planEvictions(sender, tx.bytes.length)) this.removeEntry(victim)
    this.addEntry({ tx, key, sender, seq: this.nextSeq++ })
    return tx
  }

  /**
   * Transactions to propose, in an order that executes: for each sender consecutive nonces from
   * its account nonce (stopping at the first gap), senders interleaved first come, first served by
   * arrival. Their encoded sizes sum to at most `maxBytes`: a transaction that does not fit ends
   * its sender's run (its later nonces cannot go before it) while other senders continue. Nothing
   * is removed.
   */
  reap (maxBytes: number, maxTxs = Number.POSITIVE_INFINITY): Tx[] {
    // the next transaction reap considers: each sender's lowest nonce, oldest arrival first
    const heads = new MinHeap<Entry>((a, b) => a.seq < b.seq)
    for (const queue of this.bySender.values()) {
      const accountNonce = this.getAccountNonce(queue.from)
      if (accountNonce === undefined) continue
      const head = queue.byNonce.get(accountNonce)
      if (head !== undefined) heads.push(head)
    }
    const out: Tx[] = []
    let bytes = 0
    while (out.length < maxTxs) {
      const entry = heads.pop()
      if (entry === undefined) break
      if (bytes + entry.tx.bytes.length > maxBytes) continue
      out.push(entry.tx)
      bytes += entry.tx.bytes.length
      const next = this.bySender.get(entry.sender)?.byNonce.get(entry.tx.nonce + 1)
      if (next !== undefined) heads.push(next)
    }
    return out
  }

  /**
   * After a block is committed at `height`: drops the committed transactions, every transaction
   * whose nonce is now below its sender's account nonce, and every transaction of a sender that is
   * no longer a registered identity. Transactions for later nonces stay.
   */
  update (height: number, committed: readonly Tx[]): void {
    this.lastHeight = height
    for (const tx of committed) {
      const entry = this.byHash.get(byteKey(tx.hash))
      if (entry !== undefined) this.removeEntry(entry)
    }
    const stale: Entry[] = []
    for (const queue of this.bySender.values()) {
      const accountNonce = this.getAccountNonce(queue.from)
      for (const entry of queue.byNonce.values()) {
        if (accountNonce === undefined || entry.tx.nonce < accountNonce) stale.push(entry)
      }
    }
    for (const entry of stale) this.removeEntry(entry)
  }

  /** Removes one transaction; true if it was there. */
  remove (hash: Uint8Array): boolean {
    const entry = this.byHash.get(byteKey(hash))
    if (entry === undefined) return false
    this.removeEntry(entry)
    return true
  }

  /**
   * The transactions to evict so that one more of `size` bytes from `sender` fits, or MEMPOOL_FULL.
   * Plans first and evicts nothing, so a refusal leaves the pool as it was.
   */
  private planEvictions (sender: string, size: number): Entry[] {
    let count = this.byHash.size + 1
    let bytes = this.totalBytes + size
    if (count <= this.maxTxs && bytes <= this.maxBytes) return []
    const full = (): MempoolError => new MempoolError(
      { code: 'MEMPOOL_FULL', maxTxs: this.maxTxs, maxBytes: this.maxBytes },
      `The mempool is full (${this.maxTxs} transactions or ${this.maxBytes} bytes); retry after the next block.`
    )
    if (size > this.maxBytes) throw full()
    const newcomerPending = (this.bySender.get(sender)?.byNonce.size ?? 0) + 1
    const planned = new Map<string, Entry[]>() // per sender, highest nonces first
    const victims: Entry[] = []
    while (count > this.maxTxs || bytes > this.maxBytes) {
      let busiest: SenderQueue | undefined
      let busiestKey = ''
      let busiestPending = 0
      for (const [key, queue] of this.bySender) {
        const pending = queue.byNonce.size - (planned.get(key)?.length ?? 0)
        if (pending > busiestPending) {
          busiest = queue
          busiestKey = key
          busiestPending = pending
        }
      }
      if (busiest === undefined || busiestPending <= newcomerPending) throw full()
      const taken = planned.get(busiestKey) ?? []
      let victim: Entry | undefined
      for (const entry of busiest.byNonce.values()) {
        if (!taken.includes(entry) && (victim === undefined || entry.tx.nonce > victim.tx.nonce)) victim = entry
      }
      if (victim === undefined) throw full() // unreachable: busiestPending > 0
      taken.push(victim)
      planned.set(busiestKey, taken)
      victims.push(victim)
      count--
      bytes -= victim.tx.bytes.length
    }
    return victims
  }

  private addEntry (entry: Entry): void {
    this.byHash.set(entry.key, entry)
    let queue = this.bySender.get(entry.sender)
    if (queue === undefined) {
      queue = { from: entry.tx.from, byNonce: new Map() }
      this.bySender.set(entry.sender, queue)
    }
    queue.byNonce.set(entry.tx.nonce, entry)
    this.totalBytes += entry.tx.bytes.length
  }

  private removeEntry (entry: Entry): void {
    if (!this.byHash.delete(entry.key)) return
    this.totalBytes -= entry.tx.bytes.length
    const queue = this.bySender.get(entry.sender)
    if (queue === undefined) return
    queue.byNonce.delete(entry.tx.nonce)
    if (queue.byNonce.size === 0) this.bySender.delete(entry.sender)
  }
}
