import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { toHex } from '../../../src/crypto/bytes.js'
import { sha256 } from '../../../src/crypto/hash.js'
import {
  ciphertextSize,
  decryptBytes, decryptFile, decryptStream, encryptBytes, encryptFile, encryptStream, newDataKey,
  CIPHER_HEADER_LENGTH, CIPHER_TAG_LENGTH, DATA_KEY_LENGTH, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE
} from '../../../src/records/cipher.js'
import { RecordError } from '../../../src/records/errors.js'

const SEED = 0x5eed
const CHUNK = MIN_CHUNK_SIZE // small chunks keep the multi-chunk cases small
const RECORD = CHUNK + CIPHER_TAG_LENGTH

function expectCode (fn: () => unknown, code: string, message?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RecordError, `expected RecordError ${code}, got ${String(err)}`)
    assert.equal(err.code, code, message)
    return true
  })
}

async function expectCodeAsync (p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RecordError, `expected RecordError ${code}, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  })
}

async function * inPieces (bytes: Uint8Array, pieceSize: number): AsyncGenerator<Uint8Array> {
  if (bytes.length === 0) return
  for (let off = 0; off < bytes.length; off += pieceSize) yield bytes.subarray(off, off + pieceSize)
}

async function collect (gen: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of gen) parts.push(p)
  return new Uint8Array(Buffer.concat(parts))
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b))

void describe('encryptBytes / decryptBytes', () => {
  const key = newDataKey()

  void it('newDataKey is 32 fresh random bytes', () => {
    assert.equal(DATA_KEY_LENGTH, 32)
    assert.equal(newDataKey().length, 32)
    assert.notEqual(toHex(newDataKey()), toHex(newDataKey()))
  })

  void it('round-trips sizes 0, 1, chunk-1, chunk, chunk+1, 3 chunks; the layout is as documented', () => {
    for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7]) {
      const plaintext = new Uint8Array(randomBytes(size))
      const ct = encryptBytes(plaintext, key, { chunkSize: CHUNK })
      const chunks = Math.max(1, Math.ceil(size / CHUNK))
      assert.equal(ct.length, CIPHER_HEADER_LENGTH + size + chunks * CIPHER_TAG_LENGTH, `size ${size}`)
      assert.equal(Buffer.from(ct.subarray(0, 4)).toString('latin1'), 'MCR1')
      assert.equal(Buffer.from(ct).readUInt32BE(4), CHUNK)
      assert.ok(same(decryptBytes(ct, key), plaintext), `size ${size}`)
    }
  })

  void it('uses 64 KiB chunks by default and a fresh nonce prefix per file', () => {
    const a = encryptBytes(new Uint8Array(10), key)
    const b = encryptBytes(new Uint8Array(10), key)
    assert.equal(Buffer.from(a).readUInt32BE(4), DEFAULT_CHUNK_SIZE)
    assert.notEqual(toHex(a.subarray(8, 15)), toHex(b.subarray(8, 15)))
  })

  void it('refuses a bad key length or chunk size when encrypting', () => {
    expectCode(() => encryptBytes(new Uint8Array(1), new Uint8Array(16)), 'RECORD_BAD_LENGTH')
    expectCode(() => decryptBytes(new Uint8Array(100), new Uint8Array(33)), 'RECORD_BAD_LENGTH')
    for (const chunkSize of [0, MIN_CHUNK_SIZE - 1, MAX_CHUNK_SIZE + 1, 1500.5]) {
      expectCode(() => encryptBytes(new Uint8Array(1), key, { chunkSize }), 'RECORD_BAD_CHUNK_SIZE')
    }
  })
})

void describe('ciphertext damage: one case, one code (3 chunks of 1 KiB + a 100-byte final chunk)', () => {
  const key = newDataKey()
  const plaintext = new Uint8Array(randomBytes(3 * CHUNK + 100))
  const ct = encryptBytes(plaintext, key, { chunkSize: CHUNK })
  const chunkAt = (i: number): number => CIPHER_HEADER_LENGTH + i * RECORD
  const flip = (at: number): Uint8Array => {
    const out = new Uint8Array(ct)
    out[at] = (out[at] as number) ^ 0x01
    return out
  }
  const setChunkSize = (size: number): Uint8Array => {
    const out = new Uint8Array(ct)
    Buffer.from(out.buffer, out.byteOffset).writeUInt32BE(size, 4)
    return out
  }
  const full = encryptBytes(new Uint8Array(randomBytes(2 * CHUNK)), key, { chunkSize: CHUNK }) // final chunk is full-size

  const cases: Array<[string, Uint8Array, string, Uint8Array?]> = [
    ['magic byte flipped', flip(0), 'RECORD_CIPHER_BAD_HEADER'],
    ['chunk size below 1 KiB', setChunkSize(1023), 'RECORD_CIPHER_BAD_HEADER'],
    ['chunk size above 4 MiB', setChunkSize(MAX_CHUNK_SIZE + 1), 'RECORD_CIPHER_BAD_HEADER'],
    ['chunk size changed within range', setChunkSize(2048), 'RECORD_CIPHER_TAMPERED'],
    ['nonce prefix byte flipped (header is the AAD)', flip(10), 'RECORD_CIPHER_TAMPERED'],
    ['first chunk byte flipped', flip(chunkAt(0)), 'RECORD_CIPHER_TAMPERED'],
    ['middle chunk byte flipped', flip(chunkAt(1) + 500), 'RECORD_CIPHER_TAMPERED'],
    ['middle chunk tag flipped', flip(chunkAt(2) - 1), 'RECORD_CIPHER_TAMPERED'],
    ['final chunk tag flipped', flip(ct.length - 1), 'RECORD_CIPHER_TAMPERED'],
    ['chunks 0 and 1 swapped', Buffer.concat([ct.subarray(0, chunkAt(0)), ct.subarray(chunkAt(1), chunkAt(2)), ct.subarray(chunkAt(0), chunkAt(1)), ct.subarray(chunkAt(2))]), 'RECORD_CIPHER_TAMPERED'],
    ['final chunk dropped (cut at a chunk boundary)', ct.subarray(0, chunkAt(3)), 'RECORD_CIPHER_TRUNCATED'],
    ['two chunks dropped (cut at a chunk boundary)', ct.subarray(0, chunkAt(2)), 'RECORD_CIPHER_TRUNCATED'],
    ['cut right after the header', ct.subarray(0, CIPHER_HEADER_LENGTH), 'RECORD_CIPHER_TRUNCATED'],
    ['cut inside the header', ct.subarray(0, 9), 'RECORD_CIPHER_TRUNCATED'],
    ['empty file', new Uint8Array(0), 'RECORD_CIPHER_TRUNCATED'],
    ['cut mid-chunk, fewer than 16 bytes left', ct.subarray(0, chunkAt(3) + 10), 'RECORD_CIPHER_TRUNCATED'],
    ['cut mid-chunk (indistinguishable from a modified last chunk)', ct.subarray(0, chunkAt(2) + 500), 'RECORD_CIPHER_TAMPERED'],
    ['bytes appended after a full-size final chunk', Buffer.concat([full, Buffer.from('extra')]), 'RECORD_CIPHER_TRAILING_DATA', full],
    ['a whole copy of the final chunk appended', Buffer.concat([full, full.subarray(full.length - RECORD)]), 'RECORD_CIPHER_TRAILING_DATA', full],
    ['bytes appended after a short final chunk (looks like a modified last chunk)', Buffer.concat([ct, Buffer.from('extra')]), 'RECORD_CIPHER_TAMPERED']
  ]

  for (const [name, damaged, code] of cases) {
    void it(`${name} → ${code}`, async () => {
      expectCode(() => decryptBytes(damaged, key), code)
      // The streaming path agrees, whatever the read sizes.
      for (const piece of [1, 7, RECORD, 4096]) {
        await assert.rejects(collect(decryptStream(inPieces(damaged, piece), key)), (err: unknown) => err instanceof RecordError && err.code === code)
      }
    })
  }

  void it('wrong data key → RECORD_CIPHER_TAMPERED at chunk 0', () => {
    expectCode(() => decryptBytes(ct, newDataKey()), 'RECORD_CIPHER_TAMPERED')
    expectCode(() => decryptBytes(full, newDataKey()), 'RECORD_CIPHER_TAMPERED')
  })

  void it('never yields a tampered chunk: output stops at the last verified chunk', async () => {
    const damaged = flip(chunkAt(1) + 3)
    const released: Uint8Array[] = []
    await assert.rejects(async () => {
      for await (const p of decryptStream(inPieces(damaged, 333), key)) released.push(p)
    })
    const got = Buffer.concat(released)
    assert.equal(got.length, CHUNK)
    assert.ok(same(got, plaintext.subarray(0, CHUNK)))
  })
})

void describe('encryptStream / decryptStream', () => {
  void it('agree with the one-shot helpers whatever the source piece sizes', async () => {
    const key = newDataKey()
    const plaintext = new Uint8Array(randomBytes(5 * CHUNK + 123))
    for (const piece of [1, 100, CHUNK, CHUNK + 1, 100_000]) {
      const ct = await collect(encryptStream(inPieces(plaintext, piece), key, { chunkSize: CHUNK }))
      assert.equal(ct.length, CIPHER_HEADER_LENGTH + plaintext.length + 6 * CIPHER_TAG_LENGTH)
      assert.ok(same(decryptBytes(ct, key), plaintext))
      assert.ok(same(await collect(decryptStream(inPieces(ct, piece), key)), plaintext))
    }
  })

  void it('does not depend on the source keeping its buffers (a reused read buffer)', async () => {
    const key = newDataKey()
    const plaintext = new Uint8Array(randomBytes(3 * CHUNK + 5))
    async function * reusing (): AsyncGenerator<Uint8Array> {
      const buf = new Uint8Array(300)
      for (let off = 0; off < plaintext.length; off += 300) {
        const n = Math.min(300, plaintext.length - off)
        buf.set(plaintext.subarray(off, off + n))
        yield buf.subarray(0, n)
        buf.fill(0xaa)
      }
    }
    const ct = await collect(encryptStream(reusing(), key, { chunkSize: CHUNK }))
    assert.ok(same(decryptBytes(ct, key), plaintext))
  })

  void it('property: random plaintext × random chunk size round-trips', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: MIN_CHUNK_SIZE, max: 3000 }),
      (plaintext, chunkSize) => {
        const key = newDataKey()
        assert.ok(same(decryptBytes(encryptBytes(plaintext, key, { chunkSize }), key), plaintext))
      }
    ), { seed: SEED, numRuns: 200 })
  })

  void it('property: a random mutation never yields other plaintext without an error', () => {
    const key = newDataKey()
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 40 }) })
    )
    fc.assert(fc.property(fc.uint8Array({ maxLength: 4000 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), (plaintext, mutations) => {
      let ct = Buffer.from(encryptBytes(plaintext, key, { chunkSize: CHUNK }))
      for (const m of mutations) {
        const at = ct.length === 0 ? 0 : m.at % ct.length
        if (m.kind === 'flip' && ct.length > 0) {
          ct = Buffer.from(ct)
          ct[at] = (ct[at] as number) ^ m.mask
        } else if (m.kind === 'cut') ct = ct.subarray(0, at)
        else if (m.kind === 'insert') ct = Buffer.concat([ct.subarray(0, at), m.bytes, ct.subarray(at)])
        else if (m.kind === 'delete') ct = Buffer.concat([ct.subarray(0, at), ct.subarray(at + m.count)])
      }
      let out: Uint8Array
      try {
        out = decryptBytes(ct, key)
      } catch (err) {
        assert.ok(err instanceof RecordError, String(err))
        return
      }
      assert.ok(same(out, plaintext), 'a mutated ciphertext decrypted to different plaintext')
    }), { seed: SEED, numRuns: 500 })
  })
})

void describe('encryptFile / decryptFile', () => {
  let dir = ''
  before(() => { dir = mkdtempSync(join(tmpdir(), 'medchain-cipher-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  const listing = (): string[] => readdirSync(dir).sort()

  void it('round-trips a 5 MiB file on disk; contentHash and size describe the ciphertext; progress reaches the total', async () => {
    const plain = join(dir, 'scan.dcm')
    const data = randomBytes(5 * 1024 * 1024 + 321)
    writeFileSync(plain, data)
    const key = newDataKey()
    const progress: Array<[number, number]> = []
    const enc = await encryptFile({ input: plain, output: join(dir, 'scan.mcr'), dataKey: key, onProgress: (d, t) => progress.push([d, t]) })
    const ct = readFileSync(join(dir, 'scan.mcr'))
    assert.equal(enc.size, ct.length)
    assert.equal(toHex(enc.contentHash), toHex(sha256(ct)))
    assert.deepEqual(progress.at(-1), [data.length, data.length])
    assert.ok(progress.length > 10)

    const dec = await decryptFile({ input: join(dir, 'scan.mcr'), output: join(dir, 'scan.out'), dataKey: key, expectedHash: enc.contentHash })
    assert.equal(dec.size, data.length)
    assert.ok(readFileSync(join(dir, 'scan.out')).equals(data))
    assert.deepEqual(listing(), ['scan.dcm', 'scan.mcr', 'scan.out'])
    for (const f of ['scan.dcm', 'scan.mcr', 'scan.out']) rmSync(join(dir, f))
  })

  void it('round-trips an empty file', async () => {
    const key = newDataKey()
    writeFileSync(join(dir, 'empty'), '')
    const enc = await encryptFile({ input: join(dir, 'empty'), output: join(dir, 'empty.mcr'), dataKey: key })
    assert.equal(enc.size, CIPHER_HEADER_LENGTH + CIPHER_TAG_LENGTH)
    assert.deepEqual(await decryptFile({ input: join(dir, 'empty.mcr'), output: join(dir, 'empty.out'), dataKey: key, expectedHash: enc.contentHash }), { size: 0 })
    assert.equal(readFileSync(join(dir, 'empty.out')).length, 0)
    for (const f of ['empty', 'empty.mcr', 'empty.out']) rmSync(join(dir, f))
  })

  void it('refuses to overwrite an existing output unless overwrite is set', async () => {
    const key = newDataKey()
    writeFileSync(join(dir, 'a.txt'), 'allergy: penicillin')
    await encryptFile({ input: join(dir, 'a.txt'), output: join(dir, 'a.mcr'), dataKey: key })
    writeFileSync(join(dir, 'a.out'), 'keep me')
    await expectCodeAsync(encryptFile({ input: join(dir, 'a.txt'), output: join(dir, 'a.mcr'), dataKey: key }), 'RECORD_OUTPUT_EXISTS')
    await expectCodeAsync(decryptFile({ input: join(dir, 'a.mcr'), output: join(dir, 'a.out'), dataKey: key }), 'RECORD_OUTPUT_EXISTS')
    assert.equal(readFileSync(join(dir, 'a.out'), 'utf8'), 'keep me')
    await decryptFile({ input: join(dir, 'a.mcr'), output: join(dir, 'a.out'), dataKey: key, overwrite: true })
    assert.equal(readFileSync(join(dir, 'a.out'), 'utf8'), 'allergy: penicillin')
    assert.deepEqual(listing(), ['a.mcr', 'a.out', 'a.txt'])
    for (const f of ['a.txt', 'a.mcr', 'a.out']) rmSync(join(dir, f))
  })

  void it('every failure leaves no output and no temp file', async () => {
    const key = newDataKey()
    const plain = join(dir, 'lab.json')
    writeFileSync(plain, randomBytes(200_000)) // 4 chunks of 64 KiB
    const good = join(dir, 'lab.mcr')
    const { contentHash } = await encryptFile({ input: plain, output: good, dataKey: key })
    const ct = readFileSync(good)
    const chunk1 = CIPHER_HEADER_LENGTH + DEFAULT_CHUNK_SIZE + CIPHER_TAG_LENGTH
    const flipped = Buffer.from(ct)
    flipped[chunk1 + 1000] = (flipped[chunk1 + 1000] as number) ^ 0x80
    const cases: Array<[string, Buffer, string, Uint8Array | undefined, Uint8Array]> = [
      ['wrong expectedHash', ct, 'RECORD_HASH_MISMATCH', sha256(new Uint8Array([1])), key],
      ['middle chunk flipped', flipped, 'RECORD_CIPHER_TAMPERED', contentHash, key],
      ['final chunk dropped', ct.subarray(0, CIPHER_HEADER_LENGTH + 3 * (DEFAULT_CHUNK_SIZE + CIPHER_TAG_LENGTH)), 'RECORD_CIPHER_TRUNCATED', undefined, key],
      ['wrong data key', ct, 'RECORD_CIPHER_TAMPERED', contentHash, newDataKey()],
      ['not a record', Buffer.from('{"resourceType":"Patient"}'), 'RECORD_CIPHER_BAD_HEADER', undefined, key]
    ]
    for (const [name, bytes, code, expectedHash, dataKey] of cases) {
      writeFileSync(join(dir, 'in.mcr'), bytes)
      await expectCodeAsync(decryptFile({ input: join(dir, 'in.mcr'), output: join(dir, 'out.json'), dataKey, expectedHash }), code)
      assert.ok(!existsSync(join(dir, 'out.json')), name)
      assert.deepEqual(listing(), ['in.mcr', 'lab.json', 'lab.mcr'], name)
    }
    await expectCodeAsync(encryptFile({ input: plain, output: join(dir, 'x.mcr'), dataKey: new Uint8Array(5) }), 'RECORD_BAD_LENGTH')
    await assert.rejects(encryptFile({ input: join(dir, 'missing'), output: join(dir, 'x.mcr'), dataKey: key }), /ENOENT/)
    assert.deepEqual(listing(), ['in.mcr', 'lab.json', 'lab.mcr'])
  })
})

describe('ciphertextSize', () => {
  it('predicts the ciphertext length exactly, for every chunk boundary case', () => {
    const key = new Uint8Array(32).fill(7)
    for (const n of [0, 1, 1023, 1024, 1025, 4096, 4097, 3 * 4096]) {
      assert.equal(encryptBytes(new Uint8Array(n), key, { chunkSize: 4096 }).length, ciphertextSize(n, 4096), `${n} bytes`)
    }
  })
})
