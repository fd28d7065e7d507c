import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  decodeValidatorSet, encodeValidatorSet, findValidator, makeValidatorSet, proposerFor, quorumPower, validatorSetHash,
  type Validator
} from '../../../src/types/validatorSet.js'
import { CodecError, encodeCanonical } from '../../../src/types/codec.js'
import { Domain, hashWithDomain } from '../../../src/crypto/hash.js'
import { compareBytes, toHex } from '../../../src/crypto/bytes.js'
import { makeKeys, TEST_CHAIN_ID } from '../../utils/factories.js'

const SEED = 0x5e7

function validator (label: string, power = 1): Validator {
  return { publicKey: makeKeys(`${label}/validator`).publicKey, power, hospital: makeKeys(label).publicKey }
}
const FOUR = [validator('a', 1), validator('b', 2), validator('c', 3), validator('d', 4)]

function expectCode (fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CodecError, `expected CodecError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  })
}

void describe('validatorSet', () => {
  void it('makeValidatorSet sorts by public key and sums the power', () => {
    const set = makeValidatorSet([...FOUR].reverse())
    assert.equal(set.totalPower, 10)
    for (let i = 1; i < set.validators.length; i++) {
      assert.ok(compareBytes((set.validators[i - 1] as Validator).publicKey, (set.validators[i] as Validator).publicKey) < 0)
    }
  })

  void it('encoding and hash do not depend on the input order', () => {
    const expected = toHex(validatorSetHash(TEST_CHAIN_ID, makeValidatorSet(FOUR)))
    fc.assert(fc.property(fc.shuffledSubarray(FOUR, { minLength: 4, maxLength: 4 }), (order) => {
      const set = makeValidatorSet(order)
      assert.equal(toHex(validatorSetHash(TEST_CHAIN_ID, set)), expected)
      assert.equal(toHex(encodeValidatorSet(set)), toHex(encodeValidatorSet(makeValidatorSet(FOUR))))
    }), { seed: SEED, numRuns: 50 })
  })

  void it('the hash is domain-separated, chain-separated and changes with power, keys and hospital', () => {
    const set = makeValidatorSet(FOUR)
    assert.deepEqual(validatorSetHash(TEST_CHAIN_ID, set), hashWithDomain(Domain.validators, TEST_CHAIN_ID, encodeValidatorSet(set)))
    const hashes = [
      validatorSetHash(TEST_CHAIN_ID, set),
      validatorSetHash('other', set),
      validatorSetHash(TEST_CHAIN_ID, makeValidatorSet([...FOUR.slice(0, 3), validator('d', 5)])),
      validatorSetHash(TEST_CHAIN_ID, makeValidatorSet(FOUR.slice(0, 3))),
      validatorSetHash(TEST_CHAIN_ID, makeValidatorSet([...FOUR.slice(0, 3), { ...validator('d', 4), hospital: makeKeys('a').publicKey }]))
    ].map(toHex)
    assert.equal(new Set(hashes).size, hashes.length)
  })

  void it('encode/decode roundtrip (1, 4 and 256 validators)', () => {
    const many = Array.from({ length: 256 }, (_, i) => ({ publicKey: new Uint8Array(32).fill(0).map((_, j) => (j === 0 ? i : j === 1 ? 7 : 0)), power: 0xffffffff - i, hospital: new Uint8Array(32).fill(i) }))
    for (const list of [[validator('a')], FOUR, many]) {
      const set = makeValidatorSet(list)
      assert.deepEqual(decodeValidatorSet(encodeValidatorSet(set)), set)
    }
  })

  void it('decode refuses unsorted, duplicate, zero-power and badly shaped sets with CODEC_WRONG_SHAPE', () => {
    const set = makeValidatorSet(FOUR)
    const wire = set.validators.map((v) => [v.publicKey, v.power, v.hospital])
    expectCode(() => decodeValidatorSet(encodeCanonical([...wire].reverse())), 'CODEC_WRONG_SHAPE')
    expectCode(() => decodeValidatorSet(encodeCanonical([wire[0] as Uint8Array[], wire[0] as Uint8Array[]])), 'CODEC_WRONG_SHAPE')
    expectCode(() => decodeValidatorSet(encodeCanonical([[set.validators[0]?.publicKey as Uint8Array, 0, set.validators[0]?.hospital as Uint8Array]])), 'CODEC_WRONG_SHAPE')
    expectCode(() => decodeValidatorSet(encodeCanonical([[new Uint8Array(31), 1, new Uint8Array(32)]])), 'CODEC_WRONG_SHAPE')
    expectCode(() => decodeValidatorSet(encodeCanonical([[new Uint8Array(32), 1]])), 'CODEC_WRONG_SHAPE')
    expectCode(() => decodeValidatorSet(encodeCanonical([[new Uint8Array(32), 1n, new Uint8Array(32)]])), 'CODEC_WRONG_SHAPE')
    expectCode(() => decodeValidatorSet(encodeCanonical('validators')), 'CODEC_WRONG_SHAPE')
    expectCode(() => decodeValidatorSet(encodeCanonical(new Array(257).fill([new Uint8Array(32), 1, new Uint8Array(32)]))), 'CODEC_TOO_LARGE')
  })

  void it('decode of random bytes throws only CodecError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try { decodeValidatorSet(bytes) } catch (err) { assert.ok(err instanceof CodecError, String(err)) }
    }), { seed: SEED, numRuns: 500 })
  })

  void it('makeValidatorSet refuses duplicate keys and non-positive or fractional power', () => {
    assert.throws(() => makeValidatorSet([validator('a'), validator('a', 2)]), TypeError)
    assert.throws(() => makeValidatorSet([validator('a', 0)]), TypeError)
    assert.throws(() => makeValidatorSet([validator('a', -1)]), TypeError)
    assert.throws(() => makeValidatorSet([validator('a', 1.5)]), TypeError)
  })

  void it('quorumPower is the smallest power above 2/3 of the total', () => {
    const table: Array<[number, number]> = [[1, 1], [2, 2], [3, 3], [4, 3], [5, 4], [6, 5], [7, 5], [10, 7], [100, 67], [101, 68]]
    for (const [total, quorum] of table) assert.equal(quorumPower(total), quorum, `total ${total}`)
    for (let total = 1; total <= 10_000; total++) {
      const q = quorumPower(total)
      assert.ok(3 * q > 2 * total && 3 * (q - 1) <= 2 * total, `total ${total}`)
    }
  })

  void it('proposerFor rotates through every validator, round by round', () => {
    const set = makeValidatorSet(FOUR)
    const n = set.validators.length
    for (let height = 1; height <= 20; height++) {
      const window = new Set<string>()
      for (let round = 0; round < n; round++) window.add(toHex(proposerFor(set, height, round).publicKey))
      assert.equal(window.size, n, `height ${height}`)
      assert.notEqual(toHex(proposerFor(set, height, 0).publicKey), toHex(proposerFor(set, height + 1, 0).publicKey))
      assert.deepEqual(proposerFor(set, height, 1), proposerFor(set, height + 1, 0))
    }
    const counts = new Map<string, number>()
    for (let height = 1; height <= 4 * n; height++) {
      const k = toHex(proposerFor(set, height, 0).publicKey)
      counts.set(k, (counts.get(k) ?? 0) + 1)
    }
    assert.deepEqual([...counts.values()], [4, 4, 4, 4])
    assert.throws(() => proposerFor(makeValidatorSet([]), 1, 0), RangeError)
  })

  void it('findValidator', () => {
    const set = makeValidatorSet(FOUR)
    assert.deepEqual(findValidator(set, FOUR[2]?.publicKey as Uint8Array), FOUR[2])
    assert.equal(findValidator(set, makeKeys('nobody').publicKey), undefined)
  })
})
