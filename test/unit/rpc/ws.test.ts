import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { WebSocket } from 'ws'
import { OrganizationKind, Purpose, TxType } from '../../../src/types/tx.js'
import { makeKeys } from '../../utils/factories.js'
import { toHex } from '../../../src/crypto/bytes.js'
import { startRpcServer } from '../../../src/rpc/server.js'
import { assertRpcError, eventually, hex, keys, signed, startFixture, WsClient, type Fixture } from './fixture.js'

describe('RPC WebSocket subscriptions', () => {
  let f: Fixture
  let client: WsClient
  before(async () => {
    f = await startFixture()
    client = await WsClient.connect(f.server.wsUrl)
  })
  after(async () => {
    await client.close()
    await f.close()
  })

  const auditParams = (signer = keys.patient): Record<string, unknown> =>
    signed(signer, 'audit_subscribe', { patient: hex(keys.patient) }, ++f.clock.now)

  it('answers ordinary calls over the socket too', async () => {
    const reply = await client.call('chain_head')
    assert.equal((reply.result as { height: number }).height, f.h.chain.head.height)
    assertRpcError(await client.call('chain_nope'), -32601, 'RPC_METHOD_NOT_FOUND')
  })

  it('chain_subscribe newHeads: a notification for every committed block', async () => {
    const sub = await client.call('chain_subscribe', { topic: 'newHeads' })
    const id = sub.result as string
    assert.match(id, /^[0-9a-f]{32}$/)
    const committed = await f.h.commit([])
    const note = await client.notification('chain_subscription', id)
    assert.deepEqual(note.result, { height: committed.height, hash: toHex(committed.hash), timestamp: committed.block.header.timestamp })
    const again = await f.h.commit([])
    assert.equal((await client.notification('chain_subscription', id)).result?.height, again.height)
    assert.equal((await client.call('chain_unsubscribe', { subscription: id })).result, true)
    assert.equal((await client.call('chain_unsubscribe', { subscription: id })).result, false, 'already gone')
  })

  it('chain_subscribe refuses an unknown topic', async () => {
    assertRpcError(await client.call('chain_subscribe', { topic: 'logs' }), -32602, 'RPC_INVALID_PARAMS')
  })

  it('audit_subscribe delivers the patient\'s new audit entries; unsubscribe stops them', async () => {
    const reply = await client.call('audit_subscribe', auditParams())
    const id = reply.result as string
    assert.equal(typeof id, 'string', JSON.stringify(reply))
    const anchor = f.world.anchor('Observation', 'ws-1')
    await f.world.commitOk([anchor])
    const entry = (await client.notification('audit_subscription', id)).result as Record<string, unknown>
    assert.equal(entry.action, 'AnchorRecord')
    assert.equal(entry.actor, hex(keys.doctor))
    assert.equal(entry.txHash, toHex(anchor.hash))
    assert.equal(entry.height, f.h.chain.head.height)
    assert.equal(entry.result, 'OK')

    assert.equal((await client.call('chain_unsubscribe', { subscription: id })).result, true)
    await f.world.commitOk([f.world.anchor('Observation', 'ws-2')]) // not delivered any more
    // a new subscription sees the entry of the next block only; entries are delivered block after
    // block, so had the old one still been live, its notification would have come first
    const next = (await client.call('audit_subscribe', auditParams())).result as string
    const third = f.world.anchor('Observation', 'ws-3')
    await f.world.commitOk([third])
    assert.equal((await client.notification('audit_subscription', next)).result?.txHash, toHex(third.hash))
    const stale = client.pending().filter((m) => (m as { params?: { subscription?: string } }).params?.subscription === id)
    assert.deepEqual(stale, [])
    assert.equal((await client.call('chain_unsubscribe', { subscription: next })).result, true)
  })

  it('audit_subscribe by a grantee: only its own actions, and an error notification ends it when the grant goes', async () => {
    const researcher = makeKeys('ws/researcher')
    await f.world.commitOk([f.world.tx(keys.hospital, { type: TxType.RegisterOrganization, publicKey: researcher.publicKey, name: 'Research', kind: OrganizationKind.Researcher })])
    const grant = f.world.tx(keys.patient, { type: TxType.Grant, grantee: researcher.publicKey, recordTypes: ['*'], recordIds: [], purpose: Purpose.Research, expiresAt: f.h.nextTimestamp() + 86_400_000, envelopes: [] })
    await f.world.commitOk([grant])
    const id = (await client.call('audit_subscribe', auditParams(researcher))).result as string
    assert.equal(typeof id, 'string')
    const access = f.world.tx(researcher, { type: TxType.AccessRecord, recordId: f.world.records.obs, purpose: Purpose.Research })
    await f.world.commitOk([f.world.anchor('Observation', 'ws-4'), access])
    const note = await client.notification('audit_subscription', id)
    assert.equal(note.result?.txHash, toHex(access.hash), 'the doctor\'s anchor is not the researcher\'s to see')
    await f.world.commitOk([f.world.tx(keys.patient, { type: TxType.Revoke, grantId: grant.hash })])
    const ended = await client.notification('audit_subscription', id)
    assert.equal(ended.error?.data?.code, 'QUERY_NOT_AUTHORISED')
    assert.equal((await client.call('chain_unsubscribe', { subscription: id })).result, false, 'the subscription was ended')
  })

  it('audit_subscribe refuses unsigned, stranger and replayed requests', async () => {
    assertRpcError(await client.call('audit_subscribe', { patient: hex(keys.patient) }), -32000, 'QUERY_UNSIGNED')
    assertRpcError(await client.call('audit_subscribe', auditParams(keys.stranger)), -32000, 'QUERY_NOT_AUTHORISED')
    const params = auditParams()
    const id = (await client.call('audit_subscribe', params)).result as string
    assertRpcError(await client.call('audit_subscribe', params), -32000, 'QUERY_REPLAYED')
    assert.equal((await client.call('chain_unsubscribe', { subscription: id })).result, true)
  })

  it('a closed socket drops its subscriptions', async () => {
    const before = f.server.subscriptionCount()
    const other = await WsClient.connect(f.server.wsUrl)
    await other.call('chain_subscribe', { topic: 'newHeads' })
    await other.call('audit_subscribe', auditParams())
    assert.equal(f.server.subscriptionCount(), before + 2)
    await other.close()
    await eventually(() => f.server.subscriptionCount() === before)
  })

  it('caps subscriptions per socket', async () => {
    const server = await startRpcServer({ chain: f.h.chain, mempool: f.mempool, nodeInfo: () => ({}), limits: { maxSubscriptionsPerSocket: 2 } })
    const ws = await WsClient.connect(server.wsUrl)
    try {
      await ws.call('chain_subscribe', { topic: 'newHeads' })
      await ws.call('chain_subscribe', { topic: 'newHeads' })
      assertRpcError(await ws.call('chain_subscribe', { topic: 'newHeads' }), -32000, 'RPC_TOO_MANY_SUBSCRIPTIONS')
    } finally {
      await ws.close()
      await server.close()
    }
  })

  it('applies the limits per message: rate, batch size, message size; and the Host allowlist on upgrade', async () => {
    const clock = { now: 0 }
    const server = await startRpcServer({ chain: f.h.chain, mempool: f.mempool, nodeInfo: () => ({}), now: () => clock.now, limits: { ratePerSecond: 1, burst: 4, maxBatch: 2, maxBodyBytes: 4096 } })
    try {
      const ws = await WsClient.connect(server.wsUrl) // the upgrade costs one token
      assert.equal((await ws.call('chain_head')).error, undefined)
      ws.ws.send(JSON.stringify(Array.from({ length: 3 }, (_, i) => ({ jsonrpc: '2.0', method: 'chain_head', id: 100 + i }))))
      const tooBig = await ws.next((m) => (m as { error?: unknown }).error !== undefined)
      assertRpcError(tooBig as Parameters<typeof assertRpcError>[0], -32600, 'RPC_BATCH_TOO_LARGE')
      assert.equal((await ws.call('chain_head')).error, undefined)
      assertRpcError(await ws.call('chain_head'), -32000, 'RPC_RATE_LIMITED')
      ws.ws.send('x'.repeat(5000))
      await ws.closed // ws closes a connection whose message passes maxPayload (1009)

      await assert.rejects(WsClient.connect(server.wsUrl, { host: 'attacker.example' }), /403|Unexpected server response/)
      await assert.rejects(WsClient.connect(server.wsUrl, { origin: 'https://attacker.example' }), /403|Unexpected server response/)
    } finally {
      await server.close()
    }
  })

  it('close() ends open sockets', async () => {
    const server = await startRpcServer({ chain: f.h.chain, mempool: f.mempool, nodeInfo: () => ({}) })
    const ws = new WebSocket(server.wsUrl)
    await new Promise((resolve) => ws.once('open', resolve))
    const closed = new Promise((resolve) => ws.once('close', resolve))
    await server.close()
    await closed
  })
})
