/**
 * The shared fixture of the contract tests: a four-hospital consortium (one validator each) where
 * hospital A has registered a doctor, a nurse and one organisation of each kind, hospital B a
 * doctor, and A's doctor has enrolled two patients and anchored records for them.
 *
 * Built once per test file; every case runs on a clone.
 */
import { TxType, ValidatorAction, type TxPayload } from '../../../src/types/tx.js'
import { signVote, VoteType, encodeVote } from '../../../src/types/vote.js'
import { bytes32 } from '../../utils/factories.js'
import { ClinicianRole, DAY_MS, key, OrganizationKind, pk, Purpose, TestChain } from './harness.js'

export const HOSPITALS = ['hospital-a', 'hospital-b', 'hospital-c', 'hospital-d']

export type Role = 'hospital' | 'doctor' | 'nurse' | 'pharmacy' | 'lab' | 'insurer' | 'researcher' | 'patient' | 'validator'
export const ROLES: readonly Role[] = ['hospital', 'doctor', 'nurse', 'pharmacy', 'lab', 'insurer', 'researcher', 'patient', 'validator']

/** The key that signs for each role in the table. */
export const ROLE_SIGNER: Record<Role, string> = {
  hospital: 'hospital-a',
  doctor: 'doctor',
  nurse: 'nurse',
  pharmacy: 'pharmacy',
  lab: 'lab',
  insurer: 'insurer',
  researcher: 'researcher',
  patient: 'patient',
  validator: 'hospital-a/validator'
}

/** The purpose each role naturally requests access with. */
export const ROLE_PURPOSE: Record<Role, Purpose> = {
  hospital: Purpose.Treatment,
  doctor: Purpose.Treatment,
  nurse: Purpose.Treatment,
  pharmacy: Purpose.Pharmacy,
  lab: Purpose.Treatment,
  insurer: Purpose.Insurance,
  researcher: Purpose.Research,
  patient: Purpose.Treatment,
  validator: Purpose.Treatment
}

export function buildWorld (): TestChain {
  const w = TestChain.withHospitals(HOSPITALS)
  // block 1: hospital A registers its staff and partners, hospital B a doctor
  w.registerClinician('hospital-a', 'doctor', ClinicianRole.Doctor)
  w.registerClinician('hospital-a', 'nurse', ClinicianRole.Nurse)
  w.registerOrganization('hospital-a', 'pharmacy', OrganizationKind.Pharmacy)
  w.registerOrganization('hospital-a', 'lab', OrganizationKind.Lab)
  w.registerOrganization('hospital-a', 'insurer', OrganizationKind.Insurer)
  w.registerOrganization('hospital-a', 'researcher', OrganizationKind.Researcher)
  w.registerClinician('hospital-b', 'doctor-b', ClinicianRole.Doctor)
  w.commitBlock()
  // block 2: patients
  w.enrol('doctor', 'patient')
  w.enrol('doctor', 'patient-2')
  w.commitBlock()
  // block 3: records, one consent, one open governance proposal
  w.anchor('doctor', 'patient', 'Observation', 'obs')
  w.anchor('doctor', 'patient', 'DiagnosticReport', 'report')
  w.anchor('doctor', 'patient', 'MedicationRequest', 'rx')
  w.anchor('doctor', 'patient', 'Claim', 'claim')
  w.anchor('doctor', 'patient-2', 'Observation', 'obs-2')
  w.grant('patient', 'doctor-b', { purpose: Purpose.Treatment, recordTypes: ['Encounter'], expiresAt: w.timestamp + 365 * DAY_MS }, 'grant-b')
  const proposal = w.ok('hospital-b/validator', { type: TxType.ProposeValidator, action: ValidatorAction.Add, validator: pk('pending-validator'), hospital: pk('hospital-b'), power: 1 })
  w.ids.set('open-proposal', proposal.tx.hash)
  w.commitBlock()
  return w
}

/** Two conflicting prevotes of `validator` at (height, round): a real double-sign. */
export function doubleSign (validator: string, height = 1, round = 0, chainId = 'medchain-test'): { voteA: Uint8Array, voteB: Uint8Array } {
  const base = { chainId, type: VoteType.Prevote, height, round, validator: pk(validator) }
  return {
    voteA: encodeVote(signVote({ ...base, blockHash: bytes32(`block-a/${height}/${round}`) }, key(validator))),
    voteB: encodeVote(signVote({ ...base, blockHash: bytes32(`block-b/${height}/${round}`) }, key(validator)))
  }
}

/** Removes `validator` from the set by a governance vote of three other validators; two blocks. */
export function removeValidatorByVote (w: TestChain, validator: string, voters: [string, string, string]): void {
  const r = w.ok(voters[0], { type: TxType.ProposeValidator, action: ValidatorAction.Remove, validator: pk(validator), power: 0 })
  w.ok(voters[1], { type: TxType.Vote, proposalId: r.tx.hash, approve: true })
  w.ok(voters[2], { type: TxType.Vote, proposalId: r.tx.hash, approve: true })
  w.commitBlock()
  w.commitBlock()
}

export function deactivate (w: TestChain, by: string, target: string): void {
  w.ok(by, { type: TxType.Deactivate, target: pk(target), reason: 'test' })
}

export type TxName = Exclude<keyof typeof TxType, never>
export const TX_NAMES = Object.keys(TxType) as TxName[]

/** The payload each tx type is tried with in the base state of the table. */
export const BASE_PAYLOAD: Record<TxName, (w: TestChain, role: Role) => TxPayload> = {
  RegisterHospital: () => ({ type: TxType.RegisterHospital, publicKey: pk('new-hospital'), name: 'New Hospital' }),
  RegisterClinician: () => ({ type: TxType.RegisterClinician, publicKey: pk('new-clinician'), name: 'Dr New', role: ClinicianRole.Doctor }),
  RegisterOrganization: () => ({ type: TxType.RegisterOrganization, publicKey: pk('new-org'), name: 'New Lab', kind: OrganizationKind.Lab }),
  EnrolPatient: () => ({ type: TxType.EnrolPatient, publicKey: pk('new-patient') }),
  Deactivate: () => ({ type: TxType.Deactivate, target: pk('nurse'), reason: 'left the hospital' }),
  AnchorRecord: () => ({
    type: TxType.AnchorRecord,
    patient: pk('patient'),
    resourceType: 'Observation',
    contentHash: bytes32('new-record'),
    size: 2048,
    blobRef: 'blob/new-record',
    envelopes: [{ recipient: pk('patient'), wrappedKey: bytes32('wrapped') }]
  }),
  Grant: (w) => ({ type: TxType.Grant, grantee: pk('doctor-b'), recordTypes: ['*'], recordIds: [], purpose: Purpose.Treatment, expiresAt: w.timestamp + 7 * DAY_MS, envelopes: [] }),
  Revoke: (w) => ({ type: TxType.Revoke, grantId: w.id('grant-b') }),
  EmergencyAccess: () => ({ type: TxType.EmergencyAccess, patient: pk('patient'), reason: 'unconscious in the emergency room' }),
  AccessRecord: (w, role) => ({ type: TxType.AccessRecord, recordId: w.id('obs'), purpose: ROLE_PURPOSE[role] }),
  ProposeValidator: () => ({ type: TxType.ProposeValidator, action: ValidatorAction.Add, validator: pk('new-validator'), hospital: pk('hospital-a'), power: 1 }),
  Vote: (w) => ({ type: TxType.Vote, proposalId: w.id('open-proposal'), approve: true }),
  Evidence: () => ({ type: TxType.Evidence, ...doubleSign('hospital-c/validator') }),
  ShareKeys: (w) => ({ type: TxType.ShareKeys, recipient: pk('doctor-b'), envelopes: [{ recordId: w.id('obs'), wrappedKey: bytes32('shared-key') }] })
}

/** Who may do what in the base state (every signer active, no consent except grant-b to doctor-b). */
export function baseExpectation (tx: TxName, role: Role): string {
  const clinician = role === 'doctor' || role === 'nurse'
  switch (tx) {
    case 'RegisterHospital': return role === 'validator' ? 'OK' : 'GOV_NOT_VALIDATOR'
    case 'RegisterClinician':
    case 'RegisterOrganization': return role === 'hospital' ? 'OK' : 'REGISTRY_NOT_HOSPITAL'
    case 'EnrolPatient': return clinician ? 'OK' : 'REGISTRY_NOT_CLINICIAN'
    case 'Deactivate': return role === 'hospital' ? 'OK' : 'REGISTRY_NOT_REGISTRAR'
    case 'AnchorRecord': return clinician ? 'OK' : 'RECORD_NOT_CLINICIAN'
    case 'Grant': return role === 'patient' ? 'OK' : 'CONSENT_NOT_PATIENT'
    case 'Revoke': return role === 'patient' ? 'OK' : 'CONSENT_NOT_GRANTOR'
    case 'EmergencyAccess': return clinician ? 'OK' : 'EMERGENCY_NOT_CLINICIAN'
    // the record 'obs' was anchored by the doctor for the patient; nobody else holds consent to it
    case 'AccessRecord': return role === 'doctor' || role === 'patient' ? 'OK' : 'ACCESS_NO_CONSENT'
    case 'ProposeValidator':
    case 'Vote': return role === 'validator' ? 'OK' : 'GOV_NOT_VALIDATOR'
    case 'Evidence': return 'OK'
    // grant-b covers only Encounter records, not 'obs'; the hospital holds the patient's records but doctor-b opened no emergency window
    case 'ShareKeys': return role === 'patient' ? 'KEYS_NO_CONSENT' : role === 'hospital' ? 'KEYS_NO_EMERGENCY_WINDOW' : 'KEYS_NOT_AUTHORISED'
  }
}
