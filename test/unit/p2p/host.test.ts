import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import '../../../src/p2p/polyfill.js'
import { P2pError } from '../../../src/p2p/errors.js'
import { P2pHost, type P2pHostOptions } from '../../../src/p2p/host.js'
import { peerIdOfNodeKey, redialDelayMs } from '../../../src/p2p/peers.js'
import { TEST_CHAIN_ID } from '../../utils/factories.js'
import { nodeKey, peerConfig } from './helpers.js'

const idOf = (key: Uint8Array): string => peerIdOfNodeKey(key).toString()

interface Resolvers<T> { promise: Promise<T>, resolve: (v: T) => void, reject: (e: unknown) => void }
// lib ES2022 has no type for it; the shim provides the function on Node 20
const withResolvers = <T>(): Resolvers<T> => (Promise as unknown as { withResolvers: <U>() => Resolvers<U> }).withResolvers<T>()

describe('Promise.withResolvers shim (Node 20; remove on Node 22)', () => {
  it('resolves and rejects like the standard one', async () => {
    const ok = withResolvers<number>()
    ok.resolve(7)
    assert.equal(await ok.promise, 7)
    const bad = withResolvers<number>()
    bad.reject(new Error('no'))
    await assert.rejects(bad.promise, /no/)
  })
})

describe('redial backoff', () => {
  it('doubles from baseMs and is capped at maxMs (jitter 0.8..1.2)', () => {
    const b = { baseMs: 500, maxMs: 30_000 }
    assert.deepEqual([0, 1, 2, 3].map((n) => redialDelayMs(n, b, () => 0.5)), [500, 1000, 2000, 4000])
    assert.equal(redialDelayMs(20, b, () => 0.5), 30_000)
    assert.equal(redialDelayMs(1_000, b, () => 0.999), Math.round(30_000 * 1.1996))
    assert.equal(redialDelayMs(0, b, () => 0), 400)
  })
})

describe('allowlist (no network: the host is built, not started)', () => {
  const base: P2pHostOptions = { chainId: TEST_CHAIN_ID, nodeKey: nodeKey('self').seed, listen: '/ip4/127.0.0.1/tcp/0', peers: [], handlers: { checkTx: () => { throw new Error('unused') } } }

  it('refuses a peer entry with a bad key, a /p2p/ id of another key, or a bad address (PEER_CONFIG_INVALID)', () => {
    const other = nodeKey('other')
    const bad = [
      { name: 'short key', publicKey: 'abcd', address: '' },
      { name: 'id of another key', publicKey: nodeKey('x').hex, address: `/ip4/127.0.0.1/tcp/1/p2p/${idOf(other.publicKey)}` },
      { name: 'not a multiaddr', publicKey: other.hex, address: 'tcp://127.0.0.1:1' }
    ]
    for (const peer of bad) {
      assert.throws(() => new P2pHost({ ...base, peers: [peer] }), (err: unknown) => err instanceof P2pError && err.code === 'PEER_CONFIG_INVALID', peer.name)
    }
    // the right /p2p/ id is fine
    assert.ok(new P2pHost({ ...base, peers: [{ name: 'ok', publicKey: other.hex, address: `/ip4/127.0.0.1/tcp/1/p2p/${idOf(other.publicKey)}` }] }))
  })

  it('admits configured peers and keys isAllowed accepts; not strangers; a throwing isAllowed refuses', () => {
    const friend = nodeKey('friend')
    const validator = nodeKey('validator')
    const host = new P2pHost({ ...base, peers: [peerConfig('friend', friend)], isAllowed: (k) => Buffer.from(k).equals(Buffer.from(validator.publicKey)) })
    assert.equal(host.isAllowedPeer(idOf(friend.publicKey)), true)
    assert.equal(host.isAllowedPeer(idOf(validator.publicKey)), true)
    assert.equal(host.isAllowedPeer(idOf(nodeKey('stranger').publicKey)), false)
    const errors: unknown[] = []
    const throwing = new P2pHost({ ...base, isAllowed: () => { throw new Error('state unavailable') } })
    throwing.on('handler:error', (e) => errors.push(e))
    assert.equal(throwing.isAllowedPeer(idOf(validator.publicKey)), false)
    assert.equal(errors.length, 1)
  })

  it('bans a peer once its penalty reaches BAN_PENALTY; penalties add up', () => {
    const host = new P2pHost({ ...base })
    const peer = idOf(nodeKey('noisy').publicKey)
    host.addPeer(peerConfig('noisy', nodeKey('noisy')))
    assert.ok(host.penalize(peer, 'SYNC_TIMEOUT') < 100)
    assert.equal(host.isBanned(peer), false)
    host.penalize(peer, 'SYNC_INVALID_BLOCK')
    assert.equal(host.isBanned(peer), true)
    assert.equal(host.isAllowedPeer(peer), false) // configured, but banned
  })
})
