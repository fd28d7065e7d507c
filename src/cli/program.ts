/**
 * The root `medchain` command: global options, help, and the mapping of outcomes to exit codes.
 * Command groups add themselves with `program.command(...)` (see `addKeysCommands` in keys.ts), so
 * they inherit the output and error settings configured here.
 */
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, CommanderError } from 'commander'
import { ExitCode, printError, printUsageError, ReportedFailure, type CliIo } from './output.js'
import { HOME_ENV } from './options.js'
import { addVerifyCommand } from './verify.js'

/**
 * The process's own streams. A closed stdout (`medchain keys list | head -1`) ends the process
 * quietly instead of crashing with EPIPE.
 */
export function processIo (): CliIo {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') process.stderr.write(`error: could not write to stdout (${err.code ?? err.message}).\n`)
    process.exit(err.code === 'EPIPE' ? (typeof process.exitCode === 'number' ? process.exitCode : 0) : ExitCode.failed)
  })
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, homedir }
}

/** The version in package.json, found by walking up from this file (src/cli or dist/src/cli). */
function packageVersion (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown, version?: unknown }
      if (pkg.name === 'medchain' && typeof pkg.version === 'string') return pkg.version
    } catch { /* not here */ }
    dir = dirname(dir)
  }
  return 'unknown'
}

const ROOT_HELP = `
Examples:
  $ medchain keys new alice                          create an encrypted key (asks for a passphrase twice)
  $ MEDCHAIN_PASSPHRASE=... medchain keys new alice  the same, non-interactive
  $ medchain keys list --json                        list keys as one JSON document

Home: keys live in <home>/keystore, where <home> is --home, else $${HOME_ENV}, else ~/.medchain.
Passphrases: --passphrase-file <file> (first line), else $MEDCHAIN_PASSPHRASE, else a prompt.
Exit codes: 0 ok, 1 the operation failed (one sentence on stderr), 2 bad usage.

  $ medchain testnet --validators 4 --out ./devnet   homes for 4 hospital validators + demo keys

  $ medchain devnet                                    a local network of 4 hospital validators
  $ medchain --home ./devnet tx enrol-patient --from doctor --patient patient
  $ medchain --home ./devnet query audit --patient patient --as patient`

export function createProgram (io: CliIo): Command {
  const program = new Command('medchain')
  program
    .description('A permissioned blockchain node for hospitals that share medical records.')
    .version(packageVersion(), '-V, --version', 'print the medchain version')
    .option('--home <dir>', `medchain home: config, genesis, keys, data (default: $${HOME_ENV} or ~/.medchain)`)
    .option('--json', 'machine output: exactly one JSON document on stdout')
    .helpOption('-h, --help', 'show help for a command')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({
      writeOut: (text) => { io.stdout.write(text) },
      writeErr: (text) => { io.stderr.write(text) }
    })
    .showHelpAfterError('(add --help for usage and examples)')
    .exitOverride()
    .addHelpText('after', ROOT_HELP)
  addVerifyCommand(program, io)
  return program
}

function wantsJson (program: Command, argv: readonly string[]): boolean {
  if (program.opts<{ json?: boolean }>().json === true) return true
  // commander may fail before it parsed the options
  const end = argv.indexOf('--')
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json')
}

/**
 * Parses `argv` (as process.argv: node, script, args...), runs the command and returns the exit
 * code; never throws. Errors are reported through output.ts; a `ReportedFailure` (the command
 * printed its outcome already) exits 1 with nothing more.
 */
export async function runProgram (program: Command, argv: readonly string[], io: CliIo): Promise<number> {
  try {
    await program.parseAsync([...argv])
    return ExitCode.ok
  } catch (err) {
    if (err instanceof ReportedFailure) return ExitCode.failed
    const json = wantsJson(program, argv)
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return ExitCode.ok // --help, --version
      const message = err.code === 'commander.help'
        ? 'A command is required; see medchain --help.'
        : err.message.replace(/^error: /, '')
      return printUsageError(io, json, message)
    }
    return printError(io, json, err)
  }
}
