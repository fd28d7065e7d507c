/**
 * Transactions: types, the canonical encoding, signing and the stateless check `validateTxBasic`.
 *
 * Wire format (a msgpack tuple, see codec.ts):
 *   [version u32, chainId str, type u32, from bytes32, nonce u64, payload tuple, signature bytes64]
 * Signing bytes: domainBytes('medchain/tx/v1', chainId) || encode([version, chainId, type, from, nonce, payload])
 * Transaction hash: sha256(domainBytes('medchain/txid/v1', chainId) || encoded transaction)
 */
import { equalBytes } from '../crypto/bytes.js'
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, verify, type Signer } from '../crypto/ed25519.js'
import { Domain, domainBytes, hashWithDomain, HASH_LENGTH } from '../crypto/hash.js'
import {
  CodecError, decodeCanonical, encodeCanonical, viewBytes, viewBytesMax, readList, viewOptionalBytes,
  readString, readTuple, readU32, readU64, u64, EMPTY_BYTES, type Wire
} from './codec.js'
import { ChainError } from './errors.js'
import {
  MAX_BLOB_REF_LENGTH, MAX_CHAIN_ID_LENGTH, MAX_ENVELOPE_BYTES, MAX_ENVELOPES, MAX_NAME_LENGTH,
  MAX_REASON_LENGTH, MAX_RESOURCE_TYPE_LENGTH, MAX_SCOPE_RECORDS, MAX_SCOPE_TYPES, MAX_TX_BYTES,
  MAX_VOTE_BYTES, TX_DECODE_LIMITS, TX_VERSION
} from './limits.js'

export const TxType = {
  RegisterHospital: 1,
  RegisterClinician: 2,
  RegisterOrganization: 3,
  EnrolPatient: 4,
  Deactivate: 5,
  AnchorRecord: 6,
  Grant: 7,
  Revoke: 8,
  EmergencyAccess: 9,
  AccessRecord: 10,
  ProposeValidator: 11,
  Vote: 12,
  Evidence: 13,
  ShareKeys: 14
} as const
export type TxType = typeof TxType[keyof typeof TxType]
export const TX_TYPE_NAMES: Record<TxType, string> = Object.fromEntries(
  Object.entries(TxType).map(([name, id]) => [id, name])
) as Record<TxType, string>

export const ClinicianRole = { Doctor: 1, Nurse: 2 } as const
export type ClinicianRole = typeof ClinicianRole[keyof typeof ClinicianRole]

export const OrganizationKind = { Pharmacy: 1, Lab: 2, Insurer: 3, Researcher: 4 } as const
export type OrganizationKind = typeof OrganizationKind[keyof typeof OrganizationKind]

export const Purpose = { Treatment: 1, Pharmacy: 2, Insurance: 3, Research: 4 } as const
export type Purpose = typeof Purpose[keyof typeof Purpose]

export const ValidatorAction = { Add: 1, Remove: 2 } as const
export type ValidatorAction = typeof ValidatorAction[keyof typeof ValidatorAction]

/** A record's data key wrapped for one reader (format defined by src/crypto envelopes). */
export interface KeyEnvelope { recipient: Uint8Array, wrappedKey: Uint8Array }
/** A record's data key wrapped for a grantee (one per record in a grant's scope) or for a ShareKeys recipient. */
export interface GrantEnvelope { recordId: Uint8Array, wrappedKey: Uint8Array }

export type TxPayload =
  | { type: typeof TxType.RegisterHospital, publicKey: Uint8Array, name: string }
  | { type: typeof TxType.RegisterClinician, publicKey: Uint8Array, name: string, role: ClinicianRole }
  | { type: typeof TxType.RegisterOrganization, publicKey: Uint8Array, name: string, kind: OrganizationKind }
  | { type: typeof TxType.EnrolPatient, publicKey: Uint8Array }
  | { type: typeof TxType.Deactivate, target: Uint8Array, reason: string }
  | {
    type: typeof TxType.AnchorRecord
    patient: Uint8Array
    resourceType: string
    contentHash: Uint8Array
    size: number
    blobRef: string
    envelopes: KeyEnvelope[]
    supersedes?: Uint8Array
  }
  | {
    type: typeof TxType.Grant
    grantee: Uint8Array
    recordTypes: string[]
    recordIds: Uint8Array[]
    purpose: Purpose
    expiresAt: number
    envelopes: GrantEnvelope[]
  }
  | { type: typeof TxType.Revoke, grantId: Uint8Array }
  | { type: typeof TxType.EmergencyAccess, patient: Uint8Array, reason: string }
  | { type: typeof TxType.AccessRecord, recordId: Uint8Array, purpose: Purpose }
  | { type: typeof TxType.ProposeValidator, action: ValidatorAction, validator: Uint8Array, hospital?: Uint8Array, power: number }
  | { type: typeof TxType.Vote, proposalId: Uint8Array, approve: boolean }
  | { type: typeof TxType.Evidence, voteA: Uint8Array, voteB: Uint8Array }
  | { type: typeof TxType.ShareKeys, recipient: Uint8Array, envelopes: GrantEnvelope[] }

/** Payload of one transaction type, e.g. `PayloadOf<typeof TxType.Grant>`. */
export type PayloadOf<T extends TxType> = Extract<TxPayload, { type: T }>

export interface UnsignedTx {
  chainId: string
  from: Uint8Array
  nonce: number
  payload: TxPayload
}

/** A signed transaction with its canonical bytes and hash (both derived, kept to avoid recomputing). */
export interface Tx extends UnsignedTx {
  version: number
  signature: Uint8Array
  bytes: Uint8Array
  hash: Uint8Array
}

// -------------------------------------------------------------------------------------------
// payload <-> wire

function envelopesToWire (envs: KeyEnvelope[]): Wire[] {
  return envs.map((e) => [e.recipient, e.wrappedKey])
}

function payloadToWire (p: TxPayload): Wire[] {
  switch (p.type) {
    case TxType.RegisterHospital: return [p.publicKey, p.name]
    case TxType.RegisterClinician: return [p.publicKey, p.name, p.role]
    case TxType.RegisterOrganization: return [p.publicKey, p.name, p.kind]
    case TxType.EnrolPatient: return [p.publicKey]
    case TxType.Deactivate: return [p.target, p.reason]
    case TxType.AnchorRecord:
      return [p.patient, p.resourceType, p.contentHash, u64(p.size), p.blobRef, envelopesToWire(p.envelopes), p.supersedes ?? EMPTY_BYTES]
    case TxType.Grant:
      return [p.grantee, p.recordTypes, p.recordIds, p.purpose, u64(p.expiresAt), recordEnvelopesToWire(p.envelopes)]
    case TxType.Revoke: return [p.grantId]
    case TxType.EmergencyAccess: return [p.patient, p.reason]
    case TxType.AccessRecord: return [p.recordId, p.purpose]
    case TxType.ProposeValidator: return [p.action, p.validator, p.hospital ?? EMPTY_BYTES, p.power]
    case TxType.Vote: return [p.proposalId, p.approve ? 1 : 0]
    case TxType.Evidence: return [p.voteA, p.voteB]
    case TxType.ShareKeys: return [p.recipient, recordEnvelopesToWire(p.envelopes)]
  }
}

const key = (v: Wire | undefined, field: string): Uint8Array => viewBytes(v, field, PUBLIC_KEY_LENGTH)
const hash32 = (v: Wire | undefined, field: string): Uint8Array => viewBytes(v, field, HASH_LENGTH)

function recordEnvelopesToWire (envs: GrantEnvelope[]): Wire[] {
  return envs.map((e) => [e.recordId, e.wrappedKey])
}

function recordEnvelopesFromWire (w: Wire | undefined): GrantEnvelope[] {
  return readList(w, MAX_ENVELOPES, 'payload.envelopes').map((e) => {
    const pair = readTuple(e, 2, 'payload.envelopes[]')
    return { recordId: hash32(pair[0], 'payload.envelopes[].recordId'), wrappedKey: viewBytesMax(pair[1], 'payload.envelopes[].wrappedKey', MAX_ENVELOPE_BYTES) }
  })
}
const purpose = (v: Wire | undefined): Purpose => {
  const n = readU32(v, 'payload.purpose')
  if (n < 1 || n > 4) throw new CodecError({ code: 'CODEC_WRONG_SHAPE', field: 'payload.purpose', reason: 'is not a known purpose' }, 'Field payload.purpose is not one of treatment, pharmacy, insurance, research.')
  return n as Purpose
}
function enumField<T extends number> (v: Wire | undefined, field: string, max: number): T {
  const n = readU32(v, field)
  if (n < 1 || n > max) throw new CodecError({ code: 'CODEC_WRONG_SHAPE', field, reason: 'is out of range' }, `Field ${field} must be between 1 and ${max}.`)
  return n as T
}
function nonEmpty (s: string, field: string): string {
  if (s.length === 0) throw new CodecError({ code: 'CODEC_WRONG_SHAPE', field, reason: 'must not be empty' }, `Field ${field} must not be empty.`)
  return s
}

function payloadFromWire (type: number, w: Wire | undefined): TxPayload {
  const f = (arity: number): Wire[] => readTuple(w, arity, 'payload')
  switch (type) {
    case TxType.RegisterHospital: { const t = f(2); return { type, publicKey: key(t[0], 'payload.publicKey'), name: nonEmpty(readString(t[1], 'payload.name', MAX_NAME_LENGTH), 'payload.name') } }
    case TxType.RegisterClinician: { const t = f(3); return { type, publicKey: key(t[0], 'payload.publicKey'), name: nonEmpty(readString(t[1], 'payload.name', MAX_NAME_LENGTH), 'payload.name'), role: enumField<ClinicianRole>(t[2], 'payload.role', 2) } }
    case TxType.RegisterOrganization: { const t = f(3); return { type, publicKey: key(t[0], 'payload.publicKey'), name: nonEmpty(readString(t[1], 'payload.name', MAX_NAME_LENGTH), 'payload.name'), kind: enumField<OrganizationKind>(t[2], 'payload.kind', 4) } }
    case TxType.EnrolPatient: { const t = f(1); return { type, publicKey: key(t[0], 'payload.publicKey') } }
    case TxType.Deactivate: { const t = f(2); return { type, target: key(t[0], 'payload.target'), reason: readString(t[1], 'payload.reason', MAX_REASON_LENGTH) } }
    case TxType.AnchorRecord: {
      const t = f(7)
      const supersedes = viewOptionalBytes(t[6], 'payload.supersedes', HASH_LENGTH)
      return {
        type,
        patient: key(t[0], 'payload.patient'),
        resourceType: nonEmpty(readString(t[1], 'payload.resourceType', MAX_RESOURCE_TYPE_LENGTH), 'payload.resourceType'),
        contentHash: hash32(t[2], 'payload.contentHash'),
        size: readU64(t[3], 'payload.size'),
        blobRef: readString(t[4], 'payload.blobRef', MAX_BLOB_REF_LENGTH),
        envelopes: readList(t[5], MAX_ENVELOPES, 'payload.envelopes').map((e) => {
          const pair = readTuple(e, 2, 'payload.envelopes[]')
          return { recipient: key(pair[0], 'payload.envelopes[].recipient'), wrappedKey: viewBytesMax(pair[1], 'payload.envelopes[].wrappedKey', MAX_ENVELOPE_BYTES) }
        }),
        ...(supersedes !== undefined ? { supersedes } : {})
      }
    }
    case TxType.Grant: {
      const t = f(6)
      return {
        type,
        grantee: key(t[0], 'payload.grantee'),
        recordTypes: readList(t[1], MAX_SCOPE_TYPES, 'payload.recordTypes').map((s) => nonEmpty(readString(s, 'payload.recordTypes[]', MAX_RESOURCE_TYPE_LENGTH), 'payload.recordTypes[]')),
        recordIds: readList(t[2], MAX_SCOPE_RECORDS, 'payload.recordIds').map((r) => hash32(r, 'payload.recordIds[]')),
        purpose: purpose(t[3]),
        expiresAt: readU64(t[4], 'payload.expiresAt'),
        envelopes: recordEnvelopesFromWire(t[5])
      }
    }
    case TxType.Revoke: { const t = f(1); return { type, grantId: hash32(t[0], 'payload.grantId') } }
    case TxType.EmergencyAccess: { const t = f(2); return { type, patient: key(t[0], 'payload.patient'), reason: nonEmpty(readString(t[1], 'payload.reason', MAX_REASON_LENGTH), 'payload.reason') } }
    case TxType.AccessRecord: { const t = f(2); return { type, recordId: hash32(t[0], 'payload.recordId'), purpose: purpose(t[1]) } }
    case TxType.ProposeValidator: {
      const t = f(4)
      const hospital = viewOptionalBytes(t[2], 'payload.hospital', PUBLIC_KEY_LENGTH)
      return { type, action: enumField<ValidatorAction>(t[0], 'payload.action', 2), validator: key(t[1], 'payload.validator'), ...(hospital !== undefined ? { hospital } : {}), power: readU32(t[3], 'payload.power') }
    }
    case TxType.Vote: { const t = f(2); return { type, proposalId: hash32(t[0], 'payload.proposalId'), approve: readU32(t[1], 'payload.approve', 1) === 1 } }
    case TxType.Evidence: { const t = f(2); return { type, voteA: viewBytesMax(t[0], 'payload.voteA', MAX_VOTE_BYTES), voteB: viewBytesMax(t[1], 'payload.voteB', MAX_VOTE_BYTES) } }
    case TxType.ShareKeys: { const t = f(2); return { type, recipient: key(t[0], 'payload.recipient'), envelopes: recordEnvelopesFromWire(t[1]) } }
    default:
      throw new ChainError({ code: 'TX_UNKNOWN_TYPE', type }, `Transaction type ${type} is not known to this node; upgrade the node or fix the client.`)
  }
}

// -------------------------------------------------------------------------------------------
// encoding, signing, hashing

/** Bytes the sender signs: domain prefix || encode([version, chainId, type, from, nonce, payload]). */
export function txSigningBytes (unsigned: UnsignedTx): Uint8Array {
  const body = encodeCanonical([TX_VERSION, unsigned.chainId, unsigned.payload.type, unsigned.from, u64(unsigned.nonce), payloadToWire(unsigned.payload)])
  const prefix = domainBytes(Domain.tx, unsigned.chainId)
  const out = new Uint8Array(prefix.length + body.length)
  out.set(prefix, 0)
  out.set(body, prefix.length)
  return out
}

/**
 * Signing bytes recovered from an encoded transaction without re-encoding: the 7-tuple's header
 * 0x97 becomes 0x96 and the trailing signature (0xc4 0x40 + 64 bytes) is dropped.
 */
function signingBytesFromEncoded (chainId: string, bytes: Uint8Array): Uint8Array {
  const prefix = domainBytes(Domain.tx, chainId)
  const bodyLength = bytes.length - 66
  const out = new Uint8Array(prefix.length + bodyLength)
  out.set(prefix, 0)
  out[prefix.length] = 0x96
  out.set(bytes.subarray(1, bodyLength), prefix.length + 1)
  return out
}

export function computeTxHash (chainId: string, bytes: Uint8Array): Uint8Array {
  return hashWithDomain(Domain.txId, chainId, bytes)
}

export function encodeTx (tx: Omit<Tx, 'bytes' | 'hash' | 'version'> & { version?: number }): Uint8Array {
  return encodeCanonical([tx.version ?? TX_VERSION, tx.chainId, tx.payload.type, tx.from, u64(tx.nonce), payloadToWire(tx.payload), tx.signature])
}

export function signTx (unsigned: UnsignedTx, signer: Signer): Tx {
  if (!equalBytes(signer.publicKey, unsigned.from)) throw new TypeError('signTx: the signer is not the transaction sender')
  const signature = signer.sign(txSigningBytes(unsigned))
  const bytes = encodeTx({ ...unsigned, signature })
  return { ...unsigned, version: TX_VERSION, signature, bytes, hash: computeTxHash(unsigned.chainId, bytes) }
}

/**
 * Decodes a transaction. Throws CodecError for bytes that are not the canonical encoding of a
 * well-shaped transaction, ChainError for an unknown version or type. Does not check the signature.
 */
export function decodeTx (bytes: Uint8Array): Tx {
  refuseOversizedTx(bytes) // before the copy
  return decodeOwnedTx(new Uint8Array(bytes))
}

function refuseOversizedTx (bytes: Uint8Array): void {
  if (bytes.length > MAX_TX_BYTES) {
    throw new ChainError({ code: 'TX_TOO_LARGE', size: bytes.length, limit: MAX_TX_BYTES }, `The transaction is ${bytes.length} bytes, more than the limit of ${MAX_TX_BYTES}.`)
  }
}

/**
 * decodeTx of bytes the caller hands over (a block decodes its own copy of itself): the
 * transaction's bytes and every byte field are views into `owned`, which must never change.
 */
export function decodeOwnedTx (owned: Uint8Array): Tx {
  refuseOversizedTx(owned)
  const t = readTuple(decodeCanonical(owned, TX_DECODE_LIMITS), 7, 'tx')
  const version = readU32(t[0], 'tx.version')
  if (version !== TX_VERSION) throw new ChainError({ code: 'TX_BAD_VERSION', version }, `Transaction version ${version} is not supported (expected ${TX_VERSION}).`)
  const chainId = readString(t[1], 'tx.chainId', MAX_CHAIN_ID_LENGTH)
  const type = readU32(t[2], 'tx.type')
  const from = viewBytes(t[3], 'tx.from', PUBLIC_KEY_LENGTH)
  const nonce = readU64(t[4], 'tx.nonce')
  const payload = payloadFromWire(type, t[5])
  const signature = viewBytes(t[6], 'tx.signature', SIGNATURE_LENGTH)
  return { version, chainId, from, nonce, payload, signature, bytes: owned, hash: computeTxHash(chainId, owned) }
}

/** Verifies the sender's signature with THE verify of src/crypto. */
export function verifyTxSignature (tx: Tx): boolean {
  return verify(tx.from, signingBytesFromEncoded(tx.chainId, tx.bytes), tx.signature)
}

/** The (publicKey, message, signature) triple of a transaction, for batch verification in workers. */
export function txSignatureJob (tx: Tx): { publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array } {
  return { publicKey: tx.from, message: signingBytesFromEncoded(tx.chainId, tx.bytes), signature: tx.signature }
}

export interface ValidateTxBasicOptions {
  chainId: string
  /** Skip the signature check because this exact transaction hash was verified before. */
  signatureVerified?: boolean
}

/**
 * Stateless checks of a decoded transaction: chain id, size, and the signature (unless already
 * verified). Throws ChainError.
 */
export function validateTxBasic (tx: Tx, opts: ValidateTxBasicOptions): void {
  if (tx.chainId !== opts.chainId) {
    throw new ChainError({ code: 'TX_WRONG_CHAIN', chainId: tx.chainId }, `The transaction is for chain "${tx.chainId}", not "${opts.chainId}"; sign it for this chain.`)
  }
  if (tx.bytes.length > MAX_TX_BYTES) {
    throw new ChainError({ code: 'TX_TOO_LARGE', size: tx.bytes.length, limit: MAX_TX_BYTES }, `The transaction is ${tx.bytes.length} bytes, more than the limit of ${MAX_TX_BYTES}.`)
  }
  if (opts.signatureVerified !== true && !verifyTxSignature(tx)) {
    throw new ChainError({ code: 'TX_BAD_SIGNATURE' }, 'The transaction signature does not verify against its sender key; re-sign it with the sender\'s key.')
  }
}

/** Record id of an anchored record: derived from the anchoring transaction, so unique by construction. */
export function recordIdOf (chainId: string, txHash: Uint8Array): Uint8Array {
  return hashWithDomain(Domain.record, chainId, txHash)
}
