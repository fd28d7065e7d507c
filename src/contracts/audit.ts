/**
 * The patient's audit trail: one entry per transaction that names a known patient, granted or
 * refused, appended with `state.appendAudit(patient, encodeAuditEntry(entry))`.
 *
 * Which transactions are audited, and for which patient:
 *
 * | transaction     | patient of the entry                          | recordId            | purpose        | emergency |
 * | --------------- | --------------------------------------------- | ------------------- | -------------- | --------- |
 * | EnrolPatient    | the enrolled key, when it is (or becomes) a patient | —             | —              | 0         |
 * | Deactivate      | the target, when it is a patient              | —                   | —              | 0         |
 * | AnchorRecord    | the named patient, when it is a patient       | the new record (OK) | —              | 0         |
 * | Grant           | the sender, when it is a patient              | —                   | grant purpose  | 0         |
 * | Revoke          | the grant's patient, when the grant exists    | —                   | grant purpose  | 0         |
 * | EmergencyAccess | the named patient, when it is a patient       | —                   | —              | 1 always  |
 * | AccessRecord    | the record's patient, when the record exists  | the record          | requested      | 1 when granted by an emergency window |
 * | ShareKeys       | the first record's patient, when it exists    | the record, when one (OK) | —        | 1 when a hospital released keys to a break-glass reader |
 *
 * "A patient" means an identity of kind patient, active or not. Other transactions (and ones
 * naming no known patient) are not audited: a trail exists only for registered patients.
 *
 * Wire: [height u64, txIndex u32, txHash bytes32, timestamp u64, patient bytes32, actor bytes32,
 *        actorKind u32, action u32 (TxType), recordId bytes(0|32), purpose u32 (0 = none),
 *        result str ("OK" or the refusal code), emergency u32 (0|1)]
 */
import {
  decodeCanonical, encodeCanonical, readBytes, readOptionalBytes, readString, readTuple, readU32, readU64, u64,
  wrongShape, EMPTY_BYTES
} from '../types/codec.js'
import { TX_TYPE_NAMES, type TxType } from '../types/tx.js'
import { PUBLIC_KEY_LENGTH } from '../crypto/ed25519.js'
import { HASH_LENGTH } from '../crypto/hash.js'

export interface AuditEntry {
  height: number
  txIndex: number
  txHash: Uint8Array
  /** Block time (ms). */
  timestamp: number
  patient: Uint8Array
  /** The transaction's sender. */
  actor: Uint8Array
  /** EntityKind of the sender. */
  actorKind: number
  /** The transaction type. */
  action: TxType
  recordId?: Uint8Array
  /** Purpose (Purpose), 0 when the action has none. */
  purpose: number
  /** "OK" or the refusal code of the receipt. */
  result: string
  emergency: boolean
}

/** Longest result code an entry may hold. */
const MAX_RESULT_LENGTH = 64

export function encodeAuditEntry (e: AuditEntry): Uint8Array {
  return encodeCanonical([
    u64(e.height), e.txIndex, e.txHash, u64(e.timestamp), e.patient, e.actor, e.actorKind, e.action,
    e.recordId ?? EMPTY_BYTES, e.purpose, e.result, e.emergency ? 1 : 0
  ])
}

/** Decodes one audit entry; throws CodecError on anything but a canonical, well-shaped entry. */
export function decodeAuditEntry (bytes: Uint8Array): AuditEntry {
  const t = readTuple(decodeCanonical(bytes, { maxBytes: 512, maxItems: 12, maxDepth: 1 }), 12, 'audit')
  const action = readU32(t[7], 'audit.action')
  if (!(action in TX_TYPE_NAMES)) throw wrongShape('audit.action', 'is not a known transaction type')
  const recordId = readOptionalBytes(t[8], 'audit.recordId', HASH_LENGTH)
  return {
    height: readU64(t[0], 'audit.height'),
    txIndex: readU32(t[1], 'audit.txIndex'),
    txHash: readBytes(t[2], 'audit.txHash', HASH_LENGTH),
    timestamp: readU64(t[3], 'audit.timestamp'),
    patient: readBytes(t[4], 'audit.patient', PUBLIC_KEY_LENGTH),
    actor: readBytes(t[5], 'audit.actor', PUBLIC_KEY_LENGTH),
    actorKind: readU32(t[6], 'audit.actorKind'),
    action: action as TxType,
    ...(recordId !== undefined ? { recordId } : {}),
    purpose: readU32(t[9], 'audit.purpose'),
    result: readString(t[10], 'audit.result', MAX_RESULT_LENGTH),
    emergency: readU32(t[11], 'audit.emergency', 1) === 1
  }
}
