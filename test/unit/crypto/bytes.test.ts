/**
 * The byte helpers every module uses for ids, map keys and state keys. toHex and byteKey call
 * Buffer's native encoders on the Uint8Array itself (see src/crypto/bytes.ts), so these pin their
 * output to the documented Buffer route on views with offsets, on a Buffer's pooled memory and on
 * every byte value.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { byteKey, compareBytes, equalBytes, fromHex, latin1String, readU64be, toHex, u64be, writeU64be } from '../../../src/crypto/bytes.js'
import { sha256 } from '../../../src/crypto/hash.js'

const SEED = 0xb17e5
const viaBuffer = (bytes: Uint8Array, encoding: 'hex' | 'latin1'): string => Buffer.from(bytes).toString(encoding)

void describe('byte helpers', () => {
  void it('toHex and byteKey of every byte value, of the empty array, and of views at an offset', () => {
    const all = new Uint8Array(256).map((_, i) => i)
    assert.equal(toHex(all), viaBuffer(all, 'hex'))
    assert.equal(byteKey(all), viaBuffer(all, 'latin1'))
    assert.equal(byteKey(all).length, 256)
    assert.equal(toHex(new Uint8Array(0)), '')
    assert.equal(byteKey(new Uint8Array(0)), '')
    const view = all.subarray(250, 253)
    assert.equal(toHex(view), 'fafbfc')
    assert.equal(byteKey(view), '\u00fa\u00fb\u00fc')
    // a small Buffer lives in Node's shared 8 KiB pool: only its own bytes are encoded
    const pooled = Buffer.from([1, 2, 3])
    assert.equal(toHex(pooled), '010203')
    assert.equal(byteKey(pooled), '\u0001\u0002\u0003')
  })

  void it('agree with the Buffer route on random views, and byteKey is injective on them', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (data, a, b) => {
      const start = data.length === 0 ? 0 : a % data.length
      const end = start + (data.length === 0 ? 0 : b % (data.length - start + 1))
      const view = data.subarray(start, end)
      assert.equal(toHex(view), viaBuffer(view, 'hex'))
      assert.equal(byteKey(view), viaBuffer(view, 'latin1'))
      // a range of a view: relative to the view, never reading the bytes around it
      assert.equal(latin1String(view, 0, view.length), byteKey(view))
      const half = view.length >> 1
      assert.equal(latin1String(view, half, view.length), viaBuffer(view.subarray(half), 'latin1'))
      assert.deepEqual(fromHex(toHex(view)), new Uint8Array(view))
      const copy = new Uint8Array(view)
      if (copy.length > 0) {
        copy[0] = ((copy[0] as number) + 1) & 0xff
        assert.notEqual(byteKey(copy), byteKey(view))
      }
    }), { seed: SEED, numRuns: 1000 })
  })

  void it('byteKey of a 32-byte id (gossipsub\'s message id strings): one character per byte, distinct for any one-byte change, also where UTF-8 would merge bytes', () => {
    const id = sha256(new Uint8Array([1, 2, 3]))
    assert.equal(byteKey(id).length, id.length)
    assert.equal(byteKey(new Uint8Array(id)), byteKey(id))
    const seen = new Set<string>([byteKey(id)])
    for (let i = 0; i < id.length; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const other = new Uint8Array(id)
        other[i] = (other[i] as number) ^ flip
        const s = byteKey(other)
        assert.ok(!seen.has(s), `byte ${i} ^ ${flip} collides`)
        seen.add(s)
      }
    }
    // bytes that are not valid UTF-8 on their own still keep ids apart (a utf8 decoding would not)
    assert.notEqual(byteKey(new Uint8Array([0x80, 0x41])), byteKey(new Uint8Array([0x81, 0x41])))
    assert.notEqual(byteKey(new Uint8Array([0xfe])), byteKey(new Uint8Array([0xff])))
  })

  void it('fromHex refuses odd lengths and non-hex characters', () => {
    for (const bad of ['0', 'abc', 'zz', '0x00', ' 00', '00 ']) assert.throws(() => fromHex(bad), TypeError, bad)
    assert.deepEqual(fromHex('00FFaa'), new Uint8Array([0, 255, 170]))
  })

  void it('equalBytes and compareBytes', () => {
    assert.equal(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true)
    assert.equal(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false)
    assert.equal(equalBytes(new Uint8Array([1]), new Uint8Array([1, 0])), false)
    assert.ok(compareBytes(new Uint8Array([1]), new Uint8Array([1, 0])) < 0)
    assert.ok(compareBytes(new Uint8Array([2]), new Uint8Array([1, 9])) > 0)
    assert.equal(compareBytes(new Uint8Array([4, 5]), new Uint8Array([4, 5])), 0)
  })
})

describe('readU64be', () => {
  it('reads back what writeU64be wrote, at an offset, for every safe integer, as u64be encodes it', () => {
    fc.assert(fc.property(fc.maxSafeNat(), fc.nat(8), (n, at) => {
      const buf = new Uint8Array(at + 8)
      writeU64be(buf, at, n)
      assert.equal(readU64be(buf, at), n)
      assert.deepEqual(buf.subarray(at), u64be(n))
    }))
    assert.equal(readU64be(Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 2), 0), 2 ** 32 + 2)
  })
})
