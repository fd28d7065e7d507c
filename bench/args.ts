/**
 * Command-line flags of the benchmarks: one strict parser, so that `--help` prints the usage
 * instead of starting a many-minute run, and a mistyped flag or value stops the run with a
 * one-line error instead of being ignored (`--secnds 30` would otherwise run the default 10 s
 * steps, `--runs abc` NaN runs).
 *
 * Flags are declared once with their type, default, bounds and help line; `parseBenchArgs` is
 * pure (it never exits or prints), `benchArgs` is the thin wrapper the benchmark scripts call.
 */
import { parseArgs } from 'node:util'

export type FlagSpec =
  | { type: 'boolean', help: string }
  | { type: 'integer', help: string, default: number, min: number, max?: number }
  | { type: 'integers', help: string, default: readonly number[], min: number, max?: number }
  | { type: 'string', help: string, default?: string, placeholder: string }

export interface BenchUsage {
  /** The command line, e.g. `npm run bench:validate --`. */
  command: string
  summary: string
  flags: Record<string, FlagSpec>
  examples: readonly string[]
}

type ValueOf<S extends FlagSpec> =
  S extends { type: 'boolean' } ? boolean
    : S extends { type: 'integer' } ? number
      : S extends { type: 'integers' } ? number[]
        : S extends { type: 'string', default: string } ? string
          : string | undefined

export type BenchArgs<F extends Record<string, FlagSpec>> = { [K in keyof F]: ValueOf<F[K]> }

export class BenchArgsError extends Error {}

export function usageText (usage: BenchUsage): string {
  const rows = Object.entries(usage.flags).map(([name, spec]) => {
    const left = spec.type === 'boolean' ? `--${name}` : `--${name} ${spec.type === 'string' ? spec.placeholder : spec.type === 'integers' ? 'N,N,…' : 'N'}`
    const def = spec.type === 'boolean' || spec.default === undefined ? '' : ` (default ${Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default)})`
    return { left, right: spec.help + def }
  })
  rows.push({ left: '--help', right: 'print this help and exit' })
  const width = Math.max(...rows.map((r) => r.left.length))
  return [
    `Usage: ${usage.command} [options]`,
    '',
    usage.summary,
    '',
    'Options:',
    ...rows.map((r) => `  ${r.left.padEnd(width)}  ${r.right}`),
    '',
    'Examples:',
    ...usage.examples.map((e) => `  ${e}`),
    ''
  ].join('\n')
}

function readInteger (name: string, text: string, spec: { min: number, max?: number }): number {
  if (!/^[0-9]+$/.test(text.trim())) throw new BenchArgsError(`--${name} must be a whole number, got "${text}".`)
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < spec.min || (spec.max !== undefined && n > spec.max)) {
    throw new BenchArgsError(`--${name} must be between ${spec.min} and ${spec.max ?? Number.MAX_SAFE_INTEGER}, got ${text}.`)
  }
  return n
}

/**
 * Parses `argv` (without node and the script) against `usage.flags`. Returns `'help'` when
 * `--help` (or `-h`) is present; throws BenchArgsError for an unknown flag, a missing or malformed
 * value, a value out of bounds or a stray positional argument.
 */
export function parseBenchArgs<F extends Record<string, FlagSpec>> (argv: readonly string[], usage: BenchUsage & { flags: F }): BenchArgs<F> | 'help' {
  const options: Record<string, { type: 'boolean' | 'string', short?: string }> = { help: { type: 'boolean', short: 'h' } }
  for (const [name, spec] of Object.entries(usage.flags)) options[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string' }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false })
  } catch (err) {
    // node's messages name the flag ("Unknown option '--secnds'") but run over several lines
    const first = (err instanceof Error ? err.message : String(err)).split(/\r?\n/)[0] ?? ''
    const flag = /'(--?[\w-]+)/.exec(first)?.[1]
    if (flag !== undefined && /argument (is ambiguous|missing)/.test(first)) throw new BenchArgsError(`${flag} needs a value.`)
    throw new BenchArgsError(`${first.split('. ')[0]?.replace(/\.$/, '') ?? first}.`)
  }
  const values = parsed.values as Record<string, string | boolean | undefined>
  if (values.help === true) return 'help'
  const out: Record<string, unknown> = {}
  for (const [name, spec] of Object.entries(usage.flags)) {
    const raw = values[name]
    if (spec.type === 'boolean') { out[name] = raw === true; continue }
    if (typeof raw === 'string' && raw.startsWith('--')) throw new BenchArgsError(`--${name} needs a value, got the flag "${raw}".`)
    switch (spec.type) {
      case 'integer':
        out[name] = raw === undefined ? spec.default : readInteger(name, raw as string, spec)
        break
      case 'integers':
        if (raw === undefined) { out[name] = [...spec.default]; break }
        out[name] = (raw as string).split(',').map((part) => readInteger(name, part, spec))
        break
      case 'string':
        if (raw === '') throw new BenchArgsError(`--${name} needs a value.`)
        out[name] = raw ?? spec.default
        break
    }
  }
  return out as BenchArgs<F>
}

/** For the benchmark scripts: parse `process.argv`, print the help (exit 0) or an error (exit 2). */
export function benchArgs<F extends Record<string, FlagSpec>> (usage: BenchUsage & { flags: F }): BenchArgs<F> {
  try {
    const parsed = parseBenchArgs(process.argv.slice(2), usage)
    if (parsed === 'help') {
      process.stdout.write(usageText(usage))
      process.exit(0)
    }
    return parsed
  } catch (err) {
    if (!(err instanceof BenchArgsError)) throw err
    process.stderr.write(`${err.message} See --help.\n`)
    process.exit(2)
  }
}
