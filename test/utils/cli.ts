/**
 * Running the `medchain` CLI as a child process in tests: the compiled `dist/bin/medchain.js` (what
 * `npx medchain` runs) when `npm test` built it from the current sources and says so in
 * MEDCHAIN_TEST_CLI_BIN (scripts/runTests.mjs), else the source through tsx (a test file run on
 * its own). The compiled CLI starts in ~0.4 s against ~0.9 s through tsx, and the CLI suites make
 * a few hundred calls.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const CLI_BIN = fileURLToPath(new URL('../../bin/medchain.ts', import.meta.url))
const REPO = fileURLToPath(new URL('../../', import.meta.url))
const COMPILED_CLI = process.env.MEDCHAIN_TEST_CLI_BIN
/** Node arguments that run the CLI (before its own arguments). */
export const CLI_NODE_ARGS: readonly string[] = COMPILED_CLI !== undefined && COMPILED_CLI !== '' ? [COMPILED_CLI] : ['--import', 'tsx', CLI_BIN]

export interface CliRun { code: number | null, stdout: string, stderr: string }

/**
 * Runs `medchain <args>` with stdin closed. The environment is the test process's without any
 * MEDCHAIN_* variable, then `env` applied (a value of undefined removes a variable).
 */
export async function runCli (args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  const childEnv: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MEDCHAIN_')) childEnv[k] = v
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k]
    else childEnv[k] = v
  }
  const child = spawn(process.execPath, [...CLI_NODE_ARGS, ...args], { cwd: REPO, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (c) => resolve(c))
  })
  return { code, stdout, stderr }
}

/** stdout must be exactly one JSON document on one line; returns it parsed. */
export function oneJson<T = Record<string, unknown>> (run: CliRun): T {
  const lines = run.stdout.split('\n').filter((l) => l !== '')
  assert.equal(lines.length, 1, `expected one JSON line on stdout, got: ${run.stdout}\nstderr: ${run.stderr}`)
  return JSON.parse(lines[0] as string) as T
}

/** A success: exit 0 and one JSON document on stdout; returns it parsed. */
export function okJson<T = Record<string, unknown>> (run: CliRun): T {
  assert.equal(run.code, 0, `exit ${String(run.code)}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`)
  return oneJson<T>(run)
}

/** stdout must be one `{"error": {code, message}}` document (message a string); returns the code. */
export function errorCode (run: CliRun): string {
  const doc = oneJson<{ error?: { code?: string, message?: unknown } }>(run)
  assert.equal(typeof doc.error?.message, 'string')
  return doc.error?.code as string
}

/**
 * A failure with --json: exit 1, stderr ending in one `error: …` sentence and never a stack trace,
 * `{"error": {code, message}}` on stdout; returns the error code.
 */
export function failedCode (run: CliRun): string {
  assert.equal(run.code, 1, `exit ${String(run.code)}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`)
  assert.match(run.stderr, /error: .+\n$/)
  assert.doesNotMatch(run.stderr, /\n\s+at /)
  return errorCode(run)
}
