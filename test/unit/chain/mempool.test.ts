import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { toHex } from '../../../src/crypto/bytes.js'
import type { Signer } from '../../../src/crypto/ed25519.js'
import { hasErrorCode } from '../../../src/util/errors.js'
import { Mempool, SignatureCache, type MempoolOptions } from '../../../src/chain/mempool.js'
import { Purpose, TxType, decodeTx, verifyTxSignature, type Tx } from '../../../src/types/tx.js'
import { TEST_CHAIN_ID, bytes32, makeKeys, makeTx } from '../../utils/factories.js'

const alice = makeKeys('mempool/alice')
const bob = makeKeys('mempool/bob')
const carol = makeKeys('mempool/carol')
const dave = makeKeys('mempool/dave')
const mallory = makeKeys('mempool/mallory') // never registered

/** A small transaction; `label` varies the payload so two txs with one nonce differ. */
function access (signer: Signer, nonce: number, label = 'record', chainId = TEST_CHAIN_ID): Tx {
  return makeTx(signer, nonce, { type: TxType.AccessRecord, recordId: bytes32(label), purpose: Purpose.Treatment }, chainId)
}

/** A transaction `extra` bytes larger than `access` (a longer reason). */
function large (signer: Signer, nonce: number, extra: number): Tx {
  return makeTx(signer, nonce, { type: TxType.EmergencyAccess, patient: bytes32('patient'), reason: 'x'.repeat(extra) })
}

const TX_SIZE = access(alice, 0).bytes.length

interface Harness {
  pool: Mempool
  nonces: Map<string, number>
  /** How many times the pool verified a signature. */
  verifyCalls: () => number
}

function harness (opts: Partial<MempoolOptions> = {}, accounts: Array<[Signer, number]> = [[alice, 0], [bob, 0], [carol, 0], [dave, 0]]): Harness {
  const nonces = new Map(accounts.map(([s, n]) => [toHex(s.publicKey), n]))
  let calls = 0
  const pool = new Mempool({
    chainId: TEST_CHAIN_ID,
    getAccountNonce: (publicKey) => nonces.get(toHex(publicKey)),
    verifySignature: (tx) => { calls++; return verifyTxSignature(tx) },
    ...opts
  })
  return { pool, nonces, verifyCalls: () => calls }
}

function withBadSignature (tx: Tx): Uint8Array {
  const bytes = new Uint8Array(tx.bytes)
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0x01
  return bytes
}

const hashes = (txs: Tx[]): string[] => txs.map((t) => toHex(t.hash))

describe('Mempool.checkTx', () => {
  it('admits a valid transaction given as bytes (RPC, gossip) or as a decoded Tx', () => {
    const { pool } = harness()
    const a0 = access(alice, 0)
    const b0 = access(bob, 0)
    assert.deepEqual(pool.checkTx(a0.bytes).hash, a0.hash)
    assert.equal(pool.checkTx(decodeTx(b0.bytes)).nonce, 0)
    assert.equal(pool.size, 2)
    assert.equal(pool.bytes, a0.bytes.length + b0.bytes.length)
    assert.ok(pool.has(a0.hash) && pool.has(b0.hash))
  })

  it('counts each sender\'s pending transactions, future nonces included', () => {
    const { pool } = harness()
    pool.checkTx(access(alice, 0).bytes)
    pool.checkTx(access(alice, 2).bytes)
    pool.checkTx(access(bob, 0).bytes)
    assert.equal(pool.pendingCount(alice.publicKey), 2)
    assert.equal(pool.pendingCount(bob.publicKey), 1)
    assert.equal(pool.pendingCount(carol.publicKey), 0)
  })

  // Each case: a valid transaction (alice, account nonce 5) with one thing broken, and its code.
  // Only a tx refused for capacity got as far as a good signature check, so only it is cached.
  const cases: Array<{ name: string, setup?: (pool: Mempool) => void, input: () => Uint8Array | Tx, code: string, cached?: number }> = [
    { name: 'bytes cut short', input: () => access(alice, 5).bytes.subarray(0, TX_SIZE - 10), code: 'CODEC_MALFORMED' },
    { name: 'a byte after the end', input: () => new Uint8Array([...access(alice, 5).bytes, 0]), code: 'CODEC_TRAILING_BYTES' },
    { name: 'a forbidden msgpack type', input: () => new Uint8Array([0xc0]), code: 'CODEC_FORBIDDEN_TYPE' },
    { name: 'signed for another chain', input: () => access(alice, 5, 'record', 'other-chain').bytes, code: 'TX_WRONG_CHAIN' },
    { name: 'a corrupted signature', input: () => withBadSignature(access(alice, 5)), code: 'TX_BAD_SIGNATURE' },
    { name: 'an unregistered sender', input: () => access(mallory, 5).bytes, code: 'TX_UNKNOWN_SENDER' },
    { name: 'a nonce below the account nonce', input: () => access(alice, 4).bytes, code: 'TX_NONCE_TOO_LOW' },
    { name: 'a nonce more than maxNonceGap ahead', input: () => access(alice, 5 + 64 + 1).bytes, code: 'TX_NONCE_TOO_HIGH' },
    { name: 'already in the pool', setup: (p) => p.checkTx(access(alice, 5).bytes), input: () => access(alice, 5).bytes, code: 'TX_DUPLICATE' },
    { name: 'a pending tx of the sender has that nonce', setup: (p) => p.checkTx(access(alice, 5, 'first').bytes), input: () => access(alice, 5, 'second').bytes, code: 'TX_DUPLICATE_NONCE' },
    { name: 'the pool is full', setup: (p) => p.checkTx(access(bob, 0).bytes), input: () => access(alice, 5).bytes, code: 'MEMPOOL_FULL', cached: 1 }
  ]

  for (const c of cases) {
    it(`refuses ${c.name} with ${c.code} and changes nothing`, () => {
      const { pool } = harness({ maxTxs: c.code === 'MEMPOOL_FULL' ? 1 : 10_000 }, [[alice, 5], [bob, 0]])
      c.setup?.(pool)
      const before = { size: pool.size, bytes: pool.bytes, cached: pool.signatureCache.size }
      assert.throws(() => pool.checkTx(c.input()), (err) => hasErrorCode(err, c.code))
      assert.deepEqual({ size: pool.size, bytes: pool.bytes, cached: pool.signatureCache.size }, { ...before, cached: before.cached + (c.cached ?? 0) })
    })
  }

  it('admits the nonce bounds themselves: the account nonce and account nonce + maxNonceGap', () => {
    const { pool } = harness({ maxNonceGap: 3 }, [[alice, 5]])
    pool.checkTx(access(alice, 5).bytes)
    pool.checkTx(access(alice, 8).bytes)
    assert.throws(() => pool.checkTx(access(alice, 9).bytes), (err) => hasErrorCode(err, 'TX_NONCE_TOO_HIGH'))
    assert.equal(pool.size, 2)
  })

  it('does not cache, count or hold a transaction whose signature is bad', () => {
    const { pool, verifyCalls } = harness()
    pool.checkTx(access(bob, 0).bytes)
    const before = { size: pool.size, bytes: pool.bytes, cached: pool.signatureCache.size }
    const bad = decodeTx(withBadSignature(access(alice, 0)))
    assert.throws(() => pool.checkTx(bad), (err) => hasErrorCode(err, 'TX_BAD_SIGNATURE'))
    assert.equal(verifyCalls(), 2)
    assert.equal(pool.signatureCache.has(bad.hash), false)
    assert.equal(pool.has(bad.hash), false)
    assert.deepEqual({ size: pool.size, bytes: pool.bytes, cached: pool.signatureCache.size }, before)
    // and the correctly signed twin is still welcome
    pool.checkTx(access(alice, 0).bytes)
    assert.equal(pool.size, 2)
  })

  it('runs the cheap checks before the signature check', () => {
    const { pool, verifyCalls } = harness({}, [[alice, 0]])
    pool.checkTx(access(alice, 0, 'first').bytes)
    assert.equal(verifyCalls(), 1)
    const badAndUnknown = withBadSignature(access(mallory, 0))
    assert.throws(() => pool.checkTx(badAndUnknown), (err) => hasErrorCode(err, 'TX_UNKNOWN_SENDER'))
    const badAndSameNonce = withBadSignature(access(alice, 0, 'second'))
    assert.throws(() => pool.checkTx(badAndSameNonce), (err) => hasErrorCode(err, 'TX_DUPLICATE_NONCE'))
    assert.equal(verifyCalls(), 1)
  })
})

describe('Mempool capacity', () => {
  it('evicts the highest-nonce tx of the sender with the most pending when that is more than the newcomer would have', () => {
    const { pool } = harness({ maxTxs: 3 })
    const [a0, a1, a2] = [0, 1, 2].map((n) => pool.checkTx(access(alice, n).bytes)) as [Tx, Tx, Tx]
    const b0 = pool.checkTx(access(bob, 0).bytes)
    assert.equal(pool.size, 3)
    assert.equal(pool.has(a2.hash), false)
    assert.ok(pool.has(a0.hash) && pool.has(a1.hash) && pool.has(b0.hash))
    assert.equal(pool.bytes, 3 * TX_SIZE)
  })

  it('refuses with MEMPOOL_FULL when no sender has more pending than the newcomer would', () => {
    const { pool } = harness({ maxTxs: 3 })
    const held = [access(alice, 0), access(bob, 0), access(carol, 0)].map((t) => pool.checkTx(t.bytes))
    assert.throws(() => pool.checkTx(access(dave, 0).bytes), (err) => hasErrorCode(err, 'MEMPOOL_FULL'))
    // alice would have 2 pending, more than anyone: refused too, not evicting someone else
    assert.throws(() => pool.checkTx(access(alice, 1).bytes), (err) => hasErrorCode(err, 'MEMPOOL_FULL'))
    assert.deepEqual(hashes(pool.reap(Infinity)), hashes(held))
  })

  it('evicts several transactions when the newcomer needs the bytes', () => {
    const { pool } = harness({ maxBytes: 4 * TX_SIZE })
    const a = [0, 1, 2, 3].map((n) => pool.checkTx(access(alice, n).bytes))
    const big = large(bob, 0, TX_SIZE / 2)
    assert.ok(big.bytes.length > TX_SIZE && big.bytes.length < 2 * TX_SIZE)
    pool.checkTx(big.bytes)
    assert.deepEqual(a.map((t) => pool.has(t.hash)), [true, true, false, false])
    assert.ok(pool.has(big.hash))
    assert.equal(pool.bytes, 2 * TX_SIZE + big.bytes.length)
  })

  it('evicts nothing when it cannot free enough room after all', () => {
    const { pool } = harness({ maxBytes: 4 * TX_SIZE })
    const held = [access(alice, 0), access(alice, 1), access(bob, 0), access(carol, 0)].map((t) => pool.checkTx(t.bytes))
    // one eviction (alice's nonce 1) is not enough, and then nobody has more than dave would
    assert.throws(() => pool.checkTx(large(dave, 0, TX_SIZE / 2).bytes), (err) => hasErrorCode(err, 'MEMPOOL_FULL'))
    assert.equal(pool.size, 4)
    assert.ok(held.every((t) => pool.has(t.hash)))
  })

  it('refuses a transaction larger than maxBytes whatever it could evict', () => {
    const { pool } = harness({ maxBytes: TX_SIZE })
    assert.throws(() => pool.checkTx(large(alice, 0, 10).bytes), (err) => hasErrorCode(err, 'MEMPOOL_FULL'))
    assert.equal(pool.size, 0)
  })
})

describe('Mempool.reap', () => {
  it('interleaves 3 senders first come, first served', () => {
    const { pool } = harness()
    const arrival = [access(alice, 0), access(bob, 0), access(alice, 1), access(carol, 0), access(bob, 1), access(alice, 2)]
    for (const t of arrival) pool.checkTx(t.bytes)
    assert.deepEqual(hashes(pool.reap(Infinity)), hashes(arrival))
    assert.equal(pool.size, 6, 'reap removes nothing')
  })

  it('puts a sender\'s nonces in order even when they arrived out of order', () => {
    const { pool } = harness()
    const [a0, b1, c0, b0, a1] = [access(alice, 0), access(bob, 1), access(carol, 0), access(bob, 0), access(alice, 1)]
    for (const t of [a0, b1, c0, b0, a1]) pool.checkTx(t!.bytes)
    assert.deepEqual(hashes(pool.reap(Infinity)), hashes([a0!, c0!, b0!, b1!, a1!]))
  })

  it('stops a sender at a nonce gap and starts each sender at its account nonce', () => {
    const { pool } = harness({}, [[alice, 0], [bob, 3]])
    const a0 = pool.checkTx(access(alice, 0).bytes)
    pool.checkTx(access(alice, 2).bytes)
    pool.checkTx(access(alice, 3).bytes)
    pool.checkTx(access(bob, 4).bytes)
    assert.deepEqual(hashes(pool.reap(Infinity)), hashes([a0]))
  })

  it('never exceeds maxBytes or maxTxs', () => {
    const { pool } = harness()
    const txs = [access(alice, 0), access(bob, 0), access(carol, 0)].map((t) => pool.checkTx(t.bytes))
    assert.deepEqual(hashes(pool.reap(2 * TX_SIZE)), hashes(txs.slice(0, 2)))
    assert.deepEqual(hashes(pool.reap(3 * TX_SIZE - 1)), hashes(txs.slice(0, 2)))
    assert.deepEqual(hashes(pool.reap(3 * TX_SIZE)), hashes(txs))
    assert.deepEqual(pool.reap(TX_SIZE - 1), [])
    assert.deepEqual(hashes(pool.reap(Infinity, 1)), hashes(txs.slice(0, 1)))
  })

  it('ends a sender\'s run at a transaction that does not fit while other senders continue', () => {
    const { pool } = harness()
    const a0 = pool.checkTx(large(alice, 0, 2 * TX_SIZE).bytes)
    pool.checkTx(access(alice, 1).bytes) // would fit, but cannot go before alice's nonce 0
    const b0 = pool.checkTx(access(bob, 0).bytes)
    const b1 = pool.checkTx(access(bob, 1).bytes)
    assert.ok(a0.bytes.length > 2 * TX_SIZE + 100)
    assert.deepEqual(hashes(pool.reap(2 * TX_SIZE + 100)), hashes([b0, b1]))
  })
})

describe('Mempool.update', () => {
  it('drops committed and stale transactions, keeps future ones, and a gap filler makes them reapable', () => {
    const { pool, nonces } = harness()
    const [a0, a1, a3, b0, b1] = [access(alice, 0), access(alice, 1), access(alice, 3), access(bob, 0), access(bob, 1)]
    for (const t of [a0, a1, a3, b0, b1]) pool.checkTx(t!.bytes)
    // the block holds a0, b0 and another nonce-1 tx of alice that this node never saw
    const otherA1 = access(alice, 1, 'from another node')
    nonces.set(toHex(alice.publicKey), 2)
    nonces.set(toHex(bob.publicKey), 1)
    pool.update(7, [a0!, otherA1, b0!])
    assert.equal(pool.height, 7)
    assert.deepEqual([a0, a1, a3, b0, b1].map((t) => pool.has(t!.hash)), [false, false, true, false, true])
    assert.equal(pool.size, 2)
    assert.equal(pool.bytes, 2 * TX_SIZE)
    assert.deepEqual(hashes(pool.reap(Infinity)), hashes([b1!]))
    const a2 = pool.checkTx(access(alice, 2).bytes)
    assert.deepEqual(hashes(pool.reap(Infinity)), hashes([b1!, a2, a3!]))
  })

  it('drops every transaction of a sender that is no longer registered', () => {
    const { pool, nonces } = harness()
    pool.checkTx(access(alice, 0).bytes)
    pool.checkTx(access(alice, 1).bytes)
    const b0 = pool.checkTx(access(bob, 0).bytes)
    nonces.delete(toHex(alice.publicKey))
    pool.update(1, [])
    assert.equal(pool.size, 1)
    assert.ok(pool.has(b0.hash))
  })

  it('remove() takes one transaction out and says whether it was there', () => {
    const { pool } = harness()
    const a0 = pool.checkTx(access(alice, 0).bytes)
    assert.equal(pool.remove(a0.hash), true)
    assert.equal(pool.remove(a0.hash), false)
    assert.equal(pool.size, 0)
    assert.equal(pool.bytes, 0)
    assert.deepEqual(pool.reap(Infinity), [])
  })
})

describe('SignatureCache', () => {
  it('drops the oldest hashes first; re-adding makes a hash the newest', () => {
    const cache = new SignatureCache(4)
    const [h1, h2, h3, h4] = [bytes32('1'), bytes32('2'), bytes32('3'), bytes32('4')]
    cache.add(h1)
    cache.add(h2)
    cache.add(h3)
    cache.add(h1) // now newer than h2 and h3
    cache.add(h4)
    assert.deepEqual([cache.has(h1), cache.has(h2), cache.has(h3), cache.has(h4)], [true, false, true, true])
    assert.equal(cache.size, 3)
  })

  it('a transaction admitted once is cached and not verified again when re-admitted after remove()', () => {
    const { pool, verifyCalls } = harness()
    const a0 = pool.checkTx(access(alice, 0).bytes)
    assert.equal(pool.signatureCache.has(a0.hash), true)
    assert.equal(verifyCalls(), 1)
    pool.remove(a0.hash)
    pool.checkTx(a0.bytes)
    assert.equal(pool.has(a0.hash), true)
    assert.equal(verifyCalls(), 1)
  })

  it('a shared cache spares block validation and the mempool the same verification', () => {
    const shared = new SignatureCache()
    const b0 = access(bob, 0)
    shared.add(b0.hash) // e.g. verified while validating a block
    const { pool, verifyCalls } = harness({ signatureCache: shared })
    pool.checkTx(b0.bytes)
    const a0 = pool.checkTx(access(alice, 0).bytes)
    assert.equal(verifyCalls(), 1)
    assert.equal(shared.has(a0.hash), true)
  })
})
