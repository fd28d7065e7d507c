/**
 * The known peers of the p2p host: who may connect, and keeping configured peers connected.
 *
 * Identity: the libp2p key IS the node key (ed25519), so a peer's id follows from its public key
 * alone (`peerIdOfNodeKey`) and config files list public keys, as CometBFT lists node ids.
 *
 * Permissioned: the connection gater (`PeerSet.gater`) admits (inbound and outbound, checked
 * after the Noise handshake proved the remote key) only
 *  - the configured peers (config `p2p.peers`: validators and known full nodes, plus `add`), and
 *  - any node key for which `isAllowed(publicKey)` is true (the node wires it to the validator
 *    set in state, so a validator added by governance is admitted without a config change),
 * and never a peer banned for misbehaviour (scoring.ts) nor ourselves.
 *
 * Redial: every configured peer with an address is dialed at start and redialed after a
 * disconnect or a failed dial with exponential backoff (base `redial.baseMs`, doubling, capped at
 * `redial.maxMs`, with jitter), and not before its ban ends.
 */
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import type { ConnectionGater, Libp2p, PeerId } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { fromHex } from '../crypto/bytes.js'
import type { PeerConfig } from './peerConfig.js'
import { P2pError } from './errors.js'
import type { PeerScores } from './scoring.js'

/** Redial backoff when the host options give none. */
export const DEFAULT_REDIAL = { baseMs: 500, maxMs: 30_000 }

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

export interface PeerSetOptions {
  /** Configured peers: admitted, and dialed when they have an address. Throws PEER_CONFIG_INVALID for a bad one. */
  peers: readonly PeerConfig[]
  /** Admit other node keys too (e.g. validators in state). Called on every connection attempt. */
  isAllowed?: (nodePublicKey: Uint8Array) => boolean
  redial?: { baseMs?: number, maxMs?: number }
  /** Bans are kept here: a banned peer is refused, and not redialed before its ban ends. */
  scores: PeerScores
  /** The gater refused a connection from or to this peer. */
  onRefused: (e: { peerId: string, direction: 'inbound' | 'outbound' }) => void
  /** `isAllowed` threw (the peer is then refused). */
  onHandlerError: (e: { where: string, error: unknown }) => void
}

/** The libp2p calls the peer set makes. */
type PeerNode = Pick<Libp2p, 'peerId' | 'getConnections' | 'peerStore' | 'dial'>

/** The allowlist, the connection gater and the dialer of configured peers. */
export class PeerSet {
  private readonly known = new Map<string, KnownPeer>()
  private readonly redial: { baseMs: number, maxMs: number }
  private stopping = false
  private node?: PeerNode

  constructor (private readonly opts: PeerSetOptions) {
    this.redial = { ...DEFAULT_REDIAL, ...opts.redial }
    for (const peer of opts.peers) this.addKnown(peer)
  }

  /** Uses `node` for our own id and for dialing from now on (before it starts: nothing is dialed yet). */
  attach (node: PeerNode): void {
    this.node = node
    this.stopping = false
  }

  /** Dials every configured peer with an address that is not connected (after the node started). */
  dialAll (): void {
    for (const peer of this.known.values()) this.dialKnown(peer)
  }

  /** Stops dialing: cancels pending redials; later disconnects schedule none. */
  stop (): void {
    this.stopping = true
    for (const peer of this.known.values()) {
      if (peer.timer !== undefined) clearTimeout(peer.timer)
      peer.timer = undefined
    }
  }

  /** Adds a peer to the allowlist (and dials it when it has an address and the host runs). */
  add (config: PeerConfig): void {
    const peer = this.addKnown(config)
    if (this.node !== undefined && !this.stopping) this.dialKnown(peer)
  }

  /** True when the peer may connect: configured or `isAllowed`, not banned, not ourselves. */
  isAllowedPeer (peer: PeerId | string): boolean {
    const id = typeof peer === 'string' ? peerIdFromString(peer) : peer
    const key = id.toString()
    if (this.node !== undefined && key === this.node.peerId.toString()) return false
    if (this.opts.scores.isBanned(key)) return false
    if (this.known.has(key)) return true
    const nodeKey = nodeKeyOfPeerId(id)
    if (nodeKey === undefined || this.opts.isAllowed === undefined) return false
    try {
      return this.opts.isAllowed(nodeKey)
    } catch (error) {
      this.opts.onHandlerError({ where: 'isAllowed', error })
      return false
    }
  }

  /** libp2p's connection gater: denies every connection and dial `isAllowedPeer` refuses. */
  gater (): ConnectionGater {
    const check = (peer: PeerId, direction: 'inbound' | 'outbound'): boolean => {
      if (this.isAllowedPeer(peer)) return false
      this.opts.onRefused({ peerId: peer.toString(), direction })
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

  /** A peer connected: resets its backoff. Returns its configured name, if it is a known peer. */
  connected (peerId: PeerId): { name?: string } {
    const peer = this.known.get(peerId.toString())
    if (peer === undefined) return {}
    peer.attempts = 0
    if (peer.timer !== undefined) clearTimeout(peer.timer)
    peer.timer = undefined
    return { name: peer.config.name }
  }

  /** The configured name of a peer, if it is a known peer. */
  nameOf (peerId: PeerId): { name?: string } {
    const peer = this.known.get(peerId.toString())
    return peer !== undefined ? { name: peer.config.name } : {}
  }

  /** A peer disconnected: schedules a redial of a known peer (unless stopping). */
  disconnected (peerId: PeerId): void {
    const peer = this.known.get(peerId.toString())
    if (peer !== undefined && !this.stopping) this.scheduleRedial(peer)
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

  private dialKnown (peer: KnownPeer): void {
    if (peer.address === undefined || this.stopping || peer.dialing || peer.timer !== undefined) return
    const node = this.node
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
    const bannedUntil = this.opts.scores.bannedUntil(peer.peerId.toString())
    const delay = Math.max(redialDelayMs(peer.attempts, this.redial), bannedUntil - Date.now())
    peer.attempts++
    peer.timer = setTimeout(() => {
      peer.timer = undefined
      this.dialKnown(peer)
    }, delay)
    peer.timer.unref()
  }
}
