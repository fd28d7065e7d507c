import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeCanonical, u64 } from '../../../src/types/codec.js'
import { concatBytes, fromHex } from '../../../src/crypto/bytes.js'
import { verify } from '../../../src/crypto/ed25519.js'
import { Domain, domainBytes } from '../../../src/crypto/hash.js'
import { ReplayCache, verifySignedQuery } from '../../../src/rpc/auth.js'
import { canonicalJson, querySigningBytes, signQuery } from '../../../src/types/signedQuery.js'
import { RpcError } from '../../../src/rpc/errors.js'
import { makeKeys, TEST_CHAIN_ID } from '../../utils/factories.js'

const patient = makeKeys('auth/patient')

describe('canonicalJson', () => {
  it('sorts object keys at every level, keeps array order, has no whitespace', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } }), '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}')
    assert.equal(canonicalJson({ a: undefined, b: null }), '{"b":null}')
    assert.equal(canonicalJson([]), '[]')
    assert.equal(canonicalJson('é"'), '"é\\""')
  })

  it('gives the same text for the same params in any key order, as parsed from JSON', () => {
    const params = { patient: 'ab', limit: 5, from: 0 }
    assert.equal(canonicalJson(params), canonicalJson(JSON.parse('{"from":0,"limit":5,"patient":"ab"}')))
  })

  it('refuses values JSON cannot carry', () => {
    assert.throws(() => canonicalJson({ a: Number.NaN }), TypeError)
    assert.throws(() => canonicalJson({ a: 1n }), TypeError)
  })
})

describe('signed queries', () => {
  const now = Date.UTC(2026, 5, 1)
  const params = { patient: 'aa'.repeat(32), limit: 10 }

  it('signs domain || chainId || encode([method, canonicalJson(params), u64(timestamp)])', () => {
    const q = signQuery(patient, TEST_CHAIN_ID, 'audit_listByPatient', params, now)
    const message = concatBytes(domainBytes(Domain.query, TEST_CHAIN_ID), encodeCanonical(['audit_listByPatient', canonicalJson(params), u64(now)]))
    assert.deepEqual(querySigningBytes(TEST_CHAIN_ID, 'audit_listByPatient', q, now), message, 'auth is left out of the signed params')
    assert.ok(verify(patient.publicKey, message, fromHex(q.auth.signature)))
    assert.equal(q.auth.timestamp, now)
    assert.equal(q.limit, 10)
  })

  const auth = (q: ReturnType<typeof signQuery>): { requester: Uint8Array, timestamp: number, signature: Uint8Array } =>
    ({ requester: fromHex(q.auth.requester), timestamp: q.auth.timestamp, signature: fromHex(q.auth.signature) })

  const code = (fn: () => void): string => {
    try {
      fn()
    } catch (err) {
      assert.ok(err instanceof RpcError)
      return err.dataCode
    }
    return 'OK'
  }

  it('accepts a fresh query once; refuses other methods, params, chains, stale or future times', () => {
    const replay = new ReplayCache()
    const q = signQuery(patient, TEST_CHAIN_ID, 'records_listByPatient', params, now)
    const check = (over: Partial<Parameters<typeof verifySignedQuery>[0]>): string =>
      code(() => { verifySignedQuery({ chainId: TEST_CHAIN_ID, method: 'records_listByPatient', params: q, auth: auth(q), now, replay: new ReplayCache(), ...over }) })
    assert.equal(check({ method: 'consent_list' }), 'QUERY_BAD_SIGNATURE')
    assert.equal(check({ params: { ...q, limit: 11 } }), 'QUERY_BAD_SIGNATURE')
    assert.equal(check({ chainId: 'other-chain' }), 'QUERY_BAD_SIGNATURE')
    assert.equal(check({ auth: { ...auth(q), requester: makeKeys('auth/other').publicKey } }), 'QUERY_BAD_SIGNATURE')
    assert.equal(check({ now: now + 60_001 }), 'QUERY_EXPIRED')
    assert.equal(check({ now: now - 60_001 }), 'QUERY_EXPIRED')
    assert.equal(check({ now: now + 60_000 }), 'OK')
    assert.equal(check({ replay }), 'OK')
    assert.equal(check({ replay }), 'QUERY_REPLAYED')
  })
})

describe('ReplayCache', () => {
  it('forgets a pair when its window ends, and the oldest past its limit', () => {
    const cache = new ReplayCache(3)
    assert.equal(cache.add('a', 100, 0), true)
    assert.equal(cache.add('a', 100, 50), false)
    assert.equal(cache.add('b', 200, 50), true)
    assert.equal(cache.add('a', 300, 100), true, 'a expired at 100')
    assert.equal(cache.add('c', 400, 150), true)
    assert.equal(cache.add('d', 400, 150), true)
    assert.equal(cache.size, 3)
    assert.equal(cache.add('b', 500, 150), true, 'b was the oldest and was dropped at the limit')
  })
})
