/**
 * The libp2p host of a medchain node: TCP + Noise + yamux, identify, gossipsub (unsigned, message
 * id = sha256(data)), the status and blocks protocols, an allowlist connection gater, and the
 * dialer that keeps configured peers connected.
 *
 * Identity: the libp2p key IS the node key (ed25519, `generateKeyPairFromSeed('Ed25519', seed)`),
 * so a peer's id follows from its public key alone (`peerIdOfNodeKey`) and config files list
 * public keys, as CometBFT lists node ids.
 *
 * Permissioned: the connection gater admits (inbound and outbound, checked after the Noise
 * handshake proved the remote key) only
 *  - the configured peers (config `p2p.peers`: validators and known full nodes), and
 *  - any node key for which `isAllowed(publicKey)` is true (the node wires it to the validator
 *    set in state, so a validator added by governance is admitted without a config change),
 * and never a peer banned for misbehaviour (for `banMs`). `refreshAllowlist()` closes
 * connections of peers no longer allowed (call it after a validator-set change).
 *
 * Peers: every configured peer with an address is dialed at start and redialed after a disconnect
 * with exponential backoff (base `redial.baseMs`, doubling, capped at `redial.maxMs`, with
 * jitter).
 *
 * Gossip is flood-and-announce (see GOSSIP_RELAY): every message goes from its publisher to every
 * connected peer, nobody pushes it on, and each heartbeat announces (IHAVE) the ids of recent
 * messages so a peer that missed one (no link to the publisher) asks for it (IWANT).
 *
 * Scoring: gossip rejects lower a peer's gossipsub score (P4, invalid deliveries, weight -10
 * per topic, squared); sync misbehaviour adds an application penalty (P5) through `penalize`; a
 * peer whose penalty reaches BAN_PENALTY is disconnected and banned. Penalties halve every
 * `penaltyHalfLifeMs`.
 */
import './polyfill.js'
import { EventEmitter } from 'node:events'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify, type Identify } from '@libp2p/identify'
import { gossipsub, StrictNoSign, type GossipSub, type Message } from '@libp2p/gossipsub'
import { createTopicScoreParams } from '@libp2p/gossipsub/score'
import { generateKeyPairFromSeed, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Tx } from '../types/tx.js'
import { byteKey, fromHex } from '../crypto/bytes.js'
import { sha256 } from '../crypto/hash.js'
import { encodeConsensusMessage } from '../types/consensusMessage.js'
import type { ConsensusMessage } from '../types/consensusMessage.js'
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

/** Penalty points per offence (application-specific score, P5, is minus the decayed sum). */
export const PENALTY: Partial<Record<P2pErrorCode, number>> = {
  SYNC_INVALID_BLOCK: 100,
  SYNC_BAD_FRAME: 100,
  SYNC_FRAME_TOO_LARGE: 100,
  SYNC_BAD_REQUEST: 20,
  SYNC_NO_PROGRESS: 20,
  SYNC_TIMEOUT: 10,
  BLOB_INVALID_DATA: 100
}
/**
 * Penalty points for a CLIENT misbehaving towards our sync server: a malformed request is more
 * likely an incompatible version than an attack, so it costs less than serving bad data.
 */
export const SERVER_SIDE_PENALTY: Partial<Record<P2pErrorCode, number>> = {
  SYNC_BAD_FRAME: 20,
  SYNC_BAD_REQUEST: 20,
  SYNC_FRAME_TOO_LARGE: 50,
  SYNC_TIMEOUT: 10
}
/** A peer whose (decayed) penalty reaches this is disconnected and banned. */
export const BAN_PENALTY = 100

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
 * Why: validators are all connected to each other. With configured peers as direct peers every
 * node pushed every message it accepted on to every other peer, so with n validators each
 * received every transaction batch, vote and proposal n − 1 times and decoded, hashed and
 * discarded n − 2 of the copies: (n − 1)² transmissions per message where n − 1 carry news. Now
 * each message crosses each link at most once; announcements are 32 bytes per message id.
 * Validators are still direct peers in the sense that matters: each dials every configured peer
 * and redials it (above), so their messages travel one hop. What they lose is gossipsub's
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

const DEFAULT_REDIAL = { baseMs: 500, maxMs: 30_000 }

/**
 * Delay before redial number `attempt` (0-based): baseMs * 2^attempt, capped at maxMs, times a
 * jitter in [0.8, 1.2) so that peers restarted together do not redial in lockstep.
 */
export function redialDelayMs (attempt: number, backoff: { baseMs: number, maxMs: number }, random: () => number = Math.random): number {
  const exp = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30))
  return Math.round(exp * (0.8 + 0.4 * random()))
}

/** The libp2p peer id of the node whose ed25519 public key (32 bytes) is given. */
export function peerIdOfNodeKey (publicKey: Uint8Array): PeerId {
  if (publicKey.length !== 32) throw new RangeError(`peerIdOfNodeKey: an ed25519 public key is 32 bytes, got ${publicKey.length}`)
  return peerIdFromPublicKey(publicKeyFromRaw(publicKey))
}

/** The ed25519 node key behind a peer id, or undefined for other key types. */
export function nodeKeyOfPeerId (peerId: PeerId): Uint8Array | undefined {
  return peerId.type === 'Ed25519' ? peerId.publicKey.raw : undefined
}

interface KnownPeer {
  config: PeerConfig
  peerId: PeerId
  address?: Multiaddr
  attempts: number
  timer?: NodeJS.Timeout
  dialing: boolean
}

interface Penalty { points: number, at: number }

export class P2pHost extends EventEmitter<P2pHostEvents> {
  readonly chainId: string
  readonly topics: { txs: string, consensus: string }
  readonly protocols: { status: string, blocks: string, blob: string }
  private readonly known = new Map<string, KnownPeer>()
  private readonly banned = new Map<string, number>()
  private readonly penalties = new Map<string, Penalty>()
  private readonly redial: { baseMs: number, maxMs: number }
  private readonly banMs: number
  private readonly penaltyHalfLifeMs: number
  private stopping = false
  private libp2pNode?: P2pLibp2p
  /** Coalesces each connection's socket writes per tick (coalesce.ts), as libp2p's connection protector. */
  private readonly coalescer = writeCoalescer()

  /** Use `createP2pHost`. */
  constructor (private readonly opts: P2pHostOptions) {
    super()
    this.chainId = opts.chainId
    this.topics = { txs: txTopic(opts.chainId), consensus: consensusTopic(opts.chainId) }
    this.protocols = { status: statusProtocol(opts.chainId), blocks: blocksProtocol(opts.chainId), blob: blobProtocol(opts.chainId) }
    this.redial = { ...DEFAULT_REDIAL, ...opts.redial }
    this.banMs = opts.banMs ?? 10 * 60_000
    this.penaltyHalfLifeMs = opts.penaltyHalfLifeMs ?? 10 * 60_000
    if (opts.nodeKey.length !== 32) throw new RangeError('createP2pHost: nodeKey must be the 32-byte ed25519 seed')
    for (const peer of opts.peers) this.addKnown(peer)
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
    const topicScore = createTopicScoreParams({
      topicWeight: 1,
      timeInMeshWeight: 0.01,
      timeInMeshQuantum: 1_000,
      timeInMeshCap: 300,
      firstMessageDeliveriesWeight: 0.1,
      firstMessageDeliveriesDecay: 0.9,
      firstMessageDeliveriesCap: 100,
      // a quiet permissioned network must not punish peers for having little to say
      meshMessageDeliveriesWeight: 0,
      meshFailurePenaltyWeight: 0,
      invalidMessageDeliveriesWeight: -10,
      invalidMessageDeliveriesDecay: 0.5
    })
    // not started yet: listeners, validators and protocol handlers go in first
    const node = await createLibp2p({
      start: false,
      privateKey,
      addresses: { listen: [this.opts.listen] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionProtector: () => this.coalescer,
      connectionGater: this.gater(),
      connectionManager: { inboundConnectionThreshold: this.opts.inboundConnectionsPerSecondPerIp ?? 25 },
      services: {
        identify: identify(),
        pubsub: gossipsub({
          globalSignaturePolicy: StrictNoSign,
          msgIdFn: (msg: Message) => sha256(msg.data),
          // gossipsub keys its caches (seen, message cache, IWANT tracking) by the id as a string;
          // its default is multibase base64 in JS (~1% of a validator's time at low load). byteKey
          // is native and one latin1 character per byte, so distinct ids never share a string; the
          // string never leaves the process (ids travel between peers as bytes)
          msgIdToStrFn: byteKey,
          allowPublishToZeroTopicPeers: true,
          ignoreDuplicatePublishError: true,
          emitSelf: false,
          allowedTopics: [this.topics.txs, this.topics.consensus],
          ...GOSSIP_RELAY,
          // what gossipsub can send anyway (see MAX_GOSSIP_RPC_BYTES); bigger inbound RPCs are refused unread
          maxInboundDataLength: MAX_GOSSIP_RPC_BYTES,
          scoreParams: {
            topics: { [this.topics.txs]: topicScore, [this.topics.consensus]: topicScore },
            appSpecificScore: (id: string) => -this.penaltyOf(id),
            appSpecificWeight: 1,
            // every hospital may run several nodes behind one address; the allowlist bounds Sybils
            IPColocationFactorWeight: 0
          }
        })
      }
    })
    this.libp2pNode = node
    this.stopping = false
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
    for (const peer of this.known.values()) this.dialKnown(peer)
  }

  async stop (): Promise<void> {
    this.stopping = true
    for (const peer of this.known.values()) {
      if (peer.timer !== undefined) clearTimeout(peer.timer)
      peer.timer = undefined
    }
    const node = this.libp2pNode
    if (node !== undefined) await node.stop()
  }

  // -------------------------------------------------------------------------------------------
  // allowlist

  /** Adds a peer to the allowlist (and dials it when it has an address and the host runs). */
  addPeer (config: PeerConfig): void {
    const peer = this.addKnown(config)
    if (this.libp2pNode !== undefined && !this.stopping) this.dialKnown(peer)
  }

  /** True when the peer may connect: configured or `isAllowed`, not banned, not ourselves. */
  isAllowedPeer (peer: PeerId | string): boolean {
    const id = typeof peer === 'string' ? peerIdFromString(peer) : peer
    const key = id.toString()
    if (this.libp2pNode !== undefined && key === this.libp2pNode.peerId.toString()) return false
    const until = this.banned.get(key)
    if (until !== undefined) {
      if (until > Date.now()) return false
      this.banned.delete(key)
    }
    if (this.known.has(key)) return true
    const nodeKey = nodeKeyOfPeerId(id)
    if (nodeKey === undefined || this.opts.isAllowed === undefined) return false
    try {
      return this.opts.isAllowed(nodeKey)
    } catch (error) {
      this.emit('handler:error', { where: 'isAllowed', error })
      return false
    }
  }

  /** Closes connections of peers that are no longer allowed (after a validator-set change). */
  async refreshAllowlist (): Promise<void> {
    const node = this.libp2p
    const drop = new Set<string>()
    for (const conn of node.getConnections()) if (!this.isAllowedPeer(conn.remotePeer)) drop.add(conn.remotePeer.toString())
    await Promise.all([...drop].map(async (id) => { await node.hangUp(peerIdFromString(id)).catch(() => undefined) }))
  }

  private addKnown (config: PeerConfig): KnownPeer {
    let peerId: PeerId
    let address: Multiaddr | undefined
    try {
      peerId = peerIdOfNodeKey(fromHex(config.publicKey))
      if (config.address !== '') {
        address = multiaddr(config.address)
        const inAddr = address.getComponents().find((c) => c.name === 'p2p')?.value
        if (inAddr !== undefined && inAddr !== peerId.toString()) throw new Error('its /p2p/ id is not the id of its public key')
      }
    } catch (err) {
      throw new P2pError({ code: 'PEER_CONFIG_INVALID', name: config.name, reason: err instanceof Error ? err.message : String(err) }, `Peer "${config.name}" in p2p.peers is invalid (${err instanceof Error ? err.message : String(err)}); fix its publicKey or address.`)
    }
    const key = peerId.toString()
    const existing = this.known.get(key)
    if (existing !== undefined) {
      existing.config = config
      if (address !== undefined) existing.address = address
      return existing
    }
    const peer: KnownPeer = { config, peerId, attempts: 0, dialing: false, ...(address !== undefined ? { address } : {}) }
    this.known.set(key, peer)
    return peer
  }

  private gater (): ConnectionGater {
    const check = (peer: PeerId, direction: 'inbound' | 'outbound'): boolean => {
      if (this.isAllowedPeer(peer)) return false
      this.emit('peer:refused', { peerId: peer.toString(), direction })
      return true
    }
    return {
      denyDialMultiaddr: () => false,
      denyDialPeer: (peer) => check(peer, 'outbound'),
      denyInboundEncryptedConnection: (peer) => check(peer, 'inbound'),
      denyOutboundEncryptedConnection: (peer) => check(peer, 'outbound'),
      denyInboundUpgradedConnection: (peer) => check(peer, 'inbound'),
      denyOutboundUpgradedConnection: (peer) => check(peer, 'outbound')
    }
  }

  // -------------------------------------------------------------------------------------------
  // dialing

  private dialKnown (peer: KnownPeer): void {
    if (peer.address === undefined || this.stopping || peer.dialing || peer.timer !== undefined) return
    const node = this.libp2pNode
    if (node === undefined || node.getConnections(peer.peerId).length > 0) return
    peer.dialing = true
    node.peerStore.merge(peer.peerId, { multiaddrs: [peer.address] })
      .then(async () => await node.dial(peer.peerId, { signal: AbortSignal.timeout(10_000) }))
      .then(() => { peer.attempts = 0 })
      .catch(() => { this.scheduleRedial(peer) })
      .finally(() => { peer.dialing = false })
  }

  private scheduleRedial (peer: KnownPeer): void {
    if (peer.address === undefined || this.stopping || peer.timer !== undefined) return
    const bannedUntil = this.banned.get(peer.peerId.toString()) ?? 0
    const delay = Math.max(redialDelayMs(peer.attempts, this.redial), bannedUntil - Date.now())
    peer.attempts++
    peer.timer = setTimeout(() => {
      peer.timer = undefined
      this.dialKnown(peer)
    }, delay)
    peer.timer.unref()
  }

  private onConnect (peerId: PeerId): void {
    const peer = this.known.get(peerId.toString())
    if (peer !== undefined) {
      peer.attempts = 0
      if (peer.timer !== undefined) clearTimeout(peer.timer)
      peer.timer = undefined
    }
    this.emit('peer:connect', { peerId: peerId.toString(), ...(peer !== undefined ? { name: peer.config.name } : {}) })
  }

  private onDisconnect (peerId: PeerId): void {
    const peer = this.known.get(peerId.toString())
    this.emit('peer:disconnect', { peerId: peerId.toString(), ...(peer !== undefined ? { name: peer.config.name } : {}) })
    if (peer !== undefined && !this.stopping) this.scheduleRedial(peer)
  }

  /** Peer ids we hold an open connection to. */
  connectedPeers (): string[] {
    return [...new Set(this.libp2p.getConnections().map((c) => c.remotePeer.toString()))]
  }

  // -------------------------------------------------------------------------------------------
  // scoring

  private penaltyOf (peerId: string): number {
    const p = this.penalties.get(peerId)
    if (p === undefined) return 0
    return p.points * 0.5 ** ((Date.now() - p.at) / this.penaltyHalfLifeMs)
  }

  /**
   * Penalises a peer for an offence (a P2pError code, or PENALTY points given directly). At
   * BAN_PENALTY the peer is disconnected and refused for `banMs`. Returns the new penalty.
   */
  penalize (peerId: string, code: string, points = PENALTY[code as P2pErrorCode] ?? 10): number {
    const total = this.penaltyOf(peerId) + points
    this.penalties.set(peerId, { points: total, at: Date.now() })
    const banned = total >= BAN_PENALTY
    if (banned) {
      this.banned.set(peerId, Date.now() + this.banMs)
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

  isBanned (peerId: string): boolean {
    return (this.banned.get(peerId) ?? 0) > Date.now()
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

