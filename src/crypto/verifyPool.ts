/**
 * Signature checks spread over every core: a small pool of worker threads that each run THE
 * `verify` of ./ed25519.ts (see ./verifyWorker.ts), for the hot paths that check many signatures
 * at once (a 10,000-transaction block, a commit certificate, a burst of gossip).
 *
 * How a batch runs:
 *  1. Batches shorter than `inlineBelow` are verified on the calling thread: a round trip to a
 *     worker costs more than a few signatures.
 *  2. Otherwise the jobs are split into contiguous chunks, one per worker; each chunk is packed
 *     into ONE ArrayBuffer (format in verifyWorker.ts) and transferred, not copied.
 *  3. Each worker answers with one verdict byte per job; the verdicts are put back in job order.
 *
 * Failures: if a worker crashes, exits, or cannot read a chunk, every batch with a chunk pending
 * on it rejects with VerifyPoolError `VERIFY_WORKER_FAILED`; the worker is discarded and a fresh
 * one is started for the next batch (lazily, so a worker that cannot even load does not respawn
 * in a loop). After `close()` every call rejects with `VERIFY_POOL_CLOSED`.
 *
 * Process lifetime: workers are `unref()`ed while idle, so a pool that is never closed does not
 * keep a process or a test run alive; a worker is `ref()`ed while it has a chunk pending, so a
 * script that awaits a batch is not cut short.
 *
 * Loading: the worker file is resolved next to this module with this module's own extension:
 * `verifyWorker.js` in the compiled `dist/`, started directly; `verifyWorker.ts` when running from
 * source under tsx. A worker inherits `--import tsx` from `execArgv`, but on Node 20 tsx (4.x)
 * registers its hooks on the main thread only (it does so in workers from Node 22.22 / 24.11), so a
 * `.ts` worker would die with ERR_UNKNOWN_FILE_EXTENSION. A `.ts` worker is therefore started
 * through a two-line bootstrap (a data: URL module) that loads it with tsx's `tsImport`, whose
 * hooks are scoped to that one import. Only the `.ts` path touches tsx, and only by resolving it
 * at run time: the compiled node never needs it.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { MedchainError } from '../util/errors.js'
import { verify } from './ed25519.js'
import {
  jobFitsChunk, packVerifyJobs, VERIFY_WORKER_MARK, type VerifyJob, type VerifyRequest, type VerifyResponse
} from './verifyWorker.js'

export type { VerifyJob } from './verifyWorker.js'

export type VerifyPoolErrorType =
  | { code: 'VERIFY_POOL_CLOSED' }
  | { code: 'VERIFY_WORKER_FAILED', threadId: number, reason: string }

export class VerifyPoolError extends MedchainError<VerifyPoolErrorType> {}

export interface VerifyPoolOptions {
  /** Worker threads; default `os.availableParallelism()`. */
  workers?: number
  /** Batches with fewer jobs than this are verified on the calling thread; default 64. */
  inlineBelow?: number
  /**
   * The worker script; default `verifyWorker.ts`/`.js` next to this module. Only for tests and
   * bundlers: the script must speak the protocol of verifyWorker.ts.
   */
  workerUrl?: URL
}

export const DEFAULT_INLINE_BELOW = 64

/** Verifies every job on the calling thread with THE `verify`: the single-core baseline. */
export function verifyJobsInline (jobs: ReadonlyArray<VerifyJob>): boolean[] {
  const verdicts = new Array<boolean>(jobs.length)
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i] as VerifyJob
    verdicts[i] = verify(job.publicKey, job.message, job.signature)
  }
  return verdicts
}

function defaultWorkerUrl (): URL {
  const self = new URL(import.meta.url)
  const extension = /\.[cm]?[jt]s$/.exec(self.pathname)?.[0] ?? '.js'
  return new URL(`./verifyWorker${extension}`, self)
}

/**
 * What `new Worker` gets: the script itself, or for TypeScript source a bootstrap module that
 * imports it through tsx (see the module comment). Without tsx installed the bootstrap imports the
 * script plainly and the worker fails with Node's own error, reported as VERIFY_WORKER_FAILED.
 */
function workerEntry (script: URL): URL {
  if (script.protocol !== 'file:' || !/\.[cm]?ts$/.test(script.pathname)) return script
  let tsxApi: string | undefined
  try {
    tsxApi = import.meta.resolve('tsx/esm/api')
  } catch {
    tsxApi = undefined
  }
  const source = tsxApi === undefined
    ? `await import(${JSON.stringify(script.href)})`
    : `const { tsImport } = await import(${JSON.stringify(tsxApi)})\nawait tsImport(${JSON.stringify(script.href)}, ${JSON.stringify(import.meta.url)})`
  return new URL(`data:text/javascript,${encodeURIComponent(source)}`)
}

interface PendingChunk {
  resolve: (verdicts: Uint8Array) => void
  reject: (err: Error) => void
}

/** One live worker and the chunks it owes an answer for. */
interface WorkerHandle {
  readonly worker: Worker
  readonly threadId: number
  readonly pending: Map<number, PendingChunk>
  /** Set once the handle is failed or closed: later events from its worker are ignored. */
  retired: boolean
}

export class VerifyPool {
  /** Number of worker threads the pool runs (started on the first batch that needs them). */
  readonly workerCount: number
  readonly inlineBelow: number
  /** What `new Worker` is started on (the worker script, or its bootstrap under tsx). */
  private readonly workerEntry: URL
  private readonly slots: Array<WorkerHandle | undefined>
  private nextRequestId = 1
  private failureCount = 0
  private closing: Promise<void> | undefined

  constructor (opts: VerifyPoolOptions = {}) {
    const workers = opts.workers ?? availableParallelism()
    if (!Number.isSafeInteger(workers) || workers < 1) throw new RangeError(`VerifyPool: workers must be a positive integer, got ${workers}`)
    const inlineBelow = opts.inlineBelow ?? DEFAULT_INLINE_BELOW
    if (!Number.isSafeInteger(inlineBelow) || inlineBelow < 0) throw new RangeError(`VerifyPool: inlineBelow must be a non-negative integer, got ${inlineBelow}`)
    this.workerCount = workers
    this.inlineBelow = inlineBelow
    this.workerEntry = workerEntry(opts.workerUrl ?? defaultWorkerUrl())
    this.slots = new Array<WorkerHandle | undefined>(workers).fill(undefined)
  }

  /** Thread ids of the workers running now (empty before the first worker batch and after close). */
  get threadIds (): number[] {
    const ids: number[] = []
    for (const h of this.slots) if (h !== undefined) ids.push(h.threadId)
    return ids
  }

  /** How many workers were discarded after a crash or error since the pool started (a metric). */
  get workerFailures (): number {
    return this.failureCount
  }

  get closed (): boolean {
    return this.closing !== undefined
  }

  /**
   * Verifies every job with THE `verify` and resolves to one verdict per job, in job order. Never
   * rejects for a bad job (a malformed key or signature is just `false`); rejects with
   * VerifyPoolError when the pool is closed or a worker fails.
   */
  verifyBatch (jobs: ReadonlyArray<VerifyJob>): Promise<boolean[]> {
    if (this.closing !== undefined) return Promise.reject(closedError())
    if (jobs.length < this.inlineBelow) return Promise.resolve(verifyJobsInline(jobs))

    const verdicts = new Array<boolean>(jobs.length)
    const indices: number[] = []
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i] as VerifyJob
      if (jobFitsChunk(job)) indices.push(i)
      else verdicts[i] = verify(job.publicKey, job.message, job.signature) // refused by its length check
    }

    // contiguous chunks whose sizes differ by at most one, one per worker
    const chunks: Array<Promise<void>> = []
    const base = Math.floor(indices.length / this.workerCount)
    const extra = indices.length % this.workerCount
    let start = 0
    for (let slot = 0; slot < this.workerCount; slot++) {
      const end = start + base + (slot < extra ? 1 : 0)
      if (end === start) break
      const chunkStart = start
      const buffer = packVerifyJobs(jobs, indices, chunkStart, end)
      chunks.push(this.dispatch(slot, buffer, end - chunkStart).then((bytes) => {
        for (let i = 0; i < bytes.length; i++) verdicts[indices[chunkStart + i] as number] = bytes[i] === 1
      }))
      start = end
    }
    return Promise.all(chunks).then(() => verdicts)
  }

  /** Terminates every worker; pending batches reject with VERIFY_POOL_CLOSED. Idempotent. */
  close (): Promise<void> {
    if (this.closing === undefined) this.closing = this.shutdown()
    return this.closing
  }

  private async shutdown (): Promise<void> {
    const handles = this.slots.filter((h): h is WorkerHandle => h !== undefined)
    this.slots.fill(undefined)
    const err = closedError()
    for (const h of handles) {
      h.retired = true
      for (const p of h.pending.values()) p.reject(err)
      h.pending.clear()
    }
    await Promise.all(handles.map(async (h) => await h.worker.terminate()))
  }

  private dispatch (slot: number, buffer: ArrayBuffer, count: number): Promise<Uint8Array> {
    const handle = this.slots[slot] ?? this.startWorker(slot)
    const id = this.nextRequestId++
    return new Promise<Uint8Array>((resolve, reject) => {
      handle.pending.set(id, { resolve, reject })
      if (handle.pending.size === 1) handle.worker.ref()
      const request: VerifyRequest = { id, count, buffer }
      handle.worker.postMessage(request, [buffer])
    })
  }

  private startWorker (slot: number): WorkerHandle {
    const worker = new Worker(this.workerEntry, { workerData: { [VERIFY_WORKER_MARK]: true } })
    worker.unref()
    const handle: WorkerHandle = { worker, threadId: worker.threadId, pending: new Map(), retired: false }
    this.slots[slot] = handle
    worker.on('message', (response: VerifyResponse) => {
      if (handle.retired) return
      if ('error' in response) {
        this.failWorker(slot, handle, `it could not read a chunk: ${response.error}`)
        return
      }
      const pending = handle.pending.get(response.id)
      if (pending === undefined) return
      handle.pending.delete(response.id)
      if (handle.pending.size === 0) worker.unref()
      pending.resolve(response.verdicts)
    })
    worker.on('error', (err) => { this.failWorker(slot, handle, `it threw: ${err.message}`) })
    worker.on('messageerror', (err) => { this.failWorker(slot, handle, `a message could not be read: ${err.message}`) })
    worker.on('exit', (code) => { this.failWorker(slot, handle, `it exited with code ${code}`) })
    return handle
  }

  /** Rejects everything pending on a failed worker and discards it; the next batch starts a fresh one. */
  private failWorker (slot: number, handle: WorkerHandle, reason: string): void {
    if (handle.retired) return
    handle.retired = true
    this.failureCount++
    if (this.slots[slot] === handle) this.slots[slot] = undefined
    const err = new VerifyPoolError(
      { code: 'VERIFY_WORKER_FAILED', threadId: handle.threadId, reason },
      `Signature verification worker ${handle.threadId} failed (${reason}); the batch was not verified, retry it (a fresh worker is started).`
    )
    for (const p of handle.pending.values()) p.reject(err)
    handle.pending.clear()
    handle.worker.terminate().catch(() => { /* already gone */ })
  }
}

function closedError (): VerifyPoolError {
  return new VerifyPoolError({ code: 'VERIFY_POOL_CLOSED' }, 'The signature verification pool is closed; create a new VerifyPool.')
}
