/**
 * The chain end to end in strict mode: blocks built by the proposer and imported with their
 * certificate (test/utils/chainHarness.ts), every execution through a StrictState loaded only with
 * the contract's key list over the committed state. The sequence of importBlock.test.ts, then
 * consent, access, key shares, emergency access, a validator added by vote and applied by the end
 * of a later block, evidence, and a candidate the proposer leaves out; each block must come out
 * byte for byte as on a chain that holds every value.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ChainHarness } from '../../utils/chainHarness.js'
import { bytes32, makeKeys, makeTx } from '../../utils/factories.js'
import { blockHash } from '../../../src/types/block.js'
import { ClinicianRole, Purpose, recordIdOf, TxType, ValidatorAction, type Tx, type TxPayload } from '../../../src/types/tx.js'
import { encodeVote, signVote, VoteType } from '../../../src/types/vote.js'
import { getValidatorSet } from '../../../src/contracts/index.js'

const HOSPITALS = ['hospital-a', 'hospital-b', 'hospital-c', 'hospital-d']
const hospitalA = makeKeys('hospital-a')
const hospitalB = makeKeys('hospital-b')
const doctor = makeKeys('doctor-1')
const doctorB = makeKeys('doctor-b')
const patient = makeKeys('patient-1')
const validator = (h: string): ReturnType<typeof makeKeys> => makeKeys(`${h}/validator`)

function anchor (nonce: number, label: string, resourceType = 'Observation'): Tx {
  return makeTx(doctor, nonce, {
    type: TxType.AnchorRecord,
    patient: patient.publicKey,
    resourceType,
    contentHash: bytes32(label),
    size: 1234,
    blobRef: `blob:${label}`,
    envelopes: [{ recipient: patient.publicKey, wrappedKey: new Uint8Array(48) }]
  })
}

/** The blocks of the sequence, each a list of candidate transactions, and the receipt codes each must give. */
function sequence (): Array<{ txs: Tx[], codes: string[] }> {
  const tx = (signer: ReturnType<typeof makeKeys>, nonce: number, payload: TxPayload): Tx => makeTx(signer, nonce, payload)
  const encounter = anchor(4, 'enc', 'Encounter')
  const encounterId = recordIdOf('medchain-test', encounter.hash)
  const grant = tx(patient, 0, { type: TxType.Grant, grantee: doctorB.publicKey, recordTypes: ['Encounter'], recordIds: [], purpose: Purpose.Treatment, expiresAt: 4_000_000_000_000, envelopes: [] })
  const propose = tx(validator('hospital-a'), 0, { type: TxType.ProposeValidator, action: ValidatorAction.Add, validator: makeKeys('joining/validator').publicKey, hospital: hospitalB.publicKey, power: 1 })
  const base = { chainId: 'medchain-test', type: VoteType.Prevote, height: 2, round: 0, validator: validator('hospital-c').publicKey }
  const voteA = encodeVote(signVote({ ...base, blockHash: bytes32('a') }, validator('hospital-c')))
  const voteB = encodeVote(signVote({ ...base, blockHash: bytes32('b') }, validator('hospital-c')))
  return [
    // importBlock.test.ts: a doctor, a patient with two records, one more record
    { txs: [tx(hospitalA, 0, { type: TxType.RegisterClinician, publicKey: doctor.publicKey, name: 'Dr. One', role: ClinicianRole.Doctor }), tx(hospitalB, 0, { type: TxType.RegisterClinician, publicKey: doctorB.publicKey, name: 'Dr. B', role: ClinicianRole.Doctor })], codes: ['OK', 'OK'] },
    { txs: [tx(doctor, 0, { type: TxType.EnrolPatient, publicKey: patient.publicKey }), anchor(1, 'rec-a'), anchor(2, 'rec-b')], codes: ['OK', 'OK', 'OK'] },
    { txs: [anchor(3, 'rec-c')], codes: ['OK'] },
    // consent, then in one block: a record anchored, read by the grantee, its key shared by the patient
    { txs: [grant], codes: ['OK'] },
    {
      txs: [
        encounter,
        tx(doctorB, 0, { type: TxType.AccessRecord, recordId: encounterId, purpose: Purpose.Treatment }),
        tx(patient, 1, { type: TxType.ShareKeys, recipient: doctorB.publicKey, envelopes: [{ recordId: encounterId, wrappedKey: new Uint8Array(48) }] }),
        tx(patient, 2, { type: TxType.Revoke, grantId: grant.hash }),
        tx(doctorB, 1, { type: TxType.AccessRecord, recordId: encounterId, purpose: Purpose.Treatment }),
        tx(doctorB, 2, { type: TxType.EmergencyAccess, patient: patient.publicKey, reason: 'collapsed' }),
        tx(doctorB, 3, { type: TxType.AccessRecord, recordId: encounterId, purpose: Purpose.Treatment }),
        // the patient's hospital releases the key to the break-glass reader
        tx(hospitalA, 1, { type: TxType.ShareKeys, recipient: doctorB.publicKey, envelopes: [{ recordId: encounterId, wrappedKey: new Uint8Array(48) }] }),
        // not includable: an unknown sender (left out by the proposer)
        tx(makeKeys('stranger'), 0, { type: TxType.EnrolPatient, publicKey: makeKeys('p-x').publicKey })
      ],
      codes: ['OK', 'OK', 'OK', 'OK', 'ACCESS_CONSENT_REVOKED', 'OK', 'OK', 'OK']
    },
    // a validator added by vote at this height, scheduled for height + 2, applied by the next block's end
    {
      txs: [propose, tx(validator('hospital-b'), 0, { type: TxType.Vote, proposalId: propose.hash, approve: true }), tx(validator('hospital-c'), 0, { type: TxType.Vote, proposalId: propose.hash, approve: true })],
      codes: ['OK', 'OK', 'OK']
    },
    { txs: [], codes: [] },
    { txs: [tx(doctor, 5, { type: TxType.Evidence, voteA, voteB }), tx(hospitalA, 2, { type: TxType.Deactivate, target: doctor.publicKey, reason: 'left' })], codes: ['OK', 'OK'] }
  ]
}

describe('the chain in strict mode', () => {
  it('builds and imports every block of the sequence through the strict backend, byte for byte as with every value in memory', async () => {
    const strict = await ChainHarness.open({ hospitals: HOSPITALS, strictState: true })
    const plain = await ChainHarness.open({ hospitals: HOSPITALS })
    try {
      let blocks = 0
      for (const { txs, codes } of sequence()) {
        const s = await strict.commit(txs)
        const p = await plain.commit(txs)
        assert.deepEqual(s.receipts.map((r) => r.code), codes, `block ${s.height}`)
        assert.deepEqual(blockHash(s.block.header), blockHash(p.block.header), `block ${s.height} differs from the one built with every value in memory`)
        blocks++
      }
      assert.equal(getValidatorSet(strict.chain.stateView).validators.length, 5, 'the added validator was applied by the end of a block')
      const report = strict.strictReport()
      assert.equal(report.unchecked, 0)
      assert.equal(report.checked, 2 * blocks, 'each block executed twice (build, import), both through the strict backend')
    } finally {
      await strict.close()
      await plain.close()
    }
  })
})
