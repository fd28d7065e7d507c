/**
 * `medchain keys new|list|show|import`: the encrypted keystore in `<home>/keystore`
 * (src/keystore). Each command is a function that returns a CommandResult; the
 * commander wiring at the bottom only parses and prints.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import type { Command } from 'commander'
import { Keystore, type KeyInfo } from '../keystore/store.js'
import { fromHex } from '../crypto/bytes.js'
import { CliError } from './errors.js'
import { formatTable, printNote, printResult, type CliIo, type CommandResult } from './output.js'
import { readNewPassphrase, type PassphraseOptions } from './passphrase.js'
import { globalOptions, keystoreDir } from './options.js'

/** A secret file holds 64 hex characters and maybe a newline; anything past 1 KiB is not one. */
const MAX_SECRET_FILE_READ = 1024

function keyJson (key: KeyInfo): Record<string, string> {
  return { name: key.name, publicKey: key.publicKey, createdAt: key.createdAt, file: key.file }
}

function keyText (key: KeyInfo): string {
  return formatTable([
    ['name:', key.name],
    ['public key:', key.publicKey],
    ['created:', key.createdAt],
    ['file:', key.file]
  ])
}

/** `keys new <name>`: generates a key and saves it encrypted. Fails before asking for a passphrase if the name is taken. */
export async function newKey (keystore: Keystore, io: CliIo, name: string, opts: PassphraseOptions): Promise<CommandResult> {
  keystore.validateNewName(name)
  const passphrase = await readNewPassphrase(io, opts, name)
  const key = keystore.create(name, passphrase)
  return {
    json: keyJson(key),
    text: `Created key "${key.name}".\n${keyText(key)}\n` +
      'Back up the file and remember the passphrase: without both, the key cannot be recovered.'
  }
}

/** `keys list`: every key's public part; unreadable files are reported (stderr, and in the JSON) but do not fail the command. */
export function listKeys (keystore: Keystore, io: CliIo): CommandResult {
  const { keys, unreadable } = keystore.list()
  for (const problem of unreadable) printNote(io, `warning: skipped ${problem.file}: ${problem.message}`)
  const text = keys.length === 0
    ? `No keys in ${keystore.dir}; create one with \`medchain keys new <name>\`.`
    : formatTable([['NAME', 'PUBLIC KEY', 'CREATED'], ...keys.map((k) => [k.name, k.publicKey, k.createdAt])])
  return { json: { keys: keys.map(keyJson), unreadable }, text }
}

/** `keys show <name>`: one key's public part, read without the passphrase. */
export function showKey (keystore: Keystore, name: string): CommandResult {
  const key = keystore.show(name)
  return { json: keyJson(key), text: keyText(key) }
}

/** `keys import <name> --secret-file <file>`: encrypts an existing ed25519 seed (64 hex characters). */
export async function importKey (
  keystore: Keystore, io: CliIo, name: string, opts: PassphraseOptions & { secretFile: string }
): Promise<CommandResult> {
  keystore.validateNewName(name)
  const secretKey = readSecretFile(opts.secretFile)
  try {
    const passphrase = await readNewPassphrase(io, opts, name)
    const key = keystore.import(name, secretKey, passphrase)
    printNote(io, `note: ${opts.secretFile} still holds the secret key in plain text; delete it once the key file is backed up.`)
    return { json: keyJson(key), text: `Imported key "${key.name}".\n${keyText(key)}` }
  } finally {
    secretKey.fill(0)
  }
}

/** Reads a 32-byte ed25519 seed written as 64 hex characters (surrounding whitespace allowed). */
export function readSecretFile (path: string): Uint8Array {
  let text: string
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    const buf = Buffer.alloc(MAX_SECRET_FILE_READ + 1)
    let len = 0
    for (;;) {
      const n = readSync(fd, buf, len, buf.length - len, null)
      if (n === 0) break
      len += n
      if (len === buf.length) break
    }
    text = len > MAX_SECRET_FILE_READ ? '' : buf.subarray(0, len).toString('utf8').trim()
    buf.fill(0)
  } catch (err) {
    const errno = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : 'UNKNOWN'
    throw new CliError({ code: 'CLI_FILE_UNREADABLE', path, errno }, `Could not read the secret file ${path} (${errno}); check the path and its permissions.`)
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
  if (!/^[0-9a-fA-F]{64}$/.test(text)) {
    throw new CliError({ code: 'CLI_BAD_SECRET_FILE', path, reason: 'not 64 hex characters' },
      `The secret file ${path} must hold the 32-byte ed25519 secret key (seed) as 64 hex characters and nothing else.`)
  }
  return fromHex(text)
}

// ---------------------------------------------------------------------------------------------
// commander wiring
// ---------------------------------------------------------------------------------------------

const PASSPHRASE_FILE_HELP = 'read the passphrase from the first line of <file> (else $MEDCHAIN_PASSPHRASE, else a prompt)'

function keystoreOf (cmd: Command, io: CliIo): { keystore: Keystore, json: boolean } {
  const globals = globalOptions(cmd, io)
  return { keystore: new Keystore(keystoreDir(globals.home)), json: globals.json }
}

export function addKeysCommands (program: Command, io: CliIo): void {
  const keys = program.command('keys')
    .description('create, list, show and import encrypted signing keys (in <home>/keystore)')
    .addHelpText('after', `
Examples:
  $ medchain keys new alice
  $ medchain keys list
  $ medchain keys show alice --json
  $ medchain keys import hospital-a --secret-file ./hospital-a.seed

Key files are encrypted with scrypt and AES-256-GCM, readable by their owner only (chmod 600).`)

  keys.command('new')
    .description('generate a new ed25519 key and save it encrypted with a passphrase')
    .argument('<name>', 'key name: 1-64 of a-z 0-9 . _ -, starting with a letter or digit')
    .option('--passphrase-file <file>', PASSPHRASE_FILE_HELP)
    .addHelpText('after', `
Example:
  $ medchain keys new alice        # asks for the passphrase twice, without echo
  $ medchain keys new alice --passphrase-file ./alice.pass --json
  {"name":"alice","publicKey":"<64 hex>","createdAt":"...","file":"/home/me/.medchain/keystore/alice.json"}`)
    .action(async (name: string, opts: PassphraseOptions, cmd: Command) => {
      const { keystore, json } = keystoreOf(cmd, io)
      printResult(io, json, await newKey(keystore, io, name, opts))
    })

  keys.command('list')
    .description('list the keys in the keystore (public keys only; no passphrase needed)')
    .addHelpText('after', `
Example:
  $ medchain keys list
  NAME   PUBLIC KEY                                                        CREATED
  alice  d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a  2026-11-22T03:00:00.000Z`)
    .action((_opts: object, cmd: Command) => {
      const { keystore, json } = keystoreOf(cmd, io)
      printResult(io, json, listKeys(keystore, io))
    })

  keys.command('show')
    .description("show one key's public key, creation time and file (no passphrase needed)")
    .argument('<name>', 'key name')
    .addHelpText('after', `
Example:
  $ medchain keys show alice --json
  {"name":"alice","publicKey":"<64 hex>","createdAt":"...","file":"/home/me/.medchain/keystore/alice.json"}`)
    .action((name: string, _opts: object, cmd: Command) => {
      const { keystore, json } = keystoreOf(cmd, io)
      printResult(io, json, showKey(keystore, name))
    })

  keys.command('import')
    .description('save an existing ed25519 secret key (32-byte seed, 64 hex characters in a file) encrypted')
    .argument('<name>', 'key name: 1-64 of a-z 0-9 . _ -, starting with a letter or digit')
    .requiredOption('--secret-file <file>', 'file holding the secret key as 64 hex characters')
    .option('--passphrase-file <file>', PASSPHRASE_FILE_HELP)
    .addHelpText('after', `
Example:
  $ medchain keys import hospital-a --secret-file ./hospital-a.seed
  $ shred -u ./hospital-a.seed     # the plain-text seed is no longer needed`)
    .action(async (name: string, opts: PassphraseOptions & { secretFile: string }, cmd: Command) => {
      const { keystore, json } = keystoreOf(cmd, io)
      printResult(io, json, await importKey(keystore, io, name, opts))
    })
}
