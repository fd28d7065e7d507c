/**
 * Pins the verdict of THE `verify` of src/crypto/ed25519.ts (rule in its module comment) and of
 * key admission (`validatePublicKey` for every identity, `validatePublicKeyStrict` for hospitals and
 * validators).
 *
 * Where our verify and @noble/curves legitimately differ (asserted exactly below):
 *
 *  | input class                                              | ours   | noble default (zip215) | noble {zip215:false} |
 *  | -------------------------------------------------------- | ------ | ---------------------- | -------------------- |
 *  | A small-order (canonical, or x = 0 with the sign bit)     | reject | accept if cofactored eq. holds | reject       |
 *  | A or R non-canonical (y >= p, or x = 0 with the sign bit) | reject | accept if cofactored eq. holds | reject       |
 *  | A or R with a torsion component (mixed or small order R), |        |                        |                      |
 *  |   cofactored equation holds, cofactorless does not        | reject | accept                 | accept               |
 *  |   (i.e. [h]T_A + T_R != 0 for the torsion parts T_A, T_R) |        |                        |                      |
 *  | S >= L                                                    | reject | reject                 | reject               |
 *
 * Everything else — random valid signatures and their bit-flipped, S+L and swapped-key mutations —
 * gets the same verdict from all three (the differential test below). Ours is cofactorless
 * (OpenSSL) with byte checks in front; noble is always cofactored, and zip215:false only adds
 * canonical-encoding and small-order-A checks. Hospital and validator keys (whose signatures third
 * parties check, e.g. commit certificates in a patient's proof) pass `validatePublicKeyStrict`,
 * which refuses mixed-order keys, so for them the two equations agree on every signature whose R is
 * torsion-free (which every honest signer produces). Other identities pass the O(1) rule only: a
 * crafted mixed-order key can at worst make its owner's own signatures look invalid to a
 * cofactored third-party verifier; every node uses this one verify, so consensus cannot split.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha512 } from '@noble/hashes/sha2.js'
import {
  createSigner, generateKeyPair, keyPairFromSeed, sign, validatePublicKey, validatePublicKeyStrict, verify, KeyError,
  SMALL_ORDER_KEYS_HEX
} from '../../../src/crypto/ed25519.js'
import { concatBytes, fromHex, toHex } from '../../../src/crypto/bytes.js'

type Point = typeof ed25519.Point.BASE

const Point = ed25519.Point
const B = Point.BASE
const L = Point.Fn.ORDER
const P = Point.Fp.ORDER
const IDENTITY = Point.ZERO
/** A generator of the torsion subgroup (order 8). */
const T8 = Point.fromBytes(fromHex(SMALL_ORDER_KEYS_HEX[4] as string))

/** splitmix32: a small seeded PRNG so that every failure reproduces. */
function makeRng (seed: number): { u32: () => number, bytes: (n: number) => Uint8Array } {
  let state = seed >>> 0
  const u32 = (): number => {
    state = (state + 0x9e3779b9) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
  const bytes = (n: number): Uint8Array => {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = u32() & 0xff
    return out
  }
  return { u32, bytes }
}

function scalarBytes (s: bigint): Uint8Array {
  const out = new Uint8Array(32)
  let v = s
  for (let i = 0; i < 32; i++) { out[i] = Number(v & 0xffn); v >>= 8n }
  assert.equal(v, 0n, 'scalar does not fit in 32 bytes')
  return out
}

function bytesToScalar (b: Uint8Array): bigint {
  let v = 0n
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] as number)
  return v
}

/** h = SHA-512(R || A || M) mod L over the exact bytes given. */
function challenge (r: Uint8Array, a: Uint8Array, m: Uint8Array): bigint {
  return bytesToScalar(sha512(concatBytes(r, a, m))) % L
}

function mul (pt: Point, k: bigint): Point {
  return pt.multiplyUnsafe(((k % L) + L) % L)
}

/** y = `y` as a little-endian 255-bit number, sign bit `sign`: any encoding, canonical or not. */
function encodeY (y: bigint, sign: 0 | 1 = 0): Uint8Array {
  const out = scalarBytes(y)
  if (sign === 1) out[31] = (out[31] as number) | 0x80
  return out
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

function nobleVerify (sig: Uint8Array, msg: Uint8Array, pk: Uint8Array, zip215: boolean): boolean {
  return zip215 ? ed25519.verify(sig, msg, pk) : ed25519.verify(sig, msg, pk, { zip215: false })
}

function flipBit (b: Uint8Array, bit: number): Uint8Array {
  const out = new Uint8Array(b)
  out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7))
  return out
}

function expectKeyError (publicKey: Uint8Array, code: string, validate: (pk: Uint8Array) => void = validatePublicKey): void {
  assert.throws(() => validate(publicKey), (err: unknown) => {
    assert.ok(err instanceof KeyError, `expected KeyError, got ${String(err)}`)
    assert.equal(err.code, code, `key ${toHex(publicKey)}`)
    return true
  })
}

// ---------------------------------------------------------------------------------------------

const RFC8032 = [
  {
    name: 'TEST 1 (empty message)',
    secretKey: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'
  },
  {
    name: 'TEST 2 (1 byte)',
    secretKey: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00'
  },
  {
    name: 'TEST 3 (2 bytes)',
    secretKey: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a'
  }
]

void describe('ed25519: RFC 8032 section 7.1 vectors', () => {
  for (const v of RFC8032) {
    const secretKey = fromHex(v.secretKey)
    const publicKey = fromHex(v.publicKey)
    const message = fromHex(v.message)
    const signature = fromHex(v.signature)

    void it(`${v.name}: noble agrees with the typed vector (cross-check of the hex)`, () => {
      assert.equal(toHex(ed25519.getPublicKey(secretKey)), v.publicKey)
      assert.equal(toHex(ed25519.sign(message, secretKey)), v.signature)
      assert.equal(ed25519.verify(signature, message, publicKey), true)
      assert.equal(ed25519.verify(signature, message, publicKey, { zip215: false }), true)
    })

    void it(`${v.name}: createSigner derives the public key and signs exactly the vector`, () => {
      const signer = createSigner(secretKey)
      assert.equal(toHex(signer.publicKey), v.publicKey)
      assert.equal(toHex(signer.sign(message)), v.signature)
      assert.equal(toHex(sign(secretKey, message)), v.signature)
      assert.equal(toHex(keyPairFromSeed(secretKey).publicKey), v.publicKey)
      assert.equal(verify(publicKey, message, signature), true)
      validatePublicKey(publicKey)
    })

    void it(`${v.name}: one flipped bit in message, signature or key is refused`, () => {
      const flippedMessage = message.length === 0 ? new Uint8Array([0]) : flipBit(message, 3)
      assert.equal(verify(publicKey, flippedMessage, signature), false)
      for (const bit of [0, 100, 255, 256, 300, 511]) assert.equal(verify(publicKey, message, flipBit(signature, bit)), false, `signature bit ${bit}`)
      for (const bit of [0, 77, 254, 255]) assert.equal(verify(flipBit(publicKey, bit), message, signature), false, `key bit ${bit}`)
    })
  }
})

// ---------------------------------------------------------------------------------------------

interface CraftedCase {
  name: string
  publicKey: Uint8Array
  message: Uint8Array
  signature: Uint8Array
  ours: boolean
  noble: boolean
  nobleStrict: boolean
}

/** First message `prefix/i` whose challenge h (for these R, A bytes) satisfies `want(h)`. */
function grindMessage (r: Uint8Array, a: Uint8Array, want: (h: bigint) => boolean): Uint8Array {
  for (let i = 0; i < 10_000; i++) {
    const m = utf8(`medchain-crafted/${i}`)
    if (want(challenge(r, a, m))) return m
  }
  throw new Error('no message found')
}

function craftedCases (): CraftedCase[] {
  const cases: CraftedCase[] = []
  const seed = new Uint8Array(32).fill(7)
  const { scalar: a, pointBytes: aBytes } = ed25519.utils.getExtendedPublicKey(seed)
  const aPoint = B.multiply(a)
  const zeroS = new Uint8Array(32)
  const identityBytes = IDENTITY.toBytes()

  // 1. identity public key, R = identity, S = 0: [0]B = O + [h]O for every message.
  {
    const m = utf8('anything at all')
    cases.push({ name: 'A = identity, R = identity, S = 0', publicKey: identityBytes, message: m, signature: concatBytes(identityBytes, zeroS), ours: false, noble: true, nobleStrict: false })
  }
  // 2. public key of order 8, R = identity, S = 0, message ground so that [h]A = O: even the
  //    cofactorless equation holds, so only the small-order rule refuses it.
  {
    const a8 = T8.toBytes()
    const m = grindMessage(identityBytes, a8, (h) => h % 8n === 0n)
    assert.ok(mul(T8, challenge(identityBytes, a8, m)).is0())
    cases.push({ name: 'A of order 8 (h = 0 mod 8, cofactorless equation holds)', publicKey: a8, message: m, signature: concatBytes(identityBytes, zeroS), ours: false, noble: true, nobleStrict: false })
    const m2 = grindMessage(identityBytes, a8, (h) => h % 8n !== 0n)
    cases.push({ name: 'A of order 8 (h != 0 mod 8, only the cofactored equation holds)', publicKey: a8, message: m2, signature: concatBytes(identityBytes, zeroS), ours: false, noble: true, nobleStrict: false })
  }
  // 3. non-canonical R: the identity written as y = p + 1 (>= p), with S = h·a so the equation holds.
  {
    const r = encodeY(P + 1n)
    const m = utf8('non-canonical R')
    const s = (challenge(r, aBytes, m) * a) % L
    cases.push({ name: 'R = identity encoded with y = p + 1 (y >= p)', publicKey: aBytes, message: m, signature: concatBytes(r, scalarBytes(s)), ours: false, noble: true, nobleStrict: false })
  }
  // 3b. R = identity written with x = 0 and the sign bit set.
  {
    const r = encodeY(1n, 1)
    const m = utf8('negative-zero R')
    const s = (challenge(r, aBytes, m) * a) % L
    cases.push({ name: 'R = identity encoded with x = 0 and the sign bit set', publicKey: aBytes, message: m, signature: concatBytes(r, scalarBytes(s)), ours: false, noble: true, nobleStrict: false })
  }
  // 4. S + L: a valid signature with its scalar pushed out of range (still < 2^256).
  {
    const m = utf8('S out of range')
    const sig = ed25519.sign(m, seed)
    const s = bytesToScalar(sig.subarray(32)) + L
    cases.push({ name: 'valid signature with S + L', publicKey: aBytes, message: m, signature: concatBytes(sig.subarray(0, 32), scalarBytes(s)), ours: false, noble: false, nobleStrict: false })
    cases.push({ name: 'the same signature with S (control)', publicKey: aBytes, message: m, signature: sig, ours: true, noble: true, nobleStrict: true })
  }
  // 5. non-canonical encodings of small-order public keys, R = identity, S = 0.
  {
    const m = utf8('non-canonical identity key')
    cases.push({ name: 'A = identity encoded with y = p + 1', publicKey: encodeY(P + 1n), message: m, signature: concatBytes(identityBytes, zeroS), ours: false, noble: true, nobleStrict: false })
    cases.push({ name: 'A = identity encoded with x = 0 and the sign bit set', publicKey: encodeY(1n, 1), message: m, signature: concatBytes(identityBytes, zeroS), ours: false, noble: true, nobleStrict: false })
    const minusOne = encodeY(P - 1n, 1) // (0, -1), order 2, sign bit set
    const m2 = grindMessage(identityBytes, minusOne, (h) => h % 2n === 0n)
    cases.push({ name: 'A = (0, -1) encoded with the sign bit set (h even)', publicKey: minusOne, message: m2, signature: concatBytes(identityBytes, zeroS), ours: false, noble: true, nobleStrict: false })
  }
  // 6. mixed-order key A' = [a]B + T8, signed honestly with a: cofactorless holds iff [h]T8 = O.
  {
    const mixed = aPoint.add(T8).toBytes()
    const rNonce = 1234567n
    const rBytes = B.multiply(rNonce).toBytes()
    const signFor = (m: Uint8Array): Uint8Array => concatBytes(rBytes, scalarBytes((rNonce + challenge(rBytes, mixed, m) * a) % L))
    const m1 = grindMessage(rBytes, mixed, (h) => h % 8n !== 0n)
    cases.push({ name: 'mixed-order A = [a]B + T8 (h != 0 mod 8)', publicKey: mixed, message: m1, signature: signFor(m1), ours: false, noble: true, nobleStrict: true })
    const m2 = grindMessage(rBytes, mixed, (h) => h % 8n === 0n)
    cases.push({ name: 'mixed-order A = [a]B + T8 (h = 0 mod 8)', publicKey: mixed, message: m2, signature: signFor(m2), ours: true, noble: true, nobleStrict: true })
  }
  // 7. R with a torsion component, valid key: R = T8 (small order) and R = [r]B + T8 (mixed).
  {
    const m = utf8('torsion in R')
    const r8 = T8.toBytes()
    cases.push({ name: 'R = T8 (small order), S = h·a', publicKey: aBytes, message: m, signature: concatBytes(r8, scalarBytes((challenge(r8, aBytes, m) * a) % L)), ours: false, noble: true, nobleStrict: true })
    const rNonce = 987654321n
    const rMixed = B.multiply(rNonce).add(T8).toBytes()
    cases.push({ name: 'R = [r]B + T8 (mixed order), S = r + h·a', publicKey: aBytes, message: m, signature: concatBytes(rMixed, scalarBytes((rNonce + challenge(rMixed, aBytes, m) * a) % L)), ours: false, noble: true, nobleStrict: true })
  }
  return cases
}

void describe('ed25519: verdicts on crafted edge cases (ours / noble zip215 / noble strict)', () => {
  for (const c of craftedCases()) {
    void it(c.name, () => {
      assert.deepEqual(
        { ours: verify(c.publicKey, c.message, c.signature), noble: nobleVerify(c.signature, c.message, c.publicKey, true), nobleStrict: nobleVerify(c.signature, c.message, c.publicKey, false) },
        { ours: c.ours, noble: c.noble, nobleStrict: c.nobleStrict }
      )
    })
  }

  void it('mixed-order keys are refused at strict admission with KEY_NOT_TORSION_FREE', () => {
    const { point } = ed25519.utils.getExtendedPublicKey(new Uint8Array(32).fill(7))
    expectKeyError(point.add(T8).toBytes(), 'KEY_NOT_TORSION_FREE', validatePublicKeyStrict)
  })

  void it('verify never throws and refuses wrong lengths', () => {
    const signer = createSigner(new Uint8Array(32).fill(9))
    const m = utf8('lengths')
    const sig = signer.sign(m)
    assert.equal(verify(signer.publicKey, m, sig), true)
    assert.equal(verify(signer.publicKey.subarray(0, 31), m, sig), false)
    assert.equal(verify(concatBytes(signer.publicKey, new Uint8Array(1)), m, sig), false)
    assert.equal(verify(signer.publicKey, m, sig.subarray(0, 63)), false)
    assert.equal(verify(signer.publicKey, m, concatBytes(sig, new Uint8Array(1))), false)
    assert.equal(verify(new Uint8Array(0), m, new Uint8Array(0)), false)
    // a y that is not on the curve
    assert.equal(verify(encodeY(2n), m, sig), false)
  })

  void it('every small-order key is refused by verify, whatever the signature', () => {
    const identityBytes = IDENTITY.toBytes()
    for (const hex of SMALL_ORDER_KEYS_HEX) {
      const pk = fromHex(hex)
      for (let i = 0; i < 8; i++) {
        const m = utf8(`small/${i}`)
        assert.equal(verify(pk, m, concatBytes(identityBytes, new Uint8Array(32))), false, `${hex} ${i}`)
      }
    }
  })
})

// ---------------------------------------------------------------------------------------------

void describe('ed25519: validatePublicKey (key admission)', () => {
  void it('accepts 100 random keys', () => {
    const rng = makeRng(0x5eed0001)
    for (let i = 0; i < 100; i++) validatePublicKey(createSigner(rng.bytes(32)).publicKey)
    validatePublicKey(generateKeyPair().publicKey)
  })

  void it('refuses each of the 8 small-order keys with KEY_SMALL_ORDER', () => {
    assert.equal(SMALL_ORDER_KEYS_HEX.length, 8)
    assert.equal(new Set(SMALL_ORDER_KEYS_HEX).size, 8)
    for (const hex of SMALL_ORDER_KEYS_HEX) {
      const pt = Point.fromBytes(fromHex(hex))
      assert.ok(pt.isSmallOrder(), `${hex} is small order`)
      assert.equal(pt.toHex(), hex, `${hex} is canonical`)
      expectKeyError(fromHex(hex), 'KEY_SMALL_ORDER')
    }
  })

  void it('refuses non-canonical encodings with KEY_NON_CANONICAL', () => {
    const nonCanonical = [
      encodeY(P), // y = p (i.e. 0), on the curve
      encodeY(P, 1),
      encodeY(P + 1n), // y = p + 1 (the identity)
      encodeY(P + 1n, 1),
      encodeY(P + 3n), // y = p + 3 (3 is on the curve)
      encodeY((1n << 255n) - 1n), // all ones
      encodeY((1n << 255n) - 1n, 1),
      encodeY(1n, 1), // identity with x = 0 and the sign bit set
      encodeY(P - 1n, 1) // (0, -1) with the sign bit set
    ]
    for (const pk of nonCanonical) expectKeyError(pk, 'KEY_NON_CANONICAL')
  })

  void it('strict admission refuses a y that is not on the curve (KEY_NON_CANONICAL); the O(1) rule leaves it to verify, which can never accept it', () => {
    const m = utf8('off-curve')
    for (const y of [2n, 7n, 8n, 11n]) {
      assert.throws(() => Point.fromBytes(encodeY(y)), `y = ${y} is not on the curve`)
      expectKeyError(encodeY(y), 'KEY_NON_CANONICAL', validatePublicKeyStrict)
      validatePublicKey(encodeY(y))
      assert.equal(verify(encodeY(y), m, concatBytes(IDENTITY.toBytes(), new Uint8Array(32))), false)
    }
  })

  void it('refuses wrong lengths with KEY_BAD_LENGTH', () => {
    const pk = createSigner(new Uint8Array(32).fill(1)).publicKey
    for (const n of [0, 1, 31, 33, 64]) {
      const bad = new Uint8Array(n)
      bad.set(pk.subarray(0, Math.min(n, 32)))
      expectKeyError(bad, 'KEY_BAD_LENGTH')
    }
  })

  void it('strict admission (hospitals, validators) refuses mixed-order keys (valid key + each non-zero torsion point) with KEY_NOT_TORSION_FREE', () => {
    const rng = makeRng(0x5eed0002)
    for (let i = 0; i < 5; i++) {
      const { point } = ed25519.utils.getExtendedPublicKey(rng.bytes(32))
      validatePublicKeyStrict(point.toBytes())
      for (let j = 1n; j < 8n; j++) {
        expectKeyError(point.add(mul(T8, j)).toBytes(), 'KEY_NOT_TORSION_FREE', validatePublicKeyStrict)
        // the O(1) rule for other identities does not decode the point
        validatePublicKey(point.add(mul(T8, j)).toBytes())
      }
    }
  })

  void it('strict admission applies every refusal of the O(1) rule', () => {
    for (const hex of SMALL_ORDER_KEYS_HEX) expectKeyError(fromHex(hex), 'KEY_SMALL_ORDER', validatePublicKeyStrict)
    expectKeyError(encodeY(P + 3n), 'KEY_NON_CANONICAL', validatePublicKeyStrict)
    expectKeyError(new Uint8Array(31), 'KEY_BAD_LENGTH', validatePublicKeyStrict)
  })

  void it('createSigner refuses a seed of the wrong length with KEY_BAD_LENGTH', () => {
    for (const n of [0, 31, 33, 64]) {
      assert.throws(() => createSigner(new Uint8Array(n)), (err: unknown) => err instanceof KeyError && err.code === 'KEY_BAD_LENGTH')
    }
  })
})

// ---------------------------------------------------------------------------------------------

void describe('ed25519: differential test against @noble/curves', () => {
  const VALID = 3000
  const MUTATION_CLASSES = ['flip message bit', 'flip R bit', 'flip S bit', 'flip key bit', 'S + L', 'swapped key'] as const

  void it(`${VALID} random valid signatures and ${VALID / 2} mutations get one verdict from all three verifiers`, () => {
    const rng = makeRng(0xed25519)
    interface Sample { publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array }
    const samples: Sample[] = []
    for (let i = 0; i < VALID; i++) {
      const signer = createSigner(rng.bytes(32))
      const message = rng.bytes(rng.u32() % 301)
      samples.push({ publicKey: signer.publicKey, message, signature: signer.sign(message) })
    }
    const cases: Array<Sample & { kind: string, expected: boolean }> = samples.map((s) => ({ ...s, kind: 'valid', expected: true }))
    for (let i = 0; i < VALID / 2; i++) {
      const s = samples[i] as Sample
      const kind = MUTATION_CLASSES[i % MUTATION_CLASSES.length] as typeof MUTATION_CLASSES[number]
      let { publicKey, message, signature } = s
      switch (kind) {
        case 'flip message bit': message = message.length === 0 ? new Uint8Array([rng.u32() & 0xff]) : flipBit(message, rng.u32() % (message.length * 8)); break
        case 'flip R bit': signature = flipBit(signature, rng.u32() % 256); break
        case 'flip S bit': signature = flipBit(signature, 256 + rng.u32() % 256); break
        case 'flip key bit': publicKey = flipBit(publicKey, rng.u32() % 256); break
        case 'S + L': signature = concatBytes(signature.subarray(0, 32), scalarBytes(bytesToScalar(signature.subarray(32)) + L)); break
        case 'swapped key': publicKey = (samples[(i + 1) % samples.length] as Sample).publicKey; break
      }
      cases.push({ publicKey, message, signature, kind, expected: false })
    }

    const disagreements: string[] = []
    const verdictCounts = new Map<string, number>()
    for (const c of cases) {
      const ours = verify(c.publicKey, c.message, c.signature)
      const noble = nobleVerify(c.signature, c.message, c.publicKey, true)
      const strict = nobleVerify(c.signature, c.message, c.publicKey, false)
      if (ours !== noble || ours !== strict || ours !== c.expected) {
        disagreements.push(`${c.kind}: ours=${ours} noble=${noble} strict=${strict} pk=${toHex(c.publicKey)} sig=${toHex(c.signature)} msg=${toHex(c.message)}`)
      }
      const key = `${c.kind}:${ours}`
      verdictCounts.set(key, (verdictCounts.get(key) ?? 0) + 1)
    }
    assert.deepEqual(disagreements, [])
    assert.equal(verdictCounts.get('valid:true'), VALID)
    for (const kind of MUTATION_CLASSES) assert.ok((verdictCounts.get(`${kind}:false`) ?? 0) >= 200, kind)
  })

  void it('torsion in A or R: ours follows the cofactorless equation, noble (both modes) the cofactored one', () => {
    // A' = [a]B + [j]T8, R = [r]B + [k]T8, S = r + h·a. Cofactored always holds; cofactorless holds
    // iff [k + h·j]T8 = O, i.e. k + h·j = 0 mod 8. This is exactly the class where we differ.
    const rng = makeRng(0x7025)
    const counts = { oursAccepts: 0, oursRefuses: 0 }
    for (let i = 0; i < 80; i++) {
      const { scalar: a, point } = ed25519.utils.getExtendedPublicKey(rng.bytes(32))
      const j = BigInt(rng.u32() % 8)
      const k = BigInt(rng.u32() % 8)
      const r = bytesToScalar(rng.bytes(32)) % L
      const aBytes = point.add(mul(T8, j)).toBytes()
      const rBytes = B.multiply(r).add(mul(T8, k)).toBytes()
      const m = rng.bytes(rng.u32() % 64)
      const h = challenge(rBytes, aBytes, m)
      const sig = concatBytes(rBytes, scalarBytes((r + h * a) % L))
      const cofactorlessHolds = (k + h * j) % 8n === 0n
      assert.equal(verify(aBytes, m, sig), cofactorlessHolds, `j=${j} k=${k} h mod 8=${h % 8n}`)
      assert.equal(nobleVerify(sig, m, aBytes, true), true)
      assert.equal(nobleVerify(sig, m, aBytes, false), true)
      if (cofactorlessHolds) counts.oursAccepts++
      else counts.oursRefuses++
    }
    assert.ok(counts.oursAccepts >= 5 && counts.oursRefuses >= 30, JSON.stringify(counts))
  })
})

void describe('ed25519: OpenSSL key objects built from JWK agree with the DER (PKCS#8 / SPKI) route', () => {
  const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
  const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
  const derPrivate = (seed: Uint8Array): KeyObject => createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  const derPublic = (publicKey: Uint8Array): KeyObject => createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' })
  const derVerify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean => {
    try {
      return nodeVerify(null, message, derPublic(publicKey), signature)
    } catch {
      return false
    }
  }

  void it('createSigner gives the public key and the signatures of the PKCS#8 route, for 300 seeds', () => {
    const rng = makeRng(0x1e7)
    for (let i = 0; i < 300; i++) {
      const seed = rng.bytes(32)
      const signer = createSigner(seed)
      const spki = createPublicKey(derPrivate(seed)).export({ format: 'der', type: 'spki' })
      assert.equal(toHex(signer.publicKey), toHex(new Uint8Array(spki.subarray(spki.length - 32))), `seed ${toHex(seed)}`)
      const message = rng.bytes(rng.u32() % 200)
      assert.equal(toHex(signer.sign(message)), toHex(new Uint8Array(nodeSign(null, message, derPrivate(seed)))))
    }
  })

  void it('verify gives the verdict of an SPKI key object on valid, mutated, off-curve and mixed-order inputs that pass the byte checks', () => {
    const rng = makeRng(0x5b41)
    const cases: Array<{ kind: string, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array }> = []
    for (let i = 0; i < 200; i++) {
      const signer = createSigner(rng.bytes(32))
      const message = rng.bytes(rng.u32() % 100)
      const signature = signer.sign(message)
      cases.push({ kind: 'valid', publicKey: signer.publicKey, message, signature })
      cases.push({ kind: 'flip key bit', publicKey: flipBit(signer.publicKey, rng.u32() % 255), message, signature })
      cases.push({ kind: 'flip R bit', publicKey: signer.publicKey, message, signature: flipBit(signature, rng.u32() % 255) })
    }
    // a canonical y that is not on the curve: both routes admit the raw bytes, verify must refuse
    let y = 2n
    for (let found = 0; found < 20; y++) {
      const bytes = scalarBytes(y)
      try {
        Point.fromBytes(bytes)
      } catch {
        cases.push({ kind: 'off-curve key', publicKey: bytes, message: new Uint8Array([found]), signature: createSigner(rng.bytes(32)).sign(new Uint8Array([found])) })
        found++
      }
    }
    // a key with a torsion component, signed so the cofactorless equation holds (k + h·j = 0 mod 8)
    for (let i = 0; i < 40; i++) {
      const { scalar: a, point } = ed25519.utils.getExtendedPublicKey(rng.bytes(32))
      const aBytes = point.add(mul(T8, 4n)).toBytes()
      const r = bytesToScalar(rng.bytes(32)) % L
      const rBytes = B.multiply(r).toBytes()
      const m = rng.bytes(16)
      const h = challenge(rBytes, aBytes, m)
      cases.push({ kind: 'mixed-order key', publicKey: aBytes, message: m, signature: concatBytes(rBytes, scalarBytes((r + h * a) % L)) })
    }
    const counts = new Map<string, number>()
    for (const c of cases) {
      const ours = verify(c.publicKey, c.message, c.signature)
      assert.equal(ours, derVerify(c.publicKey, c.message, c.signature), `${c.kind}: pk=${toHex(c.publicKey)} sig=${toHex(c.signature)}`)
      counts.set(`${c.kind}:${ours}`, (counts.get(`${c.kind}:${ours}`) ?? 0) + 1)
    }
    assert.equal(counts.get('valid:true'), 200)
    assert.equal(counts.get('off-curve key:false'), 20)
    // [4]T8 has order 2: h·4 = 0 mod 8 for even h, so about half are accepted, by both routes
    assert.ok((counts.get('mixed-order key:true') ?? 0) >= 5 && (counts.get('mixed-order key:false') ?? 0) >= 5, JSON.stringify([...counts]))
  })
})
