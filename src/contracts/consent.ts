/**
 * Consent: a patient grants a clinician or organisation access to some of their records for one
 * purpose until an expiry, and may revoke it.
 *
 * | transaction | signed by                               | rules (refusal code)                                                                 |
 * | ----------- | --------------------------------------- | ------------------------------------------------------------------------------------ |
 * | Grant       | an active patient (CONSENT_NOT_PATIENT) | grantee an active clinician or organisation whose hospital is active (CONSENT_BAD_GRANTEE); purpose allowed for the grantee's role, see roles.ts (CONSENT_PURPOSE_NOT_ALLOWED); scope = recordTypes ∪ recordIds non-empty (CONSENT_EMPTY_SCOPE); each record type "*" or a FHIR type name (CONSENT_BAD_RECORD_TYPE); each record id a record of this patient (CONSENT_RECORD_NOT_OWNED); expiresAt > block time (CONSENT_ALREADY_EXPIRED); each envelope's record in scope (CONSENT_ENVELOPE_OUT_OF_SCOPE); at most 32 live grants per (patient, grantee) (CONSENT_TOO_MANY_GRANTS) |
 * | Revoke      | the grant's patient (CONSENT_NOT_GRANTOR) | grant exists (CONSENT_UNKNOWN_GRANT), not revoked yet (CONSENT_ALREADY_REVOKED)    |
 *
 * A grant's id is the hash of the Grant transaction. A grant is live while it is not revoked and
 * the block time is before `expiresAt`: it stops at the first block whose timestamp reaches its
 * expiry, with no transaction. A revocation is seen by every later transaction, in the same block
 * or after.
 *
 * The index `grants/<patient>/<grantee>` lists the pair's grant ids so an access check reads only
 * the grants that concern it. A new Grant prunes the pair's dead (revoked or expired) grants from
 * the index, which keeps it short; the grants themselves stay readable by id, and every grant and
 * revocation is also announced as an event (`grant.created`, `grant.revoked`) for the store's indexes.
 */
import type { TxType } from '../types/tx.js'
import { equalBytes, toHex } from '../crypto/bytes.js'
import { ok, refuse, type Effects, type Sender, type TxOf, type Verdict } from './context.js'
import { type ExecContext } from '../types/application.js'
import { isEffectivelyActive } from './registry.js'
import { ALL_RECORD_TYPES, EntityKind, granteeRoleOf, isFhirResourceType, PURPOSE_NAMES, purposeAllowedFor } from './roles.js'
import type { AnchoredRecord, Grant } from './schema.js'
import type { StateView } from './stateView.js'

/** Most live grants one patient may have given one grantee at a time. */
export const MAX_LIVE_GRANTS_PER_GRANTEE = 32

/** Live = not revoked and the block time is before the expiry. */
export function isGrantLive (grant: Grant, timestamp: number): boolean {
  return grant.revokedAt === undefined && timestamp < grant.expiresAt
}

/** The grant's scope names this record type (or "*"). */
export function grantCoversType (grant: Pick<Grant, 'recordTypes'>, resourceType: string): boolean {
  return grant.recordTypes.some((t) => t === ALL_RECORD_TYPES || t === resourceType)
}

/** The grant's scope covers this record: its type (or "*") or its id is named. */
export function grantCoversRecord (grant: Pick<Grant, 'recordTypes' | 'recordIds'>, recordId: Uint8Array, record: AnchoredRecord): boolean {
  return grantCoversType(grant, record.resourceType) || grant.recordIds.some((id) => equalBytes(id, recordId))
}

/** Ids and grants of the index of (patient, grantee), in grant order; ids without a grant are skipped. */
export function loadGrants (view: StateView, patient: Uint8Array, grantee: Uint8Array): Array<{ grantId: Uint8Array, grant: Grant }> {
  const out: Array<{ grantId: Uint8Array, grant: Grant }> = []
  for (const grantId of view.getGrantIds(patient, grantee)) {
    const grant = view.getGrant(grantId)
    if (grant !== undefined) out.push({ grantId, grant })
  }
  return out
}

// ------------------------------------------------------------------------------------------------
// Grant

export interface GrantPlan {
  /** The index after pruning dead grants and adding this one. */
  grantIds: Uint8Array[]
}

export function verifyGrant (view: StateView, tx: TxOf<typeof TxType.Grant>, ctx: ExecContext, sender: Sender): Verdict<GrantPlan> {
  const p = tx.payload
  if (sender.entity.kind !== EntityKind.Patient) return refuse('CONSENT_NOT_PATIENT')
  const grantee = view.getEntity(p.grantee)
  const role = grantee === undefined ? undefined : granteeRoleOf(grantee)
  if (grantee === undefined || role === undefined || !isEffectivelyActive(view, grantee)) return refuse('CONSENT_BAD_GRANTEE')
  if (!purposeAllowedFor(role, p.purpose)) return refuse('CONSENT_PURPOSE_NOT_ALLOWED')
  if (p.recordTypes.length === 0 && p.recordIds.length === 0) return refuse('CONSENT_EMPTY_SCOPE')
  if (p.recordTypes.some((t) => t !== ALL_RECORD_TYPES && !isFhirResourceType(t))) return refuse('CONSENT_BAD_RECORD_TYPE')
  for (const recordId of p.recordIds) {
    const record = view.getRecord(recordId)
    if (record === undefined || !equalBytes(record.patient, sender.publicKey)) return refuse('CONSENT_RECORD_NOT_OWNED')
  }
  if (p.expiresAt <= ctx.timestamp) return refuse('CONSENT_ALREADY_EXPIRED')
  for (const envelope of p.envelopes) {
    const record = view.getRecord(envelope.recordId)
    const inScope = record !== undefined && equalBytes(record.patient, sender.publicKey) && grantCoversRecord(p, envelope.recordId, record)
    if (!inScope) return refuse('CONSENT_ENVELOPE_OUT_OF_SCOPE')
  }
  const live = loadGrants(view, sender.publicKey, p.grantee).filter(({ grant }) => isGrantLive(grant, ctx.timestamp))
  if (live.length >= MAX_LIVE_GRANTS_PER_GRANTEE) return refuse('CONSENT_TOO_MANY_GRANTS')
  return ok({ grantIds: [...live.map(({ grantId }) => grantId), ctx.txHash] })
}

export function executeGrant (view: StateView, tx: TxOf<typeof TxType.Grant>, ctx: ExecContext, sender: Sender, plan: GrantPlan): Effects {
  const p = tx.payload
  const grant: Grant = {
    patient: sender.publicKey,
    grantee: p.grantee,
    purpose: p.purpose,
    expiresAt: p.expiresAt,
    recordTypes: p.recordTypes,
    recordIds: p.recordIds,
    envelopes: p.envelopes,
    grantedAt: ctx.height
  }
  view.putGrant(ctx.txHash, grant)
  view.putGrantIds(sender.publicKey, p.grantee, plan.grantIds)
  return {
    events: [{
      kind: 'grant.created',
      attributes: [['grantId', toHex(ctx.txHash)], ['patient', toHex(sender.publicKey)], ['grantee', toHex(p.grantee)], ['purpose', PURPOSE_NAMES[p.purpose]], ['expiresAt', String(p.expiresAt)]]
    }]
  }
}

// ------------------------------------------------------------------------------------------------
// Revoke

export function verifyRevoke (view: StateView, tx: TxOf<typeof TxType.Revoke>, _ctx: ExecContext, sender: Sender): Verdict<Grant> {
  const grant = view.getGrant(tx.payload.grantId)
  if (grant === undefined) return refuse('CONSENT_UNKNOWN_GRANT')
  if (!equalBytes(grant.patient, sender.publicKey)) return refuse('CONSENT_NOT_GRANTOR')
  if (grant.revokedAt !== undefined) return refuse('CONSENT_ALREADY_REVOKED')
  return ok(grant)
}

export function executeRevoke (view: StateView, tx: TxOf<typeof TxType.Revoke>, ctx: ExecContext, _sender: Sender, grant: Grant): Effects {
  view.putGrant(tx.payload.grantId, { ...grant, revokedAt: ctx.height })
  return {
    events: [{ kind: 'grant.revoked', attributes: [['grantId', toHex(tx.payload.grantId)], ['patient', toHex(grant.patient)], ['grantee', toHex(grant.grantee)]] }]
  }
}
