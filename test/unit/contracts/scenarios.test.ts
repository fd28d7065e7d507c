/**
 * Consent and emergency access over time, read from the patient's side: the audit trail.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { TxType, type TxPayload } from '../../../src/types/tx.js'
import { equalBytes } from '../../../src/crypto/bytes.js'
import {
  checkRecordAccess, decodeAuditEntry, EMERGENCY_WINDOW_MS, EntityKind, getEmergencyWindow, listGrantsFor, type AuditEntry
} from '../../../src/contracts/index.js'
import { BLOCK_MS, DAY_MS, pk, Purpose, type TestChain } from './harness.js'
import { buildWorld, deactivate } from './world.js'

const world = buildWorld()

function trail (w: TestChain, patient: string): AuditEntry[] {
  return w.state.audit.filter((a) => equalBytes(a.patient, pk(patient))).map((a) => decodeAuditEntry(a.entry))
}

const access = (w: TestChain, record: string, purpose: Purpose): TxPayload => ({ type: TxType.AccessRecord, recordId: w.id(record), purpose })

describe('consent over time', () => {
  it('a pharmacy with consent sees only prescription-type records, even under "*"', () => {
    const w = world.clone()
    w.anchor('doctor', 'patient', 'MedicationDispense', 'dispense')
    w.grant('patient', 'pharmacy', { purpose: Purpose.Pharmacy, recordTypes: ['*'] }, 'g')
    w.commitBlock()
    assert.equal(w.submit('pharmacy', access(w, 'rx', Purpose.Pharmacy)).receipt.code, 'OK')
    assert.equal(w.submit('pharmacy', access(w, 'dispense', Purpose.Pharmacy)).receipt.code, 'OK')
    for (const other of ['report', 'obs', 'claim']) {
      assert.equal(w.submit('pharmacy', access(w, other, Purpose.Pharmacy)).receipt.code, 'ACCESS_OUT_OF_SCOPE', other)
    }
    // and the RPC's check agrees with execution
    assert.equal(checkRecordAccess(w.state, pk('pharmacy'), w.id('rx'), Purpose.Pharmacy, w.timestamp).code, 'OK')
    assert.equal(checkRecordAccess(w.state, pk('pharmacy'), w.id('report'), Purpose.Pharmacy, w.timestamp).code, 'ACCESS_OUT_OF_SCOPE')
  })

  it('a grant stops working at the first block whose timestamp reaches its expiry, with no transaction', () => {
    const w = world.clone()
    const expiresAt = w.timestamp + 5 * BLOCK_MS + 500
    w.grant('patient', 'lab', { purpose: Purpose.Treatment, recordTypes: ['DiagnosticReport'], expiresAt }, 'g')
    const results: Array<[number, string]> = []
    while (w.timestamp < expiresAt + 2 * BLOCK_MS) {
      w.commitBlock()
      results.push([w.timestamp, w.submit('lab', access(w, 'report', Purpose.Treatment)).receipt.code])
    }
    for (const [timestamp, code] of results) assert.equal(code, timestamp < expiresAt ? 'OK' : 'ACCESS_CONSENT_EXPIRED', `at ${timestamp - expiresAt} ms from expiry`)
    assert.ok(results.some(([, c]) => c === 'OK') && results.some(([, c]) => c === 'ACCESS_CONSENT_EXPIRED'))
    // the block exactly at the expiry is already too late
    const edge = world.clone()
    edge.grant('patient', 'lab', { purpose: Purpose.Treatment, recordTypes: ['*'], expiresAt: edge.timestamp + 3 * BLOCK_MS }, 'g')
    edge.commitBlockAt(edge.timestamp + 3 * BLOCK_MS - 1)
    assert.equal(edge.submit('lab', access(edge, 'report', Purpose.Treatment)).receipt.code, 'OK')
    edge.commitBlock(1)
    assert.equal(edge.submit('lab', access(edge, 'report', Purpose.Treatment)).receipt.code, 'ACCESS_CONSENT_EXPIRED')
  })

  it('a revoked grant stops for the next transaction and at the next block', () => {
    const w = world.clone()
    w.grant('patient', 'insurer', { purpose: Purpose.Insurance, recordTypes: ['Claim'] }, 'g')
    w.commitBlock()
    assert.equal(w.submit('insurer', access(w, 'claim', Purpose.Insurance)).receipt.code, 'OK')
    w.ok('patient', { type: TxType.Revoke, grantId: w.id('g') })
    assert.equal(w.submit('insurer', access(w, 'claim', Purpose.Insurance)).receipt.code, 'ACCESS_CONSENT_REVOKED', 'same block, after the revocation')
    w.commitBlock()
    assert.equal(w.submit('insurer', access(w, 'claim', Purpose.Insurance)).receipt.code, 'ACCESS_CONSENT_REVOKED', 'next block')
    assert.equal(listGrantsFor(w.state, pk('patient'), pk('insurer'))[0]?.grant.revokedAt, w.height - 1)
  })

  it('a deactivated clinician\'s grants and access stop', () => {
    const w = world.clone()
    w.grant('patient', 'doctor-b', { purpose: Purpose.Treatment, recordTypes: ['*'] }, 'g')
    w.commitBlock()
    assert.equal(w.submit('doctor-b', access(w, 'report', Purpose.Treatment)).receipt.code, 'OK')
    deactivate(w, 'hospital-b', 'doctor-b')
    w.commitBlock()
    assert.equal(w.submit('doctor-b', access(w, 'report', Purpose.Treatment)).receipt.code, 'SENDER_INACTIVE')
    assert.equal(w.submit('doctor-b', { type: TxType.AnchorRecord, patient: pk('patient'), resourceType: 'Observation', contentHash: new Uint8Array(32), size: 1, blobRef: '', envelopes: [{ recipient: pk('patient'), wrappedKey: new Uint8Array(8) }] }).receipt.code, 'SENDER_INACTIVE')
    assert.equal(w.submit('patient', { type: TxType.Grant, grantee: pk('doctor-b'), recordTypes: ['*'], recordIds: [], purpose: Purpose.Treatment, expiresAt: w.timestamp + DAY_MS, envelopes: [] }).receipt.code, 'CONSENT_BAD_GRANTEE')
    assert.equal(checkRecordAccess(w.state, pk('doctor-b'), w.id('report'), Purpose.Treatment, w.timestamp).code, 'SENDER_INACTIVE')
    const last = trail(w, 'patient').filter((e) => equalBytes(e.actor, pk('doctor-b')))
    assert.deepEqual(last.map((e) => e.result), ['OK', 'SENDER_INACTIVE', 'SENDER_INACTIVE'])
  })
})

describe('emergency access', () => {
  it('opens a fixed window, is flagged in the audit trail, and closes by itself', () => {
    const w = world.clone()
    const openedAt = w.timestamp
    const open = w.ok('doctor-b', { type: TxType.EmergencyAccess, patient: pk('patient'), reason: 'unconscious, no consent on file' })
    assert.deepEqual(getEmergencyWindow(w.state, pk('doctor-b'), pk('patient')), { openedAt, endsAt: openedAt + EMERGENCY_WINDOW_MS, openedAtHeight: w.height })
    assert.equal(EMERGENCY_WINDOW_MS, 24 * 60 * 60 * 1000)
    assert.equal(open.audit[0]?.entry.emergency, true)

    const codes: Array<[number, string, boolean]> = []
    for (const at of [openedAt + BLOCK_MS, openedAt + 12 * 60 * 60 * 1000, openedAt + EMERGENCY_WINDOW_MS - 1, openedAt + EMERGENCY_WINDOW_MS, openedAt + 2 * EMERGENCY_WINDOW_MS]) {
      w.commitBlockAt(at)
      const r = w.submit('doctor-b', access(w, 'report', Purpose.Treatment))
      codes.push([at - openedAt, r.receipt.code, r.audit[0]?.entry.emergency as boolean])
    }
    assert.deepEqual(codes, [
      [BLOCK_MS, 'OK', true],
      [12 * 60 * 60 * 1000, 'OK', true],
      [EMERGENCY_WINDOW_MS - 1, 'OK', true],
      // doctor-b also holds grant-b (Encounter only) from the patient, hence the specific refusal
      [EMERGENCY_WINDOW_MS, 'ACCESS_OUT_OF_SCOPE', false],
      [2 * EMERGENCY_WINDOW_MS, 'ACCESS_OUT_OF_SCOPE', false]
    ])
  })

  it('is refused to organisations but still lands, flagged, in the patient\'s trail', () => {
    const w = world.clone()
    const r = w.submit('researcher', { type: TxType.EmergencyAccess, patient: pk('patient'), reason: 'curiosity' })
    assert.equal(r.receipt.code, 'EMERGENCY_NOT_CLINICIAN')
    assert.equal(getEmergencyWindow(w.state, pk('researcher'), pk('patient')), undefined)
    const entry = r.audit[0]?.entry
    assert.equal(entry?.emergency, true)
    assert.equal(entry?.result, 'EMERGENCY_NOT_CLINICIAN')
    assert.equal(entry?.actorKind, EntityKind.Organization)
  })
})

describe('the patient\'s audit trail', () => {
  it('holds every access request, granted or refused, and every emergency access, in order', () => {
    const w = world.clone()
    const before = trail(w, 'patient').length
    w.grant('patient', 'lab', { purpose: Purpose.Treatment, recordTypes: ['DiagnosticReport'] }, 'g')
    w.commitBlock()
    const steps: Array<[string, TxPayload, string, boolean]> = [
      ['lab', access(w, 'report', Purpose.Treatment), 'OK', false],
      ['lab', access(w, 'obs', Purpose.Treatment), 'ACCESS_OUT_OF_SCOPE', false],
      ['lab', access(w, 'report', Purpose.Research), 'ACCESS_PURPOSE_MISMATCH', false],
      ['insurer', access(w, 'claim', Purpose.Insurance), 'ACCESS_NO_CONSENT', false],
      ['nurse', { type: TxType.EmergencyAccess, patient: pk('patient'), reason: 'anaphylaxis' }, 'OK', true],
      ['nurse', access(w, 'rx', Purpose.Treatment), 'OK', true],
      ['patient', access(w, 'rx', Purpose.Treatment), 'OK', false],
      ['patient', { type: TxType.Revoke, grantId: w.id('g') }, 'OK', false],
      ['lab', access(w, 'report', Purpose.Treatment), 'ACCESS_CONSENT_REVOKED', false]
    ]
    for (const [signer, payload, code] of steps) assert.equal(w.submit(signer, payload).receipt.code, code)
    // other patients' trails are untouched by all of this
    const otherBefore = trail(world, 'patient-2').length
    assert.equal(trail(w, 'patient-2').length, otherBefore)

    const entries = trail(w, 'patient').slice(before + 1) // after the Grant entry
    assert.equal(entries.length, steps.length)
    entries.forEach((e, i) => {
      const [signer, payload, code, emergency] = steps[i] as [string, TxPayload, string, boolean]
      assert.deepEqual(e.actor, pk(signer))
      assert.equal(e.action, payload.type)
      assert.equal(e.result, code)
      assert.equal(e.emergency, emergency)
      assert.equal(e.txIndex, i)
      assert.deepEqual(e.patient, pk('patient'))
      if (payload.type === TxType.AccessRecord) assert.deepEqual(e.recordId, payload.recordId)
    })
  })

  it('does not file anything for a record that does not exist', () => {
    const w = world.clone()
    const r = w.submit('lab', { type: TxType.AccessRecord, recordId: new Uint8Array(32), purpose: Purpose.Treatment })
    assert.equal(r.receipt.code, 'RECORD_NOT_FOUND')
    assert.equal(r.audit.length, 0)
  })
})
