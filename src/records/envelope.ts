/**
 * Key envelopes: a record's 32-byte data key sealed for one reader. Runs on the clinician's or
 * patient's machine; nodes store envelopes and never see a data key.
 *
 * ## Construction (an ECIES / HPKE-base-mode shape, version 1)
 *
 *   eph            = fresh X25519 key pair, one per envelope
 *   recipientX     = encryptionPublicKey(recipient)            (X25519 form of the ed25519 key)
 *   shared         = X25519(eph.secret, recipientX)            refused if all zero
 *   key            = HKDF-SHA256(ikm = shared, salt = ephPub || recipientX,
 *                                info = 'medchain/envelope/v1' || utf8(chainId) || contentHash, 32)
 *   sealed         = AES-256-GCM(key, nonce = 12 random bytes, aad = recipient || contentHash, dataKey)
 *   wire (93 B)    = 0x01 || ephPub (32) || nonce (12) || ciphertext (32) || tag (16)
 *
 * Binding: the envelope opens only with the recipient's seed (X25519), only for the record whose
 * ciphertext hashes to `contentHash` and only on `chainId` (both in the HKDF info; the hash and the
 * recipient's ed25519 key are also the AAD), so an envelope copied into another record, another
 * grant for someone else or another chain fails to open. `info` is unambiguous without separators:
 * the domain is a constant prefix and contentHash a fixed-length suffix. The key is fresh per
 * envelope (fresh ephemeral), so the random nonce never repeats under one key.
 *
 * ## Identities: ed25519 → X25519
 *
 * Everyone on the chain has one ed25519 identity key. Its X25519 form is the birational map from
 * the twisted Edwards curve to Curve25519, u = (1 + y) / (1 − y) on the public side, and on the
 * secret side the clamped first half of SHA-512(seed) — the same scalar ed25519 signs with. This is
 * libsodium's `crypto_sign_ed25519_pk_to_curve25519` / `..._sk_to_curve25519` (age's ssh-ed25519
 * recipients do the same), via @noble/curves `toMontgomery` / `toMontgomerySecret`.
 *
 * Caveat: one key then serves both signing and key agreement. No practical attack on this joint
 * use is known for ed25519/X25519 (it has been analysed, e.g. Thormarker 2021, "On using the same
 * key pair for Ed25519 and an X25519 based KEM"), but it couples the two: a leaked seed forges
 * signatures and opens every envelope ever sealed to it, and the key cannot be rotated for one
 * purpose alone. The alternative is a separate X25519 encryption key registered on the chain next
 * to the signing key (signed by it), which would change only `encryptionPublicKey` and the seed
 * passed to `openDataKey`; the envelope version byte leaves room for that.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { concatBytes, utf8 } from '../crypto/bytes.js'
import { validatePublicKey, PUBLIC_KEY_LENGTH, SECRET_KEY_LENGTH } from '../crypto/ed25519.js'
import { HASH_LENGTH } from '../crypto/hash.js'
import { DATA_KEY_LENGTH } from './cipher.js'
import { RecordError } from './errors.js'

export const ENVELOPE_VERSION = 1
const X25519_KEY_LENGTH = 32
const NONCE_LENGTH = 12
const TAG_LENGTH = 16
/** version (1) + ephemeral public key (32) + nonce (12) + sealed data key (32) + tag (16). */
export const ENVELOPE_LENGTH = 1 + X25519_KEY_LENGTH + NONCE_LENGTH + DATA_KEY_LENGTH + TAG_LENGTH

const INFO_PREFIX = utf8('medchain/envelope/v1')

export interface SealDataKeyInput {
  chainId: string
  /** The record's 32-byte data key (cipher.ts `newDataKey`). */
  dataKey: Uint8Array
  /** The reader's ed25519 identity public key (32 bytes). */
  recipient: Uint8Array
  /** sha256 of the record's ciphertext (32 bytes), as anchored on the chain. */
  contentHash: Uint8Array
}

export interface OpenDataKeyInput {
  chainId: string
  envelope: Uint8Array
  /** The reader's ed25519 seed (32 bytes), as held in the keystore. */
  recipientSeed: Uint8Array
  contentHash: Uint8Array
}

function checkLength (what: string, bytes: Uint8Array, expected: number): void {
  if (bytes.length !== expected) {
    throw new RecordError({ code: 'RECORD_BAD_LENGTH', what, length: bytes.length, expected }, `The ${what} must be ${expected} bytes, got ${bytes.length}.`)
  }
}

function badRecipient (reason: string): RecordError {
  return new RecordError({ code: 'RECORD_BAD_RECIPIENT', reason }, `The recipient key cannot receive envelopes (${reason}); ask the reader for their registered identity key.`)
}

function isAllZero (bytes: Uint8Array): boolean {
  let acc = 0
  for (const b of bytes) acc |= b
  return acc === 0
}

/**
 * The X25519 public key of an ed25519 identity (birational map, see the module comment).
 * Throws RecordError RECORD_BAD_RECIPIENT for a key that is not a canonical ed25519 point or is a
 * small-order point.
 */
export function encryptionPublicKey (ed25519PublicKey: Uint8Array): Uint8Array {
  checkLength('recipient public key', ed25519PublicKey, PUBLIC_KEY_LENGTH)
  try {
    validatePublicKey(ed25519PublicKey)
  } catch (err) {
    throw badRecipient(err instanceof Error ? err.message : 'invalid key')
  }
  let u: Uint8Array
  try {
    u = ed25519.utils.toMontgomery(ed25519PublicKey)
  } catch {
    throw badRecipient('not a point on the ed25519 curve')
  }
  return u
}

/**
 * The X25519 secret key of an ed25519 seed: the first half of SHA-512(seed), which X25519 clamps
 * into the very scalar ed25519 signs with.
 */
export function encryptionSecretKey (ed25519Seed: Uint8Array): Uint8Array {
  checkLength('recipient seed', ed25519Seed, SECRET_KEY_LENGTH)
  return ed25519.utils.toMontgomerySecret(ed25519Seed)
}

function deriveKey (shared: Uint8Array, ephPub: Uint8Array, recipientX: Uint8Array, chainId: string, contentHash: Uint8Array): Uint8Array {
  const info = concatBytes(INFO_PREFIX, utf8(chainId), contentHash)
  return hkdf(sha256, shared, concatBytes(ephPub, recipientX), info, 32)
}

/** X25519, or null when the result is all zero (a small-order public key) or noble refuses it. */
function sharedSecret (secret: Uint8Array, publicKey: Uint8Array): Uint8Array | null {
  let shared: Uint8Array
  try {
    shared = x25519.getSharedSecret(secret, publicKey)
  } catch {
    return null // noble throws on an all-zero result
  }
  return isAllZero(shared) ? null : shared
}

/**
 * Seals `dataKey` for `recipient`, bound to `chainId` and `contentHash`. Returns the 93-byte
 * envelope. Throws RecordError RECORD_BAD_LENGTH or RECORD_BAD_RECIPIENT.
 */
export function sealDataKey (input: SealDataKeyInput): Uint8Array {
  const { chainId, dataKey, recipient, contentHash } = input
  checkLength('data key', dataKey, DATA_KEY_LENGTH)
  checkLength('content hash', contentHash, HASH_LENGTH)
  const recipientX = encryptionPublicKey(recipient)
  const ephSecret = x25519.utils.randomSecretKey()
  const ephPub = x25519.getPublicKey(ephSecret)
  const shared = sharedSecret(ephSecret, recipientX)
  if (shared === null) throw badRecipient('small-order key, the shared secret would be zero')
  const key = deriveKey(shared, ephPub, recipientX, chainId, contentHash)
  const nonce = randomBytes(NONCE_LENGTH)
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_LENGTH })
  cipher.setAAD(concatBytes(recipient, contentHash))
  const sealed = Buffer.concat([cipher.update(dataKey), cipher.final(), cipher.getAuthTag()])
  key.fill(0)
  shared.fill(0)
  ephSecret.fill(0)
  return concatBytes(new Uint8Array([ENVELOPE_VERSION]), ephPub, nonce, sealed)
}

/**
 * Opens an envelope sealed for the identity whose seed is `recipientSeed`. Throws RecordError:
 * ENVELOPE_MALFORMED (wrong length or version), ENVELOPE_TAMPERED (not sealed for this key, for
 * this record and chain, or modified), RECORD_BAD_LENGTH (seed or hash of the wrong length).
 */
export function openDataKey (input: OpenDataKeyInput): Uint8Array {
  const { chainId, envelope, recipientSeed, contentHash } = input
  checkLength('recipient seed', recipientSeed, SECRET_KEY_LENGTH)
  checkLength('content hash', contentHash, HASH_LENGTH)
  if (envelope.length !== ENVELOPE_LENGTH) {
    throw new RecordError({ code: 'ENVELOPE_MALFORMED', reason: `length ${envelope.length}` }, `A key envelope must be ${ENVELOPE_LENGTH} bytes, got ${envelope.length}; fetch the envelope again.`)
  }
  if (envelope[0] !== ENVELOPE_VERSION) {
    throw new RecordError({ code: 'ENVELOPE_MALFORMED', reason: `version ${envelope[0] ?? -1}` }, `Key envelope version ${envelope[0] ?? -1} is not supported (expected ${ENVELOPE_VERSION}); upgrade medchain.`)
  }
  const ephPub = envelope.subarray(1, 33)
  const nonce = envelope.subarray(33, 45)
  const sealed = envelope.subarray(45, 45 + DATA_KEY_LENGTH)
  const tag = envelope.subarray(45 + DATA_KEY_LENGTH)
  const tampered = (): RecordError => new RecordError({ code: 'ENVELOPE_TAMPERED' }, 'The key envelope was not sealed for this key, record and chain, or it was modified; ask the record\'s author to share the key again.')

  const recipient = ed25519.getPublicKey(recipientSeed)
  const secretX = encryptionSecretKey(recipientSeed)
  const recipientX = x25519.getPublicKey(secretX)
  const shared = sharedSecret(secretX, ephPub)
  secretX.fill(0)
  if (shared === null) throw tampered()
  const key = deriveKey(shared, ephPub, recipientX, chainId, contentHash)
  shared.fill(0)
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_LENGTH })
  decipher.setAAD(concatBytes(recipient, contentHash))
  decipher.setAuthTag(tag)
  const dataKey = decipher.update(sealed)
  try {
    decipher.final()
  } catch {
    dataKey.fill(0)
    throw tampered()
  } finally {
    key.fill(0)
  }
  const out = new Uint8Array(dataKey)
  dataKey.fill(0)
  return out
}
