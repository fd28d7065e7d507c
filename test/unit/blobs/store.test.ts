import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FsBlobStore } from '../../../src/blobs/store.js'
import { MedchainError } from '../../../src/util/errors.js'

const dirs: string[] = []
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

async function newStore (): Promise<FsBlobStore> {
  const dir = mkdtempSync(join(tmpdir(), 'medchain-blobs-'))
  dirs.push(dir)
  return await FsBlobStore.open(dir)
}

const sha = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())

async function * chunks (bytes: Uint8Array, size = 1000): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

async function readAll (it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of it) parts.push(c)
  return Buffer.concat(parts)
}

function code (err: unknown): string {
  return err instanceof MedchainError ? String(err.code) : `not typed: ${String(err)}`
}

/** Blob files and temp files under the store (not counting empty folders). */
function files (store: FsBlobStore): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name))
      else out.push(join(d, e.name))
    }
  }
  walk(store.dir)
  return out
}

describe('FsBlobStore', () => {
  it('round trip: put streams, get returns the same bytes; has/size/delete', async () => {
    const store = await newStore()
    const bytes = randomBytes(200_000)
    const hash = sha(bytes)
    const stored = await store.put(chunks(bytes), { expectedHash: hash, maxBytes: 1_000_000 })
    assert.deepEqual(stored, { hash, size: bytes.length })
    assert.equal(await store.has(hash), true)
    assert.equal(await store.size(hash), bytes.length)
    const hex = Buffer.from(hash).toString('hex')
    assert.ok(existsSync(join(store.dir, hex.slice(0, 2), hex)), 'content-addressed path')
    assert.ok((await readAll(store.get(hash))).equals(bytes))
    assert.equal(await store.delete(hash), true)
    assert.equal(await store.has(hash), false)
    assert.equal(await store.delete(hash), false)
  })

  it('put without expectedHash names the blob by its hash', async () => {
    const store = await newStore()
    const bytes = randomBytes(10)
    const { hash } = await store.put(chunks(bytes), { maxBytes: 10 })
    assert.deepEqual(hash, sha(bytes))
  })

  it('refuses a hash mismatch with BLOB_HASH_MISMATCH and leaves nothing behind', async () => {
    const store = await newStore()
    const bytes = randomBytes(5000)
    await assert.rejects(store.put(chunks(bytes), { expectedHash: sha(randomBytes(8)), maxBytes: 10_000 }), (e) => code(e) === 'BLOB_HASH_MISMATCH')
    assert.deepEqual(files(store), [])
    assert.equal(await store.has(sha(bytes)), false)
  })

  it('refuses past maxBytes with BLOB_TOO_LARGE while streaming and leaves nothing behind', async () => {
    const store = await newStore()
    const bytes = randomBytes(5001)
    let pulled = 0
    async function * counting (): AsyncIterable<Uint8Array> {
      for await (const c of chunks(bytes, 100)) { pulled += c.length; yield c }
    }
    await assert.rejects(store.put(counting(), { expectedHash: sha(bytes), maxBytes: 5000 }), (e) => code(e) === 'BLOB_TOO_LARGE')
    assert.equal(pulled, 5001)
    assert.deepEqual(files(store), [])
    // exactly maxBytes is fine
    const ok = bytes.subarray(0, 5000)
    assert.equal((await store.put(chunks(ok), { expectedHash: sha(ok), maxBytes: 5000 })).size, 5000)
  })

  it('a failing source leaves nothing behind', async () => {
    const store = await newStore()
    async function * broken (): AsyncIterable<Uint8Array> {
      yield new Uint8Array(10)
      throw new Error('connection lost')
    }
    await assert.rejects(store.put(broken(), { maxBytes: 100 }), /connection lost/)
    assert.deepEqual(files(store), [])
  })

  it('detects a corrupt file on read: BLOB_CORRUPT at the end, and the file is quarantined', async () => {
    const store = await newStore()
    const bytes = randomBytes(3000)
    const { hash } = await store.put(chunks(bytes), { maxBytes: 10_000 })
    const path = store.pathOf(hash)
    const flipped = Buffer.from(readFileSync(path))
    flipped[1234] = (flipped[1234] ?? 0) ^ 1
    writeFileSync(path, flipped)
    await assert.rejects(readAll(store.get(hash)), (e) => code(e) === 'BLOB_CORRUPT')
    assert.equal(await store.has(hash), false)
    assert.equal(readdirSync(join(store.dir, 'quarantine')).length, 1)
    await assert.rejects(readAll(store.get(hash)), (e) => code(e) === 'BLOB_NOT_FOUND')
  })

  it('put is idempotent, and concurrent puts of the same blob all succeed with one file', async () => {
    const store = await newStore()
    const bytes = randomBytes(100_000)
    const hash = sha(bytes)
    const results = await Promise.all(Array.from({ length: 6 }, async () => await store.put(chunks(bytes, 777), { expectedHash: hash, maxBytes: 200_000 })))
    for (const r of results) assert.deepEqual(r, { hash, size: bytes.length })
    await store.put(chunks(bytes), { expectedHash: hash, maxBytes: 200_000 })
    assert.deepEqual(files(store), [store.pathOf(hash)])
    assert.ok((await readAll(store.get(hash))).equals(bytes))
  })

  it('an empty blob is a blob', async () => {
    const store = await newStore()
    const { hash, size } = await store.put(chunks(new Uint8Array(0)), { maxBytes: 0 })
    assert.equal(size, 0)
    assert.equal((await readAll(store.get(hash))).length, 0)
  })

  it('refuses a hash that is not 32 bytes', async () => {
    const store = await newStore()
    await assert.rejects(store.size(new Uint8Array(31)), (e) => code(e) === 'BLOB_BAD_ARGUMENT')
  })
})
