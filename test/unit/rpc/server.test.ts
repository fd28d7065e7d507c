import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { Registry } from 'prom-client'
import { blockHash } from '../../../src/types/block.js'
import { ClinicianRole, TxType, type Tx } from '../../../src/types/tx.js'
import { toHex } from '../../../src/crypto/bytes.js'
import { resolveLimits, startRpcServer } from '../../../src/rpc/server.js'
import { Mempool } from '../../../src/chain/mempool.js'
import { getSenderNonce } from '../../../src/contracts/index.js'
import { makeKeys, makeTx, TEST_CHAIN_ID } from '../../utils/factories.js'
import { assertRpcError, eventually, hex, http, keys, rpc, rpcResult, startFixture, type Fixture, type RpcReply } from './fixture.js'

describe('RPC server: methods', () => {
  let f: Fixture
  before(async () => { f = await startFixture() })
  after(async () => { await f.close() })

  it('binds 127.0.0.1 on a random port', () => {
    assert.match(f.server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.ok(f.server.port > 0)
    assert.equal(f.server.wsUrl, `ws://127.0.0.1:${f.server.port}/ws`)
  })

  it('chain_head answers {height, hash} of the head', async () => {
    const head = await rpcResult(f.server, 'chain_head') as Record<string, unknown>
    assert.deepEqual(Object.keys(head).slice(0, 2), ['height', 'hash'])
    assert.equal(head.height, f.h.chain.head.height)
    assert.equal(head.hash, toHex(f.h.chain.head.hash))
    assert.equal(head.timestamp, f.h.chain.head.timestamp)
  })

  it('chain_getBlock by height and by hash; null when unknown', async () => {
    const block = await f.h.chain.getBlock(2)
    assert.ok(block)
    const hash = toHex(blockHash(block.header))
    const byHeight = await rpcResult(f.server, 'chain_getBlock', { height: 2 }) as Record<string, unknown>
    const byHash = await rpcResult(f.server, 'chain_getBlock', { hash })
    assert.deepEqual(byHash, byHeight)
    assert.equal(byHeight.hash, hash)
    assert.equal(byHeight.height, 2)
    assert.deepEqual(byHeight.txs, block.txs.map((t) => toHex(t.hash)))
    const header = byHeight.header as Record<string, unknown>
    assert.equal(header.stateRoot, toHex(block.header.stateRoot))
    assert.equal(header.proposer, toHex(block.header.proposer))
    assert.equal(header.chainId, TEST_CHAIN_ID)
    const lastCommit = byHeight.lastCommit as Record<string, unknown>
    assert.equal(lastCommit.height, 1)
    assert.deepEqual(lastCommit.signers, f.h.validators.map((v) => toHex(v.publicKey)))
    assert.equal(await rpcResult(f.server, 'chain_getBlock', { height: 999 }), null)
    assert.equal(await rpcResult(f.server, 'chain_getBlock', { height: 0 }), null)
    assert.equal(await rpcResult(f.server, 'chain_getBlock', { hash: 'ab'.repeat(32) }), null)
  })

  it('state_getEntity answers the registry facts of a key, or null', async () => {
    const doctor = await rpcResult(f.server, 'state_getEntity', { publicKey: hex(keys.doctor) }) as Record<string, unknown>
    assert.equal(doctor.kind, 'clinician')
    assert.equal(doctor.role, 'doctor')
    assert.equal(doctor.status, 'active')
    assert.equal(doctor.active, true)
    assert.equal(doctor.hospital, hex(keys.hospital))
    assert.equal(doctor.name, 'Dr. RPC')
    assert.equal(doctor.nonce, getSenderNonce(f.h.chain.stateView, keys.doctor.publicKey))
    const patient = await rpcResult(f.server, 'state_getEntity', { publicKey: hex(keys.patient) }) as Record<string, unknown>
    assert.equal(patient.kind, 'patient')
    assert.equal(patient.name, '')
    assert.deepEqual(patient.enrolledAt, [hex(keys.hospital)])
    const pharmacy = await rpcResult(f.server, 'state_getEntity', { publicKey: hex(keys.pharmacy).toUpperCase() }) as Record<string, unknown>
    assert.equal(pharmacy.role, 'pharmacy')
    assert.equal(pharmacy.publicKey, hex(keys.pharmacy), 'hex out is lower case')
    assert.equal(await rpcResult(f.server, 'state_getEntity', { publicKey: hex(keys.stranger) }), null)
  })

  it('validators_list answers the current set', async () => {
    const set = await rpcResult(f.server, 'validators_list') as { totalPower: number, validators: Array<Record<string, unknown>> }
    assert.equal(set.totalPower, 1)
    assert.deepEqual(set.validators, [{ publicKey: toHex(f.h.validators[0]?.publicKey ?? new Uint8Array()), power: 1, hospital: hex(keys.hospital) }])
  })

  it('node_info and node_peers answer from the node', async () => {
    const info = await rpcResult(f.server, 'node_info') as Record<string, unknown>
    assert.equal(info.chainId, TEST_CHAIN_ID)
    assert.equal(info.height, f.h.chain.head.height)
    assert.equal(info.version, '0.1.0-test')
    assert.deepEqual(await rpcResult(f.server, 'node_peers'), [{ peerId: 'peer-1', address: '/ip4/127.0.0.1/tcp/1' }])
  })

  it('tx_submit admits through checkTx; after the block commits tx_getReceipt serves the receipt', async () => {
    const newcomer = makeKeys('rpc/newcomer')
    const tx = f.world.tx(keys.hospital, { type: TxType.RegisterClinician, publicKey: newcomer.publicKey, name: 'Dr. New', role: ClinicianRole.Doctor })
    const submitted = await rpcResult(f.server, 'tx_submit', { tx: toHex(tx.bytes) }) as Record<string, unknown>
    assert.deepEqual(submitted, { hash: toHex(tx.hash) })
    assert.ok(f.mempool.has(tx.hash))
    assert.equal(await rpcResult(f.server, 'tx_getReceipt', { hash: toHex(tx.hash) }), null, 'no receipt before the block')

    const reaped = f.mempool.reap(1 << 20)
    assert.deepEqual(reaped.map((t) => toHex(t.hash)), [toHex(tx.hash)])
    const committed = await f.h.commit(reaped)
    f.mempool.update(committed.height, reaped)
    const receipt = await rpcResult(f.server, 'tx_getReceipt', { hash: toHex(tx.hash) }) as Record<string, unknown>
    assert.equal(receipt.height, committed.height)
    assert.equal(receipt.index, 0)
    assert.equal(receipt.code, 'OK')
    assert.equal(typeof receipt.log, 'string')
    assert.deepEqual(receipt.events, [{
      kind: 'identity.registered',
      attributes: { publicKey: toHex(newcomer.publicKey), kind: 'clinician', role: 'doctor', registeredBy: hex(keys.hospital) }
    }])
    const entity = await rpcResult(f.server, 'state_getEntity', { publicKey: toHex(newcomer.publicKey) }) as Record<string, unknown>
    assert.equal(entity.kind, 'clinician')
  })

  it('tx_submit refuses a broken transaction with its typed code and leaves the mempool unchanged (malleate table)', async (t) => {
    const hospitalNonce = getSenderNonce(f.h.chain.stateView, keys.hospital.publicKey) ?? 0
    const good = (nonce = hospitalNonce, chainId = TEST_CHAIN_ID): Tx =>
      makeTx(keys.hospital, nonce, { type: TxType.RegisterClinician, publicKey: makeKeys('rpc/malleate').publicKey, name: 'Dr. M', role: ClinicianRole.Doctor }, chainId)
    const badSignature = (): string => {
      const bytes = new Uint8Array(good().bytes)
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1
      return toHex(bytes)
    }
    const cases: Array<{ name: string, tx: () => unknown, code: number, dataCode?: string, setup?: () => Promise<void> }> = [
      { name: 'not hex', tx: () => 'zz' + toHex(good().bytes), code: -32602, dataCode: 'RPC_INVALID_PARAMS' },
      { name: 'odd number of hex digits', tx: () => toHex(good().bytes).slice(1), code: -32602, dataCode: 'RPC_INVALID_PARAMS' },
      { name: 'not a string', tx: () => 42, code: -32602, dataCode: 'RPC_INVALID_PARAMS' },
      { name: 'hex of a forbidden msgpack type', tx: () => 'c0', code: -32000, dataCode: 'CODEC_FORBIDDEN_TYPE' },
      { name: 'cut short', tx: () => toHex(good().bytes.subarray(0, 40)), code: -32000, dataCode: 'CODEC_MALFORMED' },
      { name: 'a byte after the end', tx: () => toHex(good().bytes) + '00', code: -32000, dataCode: 'CODEC_TRAILING_BYTES' },
      { name: 'bad signature', tx: badSignature, code: -32000, dataCode: 'TX_BAD_SIGNATURE' },
      { name: 'nonce already used', tx: () => toHex(good(hospitalNonce - 1).bytes), code: -32000, dataCode: 'TX_NONCE_TOO_LOW' },
      { name: 'nonce far ahead', tx: () => toHex(good(hospitalNonce + 1000).bytes), code: -32000, dataCode: 'TX_NONCE_TOO_HIGH' },
      { name: 'signed for another chain', tx: () => toHex(good(hospitalNonce, 'other-chain').bytes), code: -32000, dataCode: 'TX_WRONG_CHAIN' },
      { name: 'unregistered sender', tx: () => toHex(makeTx(keys.stranger, 0, { type: TxType.EnrolPatient, publicKey: keys.stranger.publicKey }).bytes), code: -32000, dataCode: 'TX_UNKNOWN_SENDER' },
      {
        name: 'already in the mempool',
        setup: async () => { await rpcResult(f.server, 'tx_submit', { tx: toHex(good().bytes) }) },
        tx: () => toHex(good().bytes),
        code: -32000,
        dataCode: 'TX_DUPLICATE'
      }
    ]
    for (const c of cases) {
      await t.test(c.name, async () => {
        await c.setup?.()
        const before = { size: f.mempool.size, bytes: f.mempool.bytes }
        const reply = await rpc(f.server, 'tx_submit', { tx: c.tx() })
        assertRpcError(reply, c.code, c.dataCode)
        assert.deepEqual({ size: f.mempool.size, bytes: f.mempool.bytes }, before, 'mempool unchanged')
      })
    }
    f.mempool.remove(good().hash)
  })

  it('tx_submit answers MEMPOOL_FULL from a full mempool', async () => {
    const mempool = new Mempool({ chainId: TEST_CHAIN_ID, maxTxs: 1, getAccountNonce: (pk) => getSenderNonce(f.h.chain.stateView, pk) })
    const server = await startRpcServer({ chain: f.h.chain, mempool, nodeInfo: () => ({}) })
    try {
      const first = makeTx(keys.doctor, getSenderNonce(f.h.chain.stateView, keys.doctor.publicKey) ?? 0, { type: TxType.EmergencyAccess, patient: keys.patient.publicKey, reason: 'first' })
      const second = makeTx(keys.nurse, getSenderNonce(f.h.chain.stateView, keys.nurse.publicKey) ?? 0, { type: TxType.EmergencyAccess, patient: keys.patient.publicKey, reason: 'second' })
      await rpcResult(server, 'tx_submit', { tx: toHex(first.bytes) })
      assertRpcError(await rpc(server, 'tx_submit', { tx: toHex(second.bytes) }), -32000, 'MEMPOOL_FULL')
      assert.equal(mempool.size, 1)
    } finally {
      await server.close()
    }
  })

  it('calls onTx with each admitted transaction; a failing hook does not fail the call', async () => {
    const seen: string[] = []
    const server = await startRpcServer({ chain: f.h.chain, mempool: f.mempool, nodeInfo: () => ({}), logger: { error: () => undefined }, onTx: (tx) => { seen.push(toHex(tx.hash)); throw new Error('gossip down') } })
    try {
      const nonce = getSenderNonce(f.h.chain.stateView, keys.insurer.publicKey) ?? 0
      const a = makeTx(keys.insurer, nonce, { type: TxType.EmergencyAccess, patient: keys.patient.publicKey, reason: 'a' })
      const b = makeTx(keys.insurer, nonce + 1, { type: TxType.EmergencyAccess, patient: keys.patient.publicKey, reason: 'b' })
      // a batch is run in order, so two nonces of one sender are admitted in order
      const res = await http(server.port, { body: JSON.stringify([a, b].map((tx, id) => ({ jsonrpc: '2.0', id, method: 'tx_submit', params: { tx: toHex(tx.bytes) } }))) })
      assert.deepEqual((res.json() as RpcReply[]).map((r) => r.result), [{ hash: toHex(a.hash) }, { hash: toHex(b.hash) }])
      assert.deepEqual(seen, [toHex(a.hash), toHex(b.hash)])
      f.mempool.remove(a.hash)
      f.mempool.remove(b.hash)
    } finally {
      await server.close()
    }
  })

  it('fails to start on a taken port and leaves nothing behind', async () => {
    const listeners = f.h.chain.listenerCount('block')
    const registry = new Registry()
    await assert.rejects(startRpcServer({ chain: f.h.chain, mempool: f.mempool, nodeInfo: () => ({}), port: f.server.port, metrics: registry }), /EADDRINUSE/)
    assert.equal(f.h.chain.listenerCount('block'), listeners)
    assert.equal(await registry.metrics(), '\n')
  })

  it('tx_getReceipt of an unknown hash is null; a malformed hash is invalid params', async () => {
    assert.equal(await rpcResult(f.server, 'tx_getReceipt', { hash: '00'.repeat(32) }), null)
    assertRpcError(await rpc(f.server, 'tx_getReceipt', { hash: '00' }), -32602, 'RPC_INVALID_PARAMS')
    assertRpcError(await rpc(f.server, 'tx_getReceipt', {}), -32602, 'RPC_INVALID_PARAMS')
  })

  it('GET /health answers status and height', async () => {
    const res = await http(f.server.port, { method: 'GET', path: '/health' })
    assert.equal(res.status, 200)
    assert.deepEqual(res.json(), { status: 'ok', height: f.h.chain.head.height })
  })

  it('GET /metrics answers Prometheus text with chain, mempool and RPC metrics', async () => {
    await rpcResult(f.server, 'chain_head')
    await rpc(f.server, 'no_such_method')
    const res = await http(f.server.port, { method: 'GET', path: '/metrics' })
    assert.equal(res.status, 200)
    assert.match(String(res.headers['content-type']), /text\/plain/)
    assert.match(res.text, new RegExp(`^medchain_chain_height ${f.h.chain.head.height}$`, 'm'))
    assert.match(res.text, new RegExp(`^medchain_mempool_size ${f.mempool.size}$`, 'm'))
    assert.match(res.text, /^medchain_rpc_requests_total\{method="chain_head",code="OK"\} \d+$/m)
    assert.match(res.text, /^medchain_rpc_requests_total\{method="unknown",code="RPC_METHOD_NOT_FOUND"\} \d+$/m)
    assert.match(res.text, /^medchain_rpc_request_duration_seconds_bucket\{le="0\.005",method="chain_head"\} \d+$/m)
    assert.match(res.text, /^medchain_rpc_request_duration_seconds_count\{method="chain_head"\} \d+$/m)
  })

  it('registers its metrics on a registry passed in, and removes them on close', async () => {
    const registry = new Registry()
    for (let round = 0; round < 2; round++) {
      const server = await startRpcServer({ chain: f.h.chain, mempool: f.mempool, nodeInfo: () => ({}), metrics: registry })
      assert.equal(server.metrics, registry)
      assert.match(await registry.metrics(), /medchain_chain_height/)
      await server.close()
      assert.doesNotMatch(await registry.metrics(), /medchain_chain_height/)
    }
  })
})

describe('RPC server: JSON-RPC errors and HTTP limits', () => {
  let f: Fixture
  before(async () => { f = await startFixture({ server: { limits: { maxBodyBytes: 64 * 1024, maxBatch: 10, ratePerSecond: 1_000_000, burst: 1_000_000 } } }) })
  after(async () => { await f.close() })

  const post = async (body: string, headers: Record<string, string> = {}): Promise<{ status: number, reply: unknown }> => {
    const res = await http(f.server.port, { body, headers })
    return { status: res.status, reply: res.text === '' ? undefined : res.json() }
  }

  it('answers each malformed request with its JSON-RPC code (table)', async (t) => {
    const cases: Array<[string, string, number, string]> = [
      ['not JSON', '{"jsonrpc": "2.0", "method": ', -32700, 'RPC_PARSE_ERROR'],
      ['a number, not an object', '42', -32600, 'RPC_INVALID_REQUEST'],
      ['a string, not an object', '"chain_head"', -32600, 'RPC_INVALID_REQUEST'],
      ['wrong jsonrpc version', '{"jsonrpc": "1.0", "method": "chain_head", "id": 1}', -32600, 'RPC_INVALID_REQUEST'],
      ['no jsonrpc member', '{"method": "chain_head", "id": 1}', -32600, 'RPC_INVALID_REQUEST'],
      ['method not a string', '{"jsonrpc": "2.0", "method": 7, "id": 1}', -32600, 'RPC_INVALID_REQUEST'],
      ['id an object', '{"jsonrpc": "2.0", "method": "chain_head", "id": {}}', -32600, 'RPC_INVALID_REQUEST'],
      ['empty batch', '[]', -32600, 'RPC_INVALID_REQUEST'],
      ['batch over the limit', JSON.stringify(Array.from({ length: 11 }, (_, i) => ({ jsonrpc: '2.0', method: 'chain_head', id: i }))), -32600, 'RPC_BATCH_TOO_LARGE'],
      ['unknown method', '{"jsonrpc": "2.0", "method": "chain_nope", "id": 1}', -32601, 'RPC_METHOD_NOT_FOUND'],
      ['inherited property as method', '{"jsonrpc": "2.0", "method": "constructor", "id": 1}', -32601, 'RPC_METHOD_NOT_FOUND'],
      ['subscription over HTTP', '{"jsonrpc": "2.0", "method": "chain_subscribe", "params": {"topic": "newHeads"}, "id": 1}', -32601, 'RPC_WEBSOCKET_ONLY'],
      ['params an array', '{"jsonrpc": "2.0", "method": "chain_getBlock", "params": [1], "id": 1}', -32602, 'RPC_INVALID_PARAMS'],
      ['negative height', '{"jsonrpc": "2.0", "method": "chain_getBlock", "params": {"height": -1}, "id": 1}', -32602, 'RPC_INVALID_PARAMS'],
      ['height and hash', `{"jsonrpc": "2.0", "method": "chain_getBlock", "params": {"height": 1, "hash": "${'00'.repeat(32)}"}, "id": 1}`, -32602, 'RPC_INVALID_PARAMS'],
      ['unknown param', '{"jsonrpc": "2.0", "method": "chain_head", "params": {"verbose": true}, "id": 1}', -32602, 'RPC_INVALID_PARAMS'],
      ['short public key', '{"jsonrpc": "2.0", "method": "state_getEntity", "params": {"publicKey": "abcd"}, "id": 1}', -32602, 'RPC_INVALID_PARAMS']
    ]
    for (const [name, body, code, dataCode] of cases) {
      await t.test(name, async () => {
        const { status, reply } = await post(body)
        assert.equal(status, 200)
        assertRpcError(reply as RpcReply, code, dataCode)
      })
    }
  })

  it('keeps the id of a request that has one, null otherwise', async () => {
    assert.equal(((await post('{"jsonrpc": "2.0", "method": "chain_nope", "id": "abc"}')).reply as RpcReply).id, 'abc')
    assert.equal(((await post('not json')).reply as RpcReply).id, null)
  })

  it('answers a notification with 204 and a batch with the responses of its calls, in order', async () => {
    const note = await post('{"jsonrpc": "2.0", "method": "chain_head"}')
    assert.equal(note.status, 204)
    assert.equal(note.reply, undefined)
    const batch = await post(JSON.stringify([
      { jsonrpc: '2.0', method: 'chain_head', id: 1 },
      { jsonrpc: '2.0', method: 'chain_head' },
      { jsonrpc: '2.0', method: 'nope', id: 2 },
      5,
      { jsonrpc: '2.0', method: 'node_info', id: 3 }
    ]))
    assert.equal(batch.status, 200)
    const replies = batch.reply as RpcReply[]
    assert.deepEqual(replies.map((r) => r.id), [1, 2, null, 3])
    assert.equal((replies[0]?.result as { height: number }).height, f.h.chain.head.height)
    assertRpcError(replies[1] as RpcReply, -32601)
    assertRpcError(replies[2] as RpcReply, -32600)
    const onlyNotes = await post(JSON.stringify([{ jsonrpc: '2.0', method: 'chain_head' }]))
    assert.equal(onlyNotes.status, 204)
  })

  it('refuses a body over the limit with 413, by Content-Length or while reading a chunked body', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', method: 'chain_head', id: 1, params: { pad: 'x'.repeat(70 * 1024) } })
    const declared = await http(f.server.port, { body: big })
    assert.equal(declared.status, 413)
    assert.equal((declared.json() as RpcReply).error?.data?.code, 'RPC_BODY_TOO_LARGE')
    const chunked = await http(f.server.port, { body: big, chunked: true })
    assert.equal(chunked.status, 413)
    // and a body just under the limit is read
    const fits = await http(f.server.port, { body: JSON.stringify({ jsonrpc: '2.0', method: 'chain_head', id: 1, pad: 'x'.repeat(60 * 1024) }) })
    assert.equal(fits.status, 200)
  })

  it('answers 405 to other methods than POST on /, 404 on unknown paths', async () => {
    const get = await http(f.server.port, { method: 'GET', path: '/' })
    assert.equal(get.status, 405)
    assert.equal(get.headers.allow, 'POST')
    assert.equal((get.json() as RpcReply).error?.data?.code, 'RPC_HTTP_METHOD_NOT_ALLOWED')
    assert.equal((await http(f.server.port, { method: 'PUT', path: '/', body: '{}' })).status, 405)
    assert.equal((await http(f.server.port, { method: 'POST', path: '/health', body: '{}' })).status, 405)
    assert.equal((await http(f.server.port, { method: 'GET', path: '/admin' })).status, 404)
  })

  it('answers 403 to a Host header outside the allowlist (DNS rebinding) and to a foreign Origin', async (t) => {
    const body = '{"jsonrpc": "2.0", "method": "chain_head", "id": 1}'
    const cases: Array<[string, Record<string, string>, number, string?]> = [
      ['rebound host name', { host: `attacker.example:${f.server.port}` }, 403, 'RPC_HOST_NOT_ALLOWED'],
      ['rebound host without port', { host: 'attacker.example' }, 403, 'RPC_HOST_NOT_ALLOWED'],
      ['localhost', { host: `localhost:${f.server.port}` }, 200],
      ['LOCALHOST in capitals', { host: `LOCALHOST:${f.server.port}` }, 200],
      ['127.0.0.1', { host: `127.0.0.1:${f.server.port}` }, 200],
      ['[::1]', { host: `[::1]:${f.server.port}` }, 200],
      ['foreign origin', { origin: 'https://attacker.example' }, 403, 'RPC_ORIGIN_NOT_ALLOWED'],
      ['opaque origin', { origin: 'null' }, 403, 'RPC_ORIGIN_NOT_ALLOWED'],
      ['local origin', { origin: 'http://localhost:3000' }, 200]
    ]
    for (const [name, headers, status, dataCode] of cases) {
      await t.test(name, async () => {
        const res = await http(f.server.port, { body, headers })
        assert.equal(res.status, status, res.text)
        if (dataCode !== undefined) assert.equal((res.json() as RpcReply).error?.data?.code, dataCode)
      })
    }
    const health = await http(f.server.port, { method: 'GET', path: '/health', headers: { host: 'attacker.example' } })
    assert.equal(health.status, 403)
  })

  it('accepts a configured host and, with "*", any host', async () => {
    const server = await startRpcServer({ chain: f.h.chain, mempool: f.mempool, nodeInfo: () => ({}), limits: { allowedHosts: ['node.hospital.example'] } })
    try {
      const body = '{"jsonrpc": "2.0", "method": "chain_head", "id": 1}'
      assert.equal((await http(server.port, { body, headers: { host: 'node.hospital.example:8545' } })).status, 200)
      assert.equal((await http(server.port, { body, headers: { host: 'localhost' } })).status, 403, 'allowedHosts replaces the defaults')
    } finally {
      await server.close()
    }
    const open = await startRpcServer({ chain: f.h.chain, mempool: f.mempool, nodeInfo: () => ({}), limits: { allowedHosts: ['*'] } })
    try {
      assert.equal((await http(open.port, { body: '{"jsonrpc": "2.0", "method": "chain_head", "id": 1}', headers: { host: 'anything.example' } })).status, 200)
    } finally {
      await open.close()
    }
  })

  it('resolves limits: defaults plus the bound host, set fields override, broken values refuse to start', async () => {
    const limits = resolveLimits('10.0.0.5', { maxBatch: 20, burst: undefined })
    assert.deepEqual(limits.allowedHosts, ['localhost', '127.0.0.1', '[::1]', '10.0.0.5'])
    assert.equal(limits.maxBatch, 20)
    assert.equal(limits.burst, 100)
    assert.equal(limits.maxBodyBytes, 1024 * 1024)
    assert.equal(limits.ratePerSecond, 50)
    assert.deepEqual(resolveLimits('::1').allowedHosts.at(-1), '[::1]')
    assert.throws(() => resolveLimits('127.0.0.1', { maxBodyBytes: 0 }), RangeError)
    assert.throws(() => resolveLimits('127.0.0.1', { maxBatch: 1.5 }), RangeError)
    assert.throws(() => resolveLimits('127.0.0.1', { allowedHosts: 'localhost' as unknown as string[] }), RangeError)
    await assert.rejects(startRpcServer({ chain: f.h.chain, mempool: f.mempool, nodeInfo: () => ({}), limits: { ratePerSecond: -1 } }), RangeError)
  })

  it('answers 429 once a client used its burst, per call in a batch, and again after the refill', async () => {
    const clock = { now: 1_000_000 }
    const server = await startRpcServer({ chain: f.h.chain, mempool: f.mempool, nodeInfo: () => ({}), now: () => clock.now, limits: { ratePerSecond: 2, burst: 5 } })
    try {
      const call = async (): Promise<number> => (await http(server.port, { body: '{"jsonrpc": "2.0", "method": "chain_head", "id": 1}' })).status
      for (let i = 0; i < 5; i++) assert.equal(await call(), 200, `call ${i} is within the burst`)
      const limited = await http(server.port, { body: '{"jsonrpc": "2.0", "method": "chain_head", "id": 1}' })
      assert.equal(limited.status, 429)
      assert.equal((limited.json() as RpcReply).error?.data?.code, 'RPC_RATE_LIMITED')
      assert.ok(Number(limited.headers['retry-after']) >= 1)
      clock.now += 1000 // two tokens back
      assert.equal(await call(), 200)
      assert.equal(await call(), 200)
      assert.equal(await call(), 429)
      clock.now += 2000 // four tokens: a batch of five costs five
      const batch = JSON.stringify(Array.from({ length: 5 }, (_, i) => ({ jsonrpc: '2.0', method: 'chain_head', id: i })))
      assert.equal((await http(server.port, { body: batch })).status, 429)
      // /health is not rate limited
      assert.equal((await http(server.port, { method: 'GET', path: '/health' })).status, 200)
    } finally {
      await server.close()
    }
  })

  it('forgets a client that hangs up in the middle of its body, without logging an error', async () => {
    const logged: unknown[] = []
    const server = await startRpcServer({ chain: f.h.chain, mempool: f.mempool, nodeInfo: () => ({}), logger: { error: (fields) => { logged.push(fields.err) } } })
    const socket = connect(server.port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    socket.write(`POST / HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"jsonrpc":`)
    await eventually(() => socket.bytesWritten > 0)
    socket.destroy()
    assert.equal((await http(server.port, { body: '{"jsonrpc": "2.0", "method": "chain_head", "id": 1}' })).status, 200)
    await server.close()
    assert.deepEqual(logged, [])
  })

  it('logs an internal error on the node and answers -32603 "internal error" without details', async () => {
    const logged: unknown[] = []
    const server = await startRpcServer({
      chain: f.h.chain,
      mempool: f.mempool,
      nodeInfo: () => { throw new Error('secret detail at /home/node/key.json') },
      logger: { error: (fields) => { logged.push(fields.err) } }
    })
    try {
      const reply = await rpc(server, 'node_info')
      assertRpcError(reply, -32603, 'RPC_INTERNAL_ERROR')
      assert.equal(reply.error?.message, 'internal error')
      assert.ok(!JSON.stringify(reply).includes('secret'))
      assert.equal(logged.length, 1)
      assert.match(String(logged[0]), /secret detail/)
    } finally {
      await server.close()
    }
  })
})
