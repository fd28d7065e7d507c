import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryState } from '../../../src/types/state.js'
import { TxType, type TxPayload } from '../../../src/types/tx.js'
import { GenesisError } from '../../../src/types/genesis.js'
import {
  EntityKind, EntityStatus, executeTx, getEntity, getSenderNonce, getValidatorSet, initGenesisState, ProposalStatus, getProposal,
  setSenderNonce, ContractError, StateKeys
} from '../../../src/contracts/index.js'
import { makeGenesis, makeTx } from '../../utils/factories.js'
import { ClinicianRole, key, OrganizationKind, pk, TestChain } from './harness.js'

/** The registration flow of the hospital app medchain replaces, on a one-validator consortium. */
function hospitalApp (): TestChain {
  return TestChain.withHospitals(['hospital-a'])
}

const registerStMarys: TxPayload = { type: TxType.RegisterHospital, publicKey: pk('st-marys'), name: 'St Mary\'s' }
const registerDoctor: TxPayload = { type: TxType.RegisterClinician, publicKey: pk('dr-house'), name: 'Dr House', role: ClinicianRole.Doctor }
const registerPatient: TxPayload = { type: TxType.EnrolPatient, publicKey: pk('jane') }

describe('registration (the five cases of the hospital app)', () => {
  it('a hospital registers (ok)', () => {
    const w = hospitalApp()
    const r = w.submit('hospital-a/validator', registerStMarys)
    assert.equal(r.receipt.code, 'OK')
    const hospital = getEntity(w.state, pk('st-marys'))
    assert.equal(hospital?.kind, EntityKind.Hospital)
    assert.equal(hospital?.status, EntityStatus.Active)
    assert.equal(hospital?.name, 'St Mary\'s')
    assert.equal(getProposal(w.state, r.tx.hash)?.status, ProposalStatus.Passed)
    assert.ok(r.receipt.events.some((e) => e.kind === 'identity.registered'))
  })

  it('a registered hospital registers a doctor (ok)', () => {
    const w = hospitalApp()
    w.ok('hospital-a/validator', registerStMarys)
    const r = w.submit('st-marys', registerDoctor)
    assert.equal(r.receipt.code, 'OK')
    const doctor = getEntity(w.state, pk('dr-house'))
    assert.equal(doctor?.kind, EntityKind.Clinician)
    assert.equal(doctor?.role, ClinicianRole.Doctor)
    assert.deepEqual(doctor?.hospital, pk('st-marys'))
    assert.deepEqual(doctor?.registeredBy, pk('st-marys'))
  })

  it('a registered doctor registers a patient (ok)', () => {
    const w = hospitalApp()
    w.ok('hospital-a/validator', registerStMarys)
    w.ok('st-marys', registerDoctor)
    const r = w.submit('dr-house', registerPatient)
    assert.equal(r.receipt.code, 'OK')
    const patient = getEntity(w.state, pk('jane'))
    assert.equal(patient?.kind, EntityKind.Patient)
    assert.equal(patient?.name, '', 'no personal data on chain')
    assert.deepEqual(patient?.enrolledAt, [pk('st-marys')])
    assert.equal(r.audit.length, 1)
    assert.equal(r.audit[0]?.entry.result, 'OK')
  })

  it('a doctor registration signed by a non-hospital is refused', () => {
    const w = hospitalApp()
    w.ok('hospital-a/validator', registerStMarys)
    w.ok('st-marys', registerDoctor)
    w.ok('dr-house', registerPatient)
    w.ok('st-marys', { type: TxType.RegisterOrganization, publicKey: pk('pharmacy'), name: 'Pharmacy', kind: OrganizationKind.Pharmacy })
    for (const signer of ['dr-house', 'jane', 'pharmacy', 'hospital-a/validator']) {
      const r = w.submit(signer, { type: TxType.RegisterClinician, publicKey: pk('dr-fake'), name: 'Dr Fake', role: ClinicianRole.Doctor })
      assert.equal(r.receipt.code, 'REGISTRY_NOT_HOSPITAL', signer)
      assert.equal(getEntity(w.state, pk('dr-fake')), undefined)
    }
  })

  it('a patient registration signed by a non-doctor is refused', () => {
    const w = hospitalApp()
    w.ok('hospital-a/validator', registerStMarys)
    w.ok('st-marys', registerDoctor)
    w.ok('dr-house', registerPatient)
    w.ok('st-marys', { type: TxType.RegisterOrganization, publicKey: pk('lab'), name: 'Lab', kind: OrganizationKind.Lab })
    for (const signer of ['st-marys', 'jane', 'lab', 'hospital-a/validator']) {
      const r = w.submit(signer, { type: TxType.EnrolPatient, publicKey: pk('john') })
      assert.equal(r.receipt.code, 'REGISTRY_NOT_CLINICIAN', signer)
      assert.equal(getEntity(w.state, pk('john')), undefined)
      assert.equal(r.audit.length, 0, 'an unknown key has no audit trail')
    }
  })
})

describe('registry details', () => {
  it('lets a nurse enrol a patient too (rule 4: any active clinician)', () => {
    const w = hospitalApp()
    w.registerClinician('hospital-a', 'nurse', ClinicianRole.Nurse)
    w.ok('nurse', registerPatient)
    assert.equal(getEntity(w.state, pk('jane'))?.kind, EntityKind.Patient)
  })

  it('refuses a key already registered under any kind, in every registration', () => {
    const w = hospitalApp()
    w.registerClinician('hospital-a', 'doctor')
    w.enrol('doctor', 'jane')
    for (const taken of ['hospital-a', 'hospital-a/validator', 'doctor', 'jane']) {
      assert.equal(w.submit('hospital-a', { type: TxType.RegisterClinician, publicKey: pk(taken), name: 'x', role: ClinicianRole.Nurse }).receipt.code, 'REGISTRY_ALREADY_REGISTERED')
      assert.equal(w.submit('hospital-a', { type: TxType.RegisterOrganization, publicKey: pk(taken), name: 'x', kind: OrganizationKind.Lab }).receipt.code, 'REGISTRY_ALREADY_REGISTERED')
      assert.equal(w.submit('hospital-a/validator', { type: TxType.RegisterHospital, publicKey: pk(taken), name: 'x' }).receipt.code, 'REGISTRY_ALREADY_REGISTERED')
    }
  })

  it('refuses every tx of a clinician once its hospital deactivated itself, and nothing of the hospital can act again', () => {
    const w = hospitalApp()
    w.registerClinician('hospital-a', 'doctor')
    w.ok('hospital-a', { type: TxType.Deactivate, target: pk('hospital-a'), reason: 'closing' })
    assert.equal(getEntity(w.state, pk('hospital-a'))?.status, EntityStatus.Inactive)
    assert.equal(getEntity(w.state, pk('doctor'))?.status, EntityStatus.Active, 'the clinician itself is not rewritten')
    assert.equal(w.submit('doctor', registerPatient).receipt.code, 'SENDER_INACTIVE')
    assert.equal(w.submit('hospital-a', { type: TxType.RegisterClinician, publicKey: pk('x'), name: 'x', role: ClinicianRole.Doctor }).receipt.code, 'SENDER_INACTIVE')
  })

  it('keeps the nonce in the identity value and refuses to bump an unknown key', () => {
    const w = hospitalApp()
    assert.equal(getSenderNonce(w.state, pk('hospital-a')), 0)
    assert.equal(getSenderNonce(w.state, pk('nobody')), undefined)
    w.registerClinician('hospital-a', 'doctor')
    assert.equal(getSenderNonce(w.state, pk('hospital-a')), 1)
    assert.equal(getSenderNonce(w.state, pk('doctor')), 0)
    setSenderNonce(w.state, pk('doctor'), 7)
    assert.equal(getSenderNonce(w.state, pk('doctor')), 7)
    assert.equal(getEntity(w.state, pk('doctor'))?.name, 'doctor', 'only the nonce changes')
    assert.throws(() => setSenderNonce(w.state, pk('nobody'), 1), (err: unknown) => err instanceof ContractError && err.code === 'SENDER_UNKNOWN')
    assert.equal(w.state.values.has(StateKeys.entity(pk('nobody'))), false)
  })

  it('answers SENDER_UNKNOWN, without writing, for a sender that is not registered', () => {
    const w = hospitalApp()
    const tx = makeTx(key('nobody'), 0, registerPatient)
    const before = new Map(w.state.values)
    const receipt = executeTx(w.state, tx, { chainId: w.chainId, height: 1, timestamp: w.timestamp, txIndex: 0, txHash: tx.hash })
    assert.equal(receipt.code, 'SENDER_UNKNOWN')
    assert.deepEqual(w.state.values, before)
  })

  it('answers CONTRACT_INTERNAL_ERROR, without writing or throwing, when a stored value is corrupt', () => {
    const w = hospitalApp()
    w.registerClinician('hospital-a', 'doctor')
    w.state.values.set(StateKeys.entity(pk('hospital-a')), new Uint8Array([0xc1])) // the doctor's hospital
    const tx = makeTx(key('doctor'), 0, registerPatient)
    const before = new Map(w.state.values)
    const receipt = executeTx(w.state, tx, { chainId: w.chainId, height: 1, timestamp: w.timestamp, txIndex: 0, txHash: tx.hash })
    assert.equal(receipt.code, 'CONTRACT_INTERNAL_ERROR')
    assert.deepEqual(w.state.values, before)
    assert.equal(w.state.audit.length, 0)
  })
})

describe('genesis', () => {
  it('registers hospitals and validators and stores the validator set', () => {
    const genesis = makeGenesis(['hospital-a', 'hospital-b'])
    const state = new MemoryState()
    initGenesisState(state, genesis)
    for (const h of ['hospital-a', 'hospital-b']) {
      const hospital = getEntity(state, pk(h))
      assert.equal(hospital?.kind, EntityKind.Hospital)
      assert.equal(hospital?.status, EntityStatus.Active)
      const validator = getEntity(state, pk(`${h}/validator`))
      assert.equal(validator?.kind, EntityKind.Validator)
      assert.deepEqual(validator?.hospital, pk(h))
    }
    const set = getValidatorSet(state)
    assert.equal(set.validators.length, 2)
    assert.equal(set.totalPower, 2)
  })

  it('refuses an invalid genesis and reading a set before genesis', () => {
    const genesis = makeGenesis(['hospital-a'])
    assert.throws(() => initGenesisState(new MemoryState(), { ...genesis, hospitals: [] }), GenesisError)
    assert.throws(() => getValidatorSet(new MemoryState()), (err: unknown) => err instanceof ContractError && err.code === 'STATE_NOT_INITIALISED')
  })
})
