/**
 * Request/response protocols: chain status and block sync.
 *
 *   /medchain/<chainId>/status/1   request  [version u32 = 1]
 *                                  response [height u64, head hash bytes(32)]
 *   /medchain/<chainId>/blocks/1   request  [fromHeight u64, count u32 (1..64), maxBytes u32]
 *                                  response 0..count item frames [block bytes, certificate bytes]
 *                                           for heights fromHeight, fromHeight+1, ... in order,
 *                                           then ONE end frame [status u32] (0 ok, 1 bad request,
 *                                           2 unavailable)
 *
 * Every frame is a canonical msgpack tuple (src/types/codec.ts), length-prefixed with an unsigned
 * varint (`lpStream` from @libp2p/utils), one request per stream. Limits on both sides:
 *  - each frame kind has a size limit, checked on the length prefix before the body is buffered;
 *  - the server stops once the frames it sent reach the requested `maxBytes` (the last item may
 *    cross it, so a block larger than `maxBytes` is still served alone); the client refuses an
 *    item after the budget was reached, more items than requested, or heights out of order;
 *  - the server never sends more than MAX_BLOCKS_PER_REQUEST items, nor more than
 *    SERVER_MAX_RESPONSE_BYTES whatever was asked;
 *  - deadlines: the server waits `requestTimeoutMs` for the request and `responseTimeoutMs` for the
 *    whole answer to drain; the client waits `responseTimeoutMs` for the whole answer.
 * A violation ends the stream with a typed P2pError (SYNC_*); nothing crashes and nothing is imported.
 *
 * `syncFrom` is the client loop: status, then block ranges, imported by `importCertifiedBlocks`
 * (also the simulator's import step): each block checked against its certificate with
 * `verifyCommit` (cheap, before execution) and imported with `chain.importBlock(block, { commit })`,
 * which executes it and verifies the certificate again.
 * The first invalid block ends the sync with SYNC_INVALID_BLOCK: that block and everything after
 * it from this peer are discarded (blocks before it were certified by 2f+1 validators and are final).
 */
import './polyfill.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'
import {
  blockHash, decodeBlock, decodeCertificate, encodeCertificate, type Block, type CommitCertificate
} from '../types/block.js'
import { decodeCanonical, encodeCanonical, readBytes, readBytesMax, readTuple, readU32, readU64, u64, type Wire } from '../types/codec.js'
import { MAX_BLOCK_BYTES, MAX_VALIDATORS } from '../types/limits.js'
import type { ValidatorSet } from '../types/validatorSet.js'
import { HASH_LENGTH } from '../crypto/hash.js'
import { verifyCommit } from '../types/commit.js'
import { MedchainError } from '../util/errors.js'
import { P2pError } from './errors.js'

export const STATUS_VERSION = 1
/** Most blocks one request may ask for. */
export const MAX_BLOCKS_PER_REQUEST = 64
/** Largest encoded commit certificate (as decodeCertificate allows). */
export const MAX_CERTIFICATE_BYTES = MAX_VALIDATORS * 110 + 64
/** Largest item frame: the largest block, the largest certificate and the tuple's headers. */
export const MAX_BLOCK_ITEM_FRAME_BYTES = MAX_BLOCK_BYTES + MAX_CERTIFICATE_BYTES + 16
export const MAX_REQUEST_FRAME_BYTES = 64
export const MAX_STATUS_FRAME_BYTES = 64
/** The server answers at most this many bytes per request, whatever `maxBytes` asked. */
export const SERVER_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
/** Default byte budget a client asks for per request. */
export const DEFAULT_REQUEST_MAX_BYTES = 16 * 1024 * 1024

export const SyncStatus = { Ok: 0, BadRequest: 1, Unavailable: 2 } as const

export function statusProtocol (chainId: string): string {
  return `/medchain/${chainId}/status/1`
}

export function blocksProtocol (chainId: string): string {
  return `/medchain/${chainId}/blocks/1`
}

export interface SyncTimeouts {
  /** Server: how long to wait for the request frame. Default 5 s. */
  requestTimeoutMs: number
  /** Client: the whole answer; server: writing the whole answer. Default 30 s. */
  responseTimeoutMs: number
}

export const DEFAULT_SYNC_TIMEOUTS: SyncTimeouts = { requestTimeoutMs: 5_000, responseTimeoutMs: 30_000 }

/** What the server reads: a Chain satisfies it. */
export interface SyncSource {
  readonly head: { height: number, hash: Uint8Array }
  getBlockBytes: (height: number) => Promise<Uint8Array | undefined>
  getCertificate: (height: number) => Promise<CommitCertificate | undefined>
}

/** What the client imports into: a Chain satisfies it. */
export interface SyncTarget {
  readonly chainId: string
  readonly head: { height: number, hash: Uint8Array }
  /** The validator set that validates the next block (to verify its certificate before import). */
  readonly validatorSet: ValidatorSet
  importBlock: (block: Block, opts: { commit?: CommitCertificate }) => Promise<unknown>
}

export interface ChainStatus { height: number, hash: Uint8Array }

export interface BlocksRequest { fromHeight: number, count: number, maxBytes: number }

export interface SyncedBlock { height: number, block: Block, certificate: CommitCertificate, size: number }

/** Opens a stream of `protocol` to a peer (libp2p.dialProtocol). */
export type OpenStream = (peer: PeerId, protocol: string, opts: { signal: AbortSignal }) => Promise<Stream>

// ---------------------------------------------------------------------------------------------
// frames

export function encodeStatusRequest (): Uint8Array {
  return encodeCanonical([STATUS_VERSION])
}

export function encodeStatus (s: ChainStatus): Uint8Array {
  return encodeCanonical([u64(s.height), s.hash])
}

export function encodeBlocksRequest (r: BlocksRequest): Uint8Array {
  return encodeCanonical([u64(r.fromHeight), r.count, r.maxBytes])
}

export function encodeBlockItem (blockBytes: Uint8Array, certificateBytes: Uint8Array): Uint8Array {
  return encodeCanonical([blockBytes, certificateBytes])
}

export function encodeEnd (status: number): Uint8Array {
  return encodeCanonical([status])
}

/** A frame that does not decode as the protocol's message (shared by the blob protocol). */
export function badFrame (protocol: string, reason: string): P2pError {
  return new P2pError({ code: 'SYNC_BAD_FRAME', protocol, reason }, `The peer sent a frame that is not a valid ${protocol} message (${reason}).`)
}

/** Decodes a frame as a canonical tuple, mapping any codec error to SYNC_BAD_FRAME. */
function decodeFrame (bytes: Uint8Array, protocol: string, maxBytes: number): Wire[] {
  let value: Wire
  try {
    value = decodeCanonical(bytes, { maxBytes, maxItems: 4, maxDepth: 1 })
  } catch (err) {
    throw badFrame(protocol, err instanceof MedchainError ? String(err.code) : 'undecodable')
  }
  if (!Array.isArray(value)) throw badFrame(protocol, 'not a tuple')
  return value
}

function field<T> (protocol: string, read: () => T): T {
  try {
    return read()
  } catch (err) {
    throw badFrame(protocol, err instanceof Error ? err.message : 'bad field')
  }
}

export function decodeStatusRequest (bytes: Uint8Array, protocol = 'status'): void {
  const t = decodeFrame(bytes, protocol, MAX_REQUEST_FRAME_BYTES)
  const version = field(protocol, () => readU32(readTuple(t, 1, 'status request')[0], 'version'))
  if (version !== STATUS_VERSION) throw badFrame(protocol, `unsupported status version ${version}`)
}

export function decodeStatus (bytes: Uint8Array, protocol = 'status'): ChainStatus {
  const t = decodeFrame(bytes, protocol, MAX_STATUS_FRAME_BYTES)
  return field(protocol, () => {
    const s = readTuple(t, 2, 'status')
    return { height: readU64(s[0], 'status.height'), hash: readBytes(s[1], 'status.hash', HASH_LENGTH) }
  })
}

/** Decodes and bounds-checks a blocks request; SYNC_BAD_FRAME or SYNC_BAD_REQUEST. */
export function decodeBlocksRequest (bytes: Uint8Array, protocol = 'blocks'): BlocksRequest {
  const t = decodeFrame(bytes, protocol, MAX_REQUEST_FRAME_BYTES)
  const r = field(protocol, () => {
    const s = readTuple(t, 3, 'blocks request')
    return { fromHeight: readU64(s[0], 'fromHeight'), count: readU32(s[1], 'count'), maxBytes: readU32(s[2], 'maxBytes') }
  })
  if (r.fromHeight < 1) throw new P2pError({ code: 'SYNC_BAD_REQUEST', reason: 'fromHeight must be at least 1' }, 'Block sync starts at height 1.')
  if (r.count < 1 || r.count > MAX_BLOCKS_PER_REQUEST) throw new P2pError({ code: 'SYNC_BAD_REQUEST', reason: `count must be 1..${MAX_BLOCKS_PER_REQUEST}` }, `A block request asks for 1 to ${MAX_BLOCKS_PER_REQUEST} blocks, not ${r.count}.`)
  if (r.maxBytes < 1) throw new P2pError({ code: 'SYNC_BAD_REQUEST', reason: 'maxBytes must be positive' }, 'A block request must allow at least one byte.')
  return r
}

type ResponseFrame = { kind: 'item', blockBytes: Uint8Array, certificateBytes: Uint8Array } | { kind: 'end', status: number }

export function decodeResponseFrame (bytes: Uint8Array, protocol = 'blocks'): ResponseFrame {
  const t = decodeFrame(bytes, protocol, MAX_BLOCK_ITEM_FRAME_BYTES)
  if (t.length === 1) return { kind: 'end', status: field(protocol, () => readU32(t[0], 'status')) }
  if (t.length === 2) {
    return field(protocol, () => ({
      kind: 'item' as const,
      blockBytes: readBytesMax(t[0], 'block', MAX_BLOCK_BYTES),
      certificateBytes: readBytesMax(t[1], 'certificate', MAX_CERTIFICATE_BYTES)
    }))
  }
  throw badFrame(protocol, `a response frame has 1 or 2 fields, not ${t.length}`)
}

// ---------------------------------------------------------------------------------------------
// stream helpers

function contiguous (list: Uint8ArrayList): Uint8Array {
  return list.subarray()
}

/**
 * A time limit for awaiting a peer. Its timer is a normal (ref'd) timer, unlike the unref'd one of
 * the built-in timeout signals, so the wait it bounds always ends, and it is cleared once the work is done.
 */
export class Deadline {
  readonly signal: AbortSignal
  private readonly controller = new AbortController()
  private readonly timer: NodeJS.Timeout

  constructor (readonly timeoutMs: number) {
    this.signal = this.controller.signal
    this.timer = setTimeout(() => { this.controller.abort(new Error(`deadline of ${timeoutMs} ms passed`)) }, timeoutMs)
  }

  clear (): void {
    clearTimeout(this.timer)
  }
}

/** Maps what a stream read/write threw to a typed P2pError. `deadline` tells a timeout apart. */
export function streamError (err: unknown, protocol: string, deadline: { signal: AbortSignal, timeoutMs: number }, limit: number): P2pError {
  if (err instanceof P2pError) return err
  if (deadline.signal.aborted) {
    return new P2pError({ code: 'SYNC_TIMEOUT', protocol, timeoutMs: deadline.timeoutMs }, `The peer did not complete ${protocol} within ${deadline.timeoutMs} ms.`)
  }
  const name = err instanceof Error ? err.name : 'Error'
  if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError' || name === 'StreamBufferError') {
    return new P2pError({ code: 'SYNC_FRAME_TOO_LARGE', protocol, size: -1, limit }, `The peer sent a ${protocol} frame larger than the limit of ${limit} bytes.`)
  }
  if (name === 'InvalidMessageLengthError') return badFrame(protocol, 'invalid length prefix')
  const reason = err instanceof Error ? `${name}: ${err.message}` : String(err)
  return new P2pError({ code: 'SYNC_STREAM_FAILED', protocol, reason }, `The ${protocol} stream failed (${reason}).`)
}

/** Reads one length-prefixed frame, contiguous. */
export async function readFrame (lp: LengthPrefixedStream<Stream>, signal: AbortSignal): Promise<Uint8Array> {
  return contiguous(await lp.read({ signal }))
}

/**
 * A server's end of a request it could not read: `error` goes to the peer's record, a malformed
 * request gets `badRequestAnswer` (so an honest but incompatible client learns why), and the
 * stream is closed either way.
 */
export async function refuseRequest (stream: Stream, lp: LengthPrefixedStream<Stream>, error: P2pError, badRequestAnswer: Uint8Array, onPeerError: (() => void) | undefined): Promise<void> {
  onPeerError?.()
  if (error.code === 'SYNC_BAD_REQUEST' || error.code === 'SYNC_BAD_FRAME') {
    const answerDeadline = new Deadline(1_000)
    await lp.write(badRequestAnswer, { signal: answerDeadline.signal }).catch(() => undefined)
    answerDeadline.clear()
    await finish(stream)
  } else {
    await finish(stream, error)
  }
}

/**
 * A server's end of a response that failed while it was being sent: a peer that stopped reading
 * (SYNC_TIMEOUT) is reported, the stream is aborted with the error.
 */
export async function abortResponse (stream: Stream, err: unknown, protocol: string, deadline: Deadline, limit: number, onPeerTimeout: ((error: P2pError) => void) | undefined): Promise<void> {
  const error = streamError(err, protocol, deadline, limit)
  if (error.code === 'SYNC_TIMEOUT') onPeerTimeout?.(error)
  await finish(stream, error)
}

/**
 * Opens a client stream to `peer` under a deadline of `timeoutMs` for the whole exchange; a failure
 * to open is a typed P2pError (and the deadline is cleared). The caller clears the deadline after.
 */
export async function openStreamWithin (peer: PeerId, protocol: string, openStream: OpenStream, timeoutMs: number, limit: number): Promise<{ stream: Stream, deadline: Deadline }> {
  const deadline = new Deadline(timeoutMs)
  try {
    return { stream: await openStream(peer, protocol, { signal: deadline.signal }), deadline }
  } catch (err) {
    deadline.clear()
    throw streamError(err, protocol, deadline, limit)
  }
}

function lpFor (stream: Stream, maxDataLength: number): LengthPrefixedStream<Stream> {
  // maxBufferSize bounds what a peer can make us buffer ahead of our reads
  return lpStream(stream, { maxDataLength, maxBufferSize: maxDataLength + 1024 })
}

/** Closes a stream we are done with; aborts it if a graceful close fails. Never throws. */
export async function finish (stream: Stream, error?: Error): Promise<void> {
  if (error !== undefined) {
    stream.abort(error)
    return
  }
  const deadline = new Deadline(2_000)
  try {
    await stream.close({ signal: deadline.signal })
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  } finally {
    deadline.clear()
  }
}

// ---------------------------------------------------------------------------------------------
// server

export interface SyncServerOptions {
  source: SyncSource
  timeouts?: Partial<SyncTimeouts>
  /** A peer sent a bad request or stalled: for scoring and logs. */
  onPeerError?: (peer: PeerId, error: P2pError) => void
}

/** The status protocol's handler: read one request, answer the head, close. */
export function getStatusHandler (protocol: string, opts: SyncServerOptions) {
  const timeouts = { ...DEFAULT_SYNC_TIMEOUTS, ...opts.timeouts }
  return async (stream: Stream, connection: Connection): Promise<void> => {
    const lp = lpFor(stream, MAX_REQUEST_FRAME_BYTES)
    let deadline = new Deadline(timeouts.requestTimeoutMs)
    try {
      decodeStatusRequest(await readFrame(lp, deadline.signal), protocol)
      deadline.clear()
      deadline = new Deadline(timeouts.responseTimeoutMs)
      const head = opts.source.head
      await lp.write(encodeStatus({ height: head.height, hash: head.hash }), { signal: deadline.signal })
      await finish(stream)
    } catch (err) {
      const error = streamError(err, protocol, deadline, MAX_REQUEST_FRAME_BYTES)
      opts.onPeerError?.(connection.remotePeer, error)
      await finish(stream, error)
    } finally {
      deadline.clear()
    }
  }
}

/** The blocks protocol's handler: read one request, stream the blocks with their certificates, end frame, close. */
export function getBlocksHandler (protocol: string, opts: SyncServerOptions) {
  const timeouts = { ...DEFAULT_SYNC_TIMEOUTS, ...opts.timeouts }
  return async (stream: Stream, connection: Connection): Promise<void> => {
    const lp = lpFor(stream, MAX_REQUEST_FRAME_BYTES)
    const requestDeadline = new Deadline(timeouts.requestTimeoutMs)
    let request: BlocksRequest
    try {
      request = decodeBlocksRequest(await readFrame(lp, requestDeadline.signal), protocol)
    } catch (err) {
      const error = streamError(err, protocol, requestDeadline, MAX_REQUEST_FRAME_BYTES)
      requestDeadline.clear()
      await refuseRequest(stream, lp, error, encodeEnd(SyncStatus.BadRequest), () => opts.onPeerError?.(connection.remotePeer, error))
      return
    }
    requestDeadline.clear()
    const deadline = new Deadline(timeouts.responseTimeoutMs)
    const signal = deadline.signal
    const budget = Math.min(request.maxBytes, SERVER_MAX_RESPONSE_BYTES)
    let sent = 0
    try {
      const last = Math.min(request.fromHeight + request.count - 1, opts.source.head.height)
      let status: number = SyncStatus.Ok
      for (let height = request.fromHeight; height <= last && sent < budget; height++) {
        let item: Uint8Array | undefined
        try {
          const blockBytes = await opts.source.getBlockBytes(height)
          const certificate = await opts.source.getCertificate(height)
          if (blockBytes !== undefined && certificate !== undefined) item = encodeBlockItem(blockBytes, encodeCertificate(certificate))
        } catch {
          status = SyncStatus.Unavailable // our store failed (e.g. closing): not the peer's fault
        }
        if (item === undefined) break
        await lp.write(item, { signal })
        sent += item.length
      }
      await lp.write(encodeEnd(status), { signal })
      await finish(stream)
    } catch (err) {
      await abortResponse(stream, err, protocol, deadline, MAX_BLOCK_ITEM_FRAME_BYTES, (error) => opts.onPeerError?.(connection.remotePeer, error))
    } finally {
      deadline.clear()
    }
  }
}

// ---------------------------------------------------------------------------------------------
// client

export interface SyncClientOptions {
  openStream: OpenStream
  timeouts?: Partial<SyncTimeouts>
}

async function withStream<T> (peer: PeerId, protocol: string, opts: SyncClientOptions, limit: number, body: (lp: LengthPrefixedStream<Stream>, signal: AbortSignal) => Promise<T>): Promise<T> {
  const timeoutMs = { ...DEFAULT_SYNC_TIMEOUTS, ...opts.timeouts }.responseTimeoutMs
  const { stream, deadline } = await openStreamWithin(peer, protocol, opts.openStream, timeoutMs, limit)
  try {
    const result = await body(lpFor(stream, limit), deadline.signal)
    await finish(stream)
    return result
  } catch (err) {
    const error = streamError(err, protocol, deadline, limit)
    await finish(stream, error)
    throw error
  } finally {
    deadline.clear()
  }
}

/** Asks a peer for its head. Throws P2pError (SYNC_*). */
export async function requestStatus (peer: PeerId, protocol: string, opts: SyncClientOptions): Promise<ChainStatus> {
  return await withStream(peer, protocol, opts, MAX_STATUS_FRAME_BYTES, async (lp, signal) => {
    await lp.write(encodeStatusRequest(), { signal })
    return decodeStatus(await readFrame(lp, signal), protocol)
  })
}

/**
 * Fetches a range of blocks with their certificates; checks the frames (sizes, order, count,
 * byte budget) and decodes them. Does not verify anything cryptographic (syncFrom does).
 * Throws P2pError: SYNC_BAD_FRAME, SYNC_FRAME_TOO_LARGE, SYNC_TIMEOUT, SYNC_STREAM_FAILED,
 * SYNC_PEER_ERROR, SYNC_INVALID_BLOCK (does not decode, or wrong height).
 */
export async function requestBlocks (peer: PeerId, protocol: string, request: BlocksRequest, opts: SyncClientOptions): Promise<SyncedBlock[]> {
  if (request.count < 1 || request.count > MAX_BLOCKS_PER_REQUEST || request.fromHeight < 1 || request.maxBytes < 1) {
    // our own mistake, not the peer's: not a P2pError, so nobody is penalised for it
    throw new RangeError(`requestBlocks: ask for 1 to ${MAX_BLOCKS_PER_REQUEST} blocks from height 1 or more with a positive byte budget`)
  }
  return await withStream(peer, protocol, opts, MAX_BLOCK_ITEM_FRAME_BYTES, async (lp, signal) => {
    await lp.write(encodeBlocksRequest(request), { signal })
    const out: SyncedBlock[] = []
    let received = 0
    while (true) {
      const bytes = await readFrame(lp, signal)
      const frame = decodeResponseFrame(bytes, protocol)
      if (frame.kind === 'end') {
        if (frame.status !== SyncStatus.Ok) throw new P2pError({ code: 'SYNC_PEER_ERROR', status: frame.status }, `The peer refused the block request (status ${frame.status}).`)
        return out
      }
      if (out.length >= request.count) throw badFrame(protocol, `more than the ${request.count} blocks requested`)
      if (received >= request.maxBytes) {
        throw new P2pError({ code: 'SYNC_FRAME_TOO_LARGE', protocol, size: received + bytes.length, limit: request.maxBytes }, `The peer sent more than the ${request.maxBytes} bytes requested.`)
      }
      received += bytes.length
      const height = request.fromHeight + out.length
      let block: Block
      let certificate: CommitCertificate
      try {
        block = decodeBlock(frame.blockBytes)
        certificate = decodeCertificate(frame.certificateBytes)
      } catch (err) {
        throw invalidBlock(height, err)
      }
      if (block.header.height !== height) throw invalidBlock(height, `block at height ${block.header.height} where ${height} was due`)
      out.push({ height, block, certificate, size: bytes.length })
    }
  })
}

function invalidBlock (height: number, cause: unknown): P2pError {
  const reason = typeof cause === 'string' ? cause : cause instanceof MedchainError ? String(cause.code) : 'undecodable'
  return new P2pError({ code: 'SYNC_INVALID_BLOCK', height, reason }, `The peer served an invalid block or certificate at height ${height} (${reason}); it is dropped and nothing of it is imported.`)
}

/** Codes of import failures that are ours, not the peer's (the store is closing or corrupt). */
function isLocalFailure (err: unknown): boolean {
  return err instanceof MedchainError && String(err.code).startsWith('STORE_')
}

/** A block offered for import with the certificate that commits it. */
export interface CertifiedBlock { block: Block, certificate: CommitCertificate }

/** Where `importCertifiedBlocks` stopped: a block that did not follow the head ('gap'), or one that failed its checks ('invalid'). */
export interface ImportStop { height: number, reason: 'gap' | 'invalid', error: unknown }

export interface ImportCertifiedOptions {
  /** Errors that are ours, not the blocks' (e.g. the store failing): thrown as they are instead of stopping. */
  rethrow?: (err: unknown) => boolean
  /** Called after each imported block, with its hash. */
  onImported?: (block: Block, hash: Uint8Array) => void
}

/**
 * Block sync's import step, shared by `syncFrom` and the simulator's block sync: imports `blocks`
 * in order onto `chain`. A block at or below the head is skipped (imported meanwhile, e.g. by
 * consensus); the first block that does not follow the head, or whose certificate does not verify
 * against the validator set in force for it, or that importBlock refuses, ends the import: blocks
 * before it stay imported (certified by 2f+1 validators, so final), it and the rest are not. A
 * failure after which the head has reached that height anyway (a race with another import) is no
 * failure. Resolves with where it stopped, or undefined when every block is in.
 */
export async function importCertifiedBlocks (chain: SyncTarget, blocks: Iterable<CertifiedBlock>, opts: ImportCertifiedOptions = {}): Promise<ImportStop | undefined> {
  for (const { block, certificate } of blocks) {
    const height = block.header.height
    if (chain.head.height >= height) continue
    if (height !== chain.head.height + 1) return { height, reason: 'gap', error: `block at height ${height} where ${chain.head.height + 1} was due` }
    let hash: Uint8Array
    try {
      hash = blockHash(block.header)
      verifyCommit(chain.chainId, chain.validatorSet, hash, height, certificate)
      await chain.importBlock(block, { commit: certificate })
    } catch (error) {
      if (opts.rethrow?.(error) === true) throw error
      if (chain.head.height >= height) continue
      return { height, reason: 'invalid', error }
    }
    opts.onImported?.(block, hash)
  }
  return undefined
}

export interface SyncFromOptions extends SyncClientOptions {
  protocols: { status: string, blocks: string }
  /** Byte budget per request; default 16 MiB. */
  maxBytesPerRequest?: number
  /** Blocks per request; default 64. */
  blocksPerRequest?: number
  /** Stop at this height even if the peer is further (default: the peer's head at the start). */
  targetHeight?: number
  /** Called after each imported block. */
  onImported?: (height: number) => void
}

export interface SyncResult {
  /** The peer's head when the sync started. */
  peerHead: ChainStatus
  imported: number
  /** Our head after the sync. */
  height: number
}

/**
 * Catches `chain` up with `peer`: asks its status, then fetches and imports block ranges until our
 * head reaches the peer's head at the start. Each block must come with a certificate that
 * verifies against the validator set in force for it, then importBlock runs every other check.
 * Throws P2pError; an import failure that is the peer's fault is SYNC_INVALID_BLOCK; a failure of
 * our own store is rethrown as it is.
 */
export async function syncFrom (peer: PeerId, chain: SyncTarget, opts: SyncFromOptions): Promise<SyncResult> {
  const peerHead = await requestStatus(peer, opts.protocols.status, opts)
  const target = Math.min(peerHead.height, opts.targetHeight ?? Number.MAX_SAFE_INTEGER)
  const perRequest = Math.min(Math.max(1, opts.blocksPerRequest ?? MAX_BLOCKS_PER_REQUEST), MAX_BLOCKS_PER_REQUEST)
  const maxBytes = opts.maxBytesPerRequest ?? DEFAULT_REQUEST_MAX_BYTES
  let imported = 0
  while (chain.head.height < target) {
    const fromHeight = chain.head.height + 1
    const count = Math.min(perRequest, target - fromHeight + 1)
    const blocks = await requestBlocks(peer, opts.protocols.blocks, { fromHeight, count, maxBytes }, opts)
    if (blocks.length === 0) {
      throw new P2pError({ code: 'SYNC_NO_PROGRESS', height: fromHeight }, `The peer claims height ${peerHead.height} but served no block at ${fromHeight}.`)
    }
    const stop = await importCertifiedBlocks(chain, blocks, { rethrow: isLocalFailure, onImported: (block) => { imported++; opts.onImported?.(block.header.height) } })
    if (stop !== undefined) throw invalidBlock(stop.height, stop.error)
  }
  return { peerHead, imported, height: chain.head.height }
}
