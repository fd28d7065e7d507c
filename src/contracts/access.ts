/**
 * Access: a request to read a record, checked against consent at execution; its result, granted or
 * refused, goes to the patient's audit trail. The node serves a record's blob only to a requester
 * whose access was granted (`checkRecordAccess` in index.ts gives the same answer without a tx).
 *
 * | transaction  | signed by            | rules (refusal code)                                                     |
 * | ------------ | -------------------- | ------------------------------------------------------------------------ |
 * | AccessRecord | any active identity  | record exists (RECORD_NOT_FOUND); granted by the first that holds of:     |
 *
 *  1. the requester is the record's patient;
 *  2. the requester is the record's author;
 *  3. the requester holds a grant from the patient that is not revoked, not expired (block time <
 *     expiresAt), whose purpose equals the requested purpose, whose scope covers the record (its
 *     type or "*" in recordTypes, or its id in recordIds) and whose role may read the record type
 *     (roles.ts: a pharmacy reads only MedicationRequest and MedicationDispense, even with "*");
 *  4. the requester is a clinician with an open emergency window for the patient (granted, and
 *     flagged as emergency in the audit trail).
 *
 * Grants are tried before the emergency window so that the emergency flag marks only accesses
 * that nothing but break-glass allowed. Otherwise the refusal is the most specific one reached by
 * any of the requester's grants from this patient, in this order: ACCESS_OUT_OF_SCOPE (live, right
 * purpose, but not this record or not this type for the role) > ACCESS_PURPOSE_MISMATCH (live,
 * other purpose) > ACCESS_CONSENT_EXPIRED > ACCESS_CONSENT_REVOKED; ACCESS_NO_CONSENT when the
 * requester holds no grant from the patient at all. A deactivated requester, or a clinician or
 * organisation of a deactivated hospital, is refused before this (SENDER_INACTIVE).
 */
import type { Purpose, TxType } from '../types/tx.js'
import { equalBytes, toHex } from '../crypto/bytes.js'
import { ok, refuse, type Effects, type Sender, type TxOf, type Verdict } from './context.js'
import { type ExecContext } from '../types/application.js'
import { grantCoversRecord, loadGrants } from './consent.js'
import { isWindowOpen } from './emergency.js'
import type { ContractErrorCode } from './errors.js'
import { EntityKind, granteeRoleOf, PURPOSE_NAMES, recordTypeReadableBy } from './roles.js'
import type { AnchoredRecord, Entity } from './schema.js'
import type { StateView } from './stateView.js'

export type AccessGround = 'patient' | 'author' | 'grant' | 'emergency'

export type AccessRefusal = 'ACCESS_NO_CONSENT' | 'ACCESS_CONSENT_REVOKED' | 'ACCESS_CONSENT_EXPIRED' | 'ACCESS_PURPOSE_MISMATCH' | 'ACCESS_OUT_OF_SCOPE'

export type AccessDecision =
  | { code: 'OK', ground: AccessGround, grantId?: Uint8Array }
  | { code: AccessRefusal }

/** Refusals from least to most specific: a grant that got further through the checks wins. */
const REFUSAL_RANK: readonly AccessRefusal[] = ['ACCESS_NO_CONSENT', 'ACCESS_CONSENT_REVOKED', 'ACCESS_CONSENT_EXPIRED', 'ACCESS_PURPOSE_MISMATCH', 'ACCESS_OUT_OF_SCOPE']

/**
 * Decides whether `requester` may read `record` for `purpose` at block time `timestamp`. Does not
 * check that the requester is active: callers do that first.
 */
export function decideAccess (
  view: StateView, requesterKey: Uint8Array, requester: Entity, recordId: Uint8Array, record: AnchoredRecord, purpose: Purpose, timestamp: number
): AccessDecision {
  if (equalBytes(requesterKey, record.patient)) return { code: 'OK', ground: 'patient' }
  if (equalBytes(requesterKey, record.author)) return { code: 'OK', ground: 'author' }
  let refusal: AccessRefusal = 'ACCESS_NO_CONSENT'
  const role = granteeRoleOf(requester)
  if (role !== undefined) {
    for (const { grantId, grant } of loadGrants(view, record.patient, requesterKey)) {
      let reached: AccessRefusal
      if (grant.revokedAt !== undefined) reached = 'ACCESS_CONSENT_REVOKED'
      else if (timestamp >= grant.expiresAt) reached = 'ACCESS_CONSENT_EXPIRED'
      else if (grant.purpose !== purpose) reached = 'ACCESS_PURPOSE_MISMATCH'
      else if (!grantCoversRecord(grant, recordId, record) || !recordTypeReadableBy(role, record.resourceType)) reached = 'ACCESS_OUT_OF_SCOPE'
      else return { code: 'OK', ground: 'grant', grantId }
      if (REFUSAL_RANK.indexOf(reached) > REFUSAL_RANK.indexOf(refusal)) refusal = reached
    }
  }
  if (requester.kind === EntityKind.Clinician && isWindowOpen(view.getEmergencyWindow(requesterKey, record.patient), timestamp)) {
    return { code: 'OK', ground: 'emergency' }
  }
  return { code: refusal }
}

export interface AccessPlan {
  record: AnchoredRecord
  ground: AccessGround
}

export function verifyAccessRecord (view: StateView, tx: TxOf<typeof TxType.AccessRecord>, ctx: ExecContext, sender: Sender): Verdict<AccessPlan> {
  const record = view.getRecord(tx.payload.recordId)
  if (record === undefined) return refuse('RECORD_NOT_FOUND')
  const decision = decideAccess(view, sender.publicKey, sender.entity, tx.payload.recordId, record, tx.payload.purpose, ctx.timestamp)
  if (decision.code !== 'OK') return refuse(decision.code satisfies ContractErrorCode)
  return ok({ record, ground: decision.ground })
}

/** Writes nothing: the access is recorded by its audit entry and receipt. */
export function executeAccessRecord (_view: StateView, tx: TxOf<typeof TxType.AccessRecord>, _ctx: ExecContext, sender: Sender, plan: AccessPlan): Effects {
  return {
    events: [{
      kind: 'record.accessed',
      attributes: [
        ['recordId', toHex(tx.payload.recordId)], ['patient', toHex(plan.record.patient)], ['requester', toHex(sender.publicKey)],
        ['purpose', PURPOSE_NAMES[tx.payload.purpose]], ['ground', plan.ground]
      ]
    }],
    recordId: tx.payload.recordId,
    emergency: plan.ground === 'emergency'
  }
}
