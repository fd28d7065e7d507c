/**
 * The libp2p host of a medchain node: builds and runs the libp2p node (TCP + Noise + yamux,
 * identify, gossipsub unsigned with message id = sha256(data)), serves the status, blocks and blob
 * protocols, and is the one object (`P2pHost`) the node talks to: publish, sync, fetch blobs,
 * penalise, and the peer events.
 *
 * The libp2p key IS the node key (`generateKeyPairFromSeed('Ed25519', seed)`). Who may connect and
 * the redial of configured peers are in peers.ts; penalties, bans and gossipsub scoring in
 * scoring.ts.
 *
 * Gossip is flood-and-announce (see GOSSIP_RELAY): every message goes from its publisher to every
 * connected peer, nobody pushes it on, and each heartbeat announces (IHAVE) the ids of recent
 * messages so a peer that missed one (no link to the publisher) asks for it (IWANT).
 */
import './polyfill.js'
import { EventEmitter } from 'node:events'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify, type Identify } from '@libp2p/identify'
import { gossipsub, StrictNoSign, type GossipSub, type Message } from '@libp2p/gossipsub'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { Tx } from '../types/tx.js'
import { byteKey } from '../crypto/bytes.js'
import { sha256 } from '../crypto/hash.js'
import { encodeConsensusMessage, type ConsensusMessage } from '../types/consensusMessage.js'
import type { PeerConfig } from './peerConfig.js'
import { P2pError, type P2pErrorCode } from './errors.js'
import type { BlobStore, StoredBlob } from '../blobs/store.js'
import { BlobError } from '../blobs/errors.js'
import { blobProtocol, fetchBlobFrom, getBlobHandler, type BlobTimeouts } from './blobs.js'
import { writeCoalescer } from './coalesce.js'
import {
  consensusTopic, frameConsensusGossip, getConsensusTopicValidatorFn, getTxTopicValidatorFn, MAX_CONSENSUS_GOSSIP_BYTES, MAX_GOSSIP_RPC_BYTES, packTxBatches, txTopic,
  type ConsensusGossipHandlers, type GossipVerdictEvent, type TxGossipHandlers
} from './gossip.js'
import {
  blocksProtocol, getBlocksHandler, getStatusHandler, requestBlocks, requestStatus, statusProtocol, syncFrom,
  type BlocksRequest, type ChainStatus, type SyncedBlock, type SyncFromOptions, type SyncResult, type SyncSource,
  type SyncTarget, type SyncTimeouts
} from './sync.js'
import { PeerSet } from './peers.js'
import { DEFAULT_PENALTY, gossipScoreParams, PeerScores, PENALTY, SERVER_SIDE_PENALTY } from './scoring.js'

export type P2pServices = { identify: Identify, pubsub: GossipSub }
export type P2pLibp2p = Libp2p<P2pServices>

export interface P2pHandlers extends TxGossipHandlers, ConsensusGossipHandlers {}

export interface P2pHostOptions {
  chainId: string
  /** The node's ed25519 secret seed (32 bytes): its validator key and its libp2p identity. */
  nodeKey: Uint8Array
  /** Multiaddr to listen on, e.g. /ip4/127.0.0.1/tcp/26656 (tcp/0 = a free port). */
  listen: string
  /** Peers to admit, and to dial when they have an address (an empty address = admit only). */
  peers: readonly PeerConfig[]
  /** Admit other node keys too (e.g. validators in state). Called on every connection attempt. */
  isAllowed?: (nodePublicKey: Uint8Array) => boolean
  handlers: P2pHandlers
  /** Serve status and blocks from this chain (a Chain). Without it the protocols are not served. */
  syncSource?: SyncSource
  timeouts?: Partial<SyncTimeouts>
  /** Serve and fetch blobs (encrypted record contents) from this store (blobs.ts). Without it the blob protocol is not served. */
  blobStore?: BlobStore
  blobTimeouts?: Partial<BlobTimeouts>
  redial?: { baseMs?: number, maxMs?: number }
  /** How long a peer dropped for misbehaviour stays refused. Default 10 minutes. */
  banMs?: number
  /** Half-life of application penalties. Default 10 minutes. */
  penaltyHalfLifeMs?: number
  /**
   * Inbound connection attempts accepted per second from one IP address (libp2p's
   * inboundConnectionThreshold; excess attempts are reset). Default 25: a loopback devnet runs every
   * validator on 127.0.0.1, and a hospital may run several nodes behind one address.
   */
  inboundConnectionsPerSecondPerIp?: number
}

export interface P2pHostEvents {
  'gossip:verdict': [GossipVerdictEvent]
  'peer:connect': [{ peerId: string, name?: string }]
  'peer:disconnect': [{ peerId: string, name?: string }]
  /** The gater refused a connection from or to a peer not in the allowlist (or banned). */
  'peer:refused': [{ peerId: string, direction: 'inbound' | 'outbound' }]
  /** A peer misbehaved on a request/response protocol (or was penalised by the node). */
  'peer:penalized': [{ peerId: string, code: string, penalty: number, banned: boolean }]
  /** A handler of the node threw: the network layer carries on. */
  'handler:error': [{ where: string, error: unknown }]
}

/**
 * How gossip travels: flood-publish, relay by announcement.
 *
 * The publisher sends each message to every connected peer subscribed to the topic (gossipsub's
 * floodPublish), and no peer pushes it on: the mesh is empty (D = 0) and configured peers are not
 * gossipsub direct peers. A peer that missed a message, because it has no link to the publisher,
 * gets it from the others' announcements instead: at every heartbeat each node sends the ids of
 * the messages of its last three heartbeats (IHAVE) to up to `Dlazy` peers, and a peer that has
 * not seen an id asks for it (IWANT). That costs one heartbeat (≤ 1 s) of latency on such a path.
 *
 * Why configured peers are not gossipsub direct peers: validators are all connected to each other,
 * and gossipsub pushes every message it accepts on to every direct peer, so with n validators each
 * would receive every transaction batch, vote and proposal n − 1 times and decode, hash and
 * discard n − 2 of the copies: (n − 1)² transmissions per message where n − 1 carry news. Here
 * each message crosses each link at most once; announcements are 32 bytes per message id.
 * Validators are still direct peers in the sense that matters: each dials every configured peer
 * and redials it (peers.ts), so their messages travel one hop. What they lose is gossipsub's
 * exemption from scoring: a configured peer whose score falls below the publish threshold (−50:
 * several rejected messages, halving each decay interval) gets nothing published to it until its
 * score recovers, and below the graylist threshold (−80) its messages are ignored. Only invalid
 * messages (bytes, chain id, signatures) lower a score, which an honest node never sends.
 */
export const GOSSIP_RELAY = {
  floodPublish: true,
  D: 0,
  Dlo: 0,
  Dhi: 0,
  Dscore: 0,
  Dout: 0,
  /** Announce to every peer of any realistic consortium, not a random six. */
  Dlazy: 64,
  heartbeatInterval: 1_000
} as const

export class P2pHost extends EventEmitter<P2pHostEvents> {
  readonly chainId: string
  readonly topics: { txs: string, consensus: string }
  readonly protocols: { status: string, blocks: string, blob: string }
  private readonly scores: PeerScores
  private readonly peers: PeerSet
  private libp2pNode?: P2pLibp2p
  /** Coalesces each connection's socket writes per tick (coalesce.ts), as libp2p's connection protector. */
  private readonly coalescer = writeCoalescer()

  /** Use `createP2pHost`. */
  constructor (private readonly opts: P2pHostOptions) {
    super()
    this.chainId = opts.chainId
    this.topics = { txs: txTopic(opts.chainId), consensus: consensusTopic(opts.chainId) }
    this.protocols = { status: statusProtocol(opts.chainId), blocks: blocksProtocol(opts.chainId), blob: blobProtocol(opts.chainId) }
    this.scores = new PeerScores(opts.banMs ?? 10 * 60_000, opts.penaltyHalfLifeMs ?? 10 * 60_000)
    if (opts.nodeKey.length !== 32) throw new RangeError('createP2pHost: nodeKey must be the 32-byte ed25519 seed')
    this.peers = new PeerSet({
      peers: opts.peers,
      isAllowed: opts.isAllowed,
      redial: opts.redial,
      scores: this.scores,
      onRefused: (e) => { this.emit('peer:refused', e) },
      onHandlerError: (e) => { this.emit('handler:error', e) }
    })
  }

  get libp2p (): P2pLibp2p {
    if (this.libp2pNode === undefined) throw new P2pError({ code: 'HOST_STOPPED' }, 'The p2p host is not started.')
    return this.libp2pNode
  }

  /** Connections (since start, inbound and outbound) whose socket writes are coalesced per tick. */
  get coalescedConnections (): number {
    return this.coalescer.coalesced
  }

  get peerId (): string {
    return this.libp2p.peerId.toString()
  }

  /** Listening addresses, each ending in /p2p/<peer id>. */
  multiaddrs (): string[] {
    return this.libp2p.getMultiaddrs().map(String)
  }

  /** Builds and starts libp2p, registers topics and protocols, dials configured peers. */
  async start (): Promise<void> {
    if (this.libp2pNode !== undefined && this.libp2pNode.status !== 'stopped') return
    const privateKey = await generateKeyPairFromSeed('Ed25519', this.opts.nodeKey)
    // not started yet: listeners, validators and protocol handlers go in first
    const node = await createLibp2p({
      start: false,
      privateKey,
      addresses: { listen: [this.opts.listen] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionProtector: () => this.coalescer,
      connectionGater: this.peers.gater(),
      connectionManager: { inboundConnectionThreshold: this.opts.inboundConnectionsPerSecondPerIp ?? 25 },
      services: {
        identify: identify(),
        pubsub: gossipsub({
          globalSignaturePolicy: StrictNoSign,
          msgIdFn: (msg: Message) => sha256(msg.data),
          // gossipsub keys its caches (seen, message cache, IWANT tracking) by the id as a string;
          // its default is multibase base64 computed in JS (a measurable share of a validator's time,
          // figures in bench/RESULTS.md). byteKey is native and one latin1 character per byte, so
          // distinct ids never share a string; the string never leaves the process (ids travel
          // between peers as bytes)
          msgIdToStrFn: byteKey,
          allowPublishToZeroTopicPeers: true,
          ignoreDuplicatePublishError: true,
          emitSelf: false,
          allowedTopics: [this.topics.txs, this.topics.consensus],
          ...GOSSIP_RELAY,
          // what gossipsub can send anyway (see MAX_GOSSIP_RPC_BYTES); bigger inbound RPCs are refused unread
          maxInboundDataLength: MAX_GOSSIP_RPC_BYTES,
          scoreParams: gossipScoreParams([this.topics.txs, this.topics.consensus], (id) => this.scores.penaltyOf(id))
        })
      }
    })
    this.libp2pNode = node
    this.peers.attach(node)
    node.addEventListener('peer:connect', (evt) => this.onConnect(evt.detail))
    node.addEventListener('peer:disconnect', (evt) => this.onDisconnect(evt.detail))

    const pubsub = node.services.pubsub
    const onVerdict = (e: GossipVerdictEvent): void => { this.emit('gossip:verdict', e) }
    const guarded = this.guardHandlers(this.opts.handlers)
    pubsub.topicValidators.set(this.topics.txs, getTxTopicValidatorFn({ topic: this.topics.txs, handlers: guarded, onVerdict }))
    pubsub.topicValidators.set(this.topics.consensus, getConsensusTopicValidatorFn({ topic: this.topics.consensus, chainId: this.chainId, handlers: guarded, onVerdict }))

    const source = this.opts.syncSource
    if (source !== undefined) {
      const serverOpts = { source, timeouts: this.opts.timeouts, onPeerError: (peer: PeerId, err: P2pError) => {
          // a client that hangs up early is not misbehaving; only the listed offences cost points
          const points = SERVER_SIDE_PENALTY[err.code]
          if (points !== undefined) this.penalize(peer.toString(), err.code, points)
        }
      }
      await node.handle(this.protocols.status, getStatusHandler(this.protocols.status, serverOpts), { maxInboundStreams: 4 })
      await node.handle(this.protocols.blocks, getBlocksHandler(this.protocols.blocks, serverOpts), { maxInboundStreams: 2 })
    }
    const blobStore = this.opts.blobStore
    if (blobStore !== undefined) {
      await node.handle(this.protocols.blob, getBlobHandler(this.protocols.blob, {
        store: blobStore,
        ...(this.opts.blobTimeouts !== undefined ? { timeouts: this.opts.blobTimeouts } : {}),
        onPeerError: (peer, err) => {
          const points = SERVER_SIDE_PENALTY[err.code]
          if (points !== undefined) this.penalize(peer.toString(), err.code, points)
        },
        onStoreError: (hash, error) => { this.emit('handler:error', { where: `blob store (${Buffer.from(hash).toString('hex').slice(0, 16)})`, error }) }
      }), { maxInboundStreams: 4 })
    }
    await node.start()
    pubsub.subscribe(this.topics.txs)
    pubsub.subscribe(this.topics.consensus)
    this.peers.dialAll()
  }

  async stop (): Promise<void> {
    this.peers.stop()
    const node = this.libp2pNode
    if (node !== undefined) await node.stop()
  }

  // -------------------------------------------------------------------------------------------
  // allowlist

  /** Adds a peer to the allowlist (and dials it when it has an address and the host runs). Throws PEER_CONFIG_INVALID. */
  addPeer (config: PeerConfig): void {
    this.peers.add(config)
  }

  /** True when the peer may connect: configured or `isAllowed`, not banned, not ourselves. */
  isAllowedPeer (peer: PeerId | string): boolean {
    return this.peers.isAllowedPeer(peer)
  }

  /** Closes connections of peers that are no longer allowed (after a validator-set change). */
  async refreshAllowlist (): Promise<void> {
    const node = this.libp2p
    const drop = new Set<string>()
    for (const conn of node.getConnections()) if (!this.isAllowedPeer(conn.remotePeer)) drop.add(conn.remotePeer.toString())
    await Promise.all([...drop].map(async (id) => { await node.hangUp(peerIdFromString(id)).catch(() => undefined) }))
  }

  // -------------------------------------------------------------------------------------------
  // connections

  private onConnect (peerId: PeerId): void {
    this.emit('peer:connect', { peerId: peerId.toString(), ...this.peers.connected(peerId) })
  }

  private onDisconnect (peerId: PeerId): void {
    this.emit('peer:disconnect', { peerId: peerId.toString(), ...this.peers.nameOf(peerId) })
    this.peers.disconnected(peerId)
  }

  /** Peer ids we hold an open connection to. */
  connectedPeers (): string[] {
    return [...new Set(this.libp2p.getConnections().map((c) => c.remotePeer.toString()))]
  }

  // -------------------------------------------------------------------------------------------
  // scoring

  /**
   * Penalises a peer for an offence (a P2pError code, or PENALTY points given directly). At
   * BAN_PENALTY the peer is disconnected and refused for `banMs`. Returns the new penalty.
   */
  penalize (peerId: string, code: string, points = PENALTY[code as P2pErrorCode] ?? DEFAULT_PENALTY): number {
    const { total, banned } = this.scores.add(peerId, points)
    if (banned) {
      const node = this.libp2pNode
      if (node !== undefined) node.hangUp(peerIdFromString(peerId)).catch(() => undefined)
    }
    this.emit('peer:penalized', { peerId, code, penalty: total, banned })
    return total
  }

  /** The peer's gossipsub score (includes the application penalty). */
  gossipScore (peerId: string): number {
    const pubsub = this.libp2p.services.pubsub as GossipSub & { getScore?: (id: string) => number }
    return typeof pubsub.getScore === 'function' ? pubsub.getScore(peerId) : 0
  }

  /** True while the peer is banned (its penalty reached BAN_PENALTY less than `banMs` ago). */
  isBanned (peerId: string): boolean {
    return this.scores.isBanned(peerId)
  }

  // -------------------------------------------------------------------------------------------
  // gossip

  /** Gossips transactions, several per message (size-bounded batches). Returns the number of messages. */
  async publishTxs (txs: ReadonlyArray<Uint8Array | Tx>): Promise<number> {
    const batches = packTxBatches(txs.map((t) => (t instanceof Uint8Array ? t : t.bytes)))
    for (const batch of batches) await this.libp2p.services.pubsub.publish(this.topics.txs, batch)
    return batches.length
  }

  /**
   * Gossips one consensus message. Throws GOSSIP_TOO_LARGE (instead of gossipsub's silent drop)
   * when it exceeds MAX_CONSENSUS_GOSSIP_BYTES.
   */
  async publishConsensusMessage (msg: ConsensusMessage): Promise<void> {
    const bytes = encodeConsensusMessage(msg)
    if (bytes.length > MAX_CONSENSUS_GOSSIP_BYTES) {
      throw new P2pError({ code: 'GOSSIP_TOO_LARGE', topic: this.topics.consensus, size: bytes.length, limit: MAX_CONSENSUS_GOSSIP_BYTES }, `The consensus message is ${bytes.length} bytes, more than gossip carries (${MAX_CONSENSUS_GOSSIP_BYTES}); propose smaller blocks.`)
    }
    await this.libp2p.services.pubsub.publish(this.topics.consensus, frameConsensusGossip(bytes))
  }

  /** Peers subscribed to a topic (mesh or not). */
  topicPeers (topic: 'txs' | 'consensus'): string[] {
    return this.libp2p.services.pubsub.getSubscribers(this.topics[topic]).map(String)
  }

  private guardHandlers (h: P2pHandlers): P2pHandlers {
    const guard = <A extends unknown[]>(where: string, fn: ((...args: A) => void) | undefined): ((...args: A) => void) | undefined =>
      fn === undefined
        ? undefined
        : (...args: A) => {
            try {
              fn(...args)
            } catch (error) {
              this.emit('handler:error', { where, error })
            }
          }
    const out: P2pHandlers = { checkTx: h.checkTx }
    const onTxs = guard('onTxs', h.onTxs)
    const onConsensusMessage = guard('onConsensusMessage', h.onConsensusMessage)
    if (onTxs !== undefined) out.onTxs = onTxs
    if (onConsensusMessage !== undefined) out.onConsensusMessage = onConsensusMessage
    if (h.checkConsensusMessage !== undefined) out.checkConsensusMessage = h.checkConsensusMessage
    return out
  }

  // -------------------------------------------------------------------------------------------
  // sync

  private clientOpts (): { openStream: SyncFromOptions['openStream'], timeouts?: Partial<SyncTimeouts> } {
    const node = this.libp2p
    return {
      openStream: async (peer, protocol, o) => await node.dialProtocol(peer, protocol, { signal: o.signal }),
      ...(this.opts.timeouts !== undefined ? { timeouts: this.opts.timeouts } : {})
    }
  }

  /** A peer's chain head. Throws P2pError (SYNC_*); a misbehaving peer is penalised. */
  async status (peerId: string): Promise<ChainStatus> {
    return await this.penalizing(peerId, async () => await requestStatus(peerIdFromString(peerId), this.protocols.status, this.clientOpts()))
  }

  /** One range of blocks with certificates (decoded, not verified). Throws P2pError; penalises. */
  async requestBlocks (peerId: string, request: BlocksRequest): Promise<SyncedBlock[]> {
    return await this.penalizing(peerId, async () => await requestBlocks(peerIdFromString(peerId), this.protocols.blocks, request, this.clientOpts()))
  }

  /**
   * Catches `chain` up with a peer (see sync.ts `syncFrom`). A peer that serves an invalid block
   * or certificate, a malformed or oversized frame, or stalls, is penalised (and dropped and
   * banned for invalid data); the error is rethrown.
   */
  async syncFrom (peerId: string, chain: SyncTarget, opts: Partial<Omit<SyncFromOptions, 'openStream' | 'protocols'>> = {}): Promise<SyncResult> {
    return await this.penalizing(peerId, async () => await syncFrom(peerIdFromString(peerId), chain, { ...opts, ...this.clientOpts(), protocols: this.protocols }))
  }

  // -------------------------------------------------------------------------------------------
  // blobs

  /**
   * Fetches blob `hash` (at most `maxBytes`) into the blob store from connected peers, trying them
   * in turn until one has it. Resolves with the blob and the peer it came from (`peerId` is our own
   * id when it was already here), or undefined when no connected peer has it. A peer serving wrong
   * bytes is penalised (BLOB_INVALID_DATA: dropped and banned) and the next one is tried; nothing
   * unverified is ever stored. Throws HOST_STOPPED without a blob store, and failures of our store.
   */
  async fetchBlob (hash: Uint8Array, maxBytes: number): Promise<(StoredBlob & { peerId: string }) | undefined> {
    const store = this.opts.blobStore
    if (store === undefined) throw new P2pError({ code: 'HOST_STOPPED' }, 'This p2p host has no blob store; give createP2pHost a blobStore.')
    const here = await store.size(hash)
    if (here !== undefined) return { hash, size: here, peerId: this.peerId }
    const node = this.libp2p
    for (const peerId of this.connectedPeers()) {
      try {
        const got = await this.penalizing(peerId, async () => await fetchBlobFrom(peerIdFromString(peerId), this.protocols.blob, hash, {
          store,
          maxBytes,
          openStream: async (peer, protocol, o) => await node.dialProtocol(peer, protocol, { signal: o.signal }),
          ...(this.opts.blobTimeouts !== undefined ? { timeouts: this.opts.blobTimeouts } : {})
        }))
        if (got !== undefined) return { ...got, peerId }
      } catch (err) {
        // this peer cannot help (refused, too large, stalled, lied): try the next one
        if (!(err instanceof P2pError) && !(err instanceof BlobError && err.code === 'BLOB_TOO_LARGE')) throw err
      }
    }
    return undefined
  }

  private async penalizing<T> (peerId: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (err) {
      if (err instanceof P2pError && PENALTY[err.code] !== undefined) this.penalize(peerId, err.code)
      throw err
    }
  }
}

/**
 * Creates and starts a host. Stop it with `host.stop()`. Throws PEER_CONFIG_INVALID for a bad
 * peer entry and HOST_START_FAILED when libp2p cannot start (e.g. the listen port is taken).
 */
export async function createP2pHost (opts: P2pHostOptions): Promise<P2pHost> {
  const host = new P2pHost(opts)
  try {
    await host.start()
  } catch (err) {
    await host.stop().catch(() => undefined)
    if (err instanceof P2pError) throw err
    const reason = err instanceof Error ? err.message : String(err)
    throw new P2pError({ code: 'HOST_START_FAILED', listen: opts.listen, reason }, `The p2p host could not listen on ${opts.listen} (${reason}); pick a free port in p2p.listen or stop the other process.`)
  }
  return host
}

