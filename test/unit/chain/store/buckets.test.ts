import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeCanonical, u64 } from '../../../../src/types/codec.js'
import { auditByPatientKey, Bucket, encodeTxLocation, hashKey, heightKey, recordByPatientKey, stateKey } from '../../../../src/chain/store/buckets.js'
import { concatBytes, toHex, u64be, utf8 } from '../../../../src/crypto/bytes.js'

/** The key layout as the table in buckets.ts spells it, built the slow and obvious way. */
const u32be = (n: number): Uint8Array => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); return b }
const patient = Uint8Array.from({ length: 32 }, (_, i) => 255 - i)
const NUMBERS = [0, 1, 255, 256, 65_535, 0x7fff_ffff, 0xffff_ffff, 0x1_0000_0000, 0x1234_5678_9abc, Number.MAX_SAFE_INTEGER]

void describe('store keys (buckets.ts)', () => {
  void it('height keys are the bucket byte and the height as 8 big-endian bytes, also above 2^32', () => {
    for (const n of NUMBERS) assert.equal(toHex(heightKey(Bucket.blockByHeight, n)), toHex(concatBytes(new Uint8Array([Bucket.blockByHeight]), u64be(n))), `height ${n}`)
  })

  void it('audit keys are bucket, patient, sequence; record keys bucket, patient, height, tx index', () => {
    for (const n of NUMBERS) {
      assert.equal(toHex(auditByPatientKey(patient, n)), toHex(concatBytes(new Uint8Array([Bucket.auditByPatient]), patient, u64be(n))), `seq ${n}`)
      for (const index of [0, 1, 9_999, 0xffff_ffff]) {
        assert.equal(toHex(recordByPatientKey(patient, n, index)), toHex(concatBytes(new Uint8Array([Bucket.recordsByPatient]), patient, u64be(n), u32be(index))), `height ${n} index ${index}`)
      }
    }
  })

  void it('hash and state keys are the bucket byte and the hash or the key\'s UTF-8', () => {
    assert.equal(toHex(hashKey(Bucket.txLocation, patient)), toHex(concatBytes(new Uint8Array([Bucket.txLocation]), patient)))
    for (const key of ['validators', `entity/${toHex(patient)}`, 'ümlaut/€']) {
      const got = stateKey(key)
      assert.ok(got instanceof Uint8Array)
      assert.equal(toHex(got), toHex(concatBytes(new Uint8Array([Bucket.state]), utf8(key))), key)
    }
  })

  void it('a transaction location is byte for byte encodeCanonical([u64(height), index]) at every width of the index', () => {
    for (const height of NUMBERS) {
      for (const index of [0, 1, 127, 128, 255, 256, 9_999, 65_535, 65_536, 0xffff_ffff]) {
        assert.equal(toHex(encodeTxLocation(height, index)), toHex(encodeCanonical([u64(height), index])), `height ${height} index ${index}`)
      }
    }
  })
})
