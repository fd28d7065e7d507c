/**
 * How every command prints. A command returns a `CommandResult`; with `--json` its `json` value
 * is written to stdout as exactly one JSON document (one line), otherwise its `text`. Notes,
 * warnings and prompts go to stderr, so stdout stays machine-readable.
 *
 * Exit codes: 0 ok, 1 the operation failed (one sentence on stderr; with `--json` also
 * `{"error": {"code", "message"}}` on stdout), 2 bad usage (unknown command or option, missing
 * argument).
 */
import { MedchainError } from '../util/errors.js'

export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const

/** Where the CLI reads and writes; `process` in production, fakes in tests. */
export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean, isRaw?: boolean, setRawMode?: (mode: boolean) => unknown }
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  env: NodeJS.ProcessEnv
  homedir: () => string
}

export interface CommandResult {
  /** What `--json` prints: one JSON document. */
  json: unknown
  /** What a person sees, without a trailing newline. */
  text: string
}

export function writeJson (io: CliIo, value: unknown): void {
  io.stdout.write(JSON.stringify(value) + '\n')
}

export function printResult (io: CliIo, json: boolean, result: CommandResult): void {
  if (json) writeJson(io, result.json)
  else io.stdout.write(result.text + '\n')
}

/** A note or warning for a person: always stderr, in both output modes. */
export function printNote (io: CliIo, text: string): void {
  io.stderr.write(text + '\n')
}

/**
 * Reports a failed operation and returns its exit code. MedchainErrors print their one-sentence
 * message; anything else is a bug and prints as an internal error (its stack only with
 * MEDCHAIN_DEBUG=1).
 */
export function printError (io: CliIo, json: boolean, err: unknown): number {
  let code: string
  let message: string
  if (err instanceof MedchainError) {
    code = err.code
    message = err.message
  } else {
    code = 'INTERNAL'
    const detail = err instanceof Error ? err.message : String(err)
    message = `Internal error (${detail}); please report it, with MEDCHAIN_DEBUG=1 set for details.`
    if (io.env.MEDCHAIN_DEBUG === '1' && err instanceof Error && err.stack !== undefined) io.stderr.write(err.stack + '\n')
  }
  io.stderr.write(`error: ${message}\n`)
  if (json) writeJson(io, { error: { code, message } })
  return ExitCode.failed
}

/**
 * Thrown by a command that has already printed its outcome and must still exit 1: `doctor`'s
 * verdict on damaged data (its report is the output, not an error document), or `start` after the
 * node stopped itself on a failure it logged. `runProgram` exits 1 and prints nothing more.
 */
export class ReportedFailure extends Error {
  constructor (what: string) {
    super(what)
    this.name = 'ReportedFailure'
  }
}

/** Reports bad usage (commander already printed its message) and returns exit code 2. */
export function printUsageError (io: CliIo, json: boolean, message: string): number {
  if (json) writeJson(io, { error: { code: 'CLI_USAGE', message } })
  return ExitCode.usage
}

/** `rows` as left-aligned columns separated by two spaces. */
export function formatTable (rows: string[][]): string {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length) })
  return rows.map((row) => row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)).join('  ')).join('\n')
}
