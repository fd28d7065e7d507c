/**
 * The encryption of a key file: sealing a 32-byte ed25519 seed under a passphrase into a KeyFile,
 * and opening it again. A secret key is never written to disk in the clear; at rest it exists only
 * in this sealed form, in the spirit of geth's keystore v3.
 *
 * `key = scrypt(NFKC(passphrase), salt, n, r, p, dklen = 32)`, then AES-256-GCM over the 32-byte
 * seed with a fresh 12-byte iv and, as additional authenticated data, the whole header (see
 * `keyFileAad`): version, name, publicKey, createdAt, kdf, n, r, p, dklen, salt and cipher.
 * Changing any of them, swapping the public key or weakening the KDF parameters makes decryption
 * fail. GCM cannot tell a wrong passphrase from an altered file, so both give
 * KEYSTORE_BAD_PASSPHRASE (as geth's MAC check does). After decryption the public key is derived
 * again from the seed and must equal the file's `publicKey` (KEYSTORE_KEY_MISMATCH otherwise).
 *
 * The production scrypt cost is n = 2^15, r = 8, p = 1 (32 MiB, about 0.1 s); tests pass cheaper
 * parameters to the Keystore constructor's `scrypt` option.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto'
import { equalBytes, fromHex, toHex, utf8 } from '../crypto/bytes.js'
import { createSigner, type Signer } from '../crypto/ed25519.js'
import { KeystoreError } from './errors.js'
import { CIPHER, DKLEN, IV_LENGTH, KDF, KEYSTORE_VERSION, SALT_LENGTH, TAG_LENGTH, type KeyFile, type ScryptParams } from './format.js'

const AAD_DOMAIN = 'medchain/keystore/v1'

/** Production default: 32 MiB, about 0.1 s per unlock. */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = Object.freeze({ n: 2 ** 15, r: 8, p: 1 })

/** What the AEAD authenticates besides the ciphertext: everything but iv, ciphertext and tag. */
export interface KeyFileHeader {
  version: number
  name: string
  publicKey: string
  createdAt: string
  crypto: { kdf: string, kdfparams: { n: number, r: number, p: number, dklen: number, salt: string }, cipher: string }
}

/**
 * The additional authenticated data of a key file: every header field in a fixed order, as a JSON
 * array (deterministic for strings and safe integers), behind a domain tag.
 */
export function keyFileAad (file: KeyFileHeader): Uint8Array {
  const { kdf, kdfparams, cipher } = file.crypto
  return utf8(JSON.stringify([
    AAD_DOMAIN, file.version, file.name, file.publicKey, file.createdAt,
    kdf, kdfparams.n, kdfparams.r, kdfparams.p, kdfparams.dklen, kdfparams.salt, cipher
  ]))
}

function deriveKey (passphrase: string, salt: Uint8Array, params: ScryptParams): Buffer {
  const { n, r, p } = params
  // OpenSSL needs 128·r·(n + p + 2) bytes; leave 1 MiB of headroom.
  const maxmem = 128 * r * (n + p + 2) + 1024 * 1024
  return scryptSync(passphrase.normalize('NFKC'), salt, DKLEN, { N: n, r, p, maxmem })
}

/** Encrypts `secretKey` into a key file. Pure apart from the random salt and iv. */
export function encryptKeyFile (
  input: { name: string, secretKey: Uint8Array, passphrase: string, createdAt: string, scrypt: ScryptParams }
): KeyFile {
  const signer = createSigner(input.secretKey)
  const salt = randomBytes(SALT_LENGTH)
  const iv = randomBytes(IV_LENGTH)
  const header = {
    version: KEYSTORE_VERSION,
    name: input.name,
    publicKey: toHex(signer.publicKey),
    createdAt: input.createdAt,
    crypto: {
      kdf: KDF,
      kdfparams: { n: input.scrypt.n, r: input.scrypt.r, p: input.scrypt.p, dklen: DKLEN, salt: toHex(salt) },
      cipher: CIPHER
    }
  } as const
  const key = deriveKey(input.passphrase, salt, input.scrypt)
  try {
    const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_LENGTH })
    cipher.setAAD(keyFileAad(header))
    const ciphertext = Buffer.concat([cipher.update(input.secretKey), cipher.final()])
    return { ...header, crypto: { ...header.crypto, iv: toHex(iv), ciphertext: toHex(ciphertext), tag: toHex(cipher.getAuthTag()) } }
  } finally {
    key.fill(0)
  }
}

/**
 * Decrypts a validated key file and checks the seed against the file's public key.
 * Throws KEYSTORE_BAD_PASSPHRASE (wrong passphrase or altered file) or KEYSTORE_KEY_MISMATCH.
 */
export function decryptKeyFile (file: KeyFile, passphrase: string): Signer {
  const { signer, seed } = decryptKeyFileSecret(file, passphrase)
  seed.fill(0)
  return signer
}

/**
 * Like `decryptKeyFile`, and also returns a copy of the 32-byte seed, for the one use that needs
 * the secret itself: opening record key envelopes (X25519 from the ed25519 seed, src/records).
 * The caller should zero the seed when done.
 */
export function decryptKeyFileSecret (file: KeyFile, passphrase: string): { signer: Signer, seed: Uint8Array } {
  const key = deriveKey(passphrase, fromHex(file.crypto.kdfparams.salt), file.crypto.kdfparams)
  let seed: Buffer
  try {
    const decipher = createDecipheriv(CIPHER, key, fromHex(file.crypto.iv), { authTagLength: TAG_LENGTH })
    decipher.setAAD(keyFileAad(file))
    decipher.setAuthTag(fromHex(file.crypto.tag))
    seed = Buffer.concat([decipher.update(fromHex(file.crypto.ciphertext)), decipher.final()])
  } catch {
    throw new KeystoreError({ code: 'KEYSTORE_BAD_PASSPHRASE', name: file.name },
      `The passphrase for key "${file.name}" is wrong, or its file was altered; retry with the right passphrase or restore the file from your backup.`)
  } finally {
    key.fill(0)
  }
  try {
    const signer = createSigner(seed)
    if (!equalBytes(signer.publicKey, fromHex(file.publicKey))) {
      throw new KeystoreError({ code: 'KEYSTORE_KEY_MISMATCH', name: file.name },
        `The secret in key file "${file.name}" does not belong to the public key the file names; do not use this file, restore it from your backup.`)
    }
    return { signer, seed: new Uint8Array(seed) }
  } finally {
    seed.fill(0)
  }
}
