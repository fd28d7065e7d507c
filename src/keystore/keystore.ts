/**
 * Encrypted key files ("keys at rest", DESIGN.md §5), in the spirit of geth's keystore v3.
 *
 * ## Layout
 *
 * One file per key, `<dir>/<name>.json`, mode 0600, in a directory created with mode 0700. Names
 * match `^[a-z0-9][a-z0-9._-]{0,63}$`, so a name is always a plain file name on every OS.
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
 * Encryption: `key = scrypt(NFKC(passphrase), salt, n, r, p, dklen = 32)`, then AES-256-GCM over
 * the 32-byte seed with a fresh 12-byte iv and, as additional authenticated data, the whole header
 * (see `keyFileAad`): version, name, publicKey, createdAt, kdf, n, r, p, dklen, salt and cipher.
 * Changing any of them, swapping the public key or weakening the KDF parameters makes decryption
 * fail. GCM cannot tell a wrong passphrase from an altered file, so both give
 * KEYSTORE_BAD_PASSPHRASE (as geth's MAC check does). After decryption the public key is derived
 * again from the seed and must equal the file's `publicKey` (KEYSTORE_KEY_MISMATCH otherwise).
 *
 * Loading is strict: every field must be present with the right type and length, hex lower-case,
 * `version` 1, `kdf` "scrypt", `cipher` "aes-256-gcm", and the KDF parameters sane (n a power of two
 * in [2, 2^20], 1 <= r <= 32, 1 <= p <= 16, at most 1 GiB of memory and 2^25 n·r·p work), so that
 * a hostile file cannot make the CLI allocate gigabytes or spin for minutes. Unknown extra fields
 * are ignored. The file's `name` must equal its file name, so one key file copied over another is
 * refused rather than signing as the wrong identity. On POSIX a key file that group or others may
 * read or write is refused (KEYSTORE_INSECURE_PERMISSIONS). The public header (`list`, `show`) is
 * read without the passphrase and is not authenticated until the key is unlocked.
 *
 * Writes go to a temporary file (mode 0600, fsync), which is then hard-linked to its final name —
 * link fails if the name exists, so an existing key is never overwritten even by a concurrent
 * writer — and the directory is fsynced. On file systems without hard links it falls back to an
 * existence check plus rename.
 *
 * The production scrypt cost is n = 2^15, r = 8, p = 1 (32 MiB, about 0.1 s); tests pass cheaper
 * parameters through the constructor's `scrypt` option.
 */
import {
  closeSync, fchmodSync, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readSync, renameSync,
  unlinkSync, writeSync, existsSync, chmodSync
} from 'node:fs'
import { join, resolve } from 'node:path'
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto'
import { MedchainError } from '../util/errors.js'
import { equalBytes, fromHex, toHex, utf8 } from '../crypto/bytes.js'
import { createSigner, SECRET_KEY_LENGTH, type Signer } from '../crypto/ed25519.js'

export const KEYSTORE_VERSION = 1
export const KEY_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/

const KDF = 'scrypt'
const CIPHER = 'aes-256-gcm'
const DKLEN = 32
const SALT_LENGTH = 32
const IV_LENGTH = 12
const TAG_LENGTH = 16
const AAD_DOMAIN = 'medchain/keystore/v1'

/** Key files are a few hundred bytes; anything much larger is not one of ours. */
const MAX_FILE_SIZE = 64 * 1024
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

/** Production default: 32 MiB, about 0.1 s per unlock. */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = Object.freeze({ n: 2 ** 15, r: 8, p: 1 })

export type KeystoreErrorType =
  | { code: 'KEYSTORE_NOT_FOUND', name: string }
  | { code: 'KEYSTORE_EXISTS', name: string }
  | { code: 'KEYSTORE_BAD_PASSPHRASE', name: string }
  | { code: 'KEYSTORE_EMPTY_PASSPHRASE' }
  | { code: 'KEYSTORE_CORRUPT', path: string, reason: string }
  | { code: 'KEYSTORE_KEY_MISMATCH', name: string }
  | { code: 'KEYSTORE_BAD_NAME', name: string }
  | { code: 'KEYSTORE_INSECURE_PERMISSIONS', path: string, mode: number }
  | { code: 'KEYSTORE_IO', path: string, op: 'read' | 'write', errno: string }

export class KeystoreError extends MedchainError<KeystoreErrorType> {}

/** The public part of a key file: readable without the passphrase. */
export interface KeyInfo {
  name: string
  /** Lower-case hex of the 32-byte ed25519 public key. */
  publicKey: string
  /** ISO 8601 UTC time the key was created or imported. */
  createdAt: string
  /** Absolute path of the key file. */
  file: string
}

/** A file in the keystore directory that `list` could not read. */
export interface UnreadableKeyFile {
  file: string
  code: KeystoreErrorType['code']
  message: string
}

export interface KeyListing {
  keys: KeyInfo[]
  unreadable: UnreadableKeyFile[]
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

/** What the AEAD authenticates besides the ciphertext: everything but iv, ciphertext and tag. */
export interface KeyFileHeader {
  version: number
  name: string
  publicKey: string
  createdAt: string
  crypto: { kdf: string, kdfparams: { n: number, r: number, p: number, dklen: number, salt: string }, cipher: string }
}

export interface KeystoreOptions {
  /** scrypt cost for keys this instance creates or imports. Default `DEFAULT_SCRYPT`; cheaper only in tests. */
  scrypt?: ScryptParams
  /** Clock for `createdAt`. Default `() => new Date()`. */
  now?: () => Date
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

/** Throws KEYSTORE_BAD_NAME unless `name` matches KEY_NAME_PATTERN. */
export function validateKeyName (name: string): void {
  if (!KEY_NAME_PATTERN.test(name)) {
    throw new KeystoreError({ code: 'KEYSTORE_BAD_NAME', name },
      `"${printable(name)}" is not a valid key name; use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.`)
  }
}

/** Why `params` are not acceptable scrypt parameters, or undefined when they are. */
function scryptParamsProblem (params: ScryptParams): string | undefined {
  const { n, r, p } = params
  if (!Number.isSafeInteger(n) || n < 2 || n > MAX_N || (n & (n - 1)) !== 0) return `n must be a power of two between 2 and 2^20, got ${String(n)}`
  if (!Number.isSafeInteger(r) || r < 1 || r > MAX_R) return `r must be an integer between 1 and ${MAX_R}, got ${String(r)}`
  if (!Number.isSafeInteger(p) || p < 1 || p > MAX_P) return `p must be an integer between 1 and ${MAX_P}, got ${String(p)}`
  if (128 * n * r > MAX_MEMORY) return `n and r ask for ${128 * n * r} bytes of memory, more than 1 GiB`
  if (n * r * p > MAX_WORK) return `n·r·p = ${n * r * p} is more work than 2^25`
  return undefined
}

function deriveKey (passphrase: string, salt: Uint8Array, params: ScryptParams): Buffer {
  const { n, r, p } = params
  // OpenSSL needs 128·r·(n + p + 2) bytes; leave 1 MiB of headroom.
  const maxmem = 128 * r * (n + p + 2) + 1024 * 1024
  return scryptSync(passphrase.normalize('NFKC'), salt, DKLEN, { N: n, r, p, maxmem })
}

function printable (text: string): string {
  const cleaned = text.replace(/[^\x20-\x7e]/g, '?')
  return cleaned.length > 70 ? cleaned.slice(0, 70) + '…' : cleaned
}

function errnoOf (err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : 'UNKNOWN'
}

function ioError (path: string, op: 'read' | 'write', err: unknown): KeystoreError {
  const errno = errnoOf(err)
  const what = op === 'read' ? 'read' : 'write'
  return new KeystoreError({ code: 'KEYSTORE_IO', path, op, errno },
    `Could not ${what} ${path} (${errno}); check that the keystore directory exists and belongs to you.`)
}

function corrupt (path: string, reason: string, advice = 'restore it from your backup'): KeystoreError {
  return new KeystoreError({ code: 'KEYSTORE_CORRUPT', path, reason },
    `The key file ${path} is not a valid medchain key file (${reason}); ${advice}.`)
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

// ---------------------------------------------------------------------------------------------
// The keystore directory
// ---------------------------------------------------------------------------------------------

export class Keystore {
  /** Absolute path of the keystore directory. */
  readonly dir: string
  private readonly scrypt: ScryptParams
  private readonly now: () => Date

  constructor (dir: string, opts: KeystoreOptions = {}) {
    this.dir = resolve(dir)
    this.scrypt = { ...(opts.scrypt ?? DEFAULT_SCRYPT) }
    const problem = scryptParamsProblem(this.scrypt)
    if (problem !== undefined) throw new RangeError(`Keystore scrypt option: ${problem}.`)
    this.now = opts.now ?? (() => new Date())
  }

  /** Path of the file that holds (or would hold) key `name`. Throws KEYSTORE_BAD_NAME. */
  pathOf (name: string): string {
    validateKeyName(name)
    return join(this.dir, `${name}.json`)
  }

  /** True when a key file named `name` exists. Throws KEYSTORE_BAD_NAME. */
  has (name: string): boolean {
    return existsSync(this.pathOf(name))
  }

  /**
   * Throws KEYSTORE_BAD_NAME or KEYSTORE_EXISTS unless a new key could be saved as `name`; lets
   * the CLI fail before it asks for a passphrase. `create`/`import` check again when they write.
   */
  validateNewName (name: string): void {
    if (this.has(name)) throw this.existsError(name)
  }

  /** Generates a new key, saves it encrypted under `passphrase`, and returns its public part. */
  create (name: string, passphrase: string): KeyInfo {
    return this.save(name, new Uint8Array(randomBytes(SECRET_KEY_LENGTH)), passphrase)
  }

  /** Saves an existing 32-byte ed25519 seed encrypted under `passphrase`. */
  import (name: string, secretKey: Uint8Array, passphrase: string): KeyInfo {
    return this.save(name, secretKey, passphrase)
  }

  /**
   * Every key file in the directory, by name, reading only the public headers (no passphrase).
   * Files that cannot be read or are not valid key files are skipped and listed in `unreadable`;
   * temporary files and files not ending in `.json` are ignored. A missing directory is empty.
   */
  list (): KeyListing {
    let entries: string[]
    try {
      entries = readdirSync(this.dir)
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return { keys: [], unreadable: [] }
      throw ioError(this.dir, 'read', err)
    }
    const keys: KeyInfo[] = []
    const unreadable: UnreadableKeyFile[] = []
    for (const entry of entries.sort()) {
      if (!entry.endsWith('.json') || entry.startsWith('.')) continue
      const file = join(this.dir, entry)
      const name = entry.slice(0, -'.json'.length)
      try {
        if (!KEY_NAME_PATTERN.test(name)) throw corrupt(file, 'its file name is not a valid key name')
        keys.push(this.info(this.loadFile(name)))
      } catch (err) {
        if (!(err instanceof KeystoreError)) throw err
        unreadable.push({ file, code: err.code, message: err.message })
      }
    }
    return { keys, unreadable }
  }

  /** The public part of key `name`, without the passphrase. */
  show (name: string): KeyInfo {
    return this.info(this.loadFile(name))
  }

  /** Decrypts key `name` and returns a signer for it. */
  unlock (name: string, passphrase: string): Signer {
    return decryptKeyFile(this.loadFile(name), passphrase)
  }

  /** Unlocks a key and also returns its seed (see decryptKeyFileSecret). */
  unlockSecret (name: string, passphrase: string): { signer: Signer, seed: Uint8Array } {
    return decryptKeyFileSecret(this.loadFile(name), passphrase)
  }

  /** Reads and validates `<dir>/<name>.json`, refusing files others may read. */
  loadFile (name: string): KeyFile {
    const path = this.pathOf(name)
    const text = readKeyFileText(path, name)
    const file = decodeKeyFile(text, path)
    if (file.name !== name) {
      throw corrupt(path, `it holds key "${file.name}", not "${name}"`, `rename it back to ${file.name}.json`)
    }
    return file
  }

  private info (file: KeyFile): KeyInfo {
    return { name: file.name, publicKey: file.publicKey, createdAt: file.createdAt, file: join(this.dir, `${file.name}.json`) }
  }

  private existsError (name: string): KeystoreError {
    return new KeystoreError({ code: 'KEYSTORE_EXISTS', name },
      `A key named "${name}" already exists in ${this.dir}; choose another name (keys are never overwritten).`)
  }

  private save (name: string, secretKey: Uint8Array, passphrase: string): KeyInfo {
    const path = this.pathOf(name)
    if (passphrase.length === 0) {
      throw new KeystoreError({ code: 'KEYSTORE_EMPTY_PASSPHRASE' }, 'A key cannot be saved with an empty passphrase; choose a passphrase.')
    }
    if (existsSync(path)) throw this.existsError(name)
    const file = encryptKeyFile({ name, secretKey, passphrase, createdAt: this.now().toISOString(), scrypt: this.scrypt })
    this.ensureDir()
    this.writeNew(path, JSON.stringify(file, null, 2) + '\n', name)
    return this.info(file)
  }

  private ensureDir (): void {
    try {
      if (!existsSync(this.dir)) {
        mkdirSync(this.dir, { recursive: true, mode: 0o700 })
        if (process.platform !== 'win32') chmodSync(this.dir, 0o700)
      }
    } catch (err) {
      throw ioError(this.dir, 'write', err)
    }
  }

  /** temp file (0600, fsync) -> link to `path` (fails if it exists) -> unlink temp -> fsync dir. */
  private writeNew (path: string, text: string, name: string): void {
    const tmp = join(this.dir, `.${name}.json.${randomBytes(6).toString('hex')}.tmp`)
    try {
      let fd: number | undefined
      try {
        fd = openSync(tmp, 'wx', 0o600)
        if (process.platform !== 'win32') fchmodSync(fd, 0o600)
        const bytes = Buffer.from(text, 'utf8')
        let off = 0
        while (off < bytes.length) off += writeSync(fd, bytes, off)
        fsyncSync(fd)
      } catch (err) {
        throw ioError(tmp, 'write', err)
      } finally {
        if (fd !== undefined) closeSync(fd)
      }
      try {
        linkSync(tmp, path)
      } catch (err) {
        const errno = errnoOf(err)
        if (errno === 'EEXIST') throw this.existsError(name)
        if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK'].includes(errno)) throw ioError(path, 'write', err)
        // No hard links on this file system: check, then rename (a narrow race with another writer).
        if (existsSync(path)) throw this.existsError(name)
        try {
          renameSync(tmp, path)
        } catch (renameErr) {
          throw ioError(path, 'write', renameErr)
        }
      }
    } finally {
      try { unlinkSync(tmp) } catch { /* already renamed or never created */ }
    }
    fsyncDir(this.dir)
  }
}

function fsyncDir (dir: string): void {
  let fd: number | undefined
  try {
    fd = openSync(dir, 'r')
    fsyncSync(fd)
  } catch {
    // Not supported on every platform (Windows); the file itself is already fsynced.
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** Reads a key file: exists, is a regular file of sane size, and (POSIX) only its owner may access it. */
function readKeyFileText (path: string, name: string): string {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') {
      throw new KeystoreError({ code: 'KEYSTORE_NOT_FOUND', name },
        `There is no key named "${name}" in ${resolve(path, '..')}; see \`medchain keys list\`, or create it with \`medchain keys new ${name}\`.`)
    }
    throw ioError(path, 'read', err)
  }
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile()) throw corrupt(path, 'it is not a regular file')
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw new KeystoreError({ code: 'KEYSTORE_INSECURE_PERMISSIONS', path, mode: stat.mode & 0o777 },
        `The key file ${path} can be accessed by other users (mode ${(stat.mode & 0o777).toString(8).padStart(3, '0')}); run \`chmod 600 ${path}\` and retry.`)
    }
    if (stat.size > MAX_FILE_SIZE) throw corrupt(path, `it is ${stat.size} bytes, far more than a key file`)
    const buf = Buffer.alloc(MAX_FILE_SIZE + 1)
    let len = 0
    try {
      for (;;) {
        const n = readSync(fd, buf, len, buf.length - len, null)
        if (n === 0) break
        len += n
        if (len > MAX_FILE_SIZE) throw corrupt(path, 'it is far larger than a key file')
      }
    } catch (err) {
      if (err instanceof KeystoreError) throw err
      throw ioError(path, 'read', err)
    }
    return buf.subarray(0, len).toString('utf8')
  } finally {
    closeSync(fd)
  }
}
