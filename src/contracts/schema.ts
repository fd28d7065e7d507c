/**
 * The on-state encoding of every value the contract stores: one interface, one encoder and one
 * decoder per value type. Each value is encoded with the canonical codec as a fixed-position tuple
 * (no maps); the state key each value lives under is spelled by keys.ts.
 *
 * Value tuples (u64 = 9-byte int64, bytes(0|32) = empty when absent):
 *   Entity    [kind u32, status u32, role u32 (ClinicianRole | OrganizationKind | 0), name str,
 *              hospital bytes(0|32), registeredBy bytes(0|32), registeredAt u64, nonce u64,
 *              enrolledAt [bytes32...] (patients: hospitals), deactivatedAt u64 (0 = active)]
 *   Record    [patient bytes32, resourceType str, contentHash bytes32, size u64, blobRef str,
 *              author bytes32, anchoredAt u64 (height), anchoredTime u64 (ms),
 *              envelopes [[recipient bytes32, wrappedKey bytes]...], supersedes bytes(0|32),
 *              supersededBy bytes(0|32)]
 *   Grant     [patient bytes32, grantee bytes32, purpose u32, expiresAt u64 (ms), recordTypes [str...],
 *              recordIds [bytes32...], envelopes [[recordId bytes32, wrappedKey bytes]...],
 *              grantedAt u64 (height), revokedAt u64 (height, 0 = not revoked)]
 *   GrantIndex [grantId bytes32...]
 *   Window    [openedAt u64 (ms), endsAt u64 (ms), openedAtHeight u64]
 *   KeyShare  [wrappedKey bytes, sharedBy bytes32, sharedAt u64, emergency u32 (0 | 1)]
 *   Proposal  [kind u32, status u32, proposer bytes32, createdAt u64, subject bytes32, name str,
 *              hospital bytes(0|32), power u32, approvals [bytes32...], rejections [bytes32...],
 *              closedAt u64 (0 = open), effectiveHeight u64 (0 = none)]
 *   Pending   [[proposalId bytes32, action u32, validator bytes32, power u32, hospital bytes(0|32)]...]
 *   Liveness  [[validator bytes32, height u64]...] (ascending by validator)
 *   Evidence  [reportedAt u64, reporter bytes32, voteA bytes, voteB bytes]
 *   validators: as encodeValidatorSet (src/types/validatorSet.ts)
 */
import {
  decodeTrusted, encodeCanonical, skipValue, readBytes, readBytesMax, readList, readOptionalBytes, readString, readTuple,
  readU32, readU64, u64, wrongShape, EMPTY_BYTES, type DecodeLimits, type Wire
} from '../types/codec.js'
import {
  MAX_ENVELOPE_BYTES, MAX_ENVELOPES, MAX_NAME_LENGTH, MAX_RESOURCE_TYPE_LENGTH, MAX_SCOPE_RECORDS, MAX_SCOPE_TYPES,
  MAX_TX_BYTES, MAX_VOTE_BYTES, MAX_BLOB_REF_LENGTH
} from '../types/limits.js'
import type { GrantEnvelope, KeyEnvelope, Purpose, ValidatorAction } from '../types/tx.js'
import { PUBLIC_KEY_LENGTH } from '../crypto/ed25519.js'
import { HASH_LENGTH } from '../crypto/hash.js'
import { fromHex, toHex } from '../crypto/bytes.js'
import { EntityKind, EntityStatus } from './roles.js'

/** Bounds for decoding stored values: the largest is a record or grant holding a whole tx's envelopes. */
const VALUE_LIMITS: DecodeLimits = { maxBytes: 2 * MAX_TX_BYTES, maxItems: 4096, maxDepth: 3 }
/** Upper bound on list lengths that grow with the consortium (enrolments, votes). */
const MAX_GROWING_LIST = 4096

const key32 = (w: Wire | undefined, field: string): Uint8Array => readBytes(w, field, PUBLIC_KEY_LENGTH)
const hash32 = (w: Wire | undefined, field: string): Uint8Array => readBytes(w, field, HASH_LENGTH)
const optional = (b: Uint8Array | undefined): Uint8Array => b ?? EMPTY_BYTES

/**
 * Stored values were encoded by this module and the store's state root vouches for them (checked on
 * start), so they skip the canonical re-encoding: decoding is on the hot path of every transaction.
 */
function decodeValue (bytes: Uint8Array, arity: number, field: string): Wire[] {
  return readTuple(decodeTrusted(bytes, VALUE_LIMITS), arity, field)
}

// ------------------------------------------------------------------------------------------------
// identities

export interface Entity {
  kind: EntityKind
  status: EntityStatus
  /** ClinicianRole for clinicians, OrganizationKind for organisations, 0 otherwise. */
  role: number
  /** Display name; always empty for patients (no personal data on chain). */
  name: string
  /** The registering hospital (clinicians, organisations) or operating hospital (validators). */
  hospital?: Uint8Array
  /** The identity that registered it; undefined for genesis identities. */
  registeredBy?: Uint8Array
  registeredAt: number
  /** The next transaction nonce this identity must use. */
  nonce: number
  /** Patients: the hospitals where they are enrolled, in enrolment order. */
  enrolledAt: Uint8Array[]
  /** Height of deactivation, 0 while active. */
  deactivatedAt: number
}

export function encodeEntity (e: Entity): Uint8Array {
  return encodeCanonical([e.kind, e.status, e.role, e.name, optional(e.hospital), optional(e.registeredBy), u64(e.registeredAt), u64(e.nonce), e.enrolledAt, u64(e.deactivatedAt)])
}

/** Field index of the nonce in the entity tuple, and the tuple's msgpack header (fixarray of 10). */
const ENTITY_NONCE_FIELD = 7
const ENTITY_TUPLE_HEADER = 0x9a
const INT64 = 0xd3

/**
 * `encodeEntity({ ...decodeEntity(bytes), nonce })`, without decoding or re-encoding: a u64 field
 * is always the 9-byte int64 form, so the new encoding differs from the old only in the nonce's 8
 * bytes. Every transaction bumps its sender's nonce, so this patch, not a re-encode of the whole
 * identity, is on the hot path of block execution (figures in bench/RESULTS.md). `bytes` is not
 * changed.
 */
export function withEntityNonce (bytes: Uint8Array, nonce: number): Uint8Array {
  if (bytes[0] !== ENTITY_TUPLE_HEADER) return encodeEntity({ ...decodeEntity(bytes), nonce })
  let offset = 1
  for (let i = 0; i < ENTITY_NONCE_FIELD; i++) offset = skipValue(bytes, offset)
  if (bytes[offset] !== INT64 || offset + 9 > bytes.length) return encodeEntity({ ...decodeEntity(bytes), nonce })
  const out = new Uint8Array(bytes)
  new DataView(out.buffer, out.byteOffset + offset + 1, 8).setBigUint64(0, u64(nonce))
  return out
}

export function decodeEntity (bytes: Uint8Array): Entity {
  const t = decodeValue(bytes, 10, 'entity')
  const kind = readU32(t[0], 'entity.kind')
  if (kind < EntityKind.Hospital || kind > EntityKind.Validator) throw wrongShape('entity.kind', 'is not a known kind')
  const status = readU32(t[1], 'entity.status')
  if (status !== EntityStatus.Active && status !== EntityStatus.Inactive) throw wrongShape('entity.status', 'is not a known status')
  const hospital = readOptionalBytes(t[4], 'entity.hospital', PUBLIC_KEY_LENGTH)
  const registeredBy = readOptionalBytes(t[5], 'entity.registeredBy', PUBLIC_KEY_LENGTH)
  return {
    kind: kind as EntityKind,
    status: status as EntityStatus,
    role: readU32(t[2], 'entity.role'),
    name: readString(t[3], 'entity.name', MAX_NAME_LENGTH),
    ...(hospital !== undefined ? { hospital } : {}),
    ...(registeredBy !== undefined ? { registeredBy } : {}),
    registeredAt: readU64(t[6], 'entity.registeredAt'),
    nonce: readU64(t[7], 'entity.nonce'),
    enrolledAt: readList(t[8], MAX_GROWING_LIST, 'entity.enrolledAt').map((w) => key32(w, 'entity.enrolledAt[]')),
    deactivatedAt: readU64(t[9], 'entity.deactivatedAt')
  }
}

// ------------------------------------------------------------------------------------------------
// records

export interface AnchoredRecord {
  patient: Uint8Array
  resourceType: string
  /** SHA-256 of the ciphertext. */
  contentHash: Uint8Array
  size: number
  blobRef: string
  /** The clinician who anchored it. */
  author: Uint8Array
  anchoredAt: number
  anchoredTime: number
  envelopes: KeyEnvelope[]
  supersedes?: Uint8Array
  supersededBy?: Uint8Array
}

export function encodeRecord (r: AnchoredRecord): Uint8Array {
  return encodeCanonical([
    r.patient, r.resourceType, r.contentHash, u64(r.size), r.blobRef, r.author, u64(r.anchoredAt), u64(r.anchoredTime),
    r.envelopes.map((e) => [e.recipient, e.wrappedKey]), optional(r.supersedes), optional(r.supersededBy)
  ])
}

export function decodeRecord (bytes: Uint8Array): AnchoredRecord {
  const t = decodeValue(bytes, 11, 'record')
  const supersedes = readOptionalBytes(t[9], 'record.supersedes', HASH_LENGTH)
  const supersededBy = readOptionalBytes(t[10], 'record.supersededBy', HASH_LENGTH)
  return {
    patient: key32(t[0], 'record.patient'),
    resourceType: readString(t[1], 'record.resourceType', MAX_RESOURCE_TYPE_LENGTH),
    contentHash: hash32(t[2], 'record.contentHash'),
    size: readU64(t[3], 'record.size'),
    blobRef: readString(t[4], 'record.blobRef', MAX_BLOB_REF_LENGTH),
    author: key32(t[5], 'record.author'),
    anchoredAt: readU64(t[6], 'record.anchoredAt'),
    anchoredTime: readU64(t[7], 'record.anchoredTime'),
    envelopes: readList(t[8], MAX_ENVELOPES, 'record.envelopes').map((w) => {
      const pair = readTuple(w, 2, 'record.envelopes[]')
      return { recipient: key32(pair[0], 'record.envelopes[].recipient'), wrappedKey: readBytesMax(pair[1], 'record.envelopes[].wrappedKey', MAX_ENVELOPE_BYTES) }
    }),
    ...(supersedes !== undefined ? { supersedes } : {}),
    ...(supersededBy !== undefined ? { supersededBy } : {})
  }
}

// ------------------------------------------------------------------------------------------------
// consents

export interface Grant {
  patient: Uint8Array
  grantee: Uint8Array
  purpose: Purpose
  /** Block time (ms) from which the consent no longer works. */
  expiresAt: number
  recordTypes: string[]
  recordIds: Uint8Array[]
  envelopes: GrantEnvelope[]
  grantedAt: number
  /** Height of the revoking block; undefined while not revoked. */
  revokedAt?: number
}

export function encodeGrant (g: Grant): Uint8Array {
  return encodeCanonical([
    g.patient, g.grantee, g.purpose, u64(g.expiresAt), g.recordTypes, g.recordIds,
    g.envelopes.map((e) => [e.recordId, e.wrappedKey]), u64(g.grantedAt), u64(g.revokedAt ?? 0)
  ])
}

export function decodeGrant (bytes: Uint8Array): Grant {
  const t = decodeValue(bytes, 9, 'grant')
  const revokedAt = readU64(t[8], 'grant.revokedAt')
  const purpose = readU32(t[2], 'grant.purpose')
  if (purpose < 1 || purpose > 4) throw wrongShape('grant.purpose', 'is not a known purpose')
  return {
    patient: key32(t[0], 'grant.patient'),
    grantee: key32(t[1], 'grant.grantee'),
    purpose: purpose as Purpose,
    expiresAt: readU64(t[3], 'grant.expiresAt'),
    recordTypes: readList(t[4], MAX_SCOPE_TYPES, 'grant.recordTypes').map((w) => readString(w, 'grant.recordTypes[]', MAX_RESOURCE_TYPE_LENGTH)),
    recordIds: readList(t[5], MAX_SCOPE_RECORDS, 'grant.recordIds').map((w) => hash32(w, 'grant.recordIds[]')),
    envelopes: readList(t[6], MAX_ENVELOPES, 'grant.envelopes').map((w) => {
      const pair = readTuple(w, 2, 'grant.envelopes[]')
      return { recordId: hash32(pair[0], 'grant.envelopes[].recordId'), wrappedKey: readBytesMax(pair[1], 'grant.envelopes[].wrappedKey', MAX_ENVELOPE_BYTES) }
    }),
    grantedAt: readU64(t[7], 'grant.grantedAt'),
    ...(revokedAt !== 0 ? { revokedAt } : {})
  }
}

/** A list of 32-byte ids (GrantIndex). */
export function encodeIdList (ids: readonly Uint8Array[]): Uint8Array {
  return encodeCanonical([...ids])
}

export function decodeIdList (bytes: Uint8Array, field: string): Uint8Array[] {
  return readList(decodeTrusted(bytes, VALUE_LIMITS), MAX_GROWING_LIST, field).map((w) => hash32(w, `${field}[]`))
}

// ------------------------------------------------------------------------------------------------
// emergency windows

export interface EmergencyWindow {
  /** Block time (ms) the window was opened. */
  openedAt: number
  /** Block time (ms) from which the window is closed. */
  endsAt: number
  openedAtHeight: number
}

export function encodeEmergencyWindow (w: EmergencyWindow): Uint8Array {
  return encodeCanonical([u64(w.openedAt), u64(w.endsAt), u64(w.openedAtHeight)])
}

export function decodeEmergencyWindow (bytes: Uint8Array): EmergencyWindow {
  const t = decodeValue(bytes, 3, 'emergency')
  return { openedAt: readU64(t[0], 'emergency.openedAt'), endsAt: readU64(t[1], 'emergency.endsAt'), openedAtHeight: readU64(t[2], 'emergency.openedAtHeight') }
}

// ------------------------------------------------------------------------------------------------
// shared keys

/** A record's data key wrapped for one recipient by a ShareKeys transaction. */
export interface KeyShare {
  wrappedKey: Uint8Array
  /** Who shared it: the patient, or the custodian hospital for a break-glass reader. */
  sharedBy: Uint8Array
  sharedAt: number
  emergency: boolean
}

export function encodeKeyShare (k: KeyShare): Uint8Array {
  return encodeCanonical([k.wrappedKey, k.sharedBy, u64(k.sharedAt), k.emergency ? 1 : 0])
}

export function decodeKeyShare (bytes: Uint8Array): KeyShare {
  const t = decodeValue(bytes, 4, 'keyshare')
  return {
    wrappedKey: readBytesMax(t[0], 'keyshare.wrappedKey', MAX_ENVELOPE_BYTES),
    sharedBy: readBytes(t[1], 'keyshare.sharedBy', 32),
    sharedAt: readU64(t[2], 'keyshare.sharedAt'),
    emergency: readU32(t[3], 'keyshare.emergency', 1) === 1
  }
}

// ------------------------------------------------------------------------------------------------
// governance

export const ProposalKind = { AddHospital: 1, AddValidator: 2, RemoveValidator: 3 } as const
export type ProposalKind = typeof ProposalKind[keyof typeof ProposalKind]

/**
 * Open → Passed (applied, or scheduled for validator changes) | Rejected (more than 1/3 of the
 * power against) | Failed (passed, but no longer applicable when it was to be applied).
 */
export const ProposalStatus = { Open: 1, Passed: 2, Rejected: 3, Failed: 4 } as const
export type ProposalStatus = typeof ProposalStatus[keyof typeof ProposalStatus]

export interface Proposal {
  kind: ProposalKind
  status: ProposalStatus
  proposer: Uint8Array
  createdAt: number
  /** The hospital to admit, or the validator to add or remove. */
  subject: Uint8Array
  /** The hospital's name (AddHospital), empty otherwise. */
  name: string
  /** The operating hospital (AddValidator). */
  hospital?: Uint8Array
  /** Voting power of the validator to add, 0 otherwise. */
  power: number
  approvals: Uint8Array[]
  rejections: Uint8Array[]
  closedAt: number
  /** For a passed validator change: the first height the changed set validates. */
  effectiveHeight: number
}

export function encodeProposal (p: Proposal): Uint8Array {
  return encodeCanonical([p.kind, p.status, p.proposer, u64(p.createdAt), p.subject, p.name, optional(p.hospital), p.power, p.approvals, p.rejections, u64(p.closedAt), u64(p.effectiveHeight)])
}

export function decodeProposal (bytes: Uint8Array): Proposal {
  const t = decodeValue(bytes, 12, 'proposal')
  const kind = readU32(t[0], 'proposal.kind')
  if (kind < 1 || kind > 3) throw wrongShape('proposal.kind', 'is not a known kind')
  const status = readU32(t[1], 'proposal.status')
  if (status < 1 || status > 4) throw wrongShape('proposal.status', 'is not a known status')
  const hospital = readOptionalBytes(t[6], 'proposal.hospital', PUBLIC_KEY_LENGTH)
  return {
    kind: kind as ProposalKind,
    status: status as ProposalStatus,
    proposer: key32(t[2], 'proposal.proposer'),
    createdAt: readU64(t[3], 'proposal.createdAt'),
    subject: key32(t[4], 'proposal.subject'),
    name: readString(t[5], 'proposal.name', MAX_NAME_LENGTH),
    ...(hospital !== undefined ? { hospital } : {}),
    power: readU32(t[7], 'proposal.power'),
    approvals: readList(t[8], MAX_GROWING_LIST, 'proposal.approvals').map((w) => key32(w, 'proposal.approvals[]')),
    rejections: readList(t[9], MAX_GROWING_LIST, 'proposal.rejections').map((w) => key32(w, 'proposal.rejections[]')),
    closedAt: readU64(t[10], 'proposal.closedAt'),
    effectiveHeight: readU64(t[11], 'proposal.effectiveHeight')
  }
}

/** A validator change that passed and waits for its effective height. */
export interface ValidatorChange {
  proposalId: Uint8Array
  action: ValidatorAction
  validator: Uint8Array
  power: number
  hospital?: Uint8Array
}

export function encodeValidatorChanges (changes: readonly ValidatorChange[]): Uint8Array {
  return encodeCanonical(changes.map((c) => [c.proposalId, c.action, c.validator, c.power, optional(c.hospital)]))
}

export function decodeValidatorChanges (bytes: Uint8Array): ValidatorChange[] {
  return readList(decodeTrusted(bytes, VALUE_LIMITS), MAX_GROWING_LIST, 'pending').map((w) => {
    const t = readTuple(w, 5, 'pending[]')
    const action = readU32(t[1], 'pending[].action')
    if (action !== 1 && action !== 2) throw wrongShape('pending[].action', 'is not add or remove')
    const hospital = readOptionalBytes(t[4], 'pending[].hospital', PUBLIC_KEY_LENGTH)
    return {
      proposalId: hash32(t[0], 'pending[].proposalId'),
      action: action as ValidatorAction,
      validator: key32(t[2], 'pending[].validator'),
      power: readU32(t[3], 'pending[].power'),
      ...(hospital !== undefined ? { hospital } : {})
    }
  })
}

/** A recorded double-sign: the two conflicting votes as they were submitted. */
export interface EvidenceRecord {
  reportedAt: number
  reporter: Uint8Array
  voteA: Uint8Array
  voteB: Uint8Array
}

export function encodeEvidence (e: EvidenceRecord): Uint8Array {
  return encodeCanonical([u64(e.reportedAt), e.reporter, e.voteA, e.voteB])
}

export function decodeEvidence (bytes: Uint8Array): EvidenceRecord {
  const t = decodeValue(bytes, 4, 'evidence')
  return { reportedAt: readU64(t[0], 'evidence.reportedAt'), reporter: key32(t[1], 'evidence.reporter'), voteA: readBytesMax(t[2], 'evidence.voteA', MAX_VOTE_BYTES), voteB: readBytesMax(t[3], 'evidence.voteB', MAX_VOTE_BYTES) }
}

// ------------------------------------------------------------------------------------------------
// validator liveness

/** Last height each validator was seen signing a commit, by lower-case hex public key. */
export function encodeLiveness (liveness: ReadonlyMap<string, number>): Uint8Array {
  const entries = [...liveness].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return encodeCanonical(entries.map(([k, h]) => [fromHex(k), u64(h)]))
}

export function decodeLiveness (bytes: Uint8Array): Map<string, number> {
  const out = new Map<string, number>()
  for (const w of readList(decodeTrusted(bytes, VALUE_LIMITS), MAX_GROWING_LIST, 'liveness')) {
    const t = readTuple(w, 2, 'liveness[]')
    out.set(toHex(key32(t[0], 'liveness[].validator')), readU64(t[1], 'liveness[].height'))
  }
  return out
}
