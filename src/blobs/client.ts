/**
 * Client side of the node's blob routes (src/rpc/blobRoutes.ts), for the CLI (`medchain record
 * put|get`) and tests: streaming upload and download of a ciphertext, with the signed-query
 * headers (X-Medchain-Requester, X-Medchain-Timestamp, X-Medchain-Signature).
 *
 * `uploadBlob` streams a file with its Content-Length; `downloadBlob` streams into a temp file next
 * to `output` while hashing, and renames it to `output` only when the bytes hash to `expectedHash`
 * (BLOB_HASH_MISMATCH otherwise, nothing left behind). A refusal by the node is a BlobServerError
 * carrying the node's code and message (e.g. QUERY_EXPIRED, BLOB_ACCESS_EXPIRED,
 * ACCESS_CONSENT_REVOKED); a broken connection is BLOB_TRANSFER_FAILED.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { dirname, join, basename } from 'node:path'
import { equalBytes, toHex } from '../crypto/bytes.js'
import type { Signer } from '../crypto/ed25519.js'
import { querySigningBytes } from '../types/signedQuery.js'
import { BlobMethod, BLOB_HEADERS, type ServeLogEntry } from './protocol.js'
import { BlobError, BlobServerError } from './errors.js'
import { blobHashMismatch, blobTooLarge, checkBlobHash } from './store.js'

/** (bytes done, bytes in all) — called as the transfer advances. */
export type BlobProgressFn = (bytesDone: number, bytesTotal: number) => void

export interface UploadBlobOptions {
  /** The node's RPC base URL, e.g. http://127.0.0.1:26657 */
  url: string
  chainId: string
  /** A clinician's key: the node accepts uploads from active clinicians only. */
  signer: Signer
  /** Path of the ciphertext file. */
  file: string
  /** sha256 of the file (the record's contentHash). */
  hash: Uint8Array
  onProgress?: BlobProgressFn
  /** Signing time; default Date.now(). */
  now?: () => number
}

export interface DownloadBlobOptions {
  url: string
  chainId: string
  signer: Signer
  recordId: Uint8Array
  /** Hash of the requester's committed AccessRecord transaction for this record. */
  accessTx: Uint8Array
  /** Where the ciphertext goes (replaced only once verified). */
  output: string
  /** The record's anchored contentHash. */
  expectedHash: Uint8Array
  /** Largest blob accepted (the record's anchored size is the natural limit). */
  maxBytes: number
  onProgress?: BlobProgressFn
  now?: () => number
}

/** The three auth headers of a blob route call (see src/rpc/blobRoutes.ts). */
export function blobAuthHeaders (signer: Signer, chainId: string, method: string, params: Record<string, unknown>, timestamp: number): Record<string, string> {
  const signature = signer.sign(querySigningBytes(chainId, method, params, timestamp))
  return {
    [BLOB_HEADERS.requester]: toHex(signer.publicKey),
    [BLOB_HEADERS.timestamp]: String(timestamp),
    [BLOB_HEADERS.signature]: toHex(signature)
  }
}

function transferFailed (err: unknown, what: string): BlobError {
  const reason = err instanceof Error ? err.message : String(err)
  return new BlobError({ code: 'BLOB_TRANSFER_FAILED', reason }, `The ${what} failed (${reason}); check the node is reachable and try again.`)
}

function endpoint (base: string, path: string): URL {
  const url = new URL(base)
  url.pathname = url.pathname.replace(/\/+$/, '') + path
  return url
}

/** Sends one request; resolves with the response (body unread). */
async function send (url: URL, method: string, headers: OutgoingHttpHeaders, body?: (req: NodeJS.WritableStream) => Promise<void>): Promise<IncomingMessage> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest
  return await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, { method, headers: body === undefined ? headers : { ...headers, expect: '100-continue' } }, resolve)
    req.on('error', reject)
    if (body === undefined) {
      req.end()
      return
    }
    // the node checks the headers first and answers "100 Continue" (then the body goes) or a
    // refusal (then nothing is sent, and the refusal is what the caller sees)
    req.once('continue', () => {
      body(req).then(() => { req.end() }, (err: unknown) => {
        req.destroy(err instanceof Error ? err : new Error(String(err)))
        reject(err)
      })
    })
    req.flushHeaders()
  })
}

async function readText (res: IncomingMessage, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) break
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** The node's refusal as a typed error (its code and message). */
async function serverError (res: IncomingMessage): Promise<BlobServerError> {
  const status = res.statusCode ?? 0
  const text = await readText(res).catch(() => '')
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown, message?: unknown, data?: { code?: unknown } } }
    const code = typeof body.error?.code === 'string' ? body.error.code : typeof body.error?.data?.code === 'string' ? body.error.data.code : undefined
    if (code !== undefined) return new BlobServerError({ code, status }, typeof body.error?.message === 'string' ? body.error.message : `The node refused the request (${code}).`)
  } catch {
    // not our JSON: a proxy or another server answered
  }
  return new BlobServerError({ code: `HTTP_${status}`, status }, `The node answered HTTP ${status}; check the URL points at a medchain node's RPC port.`)
}

/**
 * Uploads the ciphertext in `file` (streamed, with Content-Length) as blob `hash`. Resolves with
 * what the node stored. Throws BlobServerError (the node's code: BLOB_NOT_CLINICIAN,
 * BLOB_HASH_MISMATCH, BLOB_TOO_LARGE, QUERY_*…) or BlobError BLOB_TRANSFER_FAILED.
 */
export async function uploadBlob (opts: UploadBlobOptions): Promise<{ hash: Uint8Array, size: number }> {
  checkBlobHash(opts.hash)
  let size: number
  try {
    size = (await stat(opts.file)).size
  } catch (err) {
    throw transferFailed(err, `read of ${opts.file}`)
  }
  const hashHex = toHex(opts.hash)
  const headers = {
    ...blobAuthHeaders(opts.signer, opts.chainId, BlobMethod.put, { hash: hashHex, size }, (opts.now ?? Date.now)()),
    'content-type': 'application/octet-stream',
    'content-length': String(size)
  }
  let res: IncomingMessage
  try {
    res = await send(endpoint(opts.url, `/blobs/${hashHex}`), 'PUT', headers, async (req) => {
      let done = 0
      for await (const chunk of createReadStream(opts.file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
        done += chunk.length
        if (!req.write(chunk)) await new Promise((resolve) => req.once('drain', resolve))
        opts.onProgress?.(done, size)
      }
    })
  } catch (err) {
    throw transferFailed(err, 'upload')
  }
  if (res.statusCode !== 200) throw await serverError(res)
  const body = JSON.parse(await readText(res)) as { hash?: unknown, size?: unknown }
  if (body.hash !== hashHex || body.size !== size) {
    throw new BlobError({ code: 'BLOB_TRANSFER_FAILED', reason: 'unexpected answer' }, 'The node answered the upload with another hash or size than was sent; try again.')
  }
  return { hash: opts.hash, size }
}

/**
 * Downloads the ciphertext of `recordId`, proving the access with `accessTx`, into `output`.
 * Verified before it is renamed into place: BLOB_TOO_LARGE past `maxBytes`, BLOB_HASH_MISMATCH when
 * it does not hash to `expectedHash` (nothing left behind either way). Throws BlobServerError for
 * the node's refusals.
 */
export async function downloadBlob (opts: DownloadBlobOptions): Promise<{ size: number }> {
  checkBlobHash(opts.expectedHash)
  const recordHex = toHex(opts.recordId)
  const accessHex = toHex(opts.accessTx)
  const headers = blobAuthHeaders(opts.signer, opts.chainId, BlobMethod.get, { recordId: recordHex, access: accessHex }, (opts.now ?? Date.now)())
  const url = endpoint(opts.url, `/blobs/${recordHex}`)
  url.searchParams.set('access', accessHex)
  let res: IncomingMessage
  try {
    res = await send(url, 'GET', headers)
  } catch (err) {
    throw transferFailed(err, 'download')
  }
  if (res.statusCode !== 200) throw await serverError(res)
  const declared = Number(res.headers['content-length'])
  if (Number.isFinite(declared) && declared > opts.maxBytes) {
    res.destroy()
    throw blobTooLarge(declared, opts.maxBytes)
  }
  const announced = res.headers[BLOB_HEADERS.contentHash]
  if (typeof announced === 'string' && announced.toLowerCase() !== toHex(opts.expectedHash)) {
    res.destroy()
    throw new BlobError({ code: 'BLOB_HASH_MISMATCH', expected: toHex(opts.expectedHash), actual: announced.toLowerCase() }, 'The node serves different content than the record anchors; nothing was saved. Try another node.')
  }
  const total = Number.isFinite(declared) ? declared : opts.maxBytes
  const tmp = join(dirname(opts.output), `.${basename(opts.output)}.${randomBytes(6).toString('hex')}.part`)
  let fd: FileHandle | undefined
  let renamed = false
  try {
    fd = await open(tmp, 'wx', 0o600)
    const hasher = createHash('sha256')
    let size = 0
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        size += chunk.length
        if (size > opts.maxBytes) throw blobTooLarge(size, opts.maxBytes)
        hasher.update(chunk)
        let off = 0
        while (off < chunk.length) off += (await fd.write(chunk, off, chunk.length - off)).bytesWritten
        opts.onProgress?.(size, total)
      }
    } catch (err) {
      if (err instanceof BlobError) throw err
      throw transferFailed(err, 'download')
    }
    if (!res.complete || (Number.isFinite(declared) && size !== declared)) throw transferFailed(new Error(`${size} of ${declared} bytes arrived`), 'download')
    const hash = new Uint8Array(hasher.digest())
    if (!equalBytes(hash, opts.expectedHash)) throw blobHashMismatch(opts.expectedHash, hash)
    await fd.sync()
    await fd.close()
    fd = undefined
    await rename(tmp, opts.output)
    renamed = true
    return { size }
  } finally {
    res.destroy()
    if (fd !== undefined) await fd.close().catch(() => undefined)
    if (!renamed) await rm(tmp, { force: true }).catch(() => undefined)
  }
}

export interface ReadServeLogOptions {
  url: string
  chainId: string
  /** The patient's own key: only the patient reads the serve log. */
  signer: Signer
  now?: () => number
}

/**
 * The node's log of who was served (or refused) the patient's record contents, newest last
 * (GET /blobs/serve-log). Throws BlobServerError for the node's refusals.
 */
export async function readServeLog (opts: ReadServeLogOptions): Promise<ServeLogEntry[]> {
  const patient = toHex(opts.signer.publicKey)
  const url = endpoint(opts.url, '/blobs/serve-log')
  url.searchParams.set('patient', patient)
  let res: IncomingMessage
  try {
    res = await send(url, 'GET', blobAuthHeaders(opts.signer, opts.chainId, BlobMethod.serveLog, { patient }, (opts.now ?? Date.now)()))
  } catch (err) {
    throw transferFailed(err, 'serve-log read')
  }
  if (res.statusCode !== 200) throw await serverError(res)
  const body = JSON.parse(await readText(res, 16 * 1024 * 1024)) as unknown
  if (!Array.isArray(body)) throw new BlobError({ code: 'BLOB_TRANSFER_FAILED', reason: 'unexpected answer' }, 'The node answered the serve-log read with something other than a list; check the --rpc URL.')
  return body as ServeLogEntry[]
}
