/**
 * HTTP routes for blobs (encrypted record contents) on the RPC server (the headers, method names
 * and serve-log line shared with the client are in src/blobs/protocol.ts). Not JSON-RPC: the bodies
 * are raw ciphertext, streamed. Every call is a signed query (auth.ts) whose auth travels in headers:
 *
 *   X-Medchain-Requester   the requester's public key, 64 hex digits
 *   X-Medchain-Timestamp   milliseconds since the epoch (decimal)
 *   X-Medchain-Signature   128 hex digits: ed25519 over querySigningBytes(chainId, method, params, timestamp)
 *
 * with the same 60 s window and the same replay cache as JSON-RPC signed queries.
 *
 *  PUT /blobs/<contentHashHex>                    method blob_put, params {hash, size}
 *      hash = the path's hex as sent, size = Content-Length (required). The requester must be an
 *      effectively active clinician. The body is streamed into the store, hashed on the way; the
 *      blob is kept only when it hashes to `hash` and is at most `maxBytes`. → 200 {hash, size}
 *
 *  GET /blobs/<recordIdHex>?access=<accessTxHashHex>   method blob_get, params {recordId, access}
 *      Served when, in this order: the access tx is committed (BLOB_ACCESS_NOT_COMMITTED), is an
 *      AccessRecord (BLOB_ACCESS_INVALID) sent by the requester (BLOB_ACCESS_NOT_YOURS) for this
 *      record (BLOB_ACCESS_OTHER_RECORD), its receipt is OK (BLOB_ACCESS_REFUSED), its block time is
 *      within `accessTtlMs` of the head's time (BLOB_ACCESS_EXPIRED), and `checkRecordAccess` for
 *      the tx's purpose still grants it at the head's time (its code, e.g. ACCESS_CONSENT_REVOKED).
 *      A blob this node lacks is fetched from peers first (`fetchMissing`). → 200, the ciphertext,
 *      with Content-Length and X-Medchain-Content-Hash.
 *
 *  GET /blobs/serve-log?patient=<hex>             method blob_serveLog, params {patient}
 *      The patient's lines of the serve log; only the patient may read them. → 200 [entry…]
 *
 * Serve log: every GET of a known record, served or refused, appends one JSON line
 * {time, patient, recordId, requester, access, result: "served" | <code>} to
 * `<home>/blobs/serve-log.jsonl` (node-local, not on chain: the chain's audit trail holds the
 * AccessRecord itself). A GET whose signature fails is logged with the requester it claimed.
 *
 * Refusals answer JSON {"error": {"code", "message"}} with 400 (malformed), 401 (QUERY_* auth),
 * 403 (not allowed), 404 (unknown record or blob), 413 (too large). Nothing is stored on any error.
 */
import { createReadStream } from 'node:fs'
import { appendFile, mkdir } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { dirname } from 'node:path'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Block } from '../types/block.js'
import type { Receipt } from '../types/receipt.js'
import type { StateBackend } from '../types/state.js'
import { TxType } from '../types/tx.js'
import { BlobError, BlobServerError } from '../blobs/errors.js'
import type { BlobStore } from '../blobs/store.js'
import { checkRecordAccess, EntityKind, getEntity, getRecord } from '../contracts/index.js'
import { isEffectivelyActive } from '../contracts/registry.js'
import { StateView } from '../contracts/stateView.js'
import { equalBytes, fromHex, toHex } from '../crypto/bytes.js'
import { MedchainError } from '../util/errors.js'
import { verifySignedQuery, type QueryAuth, type ReplayCache } from './auth.js'
import { RpcError } from './errors.js'
import { sendJsonText } from './http.js'
import { BLOB_HEADERS, BlobMethod, type ServeLogEntry } from '../blobs/protocol.js'

export const DEFAULT_BLOB_MAX_BYTES = 64 * 1024 * 1024
export const DEFAULT_BLOB_ACCESS_TTL_MS = 60 * 60 * 1000
/** Most serve-log lines one read answers (the newest). */
export const MAX_SERVE_LOG_ENTRIES = 10_000
/** Bytes of a refused upload discarded before the connection is cut. */
const DRAIN_LIMIT_BYTES = 4 * 1024 * 1024

/** The client sent `Expect: 100-continue` and waits for it before sending its body. */
function expectsContinue (req: IncomingMessage): boolean {
  return req.headers.expect?.toLowerCase() === '100-continue'
}

/** What the routes read of the chain; a Chain satisfies it. */
export interface BlobChainView {
  readonly chainId: string
  readonly head: { height: number, timestamp: number }
  readonly stateView: StateBackend
  getReceipt: (txHash: Uint8Array) => Promise<{ height: number, index: number, receipt: Receipt } | undefined>
  getBlock: (height: number) => Promise<Block | undefined>
}

export interface BlobRoutesOptions {
  chain: BlobChainView
  store: BlobStore
  /** The JSON-RPC server's replay cache: one signed query is good for one call, whatever the door. */
  replay: ReplayCache
  now: () => number
  /** Largest blob accepted or fetched. Default 64 MiB. */
  maxBytes?: number
  /** How long after its block an access tx serves the blob. Default 1 hour. */
  accessTtlMs?: number
  /** `<home>/blobs/serve-log.jsonl` */
  serveLogPath: string
  /** An upload that sends nothing for this long is cut and stores nothing. Default 30 s. */
  uploadIdleMs?: number
  /** Fetches a missing blob from peers into the store; true when it is there afterwards. */
  fetchMissing?: (hash: Uint8Array, maxBytes: number) => Promise<boolean>
  logError: (err: unknown, what: string) => void
}

export interface BlobRoutes {
  /** True for the paths these routes answer (/blobs/…). */
  matches: (path: string) => boolean
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>
  /** Resolves once every serve-log line written so far is on disk. */
  flushed: () => Promise<void>
}

const HEX64_RE = /^[0-9a-fA-F]{64}$/
const HEX128_RE = /^[0-9a-fA-F]{128}$/

function refusal (status: number, code: string, message: string): BlobServerError {
  return new BlobServerError({ code, status }, message)
}

const badRequest = (message: string): BlobServerError => refusal(400, 'BLOB_BAD_REQUEST', message)

function header (req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return typeof v === 'string' ? v : undefined
}

/** The requester a request claims (for the serve log), whether or not its signature holds. */
function claimedRequester (req: IncomingMessage): string | null {
  const v = header(req, BLOB_HEADERS.requester)
  return v !== undefined && HEX64_RE.test(v) ? v.toLowerCase() : null
}

/** Reads the auth headers: 401 QUERY_UNSIGNED when absent, 400 when malformed. */
function readHeaderAuth (req: IncomingMessage): QueryAuth {
  const requester = header(req, BLOB_HEADERS.requester)
  const timestamp = header(req, BLOB_HEADERS.timestamp)
  const signature = header(req, BLOB_HEADERS.signature)
  if (requester === undefined || timestamp === undefined || signature === undefined) {
    throw refusal(401, 'QUERY_UNSIGNED', 'This request needs a signature: send X-Medchain-Requester, X-Medchain-Timestamp and X-Medchain-Signature.')
  }
  if (!HEX64_RE.test(requester)) throw badRequest('X-Medchain-Requester must be the requester\'s public key in 64 hex digits.')
  if (!/^\d{1,16}$/.test(timestamp) || !Number.isSafeInteger(Number(timestamp))) throw badRequest('X-Medchain-Timestamp must be the signing time in milliseconds since the epoch.')
  if (!HEX128_RE.test(signature)) throw badRequest('X-Medchain-Signature must be the signature in 128 hex digits.')
  return { requester: fromHex(requester), timestamp: Number(timestamp), signature: fromHex(signature) }
}

export function createBlobRoutes (opts: BlobRoutesOptions): BlobRoutes {
  const maxBytes = opts.maxBytes ?? DEFAULT_BLOB_MAX_BYTES
  const accessTtlMs = opts.accessTtlMs ?? DEFAULT_BLOB_ACCESS_TTL_MS
  const { chain, store } = opts
  let logQueue: Promise<void> = Promise.resolve()

  function appendServeLog (entry: ServeLogEntry): void {
    logQueue = logQueue.then(async () => {
      await mkdir(dirname(opts.serveLogPath), { recursive: true, mode: 0o700 })
      await appendFile(opts.serveLogPath, JSON.stringify(entry) + '\n', { mode: 0o600 })
    }).catch((err: unknown) => { opts.logError(err, 'blob serve log append') })
  }

  /** Steps 2-4 of auth.ts: 401 with the QUERY_* code. */
  function authenticate (req: IncomingMessage, method: string, params: Record<string, unknown>): Uint8Array {
    const auth = readHeaderAuth(req)
    try {
      verifySignedQuery({ chainId: chain.chainId, method, params, auth, now: opts.now(), replay: opts.replay })
    } catch (err) {
      if (err instanceof RpcError) throw refusal(401, err.dataCode, err.message)
      throw err
    }
    return auth.requester
  }

  function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    sendJsonText(res, status, JSON.stringify(body), headers)
  }

  /** Uploads whose client was told "100 Continue" (it is sending the body). */
  const continued = new WeakSet<IncomingMessage>()

  /**
   * Answers a refusal. An upload body not read yet is discarded first (up to a cap, past which the
   * connection is cut): answering while the client still writes would close the socket under it,
   * and the client would see a broken pipe instead of the reason.
   */
  function refuse (req: IncomingMessage, res: ServerResponse, err: BlobServerError): void {
    const answer = (headers: Record<string, string> = {}): void => { sendJson(res, err.status, { error: { code: err.code, message: err.message } }, headers) }
    if (req.readableEnded) { answer(); return }
    // the client waits for "100 Continue" before sending its body: refuse at once, it sends nothing
    if (expectsContinue(req) && !continued.has(req)) { answer({ connection: 'close' }); return }
    let drained = 0
    req.on('data', (chunk: Buffer) => {
      drained += chunk.length
      if (drained > DRAIN_LIMIT_BYTES) req.socket.destroy()
    })
    req.on('error', () => undefined)
    req.once('end', answer)
    req.resume()
  }

  // ---------------------------------------------------------------------------------------------
  // PUT /blobs/<hash>

  async function handlePut (req: IncomingMessage, res: ServerResponse, hashHex: string): Promise<void> {
    if (!HEX64_RE.test(hashHex)) throw badRequest('PUT /blobs/<hash> takes the sha256 of the ciphertext in 64 hex digits.')
    const lengthHeader = header(req, 'content-length')
    if (lengthHeader === undefined || !/^\d{1,16}$/.test(lengthHeader)) {
      throw refusal(400, 'BLOB_LENGTH_REQUIRED', 'An upload must declare its size in Content-Length (no chunked uploads).')
    }
    const size = Number(lengthHeader)
    if (size > maxBytes) throw refusal(413, 'BLOB_TOO_LARGE', `The blob is ${size} bytes, more than this node's limit of ${maxBytes}; ask the operator to raise blobs.maxBytes.`)
    const requester = authenticate(req, BlobMethod.put, { hash: hashHex, size })
    const entity = getEntity(chain.stateView, requester)
    if (entity === undefined || entity.kind !== EntityKind.Clinician || !isEffectivelyActive(new StateView(chain.stateView), entity)) {
      throw refusal(403, 'BLOB_NOT_CLINICIAN', 'Only an active clinician of an active hospital may upload record contents.')
    }
    const expectedHash = fromHex(hashHex)
    if (expectsContinue(req)) {
      continued.add(req)
      res.writeContinue()
    }
    // however long a large upload takes, it must keep moving
    req.setTimeout(opts.uploadIdleMs ?? 30_000, () => { req.destroy(new Error('the upload stalled')) })
    try {
      const stored = await store.put(req, { expectedHash, maxBytes: size })
      req.setTimeout(0)
      sendJson(res, 200, { hash: toHex(stored.hash), size: stored.size })
    } catch (err) {
      if (err instanceof BlobError && err.code === 'BLOB_HASH_MISMATCH') throw refusal(400, err.code, err.message)
      if (err instanceof BlobError && err.code === 'BLOB_TOO_LARGE') throw refusal(413, err.code, 'The body is longer than its Content-Length; nothing was stored.')
      throw err
    }
  }

  // ---------------------------------------------------------------------------------------------
  // GET /blobs/<recordId>?access=<tx hash>

  /** The checks of the module comment, in order; resolves with the blob's hash, or throws a refusal. */
  async function authoriseRead (requester: Uint8Array, recordId: Uint8Array, access: Uint8Array): Promise<void> {
    const forbidden = (code: string, message: string): never => { throw refusal(403, code, message) }
    const committed = await chain.getReceipt(access)
    if (committed === undefined) return forbidden('BLOB_ACCESS_NOT_COMMITTED', 'The access transaction is not in a committed block; submit an AccessRecord and wait for its receipt.')
    const block = await chain.getBlock(committed.height)
    const tx = block?.txs[committed.index]
    if (block === undefined || tx === undefined || tx.payload.type !== TxType.AccessRecord) {
      return forbidden('BLOB_ACCESS_INVALID', 'The transaction given as access is not an AccessRecord; submit one for this record.')
    }
    if (!equalBytes(tx.from, requester)) return forbidden('BLOB_ACCESS_NOT_YOURS', 'The access transaction was sent by someone else; submit your own AccessRecord.')
    if (!equalBytes(tx.payload.recordId, recordId)) return forbidden('BLOB_ACCESS_OTHER_RECORD', 'The access transaction is for another record; submit an AccessRecord for this one.')
    if (committed.receipt.code !== 'OK') return forbidden('BLOB_ACCESS_REFUSED', `The access was refused on chain (${committed.receipt.code}); ask the patient for consent.`)
    const head = chain.head
    if (head.timestamp - block.header.timestamp > accessTtlMs) {
      return forbidden('BLOB_ACCESS_EXPIRED', `The access is older than ${Math.round(accessTtlMs / 60_000)} minutes; submit a new AccessRecord.`)
    }
    const now = checkRecordAccess(chain.stateView, requester, recordId, tx.payload.purpose, head.timestamp)
    if (now.code !== 'OK') return forbidden(now.code, `The access no longer holds (${now.code}): consent was revoked or expired, or the requester was deactivated.`)
  }

  async function handleGet (req: IncomingMessage, res: ServerResponse, recordHex: string, url: URL): Promise<void> {
    if (!HEX64_RE.test(recordHex)) throw badRequest('GET /blobs/<recordId>?access=<tx hash> takes the record id in 64 hex digits.')
    const accessHex = url.searchParams.get('access') ?? undefined
    const recordId = fromHex(recordHex)
    const record = getRecord(chain.stateView, recordId)
    const log = (requester: string | null, result: string): void => {
      if (record === undefined) return
      appendServeLog({ time: opts.now(), patient: toHex(record.patient), recordId: toHex(recordId), requester, access: accessHex !== undefined && HEX64_RE.test(accessHex) ? accessHex.toLowerCase() : null, result })
    }
    let requester: Uint8Array
    try {
      requester = authenticate(req, BlobMethod.get, { recordId: recordHex, access: accessHex })
    } catch (err) {
      if (err instanceof BlobServerError) log(claimedRequester(req), err.code)
      throw err
    }
    if (record === undefined) throw refusal(404, 'RECORD_NOT_FOUND', 'No record with this id is anchored on this chain (or this node has not synced it yet).')
    const requesterHex = toHex(requester)
    let hash: Uint8Array
    let size: number | undefined
    try {
      if (accessHex === undefined) throw refusal(400, 'BLOB_ACCESS_MISSING', 'Name the committed AccessRecord that grants this read: ?access=<tx hash>.')
      if (!HEX64_RE.test(accessHex)) throw refusal(400, 'BLOB_ACCESS_MISSING', 'access must be the AccessRecord transaction hash in 64 hex digits.')
      await authoriseRead(requester, recordId, fromHex(accessHex))
      hash = record.contentHash
      size = await store.size(hash)
      const fetchLimit = Math.min(record.size, maxBytes)
      if (size === undefined && opts.fetchMissing !== undefined) {
        try {
          if (await opts.fetchMissing(hash, fetchLimit)) size = await store.size(hash)
        } catch (err) {
          opts.logError(err, 'blob fetch from peers')
        }
      }
      if (size === undefined) throw refusal(404, 'BLOB_NOT_FOUND', 'Neither this node nor its peers hold the record\'s content; ask the author to upload it again.')
    } catch (err) {
      if (err instanceof BlobServerError) log(requesterHex, err.code)
      throw err
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': size,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      [BLOB_HEADERS.contentHash]: toHex(hash)
    })
    try {
      await pipeline(Readable.from(store.get(hash)), res)
      log(requesterHex, 'served')
    } catch (err) {
      // a corrupt copy (quarantined by the store) or a client that hung up: the response is cut
      log(requesterHex, err instanceof MedchainError ? String(err.code) : 'BLOB_TRANSFER_FAILED')
      if (err instanceof BlobError) opts.logError(err, 'blob read')
      res.destroy()
    }
  }

  // ---------------------------------------------------------------------------------------------
  // GET /blobs/serve-log?patient=<hex>

  async function handleServeLog (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const patientHex = url.searchParams.get('patient') ?? undefined
    if (patientHex === undefined || !HEX64_RE.test(patientHex)) throw badRequest('GET /blobs/serve-log?patient=<public key hex> names the patient.')
    const requester = authenticate(req, BlobMethod.serveLog, { patient: patientHex })
    if (!equalBytes(requester, fromHex(patientHex))) throw refusal(403, 'QUERY_NOT_AUTHORISED', 'Only the patient may read who was served the patient\'s record contents.')
    await logQueue
    const wanted = patientHex.toLowerCase()
    const entries: ServeLogEntry[] = []
    try {
      const lines = createInterface({ input: createReadStream(opts.serveLogPath, { encoding: 'utf8' }), crlfDelay: Infinity })
      for await (const line of lines) {
        if (!line.includes(wanted)) continue
        try {
          const entry = JSON.parse(line) as ServeLogEntry
          if (entry.patient === wanted) {
            entries.push(entry)
            if (entries.length > MAX_SERVE_LOG_ENTRIES) entries.shift()
          }
        } catch {
          // a line cut by a crash: skipped
        }
      }
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err
    }
    sendJson(res, 200, entries)
  }

  // ---------------------------------------------------------------------------------------------

  async function route (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://node')
    const name = url.pathname.slice('/blobs/'.length)
    if (name === 'serve-log') {
      if (req.method !== 'GET') throw refusal(405, 'RPC_HTTP_METHOD_NOT_ALLOWED', 'The serve log is read with GET.')
      await handleServeLog(req, res, url)
      return
    }
    if (req.method === 'PUT') await handlePut(req, res, name)
    else if (req.method === 'GET') await handleGet(req, res, name, url)
    else throw refusal(405, 'RPC_HTTP_METHOD_NOT_ALLOWED', 'Blobs are uploaded with PUT /blobs/<hash> and read with GET /blobs/<recordId>?access=<tx hash>.')
  }

  return {
    matches: (path) => path.startsWith('/blobs/'),
    handle: async (req, res) => {
      try {
        await route(req, res)
      } catch (err) {
        if (req.destroyed && !req.complete) {
          res.destroy() // the client hung up mid-upload: nothing was stored, nobody to answer
          return
        }
        if (err instanceof BlobServerError) {
          if (!res.headersSent) refuse(req, res, err)
          else res.destroy()
          return
        }
        throw err // the server logs it and answers 500
      }
    },
    flushed: async () => { await logQueue }
  }
}
