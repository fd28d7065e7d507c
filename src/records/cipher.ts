/**
 * Streaming authenticated encryption of record files, on the clinician's machine: nodes
 * and blob stores only ever hold ciphertext.
 *
 * ## Format (STREAM, Hoang–Reyhanitabar–Rogaway–Vizár 2015, over AES-256-GCM)
 *
 *   header  = 'MCR1' (4) || chunkSize u32 BE (4) || noncePrefix (7 random bytes)      = 15 bytes
 *   chunk i = AES-256-GCM(dataKey, nonce_i, aad = header, plaintext_i) || tag (16)
 *   nonce_i = noncePrefix (7) || i u32 BE (4) || last (1 byte: 1 on the final chunk, else 0)
 *
 * Every chunk but the last carries exactly `chunkSize` plaintext bytes; the last carries 0 to
 * `chunkSize` (an empty file is one empty final chunk). The counter in the nonce pins each chunk's
 * position (reordering fails), the last flag pins the end (dropping whole chunks at the end fails),
 * and the header in the AAD pins the chunk size and prefix. A data key encrypts one file (`newDataKey`
 * per record), so nonces never repeat under a key.
 *
 * ## Decryption
 *
 * A chunk's plaintext is released only after its tag verified; verified chunks are released before
 * the end of the stream, so a consumer must treat output as provisional until the stream ends
 * without an error (`decryptFile` writes a temp file and renames it only on success). Errors:
 *  - RECORD_CIPHER_BAD_HEADER: wrong magic, or a chunk size outside [1 KiB, 4 MiB];
 *  - RECORD_CIPHER_TRUNCATED: the stream ends before a final chunk (no chunk at all, a whole final
 *    chunk dropped, or fewer than a tag's 16 bytes of a chunk left);
 *  - RECORD_CIPHER_TRAILING_DATA: bytes after a full-size final chunk;
 *  - RECORD_CIPHER_TAMPERED: a chunk fails authentication — modified bytes, swapped chunks, the
 *    wrong data key, and also a cut inside a chunk or bytes appended after a short final chunk:
 *    chunk lengths are implicit, so those two look exactly like a modified last chunk.
 */
import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomBytes, type KeyObject } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { link, open, rename, rm, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { RecordError } from './errors.js'

export const DATA_KEY_LENGTH = 32
export const DEFAULT_CHUNK_SIZE = 64 * 1024
export const MIN_CHUNK_SIZE = 1024
export const MAX_CHUNK_SIZE = 4 * 1024 * 1024
export const CIPHER_HEADER_LENGTH = 15
export const CIPHER_TAG_LENGTH = 16

const MAGIC = Buffer.from('MCR1', 'latin1')
const NONCE_PREFIX_LENGTH = 7
const MAX_CHUNKS = 0x1_0000_0000 // the counter is a u32

export interface EncryptOptions {
  /** Plaintext bytes per chunk, in [MIN_CHUNK_SIZE, MAX_CHUNK_SIZE]. Default 64 KiB. */
  chunkSize?: number
}

/** A fresh random 32-byte data key: one per record. */
/** Size of the ciphertext of a `plaintextBytes` file: header, then one tag per chunk (at least one chunk). */
export function ciphertextSize (plaintextBytes: number, chunkSize = DEFAULT_CHUNK_SIZE): number {
  return CIPHER_HEADER_LENGTH + plaintextBytes + Math.max(1, Math.ceil(plaintextBytes / chunkSize)) * CIPHER_TAG_LENGTH
}

export function newDataKey (): Uint8Array {
  return new Uint8Array(randomBytes(DATA_KEY_LENGTH))
}

function dataKeyObject (dataKey: Uint8Array): KeyObject {
  if (dataKey.length !== DATA_KEY_LENGTH) {
    throw new RecordError({ code: 'RECORD_BAD_LENGTH', what: 'data key', length: dataKey.length, expected: DATA_KEY_LENGTH }, `The data key must be ${DATA_KEY_LENGTH} bytes, got ${dataKey.length}.`)
  }
  return createSecretKey(dataKey)
}

function checkChunkSize (chunkSize: number): void {
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new RecordError({ code: 'RECORD_BAD_CHUNK_SIZE', chunkSize }, `The chunk size must be an integer from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE} bytes, got ${chunkSize}.`)
  }
}

function chunkNonce (header: Buffer, index: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12)
  header.copy(nonce, 0, 8, 8 + NONCE_PREFIX_LENGTH)
  nonce.writeUInt32BE(index, NONCE_PREFIX_LENGTH)
  nonce[11] = last ? 1 : 0
  return nonce
}

function sealChunk (key: KeyObject, header: Buffer, index: number, last: boolean, plaintext: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, chunkNonce(header, index, last), { authTagLength: CIPHER_TAG_LENGTH })
  cipher.setAAD(header)
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
}

/** The chunk's plaintext, or null when its tag does not verify (nothing unverified escapes). */
function openChunk (key: KeyObject, header: Buffer, index: number, last: boolean, record: Buffer): Buffer | null {
  if (index >= MAX_CHUNKS) return null
  const split = record.length - CIPHER_TAG_LENGTH
  const decipher = createDecipheriv('aes-256-gcm', key, chunkNonce(header, index, last), { authTagLength: CIPHER_TAG_LENGTH })
  decipher.setAAD(header)
  decipher.setAuthTag(record.subarray(split))
  const plaintext = decipher.update(record.subarray(0, split))
  try {
    decipher.final()
  } catch {
    plaintext.fill(0)
    return null
  }
  return plaintext
}

/** A FIFO of bytes that takes out exact lengths without quadratic copying. */
class ByteQueue {
  private parts: Buffer[] = []
  private head = 0
  length = 0

  push (bytes: Uint8Array): void {
    if (bytes.length === 0) return
    this.parts.push(Buffer.from(bytes)) // a copy: the source may reuse its buffer after yielding
    this.length += bytes.length
  }

  take (n: number): Buffer {
    const out = Buffer.allocUnsafe(n)
    let off = 0
    while (off < n) {
      const part = this.parts[this.head] as Buffer
      const need = n - off
      if (part.length <= need) {
        part.copy(out, off)
        off += part.length
        this.head++
      } else {
        part.copy(out, off, 0, need)
        this.parts[this.head] = part.subarray(need)
        off += need
      }
    }
    if (this.head > 64 && this.head * 2 > this.parts.length) {
      this.parts = this.parts.slice(this.head)
      this.head = 0
    }
    this.length -= n
    return out
  }

}

function asBytes (buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}

class ChunkEncoder {
  readonly header: Buffer
  private readonly key: KeyObject
  private readonly chunkSize: number
  private readonly queue = new ByteQueue()
  private index = 0

  constructor (dataKey: Uint8Array, opts: EncryptOptions) {
    this.key = dataKeyObject(dataKey)
    this.chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE
    checkChunkSize(this.chunkSize)
    this.header = Buffer.alloc(CIPHER_HEADER_LENGTH)
    MAGIC.copy(this.header, 0)
    this.header.writeUInt32BE(this.chunkSize, 4)
    randomBytes(NONCE_PREFIX_LENGTH).copy(this.header, 8)
  }

  /** Full chunks that are known not to be the last (more bytes follow them). */
  push (plaintext: Uint8Array): Buffer[] {
    this.queue.push(plaintext)
    const out: Buffer[] = []
    while (this.queue.length > this.chunkSize) out.push(this.seal(false, this.queue.take(this.chunkSize)))
    return out
  }

  finish (): Buffer {
    return this.seal(true, this.queue.take(this.queue.length))
  }

  private seal (last: boolean, plaintext: Buffer): Buffer {
    if (this.index >= MAX_CHUNKS) {
      throw new RecordError({ code: 'RECORD_BAD_CHUNK_SIZE', chunkSize: this.chunkSize }, `The file needs more than 2^32 chunks of ${this.chunkSize} bytes; encrypt it with a larger chunk size.`)
    }
    const record = sealChunk(this.key, this.header, this.index, last, plaintext)
    this.index++
    return record
  }
}

class ChunkDecoder {
  private readonly key: KeyObject
  private readonly queue = new ByteQueue()
  private header: Buffer | null = null
  private recordSize = 0
  private index = 0

  constructor (dataKey: Uint8Array) {
    this.key = dataKeyObject(dataKey)
  }

  /** Verified plaintext of every chunk known not to be the last. */
  push (ciphertext: Uint8Array): Buffer[] {
    this.queue.push(ciphertext)
    if (this.header === null) {
      if (this.queue.length < CIPHER_HEADER_LENGTH) return []
      this.readHeader()
    }
    const header = this.header as Buffer
    const out: Buffer[] = []
    while (this.queue.length > this.recordSize) {
      const record = this.queue.take(this.recordSize)
      const plaintext = openChunk(this.key, header, this.index, false, record)
      if (plaintext === null) {
        if (openChunk(this.key, header, this.index, true, record) !== null) {
          throw new RecordError({ code: 'RECORD_CIPHER_TRAILING_DATA', extraBytes: this.queue.length }, 'The encrypted record has bytes after its final chunk; download it again from the blob store.')
        }
        throw this.tampered()
      }
      out.push(plaintext)
      this.index++
    }
    return out
  }

  /** Verified plaintext of the final chunk; throws when the stream did not end with one. */
  finish (): Buffer {
    if (this.header === null) {
      const have = this.queue.take(this.queue.length)
      const n = Math.min(have.length, MAGIC.length)
      if (!have.subarray(0, n).equals(MAGIC.subarray(0, n))) this.badHeader('it does not start with MCR1')
      throw this.truncated(`only ${have.length} bytes, less than the ${CIPHER_HEADER_LENGTH}-byte header`)
    }
    const header = this.header
    const rest = this.queue.take(this.queue.length)
    if (rest.length < CIPHER_TAG_LENGTH) {
      throw this.truncated(rest.length === 0 ? 'no final chunk' : `a chunk of ${rest.length} bytes is shorter than its tag`)
    }
    const plaintext = openChunk(this.key, header, this.index, true, rest)
    if (plaintext !== null) return plaintext
    if (rest.length === this.recordSize && openChunk(this.key, header, this.index, false, rest) !== null) {
      throw this.truncated('the final chunk is missing')
    }
    throw this.tampered()
  }

  private readHeader (): void {
    const header = this.queue.take(CIPHER_HEADER_LENGTH)
    if (!header.subarray(0, 4).equals(MAGIC)) this.badHeader('it does not start with MCR1')
    const chunkSize = header.readUInt32BE(4)
    if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) this.badHeader(`chunk size ${chunkSize} is outside [${MIN_CHUNK_SIZE}, ${MAX_CHUNK_SIZE}]`)
    this.header = header
    this.recordSize = chunkSize + CIPHER_TAG_LENGTH
  }

  private badHeader (reason: string): never {
    throw new RecordError({ code: 'RECORD_CIPHER_BAD_HEADER', reason }, `This is not a medchain encrypted record (${reason}); check the file.`)
  }

  private truncated (reason: string): RecordError {
    return new RecordError({ code: 'RECORD_CIPHER_TRUNCATED', reason }, `The encrypted record is cut short (${reason}); download it again from the blob store.`)
  }

  private tampered (): RecordError {
    return new RecordError({ code: 'RECORD_CIPHER_TAMPERED', chunkIndex: this.index }, `Chunk ${this.index} of the encrypted record failed authentication (modified, reordered, cut, or the wrong data key); download it again or check the key envelope.`)
  }
}

/** Encrypts a byte stream: yields the header, then each sealed chunk. */
export async function * encryptStream (source: AsyncIterable<Uint8Array>, dataKey: Uint8Array, opts: EncryptOptions = {}): AsyncGenerator<Uint8Array> {
  const encoder = new ChunkEncoder(dataKey, opts)
  yield asBytes(encoder.header)
  for await (const bytes of source) {
    for (const record of encoder.push(bytes)) yield asBytes(record)
  }
  yield asBytes(encoder.finish())
}

/**
 * Decrypts a stream made by `encryptStream`. Yields each chunk's plaintext only after its tag
 * verified, but before the end of the stream: treat the output as provisional until the generator
 * returns without throwing. Throws RecordError (see the module comment).
 */
export async function * decryptStream (source: AsyncIterable<Uint8Array>, dataKey: Uint8Array): AsyncGenerator<Uint8Array> {
  const decoder = new ChunkDecoder(dataKey)
  for await (const bytes of source) {
    for (const plaintext of decoder.push(bytes)) yield asBytes(plaintext)
  }
  const last = decoder.finish()
  if (last.length > 0) yield asBytes(last)
}

/** One-shot encryption of a small input (tests, privacy scans). */
export function encryptBytes (plaintext: Uint8Array, dataKey: Uint8Array, opts: EncryptOptions = {}): Uint8Array {
  const encoder = new ChunkEncoder(dataKey, opts)
  return asBytes(Buffer.concat([encoder.header, ...encoder.push(plaintext), encoder.finish()]))
}

/** One-shot decryption of a small input. Throws RecordError (see the module comment). */
export function decryptBytes (ciphertext: Uint8Array, dataKey: Uint8Array): Uint8Array {
  const decoder = new ChunkDecoder(dataKey)
  const parts = decoder.push(ciphertext)
  parts.push(decoder.finish())
  return asBytes(Buffer.concat(parts))
}

export type ProgressFn = (bytesDone: number, bytesTotal: number) => void

export interface EncryptFileInput {
  input: string
  output: string
  dataKey: Uint8Array
  chunkSize?: number
  /** Replace an existing output file. Default false: RECORD_OUTPUT_EXISTS. */
  overwrite?: boolean
  /** Called after each read with plaintext bytes read so far and the input's size. */
  onProgress?: ProgressFn
}

export interface DecryptFileInput {
  input: string
  output: string
  dataKey: Uint8Array
  /** The content hash anchored on the chain: sha256 of the whole ciphertext file. */
  expectedHash?: Uint8Array
  /** Replace an existing output file. Default false: RECORD_OUTPUT_EXISTS. */
  overwrite?: boolean
  /** Called after each read with ciphertext bytes read so far and the input's size. */
  onProgress?: ProgressFn
}

function outputExists (path: string): RecordError {
  return new RecordError({ code: 'RECORD_OUTPUT_EXISTS', path }, `The file ${path} already exists; choose another output path or pass overwrite.`)
}

async function pathExists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

/** Reads `path` in chunks of `highWaterMark`, reporting progress after each read. */
async function * readWithProgress (path: string, highWaterMark: number, total: number, onProgress: ProgressFn | undefined): AsyncGenerator<Uint8Array> {
  let done = 0
  for await (const chunk of createReadStream(path, { highWaterMark })) {
    const bytes = chunk as Buffer
    done += bytes.length
    onProgress?.(done, total)
    yield bytes
  }
}

/** Moves `tmp` to `path`; without `overwrite`, never replaces an existing file (hard link, then unlink). */
async function publish (tmp: string, path: string, overwrite: boolean): Promise<void> {
  if (overwrite) {
    await rename(tmp, path)
    return
  }
  try {
    await link(tmp, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw outputExists(path)
    // A file system without hard links: check, then rename (a race window, but no silent loss here).
    if (await pathExists(path)) throw outputExists(path)
    await rename(tmp, path)
    return
  }
  await unlink(tmp)
}

/**
 * Writes `path` through a temp file in the same directory: `body` writes, the file is fsynced and
 * published only if `body` succeeds; on any failure the temp file is removed and `path` untouched.
 */
async function writeFileVia (path: string, overwrite: boolean, body: (write: (bytes: Uint8Array) => Promise<void>) => Promise<void>): Promise<void> {
  if (!overwrite && await pathExists(path)) throw outputExists(path)
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', 0o600)
  let closed = false
  try {
    await body(async (bytes) => {
      let off = 0
      while (off < bytes.length) off += (await fh.write(bytes, off, bytes.length - off)).bytesWritten
    })
    await fh.sync()
    await fh.close()
    closed = true
    await publish(tmp, path, overwrite)
  } catch (err) {
    if (!closed) await fh.close().catch(() => undefined)
    await rm(tmp, { force: true })
    throw err
  }
  const dir = await open(dirname(path), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

/**
 * Encrypts the file `input` into `output` (written via a temp file and a rename; mode 0600).
 * Returns the record's content hash (sha256 of the whole ciphertext) and the ciphertext size.
 */
export async function encryptFile (opts: EncryptFileInput): Promise<{ contentHash: Uint8Array, size: number }> {
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE
  dataKeyObject(opts.dataKey)
  checkChunkSize(chunkSize)
  const total = (await stat(opts.input)).size
  const hash = createHash('sha256')
  let size = 0
  await writeFileVia(opts.output, opts.overwrite ?? false, async (write) => {
    const source = readWithProgress(opts.input, chunkSize, total, opts.onProgress)
    for await (const bytes of encryptStream(source, opts.dataKey, { chunkSize })) {
      hash.update(bytes)
      size += bytes.length
      await write(bytes)
    }
  })
  return { contentHash: new Uint8Array(hash.digest()), size }
}

/**
 * Decrypts the file `input` into `output`. The output appears only when every chunk verified and,
 * if `expectedHash` is given, the ciphertext's sha256 equals it (RECORD_HASH_MISMATCH otherwise);
 * on any failure neither the output nor a temp file is left. Returns the plaintext size.
 */
export async function decryptFile (opts: DecryptFileInput): Promise<{ size: number }> {
  dataKeyObject(opts.dataKey)
  const total = (await stat(opts.input)).size
  const hash = createHash('sha256')
  let size = 0
  await writeFileVia(opts.output, opts.overwrite ?? false, async (write) => {
    const source = readWithProgress(opts.input, DEFAULT_CHUNK_SIZE + CIPHER_TAG_LENGTH, total, opts.onProgress)
    async function * hashed (): AsyncGenerator<Uint8Array> {
      for await (const bytes of source) {
        hash.update(bytes)
        yield bytes
      }
    }
    for await (const plaintext of decryptStream(hashed(), opts.dataKey)) {
      size += plaintext.length
      await write(plaintext)
    }
    if (opts.expectedHash !== undefined && !hash.digest().equals(opts.expectedHash)) {
      throw new RecordError({ code: 'RECORD_HASH_MISMATCH' }, 'The encrypted record does not match the content hash anchored on the chain; download it again from the blob store.')
    }
  })
  return { size }
}
