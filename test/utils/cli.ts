/** Running the `medchain` CLI (from source, through tsx) as a child process in tests. */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const CLI_BIN = fileURLToPath(new URL('../../bin/medchain.ts', import.meta.url))
const REPO = fileURLToPath(new URL('../../', import.meta.url))

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
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_BIN, ...args], { cwd: REPO, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
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
