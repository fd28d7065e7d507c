/**
 * Refusal codes of the access-control contract.
 *
 * A refused transaction is still included in its block (so the attempt is on the audit trail); its
 * receipt carries one of these codes and the matching sentence below as its log. Codes are stable:
 * clients, the RPC and tests match on them, never on the sentence. Add codes, never rename them.
 *
 * `ContractError` is thrown only by the read helpers (e.g. reading the validator set of a state
 * that has no genesis); `executeTx` never throws, it returns receipts.
 */
import { MedchainError } from '../util/errors.js'

export const CONTRACT_ERROR_MESSAGES = {
  // every transaction
  SENDER_UNKNOWN: 'The sender key is not a registered identity; ask a hospital to register it first.',
  SENDER_INACTIVE: 'The sender, or the hospital it belongs to, has been deactivated; contact the registering hospital.',
  CONTRACT_UNSUPPORTED_TX: 'This transaction type is not handled by the access-control contract; upgrade the node.',
  CONTRACT_INTERNAL_ERROR: 'The transaction could not be executed because the stored state is unreadable; report this to the node operator.',
  STATE_NOT_INITIALISED: 'The state holds no validator set; initialise it from the genesis file first.',

  // registry
  REGISTRY_BAD_KEY: 'The public key is not a usable ed25519 key (non-canonical, small-order or with a torsion part); generate a new key with `medchain keys new`.',
  REGISTRY_ALREADY_REGISTERED: 'This public key is already registered as an identity; use a new key for a new identity.',
  REGISTRY_NOT_HOSPITAL: 'Only an active hospital may register clinicians and organisations; sign with your hospital key.',
  REGISTRY_NOT_CLINICIAN: 'Only an active clinician may enrol a patient; sign with a doctor\'s or nurse\'s key.',
  REGISTRY_ALREADY_ENROLLED: 'The patient is already enrolled at this hospital; nothing needs to be done.',
  REGISTRY_PATIENT_INACTIVE: 'The patient\'s identity has been deactivated and cannot be enrolled again; contact the hospital that deactivated it.',
  REGISTRY_UNKNOWN_IDENTITY: 'No identity is registered under this public key; check the key.',
  REGISTRY_ALREADY_INACTIVE: 'This identity is already deactivated; nothing needs to be done.',
  REGISTRY_NOT_REGISTRAR: 'Only the registering hospital may deactivate this identity (validators are removed by a governance vote).',

  // records
  RECORD_NOT_CLINICIAN: 'Only an active clinician may anchor a record; sign with a doctor\'s or nurse\'s key.',
  RECORD_BAD_TYPE: 'The resource type must be a FHIR resource type name such as "Observation" or "MedicationRequest".',
  RECORD_TOO_LARGE: 'The record is larger than 1 GiB; split it into several records.',
  RECORD_DUPLICATE_ENVELOPE: 'Two key envelopes are addressed to the same recipient; send one envelope per recipient.',
  RECORD_NO_PATIENT_ENVELOPE: 'The record carries no key envelope for its patient; wrap the data key for the patient too.',
  RECORD_UNKNOWN_PATIENT: 'The patient is not a registered, active patient; enrol the patient first.',
  RECORD_NOT_AUTHORISED: 'You may anchor records only for patients enrolled at your hospital or who granted you treatment consent for this record type.',
  RECORD_NOT_FOUND: 'No record with this id is anchored on this chain; check the record id.',
  RECORD_WRONG_PATIENT: 'The record being amended belongs to another patient; amend a record of the same patient.',
  RECORD_TYPE_MISMATCH: 'An amendment must have the same resource type as the record it supersedes.',
  RECORD_ALREADY_SUPERSEDED: 'The record was already amended; amend its latest version instead.',

  // consent
  CONSENT_NOT_PATIENT: 'Only an active patient may grant consent to their own records; sign with the patient key.',
  CONSENT_BAD_GRANTEE: 'Consent can be granted only to an active clinician or organisation; check the grantee key.',
  CONSENT_PURPOSE_NOT_ALLOWED: 'This purpose is not allowed for the grantee\'s role (clinician and lab: treatment, pharmacy: pharmacy, insurer: insurance, researcher: research).',
  CONSENT_EMPTY_SCOPE: 'The consent names no record type and no record; add at least one.',
  CONSENT_BAD_RECORD_TYPE: 'A record type in the consent is neither "*" nor a FHIR resource type name; fix the list.',
  CONSENT_RECORD_NOT_OWNED: 'A record named in the consent does not exist or belongs to another patient; check the record ids.',
  CONSENT_ALREADY_EXPIRED: 'The consent expiry is not after the current block time; choose a later expiry.',
  CONSENT_ENVELOPE_OUT_OF_SCOPE: 'A key envelope is for a record the consent does not cover; remove it or widen the scope.',
  CONSENT_TOO_MANY_GRANTS: 'This grantee already holds the maximum number of live consents from you; revoke one first.',
  CONSENT_UNKNOWN_GRANT: 'No consent with this id exists; check the grant id.',
  CONSENT_NOT_GRANTOR: 'Only the patient who granted this consent may revoke it.',
  CONSENT_ALREADY_REVOKED: 'This consent was already revoked; nothing needs to be done.',

  // emergency
  EMERGENCY_NOT_CLINICIAN: 'Only an active clinician may open emergency access; sign with a doctor\'s or nurse\'s key.',
  EMERGENCY_UNKNOWN_PATIENT: 'The patient is not a registered, active patient; check the patient key.',

  // key sharing
  KEYS_NOT_AUTHORISED: 'Only the records\' patient, or a hospital where the patient is enrolled, may share a record\'s key.',
  KEYS_EMPTY: 'The transaction shares no key; add at least one envelope.',
  KEYS_DUPLICATE_RECORD: 'Two envelopes are for the same record; send one envelope per record.',
  KEYS_MIXED_PATIENTS: 'The records belong to different patients; share one patient\'s records per transaction.',
  KEYS_BAD_RECIPIENT: 'Keys can be shared only with an active clinician or organisation; check the recipient key.',
  KEYS_NO_CONSENT: 'The recipient holds no live consent from you that covers every one of these records; grant consent first.',
  KEYS_NOT_CUSTODIAN: 'The patient is not enrolled at your hospital, so your hospital holds no key to release.',
  KEYS_NO_EMERGENCY_WINDOW: 'The recipient has no open emergency access for this patient; the clinician must open emergency access first.',

  // access
  ACCESS_NO_CONSENT: 'The patient has not granted you access to this record; ask the patient for consent.',
  ACCESS_CONSENT_REVOKED: 'The patient revoked the consent that covered this record; ask the patient for a new consent.',
  ACCESS_CONSENT_EXPIRED: 'The consent that covered this record has expired; ask the patient to renew it.',
  ACCESS_PURPOSE_MISMATCH: 'Your consent from this patient is for another purpose; request access with the purpose you were granted.',
  ACCESS_OUT_OF_SCOPE: 'Your consent does not cover this record, or your role may not read this record type; ask the patient for a consent that does.',

  // governance
  GOV_NOT_VALIDATOR: 'Only a validator of the current set may propose or vote on consortium changes; sign with your validator key.',
  GOV_UNKNOWN_HOSPITAL: 'A new validator must be operated by an active hospital; name the hospital\'s key.',
  GOV_BAD_POWER: 'Validator power must be an integer from 1 to 65535.',
  GOV_NOT_IN_SET: 'This key is not in the current validator set; check the validator key.',
  GOV_LAST_VALIDATOR: 'The last validator cannot be removed; add another validator first.',
  GOV_SET_FULL: 'The validator set already has the maximum number of validators; remove one first.',
  GOV_UNKNOWN_PROPOSAL: 'No proposal with this id exists; check the proposal id.',
  GOV_PROPOSAL_CLOSED: 'This proposal is already decided; open a new proposal if needed.',
  GOV_ALREADY_VOTED: 'You already voted on this proposal; each validator votes once.',
  GOV_REMOVAL_BREAKS_QUORUM: 'After this removal the validators seen online recently would hold less than 2/3 of the remaining power and the chain would halt; bring the offline validators back or remove them first.',

  // evidence
  EVIDENCE_MALFORMED: 'The evidence does not contain two well-formed consensus votes.',
  EVIDENCE_WRONG_CHAIN: 'The votes in the evidence are not for this chain.',
  EVIDENCE_NOT_CONFLICTING: 'The two votes are not a double-sign: they must be by one validator for the same height, round and type, for different blocks.',
  EVIDENCE_BAD_SIGNATURE: 'A vote in the evidence does not carry a valid signature of its validator.',
  EVIDENCE_UNKNOWN_VALIDATOR: 'The votes are signed by a key that was never a validator of this chain.',
  EVIDENCE_FROM_FUTURE: 'The votes are for a height this chain has not reached yet.',
  EVIDENCE_DUPLICATE: 'This double-sign was already recorded; nothing needs to be done.'
} as const

export type ContractErrorCode = keyof typeof CONTRACT_ERROR_MESSAGES

/** Every code, in the order above (for documentation and exhaustive tests). */
export const CONTRACT_ERROR_CODES = Object.keys(CONTRACT_ERROR_MESSAGES) as ContractErrorCode[]

export type ContractErrorType = { code: ContractErrorCode, detail?: string }

export class ContractError extends MedchainError<ContractErrorType> {}

export function contractError (code: ContractErrorCode, detail?: string): ContractError {
  return new ContractError(detail === undefined ? { code } : { code, detail }, CONTRACT_ERROR_MESSAGES[code])
}
