/**
 * Key sharing: delivering a record's data key, wrapped for one reader, after the record was
 * anchored. The node never sees a data key: the sender's client unwraps its own envelope and
 * seals the key for the recipient (src/records/envelope.ts); the chain only stores the sealed bytes.
 *
 * | transaction | signed by | rules (refusal code) |
 * | ----------- | --------- | -------------------- |
 * | ShareKeys   | the records' patient, or a hospital where the patient is enrolled (else KEYS_NOT_AUTHORISED) | at least one envelope (KEYS_EMPTY); one envelope per record (KEYS_DUPLICATE_RECORD); every record exists (RECORD_NOT_FOUND) and all belong to one patient (KEYS_MIXED_PATIENTS); the recipient is an active clinician or organisation (KEYS_BAD_RECIPIENT); from the patient: the recipient holds a live grant from the patient covering each record, readable by its role (KEYS_NO_CONSENT); from a hospital: the patient is enrolled there (KEYS_NOT_CUSTODIAN) and the recipient is a clinician with an open emergency window for the patient (KEYS_NO_EMERGENCY_WINDOW) |
 *
 * Two uses:
 *  - consent: records anchored after a grant was made carry no envelope for its grantee; the
 *    patient's client shares them (`medchain consent sync`);
 *  - break-glass: a clinician who opened EmergencyAccess has no envelope at all; the hospital where
 *    the patient is enrolled (which every record made there is also sealed for, as custodian)
 *    releases the keys (`medchain record release`). Such a share is flagged as emergency on the
 *    patient's audit trail.
 *
 * A share is stored under `keyshare/<recordId>/<recipient>`; a later share for the same pair
 * replaces it. Sharing a key is not access: reading the blob still needs a granted AccessRecord.
 */
import type { TxType } from '../types/tx.js'
import { equalBytes, toHex } from '../crypto/bytes.js'
import { ok, refuse, type Effects, type Sender, type TxOf, type Verdict } from './context.js'
import { type ExecContext } from '../types/application.js'
import { grantCoversRecord, isGrantLive, loadGrants } from './consent.js'
import { isWindowOpen } from './emergency.js'
import { isEffectivelyActive } from './registry.js'
import { EntityKind, granteeRoleOf, recordTypeReadableBy } from './roles.js'
import type { AnchoredRecord } from './schema.js'
import type { StateView } from './stateView.js'

export interface SharePlan {
  patient: Uint8Array
  emergency: boolean
}

export function verifyShareKeys (view: StateView, tx: TxOf<typeof TxType.ShareKeys>, ctx: ExecContext, sender: Sender): Verdict<SharePlan> {
  const p = tx.payload
  const kind = sender.entity.kind
  if (kind !== EntityKind.Patient && kind !== EntityKind.Hospital) return refuse('KEYS_NOT_AUTHORISED')
  if (p.envelopes.length === 0) return refuse('KEYS_EMPTY')
  if (new Set(p.envelopes.map((e) => toHex(e.recordId))).size !== p.envelopes.length) return refuse('KEYS_DUPLICATE_RECORD')
  const records: Array<{ recordId: Uint8Array, record: AnchoredRecord }> = []
  for (const { recordId } of p.envelopes) {
    const record = view.getRecord(recordId)
    if (record === undefined) return refuse('RECORD_NOT_FOUND')
    records.push({ recordId, record })
  }
  const patient = (records[0] as { record: AnchoredRecord }).record.patient
  if (records.some(({ record }) => !equalBytes(record.patient, patient))) return refuse('KEYS_MIXED_PATIENTS')
  const recipient = view.getEntity(p.recipient)
  const role = recipient === undefined ? undefined : granteeRoleOf(recipient)
  if (recipient === undefined || role === undefined || !isEffectivelyActive(view, recipient)) return refuse('KEYS_BAD_RECIPIENT')

  if (kind === EntityKind.Patient) {
    if (!equalBytes(sender.publicKey, patient)) return refuse('KEYS_NOT_AUTHORISED')
    const live = loadGrants(view, patient, p.recipient).filter(({ grant }) => isGrantLive(grant, ctx.timestamp))
    for (const { recordId, record } of records) {
      const covered = live.some(({ grant }) => grantCoversRecord(grant, recordId, record)) && recordTypeReadableBy(role, record.resourceType)
      if (!covered) return refuse('KEYS_NO_CONSENT')
    }
    return ok({ patient, emergency: false })
  }
  // a hospital: custodian of the patient's records, releasing keys to a break-glass reader
  const patientEntity = view.getEntity(patient)
  if (patientEntity === undefined || !patientEntity.enrolledAt.some((h) => equalBytes(h, sender.publicKey))) return refuse('KEYS_NOT_CUSTODIAN')
  if (recipient.kind !== EntityKind.Clinician || !isWindowOpen(view.getEmergencyWindow(p.recipient, patient), ctx.timestamp)) return refuse('KEYS_NO_EMERGENCY_WINDOW')
  return ok({ patient, emergency: true })
}

export function executeShareKeys (view: StateView, tx: TxOf<typeof TxType.ShareKeys>, ctx: ExecContext, sender: Sender, plan: SharePlan): Effects {
  const p = tx.payload
  for (const e of p.envelopes) {
    view.putKeyShare(e.recordId, p.recipient, { wrappedKey: e.wrappedKey, sharedBy: sender.publicKey, sharedAt: ctx.height, emergency: plan.emergency })
  }
  return {
    events: [{
      kind: 'keys.shared',
      attributes: [
        ['patient', toHex(plan.patient)], ['recipient', toHex(p.recipient)], ['sharedBy', toHex(sender.publicKey)],
        ['records', String(p.envelopes.length)], ['emergency', plan.emergency ? '1' : '0']
      ]
    }],
    ...(p.envelopes.length === 1 ? { recordId: (p.envelopes[0] as { recordId: Uint8Array }).recordId } : {}),
    emergency: plan.emergency
  }
}

/** Where a reader's copy of a record's data key came from. */
export type KeySource = 'record' | 'grant' | 'share'

/**
 * The record's data key wrapped for `reader`, if the chain holds one: an envelope of the record
 * itself (patient, author, custodian hospital), one carried by a grant from the patient (live grants
 * first), or one delivered by ShareKeys. Holding an envelope is not access; the blob is served only
 * after a granted AccessRecord.
 */
export function findKeyEnvelope (
  view: StateView, recordId: Uint8Array, record: AnchoredRecord, reader: Uint8Array, timestamp: number
): { wrappedKey: Uint8Array, source: KeySource } | undefined {
  const own = record.envelopes.find((e) => equalBytes(e.recipient, reader))
  if (own !== undefined) return { wrappedKey: own.wrappedKey, source: 'record' }
  const grants = loadGrants(view, record.patient, reader)
    .sort((a, b) => Number(isGrantLive(b.grant, timestamp)) - Number(isGrantLive(a.grant, timestamp)))
  for (const { grant } of grants) {
    const envelope = grant.envelopes.find((e) => equalBytes(e.recordId, recordId))
    if (envelope !== undefined) return { wrappedKey: envelope.wrappedKey, source: 'grant' }
  }
  const share = view.getKeyShare(recordId, reader)
  return share === undefined ? undefined : { wrappedKey: share.wrappedKey, source: 'share' }
}

