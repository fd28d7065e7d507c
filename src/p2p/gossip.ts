/**
 * Gossip: the two gossipsub topics, their message formats, and their validators.
 *
 * Topics (`<chainId>` is the genesis chain id, so two chains never share a mesh):
 *   /medchain/<chainId>/txs/1        a batch of transactions: canonical msgpack list of tx bytes
 *                                    [tx bytes, ...], 1..MAX_TX_BATCH_TXS items, <= MAX_TX_BATCH_BYTES
 *   /medchain/<chainId>/consensus/1  one consensus message (src/types/consensusMessage.ts envelope)
 *
 * Gossip is unsigned (gossipsub StrictNoSign) with message id = sha256(data): transactions and
 * consensus messages carry their own signatures, and unsigned gossip costs much less CPU than
 * signed gossip (figures in bench/RESULTS.md). Duplicates are therefore dropped by gossipsub before validation.
 *
 * Validation follows Lodestar's gossipValidatorFn: each topic's validator decodes and checks the
 * message and throws typed errors; ONE function, `gossipVerdict`, maps any error to
 *  - Reject: the message is invalid whatever our state (bytes, signatures, chain id): the peer
 *    that forwarded it is penalised (gossipsub P4 "invalid message deliveries") and it goes no further;
 *  - Ignore: the message may be fine but is of no use to us now (duplicate, stale, nonce too low
 *    or too high, unknown sender, mempool full, not a validator in OUR view): dropped, no penalty,
 *    because a lagging node must not punish honest peers for its own lag;
 *  - Accept: delivered to the node's handler and forwarded.
 * An error that is not one of ours is a bug here, not the peer's fault: Ignore, and it is reported.
 */
import './polyfill.js'
import { TopicValidatorResult, type Message, type TopicValidatorFn } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { CodecError, decodeCanonical, encodeCanonical } from '../types/codec.js'
import { MAX_TX_BYTES } from '../types/limits.js'
import { decodeTx, type Tx } from '../types/tx.js'
import { toHex } from '../crypto/bytes.js'
import { MedchainError } from '../util/errors.js'
import { ConsensusError } from '../types/consensusErrors.js'
import { randomBytes } from 'node:crypto'
import { decodeConsensusMessage, MAX_CONSENSUS_MESSAGE_BYTES, verifyProposalSignature, type ConsensusMessage } from '../types/consensusMessage.js'
import { verifyVoteSignature } from '../types/vote.js'
import { P2pError } from './errors.js'

export { TopicValidatorResult }
export type GossipVerdict = TopicValidatorResult

/** Most transactions in one gossip message. */
export const MAX_TX_BATCH_TXS = 512
/** Largest tx gossip message: room for at least 10 transactions of the largest size. */
export const MAX_TX_BATCH_BYTES = 1024 * 1024
/**
 * Largest RPC frame gossipsub 17 can SEND: its outbound stream length-prefixes every RPC with
 * it-length-prefixed's `encode.single(rpc)` without options, whose default limit is 4 MiB; a larger
 * publish is dropped by gossipsub with only a log line.
 */
export const MAX_GOSSIP_RPC_BYTES = 4 * 1024 * 1024
/**
 * Largest consensus gossip message: the RPC limit minus room for the protobuf envelope and
 * control messages gossipsub piggybacks on the same RPC. A proposal whose block makes the envelope
 * larger cannot be gossiped: the proposer must keep blocks below about this size (mempool.reap
 * with a byte budget of MAX_CONSENSUS_GOSSIP_BYTES - 2 KiB), although block sync and the chain
 * accept blocks up to MAX_BLOCK_BYTES.
 */
export const MAX_CONSENSUS_GOSSIP_BYTES = Math.min(MAX_CONSENSUS_MESSAGE_BYTES, MAX_GOSSIP_RPC_BYTES - 64 * 1024)

export function txTopic (chainId: string): string {
  return `/medchain/${chainId}/txs/1`
}

export function consensusTopic (chainId: string): string {
  return `/medchain/${chainId}/consensus/1`
}

// ---------------------------------------------------------------------------------------------
// the verdict

/**
 * Error codes whose message is invalid whatever our state: the sender is penalised. Every other
 * code is Ignore (dropped without penalty): it says the message is not, or no longer, useful to
 * us, or depends on our view of the chain (GOSSIP_STALE, a duplicate or out-of-range nonce, an
 * unknown sender, a full mempool, a vote from outside our validator set, a round or block we do
 * not expect).
 */
const REJECT_CODES: ReadonlySet<string> = new Set([
  // bytes and shapes
  'GOSSIP_MALFORMED', 'GOSSIP_TOO_LARGE',
  'TX_TOO_LARGE', 'TX_BAD_VERSION', 'TX_UNKNOWN_TYPE',
  'MSG_MALFORMED', 'MSG_TOO_LARGE', 'MSG_UNKNOWN_KIND', 'MSG_BAD_POL_ROUND',
  // wrong chain
  'TX_WRONG_CHAIN', 'MSG_WRONG_CHAIN',
  // signatures
  'TX_BAD_SIGNATURE', 'MSG_BAD_SIGNATURE'
])

/**
 * THE mapping from a validation error to a gossip verdict (no error = Accept). A CodecError is
 * always Reject: canonical bytes are never state-dependent.
 */
export function gossipVerdict (err?: unknown): GossipVerdict {
  if (err === undefined) return TopicValidatorResult.Accept
  if (err instanceof CodecError) return TopicValidatorResult.Reject
  if (err instanceof MedchainError && REJECT_CODES.has(String(err.code))) return TopicValidatorResult.Reject
  return TopicValidatorResult.Ignore
}

/** The error's code for logs and events ('UNEXPECTED' for an error that is not ours). */
export function errorCode (err: unknown): string {
  return err instanceof MedchainError ? String(err.code) : 'UNEXPECTED'
}

// ---------------------------------------------------------------------------------------------
// transaction batches

const BATCH_LIST_OVERHEAD = 5 // array32 header
const BATCH_ITEM_OVERHEAD = 5 // bin32 header

/** Encodes one batch (caller keeps it within the limits; see `packTxBatches`). */
export function encodeTxBatch (txs: readonly Uint8Array[]): Uint8Array {
  return encodeCanonical(txs.map((t) => t))
}

/**
 * Splits encoded transactions into as few batches as fit the limits (order kept). A transaction
 * larger than MAX_TX_BYTES cannot be gossiped and throws RangeError (it could never be admitted).
 */
export function packTxBatches (txs: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let current: Uint8Array[] = []
  let size = BATCH_LIST_OVERHEAD
  for (const tx of txs) {
    if (tx.length > MAX_TX_BYTES) throw new RangeError(`packTxBatches: a transaction of ${tx.length} bytes exceeds MAX_TX_BYTES`)
    const cost = tx.length + BATCH_ITEM_OVERHEAD
    if (current.length > 0 && (current.length >= MAX_TX_BATCH_TXS || size + cost > MAX_TX_BATCH_BYTES)) {
      out.push(encodeTxBatch(current))
      current = []
      size = BATCH_LIST_OVERHEAD
    }
    current.push(tx)
    size += cost
  }
  if (current.length > 0) out.push(encodeTxBatch(current))
  return out
}

/**
 * Decodes a tx gossip message into decoded transactions (signatures not checked). Throws
 * P2pError (GOSSIP_TOO_LARGE, GOSSIP_MALFORMED), CodecError or ChainError from `decodeTx`.
 */
export function decodeTxBatch (bytes: Uint8Array, topic = 'txs'): Tx[] {
  if (bytes.length > MAX_TX_BATCH_BYTES) {
    throw new P2pError({ code: 'GOSSIP_TOO_LARGE', topic, size: bytes.length, limit: MAX_TX_BATCH_BYTES }, `The transaction batch is ${bytes.length} bytes, more than the limit of ${MAX_TX_BATCH_BYTES}; the peer sent an oversized message.`)
  }
  let list
  try {
    list = decodeCanonical(bytes, { maxBytes: MAX_TX_BATCH_BYTES, maxItems: MAX_TX_BATCH_TXS, maxDepth: 1 })
  } catch (err) {
    const reason = errorCode(err)
    throw new P2pError({ code: 'GOSSIP_MALFORMED', topic, reason }, `The transaction batch is not a canonical list of transactions (${reason}).`)
  }
  if (!Array.isArray(list) || list.length === 0) {
    throw new P2pError({ code: 'GOSSIP_MALFORMED', topic, reason: 'not a non-empty list' }, 'The transaction batch must be a non-empty list of transactions.')
  }
  const seen = new Set<string>()
  return list.map((item) => {
    if (!(item instanceof Uint8Array)) throw new P2pError({ code: 'GOSSIP_MALFORMED', topic, reason: 'item is not bytes' }, 'Every item of a transaction batch must be the bytes of one transaction.')
    const tx = decodeTx(item)
    const id = toHex(tx.hash)
    if (seen.has(id)) throw new P2pError({ code: 'GOSSIP_MALFORMED', topic, reason: 'duplicate transaction in batch' }, 'A transaction batch lists the same transaction twice.')
    seen.add(id)
    return tx
  })
}

// ---------------------------------------------------------------------------------------------
// validators

/** What a validator reports for every message it judged (for metrics, logs, peer scoring, tests). */
export interface GossipVerdictEvent {
  topic: string
  /** The peer that forwarded the message to us (the one penalised on Reject). */
  from: string
  verdict: GossipVerdict
  /** Code of the error that decided a non-Accept verdict. */
  code?: string
  /** The error itself, for logs. */
  error?: unknown
}

export interface TxGossipHandlers {
  /** The node's mempool admission, the same one RPC's tx_submit calls. Throws typed errors. */
  checkTx: (input: Uint8Array | Tx) => Tx
  /** Called once per accepted message with the transactions it admitted. */
  onTxs?: (txs: Tx[], from: string) => void
}

export interface ConsensusGossipHandlers {
  /**
   * Stateful checks of the node (validator membership, height/round window); throws typed errors:
   * GOSSIP_STALE / MSG_NOT_VALIDATOR... are ignored, MSG_BAD_SIGNATURE... rejected.
   */
  checkConsensusMessage?: (msg: ConsensusMessage) => void
  /** Called once per accepted message. */
  onConsensusMessage?: (msg: ConsensusMessage, from: string) => void
}

/**
 * Decodes and checks a tx batch against `checkTx`. Reject-class errors of any transaction decide
 * the message (the batch is checked statelessly first, so nothing is admitted from a batch with
 * a malformed transaction); otherwise Accept if at least one transaction was admitted, else the
 * verdict of the first refusal (Ignore: duplicates, stale nonces...).
 */
export function validateTxGossip (data: Uint8Array, topic: string, checkTx: TxGossipHandlers['checkTx']): { verdict: GossipVerdict, admitted: Tx[], error?: unknown } {
  let txs: Tx[]
  try {
    txs = decodeTxBatch(data, topic)
  } catch (error) {
    return { verdict: gossipVerdict(error), admitted: [], error }
  }
  const admitted: Tx[] = []
  let firstError: unknown
  for (const tx of txs) {
    try {
      admitted.push(checkTx(tx))
    } catch (error) {
      if (gossipVerdict(error) === TopicValidatorResult.Reject) return { verdict: TopicValidatorResult.Reject, admitted, error }
      firstError ??= error
    }
  }
  if (admitted.length > 0) return { verdict: TopicValidatorResult.Accept, admitted }
  return { verdict: gossipVerdict(firstError), admitted, error: firstError }
}

/**
 * Stateless checks of a consensus gossip message: canonical envelope, our chain id, the signer's
 * signature (through THE verify). Then the node's stateful check, if any. Throws typed errors.
 */
export function checkConsensusGossip (data: Uint8Array, chainId: string, check?: (msg: ConsensusMessage) => void, topic = 'consensus'): ConsensusMessage {
  if (data.length > MAX_CONSENSUS_GOSSIP_BYTES) {
    throw new P2pError({ code: 'GOSSIP_TOO_LARGE', topic, size: data.length, limit: MAX_CONSENSUS_GOSSIP_BYTES }, `The consensus message is ${data.length} bytes, more than the gossip limit of ${MAX_CONSENSUS_GOSSIP_BYTES}.`)
  }
  const msg = decodeConsensusMessage(data)
  const msgChain = msg.kind === 'vote' ? msg.vote.chainId : msg.proposal.chainId
  if (msgChain !== chainId) {
    throw new ConsensusError({ code: 'MSG_WRONG_CHAIN', chainId: msgChain }, `The consensus message is for chain "${msgChain}", not "${chainId}".`)
  }
  if (msg.kind === 'vote' ? !verifyVoteSignature(msg.vote) : !verifyProposalSignature(msg.proposal)) {
    const signer = toHex(msg.kind === 'vote' ? msg.vote.validator : msg.proposal.proposer)
    throw new ConsensusError({ code: 'MSG_BAD_SIGNATURE', signer }, `The ${msg.kind} signature of ${signer} does not verify; the peer sent a forged or corrupted message.`)
  }
  check?.(msg)
  return msg
}

/**
 * Consensus gossip frame: 8 random bytes, then the encoded message. Gossipsub drops a publish
 * whose message id (sha256 of the data) it has seen, so without the nonce a validator could never
 * re-send a vote a peer missed (at start-up, before the peer subscribed, or across a partition):
 * with two validators a single lost prevote stalled the chain. Receivers drop the nonce; the engine
 * ignores duplicate votes itself.
 */
export const CONSENSUS_FRAME_NONCE_BYTES = 8

export function frameConsensusGossip (encoded: Uint8Array): Uint8Array {
  const out = new Uint8Array(CONSENSUS_FRAME_NONCE_BYTES + encoded.length)
  out.set(randomBytes(CONSENSUS_FRAME_NONCE_BYTES), 0)
  out.set(encoded, CONSENSUS_FRAME_NONCE_BYTES)
  return out
}

export function unframeConsensusGossip (data: Uint8Array): Uint8Array {
  if (data.length <= CONSENSUS_FRAME_NONCE_BYTES) {
    throw new ConsensusError({ code: 'MSG_MALFORMED', reason: 'empty consensus gossip frame' }, 'The consensus gossip message is shorter than its frame.')
  }
  return data.subarray(CONSENSUS_FRAME_NONCE_BYTES)
}

function messageData (msg: Message): Uint8Array {
  return msg.data
}

/** The gossipsub validator of the tx topic: admits through checkTx, then hands admitted txs over. */
export function getTxTopicValidatorFn (opts: { topic: string, handlers: TxGossipHandlers, onVerdict?: (e: GossipVerdictEvent) => void }): TopicValidatorFn {
  return (peer: PeerId, msg: Message): TopicValidatorResult => {
    const from = peer.toString()
    const result = validateTxGossip(messageData(msg), opts.topic, opts.handlers.checkTx)
    report(opts, from, result.verdict, result.error)
    if (result.verdict === TopicValidatorResult.Accept) deliver(() => opts.handlers.onTxs?.(result.admitted, from))
    return result.verdict
  }
}

/** The gossipsub validator of the consensus topic. */
export function getConsensusTopicValidatorFn (opts: { topic: string, chainId: string, handlers: ConsensusGossipHandlers, onVerdict?: (e: GossipVerdictEvent) => void }): TopicValidatorFn {
  return (peer: PeerId, msg: Message): TopicValidatorResult => {
    const from = peer.toString()
    let decoded: ConsensusMessage
    try {
      decoded = checkConsensusGossip(unframeConsensusGossip(messageData(msg)), opts.chainId, opts.handlers.checkConsensusMessage, opts.topic)
    } catch (error) {
      const verdict = gossipVerdict(error)
      report(opts, from, verdict, error)
      return verdict
    }
    report(opts, from, TopicValidatorResult.Accept)
    deliver(() => opts.handlers.onConsensusMessage?.(decoded, from))
    return TopicValidatorResult.Accept
  }
}

function report (opts: { topic: string, onVerdict?: (e: GossipVerdictEvent) => void }, from: string, verdict: GossipVerdict, error?: unknown): void {
  if (opts.onVerdict === undefined) return
  const event: GossipVerdictEvent = { topic: opts.topic, from, verdict }
  if (verdict !== TopicValidatorResult.Accept) {
    event.code = errorCode(error)
    event.error = error
  }
  try {
    opts.onVerdict(event)
  } catch {
    // a listener's failure must not change the verdict
  }
}

/** Runs a handler after the verdict is returned, so a throwing handler never changes it. */
function deliver (fn: () => void): void {
  queueMicrotask(() => {
    try {
      fn()
    } catch {
      // the node's handler reports its own failures; gossip validation is done
    }
  })
}
