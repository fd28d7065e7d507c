/**
 * The worker thread of `VerifyPool` (verifyPool.ts), and the one definition of the chunk format
 * that the pool and its workers exchange.
 *
 * ## Chunk format
 *
 * A chunk of `count` signature jobs travels as ONE transferable ArrayBuffer, jobs back to back:
 *
 *     | public key 32 B | signature 64 B | message length u32 little-endian | message |
 *
 * The worker answers with one byte per job (1 = valid, 0 = invalid), in a transferred Uint8Array.
 * Jobs whose key or signature does not fit the fixed slots never enter a chunk: the pool verifies
 * them on its own thread with the same `verify`, which refuses them at its first check.
 *
 * ## One verification rule
 *
 * The worker calls THE `verify` of ./ed25519.ts and nothing else, so a signature gets the same
 * verdict on a worker as on the main thread: there is one signature rule in the whole node.
 *
 * The message listener is attached only on a thread started by the pool (marked through
 * `workerData`), so importing this module anywhere else has no side effect.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, verify } from './ed25519.js'

/** Bytes of a job before its message: key, signature, u32 message length. */
export const JOB_HEADER_LENGTH = PUBLIC_KEY_LENGTH + SIGNATURE_LENGTH + 4
/** Longest message a chunk can carry (the u32 length field). */
export const MAX_JOB_MESSAGE_LENGTH = 0xffffffff

/** The `workerData` key by which a thread knows the pool started it as a verify worker. */
export const VERIFY_WORKER_MARK = 'medchainVerifyWorker'

/** One signature check: the triple that `verify` takes. */
export interface VerifyJob {
  publicKey: Uint8Array
  message: Uint8Array
  signature: Uint8Array
}

/** Pool → worker. `buffer` is transferred. */
export interface VerifyRequest {
  id: number
  count: number
  buffer: ArrayBuffer
}

/** Worker → pool: one verdict byte per job, or why the chunk could not be read. */
export type VerifyResponse =
  | { id: number, verdicts: Uint8Array }
  | { id: number, error: string }

/** True when a job fits the fixed slots of the chunk format. */
export function jobFitsChunk (job: VerifyJob): boolean {
  return job.publicKey.length === PUBLIC_KEY_LENGTH &&
    job.signature.length === SIGNATURE_LENGTH &&
    job.message.length <= MAX_JOB_MESSAGE_LENGTH
}

/**
 * Packs `jobs[indices[start]] … jobs[indices[end - 1]]` into one fresh ArrayBuffer. Every job must
 * fit (`jobFitsChunk`); the caller filters.
 */
export function packVerifyJobs (jobs: ReadonlyArray<VerifyJob>, indices: ReadonlyArray<number>, start: number, end: number): ArrayBuffer {
  let total = 0
  for (let i = start; i < end; i++) total += JOB_HEADER_LENGTH + (jobs[indices[i] as number] as VerifyJob).message.length
  const buffer = new ArrayBuffer(total)
  const bytes = new Uint8Array(buffer)
  const view = new DataView(buffer)
  let offset = 0
  for (let i = start; i < end; i++) {
    const job = jobs[indices[i] as number] as VerifyJob
    bytes.set(job.publicKey, offset)
    bytes.set(job.signature, offset + PUBLIC_KEY_LENGTH)
    view.setUint32(offset + PUBLIC_KEY_LENGTH + SIGNATURE_LENGTH, job.message.length, true)
    bytes.set(job.message, offset + JOB_HEADER_LENGTH)
    offset += JOB_HEADER_LENGTH + job.message.length
  }
  return buffer
}

/**
 * Verifies every job of a packed chunk with THE `verify`; returns one byte per job. Throws
 * RangeError when the buffer does not hold exactly `count` well-formed jobs.
 */
export function verifyPackedJobs (buffer: ArrayBuffer, count: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(buffer)
  const view = new DataView(buffer)
  const verdicts = new Uint8Array(count)
  let offset = 0
  for (let i = 0; i < count; i++) {
    if (offset + JOB_HEADER_LENGTH > bytes.length) throw new RangeError(`job ${i} of ${count} is cut short at byte ${offset}`)
    const messageStart = offset + JOB_HEADER_LENGTH
    const messageEnd = messageStart + view.getUint32(offset + PUBLIC_KEY_LENGTH + SIGNATURE_LENGTH, true)
    if (messageEnd > bytes.length) throw new RangeError(`the message of job ${i} of ${count} runs past the end of the chunk`)
    const ok = verify(
      bytes.subarray(offset, offset + PUBLIC_KEY_LENGTH),
      bytes.subarray(messageStart, messageEnd),
      bytes.subarray(offset + PUBLIC_KEY_LENGTH, messageStart - 4)
    )
    verdicts[i] = ok ? 1 : 0
    offset = messageEnd
  }
  if (offset !== bytes.length) throw new RangeError(`the chunk has ${bytes.length - offset} bytes after its ${count} jobs`)
  return verdicts
}

function isVerifyRequest (value: unknown): value is VerifyRequest {
  if (typeof value !== 'object' || value === null) return false
  const r = value as Partial<VerifyRequest>
  return Number.isSafeInteger(r.id) && Number.isSafeInteger(r.count) && (r.count as number) >= 0 && r.buffer instanceof ArrayBuffer
}

const startedByPool = typeof workerData === 'object' && workerData !== null &&
  (workerData as Record<string, unknown>)[VERIFY_WORKER_MARK] === true

if (!isMainThread && parentPort !== null && startedByPool) {
  const port = parentPort
  port.on('message', (request: unknown) => {
    if (!isVerifyRequest(request)) {
      const id = typeof request === 'object' && request !== null ? (request as { id?: unknown }).id : undefined
      port.postMessage({ id: typeof id === 'number' ? id : -1, error: 'the request is not { id, count, buffer }' } satisfies VerifyResponse)
      return
    }
    let response: VerifyResponse
    try {
      const verdicts = verifyPackedJobs(request.buffer, request.count)
      response = { id: request.id, verdicts }
      port.postMessage(response, [verdicts.buffer])
    } catch (err) {
      response = { id: request.id, error: err instanceof Error ? err.message : String(err) }
      port.postMessage(response)
    }
  })
}
