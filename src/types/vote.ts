/**
 * Consensus votes (prevote, precommit): the signed message of the BFT engine, and what commit
 * certificates and double-sign evidence are made of. The engine lives in src/consensus; the
 * format is fixed here because evidence transactions and block certificates carry it.
 *
 * Wire: [version u32, chainId str, type u32, height u64, round u32, blockHash bytes(0|32), validator bytes32, signature bytes64]
 * Signing bytes: domainBytes('medchain/vote/v1', chainId) || encode(first 7 fields)
 * An empty blockHash is a vote for nil.
 */
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, verify, type Signer } from '../crypto/ed25519.js'
import { Domain, domainBytes, HASH_LENGTH } from '../crypto/hash.js'
import { byteKey, concatBytes } from '../crypto/bytes.js'
import { BoundedSet } from '../util/boundedSet.js'
import {
  decodeCanonical, encodeCanonical, readBytes, readOptionalBytes, readString, readTuple, readU32, readU64, u64, wrongShape, EMPTY_BYTES
} from './codec.js'
import { MAX_CHAIN_ID_LENGTH, MAX_VOTE_BYTES } from './limits.js'

export const VOTE_VERSION = 1
export const VoteType = { Prevote: 1, Precommit: 2 } as const
export type VoteType = typeof VoteType[keyof typeof VoteType]

export interface Vote {
  chainId: string
  type: VoteType
  height: number
  round: number
  /** undefined = a vote for nil */
  blockHash?: Uint8Array
  validator: Uint8Array
  signature: Uint8Array
}

export type UnsignedVote = Omit<Vote, 'signature'>

function unsignedWire (v: UnsignedVote): [number, string, number, bigint, number, Uint8Array, Uint8Array] {
  return [VOTE_VERSION, v.chainId, v.type, u64(v.height), v.round, v.blockHash ?? EMPTY_BYTES, v.validator]
}

export function voteSigningBytes (v: UnsignedVote): Uint8Array {
  return concatBytes(domainBytes(Domain.vote, v.chainId), encodeCanonical(unsignedWire(v)))
}

export function signVote (v: UnsignedVote, signer: Signer): Vote {
  return { ...v, signature: signer.sign(voteSigningBytes(v)) }
}

export function encodeVote (v: Vote): Uint8Array {
  return encodeCanonical([...unsignedWire(v), v.signature])
}

/** Decodes a vote; throws CodecError on anything but the canonical encoding of a well-shaped vote. */
export function decodeVote (bytes: Uint8Array): Vote {
  const t = readTuple(decodeCanonical(bytes, { maxBytes: MAX_VOTE_BYTES, maxItems: 8, maxDepth: 1 }), 8, 'vote')
  if (readU32(t[0], 'vote.version') !== VOTE_VERSION) throw wrongShape('vote.version', `must be ${VOTE_VERSION}`)
  const type = readU32(t[2], 'vote.type')
  if (type !== VoteType.Prevote && type !== VoteType.Precommit) throw wrongShape('vote.type', 'must be prevote (1) or precommit (2)')
  const blockHash = readOptionalBytes(t[5], 'vote.blockHash', HASH_LENGTH)
  return {
    chainId: readString(t[1], 'vote.chainId', MAX_CHAIN_ID_LENGTH),
    type: type as VoteType,
    height: readU64(t[3], 'vote.height'),
    round: readU32(t[4], 'vote.round'),
    ...(blockHash !== undefined ? { blockHash } : {}),
    validator: readBytes(t[6], 'vote.validator', PUBLIC_KEY_LENGTH),
    signature: readBytes(t[7], 'vote.signature', SIGNATURE_LENGTH)
  }
}

/**
 * Consensus signatures that verified, by (key, signed bytes, signature), in a BoundedSet.
 * The same signature reaches a node many times: a vote from gossip and again in the engine, then
 * as a precommit of the block's commit certificate (checked on import, and again in the next
 * block's lastCommit), and every time a peer's last-commit catch-up re-sends a certificate's
 * precommits (each re-send is a new gossip message, so gossipsub does not drop it); a proposal at
 * gossip and again in the engine. `verify` is a pure function of (key, message, signature), so
 * remembering its `true` answers changes no verdict; a signature that fails is checked again each
 * time. Every consensus path calls THE verify through this function.
 */
const MAX_VERIFIED_SIGNATURES = 16_384
const verifiedSignatures = new BoundedSet(MAX_VERIFIED_SIGNATURES)

export function verifyConsensusSignature (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const key = byteKey(concatBytes(publicKey, signature, message))
  if (verifiedSignatures.has(key)) return true
  if (!verify(publicKey, message, signature)) return false
  verifiedSignatures.add(key)
  return true
}

export function verifyVoteSignature (v: Vote): boolean {
  return verifyConsensusSignature(v.validator, voteSigningBytes(v), v.signature)
}
