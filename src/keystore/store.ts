/**
 * The keystore directory: where key files live on disk, and creating, listing, reading and
 * unlocking them without ever overwriting one or reading one that others may access.
 *
 * One file per key, `<dir>/<name>.json` (format.ts), mode 0600, in a directory created with mode
 * 0700. The file's `name` must equal its file name, so one key file copied over another is refused
 * rather than signing as the wrong identity. On POSIX a key file that group or others may read or
 * write is refused (KEYSTORE_INSECURE_PERMISSIONS). The public header (`list`, `show`) is read
 * without the passphrase and is not authenticated until the key is unlocked.
 *
 * Writes go to a temporary file (mode 0600, fsync), which is then hard-linked to its final name —
 * link fails if the name exists, so an existing key is never overwritten even by a concurrent
 * writer — and the directory is fsynced. On file systems without hard links it falls back to an
 * existence check plus rename.
 */
import {
  closeSync, fchmodSync, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readSync, renameSync,
  unlinkSync, writeSync, existsSync, chmodSync
} from 'node:fs'
import { join, resolve } from 'node:path'
import { randomBytes } from 'node:crypto'
import { SECRET_KEY_LENGTH, type Signer } from '../crypto/ed25519.js'
import { corrupt, KeystoreError, type KeystoreErrorType } from './errors.js'
import { decodeKeyFile, encodeKeyFile, KEY_NAME_PATTERN, scryptParamsProblem, validateKeyName, type KeyFile, type ScryptParams } from './format.js'
import { DEFAULT_SCRYPT, decryptKeyFile, decryptKeyFileSecret, encryptKeyFile } from './encryption.js'

/** Key files are a few hundred bytes; anything much larger is not one of ours. */
const MAX_FILE_SIZE = 64 * 1024

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

export interface KeystoreOptions {
  /** scrypt cost for keys this instance creates or imports. Default `DEFAULT_SCRYPT`; cheaper only in tests. */
  scrypt?: ScryptParams
  /** Clock for `createdAt`. Default `() => new Date()`. */
  now?: () => Date
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
    this.writeNew(path, encodeKeyFile(file), name)
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
