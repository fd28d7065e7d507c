/**
 * Consensus messages on the wire: signed block proposals and the gossip envelope that carries a
 * proposal or a vote (votes themselves are in vote.ts).
 *
 * Proposal wire: [version u32, chainId str, height u64, round u32, polRound+1 u32 (0 = none),
 *                 block bytes (encodeBlock), proposer bytes32, signature bytes64]
 * Proposal signing bytes: domainBytes('medchain/proposal/v1', chainId) ||
 *                 encode([version, chainId, height, round, polRound+1, blockHash, proposer])
 *   (the block's HASH is signed, not its bytes).
 * Envelope wire: [kind u32 (1 proposal, 2 vote), payload bytes]
 */
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, type Signer } from '../crypto/ed25519.js'
import { concatBytes } from '../crypto/bytes.js'
import { Domain, domainBytes } from '../crypto/hash.js'
import { blockHash, decodeBlock, encodeBlock, type Block } from './block.js'
import {
  CodecError, decodeCanonical, encodeCanonical, readBytes, readBytesMax, readString, readTuple, readU32, readU64, u64,
  wrongShape
} from './codec.js'
import { MAX_BLOCK_BYTES, MAX_CHAIN_ID_LENGTH, MAX_VOTE_BYTES } from './limits.js'
import { MedchainError } from '../util/errors.js'
import { decodeVote, encodeVote, verifyConsensusSignature, type Vote } from './vote.js'
import { ConsensusError } from './consensusErrors.js'

/** A signed block proposal for (height, round). polRound = -1 when the proposer has no polka for it. */
export interface Proposal {
  chainId: string
  height: number
  round: number
  polRound: number
  block: Block
  proposer: Uint8Array
  signature: Uint8Array
}

export type ConsensusMessage =
  | { kind: 'proposal', proposal: Proposal }
  | { kind: 'vote', vote: Vote }

export const PROPOSAL_VERSION = 1
export const MessageKind = { Proposal: 1, Vote: 2 } as const
export type MessageKind = typeof MessageKind[keyof typeof MessageKind]

/** Largest encoded proposal: a block of the largest size plus the proposal's own fields. */
export const MAX_PROPOSAL_BYTES = MAX_BLOCK_BYTES + 1024
/** Largest gossip envelope: the largest payload plus the envelope's tuple, kind and bin header. */
export const MAX_CONSENSUS_MESSAGE_BYTES = MAX_PROPOSAL_BYTES + 16

export type UnsignedProposal = Omit<Proposal, 'signature'>

/** The bytes a proposer signs; `hash` may be passed when the block hash is already known. */
export function proposalSigningBytes (p: UnsignedProposal, hash: Uint8Array = blockHash(p.block.header)): Uint8Array {
  return concatBytes(
    domainBytes(Domain.proposal, p.chainId),
    encodeCanonical([PROPOSAL_VERSION, p.chainId, u64(p.height), p.round, p.polRound + 1, hash, p.proposer])
  )
}

export function signProposal (p: UnsignedProposal, signer: Signer, hash?: Uint8Array): Proposal {
  return { ...p, signature: signer.sign(proposalSigningBytes(p, hash)) }
}

/** True when the proposal is signed by `proposal.proposer` (through THE verify). Never throws. */
export function verifyProposalSignature (p: Proposal, hash?: Uint8Array): boolean {
  try {
    return verifyConsensusSignature(p.proposer, proposalSigningBytes(p, hash), p.signature)
  } catch {
    return false
  }
}

export function encodeProposal (p: Proposal): Uint8Array {
  return encodeCanonical([PROPOSAL_VERSION, p.chainId, u64(p.height), p.round, p.polRound + 1, encodeBlock(p.block), p.proposer, p.signature])
}

/**
 * Decodes a proposal and the block inside it. Throws CodecError on a malformed proposal and
 * ConsensusError (MSG_MALFORMED) when the block inside does not decode; signatures are not checked.
 */
export function decodeProposal (bytes: Uint8Array): Proposal {
  const t = readTuple(decodeCanonical(bytes, { maxBytes: MAX_PROPOSAL_BYTES, maxItems: 8, maxDepth: 1 }), 8, 'proposal')
  if (readU32(t[0], 'proposal.version') !== PROPOSAL_VERSION) throw wrongShape('proposal.version', `must be ${PROPOSAL_VERSION}`)
  const chainId = readString(t[1], 'proposal.chainId', MAX_CHAIN_ID_LENGTH)
  const height = readU64(t[2], 'proposal.height')
  const round = readU32(t[3], 'proposal.round')
  const polRound = readU32(t[4], 'proposal.polRound') - 1
  const blockBytes = readBytesMax(t[5], 'proposal.block', MAX_BLOCK_BYTES)
  const proposer = readBytes(t[6], 'proposal.proposer', PUBLIC_KEY_LENGTH)
  const signature = readBytes(t[7], 'proposal.signature', SIGNATURE_LENGTH)
  let block
  try {
    block = decodeBlock(blockBytes)
  } catch (err) {
    if (err instanceof CodecError) throw err
    const reason = err instanceof MedchainError ? String(err.code) : 'undecodable block'
    throw new ConsensusError({ code: 'MSG_MALFORMED', reason }, `The block inside the proposal does not decode (${reason}); the peer sent a malformed proposal.`)
  }
  return { chainId, height, round, polRound, block, proposer, signature }
}

/** The gossip envelope of a consensus message. */
export function encodeConsensusMessage (msg: ConsensusMessage): Uint8Array {
  return msg.kind === 'proposal'
    ? encodeCanonical([MessageKind.Proposal, encodeProposal(msg.proposal)])
    : encodeCanonical([MessageKind.Vote, encodeVote(msg.vote)])
}

function tooLarge (size: number, limit: number): ConsensusError {
  return new ConsensusError({ code: 'MSG_TOO_LARGE', size, limit }, `The consensus message is ${size} bytes, more than the limit of ${limit}; the peer sent an oversized message.`)
}

/**
 * Decodes a gossip envelope. Throws ConsensusError only: MSG_TOO_LARGE, MSG_UNKNOWN_KIND, or
 * MSG_MALFORMED (with the codec's error code as the reason) for anything else that is wrong.
 */
export function decodeConsensusMessage (bytes: Uint8Array): ConsensusMessage {
  if (bytes.length > MAX_CONSENSUS_MESSAGE_BYTES) throw tooLarge(bytes.length, MAX_CONSENSUS_MESSAGE_BYTES)
  try {
    const t = readTuple(decodeCanonical(bytes, { maxBytes: MAX_CONSENSUS_MESSAGE_BYTES, maxItems: 2, maxDepth: 1 }), 2, 'message')
    const kind = readU32(t[0], 'message.kind')
    if (kind !== MessageKind.Proposal && kind !== MessageKind.Vote) {
      throw new ConsensusError({ code: 'MSG_UNKNOWN_KIND', kind }, `Consensus message kind ${kind} is unknown (1 = proposal, 2 = vote); the peer may run an incompatible version.`)
    }
    const limit = kind === MessageKind.Proposal ? MAX_PROPOSAL_BYTES : MAX_VOTE_BYTES
    const payload = t[1]
    if (!(payload instanceof Uint8Array)) throw wrongShape('message.payload', 'must be bytes')
    if (payload.length > limit) throw tooLarge(payload.length, limit)
    return kind === MessageKind.Proposal
      ? { kind: 'proposal', proposal: decodeProposal(payload) }
      : { kind: 'vote', vote: decodeVote(payload) }
  } catch (err) {
    if (err instanceof ConsensusError) throw err
    const reason = err instanceof MedchainError ? String(err.code) : 'undecodable'
    throw new ConsensusError({ code: 'MSG_MALFORMED', reason }, `The consensus message is malformed (${reason}); the peer sent bytes that are not a canonical proposal or vote.`)
  }
}
