/**
 * The key file format: what a key file holds, how it is written as JSON, and the strict check a
 * file's text must pass before anything else reads it.
 *
 * ## File format (version 1)
 *
 * ```json
 * {
 *   "version": 1,
 *   "name": "alice",
 *   "publicKey": "<64 lower-case hex: the ed25519 public key>",
 *   "createdAt": "2026-11-22T03:00:00.000Z",
 *   "crypto": {
 *     "kdf": "scrypt",
 *     "kdfparams": { "n": 32768, "r": 8, "p": 1, "dklen": 32, "salt": "<64 hex: 32 random bytes>" },
 *     "cipher": "aes-256-gcm",
 *     "iv": "<24 hex: 12 random bytes>",
 *     "ciphertext": "<64 hex: the encrypted 32-byte ed25519 seed>",
 *     "tag": "<32 hex: the 16-byte GCM tag>"
 *   }
 * }
 * ```
 *
 * Key names match `^[a-z0-9][a-z0-9._-]{0,63}$`, so a name is always a plain file name on every OS.
 * How `crypto` is computed and checked is in encryption.ts.
 *
 * Loading is strict: every field must be present with the right type and length, hex lower-case,
 * `version` 1, `kdf` "scrypt", `cipher` "aes-256-gcm", and the KDF parameters sane (n a power of two
 * in [2, 2^20], 1 <= r <= 32, 1 <= p <= 16, at most 1 GiB of memory and 2^25 n·r·p work), so that
 * a hostile file cannot make the CLI allocate gigabytes or spin for minutes. Unknown extra fields
 * are ignored.
 */
import { SECRET_KEY_LENGTH } from '../crypto/ed25519.js'
import { corrupt, KeystoreError } from './errors.js'

export const KEYSTORE_VERSION = 1
export const KEY_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/

export const KDF = 'scrypt'
export const CIPHER = 'aes-256-gcm'
export const DKLEN = 32
export const SALT_LENGTH = 32
export const IV_LENGTH = 12
export const TAG_LENGTH = 16

const MAX_N = 2 ** 20
const MAX_R = 32
const MAX_P = 16
const MAX_MEMORY = 1024 * 1024 * 1024
const MAX_WORK = 2 ** 25

export interface ScryptParams {
  n: number
  r: number
  p: number
}

/** The parsed, validated contents of a version 1 key file. */
export interface KeyFile {
  version: 1
  name: string
  publicKey: string
  createdAt: string
  crypto: {
    kdf: 'scrypt'
    kdfparams: { n: number, r: number, p: number, dklen: 32, salt: string }
    cipher: 'aes-256-gcm'
    iv: string
    ciphertext: string
    tag: string
  }
}

/** Throws KEYSTORE_BAD_NAME unless `name` matches KEY_NAME_PATTERN. */
export function validateKeyName (name: string): void {
  if (!KEY_NAME_PATTERN.test(name)) {
    throw new KeystoreError({ code: 'KEYSTORE_BAD_NAME', name },
      `"${printable(name)}" is not a valid key name; use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.`)
  }
}

/** Why `params` are not acceptable scrypt parameters, or undefined when they are. */
export function scryptParamsProblem (params: ScryptParams): string | undefined {
  const { n, r, p } = params
  if (!Number.isSafeInteger(n) || n < 2 || n > MAX_N || (n & (n - 1)) !== 0) return `n must be a power of two between 2 and 2^20, got ${String(n)}`
  if (!Number.isSafeInteger(r) || r < 1 || r > MAX_R) return `r must be an integer between 1 and ${MAX_R}, got ${String(r)}`
  if (!Number.isSafeInteger(p) || p < 1 || p > MAX_P) return `p must be an integer between 1 and ${MAX_P}, got ${String(p)}`
  if (128 * n * r > MAX_MEMORY) return `n and r ask for ${128 * n * r} bytes of memory, more than 1 GiB`
  if (n * r * p > MAX_WORK) return `n·r·p = ${n * r * p} is more work than 2^25`
  return undefined
}

function printable (text: string): string {
  const cleaned = text.replace(/[^\x20-\x7e]/g, '?')
  return cleaned.length > 70 ? cleaned.slice(0, 70) + '…' : cleaned
}

/** The text of a key file: pretty-printed JSON with a final newline. */
export function encodeKeyFile (file: KeyFile): string {
  return JSON.stringify(file, null, 2) + '\n'
}

// ---------------------------------------------------------------------------------------------
// Decoding: JSON text -> KeyFile, or KEYSTORE_CORRUPT
// ---------------------------------------------------------------------------------------------

type JsonObject = Record<string, unknown>

function isObject (value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function field (obj: JsonObject, key: string, path: string, where: string): unknown {
  if (!Object.prototype.hasOwnProperty.call(obj, key)) throw corrupt(path, `${where}${key} is missing`)
  return obj[key]
}

function stringField (obj: JsonObject, key: string, path: string, where = ''): string {
  const value = field(obj, key, path, where)
  if (typeof value !== 'string') throw corrupt(path, `${where}${key} is not a string`)
  return value
}

function intField (obj: JsonObject, key: string, path: string, where = ''): number {
  const value = field(obj, key, path, where)
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw corrupt(path, `${where}${key} is not an integer`)
  return value
}

function hexField (obj: JsonObject, key: string, bytes: number, path: string, where = ''): string {
  const value = stringField(obj, key, path, where)
  if (value.length !== bytes * 2 || !/^[0-9a-f]*$/.test(value)) {
    throw corrupt(path, `${where}${key} is not ${bytes} bytes of lower-case hex`)
  }
  return value
}

/**
 * Parses and validates the text of a key file; throws KEYSTORE_CORRUPT with the reason.
 * `path` is used in messages only.
 */
export function decodeKeyFile (text: string, path: string): KeyFile {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw corrupt(path, 'it is not JSON')
  }
  if (!isObject(json)) throw corrupt(path, 'it is not a JSON object')
  const version = intField(json, 'version', path)
  if (version !== KEYSTORE_VERSION) {
    throw corrupt(path, `version ${version}, while this medchain reads version ${KEYSTORE_VERSION}`,
      version > KEYSTORE_VERSION ? 'upgrade medchain to use it' : 'restore it from your backup')
  }
  const name = stringField(json, 'name', path)
  if (!KEY_NAME_PATTERN.test(name)) throw corrupt(path, 'name is not a valid key name')
  const publicKey = hexField(json, 'publicKey', 32, path)
  const createdAt = stringField(json, 'createdAt', path)
  if (createdAt.length > 64 || Number.isNaN(Date.parse(createdAt))) throw corrupt(path, 'createdAt is not a date')

  const cryptoJson = field(json, 'crypto', path, '')
  if (!isObject(cryptoJson)) throw corrupt(path, 'crypto is not an object')
  const kdf = stringField(cryptoJson, 'kdf', path, 'crypto.')
  if (kdf !== KDF) throw corrupt(path, `kdf "${printable(kdf)}" is not supported, only "${KDF}"`)
  const kdfparamsJson = field(cryptoJson, 'kdfparams', path, 'crypto.')
  if (!isObject(kdfparamsJson)) throw corrupt(path, 'crypto.kdfparams is not an object')
  const where = 'crypto.kdfparams.'
  const n = intField(kdfparamsJson, 'n', path, where)
  const r = intField(kdfparamsJson, 'r', path, where)
  const p = intField(kdfparamsJson, 'p', path, where)
  const dklen = intField(kdfparamsJson, 'dklen', path, where)
  const salt = hexField(kdfparamsJson, 'salt', SALT_LENGTH, path, where)
  const problem = scryptParamsProblem({ n, r, p })
  if (problem !== undefined) throw corrupt(path, `scrypt ${problem}`)
  if (dklen !== DKLEN) throw corrupt(path, `scrypt dklen must be ${DKLEN}, got ${dklen}`)
  const cipher = stringField(cryptoJson, 'cipher', path, 'crypto.')
  if (cipher !== CIPHER) throw corrupt(path, `cipher "${printable(cipher)}" is not supported, only "${CIPHER}"`)
  const iv = hexField(cryptoJson, 'iv', IV_LENGTH, path, 'crypto.')
  const ciphertext = hexField(cryptoJson, 'ciphertext', SECRET_KEY_LENGTH, path, 'crypto.')
  const tag = hexField(cryptoJson, 'tag', TAG_LENGTH, path, 'crypto.')

  return {
    version: KEYSTORE_VERSION,
    name,
    publicKey,
    createdAt,
    crypto: { kdf: KDF, kdfparams: { n, r, p, dklen: DKLEN, salt }, cipher: CIPHER, iv, ciphertext, tag }
  }
}
