import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { toHex } from '../../../src/crypto/bytes.js'
import type { Signer } from '../../../src/crypto/ed25519.js'
import type { RecordProof, TxProof } from '../../../src/proof/types.js'
import { verifyRecordProof, verifyTxProof } from '../../../src/proof/verify.js'
import type { RpcServer } from '../../../src/rpc/server.js'
import { assertRpcError, hex, keys, rpc, signed } from '../rpc/fixture.js'
import { openProofChain, patient2, type ProofFixture } from './fixture.js'

describe('RPC proof_getRecord and proof_getTx (signed queries)', () => {
  let f: ProofFixture
  let server: RpcServer
  before(async () => {
    f = await openProofChain({ rpc: true })
    server = f.server as RpcServer
  })
  after(async () => { await f.close() })

  const ask = async (signer: Signer, method: string, params: Record<string, unknown>): Promise<Awaited<ReturnType<typeof rpc>>> =>
    await rpc(server, method, signed(signer, method, params, ++f.clock.now))

  it('proof_getRecord: the patient gets a bundle that verifies offline, with every consent', async () => {
    const reply = await ask(keys.patient, 'proof_getRecord', { recordId: toHex(f.world.records.rx), patient: hex(keys.patient), grantee: hex(keys.insurer) })
    assert.equal(reply.error, undefined, JSON.stringify(reply.error))
    const s = verifyRecordProof(reply.result as RecordProof, f.h.genesis)
    assert.equal(s.record.recordId, toHex(f.world.records.rx))
    assert.equal(s.consents.length, 3)
    assert.deepEqual(s.grantee?.grantIds, [])
  })

  it('proof_getRecord: a grantee whose consent covers the record gets only its own consent entries', async () => {
    const reply = await ask(keys.pharmacy, 'proof_getRecord', { recordId: toHex(f.world.records.rx), patient: hex(keys.patient) })
    const s = verifyRecordProof(reply.result as RecordProof, f.h.genesis)
    assert.deepEqual(s.consents.map((c) => c.grantee), [hex(keys.pharmacy)])
    assert.equal(s.grantee?.liveGrantCoversRecord, true)
  })

  it('proof_getRecord refusals: a stranger, a record of another patient, a grantee outside its consent, unsigned', async () => {
    assertRpcError(await ask(keys.stranger, 'proof_getRecord', { recordId: toHex(f.world.records.rx), patient: hex(keys.patient) }), -32000, 'QUERY_NOT_AUTHORISED')
    assertRpcError(await ask(keys.patient, 'proof_getRecord', { recordId: toHex(f.otherRecord), patient: hex(keys.patient) }), -32000, 'QUERY_NOT_AUTHORISED')
    assertRpcError(await ask(patient2, 'proof_getRecord', { recordId: toHex(f.world.records.rx), patient: hex(patient2) }), -32000, 'QUERY_NOT_AUTHORISED')
    assertRpcError(await ask(keys.pharmacy, 'proof_getRecord', { recordId: toHex(f.world.records.obs), patient: hex(keys.patient) }), -32000, 'QUERY_NOT_AUTHORISED')
    assertRpcError(await ask(keys.pharmacy, 'proof_getRecord', { recordId: toHex(f.world.records.rx), patient: hex(keys.patient), grantee: hex(keys.nurse) }), -32000, 'QUERY_NOT_AUTHORISED')
    assertRpcError(await rpc(server, 'proof_getRecord', { recordId: toHex(f.world.records.rx), patient: hex(keys.patient) }), -32000, 'QUERY_UNSIGNED')
    assert.equal((await ask(keys.patient, 'proof_getRecord', { recordId: '00'.repeat(32), patient: hex(keys.patient) })).result, null)
  })

  it('proof_getTx: a tx on the patient\'s trail verifies; a grantee gets only its own actions', async () => {
    const own = await ask(keys.patient, 'proof_getTx', { hash: toHex(f.accessTx), patient: hex(keys.patient) })
    assert.equal(verifyTxProof(own.result as TxProof, f.h.genesis).txHash, toHex(f.accessTx))
    const byActor = await ask(keys.pharmacy, 'proof_getTx', { hash: toHex(f.accessTx), patient: hex(keys.patient) })
    assert.equal(verifyTxProof(byActor.result as TxProof, f.h.genesis).sender, hex(keys.pharmacy))
    // the patient's Grant to the pharmacy is the patient's action, not the pharmacy's
    assert.equal((await ask(keys.pharmacy, 'proof_getTx', { hash: toHex(f.world.grants.pharmacy), patient: hex(keys.patient) })).result, null)
    assertRpcError(await ask(keys.stranger, 'proof_getTx', { hash: toHex(f.accessTx), patient: hex(keys.patient) }), -32000, 'QUERY_NOT_AUTHORISED')
    assertRpcError(await ask(keys.patient, 'proof_getTx', { hash: 'xyz', patient: hex(keys.patient) }), -32602, 'RPC_INVALID_PARAMS')
  })
})
