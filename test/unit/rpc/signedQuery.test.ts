import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { OrganizationKind, Purpose, TxType } from '../../../src/types/tx.js'
import { toHex } from '../../../src/crypto/bytes.js'
import type { Signer } from '../../../src/crypto/ed25519.js'
import { makeKeys } from '../../utils/factories.js'
import { assertRpcError, hex, keys, rpc, rpcResult, signed, startFixture, type Fixture } from './fixture.js'

const patientParams = (): { patient: string } => ({ patient: hex(keys.patient) })

/** Signed calls against the fixture `fixture()` returns; its clock ticks 1 ms per query so that equal queries are not replays. */
function askOf (fixture: () => Fixture) {
  return async (signer: Signer, method: string, params: Record<string, unknown> = patientParams()): Promise<Awaited<ReturnType<typeof rpc>>> => {
    const f = fixture()
    return await rpc(f.server, method, signed(signer, method, params, ++f.clock.now))
  }
}

describe('RPC signed queries', () => {
  let f: Fixture
  before(async () => { f = await startFixture() })
  after(async () => { await f.close() })
  const ask = askOf(() => f)

  it('records_listByPatient: the patient sees every record, a pharmacy with consent only prescriptions', async () => {
    const own = await ask(keys.patient, 'records_listByPatient')
    const records = own.result as Array<Record<string, unknown>>
    assert.deepEqual(records.map((r) => r.recordId), [toHex(f.world.records.rx), toHex(f.world.records.obs)])
    assert.deepEqual(records.map((r) => r.resourceType), ['MedicationRequest', 'Observation'])
    assert.equal(records[0]?.author, hex(keys.doctor))
    assert.equal(records[0]?.keyEnvelope, '07'.repeat(48), 'the envelope wrapped for the requester')
    assert.equal(typeof records[0]?.contentHash, 'string')
    const pharmacy = (await ask(keys.pharmacy, 'records_listByPatient')).result as Array<Record<string, unknown>>
    assert.deepEqual(pharmacy.map((r) => r.resourceType), ['MedicationRequest'])
    assert.equal(pharmacy[0]?.keyEnvelope, null)
  })

  it('records_listByPatient pages: limit, then after the last record of the page; a bad cursor is refused the same way whatever the reason', async () => {
    const ids = (r: Awaited<ReturnType<typeof ask>>): unknown[] => (r.result as Array<Record<string, unknown>>).map((x) => x.recordId)
    const rx = toHex(f.world.records.rx)
    const obs = toHex(f.world.records.obs)
    assert.deepEqual(ids(await ask(keys.patient, 'records_listByPatient', { ...patientParams(), limit: 1 })), [rx])
    assert.deepEqual(ids(await ask(keys.patient, 'records_listByPatient', { ...patientParams(), limit: 1, after: rx })), [obs])
    assert.deepEqual(ids(await ask(keys.patient, 'records_listByPatient', { ...patientParams(), after: obs })), [], 'past the last record: an empty page')
    // the pharmacy sees only the prescription: after it, nothing; the observation it may not see is no cursor for it
    assert.deepEqual(ids(await ask(keys.pharmacy, 'records_listByPatient', { ...patientParams(), after: rx })), [])
    const refusals = [
      await ask(keys.pharmacy, 'records_listByPatient', { ...patientParams(), after: obs }),
      await ask(keys.patient, 'records_listByPatient', { ...patientParams(), after: 'ab'.repeat(32) }),
      await ask(keys.patient, 'records_listByPatient', { ...patientParams(), after: 'xyz' }),
      await ask(keys.patient, 'records_listByPatient', { ...patientParams(), limit: 0 }),
      await ask(keys.patient, 'records_listByPatient', { ...patientParams(), limit: 1001 })
    ]
    for (const r of refusals) assertRpcError(r, -32602)
    assert.equal(refusals[0]?.error?.message, refusals[1]?.error?.message, 'an invisible record and an unknown one get the same answer')
  })

  it('consent_list: the patient sees every grant with its status, a grantee only its own', async () => {
    const grants = (await ask(keys.patient, 'consent_list')).result as Array<Record<string, unknown>>
    assert.deepEqual(grants.map((g) => [g.grantId, g.grantee, g.purpose, g.status]), [
      [toHex(f.world.grants.pharmacy), hex(keys.pharmacy), 'pharmacy', 'live'],
      [toHex(f.world.grants.lab), hex(keys.lab), 'treatment', 'expired'],
      [toHex(f.world.grants.nurse), hex(keys.nurse), 'treatment', 'revoked']
    ])
    assert.deepEqual(grants[0]?.recordTypes, ['*'])
    const own = (await ask(keys.pharmacy, 'consent_list')).result as Array<Record<string, unknown>>
    assert.deepEqual(own.map((g) => g.grantId), [toHex(f.world.grants.pharmacy)])
  })

  it('audit_listByPatient: the patient sees the whole trail, decoded; a grantee only its own actions', async () => {
    const trail = (await ask(keys.patient, 'audit_listByPatient')).result as Array<Record<string, unknown>>
    assert.deepEqual(trail.map((e) => e.action), ['EnrolPatient', 'AnchorRecord', 'AnchorRecord', 'Grant', 'Grant', 'Grant', 'Revoke', 'AccessRecord'])
    const access = trail[7] as Record<string, unknown>
    assert.equal(access.actor, hex(keys.pharmacy))
    assert.equal(access.actorKind, 'organization')
    assert.equal(access.recordId, toHex(f.world.records.rx))
    assert.equal(access.purpose, 'pharmacy')
    assert.equal(access.result, 'OK')
    assert.equal(access.emergency, false)
    assert.equal(typeof access.time, 'number')
    assert.equal(trail[0]?.purpose, null)
    const seqs = trail.map((e) => e.seq as number)
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b))
    const own = (await ask(keys.pharmacy, 'audit_listByPatient')).result as Array<Record<string, unknown>>
    assert.deepEqual(own.map((e) => e.action), ['AccessRecord'])
  })

  it('audit_listByPatient filters by block time (from, to inclusive) and limit', async () => {
    const trail = (await ask(keys.patient, 'audit_listByPatient')).result as Array<{ time: number, action: string }>
    const grantTime = trail[3]?.time as number
    const ofGrantBlock = (await ask(keys.patient, 'audit_listByPatient', { ...patientParams(), from: grantTime, to: grantTime })).result as Array<{ action: string }>
    assert.deepEqual(ofGrantBlock.map((e) => e.action), ['Grant', 'Grant', 'Grant'])
    const firstTwo = (await ask(keys.patient, 'audit_listByPatient', { ...patientParams(), limit: 2 })).result as unknown[]
    assert.equal(firstTwo.length, 2)
    assertRpcError(await ask(keys.patient, 'audit_listByPatient', { ...patientParams(), limit: 0 }), -32602, 'RPC_INVALID_PARAMS')
    assertRpcError(await ask(keys.patient, 'audit_listByPatient', { ...patientParams(), from: 5, to: 4 }), -32602, 'RPC_INVALID_PARAMS')
  })

  it('refuses a query that is not signed, badly signed, stale, replayed or not authorised (table)', async (t) => {
    const method = 'records_listByPatient'
    const now = ++f.clock.now
    const good = signed(keys.patient, method, patientParams(), now)
    const replayed = signed(keys.patient, method, patientParams(), now - 1)
    await rpcResult(f.server, method, replayed)
    const cases: Array<{ name: string, params: Record<string, unknown>, code: number, dataCode: string }> = [
      { name: 'no auth', params: patientParams(), code: -32000, dataCode: 'QUERY_UNSIGNED' },
      { name: 'signed by someone else for the patient key', params: { ...good, auth: { ...(good.auth as object), signature: (signed(keys.doctor, method, patientParams(), now).auth as { signature: string }).signature } }, code: -32000, dataCode: 'QUERY_BAD_SIGNATURE' },
      { name: 'params changed after signing', params: { ...good, patient: hex(keys.doctor) }, code: -32000, dataCode: 'QUERY_BAD_SIGNATURE' },
      { name: 'signed for another method', params: signed(keys.patient, 'consent_list', patientParams(), now), code: -32000, dataCode: 'QUERY_BAD_SIGNATURE' },
      { name: 'stale timestamp', params: signed(keys.patient, method, patientParams(), now - 61_000), code: -32000, dataCode: 'QUERY_EXPIRED' },
      { name: 'timestamp in the future', params: signed(keys.patient, method, patientParams(), now + 61_000), code: -32000, dataCode: 'QUERY_EXPIRED' },
      { name: 'replayed', params: replayed, code: -32000, dataCode: 'QUERY_REPLAYED' },
      { name: 'grant expired (lab)', params: signed(keys.lab, method, patientParams(), now), code: -32000, dataCode: 'QUERY_NOT_AUTHORISED' },
      { name: 'grant revoked (nurse)', params: signed(keys.nurse, method, patientParams(), now), code: -32000, dataCode: 'QUERY_NOT_AUTHORISED' },
      { name: 'registered, no grant (insurer)', params: signed(keys.insurer, method, patientParams(), now), code: -32000, dataCode: 'QUERY_NOT_AUTHORISED' },
      { name: 'stranger', params: signed(keys.stranger, method, patientParams(), now), code: -32000, dataCode: 'QUERY_NOT_AUTHORISED' },
      { name: 'auth without signature', params: { ...patientParams(), auth: { requester: hex(keys.patient), timestamp: now } }, code: -32602, dataCode: 'RPC_INVALID_PARAMS' },
      { name: 'auth with an unknown field', params: { ...good, auth: { ...(good.auth as object), role: 'admin' } }, code: -32602, dataCode: 'RPC_INVALID_PARAMS' }
    ]
    for (const c of cases) {
      await t.test(c.name, async () => {
        assertRpcError(await rpc(f.server, method, c.params), c.code, c.dataCode)
      })
    }
    await t.test('the good one passes', async () => {
      assert.equal(((await rpcResult(f.server, method, good)) as unknown[]).length, 2)
    })
  })

  it('every patient-specific method needs the signature', async () => {
    for (const method of ['records_listByPatient', 'consent_list', 'audit_listByPatient']) {
      assertRpcError(await rpc(f.server, method, patientParams()), -32000, 'QUERY_UNSIGNED')
      assertRpcError(await ask(keys.stranger, method), -32000, 'QUERY_NOT_AUTHORISED')
    }
  })

  it('a clinician with an open emergency window may read; a revoked grant stops a grantee at the next query', async () => {
    assertRpcError(await ask(keys.nurse, 'records_listByPatient'), -32000, 'QUERY_NOT_AUTHORISED')
    const emergency = f.world.tx(keys.nurse, { type: TxType.EmergencyAccess, patient: keys.patient.publicKey, reason: 'unconscious in the ER' })
    await f.world.commitOk([emergency])
    const records = (await ask(keys.nurse, 'records_listByPatient')).result as Array<Record<string, unknown>>
    assert.equal(records.length, 2, 'break-glass reads every record')

    assert.equal(((await ask(keys.pharmacy, 'records_listByPatient')).result as unknown[]).length, 1)
    await f.world.commitOk([f.world.tx(keys.patient, { type: TxType.Revoke, grantId: f.world.grants.pharmacy })])
    assertRpcError(await ask(keys.pharmacy, 'records_listByPatient'), -32000, 'QUERY_NOT_AUTHORISED')
  })

  it('a deactivated grantee is refused', async () => {
    const researcher = makeKeys('rpc/researcher')
    await f.world.commitOk([f.world.tx(keys.hospital, { type: TxType.RegisterOrganization, publicKey: researcher.publicKey, name: 'Research', kind: OrganizationKind.Researcher })])
    await f.world.commitOk([f.world.tx(keys.patient, { type: TxType.Grant, grantee: researcher.publicKey, recordTypes: ['*'], recordIds: [], purpose: Purpose.Research, expiresAt: f.h.nextTimestamp() + 86_400_000, envelopes: [] })])
    assert.equal(((await ask(researcher, 'records_listByPatient')).result as unknown[]).length, 2)
    await f.world.commitOk([f.world.tx(keys.hospital, { type: TxType.Deactivate, target: researcher.publicKey, reason: 'contract ended' })])
    assertRpcError(await ask(researcher, 'records_listByPatient'), -32000, 'QUERY_NOT_AUTHORISED')
  })
})

describe('RPC records_get and the custodian hospital', () => {
  let f: Fixture
  before(async () => { f = await startFixture() })
  after(async () => { await f.close() })
  const ask = askOf(() => f)

  it('records_get: one record with the reader\'s key envelope, from the record, or a ShareKeys tx', async () => {
    const get = async (signer: Signer, recordId: Uint8Array): Promise<Record<string, unknown> | null> =>
      (await ask(signer, 'records_get', { ...patientParams(), recordId: toHex(recordId) })).result as Record<string, unknown> | null
    const own = await get(keys.patient, f.world.records.rx)
    assert.equal(own?.keyEnvelope, '07'.repeat(48))
    assert.equal(own?.keySource, 'record')
    assert.equal(own?.patient, hex(keys.patient))
    // the pharmacy may read the prescription but holds no key for it yet
    assert.equal((await get(keys.pharmacy, f.world.records.rx))?.keyEnvelope, null)
    assert.equal(await get(keys.pharmacy, f.world.records.obs), null, 'an Observation is out of a pharmacy\'s reach')
    await f.world.commitOk([f.world.tx(keys.patient, { type: TxType.ShareKeys, recipient: keys.pharmacy.publicKey, envelopes: [{ recordId: f.world.records.rx, wrappedKey: new Uint8Array(93).fill(9) }] })])
    const shared = await get(keys.pharmacy, f.world.records.rx)
    assert.equal(shared?.keyEnvelope, '09'.repeat(93))
    assert.equal(shared?.keySource, 'share')
    // the record must belong to the patient the query names
    const other = makeKeys('rpc/other-patient')
    assert.equal((await ask(other, 'records_get', { patient: hex(other), recordId: toHex(f.world.records.rx) })).result, null, 'not this patient\'s record')
    assertRpcError(await ask(keys.stranger, 'records_get', { ...patientParams(), recordId: toHex(f.world.records.rx) }), -32000, 'QUERY_NOT_AUTHORISED')
    // the author reads its own record back (it may not list the patient's other records)
    assert.equal((await get(keys.doctor, f.world.records.obs))?.author, hex(keys.doctor))
    assertRpcError(await ask(keys.doctor, 'records_listByPatient'), -32000, 'QUERY_NOT_AUTHORISED')
  })

  it('the hospital where the patient is enrolled (custodian) sees the records\' metadata, and only its own audit actions', async () => {
    const records = (await ask(keys.hospital, 'records_listByPatient')).result as Array<Record<string, unknown>>
    assert.deepEqual(records.map((r) => r.resourceType), ['MedicationRequest', 'Observation'])
    const trail = (await ask(keys.hospital, 'audit_listByPatient')).result as Array<Record<string, unknown>>
    assert.ok(trail.every((e) => e.actor === hex(keys.hospital)))
    assert.deepEqual((await ask(keys.hospital, 'consent_list')).result, [], 'no consents are the custodian\'s business')
  })

  it('audit_listByPatient pages through a long trail: limit, from and to hold across pages', async () => {
    const list = async (params: Record<string, unknown>): Promise<Array<{ seq: number, time: number, actor: string }>> =>
      (await ask(keys.patient, 'audit_listByPatient', { ...patientParams(), ...params })).result as Array<{ seq: number, time: number, actor: string }>
    const before = await list({ limit: 1000 })
    // 2 blocks of 200 reads by the patient: the trail now spans more than one store page (256)
    const reads = (): ReturnType<typeof f.world.tx>[] => Array.from({ length: 200 }, () => f.world.tx(keys.patient, { type: TxType.AccessRecord, recordId: f.world.records.rx, purpose: Purpose.Treatment }))
    await f.world.commitOk(reads())
    await f.world.commitOk(reads())
    const all = await list({ limit: 1000 })
    assert.equal(all.length, before.length + 400)
    assert.deepEqual(all.map((e) => e.seq), [...all.map((e) => e.seq)].sort((a, b) => a - b), 'in trail order')
    const secondBlock = (all[all.length - 1] as { time: number }).time
    const firstBlock = (all[before.length] as { time: number }).time
    assert.ok(secondBlock > firstBlock)
    // from: only the second block; limit cuts inside it
    const late = await list({ from: secondBlock, limit: 150 })
    assert.equal(late.length, 150)
    assert.ok(late.every((e) => e.time === secondBlock))
    assert.deepEqual(late.map((e) => e.seq), all.slice(before.length + 200, before.length + 350).map((e) => e.seq))
    // to: stops at the first block
    const early = await list({ from: firstBlock, to: firstBlock, limit: 1000 })
    assert.equal(early.length, 200)
    // a grantee sees only its own actions, however far the trail runs
    const own = (await ask(keys.pharmacy, 'audit_listByPatient', { ...patientParams(), limit: 1000 })).result as Array<{ actor: string }>
    assert.ok(own.length > 0 && own.every((e) => e.actor === hex(keys.pharmacy)))
    // consent_list reads the same trail page by page: a grant made after the 400 reads is found too
    const consents = async (): Promise<unknown[]> => ((await ask(keys.patient, 'consent_list')).result as Array<{ grantId: string }>).map((g) => g.grantId)
    const grantsBefore = await consents()
    const grant = f.world.tx(keys.patient, { type: TxType.Grant, grantee: keys.lab.publicKey, recordTypes: ['Observation'], recordIds: [], purpose: Purpose.Treatment, expiresAt: f.h.nextTimestamp() + 86_400_000, envelopes: [] })
    await f.world.commitOk([grant])
    assert.deepEqual(await consents(), [...grantsBefore, toHex(grant.hash)])
    assert.ok((await list({ limit: 1000 })).length > 400, 'the grant sits past the first store page')
  })
})
