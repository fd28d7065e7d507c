/**
 * `medchain keys …` as a user runs it: a real process (test/utils/cli.ts: the compiled CLI under `npm test`) with
 * a temporary --home, stdin closed (no terminal), the passphrase from the environment or a file.
 * Checks stdout (one JSON document with --json), stderr (one sentence, no stack), exit codes
 * (0 ok, 1 failed, 2 usage) and help. The terminal prompt is exercised in-process on a fake TTY.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { errorCode, oneJson, runCli, type CliRun } from '../utils/cli.js'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { Keystore } from '../../src/keystore/store.js'
import { hasErrorCode } from '../../src/util/errors.js'
import { toHex } from '../../src/crypto/bytes.js'
import { createProgram, runProgram } from '../../src/cli/program.js'
import { addKeysCommands } from '../../src/cli/keys.js'
import { readNewPassphrase, readPassphrase } from '../../src/cli/passphrase.js'
import type { CliIo } from '../../src/cli/output.js'

const PASSPHRASE = 'e2e passphrase'
const RFC8032_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'
const RFC8032_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'
const POSIX = process.platform !== 'win32'

type Run = CliRun

/** Runs the CLI with stdin closed; `env` adds to (or, with undefined, removes from) a clean environment. */
async function medchain (args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return await runCli(args, env)
}

/** A failure: exit 1, one `error: …` line on stderr, never a stack trace. */
function assertFailedCleanly (run: Run): void {
  assert.equal(run.code, 1, run.stderr)
  assert.match(run.stderr, /^error: .+\n$/)
  assert.doesNotMatch(run.stderr, /\n\s+at /)
}

let root: string
let home: string

before(() => {
  root = mkdtempSync(join(tmpdir(), 'medchain-cli-'))
  home = join(root, 'home')
})
after(() => { rmSync(root, { recursive: true, force: true }) })

describe('medchain keys (real process, no terminal)', () => {
  let alicePublicKey = ''

  it('keys new alice --json prints one JSON document with the name and a 64-hex public key', async () => {
    const run = await medchain(['--home', home, 'keys', 'new', 'alice', '--json'], { MEDCHAIN_PASSPHRASE: PASSPHRASE })
    assert.equal(run.code, 0, run.stderr)
    const doc = oneJson(run)
    assert.equal(doc.name, 'alice')
    assert.match(String(doc.publicKey), /^[0-9a-f]{64}$/)
    assert.equal(doc.file, join(home, 'keystore', 'alice.json'))
    alicePublicKey = String(doc.publicKey)
    // the key was encrypted with the passphrase from the environment
    const signer = new Keystore(join(home, 'keystore')).unlock('alice', PASSPHRASE)
    assert.equal(toHex(signer.publicKey), alicePublicKey)
  })

  it('keys list --json lists it', async () => {
    const run = await medchain(['keys', 'list', '--json', '--home', home])
    assert.equal(run.code, 0, run.stderr)
    const doc = oneJson(run) as { keys: Array<{ name: string, publicKey: string }>, unreadable: unknown[] }
    assert.deepEqual(doc.keys.map((k) => [k.name, k.publicKey]), [['alice', alicePublicKey]])
    assert.deepEqual(doc.unreadable, [])
  })

  it('keys show alice prints the key for a person', async () => {
    const run = await medchain(['--home', home, 'keys', 'show', 'alice'])
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, new RegExp(`public key: +${alicePublicKey}\n`))
    assert.match(run.stdout, /name: +alice\n/)
  })

  it('MEDCHAIN_HOME is the home when --home is absent', async () => {
    const run = await medchain(['keys', 'show', 'alice', '--json'], { MEDCHAIN_HOME: home })
    assert.equal(run.code, 0, run.stderr)
    assert.equal(oneJson(run).publicKey, alicePublicKey)
  })

  it('keys new alice again fails with exit 1 and KEYSTORE_EXISTS, before asking for a passphrase', async () => {
    // no passphrase source at all: the name check must come first
    const run = await medchain(['--home', home, '--json', 'keys', 'new', 'alice'])
    assertFailedCleanly(run)
    assert.equal(errorCode(run), 'KEYSTORE_EXISTS')
    assert.equal(new Keystore(join(home, 'keystore')).show('alice').publicKey, alicePublicKey)
  })

  it('with no passphrase source and no terminal: exit 1, naming MEDCHAIN_PASSPHRASE and --passphrase-file', async () => {
    const run = await medchain(['--home', home, 'keys', 'new', 'bob'])
    assertFailedCleanly(run)
    assert.match(run.stderr, /MEDCHAIN_PASSPHRASE/)
    assert.match(run.stderr, /--passphrase-file/)
    assert.equal(run.stdout, '')
    const json = await medchain(['--home', home, 'keys', 'new', 'bob', '--json'])
    assert.equal(errorCode(json), 'CLI_NO_PASSPHRASE')
    assert.equal(existsSync(join(home, 'keystore', 'bob.json')), false)
  })

  it('an empty MEDCHAIN_PASSPHRASE is refused for a new key', async () => {
    const run = await medchain(['--home', home, 'keys', 'new', 'bob', '--json'], { MEDCHAIN_PASSPHRASE: '' })
    assertFailedCleanly(run)
    assert.equal(errorCode(run), 'CLI_EMPTY_PASSPHRASE')
  })

  it('--passphrase-file uses the first line of the file and beats MEDCHAIN_PASSPHRASE', async () => {
    const file = join(root, 'pass.txt')
    writeFileSync(file, 'from the file\r\nsecond line\n', { mode: 0o600 })
    const run = await medchain(['--home', home, 'keys', 'new', 'carol', '--passphrase-file', file, '--json'], { MEDCHAIN_PASSPHRASE: 'from env' })
    assert.equal(run.code, 0, run.stderr)
    assert.doesNotThrow(() => new Keystore(join(home, 'keystore')).unlock('carol', 'from the file'))
    const missing = await medchain(['--home', home, 'keys', 'new', 'dave', '--passphrase-file', join(root, 'nope.txt'), '--json'])
    assertFailedCleanly(missing)
    assert.equal(errorCode(missing), 'CLI_FILE_UNREADABLE')
  })

  it('keys import of the RFC 8032 seed gives its public key; a bad secret file fails with CLI_BAD_SECRET_FILE', async () => {
    const seedFile = join(root, 'rfc.seed')
    writeFileSync(seedFile, RFC8032_SEED + '\n', { mode: 0o600 })
    const run = await medchain(['--home', home, 'keys', 'import', 'rfc', '--secret-file', seedFile, '--json'], { MEDCHAIN_PASSPHRASE: PASSPHRASE })
    assert.equal(run.code, 0, run.stderr)
    assert.equal(oneJson(run).publicKey, RFC8032_PUBLIC)
    assert.match(run.stderr, /plain text/)

    const badFile = join(root, 'bad.seed')
    writeFileSync(badFile, RFC8032_SEED.slice(2), { mode: 0o600 })
    const bad = await medchain(['--home', home, 'keys', 'import', 'rfc2', '--secret-file', badFile, '--json'], { MEDCHAIN_PASSPHRASE: PASSPHRASE })
    assertFailedCleanly(bad)
    assert.equal(errorCode(bad), 'CLI_BAD_SECRET_FILE')
    assert.equal(existsSync(join(home, 'keystore', 'rfc2.json')), false)
  })

  it('keys show of an unknown key or a bad name fails with KEYSTORE_NOT_FOUND / KEYSTORE_BAD_NAME', async () => {
    const missing = await medchain(['--home', home, 'keys', 'show', 'nobody', '--json'])
    assertFailedCleanly(missing)
    assert.equal(errorCode(missing), 'KEYSTORE_NOT_FOUND')
    const badName = await medchain(['--home', home, 'keys', 'show', '../alice', '--json'])
    assertFailedCleanly(badName)
    assert.equal(errorCode(badName), 'KEYSTORE_BAD_NAME')
  })

  it('a key file others can read is refused, saying to chmod 600', { skip: !POSIX && 'POSIX permissions only' }, async () => {
    const file = join(home, 'keystore', 'carol.json')
    chmodSync(file, 0o644)
    try {
      const run = await medchain(['--home', home, 'keys', 'show', 'carol'])
      assertFailedCleanly(run)
      assert.match(run.stderr, /chmod 600/)
      const list = await medchain(['--home', home, 'keys', 'list', '--json'])
      assert.equal(list.code, 0, list.stderr)
      const doc = oneJson(list) as { keys: Array<{ name: string }>, unreadable: Array<{ code: string }> }
      assert.equal(doc.keys.some((k) => k.name === 'carol'), false)
      assert.deepEqual(doc.unreadable.map((u) => u.code), ['KEYSTORE_INSECURE_PERMISSIONS'])
    } finally {
      chmodSync(file, 0o600)
    }
  })

  it('bad usage exits 2: unknown command, unknown option, missing argument, missing --secret-file, extra argument', async () => {
    const runs = await Promise.all([
      medchain(['--home', home, 'frobnicate']),
      medchain(['--home', home, 'keys', 'list', '--bogus']),
      medchain(['--home', home, 'keys', 'show']),
      medchain(['--home', home, 'keys', 'import', 'x'], { MEDCHAIN_PASSPHRASE: PASSPHRASE }),
      medchain(['--home', home, 'keys', 'list', 'extra']),
      medchain(['--home', home, 'keys'])
    ])
    for (const run of runs) {
      assert.equal(run.code, 2, run.stderr)
      assert.doesNotMatch(run.stderr, /\n\s+at /)
    }
    assert.match(runs[0]?.stderr ?? '', /unknown command 'frobnicate'/)
    const json = await medchain(['--home', home, 'frobnicate', '--json'])
    assert.equal(json.code, 2)
    assert.equal(errorCode(json), 'CLI_USAGE')
  })

  it('--help of every command exits 0 with an example; the top level names the commands still to come', async () => {
    const commands = [[], ['keys'], ['keys', 'new'], ['keys', 'list'], ['keys', 'show'], ['keys', 'import']]
    const runs = await Promise.all(commands.map(async (c) => await medchain([...c, '--help'])))
    runs.forEach((run, i) => {
      assert.equal(run.code, 0, `${commands[i]?.join(' ')}: ${run.stderr}`)
      assert.match(run.stdout, /Example/, `medchain ${commands[i]?.join(' ')} --help`)
    })
    const top = runs[0]?.stdout ?? ''
    assert.match(top, /keys/)
    for (const future of ['init', 'testnet', 'start', 'devnet', 'tx', 'query']) assert.match(top, new RegExp(`\\b${future}\\b`))
  })
})

// ---------------------------------------------------------------------------------------------
// The terminal prompt, in-process on a fake TTY
// ---------------------------------------------------------------------------------------------

interface FakeTerminal { io: CliIo, stdout: () => string, stderr: () => string, rawNow: () => boolean }

/** A fake terminal that "types" the next answer each time a prompt (text ending in ': ') appears on stderr. */
function fakeTerminal (answers: string[], env: NodeJS.ProcessEnv = {}, tty = true): FakeTerminal {
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean, isRaw?: boolean, setRawMode?: (mode: boolean) => unknown }
  stdin.isRaw = false
  if (tty) {
    stdin.isTTY = true
    stdin.setRawMode = (mode: boolean) => { stdin.isRaw = mode; return stdin }
  }
  let out = ''
  let err = ''
  const stdout = new PassThrough()
  stdout.on('data', (d: Buffer) => { out += d.toString() })
  const stderr = new PassThrough()
  stderr.on('data', (d: Buffer) => {
    err += d.toString()
    if (err.endsWith(': ') && answers.length > 0) {
      const answer = answers.shift() as string
      setImmediate(() => stdin.write(answer))
    }
  })
  const io: CliIo = { stdin, stdout, stderr, env, homedir: () => join(root, 'fake-home') }
  return { io, stdout: () => out, stderr: () => err, rawNow: () => stdin.isRaw === true }
}

async function rejectsWith (promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => hasErrorCode(err, code))
}

describe('passphrase sources and the terminal prompt (fake TTY)', () => {
  it('a new passphrase is asked twice, not echoed, and raw mode is restored', async () => {
    const term = fakeTerminal(['s3cret!\r', 's3cret!\r'])
    assert.equal(await readNewPassphrase(term.io, {}, 'alice'), 's3cret!')
    assert.match(term.stderr(), /Passphrase for new key "alice": \nRepeat the passphrase: \n$/)
    assert.doesNotMatch(term.stderr(), /s3cret/)
    assert.equal(term.rawNow(), false)
  })

  it('backspace edits and escape sequences (arrow keys) are ignored', async () => {
    const term = fakeTerminal(['abx\u007fc\u001b[Dd\r', 'abcd\n'])
    assert.equal(await readNewPassphrase(term.io, {}, 'alice'), 'abcd')
  })

  it('two different entries are CLI_PASSPHRASE_MISMATCH; an empty one CLI_EMPTY_PASSPHRASE; Ctrl-C CLI_CANCELLED', async () => {
    await rejectsWith(readNewPassphrase(fakeTerminal(['one\r', 'two\r']).io, {}, 'alice'), 'CLI_PASSPHRASE_MISMATCH')
    await rejectsWith(readNewPassphrase(fakeTerminal(['\r']).io, {}, 'alice'), 'CLI_EMPTY_PASSPHRASE')
    const cancelled = fakeTerminal(['abc\u0003'])
    await rejectsWith(readNewPassphrase(cancelled.io, {}, 'alice'), 'CLI_CANCELLED')
    assert.equal(cancelled.rawNow(), false)
  })

  it('a terminal that closes at the prompt is CLI_CANCELLED, not a hang', async () => {
    const term = fakeTerminal([])
    const pending = readPassphrase(term.io, {}, 'alice')
    ;(term.io.stdin as PassThrough).end()
    await rejectsWith(pending, 'CLI_CANCELLED')
    assert.equal(term.rawNow(), false)
  })

  it('an existing key\'s passphrase is asked once', async () => {
    const term = fakeTerminal(['pw\r'])
    assert.equal(await readPassphrase(term.io, {}, 'alice'), 'pw')
    assert.doesNotMatch(term.stderr(), /Repeat/)
  })

  it('MEDCHAIN_PASSPHRASE beats the prompt; without a TTY and without sources it is CLI_NO_PASSPHRASE', async () => {
    const term = fakeTerminal(['typed\r', 'typed\r'], { MEDCHAIN_PASSPHRASE: 'from env' })
    assert.equal(await readNewPassphrase(term.io, {}, 'alice'), 'from env')
    assert.equal(term.stderr(), '')
    await rejectsWith(readNewPassphrase(fakeTerminal([], {}, false).io, {}, 'alice'), 'CLI_NO_PASSPHRASE')
  })

  it('the whole program creates a key through the prompt', async () => {
    const term = fakeTerminal(['typed pw\r', 'typed pw\r'])
    const program = createProgram(term.io)
    addKeysCommands(program, term.io)
    const homeDir = join(root, 'prompt-home')
    const code = await runProgram(program, ['node', 'medchain', '--home', homeDir, 'keys', 'new', 'erin', '--json'], term.io)
    assert.equal(code, 0, term.stderr())
    const doc = JSON.parse(term.stdout()) as { name: string, publicKey: string }
    assert.equal(doc.name, 'erin')
    assert.equal(toHex(new Keystore(join(homeDir, 'keystore')).unlock('erin', 'typed pw').publicKey), doc.publicKey)
  })
})
