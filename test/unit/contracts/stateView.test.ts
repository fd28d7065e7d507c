import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { CodecError, encodeCanonical, u64 } from '../../../src/types/codec.js'
import { MemoryState } from '../../../src/types/state.js'
import { TxType } from '../../../src/types/tx.js'
import { decodeAuditEntry, encodeAuditEntry, type AuditEntry } from '../../../src/contracts/audit.js'
import { StateKeys } from '../../../src/contracts/keys.js'
import { EntityKind, EntityStatus } from '../../../src/contracts/roles.js'
import {
  decodeEmergencyWindow, decodeEntity, decodeEvidence, decodeGrant, decodeIdList, decodeKeyShare, decodeLiveness, decodeProposal, decodeRecord,
  decodeValidatorChanges, encodeEmergencyWindow, encodeEntity, encodeEvidence, encodeGrant, encodeIdList, encodeKeyShare, encodeLiveness,
  encodeProposal, encodeRecord, encodeValidatorChanges, withEntityNonce, type AnchoredRecord, type Entity, type Grant, type Proposal
} from '../../../src/contracts/schema.js'
import { fromHex, toHex } from '../../../src/crypto/bytes.js'
import { StateView } from '../../../src/contracts/stateView.js'

const b32 = fc.uint8Array({ minLength: 32, maxLength: 32 })
const height = fc.nat({ max: Number.MAX_SAFE_INTEGER })
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined })
/** Drops undefined optional fields, as the decoders do (and gives fast-check's null-prototype records a plain prototype). */
const clean = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T

const entityArb: fc.Arbitrary<Entity> = fc.record({
  kind: fc.constantFrom(...Object.values(EntityKind)),
  status: fc.constantFrom(...Object.values(EntityStatus)),
  role: fc.nat({ max: 4 }),
  name: fc.string({ maxLength: 128 }),
  hospital: opt(b32),
  registeredBy: opt(b32),
  registeredAt: height,
  nonce: height,
  enrolledAt: fc.array(b32, { maxLength: 5 }),
  deactivatedAt: height
}).map(clean)

const recordArb: fc.Arbitrary<AnchoredRecord> = fc.record({
  patient: b32,
  resourceType: fc.stringMatching(/^[A-Z][A-Za-z]{1,20}$/),
  contentHash: b32,
  size: height,
  blobRef: fc.string({ maxLength: 64 }),
  author: b32,
  anchoredAt: height,
  anchoredTime: height,
  envelopes: fc.array(fc.record({ recipient: b32, wrappedKey: fc.uint8Array({ maxLength: 80 }) }).map(clean), { maxLength: 4 }),
  supersedes: opt(b32),
  supersededBy: opt(b32)
}).map(clean)

const grantArb: fc.Arbitrary<Grant> = fc.record({
  patient: b32,
  grantee: b32,
  purpose: fc.constantFrom(1, 2, 3, 4) as fc.Arbitrary<Grant['purpose']>,
  expiresAt: height,
  recordTypes: fc.array(fc.constantFrom('*', 'Observation', 'Claim'), { maxLength: 3 }),
  recordIds: fc.array(b32, { maxLength: 3 }),
  envelopes: fc.array(fc.record({ recordId: b32, wrappedKey: fc.uint8Array({ maxLength: 80 }) }).map(clean), { maxLength: 3 }),
  grantedAt: height,
  revokedAt: opt(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }))
}).map(clean)

const proposalArb: fc.Arbitrary<Proposal> = fc.record({
  kind: fc.constantFrom(1, 2, 3) as fc.Arbitrary<Proposal['kind']>,
  status: fc.constantFrom(1, 2, 3, 4) as fc.Arbitrary<Proposal['status']>,
  proposer: b32,
  createdAt: height,
  subject: b32,
  name: fc.string({ maxLength: 128 }),
  hospital: opt(b32),
  power: fc.nat({ max: 0xffff }),
  approvals: fc.array(b32, { maxLength: 4 }),
  rejections: fc.array(b32, { maxLength: 4 }),
  closedAt: height,
  effectiveHeight: height
}).map(clean)

const auditArb: fc.Arbitrary<AuditEntry> = fc.record({
  height,
  txIndex: fc.nat({ max: 20_000 }),
  txHash: b32,
  timestamp: height,
  patient: b32,
  actor: b32,
  actorKind: fc.constantFrom(...Object.values(EntityKind)),
  action: fc.constantFrom(...Object.values(TxType)),
  recordId: opt(b32),
  purpose: fc.nat({ max: 4 }),
  result: fc.constantFrom('OK', 'ACCESS_NO_CONSENT', 'SENDER_INACTIVE'),
  emergency: fc.boolean()
}).map(clean)

function roundTrips<T> (name: string, arb: fc.Arbitrary<T>, encode: (v: T) => Uint8Array, decode: (b: Uint8Array) => T): void {
  it(`${name}: decode(encode(x)) equals x, and the encoding is canonical`, () => {
    fc.assert(fc.property(arb, (v) => {
      const bytes = encode(v)
      const back = decode(bytes)
      assert.deepEqual(back, v)
      assert.deepEqual(encode(back), bytes)
    }), { numRuns: 200 })
  })
  it(`${name}: random bytes never crash the decoder with anything but a CodecError`, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      try { decode(bytes) } catch (err) { assert.ok(err instanceof CodecError, String(err)) }
    }), { numRuns: 300 })
  })
}

describe('state value encodings', () => {
  roundTrips('entity', entityArb, encodeEntity, decodeEntity)
  roundTrips('record', recordArb, encodeRecord, decodeRecord)
  roundTrips('grant', grantArb, encodeGrant, decodeGrant)
  roundTrips('proposal', proposalArb, encodeProposal, decodeProposal)
  roundTrips('audit entry', auditArb, encodeAuditEntry, decodeAuditEntry)
  roundTrips('evidence', fc.record({ reportedAt: height, reporter: b32, voteA: fc.uint8Array({ maxLength: 200 }), voteB: fc.uint8Array({ maxLength: 200 }) }).map(clean), encodeEvidence, decodeEvidence)
  roundTrips('validator changes', fc.array(fc.record({ proposalId: b32, action: fc.constantFrom(1, 2) as fc.Arbitrary<1 | 2>, validator: b32, power: fc.nat({ max: 0xffff }), hospital: opt(b32) }).map(clean), { maxLength: 4 }), encodeValidatorChanges, decodeValidatorChanges)

  roundTrips('emergency window', fc.record({ openedAt: height, endsAt: height, openedAtHeight: height }).map(clean), encodeEmergencyWindow, decodeEmergencyWindow)
  roundTrips('key share', fc.record({ wrappedKey: fc.uint8Array({ maxLength: 200 }), sharedBy: b32, sharedAt: height, emergency: fc.boolean() }).map(clean), encodeKeyShare, decodeKeyShare)
  roundTrips('grant index', fc.array(b32, { maxLength: 8 }), encodeIdList, (bytes) => decodeIdList(bytes, 'grants'))
  roundTrips('liveness', fc.uniqueArray(fc.tuple(b32.map(toHex), height), { selector: ([k]) => k, maxLength: 6 }).map((entries) => new Map(entries)), encodeLiveness, decodeLiveness)

  it('encodes liveness as [validator, height] pairs in ascending validator order, whatever the map order', () => {
    const a = 'aa'.repeat(32)
    const b = 'bb'.repeat(32)
    const bytes = encodeLiveness(new Map([[b, 7], [a, 3]]))
    assert.deepEqual([...bytes], [...encodeCanonical([[fromHex(a), u64(3)], [fromHex(b), u64(7)]])])
  })

  it('refuses an entity of an unknown kind or status', () => {
    const e: Entity = { kind: EntityKind.Hospital, status: EntityStatus.Active, role: 0, name: 'x', registeredAt: 0, nonce: 0, enrolledAt: [], deactivatedAt: 0 }
    assert.throws(() => decodeEntity(encodeEntity({ ...e, kind: 9 as EntityKind })), CodecError)
    assert.throws(() => decodeEntity(encodeEntity({ ...e, status: 3 as EntityStatus })), CodecError)
  })
})

describe('StateView', () => {
  it('buffers writes until commit, reads its own writes, and commits in write order', () => {
    const backend = new MemoryState()
    const order: string[] = []
    const recording = { ...backend, get: (k: string) => backend.get(k), set: (k: string, v: Uint8Array) => { order.push(`set ${k}`); backend.set(k, v) }, delete: (k: string) => { order.push(`del ${k}`); backend.delete(k) }, appendAudit: () => {} }
    const view = new StateView(recording)
    const e: Entity = { kind: EntityKind.Patient, status: EntityStatus.Active, role: 0, name: '', registeredAt: 1, nonce: 0, enrolledAt: [], deactivatedAt: 0 }
    const a = new Uint8Array(32).fill(1)
    const b = new Uint8Array(32).fill(2)
    view.putEntity(a, e)
    view.putEntity(b, e)
    view.putValidatorChanges(5, [])
    assert.deepEqual(view.getEntity(a), e)
    assert.equal(backend.values.size, 0)
    assert.equal(view.pendingWrites, 3)
    view.commit()
    assert.deepEqual(order, [`set ${StateKeys.entity(a)}`, `set ${StateKeys.entity(b)}`, `del ${StateKeys.pendingValidatorChanges(5)}`])
    view.putEntity(a, { ...e, nonce: 3 })
    view.discard()
    assert.equal(view.getEntity(a)?.nonce, 0)
  })

  it('spells keys with fixed-width heights so they sort by height', () => {
    assert.ok(StateKeys.pendingValidatorChanges(9) < StateKeys.pendingValidatorChanges(10))
    assert.equal(StateKeys.pendingValidatorChanges(255), 'validators/pending/00000000000000ff')
  })
})

void describe('withEntityNonce / StateView.putNonce: the nonce patched into the stored identity', () => {
  void it('gives exactly encodeEntity({ ...entity, nonce }) for any identity and nonce, and leaves the input bytes alone', () => {
    fc.assert(fc.property(entityArb, height, (entity, nonce) => {
      const bytes = encodeEntity(entity)
      const before = Uint8Array.from(bytes)
      const patched = withEntityNonce(bytes, nonce)
      assert.deepEqual([...patched], [...encodeEntity({ ...entity, nonce })])
      assert.deepEqual([...bytes], [...before])
      assert.equal(decodeEntity(patched).nonce, nonce)
    }), { numRuns: 500, seed: 0x6e6f6e63 })
  })

  void it('putNonce writes the new identity through the view and refuses an unknown key', () => {
    const state = new MemoryState()
    const key = new Uint8Array(32).fill(7)
    const view = new StateView(state)
    assert.equal(view.putNonce(key, 1), false)
    const entity: Entity = { kind: EntityKind.Patient, status: EntityStatus.Active, role: 0, name: '', registeredAt: 3, nonce: 0, enrolledAt: [new Uint8Array(32).fill(1)], deactivatedAt: 0 }
    view.putEntity(key, entity)
    view.commit()
    assert.equal(view.putNonce(key, 41), true)
    assert.equal(new StateView(state).getEntity(key)?.nonce, 0, 'buffered until commit')
    view.commit()
    assert.deepEqual(new StateView(state).getEntity(key), { ...entity, nonce: 41 })
    assert.deepEqual([...(state.get(StateKeys.entity(key)) as Uint8Array)], [...encodeEntity({ ...entity, nonce: 41 })])
  })
})

void describe('StateView.getRecord: one decode per record and view, never a stale one', () => {
  void it('returns the same frozen record while the stored bytes stay, and the new record after a write, a commit or a change in the backend', () => {
    fc.assert(fc.property(recordArb, recordArb, (first, second) => {
      const state = new MemoryState()
      const id = new Uint8Array(32).fill(9)
      const view = new StateView(state)
      assert.equal(view.getRecord(id), undefined)
      view.putRecord(id, first)
      const a = view.getRecord(id)
      assert.deepEqual(a, decodeRecord(encodeRecord(first)))
      assert.equal(view.getRecord(id), a, 'decoded once while the bytes stay')
      assert.ok(Object.isFrozen(a))
      assert.throws(() => { (a as AnchoredRecord).size = 1 }, TypeError)
      // a write through the view replaces it
      view.putRecord(id, { ...first, supersededBy: new Uint8Array(32).fill(3) })
      assert.deepEqual(view.getRecord(id)?.supersededBy, new Uint8Array(32).fill(3))
      view.commit()
      // a write to the backend behind the view's back is seen too (the cache checks the bytes)
      state.set(StateKeys.record(id), encodeRecord(second))
      assert.deepEqual(view.getRecord(id), decodeRecord(encodeRecord(second)))
      state.delete(StateKeys.record(id))
      assert.equal(view.getRecord(id), undefined)
    }), { numRuns: 200, seed: 0x7ec0 })
  })
})
