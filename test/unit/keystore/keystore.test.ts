/**
 * The encrypted keystore (src/keystore/): round trips, the documented file format, a
 * malleate table of tampered files, permissions, names, and no-overwrite. Cheap scrypt parameters
 * (n = 16) keep it fast; one test checks the production default.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCipheriv, createDecipheriv, scryptSync } from 'node:crypto'
import { KeystoreError, type KeystoreErrorType } from '../../../src/keystore/errors.js'
import type { KeyFile } from '../../../src/keystore/format.js'
import { DEFAULT_SCRYPT, keyFileAad } from '../../../src/keystore/encryption.js'
import { Keystore } from '../../../src/keystore/store.js'
import { generateKeyPair, verify, KeyError } from '../../../src/crypto/ed25519.js'
import { fromHex, toHex, utf8 } from '../../../src/crypto/bytes.js'

const CHEAP = { n: 16, r: 8, p: 1 }
const PASSPHRASE = 'correct horse battery staple'
const RFC8032_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'
const RFC8032_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'
const RFC8032_SIG_EMPTY = 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'
const POSIX = process.platform !== 'win32'

let root: string
let counter = 0
function freshDir (): string {
  return join(root, `ks-${counter++}`)
}

function assertCode (fn: () => unknown, code: KeystoreErrorType['code']): KeystoreError {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  assert.ok(caught instanceof KeystoreError, `expected KeystoreError ${code}, got ${String(caught)}`)
  assert.equal(caught.code, code, caught.message)
  return caught
}

/** Writes `text` as `<fresh dir>/<name>.json` with mode 0600 and returns a keystore on that dir. */
function keystoreWithFile (name: string, text: string): Keystore {
  const dir = freshDir()
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, `${name}.json`)
  writeFileSync(path, text, { mode: 0o600 })
  if (POSIX) chmodSync(path, 0o600)
  return new Keystore(dir, { scrypt: CHEAP })
}

/** Flips the low bit of the first byte of a hex string. */
function flipFirstByte (hex: string): string {
  const first = parseInt(hex.slice(0, 2), 16) ^ 0x01
  return first.toString(16).padStart(2, '0') + hex.slice(2)
}

before(() => { root = mkdtempSync(join(tmpdir(), 'medchain-keystore-')) })
after(() => { rmSync(root, { recursive: true, force: true }) })

describe('Keystore round trip', () => {
  it('create -> unlock gives a signer whose signatures THE verify accepts', () => {
    const ks = new Keystore(freshDir(), { scrypt: CHEAP })
    const created = ks.create('alice', PASSPHRASE)
    assert.equal(created.name, 'alice')
    assert.match(created.publicKey, /^[0-9a-f]{64}$/)
    const signer = ks.unlock('alice', PASSPHRASE)
    assert.equal(toHex(signer.publicKey), created.publicKey)
    const message = utf8('anchor record 42')
    const signature = signer.sign(message)
    assert.equal(verify(signer.publicKey, message, signature), true)
    assert.equal(verify(signer.publicKey, utf8('anchor record 43'), signature), false)
  })

  it('two keys get different secrets, salts and ivs', () => {
    const ks = new Keystore(freshDir(), { scrypt: CHEAP })
    const a = ks.create('a', PASSPHRASE)
    const b = ks.create('b', PASSPHRASE)
    assert.notEqual(a.publicKey, b.publicKey)
    const fa = ks.loadFile('a')
    const fb = ks.loadFile('b')
    assert.notEqual(fa.crypto.kdfparams.salt, fb.crypto.kdfparams.salt)
    assert.notEqual(fa.crypto.iv, fb.crypto.iv)
  })

  it('import of the RFC 8032 test 1 seed gives its public key and its signature', () => {
    const ks = new Keystore(freshDir(), { scrypt: CHEAP })
    const imported = ks.import('rfc', fromHex(RFC8032_SEED), PASSPHRASE)
    assert.equal(imported.publicKey, RFC8032_PUBLIC)
    assert.equal(ks.show('rfc').publicKey, RFC8032_PUBLIC)
    const signer = ks.unlock('rfc', PASSPHRASE)
    assert.equal(toHex(signer.publicKey), RFC8032_PUBLIC)
    assert.equal(toHex(signer.sign(new Uint8Array(0))), RFC8032_SIG_EMPTY)
  })

  it('import refuses a secret key that is not 32 bytes', () => {
    const ks = new Keystore(freshDir(), { scrypt: CHEAP })
    assert.throws(() => ks.import('short', new Uint8Array(31), PASSPHRASE), (err: unknown) => err instanceof KeyError && err.code === 'KEY_BAD_LENGTH')
    assert.equal(ks.has('short'), false)
  })

  it('a wrong passphrase is KEYSTORE_BAD_PASSPHRASE', () => {
    const ks = new Keystore(freshDir(), { scrypt: CHEAP })
    ks.create('alice', PASSPHRASE)
    assertCode(() => ks.unlock('alice', PASSPHRASE + '!'), 'KEYSTORE_BAD_PASSPHRASE')
    assertCode(() => ks.unlock('alice', ''), 'KEYSTORE_BAD_PASSPHRASE')
  })

  it('passphrases are compared after NFKC normalisation (composed and decomposed é unlock alike)', () => {
    const ks = new Keystore(freshDir(), { scrypt: CHEAP })
    ks.create('accent', 'caf\u00e9 au lait')
    assert.doesNotThrow(() => ks.unlock('accent', 'cafe\u0301 au lait'))
  })

  it('an empty passphrase is refused for new and imported keys', () => {
    const ks = new Keystore(freshDir(), { scrypt: CHEAP })
    assertCode(() => ks.create('alice', ''), 'KEYSTORE_EMPTY_PASSPHRASE')
    assertCode(() => ks.import('alice', fromHex(RFC8032_SEED), ''), 'KEYSTORE_EMPTY_PASSPHRASE')
    assert.equal(ks.has('alice'), false)
  })

  it('an unknown key is KEYSTORE_NOT_FOUND for show and unlock', () => {
    const ks = new Keystore(freshDir(), { scrypt: CHEAP })
    assertCode(() => ks.show('nobody'), 'KEYSTORE_NOT_FOUND')
    assertCode(() => ks.unlock('nobody', PASSPHRASE), 'KEYSTORE_NOT_FOUND')
  })

  it('production defaults are scrypt n = 2^15, r = 8, p = 1 and are what a default Keystore writes', () => {
    assert.deepEqual({ ...DEFAULT_SCRYPT }, { n: 32768, r: 8, p: 1 })
    const ks = new Keystore(freshDir())
    ks.create('prod', PASSPHRASE)
    const { kdfparams } = ks.loadFile('prod').crypto
    assert.deepEqual([kdfparams.n, kdfparams.r, kdfparams.p, kdfparams.dklen], [32768, 8, 1, 32])
    assert.doesNotThrow(() => ks.unlock('prod', PASSPHRASE))
  })

  it('refuses absurd scrypt options at construction', () => {
    for (const scrypt of [{ n: 24, r: 8, p: 1 }, { n: 2 ** 21, r: 8, p: 1 }, { n: 1, r: 8, p: 1 }, { n: 16, r: 0, p: 1 }, { n: 16, r: 8, p: 0 }]) {
      assert.throws(() => new Keystore(freshDir(), { scrypt }), RangeError, JSON.stringify(scrypt))
    }
  })
})

describe('the file format (as documented in the module comment)', () => {
  it('has exactly the documented fields, and decrypts with plain node:crypto scrypt + AES-256-GCM + keyFileAad', () => {
    const ks = new Keystore(freshDir(), { scrypt: CHEAP, now: () => new Date('2026-11-22T03:00:00.000Z') })
    ks.import('rfc', fromHex(RFC8032_SEED), PASSPHRASE)
    const json = JSON.parse(readFileSync(ks.pathOf('rfc'), 'utf8')) as KeyFile
    assert.deepEqual(Object.keys(json).sort(), ['createdAt', 'crypto', 'name', 'publicKey', 'version'])
    assert.deepEqual(Object.keys(json.crypto).sort(), ['cipher', 'ciphertext', 'iv', 'kdf', 'kdfparams', 'tag'])
    assert.equal(json.version, 1)
    assert.equal(json.name, 'rfc')
    assert.equal(json.publicKey, RFC8032_PUBLIC)
    assert.equal(json.createdAt, '2026-11-22T03:00:00.000Z')
    assert.equal(json.crypto.kdf, 'scrypt')
    assert.equal(json.crypto.cipher, 'aes-256-gcm')
    assert.deepEqual({ ...json.crypto.kdfparams, salt: undefined }, { n: 16, r: 8, p: 1, dklen: 32, salt: undefined })
    assert.match(json.crypto.kdfparams.salt, /^[0-9a-f]{64}$/)
    assert.match(json.crypto.iv, /^[0-9a-f]{24}$/)
    assert.match(json.crypto.ciphertext, /^[0-9a-f]{64}$/)
    assert.match(json.crypto.tag, /^[0-9a-f]{32}$/)
    assert.deepEqual(JSON.parse(new TextDecoder().decode(keyFileAad(json))),
      ['medchain/keystore/v1', 1, 'rfc', RFC8032_PUBLIC, '2026-11-22T03:00:00.000Z', 'scrypt', 16, 8, 1, 32, json.crypto.kdfparams.salt, 'aes-256-gcm'])

    const key = scryptSync(PASSPHRASE, Buffer.from(json.crypto.kdfparams.salt, 'hex'), 32, { N: 16, r: 8, p: 1 })
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(json.crypto.iv, 'hex'), { authTagLength: 16 })
    decipher.setAAD(keyFileAad(json))
    decipher.setAuthTag(Buffer.from(json.crypto.tag, 'hex'))
    const seed = Buffer.concat([decipher.update(Buffer.from(json.crypto.ciphertext, 'hex')), decipher.final()])
    assert.equal(seed.toString('hex'), RFC8032_SEED)
  })
})

describe('tampered key files (malleate table: one change, one code)', () => {
  let valid: KeyFile
  let otherPublicKey: string

  before(() => {
    const ks = new Keystore(freshDir(), { scrypt: CHEAP })
    ks.create('alice', PASSPHRASE)
    valid = JSON.parse(readFileSync(ks.pathOf('alice'), 'utf8')) as KeyFile
    otherPublicKey = toHex(generateKeyPair().publicKey)
  })

  type Mutation = (f: KeyFile & Record<string, unknown>) => unknown
  const cases: Array<{ what: string, mutate?: Mutation, text?: () => string, code: KeystoreErrorType['code'] }> = [
    // Authenticated fields: GCM cannot tell a changed file from a wrong passphrase.
    { what: 'publicKey swapped for another valid key', mutate: (f) => { f.publicKey = otherPublicKey }, code: 'KEYSTORE_BAD_PASSPHRASE' },
    { what: 'kdfparams.n lowered', mutate: (f) => { f.crypto.kdfparams.n = 8 }, code: 'KEYSTORE_BAD_PASSPHRASE' },
    { what: 'kdfparams.r lowered', mutate: (f) => { f.crypto.kdfparams.r = 1 }, code: 'KEYSTORE_BAD_PASSPHRASE' },
    { what: 'salt changed one byte', mutate: (f) => { f.crypto.kdfparams.salt = flipFirstByte(f.crypto.kdfparams.salt) }, code: 'KEYSTORE_BAD_PASSPHRASE' },
    { what: 'iv changed one byte', mutate: (f) => { f.crypto.iv = flipFirstByte(f.crypto.iv) }, code: 'KEYSTORE_BAD_PASSPHRASE' },
    { what: 'ciphertext changed one byte', mutate: (f) => { f.crypto.ciphertext = flipFirstByte(f.crypto.ciphertext) }, code: 'KEYSTORE_BAD_PASSPHRASE' },
    { what: 'tag changed one byte', mutate: (f) => { f.crypto.tag = flipFirstByte(f.crypto.tag) }, code: 'KEYSTORE_BAD_PASSPHRASE' },
    { what: 'createdAt changed', mutate: (f) => { f.createdAt = '2000-01-01T00:00:00.000Z' }, code: 'KEYSTORE_BAD_PASSPHRASE' },
    // Structure: refused before any KDF work.
    { what: 'version 2', mutate: (f) => { (f as Record<string, unknown>).version = 2 }, code: 'KEYSTORE_CORRUPT' },
    { what: 'version as a string', mutate: (f) => { (f as Record<string, unknown>).version = '1' }, code: 'KEYSTORE_CORRUPT' },
    { what: 'cipher aes-128-cbc', mutate: (f) => { (f.crypto as Record<string, unknown>).cipher = 'aes-128-cbc' }, code: 'KEYSTORE_CORRUPT' },
    { what: 'kdf pbkdf2', mutate: (f) => { (f.crypto as Record<string, unknown>).kdf = 'pbkdf2' }, code: 'KEYSTORE_CORRUPT' },
    { what: 'truncated JSON', text: () => JSON.stringify(valid).slice(0, 100), code: 'KEYSTORE_CORRUPT' },
    { what: 'not JSON at all', text: () => 'hello', code: 'KEYSTORE_CORRUPT' },
    { what: 'a JSON array', text: () => '[]', code: 'KEYSTORE_CORRUPT' },
    { what: 'JSON null', text: () => 'null', code: 'KEYSTORE_CORRUPT' },
    { what: 'empty file', text: () => '', code: 'KEYSTORE_CORRUPT' },
    { what: 'larger than 64 KiB', text: () => JSON.stringify({ ...valid, padding: 'x'.repeat(70_000) }), code: 'KEYSTORE_CORRUPT' },
    ...(['version', 'name', 'publicKey', 'createdAt', 'crypto'] as const).map((key) => ({
      what: `missing ${key}`, mutate: ((f) => { delete (f as Record<string, unknown>)[key] }) as Mutation, code: 'KEYSTORE_CORRUPT' as const
    })),
    ...(['kdf', 'kdfparams', 'cipher', 'iv', 'ciphertext', 'tag'] as const).map((key) => ({
      what: `missing crypto.${key}`, mutate: ((f) => { delete (f.crypto as Record<string, unknown>)[key] }) as Mutation, code: 'KEYSTORE_CORRUPT' as const
    })),
    ...(['n', 'r', 'p', 'dklen', 'salt'] as const).map((key) => ({
      what: `missing crypto.kdfparams.${key}`, mutate: ((f) => { delete (f.crypto.kdfparams as Record<string, unknown>)[key] }) as Mutation, code: 'KEYSTORE_CORRUPT' as const
    })),
    { what: 'crypto is a string', mutate: (f) => { (f as Record<string, unknown>).crypto = 'x' }, code: 'KEYSTORE_CORRUPT' },
    { what: 'n not a power of two', mutate: (f) => { f.crypto.kdfparams.n = 24 }, code: 'KEYSTORE_CORRUPT' },
    { what: 'n = 2^21 (absurd)', mutate: (f) => { f.crypto.kdfparams.n = 2 ** 21 }, code: 'KEYSTORE_CORRUPT' },
    { what: 'n as a string', mutate: (f) => { (f.crypto.kdfparams as Record<string, unknown>).n = '16' }, code: 'KEYSTORE_CORRUPT' },
    { what: 'n fractional', mutate: (f) => { f.crypto.kdfparams.n = 16.5 }, code: 'KEYSTORE_CORRUPT' },
    { what: 'r = 0', mutate: (f) => { f.crypto.kdfparams.r = 0 }, code: 'KEYSTORE_CORRUPT' },
    { what: 'p = 1000', mutate: (f) => { f.crypto.kdfparams.p = 1000 }, code: 'KEYSTORE_CORRUPT' },
    { what: '2 GiB of memory (n = 2^20, r = 16)', mutate: (f) => { f.crypto.kdfparams.n = 2 ** 20; f.crypto.kdfparams.r = 16 }, code: 'KEYSTORE_CORRUPT' },
    { what: 'dklen 16', mutate: (f) => { (f.crypto.kdfparams as Record<string, unknown>).dklen = 16 }, code: 'KEYSTORE_CORRUPT' },
    { what: 'salt 31 bytes', mutate: (f) => { f.crypto.kdfparams.salt = f.crypto.kdfparams.salt.slice(2) }, code: 'KEYSTORE_CORRUPT' },
    { what: 'iv 16 bytes', mutate: (f) => { f.crypto.iv += '00000000' }, code: 'KEYSTORE_CORRUPT' },
    { what: 'tag truncated to 12 bytes', mutate: (f) => { f.crypto.tag = f.crypto.tag.slice(0, 24) }, code: 'KEYSTORE_CORRUPT' },
    { what: 'ciphertext 31 bytes', mutate: (f) => { f.crypto.ciphertext = f.crypto.ciphertext.slice(2) }, code: 'KEYSTORE_CORRUPT' },
    { what: 'ciphertext not hex', mutate: (f) => { f.crypto.ciphertext = 'zz' + f.crypto.ciphertext.slice(2) }, code: 'KEYSTORE_CORRUPT' },
    { what: 'publicKey upper-case hex', mutate: (f) => { f.publicKey = f.publicKey.toUpperCase() }, code: 'KEYSTORE_CORRUPT' },
    { what: 'publicKey 31 bytes', mutate: (f) => { f.publicKey = f.publicKey.slice(2) }, code: 'KEYSTORE_CORRUPT' },
    { what: 'createdAt not a date', mutate: (f) => { f.createdAt = 'yesterday' }, code: 'KEYSTORE_CORRUPT' },
    { what: 'name differs from the file name (another key file copied over)', mutate: (f) => { f.name = 'bob' }, code: 'KEYSTORE_CORRUPT' },
    { what: 'name invalid', mutate: (f) => { f.name = '../alice' }, code: 'KEYSTORE_CORRUPT' }
  ]

  it('control: the untouched file, written the same way, unlocks', () => {
    const ks = keystoreWithFile('alice', JSON.stringify(valid))
    assert.equal(toHex(ks.unlock('alice', PASSPHRASE).publicKey), valid.publicKey)
  })

  for (const c of cases) {
    it(c.what, () => {
      const file = structuredClone(valid) as KeyFile & Record<string, unknown>
      if (c.mutate !== undefined) c.mutate(file)
      const ks = keystoreWithFile('alice', c.text !== undefined ? c.text() : JSON.stringify(file))
      assertCode(() => ks.unlock('alice', PASSPHRASE), c.code)
      if (c.code === 'KEYSTORE_CORRUPT') {
        assertCode(() => ks.show('alice'), 'KEYSTORE_CORRUPT')
        const listing = ks.list()
        assert.deepEqual(listing.keys, [])
        assert.equal(listing.unreadable[0]?.code, 'KEYSTORE_CORRUPT')
      }
    })
  }

  it('a file that authenticates but whose secret is another key\'s is KEYSTORE_KEY_MISMATCH', () => {
    // Re-encrypt alice's file with a different seed, keeping its header (so the AAD is consistent).
    const file = structuredClone(valid)
    const stranger = generateKeyPair()
    const key = scryptSync(PASSPHRASE, Buffer.from(file.crypto.kdfparams.salt, 'hex'), 32, { N: 16, r: 8, p: 1 })
    const cipher = createCipheriv('aes-256-gcm', key, Buffer.from(file.crypto.iv, 'hex'), { authTagLength: 16 })
    cipher.setAAD(keyFileAad(file))
    file.crypto.ciphertext = Buffer.concat([cipher.update(stranger.secretKey), cipher.final()]).toString('hex')
    file.crypto.tag = cipher.getAuthTag().toString('hex')
    const ks = keystoreWithFile('alice', JSON.stringify(file))
    assertCode(() => ks.unlock('alice', PASSPHRASE), 'KEYSTORE_KEY_MISMATCH')
  })
})

describe('permissions', { skip: !POSIX && 'POSIX permissions only' }, () => {
  it('key files are 0600 and created directories 0700, with no temporary file left behind', () => {
    const home = freshDir()
    const dir = join(home, 'keystore')
    const ks = new Keystore(dir, { scrypt: CHEAP })
    ks.create('alice', PASSPHRASE)
    assert.equal(statSync(ks.pathOf('alice')).mode & 0o777, 0o600)
    assert.equal(statSync(dir).mode & 0o777, 0o700)
    assert.equal(statSync(home).mode & 0o777, 0o700)
    assert.deepEqual(readdirSync(dir), ['alice.json'])
  })

  for (const mode of [0o640, 0o604, 0o620, 0o644]) {
    it(`a key file with mode ${mode.toString(8)} is refused with KEYSTORE_INSECURE_PERMISSIONS`, () => {
      const ks = new Keystore(freshDir(), { scrypt: CHEAP })
      ks.create('alice', PASSPHRASE)
      chmodSync(ks.pathOf('alice'), mode)
      const err = assertCode(() => ks.unlock('alice', PASSPHRASE), 'KEYSTORE_INSECURE_PERMISSIONS')
      assert.match(err.message, /chmod 600/)
      assertCode(() => ks.show('alice'), 'KEYSTORE_INSECURE_PERMISSIONS')
      assert.equal(ks.list().unreadable[0]?.code, 'KEYSTORE_INSECURE_PERMISSIONS')
      chmodSync(ks.pathOf('alice'), 0o600)
      assert.doesNotThrow(() => ks.unlock('alice', PASSPHRASE))
    })
  }
})

describe('names and no-overwrite', () => {
  it('a second key with the same name is KEYSTORE_EXISTS and leaves the first file untouched', () => {
    const ks = new Keystore(freshDir(), { scrypt: CHEAP })
    ks.create('alice', PASSPHRASE)
    const before = readFileSync(ks.pathOf('alice'))
    assertCode(() => ks.create('alice', 'other'), 'KEYSTORE_EXISTS')
    assertCode(() => ks.import('alice', fromHex(RFC8032_SEED), 'other'), 'KEYSTORE_EXISTS')
    assertCode(() => ks.validateNewName('alice'), 'KEYSTORE_EXISTS')
    assert.deepEqual(readFileSync(ks.pathOf('alice')), before)
    assert.deepEqual(readdirSync(ks.dir), ['alice.json'])
  })

  const badNames = ['', 'Alice', '-alice', '.alice', '_alice', 'a/b', '../x', 'a\\b', 'a b', 'caf\u00e9', 'a'.repeat(65), 'a\u0000', 'alice\n', 'name.json/']
  for (const name of badNames) {
    it(`name ${JSON.stringify(name.length > 20 ? name.slice(0, 20) + '…' : name)} is KEYSTORE_BAD_NAME`, () => {
      const ks = new Keystore(freshDir(), { scrypt: CHEAP })
      assertCode(() => ks.create(name, PASSPHRASE), 'KEYSTORE_BAD_NAME')
      assertCode(() => ks.show(name), 'KEYSTORE_BAD_NAME')
      assertCode(() => ks.unlock(name, PASSPHRASE), 'KEYSTORE_BAD_NAME')
    })
  }

  it('accepts names at the edges of the pattern', () => {
    const ks = new Keystore(freshDir(), { scrypt: CHEAP })
    for (const name of ['a', '0', 'a'.repeat(64), 'hospital-a.admin_1']) {
      assert.equal(ks.create(name, PASSPHRASE).name, name)
      assert.equal(ks.show(name).name, name)
    }
  })
})

describe('list', () => {
  it('a missing directory lists nothing', () => {
    assert.deepEqual(new Keystore(freshDir()).list(), { keys: [], unreadable: [] })
  })

  it('lists keys by name from their headers, reports unreadable files, ignores other files', () => {
    const ks = new Keystore(freshDir(), { scrypt: CHEAP })
    const bob = ks.create('bob', PASSPHRASE)
    const alice = ks.create('alice', PASSPHRASE)
    writeFileSync(join(ks.dir, 'broken.json'), '{', { mode: 0o600 })
    writeFileSync(join(ks.dir, 'Upper.json'), JSON.stringify({}), { mode: 0o600 })
    writeFileSync(join(ks.dir, '.carol.json.abc.tmp'), 'partial', { mode: 0o600 })
    writeFileSync(join(ks.dir, 'notes.txt'), 'hello', { mode: 0o600 })
    const { keys, unreadable } = ks.list()
    assert.deepEqual(keys, [alice, bob])
    assert.deepEqual(unreadable.map((u) => [u.file, u.code]).sort(), [
      [join(ks.dir, 'Upper.json'), 'KEYSTORE_CORRUPT'],
      [join(ks.dir, 'broken.json'), 'KEYSTORE_CORRUPT']
    ])
  })
})
