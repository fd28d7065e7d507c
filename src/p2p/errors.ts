import { MedchainError } from '../util/errors.js'

/**
 * Errors of the networking layer. Every refusal of peer input (gossip, sync, connections) is one
 * of these codes, so peer scoring, logs and tests match on the code.
 */
export type P2pErrorType =
  /** A gossip message that is not a canonical, well-shaped message of its topic. */
  | { code: 'GOSSIP_MALFORMED', topic: string, reason: string }
  /** A gossip message larger than its topic allows. */
  | { code: 'GOSSIP_TOO_LARGE', topic: string, size: number, limit: number }
  /** Stale for our view: a consensus message for a height we are past (ignored, not penalised). */
  | { code: 'GOSSIP_STALE', reason: string }
  /** A request or response frame that is not what the protocol expects at this point. */
  | { code: 'SYNC_BAD_FRAME', protocol: string, reason: string }
  /** A frame larger than the protocol allows, or a response over the requested byte budget. */
  | { code: 'SYNC_FRAME_TOO_LARGE', protocol: string, size: number, limit: number }
  /** A request that is well-formed but out of bounds (count > 64, bad height...). */
  | { code: 'SYNC_BAD_REQUEST', reason: string }
  /** The peer did not answer (or stalled mid-answer) within the time limit. */
  | { code: 'SYNC_TIMEOUT', protocol: string, timeoutMs: number }
  /** The stream failed: reset, closed early, connection lost, dial refused. */
  | { code: 'SYNC_STREAM_FAILED', protocol: string, reason: string }
  /** The peer answered with an error status for our request. */
  | { code: 'SYNC_PEER_ERROR', status: number }
  /** A served block or certificate that does not decode, is out of order, or does not verify. */
  | { code: 'SYNC_INVALID_BLOCK', height: number, reason: string }
  /** A peer served blob bytes that are not the blob asked for (wrong hash, more or fewer bytes than announced). */
  | { code: 'BLOB_INVALID_DATA', hash: string, reason: string }
  /** The peer claims a head it then does not serve. */
  | { code: 'SYNC_NO_PROGRESS', height: number }
  /** A connection from or to a peer that is not in the allowlist (or is banned). */
  | { code: 'PEER_NOT_ALLOWED', peerId: string }
  /** A configured peer entry that cannot be used. */
  | { code: 'PEER_CONFIG_INVALID', name: string, reason: string }
  /** The host is not running. */
  | { code: 'HOST_STOPPED' }
  /** libp2p could not start, e.g. the listen address is in use or invalid. */
  | { code: 'HOST_START_FAILED', listen: string, reason: string }

export type P2pErrorCode = P2pErrorType['code']

export class P2pError extends MedchainError<P2pErrorType> {}
