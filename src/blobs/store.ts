/**
 * The blob store: encrypted record contents (ciphertexts), addressed by their SHA-256. The chain
 * holds only a record's `contentHash` and `size`; the bytes live here, off-chain: blocks carry
 * hashes, never record contents.
 *
 * `BlobStore` is the interface every part of the node uses (p2p blob exchange, RPC blob routes,
 * replication); `FsBlobStore` is the embedded default on local disk. See README.md in this folder
 * for plugging a distributed store (IPFS through Helia, an S3-compatible store) behind the same
 * interface.
 *
 * FsBlobStore layout, under `dir` (the node's `<home>/blobs`):
 *
 *   <dir>/<2 hex>/<64 hex>     one file per blob, named by its sha256 (first byte = shard folder)
 *   <dir>/tmp/                 uploads in progress (`*.part`); removed on start and on failure
 *   <dir>/quarantine/          blobs found corrupt on read (kept for the operator, never served)
 *
 * `put` writes to a temp file while hashing, refuses past `maxBytes` (BLOB_TOO_LARGE) or a hash
 * other than `expectedHash` (BLOB_HASH_MISMATCH) leaving nothing behind, fsyncs, then renames the
 * temp file into place and fsyncs the folder: after a crash a blob is there whole or not at all.
 * A blob already present is not written again (idempotent); concurrent puts of one blob each write
 * their own temp file and the renames replace identical bytes.
 *
 * `get` streams the file and hashes it on the way: when the end does not hash to the name, the
 * file is moved to quarantine and the iteration throws BLOB_CORRUPT (a consumer must therefore not
 * treat the bytes as good before the iteration ended; every reader of blobs also checks the hash).
 */
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { equalBytes, toHex } from '../crypto/bytes.js'
import { HASH_LENGTH } from '../crypto/hash.js'
import { BlobError } from './errors.js'

export interface PutOptions {
  /** When given, the bytes must hash to it (BLOB_HASH_MISMATCH otherwise). */
  expectedHash?: Uint8Array
  /** Largest blob accepted (BLOB_TOO_LARGE past it, checked while streaming). */
  maxBytes: number
}

export interface StoredBlob { hash: Uint8Array, size: number }

export interface BlobStore {
  has: (hash: Uint8Array) => Promise<boolean>
  /** The blob's size in bytes, or undefined when absent. */
  size: (hash: Uint8Array) => Promise<number | undefined>
  /** Stores a stream of bytes under its sha256 (see the module comment). Nothing is left on error. */
  put: (source: AsyncIterable<Uint8Array>, opts: PutOptions) => Promise<StoredBlob>
  /**
   * The blob's bytes, hashed while read: BLOB_NOT_FOUND at once when absent, BLOB_CORRUPT at the
   * end when they do not hash to `hash` (the corrupt copy is then quarantined or deleted).
   */
  get: (hash: Uint8Array) => AsyncIterable<Uint8Array>
  /** Removes the blob; true when it was there. */
  delete: (hash: Uint8Array) => Promise<boolean>
}

export function checkBlobHash (hash: Uint8Array): void {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_LENGTH) {
    throw new BlobError({ code: 'BLOB_BAD_ARGUMENT', reason: 'hash must be 32 bytes' }, 'A blob hash is the 32-byte SHA-256 of the ciphertext.')
  }
}

export function blobTooLarge (size: number, limit: number): BlobError {
  return new BlobError({ code: 'BLOB_TOO_LARGE', size, limit }, `The blob is larger than the limit of ${limit} bytes; raise blobs.maxBytes or split the record.`)
}

export function blobHashMismatch (expected: Uint8Array, actual: Uint8Array): BlobError {
  return new BlobError({ code: 'BLOB_HASH_MISMATCH', expected: toHex(expected), actual: toHex(actual) }, `The bytes hash to ${toHex(actual).slice(0, 16)}… instead of the expected ${toHex(expected).slice(0, 16)}…; nothing was stored, upload or fetch the right file.`)
}

function isNotFound (err: unknown): boolean {
  return (err as { code?: unknown })?.code === 'ENOENT'
}

async function fsyncDir (path: string): Promise<void> {
  const fd = await open(path, 'r')
  try {
    await fd.sync()
  } finally {
    await fd.close()
  }
}

export class FsBlobStore implements BlobStore {
  private readonly tmpDir: string
  private readonly quarantineDir: string

  /** Use `FsBlobStore.open(dir)` (creates the folders and clears leftover temp files). */
  constructor (readonly dir: string) {
    this.tmpDir = join(dir, 'tmp')
    this.quarantineDir = join(dir, 'quarantine')
  }

  static async open (dir: string): Promise<FsBlobStore> {
    const store = new FsBlobStore(dir)
    await mkdir(store.tmpDir, { recursive: true, mode: 0o700 })
    // uploads cut short by a crash
    for (const name of await readdir(store.tmpDir)) await rm(join(store.tmpDir, name), { force: true })
    return store
  }

  /** The file of a blob: <dir>/<first byte hex>/<hash hex>. */
  pathOf (hash: Uint8Array): string {
    checkBlobHash(hash)
    const hex = toHex(hash)
    return join(this.dir, hex.slice(0, 2), hex)
  }

  async has (hash: Uint8Array): Promise<boolean> {
    return (await this.size(hash)) !== undefined
  }

  async size (hash: Uint8Array): Promise<number | undefined> {
    try {
      const s = await stat(this.pathOf(hash))
      return s.isFile() ? s.size : undefined
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  async put (source: AsyncIterable<Uint8Array>, opts: PutOptions): Promise<StoredBlob> {
    if (opts.expectedHash !== undefined) checkBlobHash(opts.expectedHash)
    if (!Number.isSafeInteger(opts.maxBytes) || opts.maxBytes < 0) throw new BlobError({ code: 'BLOB_BAD_ARGUMENT', reason: 'maxBytes' }, 'put: maxBytes must be a non-negative integer.')
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 })
    const tmp = join(this.tmpDir, `${randomBytes(12).toString('hex')}.part`)
    let fd: FileHandle | undefined = await open(tmp, 'wx', 0o600)
    let moved = false
    try {
      const hasher = createHash('sha256')
      let size = 0
      for await (const chunk of source) {
        size += chunk.length
        if (size > opts.maxBytes) throw blobTooLarge(size, opts.maxBytes)
        hasher.update(chunk)
        let off = 0
        while (off < chunk.length) off += (await fd.write(chunk, off, chunk.length - off)).bytesWritten
      }
      const hash = new Uint8Array(hasher.digest())
      if (opts.expectedHash !== undefined && !equalBytes(hash, opts.expectedHash)) throw blobHashMismatch(opts.expectedHash, hash)
      await fd.sync()
      await fd.close()
      fd = undefined
      const final = this.pathOf(hash)
      if ((await this.size(hash)) === size) return { hash, size } // already here (idempotent); tmp removed below
      const shard = join(this.dir, toHex(hash).slice(0, 2))
      await mkdir(shard, { recursive: true, mode: 0o700 })
      await rename(tmp, final)
      moved = true
      await fsyncDir(shard)
      return { hash, size }
    } finally {
      if (fd !== undefined) await fd.close().catch(() => undefined)
      if (!moved) await rm(tmp, { force: true }).catch(() => undefined)
    }
  }

  async * get (hash: Uint8Array): AsyncIterable<Uint8Array> {
    const path = this.pathOf(hash)
    let stream
    try {
      // open first so a missing blob fails before the first byte, not mid-way
      const fd = await open(path, 'r')
      stream = createReadStream('', { fd, highWaterMark: 64 * 1024 })
    } catch (err) {
      if (isNotFound(err)) throw new BlobError({ code: 'BLOB_NOT_FOUND', hash: toHex(hash) }, `This node holds no blob ${toHex(hash).slice(0, 16)}…; fetch it from a peer or upload it.`)
      throw err
    }
    const hasher = createHash('sha256')
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        hasher.update(chunk)
        yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      }
    } finally {
      stream.destroy()
    }
    if (!equalBytes(new Uint8Array(hasher.digest()), hash)) {
      await this.quarantine(hash)
      throw new BlobError({ code: 'BLOB_CORRUPT', hash: toHex(hash) }, `The stored blob ${toHex(hash).slice(0, 16)}… is corrupt; it was quarantined and will be fetched again from a peer.`)
    }
  }

  async delete (hash: Uint8Array): Promise<boolean> {
    const path = this.pathOf(hash)
    const existed = (await this.size(hash)) !== undefined
    await rm(path, { force: true })
    return existed
  }

  /** Moves a corrupt blob out of the way (deleted when the move fails). */
  private async quarantine (hash: Uint8Array): Promise<void> {
    const path = this.pathOf(hash)
    try {
      await mkdir(this.quarantineDir, { recursive: true, mode: 0o700 })
      await rename(path, join(this.quarantineDir, `${toHex(hash)}.${Date.now()}`))
    } catch {
      await rm(path, { force: true }).catch(() => undefined)
    }
  }
}
