/**
 * Records: anchoring the metadata of an encrypted medical record (never its contents).
 *
 * | transaction  | signed by                                | rules (refusal code)                                                                 |
 * | ------------ | ---------------------------------------- | ------------------------------------------------------------------------------------ |
 * | AnchorRecord | an active clinician (RECORD_NOT_CLINICIAN) | resourceType a FHIR resource type name `/^[A-Z][A-Za-z]{1,63}$/` (RECORD_BAD_TYPE); size ≤ 1 GiB (RECORD_TOO_LARGE); envelope recipients distinct (RECORD_DUPLICATE_ENVELOPE) and one of them the patient (RECORD_NO_PATIENT_ENVELOPE); patient an active patient (RECORD_UNKNOWN_PATIENT); the clinician's hospital has the patient enrolled, or the clinician holds a live treatment grant from the patient whose record types cover resourceType (RECORD_NOT_AUTHORISED); `supersedes`, when given, names an existing record (RECORD_NOT_FOUND) of the same patient (RECORD_WRONG_PATIENT) and type (RECORD_TYPE_MISMATCH) not yet superseded (RECORD_ALREADY_SUPERSEDED) |
 *
 * The record id is `recordIdOf(chainId, txHash)`. An amendment is a new record: the old one only
 * gains a `supersededBy` pointer, nothing is overwritten. The event `record.anchored` (attributes
 * recordId, patient, resourceType; hex keys) is what the store indexes records by patient from.
 */
import { Purpose, recordIdOf, type TxType } from '../types/tx.js'
import { equalBytes, toHex } from '../crypto/bytes.js'
import { ok, refuse, type Effects, type Sender, type TxOf, type Verdict } from './context.js'
import { type ExecContext } from '../types/application.js'
import { grantCoversType, isGrantLive, loadGrants } from './consent.js'
import { getActive } from './registry.js'
import { EntityKind, isFhirResourceType, MAX_RECORD_SIZE } from './roles.js'
import type { AnchoredRecord } from './schema.js'
import type { StateView } from './stateView.js'

/** True when `clinician` holds a live treatment grant from `patient` covering `resourceType`. */
export function holdsTreatmentGrantFor (view: StateView, patient: Uint8Array, clinician: Uint8Array, resourceType: string, timestamp: number): boolean {
  return loadGrants(view, patient, clinician).some(({ grant }) =>
    isGrantLive(grant, timestamp) && grant.purpose === Purpose.Treatment && grantCoversType(grant, resourceType))
}

export interface AnchorPlan {
  /** The superseded record, when this is an amendment. */
  superseded?: AnchoredRecord
}

export function verifyAnchorRecord (view: StateView, tx: TxOf<typeof TxType.AnchorRecord>, ctx: ExecContext, sender: Sender): Verdict<AnchorPlan> {
  const p = tx.payload
  if (sender.entity.kind !== EntityKind.Clinician) return refuse('RECORD_NOT_CLINICIAN')
  if (!isFhirResourceType(p.resourceType)) return refuse('RECORD_BAD_TYPE')
  if (p.size > MAX_RECORD_SIZE) return refuse('RECORD_TOO_LARGE')
  const recipients = new Set(p.envelopes.map((e) => toHex(e.recipient)))
  if (recipients.size !== p.envelopes.length) return refuse('RECORD_DUPLICATE_ENVELOPE')
  if (!recipients.has(toHex(p.patient))) return refuse('RECORD_NO_PATIENT_ENVELOPE')
  const patient = getActive(view, p.patient, EntityKind.Patient)
  if (patient === undefined) return refuse('RECORD_UNKNOWN_PATIENT')
  const hospital = sender.entity.hospital
  const enrolledHere = hospital !== undefined && patient.enrolledAt.some((h) => equalBytes(h, hospital))
  if (!enrolledHere && !holdsTreatmentGrantFor(view, p.patient, sender.publicKey, p.resourceType, ctx.timestamp)) return refuse('RECORD_NOT_AUTHORISED')
  if (p.supersedes === undefined) return ok({})
  const superseded = view.getRecord(p.supersedes)
  if (superseded === undefined) return refuse('RECORD_NOT_FOUND')
  if (!equalBytes(superseded.patient, p.patient)) return refuse('RECORD_WRONG_PATIENT')
  if (superseded.resourceType !== p.resourceType) return refuse('RECORD_TYPE_MISMATCH')
  if (superseded.supersededBy !== undefined) return refuse('RECORD_ALREADY_SUPERSEDED')
  return ok({ superseded })
}

export function executeAnchorRecord (view: StateView, tx: TxOf<typeof TxType.AnchorRecord>, ctx: ExecContext, sender: Sender, plan: AnchorPlan): Effects {
  const p = tx.payload
  const recordId = recordIdOf(ctx.chainId, ctx.txHash)
  view.putRecord(recordId, {
    patient: p.patient,
    resourceType: p.resourceType,
    contentHash: p.contentHash,
    size: p.size,
    blobRef: p.blobRef,
    author: sender.publicKey,
    anchoredAt: ctx.height,
    anchoredTime: ctx.timestamp,
    envelopes: p.envelopes,
    ...(p.supersedes !== undefined ? { supersedes: p.supersedes } : {})
  })
  const events: Effects['events'] = [
    { kind: 'record.anchored', attributes: [['recordId', toHex(recordId)], ['patient', toHex(p.patient)], ['resourceType', p.resourceType]] }
  ]
  if (p.supersedes !== undefined && plan.superseded !== undefined) {
    view.putRecord(p.supersedes, { ...plan.superseded, supersededBy: recordId })
    events.push({ kind: 'record.superseded', attributes: [['recordId', toHex(p.supersedes)], ['supersededBy', toHex(recordId)]] })
  }
  return { events, recordId }
}
