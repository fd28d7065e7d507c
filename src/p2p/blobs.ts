/**
 * Blob exchange: fetching an encrypted record content (ciphertext) from a peer by its sha256.
 *
 *   /medchain/<chainId>/blob/1   request  [hash bytes(32)]
 *                                response ONE header frame [status u32, size u64]
 *                                           status 0 found, 1 not found, 2 bad request, 3 unavailable
 *                                         when found: data frames (raw bytes, 1..BLOB_DATA_FRAME_BYTES
 *                                           each) adding up to exactly `size`, then ONE end frame
 *                                           [status u32] (0 ok; 3 the server found its copy corrupt
 *                                           while sending it)
 *
 * Framing as sync.ts: varint length prefixes (`lpStream`), one request per stream, a size limit
 * per frame checked on the prefix, canonical msgpack tuples for the request, header and end frame.
 * The client refuses an announced size above its own limit (before any data flows, not the peer's
 * fault), more bytes than announced, an empty data frame, a missing end frame, and bytes that do
 * not hash to the requested hash: the data goes through `BlobStore.put` with `expectedHash`, so a
 * wrong blob is never stored, and the peer is penalised for BLOB_INVALID_DATA like a peer serving
 * an invalid block (PENALTY, scoring.ts). The end frame lets an honest server whose disk copy turned
 * out corrupt say so before the client hashes the last byte (SYNC_PEER_ERROR, no penalty).
 * Deadlines: the server waits `requestTimeoutMs` for the request; the whole transfer (both sides)
 * must finish within `transferTimeoutMs`.
 */
import './polyfill.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { decodeCanonical, encodeCanonical, readBytes, readTuple, readU32, readU64, u64, type Wire } from '../types/codec.js'
import { toHex } from '../crypto/bytes.js'
import { HASH_LENGTH } from '../crypto/hash.js'
import { BlobError } from '../blobs/errors.js'
import type { BlobStore, StoredBlob } from '../blobs/store.js'
import { MedchainError } from '../util/errors.js'
import { P2pError } from './errors.js'
import { abortResponse, badFrame, Deadline, finish, openStreamWithin, readFrame, refuseRequest, streamError, type OpenStream } from './sync.js'

/** Largest data frame (raw ciphertext bytes). */
export const BLOB_DATA_FRAME_BYTES = 64 * 1024
/** The frame limit of the protocol: data frames; request, header and end frames are far smaller. */
export const MAX_BLOB_FRAME_BYTES = BLOB_DATA_FRAME_BYTES
const MAX_CONTROL_FRAME_BYTES = 64

export const BlobStatus = { Ok: 0, NotFound: 1, BadRequest: 2, Unavailable: 3 } as const

export function blobProtocol (chainId: string): string {
  return `/medchain/${chainId}/blob/1`
}

export interface BlobTimeouts {
  /** Server: how long to wait for the request frame. Default 5 s. */
  requestTimeoutMs: number
  /** Both sides: the whole transfer. Default 120 s (64 MiB at ~0.5 MiB/s). */
  transferTimeoutMs: number
}

export const DEFAULT_BLOB_TIMEOUTS: BlobTimeouts = { requestTimeoutMs: 5_000, transferTimeoutMs: 120_000 }

// ---------------------------------------------------------------------------------------------
// frames

export function encodeBlobRequest (hash: Uint8Array): Uint8Array {
  return encodeCanonical([hash])
}

export function encodeBlobHeader (status: number, size: number): Uint8Array {
  return encodeCanonical([status, u64(size)])
}

export function encodeBlobEnd (status: number): Uint8Array {
  return encodeCanonical([status])
}

function decodeControl (bytes: Uint8Array, protocol: string, fields: number, what: string): Wire[] {
  let value: Wire
  try {
    value = decodeCanonical(bytes, { maxBytes: MAX_CONTROL_FRAME_BYTES, maxItems: 4, maxDepth: 1 })
  } catch (err) {
    throw badFrame(protocol, err instanceof MedchainError ? String(err.code) : 'undecodable')
  }
  try {
    return readTuple(value, fields, what)
  } catch (err) {
    throw badFrame(protocol, err instanceof Error ? err.message : 'bad tuple')
  }
}

export function decodeBlobRequest (bytes: Uint8Array, protocol = 'blob'): Uint8Array {
  const t = decodeControl(bytes, protocol, 1, 'blob request')
  try {
    return readBytes(t[0], 'hash', HASH_LENGTH)
  } catch (err) {
    throw badFrame(protocol, err instanceof Error ? err.message : 'bad hash')
  }
}

export function decodeBlobHeader (bytes: Uint8Array, protocol = 'blob'): { status: number, size: number } {
  const t = decodeControl(bytes, protocol, 2, 'blob header')
  try {
    return { status: readU32(t[0], 'status'), size: readU64(t[1], 'size') }
  } catch (err) {
    throw badFrame(protocol, err instanceof Error ? err.message : 'bad header')
  }
}

export function decodeBlobEnd (bytes: Uint8Array, protocol = 'blob'): number {
  const t = decodeControl(bytes, protocol, 1, 'blob end')
  try {
    return readU32(t[0], 'status')
  } catch (err) {
    throw badFrame(protocol, err instanceof Error ? err.message : 'bad end frame')
  }
}

// ---------------------------------------------------------------------------------------------
// stream helpers

/** Bytes a receiving client lets pile up unread before it pauses the stream (yamux then stops granting window). */
const CLIENT_PAUSE_BYTES = 1024 * 1024
/** Most bytes buffered unread on one stream: what arrives after a pause still fits. */
const CLIENT_MAX_BUFFER_BYTES = 16 * 1024 * 1024

function lpFor (stream: Stream, maxBufferSize = MAX_BLOB_FRAME_BYTES + 1024): LengthPrefixedStream<Stream> {
  return lpStream(stream, { maxDataLength: MAX_BLOB_FRAME_BYTES, maxBufferSize })
}

/**
 * Backpressure for the receiving side: data frames arrive faster than a disk may take them, and
 * libp2p dispatches every arriving chunk at once. Past CLIENT_PAUSE_BYTES unread the stream is
 * paused (yamux stops granting the sender window), and resumed once the reader caught up.
 */
function watchBacklog (stream: Stream): { consumed: (bytes: number) => void, stop: () => void } {
  let backlog = 0
  const onMessage = (evt: Event): void => {
    backlog += (evt as Event & { data: { byteLength: number } }).data.byteLength
    if (backlog > CLIENT_PAUSE_BYTES && stream.readStatus === 'readable') stream.pause()
  }
  stream.addEventListener('message', onMessage)
  return {
    consumed: (bytes) => {
      backlog -= bytes
      if (backlog < CLIENT_PAUSE_BYTES / 4 && stream.readStatus === 'paused') stream.resume()
    },
    stop: () => { stream.removeEventListener('message', onMessage) }
  }
}

/** Our own read buffer overflowed (we were slower than the peer): not the peer's fault. */
function isBufferOverflow (err: unknown): boolean {
  return err instanceof Error && err.name === 'StreamBufferError'
}


// ---------------------------------------------------------------------------------------------
// server

export interface BlobServerOptions {
  store: BlobStore
  timeouts?: Partial<BlobTimeouts>
  /** A peer sent a bad request or stalled: for scoring and logs. */
  onPeerError?: (peer: PeerId, error: P2pError) => void
  /** Our own store failed (e.g. a corrupt copy was found and quarantined): for logs. */
  onStoreError?: (hash: Uint8Array, error: unknown) => void
}

/** The blob protocol's handler: read one request, answer header, data frames and end frame, close. */
export function getBlobHandler (protocol: string, opts: BlobServerOptions) {
  const timeouts = { ...DEFAULT_BLOB_TIMEOUTS, ...opts.timeouts }
  return async (stream: Stream, connection: Connection): Promise<void> => {
    const lp = lpFor(stream)
    const requestDeadline = new Deadline(timeouts.requestTimeoutMs)
    let hash: Uint8Array
    try {
      hash = decodeBlobRequest(await readFrame(lp, requestDeadline.signal), protocol)
    } catch (err) {
      const error = streamError(err, protocol, requestDeadline, MAX_CONTROL_FRAME_BYTES)
      requestDeadline.clear()
      await refuseRequest(stream, lp, error, encodeBlobHeader(BlobStatus.BadRequest, 0), () => opts.onPeerError?.(connection.remotePeer, error))
      return
    }
    requestDeadline.clear()
    const deadline = new Deadline(timeouts.transferTimeoutMs)
    const signal = deadline.signal
    try {
      let size: number | undefined
      try {
        size = await opts.store.size(hash)
      } catch (err) {
        opts.onStoreError?.(hash, err)
        await lp.write(encodeBlobHeader(BlobStatus.Unavailable, 0), { signal })
        await finish(stream)
        return
      }
      if (size === undefined) {
        await lp.write(encodeBlobHeader(BlobStatus.NotFound, 0), { signal })
        await finish(stream)
        return
      }
      await lp.write(encodeBlobHeader(BlobStatus.Ok, size), { signal })
      let sent = 0
      let storeError: unknown
      const source = opts.store.get(hash)[Symbol.asyncIterator]()
      try {
        while (storeError === undefined) {
          let next: IteratorResult<Uint8Array>
          try {
            next = await source.next()
          } catch (err) {
            storeError = err // our copy is bad (BLOB_CORRUPT: quarantined by the store) or vanished
            break
          }
          if (next.done === true) break
          const chunk = next.value
          if (sent + chunk.length > size) storeError = new Error('the stored blob grew while being sent')
          for (let off = 0; off < chunk.length && storeError === undefined; off += BLOB_DATA_FRAME_BYTES) {
            const piece = chunk.subarray(off, Math.min(chunk.length, off + BLOB_DATA_FRAME_BYTES))
            await lp.write(piece, { signal })
            sent += piece.length
          }
        }
      } finally {
        await source.return?.().catch(() => undefined)
      }
      if (storeError === undefined && sent !== size) storeError = new Error('the stored blob shrank while being sent')
      let endStatus: number = BlobStatus.Ok
      if (storeError !== undefined) {
        // not the peer's fault: say so (end status) when every byte went out, else cut the stream
        opts.onStoreError?.(hash, storeError)
        if (sent !== size) {
          await finish(stream, storeError instanceof Error ? storeError : new Error(String(storeError)))
          return
        }
        endStatus = BlobStatus.Unavailable
      }
      await lp.write(encodeBlobEnd(endStatus), { signal })
      await finish(stream)
    } catch (err) {
      await abortResponse(stream, err, protocol, deadline, MAX_BLOB_FRAME_BYTES, (error) => opts.onPeerError?.(connection.remotePeer, error))
    } finally {
      deadline.clear()
    }
  }
}

// ---------------------------------------------------------------------------------------------
// client

export interface BlobClientOptions {
  openStream: OpenStream
  store: BlobStore
  /** Largest blob accepted: a larger announced size is refused before any data flows. */
  maxBytes: number
  timeouts?: Partial<BlobTimeouts>
}

function invalidData (hash: Uint8Array, reason: string): P2pError {
  return new P2pError({ code: 'BLOB_INVALID_DATA', hash: toHex(hash), reason }, `The peer served bytes that are not blob ${toHex(hash).slice(0, 16)}… (${reason}); nothing was stored.`)
}

/**
 * Fetches blob `hash` from `peer` into `opts.store` (verified through `put` with expectedHash).
 * Resolves with the stored blob, or undefined when the peer does not have it. Throws P2pError
 * (BLOB_INVALID_DATA, SYNC_BAD_FRAME, SYNC_FRAME_TOO_LARGE, SYNC_TIMEOUT, SYNC_STREAM_FAILED,
 * SYNC_PEER_ERROR) or BlobError BLOB_TOO_LARGE (announced size above our limit: not the peer's fault).
 */
export async function fetchBlobFrom (peer: PeerId, protocol: string, hash: Uint8Array, opts: BlobClientOptions): Promise<StoredBlob | undefined> {
  if (hash.length !== HASH_LENGTH) throw new RangeError('fetchBlobFrom: a blob hash is 32 bytes')
  const timeoutMs = { ...DEFAULT_BLOB_TIMEOUTS, ...opts.timeouts }.transferTimeoutMs
  const { stream, deadline } = await openStreamWithin(peer, protocol, opts.openStream, timeoutMs, MAX_BLOB_FRAME_BYTES)
  const signal = deadline.signal
  const backlog = watchBacklog(stream)
  try {
    const lp = lpFor(stream, CLIENT_MAX_BUFFER_BYTES)
    await lp.write(encodeBlobRequest(hash), { signal })
    const header = decodeBlobHeader(await readFrame(lp, signal), protocol)
    if (header.status === BlobStatus.NotFound) {
      await finish(stream)
      return undefined
    }
    if (header.status !== BlobStatus.Ok) throw new P2pError({ code: 'SYNC_PEER_ERROR', status: header.status }, `The peer refused the blob request (status ${header.status}).`)
    if (header.size > opts.maxBytes) {
      const refusal = new BlobError({ code: 'BLOB_TOO_LARGE', size: header.size, limit: opts.maxBytes }, `The peer's blob is ${header.size} bytes, more than the limit of ${opts.maxBytes}; it was not fetched.`)
      await finish(stream, refusal)
      throw refusal
    }
    const size = header.size
    async function * body (): AsyncIterable<Uint8Array> {
      let received = 0
      while (received < size) {
        const frame = await readFrame(lp, signal)
        if (frame.length === 0) throw invalidData(hash, 'an empty data frame')
        if (received + frame.length > size) throw invalidData(hash, `more than the ${size} bytes announced`)
        received += frame.length
        backlog.consumed(frame.length + 4)
        yield frame
      }
      const end = decodeBlobEnd(await readFrame(lp, signal), protocol)
      if (end !== BlobStatus.Ok) throw new P2pError({ code: 'SYNC_PEER_ERROR', status: end }, `The peer could not finish sending the blob (status ${end}).`)
    }
    let stored: StoredBlob
    try {
      stored = await opts.store.put(body(), { expectedHash: hash, maxBytes: size })
    } catch (err) {
      if (err instanceof BlobError && err.code === 'BLOB_HASH_MISMATCH') throw invalidData(hash, 'wrong sha256')
      throw err
    }
    await finish(stream)
    return stored
  } catch (err) {
    if (err instanceof BlobError && err.code === 'BLOB_TOO_LARGE') throw err
    if (err instanceof MedchainError && !(err instanceof P2pError)) {
      // our own store failed: not the peer's fault, rethrown as it is
      await finish(stream, err)
      throw err
    }
    const error = isBufferOverflow(err)
      ? new P2pError({ code: 'SYNC_STREAM_FAILED', protocol, reason: 'our read buffer overflowed' }, `The ${protocol} transfer outran this node's read buffer; it will be retried.`)
      : streamError(err, protocol, deadline, MAX_BLOB_FRAME_BYTES)
    await finish(stream, error)
    throw error
  } finally {
    backlog.stop()
    deadline.clear()
  }
}
