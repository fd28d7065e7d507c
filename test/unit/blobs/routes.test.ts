/**
 * The blob routes of the RPC server against a real Chain (the RPC fixture's hospital world) and a
 * real FsBlobStore, through the client functions the CLI uses (uploadBlob / downloadBlob) and raw
 * HTTP where a request must be malformed on purpose.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Purpose, recordIdOf, TxType, type Tx } from '../../../src/types/tx.js'
import { blobAuthHeaders, downloadBlob, uploadBlob } from '../../../src/blobs/client.js'
import { BlobServerError } from '../../../src/blobs/errors.js'
import { FsBlobStore } from '../../../src/blobs/store.js'
import { toHex } from '../../../src/crypto/bytes.js'
import type { Signer } from '../../../src/crypto/ed25519.js'
import { MedchainError } from '../../../src/util/errors.js'
import { BlobMethod } from '../../../src/blobs/protocol.js'
import { TEST_CHAIN_ID } from '../../utils/factories.js'
import { hex, http, keys, startFixture, type Fixture } from '../rpc/fixture.js'

const sha = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())
const MAX_BYTES = 1024 * 1024
const TTL_MS = 60_000

function code (err: unknown): string {
  return err instanceof MedchainError ? String(err.code) : `not typed: ${String(err)}`
}

describe('RPC blob routes', () => {
  let f: Fixture
  let store: FsBlobStore
  let dir: string
  let home: string
  const fetched: string[] = []
  /** What the stubbed peer fetch can deliver, by hash hex. */
  const peerBlobs = new Map<string, Uint8Array>()

  const ciphertext = randomBytes(300_000)
  const contentHash = sha(ciphertext)
  let recordId: Uint8Array
  let cipherFile: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'medchain-blob-routes-'))
    home = join(dir, 'home')
    store = await FsBlobStore.open(join(home, 'blobs'))
    f = await startFixture({
      server: {
        blobs: {
          store,
          maxBytes: MAX_BYTES,
          accessTtlMs: TTL_MS,
          serveLogPath: join(home, 'blobs', 'serve-log.jsonl'),
          fetchMissing: async (hash, maxBytes) => {
            fetched.push(toHex(hash))
            const bytes = peerBlobs.get(toHex(hash))
            if (bytes === undefined || bytes.length > maxBytes) return false
            await store.put((async function * () { yield bytes })(), { expectedHash: hash, maxBytes })
            return true
          }
        }
      }
    })
    cipherFile = join(dir, 'record.enc')
    writeFileSync(cipherFile, ciphertext)
    const anchor = anchorTx(contentHash, ciphertext.length, 'main')
    await f.world.commitOk([anchor])
    recordId = recordIdOf(TEST_CHAIN_ID, anchor.hash)
  })
  after(async () => {
    await f.close()
    rmSync(dir, { recursive: true, force: true })
  })

  function anchorTx (hash: Uint8Array, size: number, label: string): Tx {
    return f.world.tx(keys.doctor, {
      type: TxType.AnchorRecord,
      patient: keys.patient.publicKey,
      resourceType: 'MedicationRequest',
      contentHash: hash,
      size,
      blobRef: `medchain:${label}`,
      envelopes: [{ recipient: keys.patient.publicKey, wrappedKey: new Uint8Array(48).fill(1) }]
    })
  }

  /** Commits an AccessRecord by `signer`; returns its hash and receipt code (refused ones are included too). */
  async function access (signer: Signer, record: Uint8Array, purpose: Purpose): Promise<{ hash: Uint8Array, code: string }> {
    const tx = f.world.tx(signer, { type: TxType.AccessRecord, recordId: record, purpose })
    const result = await f.h.commit([tx])
    assert.equal(result.skipped.length, 0)
    return { hash: tx.hash, code: result.receipts[0]?.code ?? 'none' }
  }

  const now = (): number => ++f.clock.now

  async function download (signer: Signer, accessTx: Uint8Array, record = recordId, expectedHash = contentHash): Promise<Buffer> {
    const output = join(dir, `out-${randomBytes(4).toString('hex')}`)
    await downloadBlob({ url: f.server.url, chainId: TEST_CHAIN_ID, signer, recordId: record, accessTx, output, expectedHash, maxBytes: MAX_BYTES, now })
    return readFileSync(output)
  }

  async function refusedDownload (signer: Signer, accessTx: Uint8Array, expected: string, status: number, record = recordId): Promise<void> {
    const before = readdirSync(dir).length
    await assert.rejects(download(signer, accessTx, record), (err: unknown) => {
      assert.ok(err instanceof BlobServerError, `expected a BlobServerError, got ${String(err)}`)
      assert.equal(err.code, expected)
      assert.equal(err.status, status)
      return true
    })
    assert.equal(readdirSync(dir).length, before, 'nothing left behind by a refused download')
  }

  async function serveLog (signer: Signer, patient = hex(keys.patient)): Promise<{ status: number, body: unknown }> {
    const headers = blobAuthHeaders(signer, TEST_CHAIN_ID, BlobMethod.serveLog, { patient }, now())
    const res = await http(f.server.port, { method: 'GET', path: `/blobs/serve-log?patient=${patient}`, headers })
    return { status: res.status, body: res.json() }
  }

  async function lastLogLine (): Promise<Record<string, unknown>> {
    const { status, body } = await serveLog(keys.patient)
    assert.equal(status, 200)
    const lines = body as Array<Record<string, unknown>>
    return lines[lines.length - 1] ?? {}
  }

  function noTempFiles (): void {
    const tmp = join(home, 'blobs', 'tmp')
    assert.deepEqual(existsSync(tmp) ? readdirSync(tmp) : [], [])
  }

  /** A raw PUT with the given body, hash in the path and signed params (malleable). */
  async function rawPut (opts: { signer?: Signer, body: Buffer, pathHash: string, signedSize?: number, timestamp?: number, headers?: Record<string, string> }): Promise<{ status: number, code: string }> {
    const signer = opts.signer ?? keys.doctor
    const auth = blobAuthHeaders(signer, TEST_CHAIN_ID, BlobMethod.put, { hash: opts.pathHash, size: opts.signedSize ?? opts.body.length }, opts.timestamp ?? now())
    const res = await http(f.server.port, { method: 'PUT', path: `/blobs/${opts.pathHash}`, headers: { 'content-type': 'application/octet-stream', ...auth, ...opts.headers }, body: opts.body })
    const json = res.json() as { error?: { code: string } }
    return { status: res.status, code: json.error?.code ?? 'OK' }
  }

  describe('PUT /blobs/<hash>', () => {
    it('refuses a non-clinician (403 BLOB_NOT_CLINICIAN) and stores nothing', async () => {
      await assert.rejects(uploadBlob({ url: f.server.url, chainId: TEST_CHAIN_ID, signer: keys.pharmacy, file: cipherFile, hash: contentHash, now }),
        (e) => code(e) === 'BLOB_NOT_CLINICIAN' && (e as BlobServerError).status === 403)
      assert.equal(await store.has(contentHash), false)
      noTempFiles()
    })

    it('refuses an unsigned (401 QUERY_UNSIGNED), badly signed (401 QUERY_BAD_SIGNATURE) or stale (401 QUERY_EXPIRED) upload', async () => {
      const body = Buffer.from(ciphertext)
      const pathHash = toHex(contentHash)
      const unsigned = await http(f.server.port, { method: 'PUT', path: `/blobs/${pathHash}`, headers: { 'content-type': 'application/octet-stream' }, body })
      assert.equal(unsigned.status, 401)
      assert.equal((unsigned.json() as { error: { code: string } }).error.code, 'QUERY_UNSIGNED')
      assert.deepEqual(await rawPut({ body, pathHash, signedSize: body.length + 1 }), { status: 401, code: 'QUERY_BAD_SIGNATURE' })
      assert.deepEqual(await rawPut({ body, pathHash, signer: keys.stranger, headers: { 'x-medchain-requester': hex(keys.doctor) } }), { status: 401, code: 'QUERY_BAD_SIGNATURE' })
      await assert.rejects(uploadBlob({ url: f.server.url, chainId: TEST_CHAIN_ID, signer: keys.doctor, file: cipherFile, hash: contentHash, now: () => f.clock.now - 61_000 }),
        (e) => code(e) === 'QUERY_EXPIRED' && (e as BlobServerError).status === 401)
      assert.equal(await store.has(contentHash), false)
      noTempFiles()
    })

    it('refuses bytes that do not hash to the path (400 BLOB_HASH_MISMATCH), then the replay of that request (401 QUERY_REPLAYED)', async () => {
      const body = randomBytes(50_000)
      const pathHash = toHex(contentHash)
      const timestamp = now()
      assert.deepEqual(await rawPut({ body, pathHash, timestamp }), { status: 400, code: 'BLOB_HASH_MISMATCH' })
      assert.deepEqual(await rawPut({ body, pathHash, timestamp }), { status: 401, code: 'QUERY_REPLAYED' })
      assert.equal(await store.has(contentHash), false)
      assert.equal(await store.has(sha(body)), false)
      noTempFiles()
    })

    it('refuses a Content-Length over blobs.maxBytes (413 BLOB_TOO_LARGE) before reading the body', async () => {
      const body = randomBytes(MAX_BYTES + 1)
      assert.deepEqual(await rawPut({ body, pathHash: toHex(sha(body)) }), { status: 413, code: 'BLOB_TOO_LARGE' })
      assert.equal(await store.has(sha(body)), false)
      noTempFiles()
    })

    it('the client sends no body when the node refuses from the headers: an oversized file gets BLOB_TOO_LARGE, not a broken pipe', async () => {
      const big = join(dir, 'big.enc')
      const body = randomBytes(MAX_BYTES * 4)
      writeFileSync(big, body)
      const progress: number[] = []
      await assert.rejects(uploadBlob({ url: f.server.url, chainId: TEST_CHAIN_ID, signer: keys.doctor, file: big, hash: sha(body), now, onProgress: (done) => { progress.push(done) } }),
        (e) => code(e) === 'BLOB_TOO_LARGE' && (e as BlobServerError).status === 413)
      assert.deepEqual(progress, [], 'not one byte of the body was sent')
      assert.equal(await store.has(sha(body)), false)
    })

    it('refuses a malformed hash (400 BLOB_BAD_REQUEST)', async () => {
      assert.deepEqual(await rawPut({ body: Buffer.from('x'), pathHash: 'abcd' }), { status: 400, code: 'BLOB_BAD_REQUEST' })
    })

    it('an active clinician uploads (200 {hash, size}); uploading again is idempotent', async () => {
      const progress: number[] = []
      const stored = await uploadBlob({ url: f.server.url, chainId: TEST_CHAIN_ID, signer: keys.doctor, file: cipherFile, hash: contentHash, now, onProgress: (done) => progress.push(done) })
      assert.deepEqual(stored, { hash: contentHash, size: ciphertext.length })
      assert.equal(progress[progress.length - 1], ciphertext.length)
      assert.equal(await store.size(contentHash), ciphertext.length)
      await uploadBlob({ url: f.server.url, chainId: TEST_CHAIN_ID, signer: keys.doctor, file: cipherFile, hash: contentHash, now })
      noTempFiles()
    })
  })

  describe('GET /blobs/<recordId>?access=<tx>', () => {
    let granted: Uint8Array

    it('serves the ciphertext to a requester with a granted access; the bytes match and it is logged "served"', async () => {
      const a = await access(keys.pharmacy, recordId, Purpose.Pharmacy)
      assert.equal(a.code, 'OK')
      granted = a.hash
      const bytes = await download(keys.pharmacy, granted)
      assert.ok(bytes.equals(ciphertext))
      assert.deepEqual(await lastLogLine(), { time: f.clock.now - 1, patient: hex(keys.patient), recordId: toHex(recordId), requester: hex(keys.pharmacy), access: toHex(granted), result: 'served' })
    })

    it('refuses without an access tx (400 BLOB_ACCESS_MISSING), logged', async () => {
      const headers = blobAuthHeaders(keys.pharmacy, TEST_CHAIN_ID, BlobMethod.get, { recordId: toHex(recordId) }, now())
      const res = await http(f.server.port, { method: 'GET', path: `/blobs/${toHex(recordId)}`, headers })
      assert.equal(res.status, 400)
      assert.equal((res.json() as { error: { code: string } }).error.code, 'BLOB_ACCESS_MISSING')
      const line = await lastLogLine()
      assert.deepEqual([line.requester, line.access, line.result], [hex(keys.pharmacy), null, 'BLOB_ACCESS_MISSING'])
    })

    it('refuses an access tx that is not committed (403 BLOB_ACCESS_NOT_COMMITTED), logged', async () => {
      await refusedDownload(keys.pharmacy, sha(randomBytes(4)), 'BLOB_ACCESS_NOT_COMMITTED', 403)
      assert.equal((await lastLogLine()).result, 'BLOB_ACCESS_NOT_COMMITTED')
    })

    it('refuses another requester\'s access tx (403 BLOB_ACCESS_NOT_YOURS), logged', async () => {
      await refusedDownload(keys.insurer, granted, 'BLOB_ACCESS_NOT_YOURS', 403)
      const line = await lastLogLine()
      assert.deepEqual([line.requester, line.result], [hex(keys.insurer), 'BLOB_ACCESS_NOT_YOURS'])
    })

    it('refuses an access the contract refused (403 BLOB_ACCESS_REFUSED), logged', async () => {
      const refused = await access(keys.insurer, recordId, Purpose.Insurance)
      assert.equal(refused.code, 'ACCESS_NO_CONSENT')
      await refusedDownload(keys.insurer, refused.hash, 'BLOB_ACCESS_REFUSED', 403)
      assert.equal((await lastLogLine()).result, 'BLOB_ACCESS_REFUSED')
    })

    it('refuses an access for another record (403 BLOB_ACCESS_OTHER_RECORD), and a tx that is no access (403 BLOB_ACCESS_INVALID), logged', async () => {
      const other = await access(keys.pharmacy, f.world.records.rx, Purpose.Pharmacy)
      assert.equal(other.code, 'OK')
      await refusedDownload(keys.pharmacy, other.hash, 'BLOB_ACCESS_OTHER_RECORD', 403)
      assert.equal((await lastLogLine()).result, 'BLOB_ACCESS_OTHER_RECORD')
      await refusedDownload(keys.patient, f.world.grants.pharmacy, 'BLOB_ACCESS_INVALID', 403)
      assert.equal((await lastLogLine()).result, 'BLOB_ACCESS_INVALID')
    })

    it('refuses a bad signature (401) and logs the requester it claimed', async () => {
      const headers = { ...blobAuthHeaders(keys.stranger, TEST_CHAIN_ID, BlobMethod.get, { recordId: toHex(recordId), access: toHex(granted) }, now()), 'x-medchain-requester': hex(keys.pharmacy) }
      const res = await http(f.server.port, { method: 'GET', path: `/blobs/${toHex(recordId)}?access=${toHex(granted)}`, headers })
      assert.equal(res.status, 401)
      const line = await lastLogLine()
      assert.deepEqual([line.requester, line.result], [hex(keys.pharmacy), 'QUERY_BAD_SIGNATURE'])
    })

    it('an unknown record is 404 RECORD_NOT_FOUND and not logged', async () => {
      const lines = ((await serveLog(keys.patient)).body as unknown[]).length
      await assert.rejects(download(keys.pharmacy, granted, sha(randomBytes(3))), (e) => code(e) === 'RECORD_NOT_FOUND' && (e as BlobServerError).status === 404)
      assert.equal(((await serveLog(keys.patient)).body as unknown[]).length, lines)
    })

    it('fetches a blob this node lacks from peers first (injected fetch); 404 BLOB_NOT_FOUND when no peer has it', async () => {
      const bytes = randomBytes(1000)
      const anchor = anchorTx(sha(bytes), bytes.length, 'remote')
      await f.world.commitOk([anchor])
      const remote = recordIdOf(TEST_CHAIN_ID, anchor.hash)
      const a = await access(keys.doctor, remote, Purpose.Treatment)
      await refusedDownload(keys.doctor, a.hash, 'BLOB_NOT_FOUND', 404, remote)
      assert.deepEqual(fetched, [toHex(sha(bytes))])
      peerBlobs.set(toHex(sha(bytes)), bytes)
      assert.ok((await download(keys.doctor, a.hash, remote, sha(bytes))).equals(bytes))
      assert.equal(fetched.length, 2)
    })

    it('the client refuses bytes that do not match the anchored hash (BLOB_HASH_MISMATCH, nothing left behind)', async () => {
      const a = await access(keys.pharmacy, recordId, Purpose.Pharmacy)
      const before = readdirSync(dir).length
      await assert.rejects(download(keys.pharmacy, a.hash, recordId, sha(randomBytes(5))), (e) => code(e) === 'BLOB_HASH_MISMATCH')
      assert.equal(readdirSync(dir).length, before)
    })

    it('refuses after the patient revoked the grant (403 ACCESS_CONSENT_REVOKED), logged', async () => {
      await f.world.commitOk([f.world.tx(keys.patient, { type: TxType.Revoke, grantId: f.world.grants.pharmacy })])
      await refusedDownload(keys.pharmacy, granted, 'ACCESS_CONSENT_REVOKED', 403)
      assert.equal((await lastLogLine()).result, 'ACCESS_CONSENT_REVOKED')
    })

    it('refuses an access older than blobs.accessTtlMs at the head (403 BLOB_ACCESS_EXPIRED), logged', async () => {
      const a = await access(keys.doctor, recordId, Purpose.Treatment)
      assert.ok((await download(keys.doctor, a.hash)).equals(ciphertext))
      await f.h.commit([], f.h.chain.head.timestamp + TTL_MS + 1)
      await refusedDownload(keys.doctor, a.hash, 'BLOB_ACCESS_EXPIRED', 403)
      assert.equal((await lastLogLine()).result, 'BLOB_ACCESS_EXPIRED')
    })
  })

  describe('GET /blobs/serve-log', () => {
    it('shows the patient every line of theirs, served and refused, oldest first', async () => {
      const { status, body } = await serveLog(keys.patient)
      assert.equal(status, 200)
      const lines = body as Array<{ patient: string, result: string }>
      assert.ok(lines.length >= 12)
      assert.ok(lines.every((l) => l.patient === hex(keys.patient)))
      assert.equal(lines[0]?.result, 'served')
      assert.ok(lines.some((l) => l.result === 'ACCESS_CONSENT_REVOKED'))
    })

    it('refuses anyone else (403 QUERY_NOT_AUTHORISED), even a grantee or the author', async () => {
      for (const signer of [keys.pharmacy, keys.doctor]) {
        const { status, body } = await serveLog(signer)
        assert.equal(status, 403)
        assert.equal((body as { error: { code: string } }).error.code, 'QUERY_NOT_AUTHORISED')
      }
    })

    it('another patient\'s log is empty', async () => {
      const other = keys.stranger
      const { status, body } = await serveLog(other, hex(other))
      assert.equal(status, 200)
      assert.deepEqual(body, [])
    })
  })
})
