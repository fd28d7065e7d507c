import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isUtf8 } from 'node:buffer'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import {
  CodecError, decodeCanonical, encodeCanonical, readBytes, readBytesMax, readList, readOptionalBytes, readString,
  readTuple, readU32, readU64, scanWire, u64, type DecodeLimits, type Wire
} from '../../../src/types/codec.js'
import { BLOCK_DECODE_LIMITS, TX_DECODE_LIMITS } from '../../../src/types/limits.js'
import { toHex, fromHex } from '../../../src/crypto/bytes.js'

const SEED = 0xc0dec
const RUNS = 1000
/** Roomy limits for the property tests (the project's real limits are tested separately). */
const LIMITS: DecodeLimits = { maxBytes: 4 * 1024 * 1024, maxItems: 100_000, maxDepth: 8 }

/** Buffers (what msgpackr decodes bin to) become plain Uint8Arrays, recursively. */
function normalise (w: Wire): Wire {
  if (Array.isArray(w)) return w.map(normalise)
  if (w instanceof Uint8Array) return new Uint8Array(w)
  return w
}

function expectCodecError (fn: () => unknown, code?: string | string[]): CodecError {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  assert.ok(caught instanceof CodecError, `expected a CodecError, got ${caught === undefined ? 'no error' : String(caught)}`)
  if (code !== undefined) {
    const codes = Array.isArray(code) ? code : [code]
    assert.ok(codes.includes(caught.code), `expected ${codes.join(' or ')}, got ${caught.code}`)
  }
  return caught
}

const decode = (hex: string, limits: DecodeLimits = LIMITS): Wire => decodeCanonical(fromHex(hex), limits)

// ---------------------------------------------------------------------------------------------
// arbitraries

const scalarArb: fc.Arbitrary<Wire> = fc.oneof(
  fc.nat({ max: 0xffffffff }),
  fc.constantFrom(0, 1, 127, 128, 255, 256, 65535, 65536, 0xffffffff),
  fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.uint8Array({ maxLength: 300 })
)

/** Wire values: scalars and arrays nested to depth 3. */
const wireArb: fc.Arbitrary<Wire> = fc.letrec<{ wire: Wire, level1: Wire[], level2: Wire[], level3: Wire[] }>((tie) => ({
  wire: fc.oneof(scalarArb, tie('level1')),
  level1: fc.array(fc.oneof(scalarArb, tie('level2')), { maxLength: 6 }),
  level2: fc.array(fc.oneof(scalarArb, tie('level3')), { maxLength: 6 }),
  level3: fc.array(scalarArb, { maxLength: 6 })
})).wire

// ---------------------------------------------------------------------------------------------

void describe('codec: properties', () => {
  void it('decodeCanonical(encodeCanonical(x)) equals x', () => {
    fc.assert(fc.property(wireArb, (x) => {
      const bytes = encodeCanonical(x)
      assert.deepEqual(normalise(decodeCanonical(bytes, LIMITS)), normalise(x))
    }), { seed: SEED, numRuns: RUNS })
  })

  void it('encodings handed out earlier stay intact across later decodes and encodes', () => {
    fc.assert(fc.property(fc.array(wireArb, { minLength: 2, maxLength: 40 }), (values) => {
      const kept = values.map((v) => ({ bytes: encodeCanonical(v), hex: '' }))
      for (const k of kept) k.hex = toHex(k.bytes)
      // msgpackr encodes into a buffer it reuses: a later encodeCanonical must not land in bytes a
      // caller holds, and decoding (bin values are views of the input) must not change them
      for (const [i, k] of kept.entries()) {
        decodeCanonical(k.bytes, LIMITS)
        const fresh = encodeCanonical(values[(i + 1) % values.length] as Wire)
        assert.equal(toHex(fresh), kept[(i + 1) % kept.length]?.hex)
      }
      for (const k of kept) assert.equal(toHex(k.bytes), k.hex)
    }), { seed: SEED, numRuns: RUNS / 4 })
  })

  void it('random byte strings throw nothing but CodecError, and never hang', () => {
    // bias towards the type bytes we accept so that the walk goes deeper than the first byte
    const byteArb = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x91, 0x92, 0x93, 0x9f, 0xdc, 0xdd, 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb, 0xcc, 0xcd, 0xce, 0xd3, 0xa3, 0x00, 0xff))
    fc.assert(fc.property(fc.array(byteArb, { maxLength: 64 }).map((a) => new Uint8Array(a)), (bytes) => {
      const started = performance.now()
      try {
        const value = decodeCanonical(bytes, LIMITS)
        assert.equal(toHex(encodeCanonical(value)), toHex(bytes))
      } catch (err) {
        assert.ok(err instanceof CodecError, `not a CodecError: ${String(err)} on ${toHex(bytes)}`)
      }
      assert.ok(performance.now() - started < 1000, `decoding ${toHex(bytes)} took too long`)
    }), { seed: SEED, numRuns: 5 * RUNS })
  })

  void it('single-byte mutations of valid encodings decode to a value re-encoding to those bytes, or throw CodecError', () => {
    fc.assert(fc.property(wireArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (x, where, byte) => {
      const bytes = new Uint8Array(encodeCanonical(x))
      const i = where % bytes.length
      if (bytes[i] === byte) return
      bytes[i] = byte
      try {
        const value = decodeCanonical(bytes, LIMITS)
        assert.equal(toHex(encodeCanonical(value)), toHex(bytes))
      } catch (err) {
        assert.ok(err instanceof CodecError, `not a CodecError: ${String(err)}`)
      }
    }), { seed: SEED, numRuns: RUNS })
  })

  void it('random bytes inside a str header decode only when they are valid UTF-8', () => {
    const bodyArb = fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x80, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xa0, 0x9f)), { minLength: 1, maxLength: 80 })
    let accepted = 0
    fc.assert(fc.property(bodyArb, (arr) => {
      const body = new Uint8Array(arr)
      const header = body.length < 32 ? [0xa0 | body.length] : [0xd9, body.length]
      const bytes = new Uint8Array([...header, ...body])
      try {
        decodeCanonical(bytes, LIMITS)
        accepted++
        assert.ok(isUtf8(body), `accepted invalid UTF-8 ${toHex(body)}`)
      } catch (err) {
        assert.ok(err instanceof CodecError)
      }
    }), { seed: SEED, numRuns: 3 * RUNS })
    assert.ok(accepted > 0)
  })
})

void describe('codec: the one encoding of each value', () => {
  const table: Array<[Wire, string]> = [
    [0, '00'], [127, '7f'], [128, 'cc80'], [255, 'ccff'], [256, 'cd0100'], [65535, 'cdffff'], [65536, 'ce00010000'],
    [0xffffffff, 'ceffffffff'], [0n, 'd30000000000000000'], [5n, 'd30000000000000005'], [2n ** 53n - 1n, 'd3001fffffffffffff'],
    ['', 'a0'], ['a', 'a161'], ['é', 'a2c3a9'], [new Uint8Array(0), 'c400'], [new Uint8Array([1, 2]), 'c4020102'],
    [[], '90'], [[1, [2]], '92019102']
  ]
  for (const [value, hex] of table) {
    void it(`${typeof value === 'bigint' ? `${value}n` : JSON.stringify(value, (_k, v: unknown) => v instanceof Uint8Array ? `bytes:${toHex(v)}` : v)} encodes as ${hex} and back`, () => {
      assert.equal(toHex(encodeCanonical(value)), hex)
      assert.deepEqual(normalise(decode(hex)), normalise(value))
    })
  }

  void it('length-prefix boundaries roundtrip (fixstr/str8/str16/str32, bin8/16/32, fixarray/array16/array32)', () => {
    for (const n of [31, 32, 255, 256, 65535, 65536]) {
      const s = 'x'.repeat(n)
      assert.equal(decodeCanonical(encodeCanonical(s), LIMITS), s)
      const b = new Uint8Array(n).fill(7)
      assert.deepEqual(normalise(decodeCanonical(encodeCanonical(b), LIMITS)), b)
    }
    for (const n of [15, 16, 65535, 65536]) {
      const a = new Array<Wire>(n).fill(1)
      assert.deepEqual(decodeCanonical(encodeCanonical(a), LIMITS), a)
    }
  })
})

void describe('codec: refusals', () => {
  void it('non-minimal widths → CODEC_NON_CANONICAL', () => {
    for (const hex of [
      'cc05', // uint8 for a fixint
      'cd0005', // uint16 for a fixint
      'cd00ff', // uint16 for a uint8
      'ce00000005', // uint32 for a fixint
      'ce0000ffff', // uint32 for a uint16
      'd90161', // str8 for a fixstr
      'da000161', // str16 for a fixstr
      'c5000101', // bin16 for a bin8
      'c60000000101', // bin32 for a bin8
      'dc000101', // array16 for a fixarray
      'dd0000000101' // array32 for a fixarray
    ]) expectCodecError(() => decode(hex), 'CODEC_NON_CANONICAL')
  })

  void it('a trailing byte → CODEC_TRAILING_BYTES', () => {
    const err = expectCodecError(() => decode('0500'), 'CODEC_TRAILING_BYTES')
    assert.deepEqual(err.type, { code: 'CODEC_TRAILING_BYTES', offset: 1 })
    expectCodecError(() => decode('920102ff'), 'CODEC_TRAILING_BYTES')
  })

  void it('forbidden msgpack types → CODEC_FORBIDDEN_TYPE', () => {
    const cases: Record<string, string> = {
      float64: 'cb3ff0000000000000',
      float32: 'ca3f800000',
      fixmap: '81a16101',
      'empty fixmap': '80',
      map16: 'de0001a16101',
      map32: 'df00000001a16101',
      nil: 'c0',
      true: 'c3',
      false: 'c2',
      'never used (0xc1)': 'c1',
      'negative fixint -1': 'ff',
      'negative fixint -32': 'e0',
      int8: 'd0fb',
      int16: 'd1fffb',
      int32: 'd2fffffffb',
      uint64: 'cf0000000000000005',
      fixext1: 'd40100',
      fixext2: 'd5010000',
      fixext4: 'd60100000000',
      fixext8: 'd7010000000000000000',
      fixext16: 'd80100000000000000000000000000000000',
      ext8: 'c7010100',
      ext16: 'c800010100',
      ext32: 'c9000000010100',
      'timestamp ext -1': 'd6ff00000000',
      'nil inside an array': '9201c0'
    }
    for (const [name, hex] of Object.entries(cases)) {
      const err = expectCodecError(() => decode(hex), 'CODEC_FORBIDDEN_TYPE')
      assert.ok(err.type.code === 'CODEC_FORBIDDEN_TYPE', name)
    }
    const nested = expectCodecError(() => decode('9201c0'))
    assert.deepEqual(nested.type, { code: 'CODEC_FORBIDDEN_TYPE', offset: 2, byte: 0xc0 })
  })

  void it('huge length prefixes are refused before anything is allocated', () => {
    const before = process.memoryUsage().arrayBuffers
    const cases: Array<[string, string]> = [
      ['array32 of 0xffffffff items', 'ddffffffff'],
      ['bin32 of 0xffffffff bytes', 'c6ffffffff00'],
      ['str32 of 0xffffffff bytes', 'dbffffffff61'],
      ['str32 of 0x7fffffff bytes', 'db7fffffff'],
      ['array16 of 0xffff items', 'dcffff01'],
      ['bin16 of 0xffff bytes', 'c5ffff'],
      ['nested array32', '91ddffffffff']
    ]
    for (const [name, hex] of cases) {
      const err = expectCodecError(() => decode(hex), ['CODEC_MALFORMED', 'CODEC_TOO_LARGE'])
      assert.ok(err.code === 'CODEC_MALFORMED' || err.code === 'CODEC_TOO_LARGE', name)
      expectCodecError(() => decode(hex, TX_DECODE_LIMITS), ['CODEC_MALFORMED', 'CODEC_TOO_LARGE'])
      expectCodecError(() => decode(hex, BLOCK_DECODE_LIMITS), ['CODEC_MALFORMED', 'CODEC_TOO_LARGE'])
    }
    const grew = process.memoryUsage().arrayBuffers - before
    assert.ok(grew < 50 * 1024 * 1024, `arrayBuffers grew by ${grew} bytes`)
  })

  void it('an array longer than maxItems → CODEC_TOO_LARGE', () => {
    const bytes = encodeCanonical(new Array<Wire>(20).fill(0))
    const err = expectCodecError(() => decodeCanonical(bytes, { ...LIMITS, maxItems: 19 }), 'CODEC_TOO_LARGE')
    assert.deepEqual(err.type, { code: 'CODEC_TOO_LARGE', size: 20, limit: 19 })
    assert.equal((decodeCanonical(bytes, { ...LIMITS, maxItems: 20 }) as Wire[]).length, 20)
  })

  void it('10,000 nested arrays → CODEC_TOO_DEEP, no stack overflow', () => {
    const bytes = new Uint8Array(10_001).fill(0x91)
    bytes[10_000] = 0x90
    for (const limits of [LIMITS, TX_DECODE_LIMITS, BLOCK_DECODE_LIMITS, { ...LIMITS, maxDepth: 1000 }]) {
      const err = expectCodecError(() => decodeCanonical(bytes, limits), 'CODEC_TOO_DEEP')
      assert.deepEqual(err.type, { code: 'CODEC_TOO_DEEP', depth: limits.maxDepth + 1 })
    }
  })

  void it('maxDepth is exact: depth n is accepted with maxDepth n and refused with n - 1', () => {
    const nested = encodeCanonical([[[[]]]]) // 4 levels
    assert.deepEqual(decodeCanonical(nested, { ...LIMITS, maxDepth: 4 }), [[[[]]]])
    expectCodecError(() => decodeCanonical(nested, { ...LIMITS, maxDepth: 3 }), 'CODEC_TOO_DEEP')
  })

  void it('input over maxBytes → CODEC_TOO_LARGE', () => {
    const bytes = encodeCanonical(new Uint8Array(100))
    const err = expectCodecError(() => decodeCanonical(bytes, { ...LIMITS, maxBytes: bytes.length - 1 }), 'CODEC_TOO_LARGE')
    assert.deepEqual(err.type, { code: 'CODEC_TOO_LARGE', size: bytes.length, limit: bytes.length - 1 })
    decodeCanonical(bytes, { ...LIMITS, maxBytes: bytes.length })
    expectCodecError(() => decodeCanonical(new Uint8Array(TX_DECODE_LIMITS.maxBytes + 1), TX_DECODE_LIMITS), 'CODEC_TOO_LARGE')
  })

  void it('empty and truncated inputs → CODEC_MALFORMED', () => {
    for (const hex of ['', 'cc', 'cd00', 'ce000000', 'd300000000000000', 'a36161', 'c403aabb', 'd905', 'c5', '92', '9201', 'dc00', 'dd000000']) {
      expectCodecError(() => decode(hex), 'CODEC_MALFORMED')
    }
  })

  void it('invalid UTF-8 in a str is refused', () => {
    const bad = [
      '80', // lone continuation byte
      'c0af', // overlong '/'
      'c1bf', // overlong
      'e080af', // overlong 3-byte
      'eda080', // UTF-16 surrogate U+D800
      'edbfbf', // surrogate U+DFFF
      'eda0bdedb88d', // surrogate pair written as two 3-byte sequences (CESU-8)
      'f4908080', // above U+10FFFF
      'f888808080', // 5-byte form
      'e282', // truncated
      'ff', 'fe',
      '6162ff63'
    ]
    for (const body of bad) {
      const len = body.length / 2
      expectCodecError(() => decode(`${(0xa0 | len).toString(16)}${body}`))
      // longer strings took another path in msgpackr: pad to str8
      const padded = '61'.repeat(60) + body
      expectCodecError(() => decode(`d9${(padded.length / 2).toString(16)}${padded}`))
      assert.equal(isUtf8(fromHex(body)), false, body)
    }
  })

  void it('a BOM is a character: kept at the start of a str, short or long', () => {
    assert.equal(decode('a3efbbbf'), '\ufeff')
    assert.equal(decode(toHex(encodeCanonical('\ufeff' + 'b'.repeat(40)))), '\ufeff' + 'b'.repeat(40))
  })

  void it('decoding leaves the input untouched (no bytes changed, no property added)', () => {
    const bytes = encodeCanonical([1, 'a', new Uint8Array(3), [2n]])
    const before = toHex(bytes)
    decodeCanonical(bytes, LIMITS)
    assert.equal(toHex(bytes), before)
    assert.deepEqual(Reflect.ownKeys(bytes).filter((k) => typeof k !== 'string' || !/^\d+$/.test(k)), [])
    const buffer = Buffer.from(bytes)
    decodeCanonical(buffer, LIMITS)
    assert.deepEqual(Reflect.ownKeys(buffer).filter((k) => typeof k !== 'string' || !/^\d+$/.test(k)), [])
  })

  void it('bin values are plain Uint8Array views of the input, from a Uint8Array and from a Buffer alike', () => {
    const bytes = encodeCanonical([new Uint8Array([1, 2, 3])])
    for (const input of [bytes, Buffer.from(bytes)]) {
      const bin = (decodeCanonical(input, LIMITS) as Wire[])[0] as Uint8Array
      assert.equal(Object.getPrototypeOf(bin), Uint8Array.prototype)
      assert.equal(bin.buffer, input.buffer, 'a view, not a copy')
      assert.deepEqual([...bin], [1, 2, 3])
    }
  })

  void it('scanWire checks structure only and throws the same codes', () => {
    scanWire(encodeCanonical([1, 'a', new Uint8Array(3), [2n]]), LIMITS)
    expectCodecError(() => scanWire(fromHex('c0'), LIMITS), 'CODEC_FORBIDDEN_TYPE')
    expectCodecError(() => scanWire(fromHex('0101'), LIMITS), 'CODEC_TRAILING_BYTES')
  })
})

// ---------------------------------------------------------------------------------------------
// The rule decodeCanonical replaced: scan, then msgpackr's unpack, its pack again, and compare. The
// one-pass decoder must give the same verdict, the same error code and the same value on every input.

const oraclePackr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false, int64AsType: 'bigint' } as ConstructorParameters<typeof Packr>[0])

type Outcome = { value: Wire } | { code: string }

function byReencoding (bytes: Uint8Array, limits: DecodeLimits): Outcome {
  try {
    scanWire(bytes, limits)
  } catch (err) {
    return { code: (err as CodecError).code }
  }
  let value: Wire
  try {
    value = oraclePackr.unpack(new Uint8Array(bytes)) as Wire
  } catch {
    return { code: 'CODEC_MALFORMED' }
  }
  const again = oraclePackr.pack(value)
  return Buffer.compare(again, bytes) === 0 ? { value: normalise(value) } : { code: 'CODEC_NON_CANONICAL' }
}

function onePass (bytes: Uint8Array, limits: DecodeLimits): Outcome {
  try {
    return { value: normalise(decodeCanonical(bytes, limits)) }
  } catch (err) {
    assert.ok(err instanceof CodecError, `not a CodecError: ${String(err)} on ${toHex(bytes)}`)
    return { code: err.code }
  }
}

function sameOutcome (bytes: Uint8Array, limits: DecodeLimits = LIMITS): boolean {
  const want = byReencoding(bytes, limits)
  assert.deepEqual(onePass(bytes, limits), want, `on ${toHex(bytes)}`)
  return 'value' in want
}

void describe('codec: the one-pass decoder agrees with decode → re-encode → compare', () => {
  // each case below must have both outcomes, or it would not test the verdict
  const counted = (): { ok: number, refused: number, see: (accepted: boolean) => void } => {
    const c = { ok: 0, refused: 0, see: (accepted: boolean) => { if (accepted) c.ok++; else c.refused++ } }
    return c
  }

  void it('on random bytes biased towards the accepted type bytes', () => {
    const c = counted()
    const byteArb = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x91, 0x92, 0x93, 0x9f, 0xdc, 0xdd, 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb, 0xcc, 0xcd, 0xce, 0xd3, 0xa1, 0xa3, 0x00, 0x7f, 0x80, 0xff))
    fc.assert(fc.property(fc.array(byteArb, { maxLength: 48 }).map((a) => new Uint8Array(a)), (bytes) => { c.see(sameOutcome(bytes)) }), { seed: SEED, numRuns: 10 * RUNS })
    assert.ok(c.ok > 100 && c.refused > 100, `accepted ${c.ok}, refused ${c.refused}`)
  })

  void it('on every one-byte mutation and truncation of valid encodings, under tight limits too', () => {
    const c = counted()
    const tight: DecodeLimits = { maxBytes: 200, maxItems: 4, maxDepth: 2 }
    fc.assert(fc.property(wireArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (x, where, byte) => {
      const bytes = new Uint8Array(encodeCanonical(x))
      c.see(sameOutcome(bytes))
      sameOutcome(bytes, tight)
      const i = where % bytes.length
      sameOutcome(bytes.subarray(0, i))
      bytes[i] = byte
      c.see(sameOutcome(bytes))
      sameOutcome(bytes, tight)
    }), { seed: SEED, numRuns: 2 * RUNS })
    assert.ok(c.ok > 100 && c.refused > 100, `accepted ${c.ok}, refused ${c.refused}`)
  })

  void it('on str bodies of random bytes, short (JS path in msgpackr) and long (native path)', () => {
    const c = counted()
    const bodyArb = fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x80, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xef, 0xbb, 0xf0, 0xf4, 0xf5, 0xa0, 0x9f)), { minLength: 1, maxLength: 90 })
    fc.assert(fc.property(bodyArb, fc.boolean(), (arr, pad) => {
      const body = pad ? [...new Array<number>(70).fill(0x61), ...arr] : arr
      const header = body.length < 32 ? [0xa0 | body.length] : [0xd9, body.length]
      c.see(sameOutcome(new Uint8Array([...header, ...body])))
    }), { seed: SEED, numRuns: 3 * RUNS })
    assert.ok(c.ok > 100 && c.refused > 100, `accepted ${c.ok}, refused ${c.refused}`)
  })

  void it('on integers at each width\'s boundaries, int64 across the sign and 2^53, and every width of every length', () => {
    for (const v of [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, -1n, -(2n ** 63n)]) {
      const b = new Uint8Array(9)
      b[0] = 0xd3
      new DataView(b.buffer).setBigInt64(1, v)
      assert.equal(sameOutcome(b), true)
      assert.equal(decodeCanonical(b, LIMITS), v)
    }
    for (const [hex, accepted] of [['cc7f', false], ['cc80', true], ['cd00ff', false], ['cd0100', true], ['ce0000ffff', false], ['ce00010000', true]] as const) {
      assert.equal(sameOutcome(fromHex(hex)), accepted, hex)
    }
    for (const n of [0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536]) {
      for (const [type, size] of [[0xd9, 1], [0xda, 2], [0xdb, 4], [0xc4, 1], [0xc5, 2], [0xc6, 4], [0xdc, 2], [0xdd, 4]] as const) {
        if (n >= 2 ** (8 * size)) continue
        const head = new Uint8Array(1 + size)
        head[0] = type
        for (let k = 0; k < size; k++) head[1 + k] = (n >>> (8 * (size - 1 - k))) & 0xff
        const bytes = new Uint8Array(head.length + n).fill(type >= 0xdc ? 1 : 0x61)
        bytes.set(head)
        sameOutcome(bytes)
      }
    }
  })
})

void describe('codec: field readers', () => {
  const shape = (fn: () => unknown): void => { expectCodecError(fn, 'CODEC_WRONG_SHAPE') }

  void it('readTuple / readList', () => {
    assert.deepEqual(readTuple([1, 2], 2, 't'), [1, 2])
    shape(() => readTuple([1], 2, 't'))
    shape(() => readTuple([1, 2, 3], 2, 't'))
    shape(() => readTuple(1, 1, 't'))
    shape(() => readTuple(undefined, 0, 't'))
    assert.deepEqual(readList([1, 2], 2, 'l'), [1, 2])
    shape(() => readList([1, 2, 3], 2, 'l'))
    shape(() => readList(new Uint8Array(1), 2, 'l'))
  })

  void it('readU32 / readU64 / u64', () => {
    assert.equal(readU32(0xffffffff, 'n'), 0xffffffff)
    assert.equal(readU32(3, 'n', 3), 3)
    shape(() => readU32(4, 'n', 3))
    shape(() => readU32(-1, 'n'))
    shape(() => readU32(1.5, 'n'))
    shape(() => readU32(2 ** 32, 'n'))
    shape(() => readU32(5n, 'n'))
    shape(() => readU32('5', 'n'))
    assert.equal(readU64(5n, 'n'), 5)
    assert.equal(readU64(2n ** 53n - 1n, 'n'), Number.MAX_SAFE_INTEGER)
    shape(() => readU64(2n ** 53n, 'n'))
    shape(() => readU64(-1n, 'n'))
    shape(() => readU64(5, 'n'))
    // a negative int64 is a well-formed msgpack value the codec lets through; readU64 refuses it
    shape(() => readU64(decode('d3ffffffffffffffff'), 'n'))
    assert.equal(u64(7), 7n)
    assert.throws(() => u64(-1), RangeError)
    assert.throws(() => u64(2 ** 53), RangeError)
    assert.throws(() => u64(1.5), RangeError)
  })

  void it('readBytes / readBytesMax / readOptionalBytes / readString', () => {
    const b = new Uint8Array([1, 2, 3])
    const copy = readBytes(b, 'b', 3)
    assert.deepEqual(copy, b)
    copy[0] = 9
    assert.equal(b[0], 1, 'readBytes returns a copy')
    shape(() => readBytes(b, 'b', 4))
    shape(() => readBytes('abc', 'b', 3))
    assert.deepEqual(readBytesMax(b, 'b', 3), b)
    shape(() => readBytesMax(b, 'b', 2))
    assert.equal(readOptionalBytes(new Uint8Array(0), 'o', 32), undefined)
    assert.deepEqual(readOptionalBytes(new Uint8Array(32), 'o', 32), new Uint8Array(32))
    shape(() => readOptionalBytes(new Uint8Array(31), 'o', 32))
    shape(() => readOptionalBytes(undefined, 'o', 32))
    assert.equal(readString('abc', 's', 3), 'abc')
    shape(() => readString('abcd', 's', 3))
    shape(() => readString(new Uint8Array(1), 's', 3))
  })
})
