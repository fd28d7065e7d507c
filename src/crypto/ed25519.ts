/**
 * Ed25519 identities: key generation, signing, key admission, and THE one `verify`.
 *
 * ## The verification rule (every transaction, vote and proof path calls `verify` below)
 *
 * A signature `R || S` by public key `A` over message `M` is valid iff all of:
 *  1. `A` is 32 bytes and `R || S` is 64 bytes;
 *  2. `S < L` (the group order), read little-endian;
 *  3. `A` and `R` are canonical encodings (their y coordinate is < p = 2^255 - 19);
 *  4. `A` is not one of the 8 small-order points (whatever its sign bit: x = 0 with the sign bit
 *     set still decodes to a small-order point in OpenSSL);
 *  5. the cofactorless equation `[S]B = R + [SHA-512(R || A || M) mod L]A` holds, as computed by
 *     OpenSSL through node:crypto.
 *
 * Checks 2–4 are done here in plain byte comparisons before OpenSSL is called, so the verdict on
 * the edge cases that libraries disagree on (ZIP-215) is ours and does not move with an OpenSSL or
 * @noble/curves upgrade; `test/unit/crypto/ed25519.test.ts` pins it on RFC 8032 vectors and
 * crafted cases.
 *
 * ## Key admission
 *
 * `validatePublicKey` (every identity, at registration): right length, canonical encoding, not a
 * small-order point. Byte comparisons only, so registering 2,500 patients in a block costs nothing
 * next to their signatures.
 * `validatePublicKeyStrict` (hospitals and validators: genesis, RegisterHospital, ProposeValidator)
 * also decodes the point and refuses points off the curve or with a torsion component (~0.8 ms each
 * with @noble/curves), so for every validator key the cofactored and cofactorless equations agree
 * and a third party checking a commit certificate with any RFC 8032 library gets our verdict.
 * An off-curve key admitted by the cheap rule can never produce a signature our `verify` accepts
 * (OpenSSL fails to decode it), so it is a dead identity, not a risk.
 *
 * Why node:crypto: with a reused KeyObject it verifies over ten times as many signatures per core
 * as @noble/curves (figures in bench/RESULTS.md).
 */
import {
  createPrivateKey, createPublicKey, randomBytes, sign as nodeSign, verify as nodeVerify, type KeyObject
} from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519.js'
import { MedchainError } from '../util/errors.js'
import { bufferView, byteKey } from './bytes.js'

export const PUBLIC_KEY_LENGTH = 32
export const SECRET_KEY_LENGTH = 32
export const SIGNATURE_LENGTH = 64

/*
 * Key objects are built from JWK, not DER (PKCS#8/SPKI): both end in the same raw 32-byte key
 * inside OpenSSL (EVP_PKEY_new_raw_*_key; neither decodes the point), but OpenSSL 3's DER decoder
 * framework is slow: a public key object from SPKI DER costs about as much as a verify, from JWK
 * a fraction of it, and likewise for private keys (figures in bench/RESULTS.md).
 * `test/unit/crypto/ed25519.test.ts` pins that the two routes give the same public keys,
 * signatures and verdicts.
 */
const b64url = (bytes: Uint8Array): string => bufferView(bytes).toString('base64url')

/** The OpenSSL public key object of a raw 32-byte key (callers check the length). */
function publicKeyFromRaw (publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(publicKey) }, format: 'jwk' })
}

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

/**
 * The OpenSSL private key object of a 32-byte seed. Node 20 reads only `d` of a private OKP JWK
 * (`x` must be a string, and is not checked against `d`); the public key is derived from `d`.
 * Should a later Node check `x`, this falls back to PKCS#8, which needs no public key.
 */
function privateKeyFromSeed (secretKey: Uint8Array): KeyObject {
  try {
    return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(secretKey), x: '' }, format: 'jwk' })
  } catch {
    return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' })
  }
}

/** L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const L_LE = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex')

/** Canonical encodings of the 8 points of small order (the torsion subgroup). */
export const SMALL_ORDER_KEYS_HEX: readonly string[] = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa'
]
const SMALL_ORDER_KEYS = SMALL_ORDER_KEYS_HEX.map((h) => Buffer.from(h, 'hex'))

export interface KeyPair {
  /** 32-byte seed (RFC 8032 private key). Never leaves the keystore unencrypted. */
  secretKey: Uint8Array
  publicKey: Uint8Array
}

export type KeyErrorType =
  | { code: 'KEY_BAD_LENGTH', length: number }
  | { code: 'KEY_NON_CANONICAL' }
  | { code: 'KEY_SMALL_ORDER' }
  | { code: 'KEY_NOT_TORSION_FREE' }

export class KeyError extends MedchainError<KeyErrorType> {}

/** True when the 32-byte little-endian value `s` is < L. */
function scalarIsCanonical (sig: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const a = sig[32 + i] as number
    const b = L_LE[i] as number
    if (a < b) return true
    if (a > b) return false
  }
  return false // equal to L
}

/**
 * True when the encoding is canonical: y < p = 2^255 - 19, and not x = 0 written with the sign
 * bit set (y = 1 or y = p - 1 with the top bit: RFC 8032 decoding fails on those).
 */
function pointEncodingIsCanonical (bytes: Uint8Array, offset: number): boolean {
  if (((bytes[offset + 31] as number) & 0x80) !== 0 && xIsZero(bytes, offset)) return false
  return yIsBelowP(bytes, offset)
}

/** y = 1 or y = p - 1 (sign bit ignored): the two points whose x is 0. */
function xIsZero (bytes: Uint8Array, offset: number): boolean {
  const top = (bytes[offset + 31] as number) & 0x7f
  if (top === 0 && bytes[offset] === 1) {
    for (let i = 1; i < 31; i++) if (bytes[offset + i] !== 0) return false
    return true
  }
  if (top === 0x7f && bytes[offset] === 0xec) {
    for (let i = 1; i < 31; i++) if (bytes[offset + i] !== 0xff) return false
    return true
  }
  return false
}

function yIsBelowP (bytes: Uint8Array, offset: number): boolean {
  if (((bytes[offset + 31] as number) & 0x7f) !== 0x7f) return true
  for (let i = 30; i >= 1; i--) if (bytes[offset + i] !== 0xff) return true
  return (bytes[offset] as number) < 0xed
}

/**
 * True when `publicKey` encodes one of the 8 small-order points, with either sign bit: besides the
 * 8 canonical encodings this catches the identity and (0, -1) written with x = 0 and the sign bit
 * set, which OpenSSL decodes to those same points.
 */
function isSmallOrderEncoding (publicKey: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_LENGTH) return false
  for (const k of SMALL_ORDER_KEYS) {
    let same = true
    for (let i = 0; i < 31 && same; i++) same = k[i] === publicKey[i]
    if (same && ((k[31] as number) & 0x7f) === ((publicKey[31] as number) & 0x7f)) return true
  }
  return false
}

const PUBLIC_KEY_CACHE_LIMIT = 16_384
const publicKeyCache = new Map<string, KeyObject>()

function publicKeyObject (publicKey: Uint8Array): KeyObject {
  const id = byteKey(publicKey)
  let obj = publicKeyCache.get(id)
  if (obj === undefined) {
    obj = publicKeyFromRaw(publicKey)
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_LIMIT) publicKeyCache.clear()
    publicKeyCache.set(id, obj)
  }
  return obj
}

/**
 * THE signature check of medchain. Returns true or false and never throws; the rule is in the
 * module comment above.
 */
export function verify (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_LENGTH || signature.length !== SIGNATURE_LENGTH) return false
  if (!scalarIsCanonical(signature)) return false
  if (!pointEncodingIsCanonical(publicKey, 0) || !pointEncodingIsCanonical(signature, 0)) return false
  if (isSmallOrderEncoding(publicKey)) return false
  try {
    return nodeVerify(null, message, publicKeyObject(publicKey), signature)
  } catch {
    return false
  }
}

function keyError (type: KeyErrorType, message: string): KeyError {
  return new KeyError(type, message)
}

/**
 * Key admission for every identity: right length, canonical encoding, not a small-order point.
 * Throws KeyError; returns nothing when the key is fine. O(1): byte comparisons only.
 */
export function validatePublicKey (publicKey: Uint8Array): void {
  if (publicKey.length !== PUBLIC_KEY_LENGTH) {
    throw keyError({ code: 'KEY_BAD_LENGTH', length: publicKey.length }, `A public key must be ${PUBLIC_KEY_LENGTH} bytes, got ${publicKey.length}.`)
  }
  if (!pointEncodingIsCanonical(publicKey, 0)) {
    throw keyError({ code: 'KEY_NON_CANONICAL' }, 'The public key is not a canonical ed25519 encoding; generate a new key with `medchain keys new`.')
  }
  if (isSmallOrderEncoding(publicKey)) {
    throw keyError({ code: 'KEY_SMALL_ORDER' }, 'The public key is a small-order point that anyone could sign for; generate a new key with `medchain keys new`.')
  }
}

/**
 * Key admission for hospitals and validators: `validatePublicKey`, plus the point must be on the
 * curve and free of torsion. Throws KeyError.
 */
export function validatePublicKeyStrict (publicKey: Uint8Array): void {
  validatePublicKey(publicKey)
  let point
  try {
    point = ed25519.Point.fromBytes(publicKey, false)
  } catch {
    throw keyError({ code: 'KEY_NON_CANONICAL' }, 'The public key is not a point on the ed25519 curve; generate a new key with `medchain keys new`.')
  }
  if (point.isSmallOrder()) {
    throw keyError({ code: 'KEY_SMALL_ORDER' }, 'The public key is a small-order point that anyone could sign for; generate a new key with `medchain keys new`.')
  }
  if (!point.isTorsionFree()) {
    throw keyError({ code: 'KEY_NOT_TORSION_FREE' }, 'The public key has a torsion component and is refused; generate a new key with `medchain keys new`.')
  }
}

/** A signing key held in memory: the OpenSSL key object is built once, signatures are deterministic. */
export interface Signer {
  readonly publicKey: Uint8Array
  sign: (message: Uint8Array) => Uint8Array
}

export function createSigner (secretKey: Uint8Array): Signer {
  if (secretKey.length !== SECRET_KEY_LENGTH) {
    throw new KeyError({ code: 'KEY_BAD_LENGTH', length: secretKey.length }, `A secret key (seed) must be ${SECRET_KEY_LENGTH} bytes, got ${secretKey.length}.`)
  }
  const privateKey = privateKeyFromSeed(secretKey)
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x
  const publicKey = new Uint8Array(Buffer.from(x ?? '', 'base64url'))
  if (publicKey.length !== PUBLIC_KEY_LENGTH) throw new Error(`OpenSSL derived a ${publicKey.length}-byte public key from an ed25519 seed`)
  return {
    publicKey,
    sign: (message) => new Uint8Array(nodeSign(null, message, privateKey))
  }
}

export function keyPairFromSeed (secretKey: Uint8Array): KeyPair {
  return { secretKey: new Uint8Array(secretKey), publicKey: createSigner(secretKey).publicKey }
}

export function generateKeyPair (): KeyPair {
  return keyPairFromSeed(new Uint8Array(randomBytes(SECRET_KEY_LENGTH)))
}

/** One-shot signing; prefer `createSigner` when signing many messages with one key. */
export function sign (secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  return createSigner(secretKey).sign(message)
}

