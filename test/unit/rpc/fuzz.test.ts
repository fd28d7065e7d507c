import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { handleParsed, parsePayload, type CallHooks, type JsonRpcResponse } from '../../../src/rpc/jsonrpc.js'
import { METHOD_NAMES, type CallContext, type SubscriptionHost } from '../../../src/rpc/methods.js'
import { ReplayCache } from '../../../src/rpc/auth.js'
import { hex, http, keys, startFixture, type Fixture } from './fixture.js'

/** Hostile input on the RPC door: garbage bodies and random params never give an internal error. */
describe('RPC bad input (property tests)', () => {
  let f: Fixture
  let ctx: CallContext
  const internal: unknown[] = []
  const hooks: CallHooks = { observe: () => undefined, logError: (err) => { internal.push(err) } }
  before(async () => {
    f = await startFixture()
    const session: SubscriptionHost = { subscribeNewHeads: () => 'sub', subscribeAudit: () => 'sub', unsubscribe: () => false }
    ctx = {
      rpc: { chain: f.h.chain, mempool: f.mempool, now: () => f.clock.now, replay: new ReplayCache(), nodeInfo: () => ({}), peers: () => [] },
      session
    }
  })
  after(async () => { await f.close() })

  const checkShape = (response: JsonRpcResponse | JsonRpcResponse[] | undefined): void => {
    for (const r of response === undefined ? [] : Array.isArray(response) ? response : [response]) {
      assert.equal(r.jsonrpc, '2.0')
      if ('error' in r) {
        assert.ok([-32700, -32600, -32601, -32602, -32000].includes(r.error.code), JSON.stringify(r.error))
        assert.equal(typeof r.error.data?.code, 'string')
      }
    }
  }

  it('random text and random JSON bodies get well-formed answers, never an internal error', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null')), async (body) => {
      checkShape(await handleParsed(parsePayload(body, 100), ctx, hooks))
    }), { numRuns: 300 })
    assert.deepEqual(internal, [])
  })

  it('every method with random params answers a result or a typed error, never an internal error', async () => {
    const value = fc.oneof(fc.jsonValue(), fc.constant(hex(keys.patient)), fc.constant('00'.repeat(32)), fc.integer({ min: -5, max: 1e6 }),
      fc.record({ requester: fc.oneof(fc.constant(hex(keys.patient)), fc.string()), timestamp: fc.oneof(fc.constant(f.clock.now), fc.integer()), signature: fc.oneof(fc.constant('00'.repeat(64)), fc.string()) }))
    const keysOf = ['patient', 'publicKey', 'hash', 'height', 'tx', 'topic', 'subscription', 'from', 'to', 'limit', 'auth', 'junk']
    const request = fc.record({
      method: fc.constantFrom(...METHOD_NAMES),
      params: fc.oneof(fc.dictionary(fc.constantFrom(...keysOf), value, { maxKeys: 4 }), fc.jsonValue())
    })
    await fc.assert(fc.asyncProperty(request, async ({ method, params }) => {
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params })
      checkShape(await handleParsed(parsePayload(body, 100), ctx, hooks))
    }), { numRuns: 1000 })
    assert.deepEqual(internal, [])
  })

  it('the server still answers after garbage', async () => {
    for (const body of ['\u0000\u0001', '{"jsonrpc":"2.0","method":"chain_head","id":1', '[[[[[[[[[[]]]]]]]]]]', '{"__proto__": {"x": 1}}']) {
      const res = await http(f.server.port, { body })
      assert.equal(res.status, 200)
    }
    const res = await http(f.server.port, { body: '{"jsonrpc":"2.0","method":"chain_head","id":1}' })
    assert.equal((res.json() as { result: { height: number } }).result.height, f.h.chain.head.height)
  })
})
