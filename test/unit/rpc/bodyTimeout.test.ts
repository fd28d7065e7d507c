/**
 * How long a request body may take (limits.bodyTimeoutMs, here 400 ms): a JSON-RPC body that
 * trickles past it is cut; a blob upload may take longer as long as it keeps moving, and one that
 * stalls is cut and stores nothing. (There is no cap on a whole request, so large scans can upload
 * over slow links.)
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FsBlobStore } from '../../../src/blobs/store.js'
import { blobAuthHeaders } from '../../../src/blobs/client.js'
import { BlobMethod } from '../../../src/blobs/protocol.js'
import { toHex } from '../../../src/crypto/bytes.js'
import { TEST_CHAIN_ID } from '../../utils/factories.js'
import { keys, startFixture, type Fixture } from './fixture.js'

const BODY_TIMEOUT_MS = 400

const pause = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

describe('RPC body timeouts', () => {
  let f: Fixture
  let store: FsBlobStore
  let dir: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'medchain-body-timeout-'))
    store = await FsBlobStore.open(join(dir, 'blobs'))
    f = await startFixture({ server: { limits: { bodyTimeoutMs: BODY_TIMEOUT_MS }, blobs: { store, maxBytes: 1024 * 1024, serveLogPath: join(dir, 'blobs', 'serve-log.jsonl') } } })
  })
  after(async () => {
    await f.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('cuts a JSON-RPC body that does not arrive whole in time', { timeout: 10_000 }, async () => {
    const socket = connect(f.server.port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    const closed = new Promise<void>((resolve) => socket.once('close', () => { resolve() }))
    socket.on('error', () => undefined)
    socket.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"jsonrpc":')
    const started = Date.now()
    await closed // the rest of the body never comes: the node closes the connection
    assert.ok(Date.now() - started >= BODY_TIMEOUT_MS - 50, 'not before the deadline')
  })

  /** PUTs `body` in `pieces`, pausing `gapMs` between them; resolves with the status, or 'cut'. */
  async function slowUpload (body: Uint8Array, pieces: number, gapMs: number): Promise<number | 'cut'> {
    const hash = createHash('sha256').update(body).digest()
    const headers = {
      ...blobAuthHeaders(keys.doctor, TEST_CHAIN_ID, BlobMethod.put, { hash: toHex(hash), size: body.length }, ++f.clock.now),
      'content-type': 'application/octet-stream',
      'content-length': String(body.length)
    }
    return await new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port: f.server.port, method: 'PUT', path: `/blobs/${toHex(hash)}`, headers }, (res) => {
        res.resume()
        res.on('end', () => { resolve(res.statusCode ?? 0) })
      })
      req.on('error', () => { resolve('cut') })
      void (async () => {
        const size = Math.ceil(body.length / pieces)
        for (let i = 0; i < body.length; i += size) {
          if (i > 0) await pause(gapMs)
          if (req.destroyed) return
          req.write(body.subarray(i, i + size))
        }
        req.end()
      })()
    })
  }

  it('lets a blob upload take longer than the deadline while it keeps moving', async () => {
    const body = randomBytes(64 * 1024)
    // 8 pieces 150 ms apart: ~1 s in all, each pause well within the 400 ms idle limit
    assert.equal(await slowUpload(body, 8, 150), 200)
    assert.equal(await store.has(createHash('sha256').update(body).digest()), true)
  })

  it('cuts a blob upload that stalls, and stores nothing', async () => {
    const body = randomBytes(64 * 1024)
    assert.equal(await slowUpload(body, 2, BODY_TIMEOUT_MS * 4), 'cut')
    assert.equal(await store.has(createHash('sha256').update(body).digest()), false)
  })
})
