/**
 * The rules table: (signer role × transaction type × relationship/consent state) → result code,
 * generated and asserted in a loop. Every (role, tx type) cell is tried in the base state, with the
 * signer deactivated, and (for clinicians and organisations) with the signer's hospital
 * deactivated; the consent, record, registry and governance states that matter add rows.
 *
 * For every row it also checks: a refusal changes no state value (byte for byte; the harness checks
 * this on every transaction and the loop asserts it again), and the audit trail gets exactly one
 * entry, filed under the right patient with the right actor, action, result and emergency flag,
 * when the transaction names a known patient, and none otherwise.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { SMALL_ORDER_KEYS_HEX } from '../../../src/crypto/ed25519.js'
import { equalBytes, fromHex } from '../../../src/crypto/bytes.js'
import { TxType, ValidatorAction, type TxPayload } from '../../../src/types/tx.js'
import {
  getKeyEnvelope, EMERGENCY_WINDOW_MS, EntityKind, getEntity, getGrant, getRecord, MAX_LIVE_GRANTS_PER_GRANTEE
} from '../../../src/contracts/index.js'
import { bytes32 } from '../../utils/factories.js'
import { BLOCK_MS, ClinicianRole, DAY_MS, OrganizationKind, pk, Purpose, type Submitted, type TestChain } from './harness.js'
import {
  BASE_PAYLOAD, baseExpectation, buildWorld, deactivate, doubleSign, removeValidatorByVote, ROLE_PURPOSE, ROLE_SIGNER, ROLES,
  TX_NAMES, type Role, type TxName
} from './world.js'

interface Case {
  tx: TxName
  role: Role
  state: string
  setup?: (w: TestChain) => void
  /** Overrides the role's default signer (e.g. the doctor of hospital B). */
  signer?: string
  payload?: (w: TestChain) => TxPayload
  expect: string
  /** Expected emergency flag of the audit entry of an AccessRecord. */
  emergency?: boolean
  check?: (w: TestChain, r: Submitted) => void
}

const BAD_KEY = fromHex(SMALL_ORDER_KEYS_HEX[0] as string)
const AFFILIATED: readonly Role[] = ['doctor', 'nurse', 'pharmacy', 'lab', 'insurer', 'researcher']

/** Makes the role's signer inactive the way the rules allow. */
function deactivateSigner (role: Role): (w: TestChain) => void {
  return (w) => {
    if (role === 'hospital') deactivate(w, 'hospital-a', 'hospital-a')
    else if (role === 'validator') removeValidatorByVote(w, 'hospital-a/validator', ['hospital-b/validator', 'hospital-c/validator', 'hospital-d/validator'])
    else deactivate(w, 'hospital-a', ROLE_SIGNER[role])
    w.commitBlock()
  }
}

const cases: Case[] = []

// 1. every (role, tx type) cell: base state, signer deactivated, signer's hospital deactivated
for (const role of ROLES) {
  for (const tx of TX_NAMES) {
    cases.push({ tx, role, state: 'base', expect: baseExpectation(tx, role) })
    cases.push({ tx, role, state: 'signer deactivated', setup: deactivateSigner(role), expect: 'SENDER_INACTIVE' })
    if (AFFILIATED.includes(role)) {
      cases.push({ tx, role, state: 'signer\'s hospital deactivated', setup: (w) => { deactivate(w, 'hospital-a', 'hospital-a'); w.commitBlock() }, expect: 'SENDER_INACTIVE' })
    }
  }
}

// 2. AccessRecord under every consent state, for every role that can hold consent
const GRANTEE_ROLES: readonly Role[] = ['nurse', 'pharmacy', 'lab', 'insurer', 'researcher']
/** A record of the patient each role may read under consent. */
const READABLE: Record<string, string> = { nurse: 'obs', pharmacy: 'rx', lab: 'report', insurer: 'claim', researcher: 'obs' }
/** Another record of the patient (not READABLE), and whether the role may read its type under "*". */
const OTHER: Record<string, { record: string, readable: boolean }> = {
  nurse: { record: 'report', readable: true },
  pharmacy: { record: 'report', readable: false }, // a pharmacy never sees a DiagnosticReport, even with "*"
  lab: { record: 'rx', readable: false },
  insurer: { record: 'obs', readable: false },
  researcher: { record: 'claim', readable: true }
}
const WRONG_PURPOSE: Record<string, Purpose> = { nurse: Purpose.Research, pharmacy: Purpose.Treatment, lab: Purpose.Insurance, insurer: Purpose.Pharmacy, researcher: Purpose.Treatment }

function accessPayload (record: string, purpose: Purpose): (w: TestChain) => TxPayload {
  return (w) => ({ type: TxType.AccessRecord, recordId: w.id(record), purpose })
}

for (const role of GRANTEE_ROLES) {
  const grantee = ROLE_SIGNER[role]
  const purpose = ROLE_PURPOSE[role]
  const readable = READABLE[role] as string
  const other = OTHER[role] as { record: string, readable: boolean }
  const access = accessPayload(readable, purpose)
  const grant = (w: TestChain, opts: { recordTypes?: string[], recordIds?: Uint8Array[], expiresAt?: number, purpose?: Purpose }, name = 'g'): void => {
    w.grant('patient', grantee, { purpose: opts.purpose ?? purpose, ...opts }, name)
  }
  const row = (state: string, setup: (w: TestChain) => void, expect: string, payload = access): void => {
    cases.push({ tx: 'AccessRecord', role, state, setup, payload, expect })
  }
  row('live grant "*"', (w) => grant(w, { recordTypes: ['*'] }), 'OK')
  row('live grant naming the record id', (w) => grant(w, { recordIds: [w.id(readable)] }), 'OK')
  row('live grant naming the record type', (w) => { grant(w, { recordTypes: [getRecord(w.state, w.id(readable))?.resourceType as string] }) }, 'OK')
  row('live grant for another record type', (w) => grant(w, { recordTypes: ['Encounter'] }), 'ACCESS_OUT_OF_SCOPE')
  row('live grant naming another record id', (w) => grant(w, { recordIds: [w.id(other.record)] }), 'ACCESS_OUT_OF_SCOPE')
  row('live grant "*", record type outside the role', (w) => grant(w, { recordTypes: ['*'] }), other.readable ? 'OK' : 'ACCESS_OUT_OF_SCOPE', accessPayload(other.record, purpose))
  row('live grant naming a record id whose type is outside the role', (w) => grant(w, { recordIds: [w.id(other.record)] }), other.readable ? 'OK' : 'ACCESS_OUT_OF_SCOPE', accessPayload(other.record, purpose))
  row('live grant "*", access for another purpose', (w) => grant(w, { recordTypes: ['*'] }), 'ACCESS_PURPOSE_MISMATCH', accessPayload(readable, WRONG_PURPOSE[role] as Purpose))
  row('grant revoked in an earlier block', (w) => {
    grant(w, { recordTypes: ['*'] })
    w.commitBlock()
    w.ok('patient', { type: TxType.Revoke, grantId: w.id('g') })
    w.commitBlock()
  }, 'ACCESS_CONSENT_REVOKED')
  row('grant revoked earlier in the same block', (w) => {
    grant(w, { recordTypes: ['*'] })
    w.commitBlock()
    w.ok('patient', { type: TxType.Revoke, grantId: w.id('g') })
  }, 'ACCESS_CONSENT_REVOKED')
  row('grant expiring 1 ms after this block, no tx since', (w) => {
    const expiresAt = w.timestamp + 10 * BLOCK_MS
    grant(w, { recordTypes: ['*'], expiresAt })
    w.commitBlock()
    w.commitBlockAt(expiresAt - 1)
  }, 'OK')
  row('grant expiring exactly at this block, no tx since', (w) => {
    const expiresAt = w.timestamp + 10 * BLOCK_MS
    grant(w, { recordTypes: ['*'], expiresAt })
    w.commitBlock()
    w.commitBlockAt(expiresAt)
  }, 'ACCESS_CONSENT_EXPIRED')
  row('revoked grant and a live grant for another purpose', (w) => {
    grant(w, { recordTypes: ['*'] }, 'g1')
    w.ok('patient', { type: TxType.Revoke, grantId: w.id('g1') })
    grant(w, { recordTypes: ['*'] }, 'g2')
    w.commitBlock()
  }, 'ACCESS_PURPOSE_MISMATCH', accessPayload(readable, WRONG_PURPOSE[role] as Purpose))
  row('revoked grant and an expired grant', (w) => {
    grant(w, { recordTypes: ['*'] }, 'g1')
    w.ok('patient', { type: TxType.Revoke, grantId: w.id('g1') })
    grant(w, { recordTypes: ['*'], expiresAt: w.timestamp + BLOCK_MS }, 'g2')
    w.commitBlock()
  }, 'ACCESS_CONSENT_EXPIRED')
  row('live grant "*" from another patient only', (w) => { w.grant('patient-2', grantee, { purpose, recordTypes: ['*'] }, 'g') }, 'ACCESS_NO_CONSENT')
  row('live grant, grantee deactivated', (w) => {
    grant(w, { recordTypes: ['*'] })
    deactivate(w, 'hospital-a', grantee)
    w.commitBlock()
  }, 'SENDER_INACTIVE')
  row('live grant, grantee\'s hospital deactivated', (w) => {
    grant(w, { recordTypes: ['*'] })
    deactivate(w, 'hospital-a', 'hospital-a')
    w.commitBlock()
  }, 'SENDER_INACTIVE')
}

// emergency (break-glass) windows: clinicians only
for (const [role, signer] of [['nurse', 'nurse'], ['doctor', 'doctor-b']] as Array<[Role, string]>) {
  const open = (w: TestChain): void => { w.ok(signer, { type: TxType.EmergencyAccess, patient: pk('patient'), reason: 'cardiac arrest' }); w.commitBlock() }
  const access = accessPayload('report', Purpose.Treatment)
  // doctor-b also holds grant-b (Encounter only) from the patient: without the window its refusal is the more specific one
  const refused = signer === 'doctor-b' ? 'ACCESS_OUT_OF_SCOPE' : 'ACCESS_NO_CONSENT'
  cases.push({ tx: 'AccessRecord', role, signer, state: 'emergency window open', setup: open, payload: access, expect: 'OK', emergency: true })
  cases.push({
    tx: 'AccessRecord', role, signer, state: 'emergency window in its last millisecond', payload: access, expect: 'OK', emergency: true,
    setup: (w) => { const t = w.timestamp; open(w); w.commitBlockAt(t + EMERGENCY_WINDOW_MS - 1) }
  })
  cases.push({
    tx: 'AccessRecord', role, signer, state: 'emergency window closed by itself (24 h, no tx)', payload: access, expect: refused,
    setup: (w) => { const t = w.timestamp; open(w); w.commitBlockAt(t + EMERGENCY_WINDOW_MS) }
  })
  cases.push({
    tx: 'AccessRecord', role, signer, state: 'emergency window re-opened after it closed', payload: access, expect: 'OK', emergency: true,
    setup: (w) => { const t = w.timestamp; open(w); w.commitBlockAt(t + EMERGENCY_WINDOW_MS + 5); open(w) }
  })
  cases.push({
    tx: 'AccessRecord', role, signer, state: 'emergency window open and a live grant (grant used, no flag)', payload: access, expect: 'OK', emergency: false,
    setup: (w) => { w.grant('patient', signer, { purpose: Purpose.Treatment, recordTypes: ['*'] }, 'g'); open(w) }
  })
  cases.push({
    tx: 'AccessRecord', role, signer, state: 'emergency window for another patient', payload: access, expect: refused,
    setup: (w) => { w.ok(signer, { type: TxType.EmergencyAccess, patient: pk('patient-2'), reason: 'fall' }); w.commitBlock() }
  })
  cases.push({
    tx: 'AccessRecord', role, signer, state: 'emergency window open, clinician deactivated', payload: access, expect: 'SENDER_INACTIVE',
    setup: (w) => { open(w); deactivate(w, signer === 'nurse' ? 'hospital-a' : 'hospital-b', signer); w.commitBlock() }
  })
}

// other AccessRecord rows
cases.push({ tx: 'AccessRecord', role: 'patient', signer: 'patient-2', state: 'another patient\'s record', expect: 'ACCESS_NO_CONSENT' })
cases.push({ tx: 'AccessRecord', role: 'doctor', signer: 'doctor-b', state: 'grant covers another type only', expect: 'ACCESS_OUT_OF_SCOPE' })
cases.push({ tx: 'AccessRecord', role: 'doctor', state: 'record does not exist', payload: () => ({ type: TxType.AccessRecord, recordId: bytes32('no such record'), purpose: Purpose.Treatment }), expect: 'RECORD_NOT_FOUND' })
cases.push({ tx: 'AccessRecord', role: 'patient', state: 'own record, after the record was amended', setup: (w) => { w.ok('doctor', { ...BASE_PAYLOAD.AnchorRecord(w, 'doctor'), supersedes: w.id('obs') } as TxPayload) }, expect: 'OK' })
cases.push({ tx: 'AccessRecord', role: 'doctor', state: 'author of a record of a patient deactivated since', setup: (w) => deactivate(w, 'hospital-a', 'patient'), expect: 'OK' })

// ShareKeys: the patient to a grantee, the custodian hospital to a break-glass clinician
const share = (recipient: string, records: string[]) => (w: TestChain): TxPayload =>
  ({ type: TxType.ShareKeys, recipient: pk(recipient), envelopes: records.map((r) => ({ recordId: w.id(r), wrappedKey: bytes32(`key-${r}`) })) })
const openWindow = (clinician: string, patient = 'patient') => (w: TestChain): void => { w.ok(clinician, { type: TxType.EmergencyAccess, patient: pk(patient), reason: 'unconscious' }); w.commitBlock() }
const grantObs = (grantee: string, purpose: Purpose) => (w: TestChain): void => { w.grant('patient', grantee, { purpose, recordTypes: ['*'] }, 'g'); w.commitBlock() }
const shareRows: Array<Omit<Case, 'tx'>> = [
  { role: 'patient', state: 'to a grantee whose live grant covers the records', setup: grantObs('doctor-b', Purpose.Treatment), payload: share('doctor-b', ['obs', 'report']), expect: 'OK',
    check: (w) => { assert.ok(getKeyEnvelope(w.state, w.id('obs'), pk('doctor-b'), w.timestamp)?.source === 'share') } },
  { role: 'patient', state: 'to a pharmacy, a record type its role may not read', setup: grantObs('pharmacy', Purpose.Pharmacy), payload: share('pharmacy', ['report']), expect: 'KEYS_NO_CONSENT' },
  { role: 'patient', state: 'to a pharmacy, a prescription', setup: grantObs('pharmacy', Purpose.Pharmacy), payload: share('pharmacy', ['rx']), expect: 'OK' },
  { role: 'patient', state: 'to a grantee whose grant was revoked', setup: (w) => { grantObs('doctor-b', Purpose.Treatment)(w); w.ok('patient', { type: TxType.Revoke, grantId: w.id('g') }) }, payload: share('doctor-b', ['obs']), expect: 'KEYS_NO_CONSENT' },
  { role: 'patient', signer: 'patient-2', state: 'another patient\'s records', setup: grantObs('doctor-b', Purpose.Treatment), payload: share('doctor-b', ['obs']), expect: 'KEYS_NOT_AUTHORISED' },
  { role: 'patient', state: 'records of two patients', setup: grantObs('doctor-b', Purpose.Treatment), payload: share('doctor-b', ['obs', 'obs-2']), expect: 'KEYS_MIXED_PATIENTS' },
  { role: 'patient', state: 'the same record twice', setup: grantObs('doctor-b', Purpose.Treatment), payload: share('doctor-b', ['obs', 'obs']), expect: 'KEYS_DUPLICATE_RECORD' },
  { role: 'patient', state: 'no envelope', payload: share('doctor-b', []), expect: 'KEYS_EMPTY' },
  { role: 'patient', state: 'an unknown record', payload: (w) => ({ ...share('doctor-b', ['obs'])(w), envelopes: [{ recordId: bytes32('nothing'), wrappedKey: bytes32('k') }] } as TxPayload), expect: 'RECORD_NOT_FOUND' },
  { role: 'patient', state: 'to another patient', payload: share('patient-2', ['obs']), expect: 'KEYS_BAD_RECIPIENT' },
  { role: 'hospital', state: 'to a clinician with an open emergency window', setup: openWindow('doctor-b'), payload: share('doctor-b', ['obs']), expect: 'OK', emergency: true,
    check: (w) => { assert.ok(getKeyEnvelope(w.state, w.id('obs'), pk('doctor-b'), w.timestamp)?.source === 'share') } },
  { role: 'hospital', state: 'emergency window closed by itself', setup: (w) => { const t = w.timestamp; openWindow('doctor-b')(w); w.commitBlockAt(t + EMERGENCY_WINDOW_MS + 1) }, payload: share('doctor-b', ['obs']), expect: 'KEYS_NO_EMERGENCY_WINDOW' },
  { role: 'hospital', state: 'window for another patient', setup: openWindow('doctor-b', 'patient-2'), payload: share('doctor-b', ['obs']), expect: 'KEYS_NO_EMERGENCY_WINDOW' },
  { role: 'hospital', state: 'to a pharmacy (no break-glass for organisations)', payload: share('pharmacy', ['rx']), expect: 'KEYS_NO_EMERGENCY_WINDOW' },
  { role: 'hospital', signer: 'hospital-b', state: 'patient not enrolled there', setup: openWindow('doctor-b'), payload: share('doctor-b', ['obs']), expect: 'KEYS_NOT_CUSTODIAN' },
  { role: 'doctor', state: 'the author, not the patient', setup: grantObs('doctor-b', Purpose.Treatment), payload: share('doctor-b', ['obs']), expect: 'KEYS_NOT_AUTHORISED' }
]
for (const row of shareRows) cases.push({ tx: 'ShareKeys', ...row })

// 3. AnchorRecord states
const anchor = (patch: Record<string, unknown>): ((w: TestChain) => TxPayload) => (w) => ({ ...BASE_PAYLOAD.AnchorRecord(w, 'doctor'), ...patch } as TxPayload)
const anchorRows: Array<Omit<Case, 'tx'>> = [
  { role: 'doctor', signer: 'doctor-b', state: 'patient not enrolled at the clinician\'s hospital, no grant', expect: 'RECORD_NOT_AUTHORISED' },
  { role: 'doctor', signer: 'doctor-b', state: 'treatment grant covering the type', setup: (w) => { w.grant('patient', 'doctor-b', { purpose: Purpose.Treatment, recordTypes: ['Observation'] }, 'g') }, expect: 'OK' },
  { role: 'doctor', signer: 'doctor-b', state: 'treatment grant "*"', setup: (w) => { w.grant('patient', 'doctor-b', { purpose: Purpose.Treatment, recordTypes: ['*'] }, 'g') }, expect: 'OK' },
  { role: 'doctor', signer: 'doctor-b', state: 'treatment grant for another type', expect: 'RECORD_NOT_AUTHORISED' },
  { role: 'doctor', signer: 'doctor-b', state: 'treatment grant naming record ids only', setup: (w) => { w.grant('patient', 'doctor-b', { purpose: Purpose.Treatment, recordIds: [w.id('obs')] }, 'g') }, expect: 'RECORD_NOT_AUTHORISED' },
  {
    role: 'doctor', signer: 'doctor-b', state: 'treatment grant expired', expect: 'RECORD_NOT_AUTHORISED',
    setup: (w) => { const e = w.timestamp + 2 * BLOCK_MS; w.grant('patient', 'doctor-b', { purpose: Purpose.Treatment, recordTypes: ['*'], expiresAt: e }, 'g'); w.commitBlockAt(e) }
  },
  {
    role: 'doctor', signer: 'doctor-b', state: 'treatment grant revoked', expect: 'RECORD_NOT_AUTHORISED',
    setup: (w) => { w.grant('patient', 'doctor-b', { purpose: Purpose.Treatment, recordTypes: ['*'] }, 'g'); w.ok('patient', { type: TxType.Revoke, grantId: w.id('g') }) }
  },
  {
    role: 'doctor', signer: 'doctor-b', state: 'treatment grant, clinician deactivated since', expect: 'SENDER_INACTIVE',
    setup: (w) => { w.grant('patient', 'doctor-b', { purpose: Purpose.Treatment, recordTypes: ['*'] }, 'g'); deactivate(w, 'hospital-b', 'doctor-b') }
  },
  { role: 'doctor', signer: 'doctor-b', state: 'patient also enrolled at the clinician\'s hospital', setup: (w) => w.enrol('doctor-b', 'patient'), expect: 'OK' },
  { role: 'nurse', state: 'resource type not FHIR-like', payload: anchor({ resourceType: 'observation' }), expect: 'RECORD_BAD_TYPE' },
  { role: 'doctor', state: 'resource type with a digit', payload: anchor({ resourceType: 'Observation2' }), expect: 'RECORD_BAD_TYPE' },
  { role: 'doctor', state: 'size exactly 1 GiB', payload: anchor({ size: 1024 ** 3 }), expect: 'OK' },
  { role: 'doctor', state: 'size 1 GiB + 1', payload: anchor({ size: 1024 ** 3 + 1 }), expect: 'RECORD_TOO_LARGE' },
  { role: 'doctor', state: 'no envelope for the patient', payload: anchor({ envelopes: [{ recipient: pk('doctor'), wrappedKey: bytes32('k') }] }), expect: 'RECORD_NO_PATIENT_ENVELOPE' },
  { role: 'doctor', state: 'no envelope at all', payload: anchor({ envelopes: [] }), expect: 'RECORD_NO_PATIENT_ENVELOPE' },
  { role: 'doctor', state: 'two envelopes for one recipient', payload: anchor({ envelopes: [{ recipient: pk('patient'), wrappedKey: bytes32('k1') }, { recipient: pk('patient'), wrappedKey: bytes32('k2') }] }), expect: 'RECORD_DUPLICATE_ENVELOPE' },
  { role: 'doctor', state: 'envelopes for the patient and the author', payload: anchor({ envelopes: [{ recipient: pk('patient'), wrappedKey: bytes32('k1') }, { recipient: pk('doctor'), wrappedKey: bytes32('k2') }] }), expect: 'OK' },
  { role: 'doctor', state: 'patient unknown', payload: anchor({ patient: pk('stranger'), envelopes: [{ recipient: pk('stranger'), wrappedKey: bytes32('k') }] }), expect: 'RECORD_UNKNOWN_PATIENT' },
  { role: 'doctor', state: 'patient is a clinician', payload: anchor({ patient: pk('nurse'), envelopes: [{ recipient: pk('nurse'), wrappedKey: bytes32('k') }] }), expect: 'RECORD_UNKNOWN_PATIENT' },
  { role: 'doctor', state: 'patient deactivated', setup: (w) => deactivate(w, 'hospital-a', 'patient'), expect: 'RECORD_UNKNOWN_PATIENT' },
  {
    role: 'doctor', state: 'amendment of a record', payload: (w) => anchor({ supersedes: w.id('obs') })(w), expect: 'OK',
    check: (w, r) => {
      const old = getRecord(w.state, w.id('obs'))
      assert.deepEqual(old?.supersededBy, r.audit[0]?.entry.recordId)
      assert.equal(r.changedKeys.length, 2) // the new record and the old record's pointer (the nonce was bumped before)
    }
  },
  { role: 'doctor', state: 'amendment of an unknown record', payload: anchor({ supersedes: bytes32('nothing') }), expect: 'RECORD_NOT_FOUND' },
  { role: 'doctor', state: 'amendment of another patient\'s record', payload: (w) => anchor({ supersedes: w.id('obs-2') })(w), expect: 'RECORD_WRONG_PATIENT' },
  { role: 'doctor', state: 'amendment of a record of another type', payload: (w) => anchor({ supersedes: w.id('report') })(w), expect: 'RECORD_TYPE_MISMATCH' },
  { role: 'doctor', state: 'amendment of an already amended record', setup: (w) => { w.ok('doctor', anchor({ supersedes: w.id('obs') })(w)) }, payload: (w) => anchor({ supersedes: w.id('obs'), contentHash: bytes32('v3') })(w), expect: 'RECORD_ALREADY_SUPERSEDED' }
]
for (const r of anchorRows) cases.push({ tx: 'AnchorRecord', ...r })

// 4. Grant states (signed by the patient)
const grantPayload = (patch: Record<string, unknown>): ((w: TestChain) => TxPayload) => (w) => ({ ...BASE_PAYLOAD.Grant(w, 'patient'), ...patch } as TxPayload)
const grantRows: Array<Omit<Case, 'tx' | 'role'>> = [
  ...([
    ['nurse', Purpose.Treatment, 'OK'], ['nurse', Purpose.Research, 'CONSENT_PURPOSE_NOT_ALLOWED'],
    ['pharmacy', Purpose.Pharmacy, 'OK'], ['pharmacy', Purpose.Treatment, 'CONSENT_PURPOSE_NOT_ALLOWED'],
    ['lab', Purpose.Treatment, 'OK'], ['lab', Purpose.Research, 'CONSENT_PURPOSE_NOT_ALLOWED'],
    ['insurer', Purpose.Insurance, 'OK'], ['insurer', Purpose.Treatment, 'CONSENT_PURPOSE_NOT_ALLOWED'],
    ['researcher', Purpose.Research, 'OK'], ['researcher', Purpose.Insurance, 'CONSENT_PURPOSE_NOT_ALLOWED']
  ] as Array<[string, Purpose, string]>).map(([grantee, purpose, expect]) => ({ state: `grantee ${grantee}, purpose ${purpose}`, payload: grantPayload({ grantee: pk(grantee), purpose }), expect })),
  { state: 'grantee is a hospital', payload: grantPayload({ grantee: pk('hospital-a') }), expect: 'CONSENT_BAD_GRANTEE' },
  { state: 'grantee is a patient', payload: grantPayload({ grantee: pk('patient-2') }), expect: 'CONSENT_BAD_GRANTEE' },
  { state: 'grantee is a validator', payload: grantPayload({ grantee: pk('hospital-a/validator') }), expect: 'CONSENT_BAD_GRANTEE' },
  { state: 'grantee unknown', payload: grantPayload({ grantee: pk('stranger') }), expect: 'CONSENT_BAD_GRANTEE' },
  { state: 'grantee deactivated', setup: (w) => deactivate(w, 'hospital-b', 'doctor-b'), expect: 'CONSENT_BAD_GRANTEE' },
  { state: 'grantee\'s hospital deactivated', setup: (w) => deactivate(w, 'hospital-b', 'hospital-b'), expect: 'CONSENT_BAD_GRANTEE' },
  { state: 'empty scope', payload: grantPayload({ recordTypes: [] }), expect: 'CONSENT_EMPTY_SCOPE' },
  { state: 'scope type not FHIR-like', payload: grantPayload({ recordTypes: ['lab results'] }), expect: 'CONSENT_BAD_RECORD_TYPE' },
  { state: 'scope by own record id', payload: (w) => grantPayload({ recordTypes: [], recordIds: [w.id('obs')] })(w), expect: 'OK' },
  { state: 'scope names another patient\'s record', payload: (w) => grantPayload({ recordIds: [w.id('obs-2')] })(w), expect: 'CONSENT_RECORD_NOT_OWNED' },
  { state: 'scope names an unknown record', payload: grantPayload({ recordIds: [bytes32('nothing')] }), expect: 'CONSENT_RECORD_NOT_OWNED' },
  { state: 'expiry equal to the block time', payload: (w) => grantPayload({ expiresAt: w.timestamp })(w), expect: 'CONSENT_ALREADY_EXPIRED' },
  { state: 'expiry 1 ms after the block time', payload: (w) => grantPayload({ expiresAt: w.timestamp + 1 })(w), expect: 'OK' },
  { state: 'envelope for a record in scope by type', payload: (w) => grantPayload({ recordTypes: ['Observation'], envelopes: [{ recordId: w.id('obs'), wrappedKey: bytes32('k') }] })(w), expect: 'OK' },
  { state: 'envelope for a record out of scope', payload: (w) => grantPayload({ recordTypes: ['Observation'], envelopes: [{ recordId: w.id('rx'), wrappedKey: bytes32('k') }] })(w), expect: 'CONSENT_ENVELOPE_OUT_OF_SCOPE' },
  { state: 'envelope for another patient\'s record under "*"', payload: (w) => grantPayload({ envelopes: [{ recordId: w.id('obs-2'), wrappedKey: bytes32('k') }] })(w), expect: 'CONSENT_ENVELOPE_OUT_OF_SCOPE' },
  {
    state: `grantee already holds ${MAX_LIVE_GRANTS_PER_GRANTEE} live grants`, expect: 'CONSENT_TOO_MANY_GRANTS',
    setup: (w) => { for (let i = 0; i < MAX_LIVE_GRANTS_PER_GRANTEE - 1; i++) w.grant('patient', 'doctor-b', { purpose: Purpose.Treatment, recordTypes: ['*'] }, `g${i}`) }
  },
  {
    state: `grantee holds ${MAX_LIVE_GRANTS_PER_GRANTEE} grants, one revoked (pruned)`, expect: 'OK',
    setup: (w) => {
      for (let i = 0; i < MAX_LIVE_GRANTS_PER_GRANTEE - 1; i++) w.grant('patient', 'doctor-b', { purpose: Purpose.Treatment, recordTypes: ['*'] }, `g${i}`)
      w.ok('patient', { type: TxType.Revoke, grantId: w.id('g3') })
    }
  }
]
for (const r of grantRows) cases.push({ tx: 'Grant', role: 'patient', ...r })

// 5. Revoke, Deactivate, EnrolPatient, registration, emergency, governance states
const more: Case[] = [
  { tx: 'Revoke', role: 'patient', state: 'unknown grant', payload: () => ({ type: TxType.Revoke, grantId: bytes32('nothing') }), expect: 'CONSENT_UNKNOWN_GRANT' },
  { tx: 'Revoke', role: 'patient', state: 'already revoked', setup: (w) => { w.ok('patient', BASE_PAYLOAD.Revoke(w, 'patient')) }, expect: 'CONSENT_ALREADY_REVOKED' },
  { tx: 'Revoke', role: 'patient', signer: 'patient-2', state: 'another patient\'s grant', expect: 'CONSENT_NOT_GRANTOR' },
  { tx: 'Revoke', role: 'patient', state: 'expired grant', setup: (w) => { w.commitBlockAt(w.timestamp + 400 * DAY_MS) }, expect: 'OK' },
  { tx: 'Revoke', role: 'doctor', signer: 'doctor-b', state: 'grantee tries to revoke', expect: 'CONSENT_NOT_GRANTOR' },

  { tx: 'Deactivate', role: 'hospital', state: 'patient enrolled here', payload: () => ({ type: TxType.Deactivate, target: pk('patient'), reason: 'moved away' }), expect: 'OK' },
  { tx: 'Deactivate', role: 'hospital', signer: 'hospital-b', state: 'patient not enrolled here', payload: () => ({ type: TxType.Deactivate, target: pk('patient'), reason: 'x' }), expect: 'REGISTRY_NOT_REGISTRAR' },
  { tx: 'Deactivate', role: 'hospital', signer: 'hospital-b', state: 'patient enrolled here too', setup: (w) => w.enrol('doctor-b', 'patient'), payload: () => ({ type: TxType.Deactivate, target: pk('patient'), reason: 'x' }), expect: 'OK' },
  { tx: 'Deactivate', role: 'hospital', signer: 'hospital-b', state: 'clinician of another hospital', expect: 'REGISTRY_NOT_REGISTRAR' },
  { tx: 'Deactivate', role: 'hospital', state: 'organisation it registered', payload: () => ({ type: TxType.Deactivate, target: pk('pharmacy'), reason: 'contract ended' }), expect: 'OK' },
  { tx: 'Deactivate', role: 'hospital', state: 'itself', payload: () => ({ type: TxType.Deactivate, target: pk('hospital-a'), reason: 'closing' }), expect: 'OK' },
  { tx: 'Deactivate', role: 'hospital', state: 'another hospital', payload: () => ({ type: TxType.Deactivate, target: pk('hospital-b'), reason: 'x' }), expect: 'REGISTRY_NOT_REGISTRAR' },
  { tx: 'Deactivate', role: 'hospital', state: 'its own validator', payload: () => ({ type: TxType.Deactivate, target: pk('hospital-a/validator'), reason: 'x' }), expect: 'REGISTRY_NOT_REGISTRAR' },
  { tx: 'Deactivate', role: 'hospital', state: 'unknown identity', payload: () => ({ type: TxType.Deactivate, target: pk('stranger'), reason: 'x' }), expect: 'REGISTRY_UNKNOWN_IDENTITY' },
  { tx: 'Deactivate', role: 'hospital', state: 'already inactive', setup: (w) => deactivate(w, 'hospital-a', 'nurse'), expect: 'REGISTRY_ALREADY_INACTIVE' },
  { tx: 'Deactivate', role: 'patient', state: 'patient deactivating itself', payload: () => ({ type: TxType.Deactivate, target: pk('patient'), reason: 'x' }), expect: 'REGISTRY_NOT_REGISTRAR' },

  { tx: 'EnrolPatient', role: 'nurse', state: 'patient already enrolled at this hospital', payload: () => ({ type: TxType.EnrolPatient, publicKey: pk('patient') }), expect: 'REGISTRY_ALREADY_ENROLLED' },
  {
    tx: 'EnrolPatient', role: 'doctor', signer: 'doctor-b', state: 'patient enrolled at another hospital', payload: () => ({ type: TxType.EnrolPatient, publicKey: pk('patient') }), expect: 'OK',
    check: (w) => assert.equal(getEntity(w.state, pk('patient'))?.enrolledAt.length, 2)
  },
  { tx: 'EnrolPatient', role: 'doctor', state: 'key registered as a clinician', payload: () => ({ type: TxType.EnrolPatient, publicKey: pk('doctor-b') }), expect: 'REGISTRY_ALREADY_REGISTERED' },
  { tx: 'EnrolPatient', role: 'doctor', state: 'small-order key', payload: () => ({ type: TxType.EnrolPatient, publicKey: BAD_KEY }), expect: 'REGISTRY_BAD_KEY' },
  { tx: 'EnrolPatient', role: 'doctor', signer: 'doctor-b', state: 'patient deactivated', setup: (w) => deactivate(w, 'hospital-a', 'patient'), payload: () => ({ type: TxType.EnrolPatient, publicKey: pk('patient') }), expect: 'REGISTRY_PATIENT_INACTIVE' },

  { tx: 'RegisterClinician', role: 'hospital', state: 'key already registered as a patient', payload: () => ({ type: TxType.RegisterClinician, publicKey: pk('patient'), name: 'x', role: ClinicianRole.Nurse }), expect: 'REGISTRY_ALREADY_REGISTERED' },
  { tx: 'RegisterClinician', role: 'hospital', state: 'small-order key', payload: () => ({ type: TxType.RegisterClinician, publicKey: BAD_KEY, name: 'x', role: ClinicianRole.Nurse }), expect: 'REGISTRY_BAD_KEY' },
  { tx: 'RegisterOrganization', role: 'hospital', state: 'key already registered as a hospital', payload: () => ({ type: TxType.RegisterOrganization, publicKey: pk('hospital-b'), name: 'x', kind: OrganizationKind.Pharmacy }), expect: 'REGISTRY_ALREADY_REGISTERED' },
  { tx: 'RegisterOrganization', role: 'hospital', state: 'small-order key', payload: () => ({ type: TxType.RegisterOrganization, publicKey: BAD_KEY, name: 'x', kind: OrganizationKind.Pharmacy }), expect: 'REGISTRY_BAD_KEY' },
  { tx: 'RegisterHospital', role: 'validator', state: 'key already registered', payload: () => ({ type: TxType.RegisterHospital, publicKey: pk('doctor'), name: 'x' }), expect: 'REGISTRY_ALREADY_REGISTERED' },
  { tx: 'RegisterHospital', role: 'validator', state: 'small-order key', payload: () => ({ type: TxType.RegisterHospital, publicKey: BAD_KEY, name: 'x' }), expect: 'REGISTRY_BAD_KEY' },

  { tx: 'EmergencyAccess', role: 'doctor', signer: 'doctor-b', state: 'patient not enrolled at the clinician\'s hospital', expect: 'OK' },
  { tx: 'EmergencyAccess', role: 'doctor', state: 'patient unknown', payload: () => ({ type: TxType.EmergencyAccess, patient: pk('stranger'), reason: 'x' }), expect: 'EMERGENCY_UNKNOWN_PATIENT' },
  { tx: 'EmergencyAccess', role: 'doctor', state: 'patient deactivated', setup: (w) => deactivate(w, 'hospital-a', 'patient'), expect: 'EMERGENCY_UNKNOWN_PATIENT' },

  { tx: 'ProposeValidator', role: 'validator', state: 'power 0', payload: (w) => ({ ...BASE_PAYLOAD.ProposeValidator(w, 'validator'), power: 0 } as TxPayload), expect: 'GOV_BAD_POWER' },
  { tx: 'ProposeValidator', role: 'validator', state: 'power 65536', payload: (w) => ({ ...BASE_PAYLOAD.ProposeValidator(w, 'validator'), power: 65536 } as TxPayload), expect: 'GOV_BAD_POWER' },
  { tx: 'ProposeValidator', role: 'validator', state: 'operating hospital unknown', payload: () => ({ type: TxType.ProposeValidator, action: ValidatorAction.Add, validator: pk('new-validator'), hospital: pk('stranger'), power: 1 }), expect: 'GOV_UNKNOWN_HOSPITAL' },
  { tx: 'ProposeValidator', role: 'validator', state: 'no operating hospital', payload: () => ({ type: TxType.ProposeValidator, action: ValidatorAction.Add, validator: pk('new-validator'), power: 1 }), expect: 'GOV_UNKNOWN_HOSPITAL' },
  { tx: 'ProposeValidator', role: 'validator', state: 'operating hospital deactivated', setup: (w) => deactivate(w, 'hospital-a', 'hospital-a'), expect: 'GOV_UNKNOWN_HOSPITAL' },
  { tx: 'ProposeValidator', role: 'validator', state: 'key already registered', payload: () => ({ type: TxType.ProposeValidator, action: ValidatorAction.Add, validator: pk('nurse'), hospital: pk('hospital-a'), power: 1 }), expect: 'REGISTRY_ALREADY_REGISTERED' },
  { tx: 'ProposeValidator', role: 'validator', state: 'remove a key not in the set', payload: () => ({ type: TxType.ProposeValidator, action: ValidatorAction.Remove, validator: pk('doctor'), power: 0 }), expect: 'GOV_NOT_IN_SET' },
  { tx: 'ProposeValidator', role: 'validator', state: 'remove another validator', payload: () => ({ type: TxType.ProposeValidator, action: ValidatorAction.Remove, validator: pk('hospital-d/validator'), power: 0 }), expect: 'OK' },
  { tx: 'Vote', role: 'validator', state: 'unknown proposal', payload: () => ({ type: TxType.Vote, proposalId: bytes32('nothing'), approve: true }), expect: 'GOV_UNKNOWN_PROPOSAL' },
  { tx: 'Vote', role: 'validator', state: 'already voted', setup: (w) => { w.ok('hospital-a/validator', BASE_PAYLOAD.Vote(w, 'validator')) }, expect: 'GOV_ALREADY_VOTED' },
  { tx: 'Vote', role: 'validator', signer: 'hospital-b/validator', state: 'proposer votes again', expect: 'GOV_ALREADY_VOTED' },
  { tx: 'Vote', role: 'validator', state: 'proposal already rejected', setup: (w) => { for (const v of ['hospital-c/validator', 'hospital-d/validator']) w.ok(v, { ...BASE_PAYLOAD.Vote(w, 'validator'), approve: false } as TxPayload) }, expect: 'GOV_PROPOSAL_CLOSED' },
  { tx: 'Evidence', role: 'patient', state: 'same double-sign recorded before', setup: (w) => { w.ok('doctor', BASE_PAYLOAD.Evidence(w, 'doctor')) }, expect: 'EVIDENCE_DUPLICATE' },
  { tx: 'Evidence', role: 'doctor', state: 'votes not conflicting (different rounds)', payload: () => ({ type: TxType.Evidence, voteA: doubleSign('hospital-c/validator', 1, 0).voteA, voteB: doubleSign('hospital-c/validator', 1, 1).voteB }), expect: 'EVIDENCE_NOT_CONFLICTING' }
]
cases.push(...more)

let cachedWorld: TestChain | undefined
function buildWorldOnce (): TestChain {
  cachedWorld ??= buildWorld()
  return cachedWorld
}

/** The known patient a transaction names (the audit table of src/contracts/audit.ts). */
function namedPatient (w: TestChain, signer: string, payload: TxPayload, code: string): Uint8Array | undefined {
  const isPatient = (k: Uint8Array): boolean => getEntity(w.state, k)?.kind === EntityKind.Patient
  switch (payload.type) {
    case TxType.EnrolPatient: return isPatient(payload.publicKey) || code === 'OK' ? payload.publicKey : undefined
    case TxType.Deactivate: return isPatient(payload.target) ? payload.target : undefined
    case TxType.AnchorRecord: return isPatient(payload.patient) ? payload.patient : undefined
    case TxType.Grant: return isPatient(pk(signer)) ? pk(signer) : undefined
    case TxType.Revoke: return getGrant(w.state, payload.grantId)?.patient
    case TxType.EmergencyAccess: return isPatient(payload.patient) ? payload.patient : undefined
    case TxType.AccessRecord: return getRecord(w.state, payload.recordId)?.patient
    case TxType.ShareKeys: return payload.envelopes[0] === undefined ? undefined : getRecord(w.state, payload.envelopes[0].recordId)?.patient
    default: return undefined
  }
}

describe('access-control rules table', () => {
  const world = buildWorldOnce()

  it('covers every (role, tx type) cell', () => {
    for (const role of ROLES) for (const tx of TX_NAMES) assert.ok(cases.some((c) => c.role === role && c.tx === tx), `${role} × ${tx}`)
    assert.ok(cases.length > 300)
  })

  for (const c of cases) {
    it(`${c.tx} by ${c.signer ?? c.role} [${c.state}] → ${c.expect}`, () => {
      const w = world.clone()
      c.setup?.(w)
      const signer = c.signer ?? ROLE_SIGNER[c.role]
      const payload = (c.payload ?? ((x: TestChain) => BASE_PAYLOAD[c.tx](x, c.role)))(w)
      const patientBefore = namedPatient(w, signer, payload, c.expect)
      const r = w.submit(signer, payload)
      assert.equal(r.receipt.code, c.expect, r.receipt.log)
      assert.equal(typeof r.receipt.log, 'string')
      if (c.expect !== 'OK') assert.deepEqual(r.changedKeys, [], 'a refusal must not change any state value')
      if (c.tx === 'AccessRecord') assert.deepEqual(r.changedKeys, [], 'an access writes nothing but its audit entry')

      // the audit trail
      if (patientBefore === undefined) {
        assert.equal(r.audit.length, 0, 'no audit entry for a transaction naming no known patient')
      } else {
        assert.equal(r.audit.length, 1, 'exactly one audit entry')
        const { patient, entry } = r.audit[0] as Submitted['audit'][number]
        assert.deepEqual(patient, patientBefore)
        assert.deepEqual(entry.patient, patientBefore)
        assert.deepEqual(entry.actor, pk(signer))
        assert.equal(entry.actorKind, getEntity(w.state, pk(signer))?.kind)
        assert.equal(entry.action, payload.type)
        assert.equal(entry.result, c.expect)
        assert.equal(entry.height, w.height)
        assert.deepEqual(entry.txHash, r.tx.hash)
        assert.equal(entry.txIndex, r.ctx.txIndex)
        assert.equal(entry.timestamp, w.timestamp)
        const emergency = payload.type === TxType.EmergencyAccess || (c.emergency === true && c.expect === 'OK')
        assert.equal(entry.emergency, emergency)
        if (payload.type === TxType.AccessRecord) {
          assert.ok(entry.recordId !== undefined && equalBytes(entry.recordId, payload.recordId))
          assert.equal(entry.purpose, payload.purpose)
        }
      }
      c.check?.(w, r)
    })
  }
})
