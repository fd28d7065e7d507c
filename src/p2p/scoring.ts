/**
 * Peer scoring of the p2p host: how much a peer's misbehaviour costs it, and when it is banned.
 *
 * Two parts make a peer's gossipsub score:
 *  - gossip rejects lower it through gossipsub's invalid-deliveries term (P4: weight -10 per topic,
 *    squared, halving each decay interval), set up by `gossipScoreParams`;
 *  - offences on the request/response protocols (sync, blobs) add application penalty points
 *    (P5, minus the decayed sum) kept by `PeerScores`. Points halve every `penaltyHalfLifeMs`;
 *    a peer whose points reach BAN_PENALTY is banned for `banMs` (the host then disconnects it, and
 *    the connection gater of peers.ts refuses it until the ban ends).
 */
import { createTopicScoreParams, type PeerScoreParams } from '@libp2p/gossipsub/score'
import type { P2pErrorCode } from './errors.js'

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

/** Points given for an offence that has no entry in PENALTY. */
export const DEFAULT_PENALTY = 10

/**
 * gossipsub's `scoreParams` for our topics: the same topic parameters on each (rejects cost, a
 * quiet network is not punished for having little to say), `appPenalty` as the application score
 * (negated), and no IP-colocation penalty.
 */
export function gossipScoreParams (topics: readonly string[], appPenalty: (peerId: string) => number): Partial<PeerScoreParams> {
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
  return {
    topics: Object.fromEntries(topics.map((topic) => [topic, topicScore])),
    appSpecificScore: (id: string) => -appPenalty(id),
    appSpecificWeight: 1,
    // every hospital may run several nodes behind one address; the allowlist bounds Sybils
    IPColocationFactorWeight: 0
  }
}

interface Penalty { points: number, at: number }

/** The application penalties and bans of the peers, keyed by peer id (string). */
export class PeerScores {
  private readonly penalties = new Map<string, Penalty>()
  private readonly banned = new Map<string, number>()

  /**
   * @param banMs how long a banned peer stays banned
   * @param penaltyHalfLifeMs half-life of penalty points
   */
  constructor (private readonly banMs: number, private readonly penaltyHalfLifeMs: number) {}

  /** The peer's current (decayed) penalty points; 0 for a peer never penalised. */
  penaltyOf (peerId: string): number {
    const p = this.penalties.get(peerId)
    if (p === undefined) return 0
    return p.points * 0.5 ** ((Date.now() - p.at) / this.penaltyHalfLifeMs)
  }

  /**
   * Adds `points` to the peer's decayed penalty. At BAN_PENALTY or more the peer is banned for
   * `banMs` from now. Returns the new penalty and whether it banned the peer.
   */
  add (peerId: string, points: number): { total: number, banned: boolean } {
    const total = this.penaltyOf(peerId) + points
    this.penalties.set(peerId, { points: total, at: Date.now() })
    const banned = total >= BAN_PENALTY
    if (banned) this.banned.set(peerId, Date.now() + this.banMs)
    return { total, banned }
  }

  /** True while the peer is banned. An expired ban is forgotten. */
  isBanned (peerId: string): boolean {
    const until = this.banned.get(peerId)
    if (until === undefined) return false
    if (until > Date.now()) return true
    this.banned.delete(peerId)
    return false
  }

  /** When the peer's ban ends (ms since the epoch), or 0 when it was never banned. */
  bannedUntil (peerId: string): number {
    return this.banned.get(peerId) ?? 0
  }
}
