import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import fc from 'fast-check'
import { Domain, domainBytes, hashWithDomain, sha256, sha256Binary, sha256Parts, sha256Tagged, HASH_LENGTH, type DomainTag } from '../../../src/crypto/hash.js'
import { byteKey, bytesOfLatin1, concatBytes, toHex, utf8 } from '../../../src/crypto/bytes.js'

const SEED = 0x4a5b
const hex = (b: Uint8Array): string => toHex(b)

void describe('sha256 / sha256Parts', () => {
  void it('known answers: empty string and "abc"', () => {
    assert.equal(hex(sha256(new Uint8Array(0))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    assert.equal(hex(sha256(utf8('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    assert.equal(hex(sha256Parts()), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    assert.equal(hex(sha256Parts(utf8('a'), utf8(''), utf8('bc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })

  void it('agrees with @noble/hashes on random inputs (incl. empty)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 2048 }), (data) => {
      const expected = hex(nobleSha256(data))
      assert.equal(hex(sha256(data)), expected)
      assert.equal(hex(sha256Parts(data)), expected)
      assert.equal(sha256(data).length, HASH_LENGTH)
      // the binary-string form: one character below 256 per byte, the same digest
      const binary = sha256Binary(data)
      assert.equal(binary.length, HASH_LENGTH)
      assert.equal(hex(bytesOfLatin1(binary)), expected)
      assert.equal(byteKey(sha256(data)), binary)
    }), { seed: SEED, numRuns: 1000 })
  })

  void it('sha256Binary hashes a string as its UTF-8 bytes, as sha256 does', () => {
    for (const text of ['', 'abc', 'record/ü', '\u{1F600}']) assert.equal(hex(bytesOfLatin1(sha256Binary(text))), hex(nobleSha256(utf8(text))))
  })

  void it('sha256Parts equals sha256 of the concatenation for any split', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 8 }), (parts) => {
      assert.equal(hex(sha256Parts(...parts)), hex(nobleSha256(concatBytes(...parts))))
    }), { seed: SEED, numRuns: 500 })
  })

  void it('hashes only the view of a subarray, not the whole underlying buffer', () => {
    const big = new Uint8Array(1000).map((_, i) => i & 0xff)
    const view = big.subarray(100, 300)
    assert.equal(hex(sha256(view)), hex(nobleSha256(new Uint8Array(view))))
    assert.equal(hex(sha256Parts(view, view)), hex(nobleSha256(concatBytes(view, view))))
  })

  void it('agrees with @noble/hashes on 1 MB', () => {
    const data = new Uint8Array(1024 * 1024)
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24
    const expected = hex(nobleSha256(data))
    assert.equal(hex(sha256(data)), expected)
    assert.equal(hex(sha256Parts(data.subarray(0, 12345), data.subarray(12345))), expected)
    // a small concatenation after the large one still hashes exactly its parts
    assert.equal(hex(sha256Parts(utf8('a'), utf8('bc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })

  void it('hashes a string as its UTF-8 bytes', () => {
    for (const text of ['', 'entity/00ff', 'ümlaut/€/😀']) assert.equal(hex(sha256(text)), hex(nobleSha256(utf8(text))), text)
  })

  void it('sha256Tagged is sha256(tag || a || b) at every length, also while the scratch buffer grows and its cached views are dropped', () => {
    const rng = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 160 }), { seed: SEED, numRuns: 400 })
    const ref = (tag: number, a: Uint8Array, b?: Uint8Array): string => hex(nobleSha256(concatBytes(new Uint8Array([tag]), a, b ?? new Uint8Array(0))))
    // short inputs first (cached views of the 4 KiB scratch), then growing ones (8 KiB .. 64 KiB)
    // interleaved with short ones again: a stale view of the old scratch would hash old bytes
    const sizes = [0, 1, 32, 64, 127, 128, 129, 5000, 32, 64, 9000, 20000, 65, 33, 40000, 64, 65 * 1024, 32]
    for (const [i, size] of sizes.entries()) {
      const a = new Uint8Array(size).map((_, k) => (k * 31 + i) & 0xff)
      const b = rng[i % rng.length] as Uint8Array
      assert.equal(hex(sha256Tagged(1, a, b)), ref(1, a, b), `size ${size} + ${b.length}`)
      assert.equal(hex(sha256Tagged(0, a)), ref(0, a), `size ${size}`)
      assert.equal(hex(hashWithDomain(Domain.txId, 'chain-x', a)), hex(nobleSha256(concatBytes(domainBytes(Domain.txId, 'chain-x'), a))), `domain, size ${size}`)
    }
    for (const b of rng) {
      const a = rng[(b.length * 7) % rng.length] as Uint8Array
      assert.equal(hex(sha256Tagged(1, a, b)), ref(1, a, b))
      assert.equal(hex(sha256Tagged(0, b)), ref(0, b))
    }
  })

  void it('returns a plain Uint8Array of its own, whose bytes above 0x7f survive the latin1 route', () => {
    const d = sha256(utf8('abc')) // ba 78 16 bf … : several bytes >= 0x80
    assert.equal(Object.getPrototypeOf(d), Uint8Array.prototype)
    assert.equal(d.byteOffset, 0)
    assert.equal(d.buffer.byteLength, HASH_LENGTH)
    const seen = new Set<number>()
    for (let i = 0; seen.size < 256 && i < 10_000; i++) for (const b of sha256(utf8(`v${i}`))) seen.add(b)
    assert.equal(seen.size, 256, 'every byte value comes out of some digest')
  })

  void it('returned digests are independent (no shared, reused output buffer)', () => {
    const a = sha256(utf8('a'))
    const aHex = hex(a)
    for (let i = 0; i < 1000; i++) sha256(utf8(`x${i}`))
    assert.equal(hex(a), aHex)
  })
})

void describe('domain separation', () => {
  const domains = Object.values(Domain) as DomainTag[]

  void it('domain tags are distinct', () => {
    assert.equal(new Set(domains).size, domains.length)
  })

  void it('domainBytes is domain || 0x00 || chainId || 0x00', () => {
    assert.equal(hex(domainBytes(Domain.tx, 'c')), hex(concatBytes(utf8('medchain/tx/v1'), new Uint8Array([0]), utf8('c'), new Uint8Array([0]))))
    assert.equal(hex(domainBytes(Domain.vote, 'medchain-test')), hex(concatBytes(utf8('medchain/vote/v1\u0000medchain-test\u0000'))))
  })

  void it('hashWithDomain equals sha256(domainBytes || body)', () => {
    fc.assert(fc.property(fc.constantFrom(...domains), fc.string({ maxLength: 64 }), fc.uint8Array({ maxLength: 300 }), (domain, chainId, body) => {
      const expected = hex(nobleSha256(concatBytes(utf8(domain), new Uint8Array([0]), utf8(chainId), new Uint8Array([0]), body)))
      assert.equal(hex(hashWithDomain(domain, chainId, body)), expected)
    }), { seed: SEED, numRuns: 500 })
  })

  void it('differs across domains and across chain ids for the same body', () => {
    const body = utf8('the same body')
    const seen = new Set<string>()
    for (const d of domains) {
      for (const chainId of ['medchain-test', 'medchain-prod', 'a', '']) seen.add(hex(hashWithDomain(d, chainId, body)))
    }
    assert.equal(seen.size, domains.length * 4)
    assert.notEqual(hex(hashWithDomain(Domain.tx, 'c', body)), hex(sha256(body)))
  })

  void it('stays correct for many distinct chain ids (the prefix cache never serves a stale prefix)', () => {
    const body = utf8('b')
    for (let i = 0; i < 3000; i++) {
      const chainId = `chain-${i}`
      assert.equal(hex(hashWithDomain(Domain.txId, chainId, body)), hex(nobleSha256(concatBytes(utf8(`medchain/txid/v1\u0000${chainId}\u0000`), body))))
    }
    assert.equal(hex(domainBytes(Domain.txId, 'chain-0')), hex(utf8('medchain/txid/v1\u0000chain-0\u0000')))
  })
})
