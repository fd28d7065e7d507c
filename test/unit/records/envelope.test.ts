import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { generateKeyPair, SMALL_ORDER_KEYS_HEX } from '../../../src/crypto/ed25519.js'
import { fromHex, toHex } from '../../../src/crypto/bytes.js'
import { sha256 } from '../../../src/crypto/hash.js'
import { MAX_ENVELOPE_BYTES } from '../../../src/types/limits.js'
import {
  encryptionPublicKey, encryptionSecretKey, openDataKey, sealDataKey, ENVELOPE_LENGTH, type OpenDataKeyInput
} from '../../../src/records/envelope.js'
import { newDataKey } from '../../../src/records/cipher.js'
import { RecordError } from '../../../src/records/errors.js'

const CHAIN = 'medchain-test'

function expectCode (fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RecordError, `expected RecordError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  })
}

function fixture (): { reader: ReturnType<typeof generateKeyPair>, dataKey: Uint8Array, contentHash: Uint8Array, envelope: Uint8Array, open: OpenDataKeyInput } {
  const reader = generateKeyPair()
  const dataKey = newDataKey()
  const contentHash = sha256(new TextEncoder().encode('ciphertext of record 1'))
  const envelope = sealDataKey({ chainId: CHAIN, dataKey, recipient: reader.publicKey, contentHash })
  return { reader, dataKey, contentHash, envelope, open: { chainId: CHAIN, envelope, recipientSeed: reader.secretKey, contentHash } }
}

void describe('ed25519 → X25519 identity mapping', () => {
  void it('the public map of the public key equals the X25519 public key of the secret map', () => {
    for (let i = 0; i < 20; i++) {
      const { secretKey, publicKey } = generateKeyPair()
      assert.equal(toHex(encryptionPublicKey(publicKey)), toHex(x25519.getPublicKey(encryptionSecretKey(secretKey))))
    }
  })

  void it('matches libsodium crypto_sign_ed25519_pk_to_curve25519 on the RFC 8032 test 1 key', () => {
    // RFC 8032 §7.1 TEST 1 public key; u = (1 + y) / (1 - y) mod p computed independently below.
    const pub = fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')
    const p = (1n << 255n) - 19n
    let y = 0n
    for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(pub[i] as number)
    y &= (1n << 255n) - 1n
    const pow = (b: bigint, e: bigint): bigint => {
      let r = 1n
      b %= p
      while (e > 0n) {
        if ((e & 1n) === 1n) r = (r * b) % p
        b = (b * b) % p
        e >>= 1n
      }
      return r
    }
    const u = ((1n + y) * pow((1n - y + p) % p, p - 2n)) % p
    const expected = new Uint8Array(32)
    let v = u
    for (let i = 0; i < 32; i++) {
      expected[i] = Number(v & 0xffn)
      v >>= 8n
    }
    assert.equal(toHex(encryptionPublicKey(pub)), toHex(expected))
  })

  void it('refuses keys that are not canonical points, small-order points, or the wrong length', () => {
    expectCode(() => encryptionPublicKey(new Uint8Array(31)), 'RECORD_BAD_LENGTH')
    expectCode(() => encryptionPublicKey(new Uint8Array(32).fill(0xff)), 'RECORD_BAD_RECIPIENT')
    for (const h of SMALL_ORDER_KEYS_HEX) expectCode(() => encryptionPublicKey(fromHex(h)), 'RECORD_BAD_RECIPIENT')
  })
})

void describe('sealDataKey / openDataKey', () => {
  void it('round-trips, with the documented 93-byte wire format within MAX_ENVELOPE_BYTES', () => {
    const { dataKey, envelope, open } = fixture()
    assert.equal(envelope.length, 93)
    assert.equal(ENVELOPE_LENGTH, 93)
    assert.ok(envelope.length <= MAX_ENVELOPE_BYTES)
    assert.equal(envelope[0], 1)
    assert.equal(toHex(openDataKey(open)), toHex(dataKey))
  })

  void it('is randomised: two seals of the same key differ (fresh ephemeral and nonce)', () => {
    const { reader, dataKey, contentHash, envelope } = fixture()
    const again = sealDataKey({ chainId: CHAIN, dataKey, recipient: reader.publicKey, contentHash })
    assert.notEqual(toHex(again), toHex(envelope))
    assert.notEqual(toHex(again.subarray(1, 33)), toHex(envelope.subarray(1, 33)))
  })

  void it('opens only with the recipient seed, for the same contentHash and chainId', () => {
    const { open } = fixture()
    const other = generateKeyPair()
    const cases: Array<[string, OpenDataKeyInput]> = [
      ['another reader', { ...open, recipientSeed: other.secretKey }],
      ['another record', { ...open, contentHash: sha256(new TextEncoder().encode('record 2')) }],
      ['another chain', { ...open, chainId: 'medchain-other' }],
      ['chain id prefix', { ...open, chainId: CHAIN.slice(0, -1) }]
    ]
    for (const [name, input] of cases) {
      assert.throws(() => openDataKey(input), (err: unknown) => err instanceof RecordError && err.code === 'ENVELOPE_TAMPERED', name)
    }
  })

  void it('every single-bit flip of every byte fails', () => {
    const { open } = fixture()
    for (let i = 0; i < open.envelope.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const env = new Uint8Array(open.envelope)
        env[i] = (env[i] as number) ^ (1 << bit)
        expectCode(() => openDataKey({ ...open, envelope: env }), i === 0 ? 'ENVELOPE_MALFORMED' : 'ENVELOPE_TAMPERED')
      }
    }
  })

  void it('a truncated, extended or empty envelope is malformed', () => {
    const { open } = fixture()
    for (const len of [0, 1, 45, 92]) expectCode(() => openDataKey({ ...open, envelope: open.envelope.subarray(0, len) }), 'ENVELOPE_MALFORMED')
    const longer = new Uint8Array(94)
    longer.set(open.envelope)
    expectCode(() => openDataKey({ ...open, envelope: longer }), 'ENVELOPE_MALFORMED')
  })

  void it('a small-order ephemeral key in an envelope is refused, not opened with a zero secret', () => {
    const { open } = fixture()
    for (const u of ['00'.repeat(32), '01' + '00'.repeat(31), 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800']) {
      const env = new Uint8Array(open.envelope)
      env.set(fromHex(u), 1)
      expectCode(() => openDataKey({ ...open, envelope: env }), 'ENVELOPE_TAMPERED')
    }
  })

  void it('refuses a small-order or invalid recipient when sealing', () => {
    const { dataKey, contentHash } = fixture()
    for (const h of SMALL_ORDER_KEYS_HEX) {
      expectCode(() => sealDataKey({ chainId: CHAIN, dataKey, recipient: fromHex(h), contentHash }), 'RECORD_BAD_RECIPIENT')
    }
    expectCode(() => sealDataKey({ chainId: CHAIN, dataKey, recipient: new Uint8Array(32).fill(0xff), contentHash }), 'RECORD_BAD_RECIPIENT')
  })

  void it('an envelope sealed to a mixed-order key A + T does not open with the seed of A', () => {
    // Clamping kills T, so the X25519 secret is the same on both sides; the salt (recipientX) and the
    // AAD (recipient) bind the exact key that was sealed to, so the envelope still fails.
    const reader = generateKeyPair()
    const T = ed25519.Point.fromBytes(fromHex(SMALL_ORDER_KEYS_HEX[4] as string))
    const mixed = ed25519.Point.fromBytes(reader.publicKey).add(T).toBytes()
    const contentHash = sha256(new Uint8Array([1]))
    const envelope = sealDataKey({ chainId: CHAIN, dataKey: newDataKey(), recipient: mixed, contentHash })
    expectCode(() => openDataKey({ chainId: CHAIN, envelope, recipientSeed: reader.secretKey, contentHash }), 'ENVELOPE_TAMPERED')
  })

  void it('rejects inputs of the wrong length', () => {
    const { reader, dataKey, contentHash, open } = fixture()
    expectCode(() => sealDataKey({ chainId: CHAIN, dataKey: dataKey.subarray(0, 16), recipient: reader.publicKey, contentHash }), 'RECORD_BAD_LENGTH')
    expectCode(() => sealDataKey({ chainId: CHAIN, dataKey, recipient: reader.publicKey, contentHash: contentHash.subarray(1) }), 'RECORD_BAD_LENGTH')
    expectCode(() => openDataKey({ ...open, recipientSeed: new Uint8Array(64) }), 'RECORD_BAD_LENGTH')
    expectCode(() => openDataKey({ ...open, contentHash: new Uint8Array(0) }), 'RECORD_BAD_LENGTH')
  })
})
