/**
 * Blob replication (`blobs.replicate`): after a block commits, the blob of every record it anchored
 * that this node lacks is fetched from peers, in the background and at most MAX_REPLICATIONS at a
 * time. Best effort: failures are logged, never fatal; a blob still missing is fetched again when a
 * reader asks for it (the RPC blob routes).
 */
import type { Logger } from 'pino'
import type { BlobStore } from '../blobs/store.js'
import { getRecord } from '../contracts/index.js'
import { fromHex, toHex } from '../crypto/bytes.js'
import type { StateBackend } from '../types/state.js'
import { errorCode } from './errorCode.js'

/** Most blobs fetched from peers for replication at once. */
export const MAX_REPLICATIONS = 4

/** Fetches a blob (at most maxBytes) from peers into the blob store; true when it is there afterwards. */
export type FetchBlob = (hash: Uint8Array, maxBytes: number) => Promise<boolean>

/** What a committed block's receipts say (only the events are read). */
export type AnchoringReceipts = ReadonlyArray<{ events: ReadonlyArray<{ kind: string, attributes: ReadonlyArray<[string, string]> }> }>

export interface BlobReplicatorOptions {
  store: BlobStore
  /** The state the anchored records are read from (the chain's, after the block). */
  state: () => StateBackend
  /** Largest blob replicated (blobs.maxBytes). */
  maxBytes: number
  /** The network's blob fetch, when there is a network that can fetch. */
  fetchBlob: () => FetchBlob | undefined
  logger: Logger
}

export class BlobReplicator {
  /** Blob hashes queued or being fetched (each once). */
  private readonly replicating = new Set<string>()
  private readonly queue: Array<{ hash: Uint8Array, size: number, recordId: string }> = []
  private active = 0
  private stopped = false

  constructor (private readonly opts: BlobReplicatorOptions) {}

  /** Queues the missing blobs of the records these receipts anchored. */
  replicate (receipts: AnchoringReceipts): void {
    if (this.opts.fetchBlob() === undefined) return
    const { logger, maxBytes } = this.opts
    for (const receipt of receipts) {
      for (const event of receipt.events) {
        if (event.kind !== 'record.anchored') continue
        const recordId = event.attributes.find(([k]) => k === 'recordId')?.[1]
        const record = recordId === undefined ? undefined : getRecord(this.opts.state(), fromHex(recordId))
        if (recordId === undefined || record === undefined) continue
        if (record.size > maxBytes) {
          logger.warn({ recordId, size: record.size, limit: maxBytes }, 'anchored blob larger than blobs.maxBytes: not replicated')
          continue
        }
        const key = toHex(record.contentHash)
        if (this.replicating.has(key)) continue
        this.replicating.add(key)
        this.queue.push({ hash: record.contentHash, size: record.size, recordId })
      }
    }
    this.pump()
  }

  /** No fetch starts after this. */
  stop (): void {
    this.stopped = true
  }

  private pump (): void {
    while (this.active < MAX_REPLICATIONS && !this.stopped) {
      const job = this.queue.shift()
      if (job === undefined) return
      this.active++
      void (async () => {
        if (await this.opts.store.has(job.hash)) return
        const ok = await this.opts.fetchBlob()?.(job.hash, job.size)
        if (ok === true) this.opts.logger.info({ recordId: job.recordId, size: job.size }, 'blob replicated from a peer')
        else this.opts.logger.warn({ recordId: job.recordId }, 'blob of an anchored record not found at any peer; fetched again when read')
      })().catch((err: unknown) => {
        this.opts.logger.warn({ recordId: job.recordId, code: errorCode(err) }, 'blob replication failed')
      }).finally(() => {
        this.replicating.delete(toHex(job.hash))
        this.active--
        this.pump()
      })
    }
  }
}
