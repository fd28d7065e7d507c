/**
 * Real libp2p nodes on 127.0.0.1 (random ports): allowlist, gossip with validators and scoring,
 * status and block sync against honest and hostile peers. Every host is stopped in `after`.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { decodeBlock, encodeBlock, encodeCertificate, type CommitCertificate } from '../../src/types/block.js'
import { encodeCanonical } from '../../src/types/codec.js'
import { Mempool } from '../../src/chain/mempool.js'
import { TxType, type Tx } from '../../src/types/tx.js'
import { signVote, VoteType } from '../../src/types/vote.js'
import type { ConsensusMessage } from '../../src/types/consensusMessage.js'
import { equalBytes, toHex } from '../../src/crypto/bytes.js'
import { sha256 } from '../../src/crypto/hash.js'
import { P2pError } from '../../src/p2p/errors.js'
import { encodeTxBatch, MAX_CONSENSUS_GOSSIP_BYTES, TopicValidatorResult, type GossipVerdictEvent } from '../../src/p2p/gossip.js'
import { createP2pHost, type P2pHandlers, type P2pHost, type P2pHostOptions } from '../../src/p2p/host.js'
import {
  encodeBlockItem, encodeEnd, MAX_BLOCK_ITEM_FRAME_BYTES, SyncStatus, type SyncSource
} from '../../src/p2p/sync.js'
import { ChainHarness } from '../utils/chainHarness.js'
import { bytes32, makeKeys, makeTx, TEST_CHAIN_ID } from '../utils/factories.js'
import { nodeKey, peerConfig, record, waitFor, waitForEvent, type TestNodeKey } from '../unit/p2p/helpers.js'

const LISTEN = '/ip4/127.0.0.1/tcp/0'
const T = 5_000 // deadline of every wait on the network

const hosts: P2pHost[] = []
const harnesses: ChainHarness[] = []

async function startHost (key: TestNodeKey, opts: Partial<P2pHostOptions> & { handlers?: Partial<P2pHandlers> } = {}): Promise<P2pHost> {
  const host = await createP2pHost({
    chainId: TEST_CHAIN_ID,
    nodeKey: key.seed,
    listen: LISTEN,
    peers: [],
    inboundConnectionsPerSecondPerIp: 1000, // every test node shares 127.0.0.1
    ...opts,
    handlers: { checkTx: () => { throw new Error('no mempool') }, ...opts.handlers }
  })
  hosts.push(host)
  return host
}

function addrOf (host: P2pHost): string {
  const a = host.multiaddrs().find((m) => m.includes('/tcp/'))
  assert.ok(a !== undefined)
  return a.replace(/\/p2p\/.*$/, '')
}

/**
 * Counts every gossip message the host's gossipsub receives, duplicates included (each copy that
 * crossed a link to it), by sha256 of the data. Wraps gossipsub's internal per-message entry point:
 * if an upgrade renames it, the relay tests below fail instead of passing vacuously.
 */
function countInbound (host: P2pHost): Map<string, number> {
  const pubsub = host.libp2p.services.pubsub as unknown as { handleReceivedMessage?: (from: unknown, msg: { data?: Uint8Array }) => Promise<void> }
  const original = pubsub.handleReceivedMessage
  assert.equal(typeof original, 'function', 'gossipsub has no handleReceivedMessage any more')
  const counts = new Map<string, number>()
  pubsub.handleReceivedMessage = async (from, msg) => {
    const key = toHex(sha256(msg.data ?? new Uint8Array(0)))
    counts.set(key, (counts.get(key) ?? 0) + 1)
    await original?.call(pubsub, from, msg)
  }
  return counts
}

async function connected (a: P2pHost, b: P2pHost): Promise<void> {
  await waitFor(() => a.connectedPeers().includes(b.peerId) && b.connectedPeers().includes(a.peerId), T, `${a.peerId} <-> ${b.peerId}`)
}

after(async () => {
  await Promise.allSettled(hosts.map(async (h) => { await h.stop() }))
  await Promise.allSettled(harnesses.map(async (h) => { await h.close() }))
})

const kA = nodeKey('a')
const kB = nodeKey('b')
const kC = nodeKey('c')
const kU = nodeKey('unlisted')

const clinician = makeKeys('clinician')
function enrol (nonce: number, signer = clinician): Tx {
  return makeTx(signer, nonce, { type: TxType.EnrolPatient, publicKey: makeKeys(`patient-${nonce}`).publicKey })
}
function newMempool (): Mempool {
  return new Mempool({ chainId: TEST_CHAIN_ID, getAccountNonce: (pk) => (equalBytes(pk, clinician.publicKey) ? 0 : undefined) })
}

describe('p2p: allowlist, gossip and scoring (3 nodes)', () => {
  let a: P2pHost, b: P2pHost, c: P2pHost
  const pools = { a: newMempool(), b: newMempool(), c: newMempool() }
  const delivered: { b: Tx[][], c: Tx[][] } = { b: [], c: [] }
  const consensusAtB: ConsensusMessage[] = []
  const inbound: { b: Map<string, number>, c: Map<string, number> } = { b: new Map(), c: new Map() }

  before(async () => {
    a = await startHost(kA, { peers: [peerConfig('b', kB), peerConfig('c', kC)], handlers: { checkTx: (t) => pools.a.checkTx(t) } })
    b = await startHost(kB, {
      peers: [peerConfig('a', kA, addrOf(a)), peerConfig('c', kC)],
      handlers: { checkTx: (t) => pools.b.checkTx(t), onTxs: (txs) => delivered.b.push(txs), onConsensusMessage: (m) => consensusAtB.push(m) }
    })
    c = await startHost(kC, {
      peers: [peerConfig('a', kA, addrOf(a)), peerConfig('b', kB, addrOf(b))],
      handlers: { checkTx: (t) => pools.c.checkTx(t), onTxs: (txs) => delivered.c.push(txs) }
    })
    inbound.b = countInbound(b)
    inbound.c = countInbound(c)
    await connected(a, b)
    await connected(a, c)
    await connected(b, c)
    await waitFor(() => a.topicPeers('txs').length === 2 && c.topicPeers('txs').includes(b.peerId) && a.topicPeers('consensus').includes(b.peerId) && c.topicPeers('consensus').includes(b.peerId), T, 'subscriptions')
  })

  it('refuses a node that is not in the allowlist (gater), both ways', async () => {
    const refused = waitForEvent<{ peerId: string, direction: string }>(a, 'peer:refused', (e) => e.direction === 'inbound', T)
    const u = await startHost(kU, { peers: [peerConfig('a', kA)] })
    // U's side may finish its handshake before A closes the connection: what matters is that A refuses it
    await u.libp2p.dial(multiaddr(`${addrOf(a)}/p2p/${a.peerId}`)).catch(() => undefined)
    const e = await refused
    assert.equal(e.peerId, u.peerId)
    await waitFor(() => !u.connectedPeers().includes(a.peerId), T, 'U disconnected from A')
    assert.ok(!a.connectedPeers().includes(u.peerId))
    // and we never dial an unlisted peer
    await assert.rejects(a.libp2p.dial(multiaddr(`${addrOf(u)}/p2p/${u.peerId}`)))
    assert.ok(!a.isAllowedPeer(u.peerId))
  })

  it('admits a key the node allows through isAllowed (validator set in state)', async () => {
    const kV = nodeKey('validator-from-state')
    const kD = nodeKey('d')
    const v = await startHost(kV, { peers: [peerConfig('d', kD)] })
    let inValidatorSet = true
    const d = await startHost(kD, { peers: [], isAllowed: (key) => inValidatorSet && equalBytes(key, kV.publicKey) })
    await v.libp2p.dial(multiaddr(`${addrOf(d)}/p2p/${d.peerId}`))
    await waitFor(() => d.connectedPeers().includes(v.peerId), T, 'v connected to d')
    // removed from the validator set: refreshAllowlist drops it
    inValidatorSet = false
    await d.refreshAllowlist()
    await waitFor(() => !d.connectedPeers().includes(v.peerId), T, 'v dropped by d')
    await v.stop()
  })

  it('a tx batch gossiped by A reaches B and C once each: admitted, and not pushed on by either', async () => {
    const txs = [enrol(0), enrol(1), enrol(2)]
    for (const t of txs) pools.a.checkTx(t)
    assert.equal(await a.publishTxs(txs), 1)
    await waitFor(() => delivered.b.length >= 1 && delivered.c.length >= 1, T, 'delivery at B and C')
    // a marker from each of B and C flushes the link to the other (one stream per peer, in order):
    // had B or C pushed the batch on, that copy would have arrived before the marker
    const markerB = enrol(20)
    const markerC = enrol(21)
    pools.b.checkTx(markerB)
    pools.c.checkTx(markerC)
    await b.publishTxs([markerB])
    await c.publishTxs([markerC])
    const has = (d: Tx[][], t: Tx): boolean => d.some((batch) => batch.some((x) => equalBytes(x.hash, t.hash)))
    await waitFor(() => has(delivered.b, markerC) && has(delivered.c, markerB), T, 'markers')
    const batchId = toHex(sha256(encodeTxBatch(txs.map((t) => t.bytes))))
    // each node got the batch once, from A; with configured peers as gossipsub direct peers it
    // was 2 copies each (A's, and the other's relay)
    assert.equal(inbound.b.get(batchId), 1)
    assert.equal(inbound.c.get(batchId), 1)
    const batchDeliveries = delivered.b.filter((d) => d.some((t) => equalBytes(t.hash, txs[0]!.hash)))
    assert.equal(batchDeliveries.length, 1)
    assert.deepEqual(batchDeliveries[0]!.map((t) => toHex(t.hash)), txs.map((t) => toHex(t.hash)))
    assert.equal(pools.b.size, 5)
    // every connection went through the write coalescer (coalesce.ts): a libp2p upgrade that hides
    // the TCP socket from it would silently cost ~15% CPU per transaction, so it fails here
    for (const host of [a, b, c]) assert.ok(host.coalescedConnections >= 2, `coalesced connections: ${host.coalescedConnections}`)
  })

  it('rejects a malformed message: never delivered, and the sender\'s score drops', async () => {
    const verdicts = record<GossipVerdictEvent>(b, 'gossip:verdict')
    const before = delivered.b.length
    await c.libp2p.services.pubsub.publish(c.topics.txs, new Uint8Array([0x93, 0xc4, 0x01]))
    const forged = enrol(4)
    const bad = new Uint8Array(forged.bytes)
    bad[bad.length - 1]! ^= 0x01
    await c.libp2p.services.pubsub.publish(c.topics.txs, encodeTxBatch([bad]))
    await waitFor(() => verdicts.filter((v) => v.from === c.peerId && v.verdict === TopicValidatorResult.Reject).length >= 2, T, 'two rejects at B')
    assert.deepEqual(verdicts.filter((v) => v.from === c.peerId).map((v) => v.code), ['GOSSIP_MALFORMED', 'TX_BAD_SIGNATURE'])
    await waitFor(() => b.gossipScore(c.peerId) < 0, T, 'score of C at B below 0')
    assert.equal(delivered.b.length, before)
    assert.equal(pools.b.has(forged.hash), false)
  })

  it('ignores (no penalty) a tx of an unknown sender', async () => {
    const verdicts = record<GossipVerdictEvent>(b, 'gossip:verdict')
    const stranger = makeTx(makeKeys('stranger'), 0, { type: TxType.EnrolPatient, publicKey: bytes32('x') })
    await a.libp2p.services.pubsub.publish(a.topics.txs, encodeTxBatch([stranger.bytes]))
    await waitFor(() => verdicts.some((v) => v.from === a.peerId), T, 'verdict on the stranger tx')
    const v = verdicts.find((e) => e.from === a.peerId)
    assert.equal(v?.verdict, TopicValidatorResult.Ignore)
    assert.equal(v?.code, 'TX_UNKNOWN_SENDER')
    assert.ok(b.gossipScore(a.peerId) >= 0)
  })

  it('delivers a signed consensus vote and rejects a forged one', async () => {
    const validator = makeKeys('hospital-a/validator')
    const vote = signVote({ chainId: TEST_CHAIN_ID, type: VoteType.Prevote, height: 1, round: 0, blockHash: bytes32('blk'), validator: validator.publicKey }, validator)
    const verdicts = record<GossipVerdictEvent>(b, 'gossip:verdict')
    await a.publishConsensusMessage({ kind: 'vote', vote: { ...vote, round: 7 } }) // signature no longer matches
    await a.publishConsensusMessage({ kind: 'vote', vote })
    await waitFor(() => consensusAtB.length === 1 && verdicts.filter((v) => v.topic === a.topics.consensus).length >= 2, T, 'consensus verdicts at B')
    assert.equal(consensusAtB[0]!.kind, 'vote')
    const rejected = verdicts.find((v) => v.verdict === TopicValidatorResult.Reject)
    assert.equal(rejected?.code, 'MSG_BAD_SIGNATURE')
  })

  it('carries a consensus message up to MAX_CONSENSUS_GOSSIP_BYTES; refuses to publish a larger one', async () => {
    const verdicts = record<GossipVerdictEvent>(b, 'gossip:verdict')
    // a proposal envelope (kind 1) whose payload is not a proposal, as large as gossip carries
    const big = encodeCanonical([1, new Uint8Array(MAX_CONSENSUS_GOSSIP_BYTES - 16)])
    assert.ok(big.length <= MAX_CONSENSUS_GOSSIP_BYTES)
    await a.libp2p.services.pubsub.publish(a.topics.consensus, big)
    await waitFor(() => verdicts.some((v) => v.from === a.peerId && v.topic === a.topics.consensus), T, 'verdict on the big message')
    assert.equal(verdicts.find((v) => v.from === a.peerId)?.code, 'MSG_MALFORMED')
    // a proposal that big cannot be gossiped: a typed refusal at the publisher, not a silent drop
    const harness = await ChainHarness.open()
    harnesses.push(harness)
    const block = (await harness.build([])).block
    // ~4.5 MB of transactions (roots are not checked by the encoder; size is what matters here)
    const txs = Array.from({ length: 52 }, (_, i) => makeTx(clinician, i, {
      type: TxType.AnchorRecord,
      patient: bytes32('patient'),
      resourceType: 'Observation',
      contentHash: bytes32(`content-${i}`),
      size: 1,
      blobRef: '',
      envelopes: Array.from({ length: 256 }, (_, j) => ({ recipient: bytes32(`reader-${j}`), wrappedKey: new Uint8Array(300) }))
    }))
    const proposal = { chainId: TEST_CHAIN_ID, height: 1, round: 0, polRound: -1, block: { ...block, txs }, proposer: harness.proposer.publicKey, signature: new Uint8Array(64) }
    await assert.rejects(a.publishConsensusMessage({ kind: 'proposal', proposal }), (err: unknown) => err instanceof P2pError && err.code === 'GOSSIP_TOO_LARGE')
  })

  it('keeps redialing a configured peer that is down, with backoff, until it is back', async () => {
    const kE = nodeKey('e')
    const e1 = await startHost(kE, { peers: [peerConfig('f', nodeKey('f'))] })
    const eAddr = addrOf(e1)
    const f = await startHost(nodeKey('f'), { peers: [peerConfig('e', kE, eAddr)], redial: { baseMs: 100, maxMs: 400 } })
    await waitFor(() => f.connectedPeers().includes(e1.peerId), T, 'f connected to e')
    const disconnects = record<unknown>(f, 'peer:disconnect')
    await e1.stop()
    await waitFor(() => disconnects.length >= 1 && !f.connectedPeers().includes(e1.peerId), T, 'f saw e go')
    const back = waitForEvent<{ peerId: string }>(f, 'peer:connect', (ev) => ev.peerId === e1.peerId, T)
    const e2 = await startHost(kE, { listen: eAddr, peers: [peerConfig('f', nodeKey('f'))] }) // same key, same port
    await back
    assert.ok(f.connectedPeers().includes(e2.peerId))
  })

  it('a listen address in use is a typed HOST_START_FAILED', async () => {
    await assert.rejects(startHost(nodeKey('port-thief'), { listen: addrOf(a) }), (err: unknown) => err instanceof P2pError && err.code === 'HOST_START_FAILED')
  })

  it('redials a configured peer after a disconnect', async () => {
    const reconnected = waitForEvent<{ peerId: string }>(b, 'peer:connect', (e) => e.peerId === a.peerId, T)
    await a.libp2p.hangUp(peerIdFromString(b.peerId)) // A only admits B; B has A's address and redials
    await reconnected
    await connected(a, b)
  })
})

describe('p2p: relay by announcement (X - Y - Z, no link X - Z)', () => {
  it('a batch X publishes reaches Z through Y\'s announcement (IHAVE/IWANT), once', async () => {
    const kX = nodeKey('x')
    const kY = nodeKey('y')
    const kZ = nodeKey('z')
    const pools = { y: newMempool(), z: newMempool() }
    const atZ: Tx[][] = []
    const x = await startHost(kX, { peers: [peerConfig('y', kY)] })
    const y = await startHost(kY, { peers: [peerConfig('x', kX, addrOf(x)), peerConfig('z', kZ)], handlers: { checkTx: (t) => pools.y.checkTx(t) } })
    const z = await startHost(kZ, { peers: [peerConfig('y', kY, addrOf(y))], handlers: { checkTx: (t) => pools.z.checkTx(t), onTxs: (txs) => atZ.push(txs) } })
    const inboundZ = countInbound(z)
    await connected(x, y)
    await connected(y, z)
    await waitFor(() => x.topicPeers('txs').includes(y.peerId) && y.topicPeers('txs').includes(z.peerId), T, 'subscriptions')
    assert.ok(!x.connectedPeers().includes(z.peerId))
    const txs = [enrol(0), enrol(1)]
    assert.equal(await x.publishTxs(txs), 1)
    // Y does not push it on; its next heartbeat (1 s) announces the id and Z asks for it
    await waitFor(() => atZ.length >= 1, T, 'delivery at Z')
    assert.deepEqual(atZ[0]!.map((t) => toHex(t.hash)), txs.map((t) => toHex(t.hash)))
    assert.equal(pools.y.size, 2)
    assert.equal(pools.z.size, 2)
    assert.equal(inboundZ.get(toHex(sha256(encodeTxBatch(txs.map((t) => t.bytes))))), 1)
  })
})

describe('p2p: status and block sync', () => {
  let source: ChainHarness
  let server: P2pHost
  const kS = nodeKey('sync-server')
  const kClient = nodeKey('sync-client')
  const hostile = ['tampered-block', 'tampered-cert', 'stall', 'oversized', 'too-many', 'budget', 'garbage', 'no-progress'].map((n) => nodeKey(`hostile-${n}`))
  const hospital = makeKeys('hospital-a')

  async function emptyChain (): Promise<ChainHarness> {
    const h = await ChainHarness.open()
    harnesses.push(h)
    return h
  }

  /** A client host that admits the server and every hostile node (short timeouts only where a stall is the test). */
  async function client (label = 'sync-client', responseTimeoutMs = 5_000): Promise<P2pHost> {
    const key = label === 'sync-client' ? kClient : nodeKey(label)
    return await startHost(key, {
      peers: [peerConfig('server', kS, addrOf(server)), ...hostile.map((k, i) => peerConfig(`hostile-${i}`, k))],
      timeouts: { responseTimeoutMs, requestTimeoutMs: responseTimeoutMs }
    })
  }

  /** A node serving the honest chain through `source` (or raw handlers installed afterwards). */
  async function hostileServer (key: TestNodeKey, syncSource?: SyncSource): Promise<P2pHost> {
    return await startHost(key, { peers: [peerConfig('client', kClient)], ...(syncSource !== undefined ? { syncSource } : {}) })
  }

  function tamperedSource (mode: 'block' | 'cert', atHeight: number): SyncSource {
    const chain = source.chain
    return {
      get head () { return chain.head },
      getBlockBytes: async (height) => {
        const bytes = await chain.getBlockBytes(height)
        if (bytes === undefined || mode !== 'block' || height !== atHeight) return bytes
        const block = decodeBlock(bytes)
        // a different (still well-formed) block: its certificate no longer matches it
        return encodeBlock({ ...block, header: { ...block.header, timestamp: block.header.timestamp + 1 } })
      },
      getCertificate: async (height) => {
        const cert = await chain.getCertificate(height)
        if (cert === undefined || mode !== 'cert' || height !== atHeight) return cert
        const sig = new Uint8Array(cert.signatures[0]!.signature)
        sig[0]! ^= 0xff
        return { ...cert, signatures: [{ validator: cert.signatures[0]!.validator, signature: sig }, ...cert.signatures.slice(1)] } satisfies CommitCertificate
      }
    }
  }

  before(async () => {
    source = await ChainHarness.open()
    harnesses.push(source)
    // 5 certified blocks, two of them with transactions, so the state root moves
    await source.commit([])
    await source.commit([makeTx(hospital, 0, { type: TxType.RegisterClinician, publicKey: clinician.publicKey, name: 'Dr. Who', role: 1 })])
    await source.commit([enrol(0), enrol(1)])
    await source.commit([])
    await source.commit([enrol(2)])
    assert.equal(source.chain.head.height, 5)
    server = await startHost(kS, { peers: [peerConfig('client', kClient), ...['b1', 'b2', 'x'].map((l) => peerConfig(l, nodeKey(l)))], syncSource: source.chain, timeouts: { requestTimeoutMs: 1_000 } })
  })

  it('status returns the chain head', async () => {
    const c = await client()
    const status = await c.status(server.peerId)
    assert.equal(status.height, 5)
    assert.deepEqual(status.hash, source.chain.head.hash)
  })

  it('an empty node syncs 5 certified blocks and ends at the head with the same state root', async () => {
    const target = await emptyChain()
    const c = await startHost(nodeKey('b1'), { peers: [peerConfig('server', kS, addrOf(server))] })
    const result = await c.syncFrom(server.peerId, target.chain, { blocksPerRequest: 2 })
    assert.equal(result.imported, 5)
    assert.equal(target.chain.head.height, 5)
    assert.deepEqual(target.chain.head.hash, source.chain.head.hash)
    assert.deepEqual(target.chain.stateRoot, source.chain.stateRoot)
    // already at the head: nothing to do
    assert.equal((await c.syncFrom(server.peerId, target.chain)).imported, 0)
  })

  for (const [name, mode, at, k, reason] of [
    ['a tampered block', 'block', 1, 0, 'COMMIT_WRONG_BLOCK'],
    ['a tampered certificate', 'cert', 1, 1, 'COMMIT_BAD_SIGNATURE'],
    ['a tampered block after good ones', 'block', 3, 0, 'COMMIT_WRONG_BLOCK']
  ] as const) {
    it(`refuses ${name} at height ${at}: nothing of it imported, the peer penalised, dropped and banned`, async () => {
      const target = await emptyChain()
      const c = await client(`victim-${name}`)
      const bad = await hostileServer(hostile[k]!, tamperedSource(mode, at))
      // the hostile node must admit this client
      bad.addPeer(peerConfig('victim', nodeKey(`victim-${name}`)))
      c.addPeer(peerConfig('hostile', hostile[k]!, addrOf(bad)))
      const penalized = waitForEvent<{ peerId: string, code: string, banned: boolean }>(c, 'peer:penalized', (e) => e.peerId === bad.peerId, T)
      await assert.rejects(c.syncFrom(bad.peerId, target.chain), (err: unknown) => {
        assert.ok(err instanceof P2pError)
        assert.equal(err.code, 'SYNC_INVALID_BLOCK')
        assert.equal((err.type as { height: number }).height, at)
        assert.equal((err.type as { reason: string }).reason, reason)
        return true
      })
      assert.equal(target.chain.head.height, at - 1)
      const e = await penalized
      assert.equal(e.code, 'SYNC_INVALID_BLOCK')
      assert.equal(e.banned, true)
      await waitFor(() => !c.connectedPeers().includes(bad.peerId), T, 'hostile peer dropped')
      assert.equal(c.isAllowedPeer(bad.peerId), false)
      await bad.stop()
    })
  }

  /** A hostile node whose blocks (or status) protocol runs `handler` on the raw stream. */
  async function rawServer (key: TestNodeKey, protocol: 'blocks' | 'status', handler: (stream: Stream) => Promise<void>, responseTimeoutMs: number): Promise<{ bad: P2pHost, c: P2pHost }> {
    const label = `raw-client-${toHex(key.publicKey).slice(0, 8)}`
    const c = await client(label, responseTimeoutMs)
    const bad = await hostileServer(key)
    bad.addPeer(peerConfig('victim', nodeKey(label)))
    await bad.libp2p.handle(bad.protocols[protocol], async (stream: Stream) => {
      await handler(stream).catch(() => undefined)
    })
    c.addPeer(peerConfig('hostile', key, addrOf(bad)))
    return { bad, c }
  }

  async function honestItem (height: number): Promise<Uint8Array> {
    return encodeBlockItem((await source.chain.getBlockBytes(height))!, encodeCertificate((await source.chain.getCertificate(height))!))
  }

  const hostileCases: Array<{ name: string, key: number, protocol: 'blocks' | 'status', code: string, banned: boolean, handler: (stream: Stream) => Promise<void> }> = [
    {
      name: 'a peer that stalls (never answers)',
      key: 2,
      protocol: 'blocks',
      code: 'SYNC_TIMEOUT',
      banned: false,
      handler: async (stream) => { await lpStream(stream).read() } // reads the request, then nothing
    },
    {
      name: 'a frame whose length prefix exceeds the limit',
      key: 3,
      protocol: 'blocks',
      code: 'SYNC_FRAME_TOO_LARGE',
      banned: true,
      handler: async (stream) => {
        await lpStream(stream).read()
        const prefix: number[] = []
        let n = MAX_BLOCK_ITEM_FRAME_BYTES + 1
        while (n >= 0x80) { prefix.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
        prefix.push(n)
        stream.send(new Uint8Array([...prefix, 1, 2, 3]))
        await stream.onDrain().catch(() => undefined)
      }
    },
    {
      name: 'more blocks than requested',
      key: 4,
      protocol: 'blocks',
      code: 'SYNC_BAD_FRAME',
      banned: true,
      handler: async (stream) => {
        const lp = lpStream(stream)
        await lp.read()
        for (const h of [1, 2, 3]) await lp.write(await honestItem(h)) // the client asked for 2
        await lp.write(encodeEnd(SyncStatus.Ok))
        await stream.close()
      }
    },
    {
      name: 'a response over the byte budget',
      key: 5,
      protocol: 'blocks',
      code: 'SYNC_FRAME_TOO_LARGE',
      banned: true,
      handler: async (stream) => {
        const lp = lpStream(stream)
        await lp.read()
        for (const h of [1, 2]) await lp.write(await honestItem(h)) // the client allows 1 byte: one item only
        await lp.write(encodeEnd(SyncStatus.Ok))
        await stream.close()
      }
    },
    {
      name: 'a status frame that is not a status',
      key: 6,
      protocol: 'status',
      code: 'SYNC_BAD_FRAME',
      banned: true,
      handler: async (stream) => {
        const lp = lpStream(stream)
        await lp.read()
        await lp.write(encodeCanonical(['not', 'a status']))
        await stream.close()
      }
    }
  ]

  for (const hc of hostileCases) {
    it(`refuses ${hc.name} with ${hc.code}; nothing imported`, async () => {
      const target = await emptyChain()
      const { bad, c } = await rawServer(hostile[hc.key]!, hc.protocol, hc.handler, hc.code === 'SYNC_TIMEOUT' ? 600 : 5_000)
      const penalized = waitForEvent<{ peerId: string, code: string, banned: boolean }>(c, 'peer:penalized', (e) => e.peerId === bad.peerId, T)
      const run = hc.protocol === 'status'
        ? c.status(bad.peerId)
        : c.requestBlocks(bad.peerId, { fromHeight: 1, count: 2, maxBytes: hc.key === 5 ? 1 : 1 << 24 })
      await assert.rejects(run, (err: unknown) => {
        assert.ok(err instanceof P2pError, String(err))
        assert.equal(err.code, hc.code)
        return true
      })
      const e = await penalized
      assert.equal(e.code, hc.code)
      assert.equal(e.banned, hc.banned)
      assert.equal(target.chain.head.height, 0)
      await bad.stop()
    })
  }

  it('refuses a peer that claims a head it does not serve (SYNC_NO_PROGRESS)', async () => {
    const target = await emptyChain()
    const { bad, c } = await rawServer(hostile[7]!, 'status', async (stream) => {
      const lp = lpStream(stream)
      await lp.read()
      await lp.write(encodeCanonical([BigInt(100), new Uint8Array(32)]))
      await stream.close()
    }, 5_000)
    await bad.libp2p.handle(bad.protocols.blocks, async (stream: Stream) => {
      const lp = lpStream(stream)
      await lp.read()
      await lp.write(encodeEnd(SyncStatus.Ok))
      await stream.close()
    })
    await assert.rejects(c.syncFrom(bad.peerId, target.chain), (err: unknown) => err instanceof P2pError && err.code === 'SYNC_NO_PROGRESS')
    assert.equal(target.chain.head.height, 0)
    await bad.stop()
  })

  it('the honest server stops at the byte budget (one block crosses it) and the client accepts that', async () => {
    server.addPeer(peerConfig('budget-client', nodeKey('budget-client')))
    const c = await client('budget-client')
    const blocks = await c.requestBlocks(server.peerId, { fromHeight: 2, count: 4, maxBytes: 1 })
    assert.deepEqual(blocks.map((b) => b.height), [2])
    const all = await c.requestBlocks(server.peerId, { fromHeight: 4, count: 64, maxBytes: 1 << 24 })
    assert.deepEqual(all.map((b) => b.height), [4, 5])
  })

  it('the server refuses a malformed request and a client that stalls, and penalises that client', async () => {
    const x = await startHost(nodeKey('x'), { peers: [peerConfig('server', kS, addrOf(server))] })
    const penalties = record<{ peerId: string, code: string }>(server, 'peer:penalized')
    // a malformed request: answered with a bad-request end frame
    const s1 = await x.libp2p.dialProtocol(peerIdFromString(server.peerId), server.protocols.blocks)
    const lp1 = lpStream(s1)
    await lp1.write(encodeCanonical([1, 2, 3, 4]))
    const answer = new Uint8Array((await lp1.read()).subarray())
    assert.deepEqual(answer, encodeEnd(SyncStatus.BadRequest))
    // a request out of bounds (count 65)
    const s2 = await x.libp2p.dialProtocol(peerIdFromString(server.peerId), server.protocols.blocks)
    const lp2 = lpStream(s2)
    await lp2.write(encodeCanonical([BigInt(1), 65, 1000]))
    assert.deepEqual(new Uint8Array((await lp2.read()).subarray()), encodeEnd(SyncStatus.BadRequest))
    // a client that opens a stream and never sends its request: the server gives up after 1 s
    await x.libp2p.dialProtocol(peerIdFromString(server.peerId), server.protocols.status)
    await waitFor(() => penalties.some((p) => p.code === 'SYNC_TIMEOUT'), T, 'server-side timeout')
    assert.deepEqual(penalties.map((p) => p.code).sort(), ['SYNC_BAD_FRAME', 'SYNC_BAD_REQUEST', 'SYNC_TIMEOUT'])
    assert.ok(penalties.every((p) => p.peerId === x.peerId))
    // the server is still serving
    server.addPeer(peerConfig('after-abuse', nodeKey('after-abuse')))
    assert.equal((await (await client('after-abuse')).status(server.peerId)).height, 5)
  })
})
