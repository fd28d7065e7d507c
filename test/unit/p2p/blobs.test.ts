/**
 * The blob protocol between in-process libp2p hosts on 127.0.0.1: an honest peer serves a blob,
 * a lying peer is refused (nothing stored) and penalised, an unknown blob is "not found", and an
 * announced size over our limit is refused before any data flows. Plus the frame codecs.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { FsBlobStore, type BlobStore } from '../../../src/blobs/store.js'
import { P2pError } from '../../../src/p2p/errors.js'
import {
  decodeBlobEnd, decodeBlobHeader, decodeBlobRequest, encodeBlobEnd, encodeBlobHeader, encodeBlobRequest
} from '../../../src/p2p/blobs.js'
import { createP2pHost, type P2pHost } from '../../../src/p2p/host.js'
import { TEST_CHAIN_ID } from '../../utils/factories.js'
import { nodeKey, peerConfig, record, waitFor, type TestNodeKey } from './helpers.js'

const T = 5_000
const hosts: P2pHost[] = []
const dirs: string[] = []

after(async () => {
  await Promise.allSettled(hosts.map(async (h) => { await h.stop() }))
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

const sha = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())

async function newStore (): Promise<FsBlobStore> {
  const dir = mkdtempSync(join(tmpdir(), 'medchain-p2p-blobs-'))
  dirs.push(dir)
  return await FsBlobStore.open(dir)
}

async function * once (bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes
}

async function readAll (it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of it) parts.push(c)
  return Buffer.concat(parts)
}

async function startHost (key: TestNodeKey, store: BlobStore, peers: Array<{ name: string, key: TestNodeKey, address?: string }> = []): Promise<P2pHost> {
  const host = await createP2pHost({
    chainId: TEST_CHAIN_ID,
    nodeKey: key.seed,
    listen: '/ip4/127.0.0.1/tcp/0',
    peers: peers.map((p) => peerConfig(p.name, p.key, p.address ?? '')),
    inboundConnectionsPerSecondPerIp: 1000,
    blobStore: store,
    blobTimeouts: { transferTimeoutMs: 5_000 },
    handlers: { checkTx: () => { throw new Error('no mempool') } }
  })
  hosts.push(host)
  return host
}

function addrOf (host: P2pHost): string {
  const a = host.multiaddrs().find((m) => m.includes('/tcp/'))
  assert.ok(a !== undefined)
  return a.replace(/\/p2p\/.*$/, '')
}

/** Starts a server host with `store` and a client host (own empty store) dialing it; waits for the connection. */
async function pair (serverKey: TestNodeKey, clientKey: TestNodeKey, serverStore: BlobStore): Promise<{ server: P2pHost, client: P2pHost, clientStore: FsBlobStore }> {
  const server = await startHost(serverKey, serverStore, [{ name: 'client', key: clientKey }])
  const clientStore = await newStore()
  const client = await startHost(clientKey, clientStore, [{ name: 'server', key: serverKey, address: addrOf(server) }])
  await waitFor(() => client.connectedPeers().includes(server.peerId) && server.connectedPeers().includes(client.peerId), T, 'connection')
  return { server, client, clientStore }
}

/** A store that serves every blob with one bit flipped (same size): a lying or broken peer. */
function lyingStore (real: FsBlobStore): BlobStore {
  return {
    has: async (h) => await real.has(h),
    size: async (h) => await real.size(h),
    put: async (s, o) => await real.put(s, o),
    delete: async (h) => await real.delete(h),
    get: async function * (h) {
      let first = true
      for await (const chunk of real.get(h)) {
        const copy = new Uint8Array(chunk)
        if (first && copy.length > 0) copy[0] = (copy[0] ?? 0) ^ 1
        first = false
        yield copy
      }
    }
  }
}

describe('blob frames', () => {
  it('round-trip and refuse malformed frames with SYNC_BAD_FRAME', () => {
    const hash = new Uint8Array(32).fill(9)
    assert.deepEqual(decodeBlobRequest(encodeBlobRequest(hash)), hash)
    assert.deepEqual(decodeBlobHeader(encodeBlobHeader(0, 123_456_789)), { status: 0, size: 123_456_789 })
    assert.equal(decodeBlobEnd(encodeBlobEnd(3)), 3)
    for (const bad of [() => decodeBlobRequest(encodeBlobRequest(new Uint8Array(31))), () => decodeBlobHeader(encodeBlobEnd(0)), () => decodeBlobEnd(new Uint8Array([0x91, 0xcc, 0x01]))]) {
      assert.throws(bad, (e: unknown) => e instanceof P2pError && e.code === 'SYNC_BAD_FRAME')
    }
  })

  it('random bytes never crash a decoder', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      for (const decode of [decodeBlobRequest, decodeBlobHeader, decodeBlobEnd]) {
        try {
          decode(bytes)
        } catch (err) {
          if (!(err instanceof P2pError)) throw err
        }
      }
    }), { numRuns: 1000 })
  })
})

describe('p2p blob exchange (in-process hosts)', () => {
  it('fetches a blob from an honest peer (several frames) and verifies it; a second fetch is local', async () => {
    const serverStore = await newStore()
    const bytes = randomBytes(300_000)
    const { hash } = await serverStore.put(once(bytes), { maxBytes: 1_000_000 })
    const { server, client, clientStore } = await pair(nodeKey('blob-honest-server'), nodeKey('blob-honest-client'), serverStore)
    const got = await client.fetchBlob(hash, 1_000_000)
    assert.ok(got !== undefined)
    assert.equal(got.size, bytes.length)
    assert.equal(got.peerId, server.peerId)
    assert.ok((await readAll(clientStore.get(hash))).equals(bytes))
    const again = await client.fetchBlob(hash, 1_000_000)
    assert.equal(again?.peerId, client.peerId)
  })

  it('refuses a peer serving wrong bytes: nothing stored, the peer penalised (BLOB_INVALID_DATA) and banned', async () => {
    const real = await newStore()
    const bytes = randomBytes(100_000)
    const { hash } = await real.put(once(bytes), { maxBytes: 1_000_000 })
    const { server, client, clientStore } = await pair(nodeKey('blob-liar-server'), nodeKey('blob-liar-client'), lyingStore(real))
    const penalties = record<{ peerId: string, code: string, banned: boolean }>(client, 'peer:penalized')
    assert.equal(await client.fetchBlob(hash, 1_000_000), undefined)
    assert.equal(await clientStore.has(hash), false)
    assert.deepEqual(penalties.map((p) => [p.peerId, p.code, p.banned]), [[server.peerId, 'BLOB_INVALID_DATA', true]])
    assert.equal(client.isBanned(server.peerId), true)
  })

  it('not found: undefined, nothing stored, nobody penalised', async () => {
    const { client, clientStore } = await pair(nodeKey('blob-nf-server'), nodeKey('blob-nf-client'), await newStore())
    const penalties = record(client, 'peer:penalized')
    const hash = sha(randomBytes(8))
    assert.equal(await client.fetchBlob(hash, 1_000_000), undefined)
    assert.equal(await clientStore.has(hash), false)
    assert.equal(penalties.length, 0)
  })

  it('an announced size over our limit is refused before any data flows, without penalty', async () => {
    const serverStore = await newStore()
    const bytes = randomBytes(10_000)
    const { hash } = await serverStore.put(once(bytes), { maxBytes: 1_000_000 })
    const { client, clientStore } = await pair(nodeKey('blob-big-server'), nodeKey('blob-big-client'), serverStore)
    const penalties = record(client, 'peer:penalized')
    assert.equal(await client.fetchBlob(hash, 9_999), undefined)
    assert.equal(await clientStore.has(hash), false)
    assert.equal(penalties.length, 0)
  })
})
