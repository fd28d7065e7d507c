import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { computeResultsRoot, decodeReceipt, encodeReceipt, RESULT_OK, type Receipt } from '../../../src/types/receipt.js'
import { CodecError, encodeCanonical } from '../../../src/types/codec.js'
import { merkleRoot } from '../../../src/types/merkle.js'
import { toHex } from '../../../src/crypto/bytes.js'

const SEED = 0x4ec

const SAMPLES: Array<[string, Receipt]> = [
  ['OK without events', { code: RESULT_OK, log: '', events: [] }],
  ['refusal with a log', { code: 'ACCESS_NO_CONSENT', log: 'The grantee has no consent for this record; ask the patient for one.', events: [] }],
  ['an event without attributes', { code: RESULT_OK, log: 'ok', events: [{ kind: 'record.anchored', attributes: [] }] }],
  ['events with attributes', {
    code: RESULT_OK,
    log: 'grant recorded',
    events: [
      { kind: 'consent.granted', attributes: [['grantee', 'ab'.repeat(32)], ['purpose', 'treatment'], ['expiresAt', '2027-01-01']] },
      { kind: 'audit', attributes: [['actor', 'Dr. Ana Souza'], ['note', 'präzise – 患者']] }
    ]
  }],
  ['the largest fields', { code: 'C'.repeat(64), log: 'l'.repeat(1024), events: [{ kind: 'k'.repeat(64), attributes: Array.from({ length: 20 }, (_, i): [string, string] => [`key${i}`.padEnd(64, '.'), 'v'.repeat(1024)]) }] }]
]

function expectCode (fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CodecError, `expected CodecError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  })
}

void describe('receipt', () => {
  for (const [name, r] of SAMPLES) {
    void it(`${name}: encode/decode roundtrip`, () => {
      const bytes = encodeReceipt(r)
      assert.deepEqual(decodeReceipt(bytes), r)
      assert.equal(toHex(encodeReceipt(decodeReceipt(bytes))), toHex(bytes))
    })
  }

  void it('random receipts roundtrip', () => {
    const str = (max: number): fc.Arbitrary<string> => fc.string({ unit: 'binary', maxLength: Math.floor(max / 2) })
    const receiptArb = fc.record({
      code: str(64),
      log: str(200),
      events: fc.array(fc.record({ kind: str(64), attributes: fc.array(fc.tuple(str(64), str(100)), { maxLength: 5 }) }, { noNullPrototype: true }), { maxLength: 5 })
    }, { noNullPrototype: true })
    fc.assert(fc.property(receiptArb, (r) => {
      assert.deepEqual(decodeReceipt(encodeReceipt(r)), r)
    }), { seed: SEED, numRuns: 500 })
  })

  void it('resultsRoot is the Merkle root of the encoded receipts, in order', () => {
    const receipts = SAMPLES.map(([, r]) => r)
    assert.deepEqual(computeResultsRoot(receipts), merkleRoot(receipts.map(encodeReceipt)))
    assert.notDeepEqual(computeResultsRoot(receipts), computeResultsRoot([...receipts].reverse()))
    assert.deepEqual(computeResultsRoot([]), merkleRoot([]))
    const changed = receipts.map((r, i) => (i === 1 ? { ...r, code: RESULT_OK } : r))
    assert.notDeepEqual(computeResultsRoot(changed), computeResultsRoot(receipts))
  })

  void it('decode refusals', () => {
    expectCode(() => decodeReceipt(encodeCanonical(['OK', ''])), 'CODEC_WRONG_SHAPE')
    expectCode(() => decodeReceipt(encodeCanonical(['C'.repeat(65), '', []])), 'CODEC_WRONG_SHAPE')
    expectCode(() => decodeReceipt(encodeCanonical(['OK', 'l'.repeat(1025), []])), 'CODEC_WRONG_SHAPE')
    expectCode(() => decodeReceipt(encodeCanonical([1, '', []])), 'CODEC_WRONG_SHAPE')
    expectCode(() => decodeReceipt(encodeCanonical(['OK', '', [['kind']]])), 'CODEC_WRONG_SHAPE')
    expectCode(() => decodeReceipt(encodeCanonical(['OK', '', [['kind', [['k']]]]])), 'CODEC_WRONG_SHAPE')
    expectCode(() => decodeReceipt(encodeCanonical(['OK', '', [['kind', [['k', new Uint8Array(1)]]]]])), 'CODEC_WRONG_SHAPE')
    expectCode(() => decodeReceipt(encodeCanonical(['OK', '', [['kind', [['k', ['v']]]]]])), 'CODEC_TOO_DEEP')
    expectCode(() => decodeReceipt(encodeCanonical(['OK', '', new Array(257).fill(['k', []])])), 'CODEC_TOO_LARGE')
    expectCode(() => decodeReceipt(new Uint8Array([0x93, 0xa2, 0x4f, 0x4b, 0xa0, 0x90, 0x00])), 'CODEC_TRAILING_BYTES')
  })

  void it('random bytes throw only CodecError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try { decodeReceipt(bytes) } catch (err) { assert.ok(err instanceof CodecError, String(err)) }
    }), { seed: SEED, numRuns: 1000 })
  })
})
