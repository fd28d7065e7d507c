/**
 * The native access-control module ("the contract"): the entry points block execution calls, the
 * dispatch of each transaction type to its command (registry, records, consent, emergency, access,
 * governance), the audit trail, and the typed read helpers the RPC uses.
 *
 * The chain calls it through the Application interface (src/types/application.ts): the node hands
 * `accessControlApp` below to the chain, which never imports this module.
 *
 * Per transaction the chain layer (not this module) does:
 *   n = getSenderNonce(state, tx.from)    undefined → the tx is invalid (not includable)
 *   tx.nonce !== n                        → invalid
 *   executeTx(state, tx, ctx) with n + 1 as the sender's next nonce
 * and after the last transaction of a block, `setSenderNonce` once per sender and `endBlock(state, ctx)`.
 * Nothing in this module reads an identity's stored nonce, so it may lag behind within a block.
 *
 * `executeTx` steps, for every transaction type:
 *  1. read the sender; an inactive sender, or a clinician or organisation whose hospital is
 *     inactive, is refused (SENDER_INACTIVE);
 *  2. `verifyX`: reads only, returns ok or a refusal code;
 *  3. on ok, `executeX` writes into the view's buffer, which is then committed to the state;
 *  4. when the transaction names a known patient (audit.ts), one audit entry is appended, whether
 *     the transaction was granted or refused.
 * A refused transaction writes nothing through set/delete (its nonce was bumped by the chain
 * layer before), only its audit entry. `executeTx` never throws for a decoded transaction: a state
 * value that cannot be read (a node bug or corruption) gives CONTRACT_INTERNAL_ERROR, with no write.
 *
 * Who may send what, for an active signer (an inactive one, or a clinician or organisation of an
 * inactive hospital, gets SENDER_INACTIVE for every type); details and further codes in each
 * command's file:
 *
 * | tx                     | hospital                 | doctor, nurse                         | pharmacy, lab, insurer, researcher | patient      | validator                    |
 * | ---------------------- | ------------------------ | ------------------------------------- | ---------------------------------- | ------------ | ---------------------------- |
 * | RegisterHospital       | GOV_NOT_VALIDATOR        | GOV_NOT_VALIDATOR                     | GOV_NOT_VALIDATOR                  | GOV_NOT_VALIDATOR | opens a proposal; admitted at >2/3 power |
 * | RegisterClinician/Organization | yes (it becomes their hospital) | REGISTRY_NOT_HOSPITAL  | REGISTRY_NOT_HOSPITAL              | REGISTRY_NOT_HOSPITAL | REGISTRY_NOT_HOSPITAL |
 * | EnrolPatient           | REGISTRY_NOT_CLINICIAN   | yes, at its hospital                  | REGISTRY_NOT_CLINICIAN             | REGISTRY_NOT_CLINICIAN | REGISTRY_NOT_CLINICIAN |
 * | Deactivate             | its clinicians and organisations, its enrolled patients, itself | REGISTRY_NOT_REGISTRAR | REGISTRY_NOT_REGISTRAR | REGISTRY_NOT_REGISTRAR | REGISTRY_NOT_REGISTRAR |
 * | AnchorRecord           | RECORD_NOT_CLINICIAN     | patient enrolled at its hospital, or a live treatment grant covering the type | RECORD_NOT_CLINICIAN | RECORD_NOT_CLINICIAN | RECORD_NOT_CLINICIAN |
 * | Grant                  | CONSENT_NOT_PATIENT      | CONSENT_NOT_PATIENT                   | CONSENT_NOT_PATIENT                | yes          | CONSENT_NOT_PATIENT          |
 * | Revoke                 | CONSENT_NOT_GRANTOR      | CONSENT_NOT_GRANTOR                   | CONSENT_NOT_GRANTOR                | its own grants | CONSENT_NOT_GRANTOR        |
 * | EmergencyAccess        | EMERGENCY_NOT_CLINICIAN  | yes, any active patient               | EMERGENCY_NOT_CLINICIAN            | EMERGENCY_NOT_CLINICIAN | EMERGENCY_NOT_CLINICIAN |
 * | AccessRecord           | ACCESS_NO_CONSENT        | its own records, a live grant, an open emergency window | a live grant, narrowed to the role's record types | its own records | ACCESS_NO_CONSENT |
 * | ProposeValidator, Vote | GOV_NOT_VALIDATOR        | GOV_NOT_VALIDATOR                     | GOV_NOT_VALIDATOR                  | GOV_NOT_VALIDATOR | yes (current set)       |
 * | Evidence               | yes                      | yes                                   | yes                                | yes          | yes                          |
 * | ShareKeys              | to a clinician with an open emergency window, for a patient enrolled there | KEYS_NOT_AUTHORISED | KEYS_NOT_AUTHORISED | to a holder of a live grant covering the records | KEYS_NOT_AUTHORISED |
 */
import { toHex } from '../crypto/bytes.js'
import { validateGenesis, type Genesis } from '../types/genesis.js'
import { RESULT_OK, type Receipt } from '../types/receipt.js'
import { StateError, type StateBackend } from '../types/state.js'
import { TxType, type Purpose, type Tx } from '../types/tx.js'
import { makeValidatorSet, type ValidatorSet } from '../types/validatorSet.js'
import { decideAccess, executeAccessRecord, verifyAccessRecord, type AccessDecision } from './access.js'
import { encodeAuditEntry } from './audit.js'
import { executeGrant, executeRevoke, loadGrants, verifyGrant, verifyRevoke } from './consent.js'
import type { Effects, Sender, TxOf, Verdict } from './context.js'
import type { Application, BlockContext, ExecContext } from '../types/application.js'
import { executeEmergencyAccess, verifyEmergencyAccess } from './emergency.js'
import { CONTRACT_ERROR_MESSAGES, contractError, type ContractErrorCode } from './errors.js'
import {
  applyValidatorChanges, currentValidatorSet, executeEvidence, executeProposeValidator, executeRegisterHospital, executeVote, recordLiveness,
  verifyEvidence, verifyProposeValidator, verifyRegisterHospital, verifyVote
} from './governance.js'
import { executeShareKeys, findKeyEnvelope, verifyShareKeys, type KeySource } from './keyShare.js'
import { executeAnchorRecord, verifyAnchorRecord } from './records.js'
import {
  executeDeactivate, executeEnrolPatient, executeRegisterClinician, executeRegisterOrganization, isEffectivelyActive, newEntity,
  verifyDeactivate, verifyEnrolPatient, verifyRegisterClinician, verifyRegisterOrganization
} from './registry.js'
import { EntityKind } from './roles.js'
import type { AnchoredRecord, EmergencyWindow, Entity, EvidenceRecord, Grant, Proposal } from './schema.js'
import { StateView } from './stateView.js'
import { blockTouchedKeys } from './touchedKeys.js'

export { CONTRACT_ERROR_CODES, CONTRACT_ERROR_MESSAGES, ContractError, type ContractErrorCode } from './errors.js'
export { decodeAuditEntry, encodeAuditEntry, type AuditEntry } from './audit.js'
export { EMERGENCY_WINDOW_MS } from './emergency.js'
export { grantCoversType, MAX_LIVE_GRANTS_PER_GRANTEE } from './consent.js'
export { LIVENESS_WINDOW, MAX_VALIDATOR_POWER, VALIDATOR_CHANGE_DELAY, tallyProposal } from './governance.js'
export { StateKeys } from './keys.js'
export { blockTouchedKeys, endBlockKeys, MAX_PREFETCH_ROUNDS, prefetchBlockKeys, prefetchBlockKeysSync, touchedKeys } from './touchedKeys.js'
export * from './roles.js'
export {
  ProposalKind, ProposalStatus, type AnchoredRecord, type EmergencyWindow, type Entity, type EvidenceRecord, type Grant, type Proposal,
  type ValidatorChange
} from './schema.js'
export type { AccessDecision, AccessGround } from './access.js'
export type { KeySource } from './keyShare.js'

/** One sentence per transaction type for the log of a successful receipt. */
const OK_LOGS: Record<TxType, string> = {
  [TxType.RegisterHospital]: 'The hospital admission was proposed; the hospital is active once more than 2/3 of the validator power approved it.',
  [TxType.RegisterClinician]: 'The clinician was registered.',
  [TxType.RegisterOrganization]: 'The organisation was registered.',
  [TxType.EnrolPatient]: 'The patient was enrolled.',
  [TxType.Deactivate]: 'The identity was deactivated.',
  [TxType.AnchorRecord]: 'The record was anchored.',
  [TxType.Grant]: 'The consent was granted.',
  [TxType.Revoke]: 'The consent was revoked.',
  [TxType.EmergencyAccess]: 'Emergency access was opened and recorded on the patient\'s audit trail.',
  [TxType.AccessRecord]: 'Access to the record was granted.',
  [TxType.ProposeValidator]: 'The validator change was proposed; it takes effect two blocks after more than 2/3 of the validator power approved it.',
  [TxType.Vote]: 'The vote was counted.',
  [TxType.Evidence]: 'The evidence of double-signing was recorded.',
  [TxType.ShareKeys]: 'The record keys were shared with the recipient.'
}

// ------------------------------------------------------------------------------------------------
// nonces

/** The next nonce of `publicKey`, or undefined when it is not a registered identity. */
export function getSenderNonce (state: StateBackend, publicKey: Uint8Array): number | undefined {
  return new StateView(state).getEntity(publicKey)?.nonce
}

/** Stores the next nonce of a registered identity; throws ContractError SENDER_UNKNOWN otherwise. */
export function setSenderNonce (state: StateBackend, publicKey: Uint8Array, nonce: number): void {
  const view = new StateView(state)
  if (!view.putNonce(publicKey, nonce)) throw contractError('SENDER_UNKNOWN', toHex(publicKey))
  view.commit()
}

// ------------------------------------------------------------------------------------------------
// execution

type Command<T extends TxType, P> = {
  verify: (view: StateView, tx: TxOf<T>, ctx: ExecContext, sender: Sender) => Verdict<P>
  execute: (view: StateView, tx: TxOf<T>, ctx: ExecContext, sender: Sender, plan: P) => Effects
}

function run<T extends TxType, P> (command: Command<T, P>, view: StateView, tx: Tx, ctx: ExecContext, sender: Sender): { code: 'OK', effects: Effects } | { code: ContractErrorCode } {
  const verdict = command.verify(view, tx as TxOf<T>, ctx, sender)
  if (verdict.code !== 'OK') return verdict
  return { code: 'OK', effects: command.execute(view, tx as TxOf<T>, ctx, sender, verdict.plan) }
}

function dispatch (view: StateView, tx: Tx, ctx: ExecContext, sender: Sender): { code: 'OK', effects: Effects } | { code: ContractErrorCode } {
  switch (tx.payload.type) {
    case TxType.RegisterHospital: return run({ verify: verifyRegisterHospital, execute: executeRegisterHospital }, view, tx, ctx, sender)
    case TxType.RegisterClinician: return run({ verify: verifyRegisterClinician, execute: executeRegisterClinician }, view, tx, ctx, sender)
    case TxType.RegisterOrganization: return run({ verify: verifyRegisterOrganization, execute: executeRegisterOrganization }, view, tx, ctx, sender)
    case TxType.EnrolPatient: return run({ verify: verifyEnrolPatient, execute: executeEnrolPatient }, view, tx, ctx, sender)
    case TxType.Deactivate: return run({ verify: verifyDeactivate, execute: executeDeactivate }, view, tx, ctx, sender)
    case TxType.AnchorRecord: return run({ verify: verifyAnchorRecord, execute: executeAnchorRecord }, view, tx, ctx, sender)
    case TxType.Grant: return run({ verify: verifyGrant, execute: executeGrant }, view, tx, ctx, sender)
    case TxType.Revoke: return run({ verify: verifyRevoke, execute: executeRevoke }, view, tx, ctx, sender)
    case TxType.EmergencyAccess: return run({ verify: verifyEmergencyAccess, execute: executeEmergencyAccess }, view, tx, ctx, sender)
    case TxType.AccessRecord: return run({ verify: verifyAccessRecord, execute: executeAccessRecord }, view, tx, ctx, sender)
    case TxType.ProposeValidator: return run({ verify: verifyProposeValidator, execute: executeProposeValidator }, view, tx, ctx, sender)
    case TxType.Vote: return run({ verify: verifyVote, execute: executeVote }, view, tx, ctx, sender)
    case TxType.Evidence: return run({ verify: verifyEvidence, execute: executeEvidence }, view, tx, ctx, sender)
    case TxType.ShareKeys: return run({ verify: verifyShareKeys, execute: executeShareKeys }, view, tx, ctx, sender)
    default: return { code: 'CONTRACT_UNSUPPORTED_TX' }
  }
}

interface AuditSubject {
  patient: Uint8Array
  recordId?: Uint8Array
  purpose: number
  emergency: boolean
}

/** The known patient a transaction names, if any (the table in audit.ts). */
function auditSubjectOf (view: StateView, tx: Tx, sender: Sender): AuditSubject | undefined {
  const isPatient = (key: Uint8Array): boolean => view.getEntity(key)?.kind === EntityKind.Patient
  const p = tx.payload
  switch (p.type) {
    case TxType.EnrolPatient: return isPatient(p.publicKey) ? { patient: p.publicKey, purpose: 0, emergency: false } : undefined
    case TxType.Deactivate: return isPatient(p.target) ? { patient: p.target, purpose: 0, emergency: false } : undefined
    case TxType.AnchorRecord: return isPatient(p.patient) ? { patient: p.patient, purpose: 0, emergency: false } : undefined
    case TxType.Grant: return sender.entity.kind === EntityKind.Patient ? { patient: sender.publicKey, purpose: p.purpose, emergency: false } : undefined
    case TxType.Revoke: {
      const grant = view.getGrant(p.grantId)
      return grant === undefined ? undefined : { patient: grant.patient, purpose: grant.purpose, emergency: false }
    }
    case TxType.EmergencyAccess: return isPatient(p.patient) ? { patient: p.patient, purpose: 0, emergency: true } : undefined
    case TxType.AccessRecord: {
      const record = view.getRecord(p.recordId)
      return record === undefined ? undefined : { patient: record.patient, recordId: p.recordId, purpose: p.purpose, emergency: false }
    }
    case TxType.ShareKeys: {
      const first = p.envelopes[0]
      const record = first === undefined ? undefined : view.getRecord(first.recordId)
      return record === undefined ? undefined : { patient: record.patient, purpose: 0, emergency: false }
    }
    default: return undefined
  }
}

function receipt (code: 'OK' | ContractErrorCode, type: TxType, events: Effects['events'] = []): Receipt {
  return { code, log: code === RESULT_OK ? OK_LOGS[type] ?? 'OK.' : CONTRACT_ERROR_MESSAGES[code as ContractErrorCode], events }
}

/**
 * Executes one transaction whose nonce the chain layer has already checked and bumped. Returns
 * its receipt; refusals are receipts, never exceptions. A StateError (a read of a key the state
 * backend did not load, src/types/state.ts) is rethrown: it is not the transaction's fault.
 */
export function executeTx (state: StateBackend, tx: Tx, ctx: ExecContext): Receipt {
  const type = tx.payload.type
  const view = new StateView(state)
  let code: 'OK' | ContractErrorCode
  let effects: Effects = { events: [] }
  let subject: AuditSubject | undefined
  let sender: Sender
  try {
    const entity = view.getEntity(tx.from)
    if (entity === undefined) return receipt('SENDER_UNKNOWN', type)
    sender = { publicKey: tx.from, entity }
    if (!isEffectivelyActive(view, entity)) {
      code = 'SENDER_INACTIVE'
    } else {
      const result = dispatch(view, tx, ctx, sender)
      code = result.code
      if (result.code === 'OK') effects = result.effects
    }
    if (code !== 'OK') view.discard()
    subject = auditSubjectOf(view, tx, sender)
  } catch (err) {
    view.discard()
    // a key the block's prefetch did not load is the node's bug, not the transaction's: it must
    // stop the block loudly, never turn into a receipt that changes the results root
    if (err instanceof StateError) throw err
    return receipt('CONTRACT_INTERNAL_ERROR', type)
  }
  view.commit()
  if (subject !== undefined) {
    state.appendAudit(subject.patient, encodeAuditEntry({
      height: ctx.height,
      txIndex: ctx.txIndex,
      txHash: ctx.txHash,
      timestamp: ctx.timestamp,
      patient: subject.patient,
      actor: tx.from,
      actorKind: sender.entity.kind,
      action: type,
      ...(code === 'OK' && effects.recordId !== undefined ? { recordId: effects.recordId } : subject.recordId !== undefined ? { recordId: subject.recordId } : {}),
      purpose: subject.purpose,
      result: code,
      emergency: subject.emergency || (code === 'OK' && effects.emergency === true)
    }))
  }
  return receipt(code, type, code === 'OK' ? effects.events : [])
}

/**
 * Records which validators signed the previous block's commit, then applies the validator changes
 * scheduled for `ctx.height + 1` (see governance.ts).
 */
export function endBlock (state: StateBackend, ctx: BlockContext): void {
  const view = new StateView(state)
  recordLiveness(view, ctx)
  applyValidatorChanges(view, ctx)
  view.commit()
}

/** The stored validator set: the one that validates the NEXT block. */
export function getValidatorSet (state: StateBackend): ValidatorSet {
  return currentValidatorSet(new StateView(state))
}

/**
 * Writes the genesis state: the founding hospitals (active), the validators as identities of kind
 * validator operated by their hospital, and the first validator set. Throws GenesisError on an
 * invalid genesis.
 */
export function initGenesisState (state: StateBackend, genesis: Genesis): void {
  validateGenesis(genesis)
  const view = new StateView(state)
  for (const h of genesis.hospitals) {
    view.putEntity(h.publicKey, newEntity({ kind: EntityKind.Hospital, name: h.name, registeredAt: 0 }))
  }
  for (const v of genesis.validators) {
    view.putEntity(v.publicKey, newEntity({ kind: EntityKind.Validator, hospital: v.hospital, registeredAt: 0 }))
  }
  view.putValidatorSet(makeValidatorSet(genesis.validators))
  view.commit()
}

/** The contract as the chain runs it: the entry points above, handed to Chain.open by the node. */
export const accessControlApp: Application = {
  getSenderNonce, setSenderNonce, executeTx, endBlock, getValidatorSet, initGenesisState, touchedKeys: blockTouchedKeys
}

// ------------------------------------------------------------------------------------------------
// read helpers (RPC, CLI, tests). They throw CodecError only on a corrupt state value.

export function getEntity (state: StateBackend, publicKey: Uint8Array): Entity | undefined {
  return new StateView(state).getEntity(publicKey)
}

export function getRecord (state: StateBackend, recordId: Uint8Array): AnchoredRecord | undefined {
  return new StateView(state).getRecord(recordId)
}

export function getGrant (state: StateBackend, grantId: Uint8Array): Grant | undefined {
  return new StateView(state).getGrant(grantId)
}

/** The grants of the (patient, grantee) index, oldest first (dead ones are pruned by later grants). */
export function listGrantsFor (state: StateBackend, patient: Uint8Array, grantee: Uint8Array): Array<{ grantId: Uint8Array, grant: Grant }> {
  return loadGrants(new StateView(state), patient, grantee)
}

/** The record's data key wrapped for `reader`, when the chain holds one (keyShare.ts). */
export function getKeyEnvelope (
  state: StateBackend, recordId: Uint8Array, reader: Uint8Array, timestamp: number
): { wrappedKey: Uint8Array, source: KeySource } | undefined {
  const view = new StateView(state)
  const record = view.getRecord(recordId)
  return record === undefined ? undefined : findKeyEnvelope(view, recordId, record, reader, timestamp)
}

export function getEmergencyWindow (state: StateBackend, clinician: Uint8Array, patient: Uint8Array): EmergencyWindow | undefined {
  return new StateView(state).getEmergencyWindow(clinician, patient)
}

export function getProposal (state: StateBackend, proposalId: Uint8Array): Proposal | undefined {
  return new StateView(state).getProposal(proposalId)
}

export function getEvidence (state: StateBackend, validator: Uint8Array, height: number, round: number, voteType: number): EvidenceRecord | undefined {
  return new StateView(state).getEvidence(validator, height, round, voteType)
}

/** Validator changes that passed and take effect at `effectiveHeight`. */
export function getScheduledValidatorChanges (state: StateBackend, effectiveHeight: number): ReturnType<StateView['getValidatorChanges']> {
  return new StateView(state).getValidatorChanges(effectiveHeight)
}

/**
 * The answer an AccessRecord transaction by `requester` would get at block time `timestamp`,
 * without executing one: for the RPC to decide whether to serve a record's blob.
 */
export function checkRecordAccess (
  state: StateBackend, requester: Uint8Array, recordId: Uint8Array, purpose: Purpose, timestamp: number
): AccessDecision | { code: 'SENDER_UNKNOWN' | 'SENDER_INACTIVE' | 'RECORD_NOT_FOUND' } {
  const view = new StateView(state)
  const entity = view.getEntity(requester)
  if (entity === undefined) return { code: 'SENDER_UNKNOWN' }
  if (!isEffectivelyActive(view, entity)) return { code: 'SENDER_INACTIVE' }
  const record = view.getRecord(recordId)
  if (record === undefined) return { code: 'RECORD_NOT_FOUND' }
  return decideAccess(view, requester, entity, recordId, record, purpose, timestamp)
}
