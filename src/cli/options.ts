/**
 * The global options every `medchain` command sees (`--home`, `--json`) and where a home keeps
 * its keys. Read from any (sub)command's action through `globalOptions`.
 */
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import type { CliIo } from './output.js'

export const HOME_ENV = 'MEDCHAIN_HOME'

/** Global options after defaults are applied. */
export interface GlobalOptions {
  /** Absolute path of the medchain home. */
  home: string
  json: boolean
}

/** `--home`, else `$MEDCHAIN_HOME`, else `~/.medchain`, as an absolute path. */
export function resolveHome (homeOption: string | undefined, io: CliIo): string {
  if (homeOption !== undefined && homeOption !== '') return resolve(homeOption)
  const fromEnv = io.env[HOME_ENV]
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv)
  return join(io.homedir(), '.medchain')
}

/** The global options as seen from any (sub)command's action. */
export function globalOptions (cmd: Command, io: CliIo): GlobalOptions {
  const opts = cmd.optsWithGlobals<{ home?: string, json?: boolean }>()
  return { home: resolveHome(opts.home, io), json: opts.json === true }
}

export function keystoreDir (home: string): string {
  return join(home, 'keystore')
}
