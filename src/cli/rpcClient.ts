/**
 * The CLI's side of the node's JSON-RPC (src/rpc/README.md): a tiny client over `fetch`, where the
 * node is (`resolveRpcUrl`), the errors a client meets, and what the `tx` and `query` commands
 * share (option parsers, identity arguments, `contextOf`, `unlockKey`).
 *
 * Errors, all `ClientError` (exit 1 through output.ts):
 *  - CLI_RPC_UNREACHABLE: nothing answers at the URL (connection refused, DNS, timeout on connect);
 *  - CLI_RPC_TIMEOUT: the node accepted the connection but did not answer in time;
 *  - CLI_RPC_BAD_RESPONSE: what answered is not a medchain node (not JSON-RPC);
 *  - a refusal by the node (JSON-RPC -32000, and the other JSON-RPC errors): the node's typed
 *    `data.code` (e.g. TX_NONCE_TOO_LOW, QUERY_NOT_AUTHORISED, RPC_RATE_LIMITED) and its sentence;
 *  - a transaction included but refused by the contract carries the receipt's code itself
 *    (ACCESS_NO_CONSENT, …), see tx.ts;
 *  - CLI_NOT_FOUND, CLI_TX_TIMEOUT, CLI_NO_SIGNER, CLI_BAD_FILE: the tx and query commands.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import { fromHex } from '../crypto/bytes.js'
import type { Signer } from '../crypto/ed25519.js'
import { Keystore } from '../keystore/store.js'
import { loadConfig } from '../node/config.js'
import { MedchainError } from '../util/errors.js'
import type { CliIo } from './output.js'
import { readPassphrase } from './passphrase.js'
import { globalOptions, keystoreDir } from './options.js'

export const RPC_ENV = 'MEDCHAIN_RPC'
export const DEFAULT_RPC_URL = 'http://127.0.0.1:26657'

export type ClientErrorType =
  | { code: 'CLI_RPC_UNREACHABLE', url: string }
  | { code: 'CLI_RPC_TIMEOUT', url: string, method: string }
  | { code: 'CLI_RPC_BAD_RESPONSE', url: string, method: string }
  | { code: 'CLI_NOT_FOUND', what: string }
  | { code: 'CLI_TX_TIMEOUT', hash: string }
  | { code: 'CLI_NO_SIGNER' }
  | { code: 'CLI_BAD_FILE', path: string }
  /** A refusal by the node: its `error.data.code` (or RPC_ERROR when it sent none) and JSON-RPC code. */
  | { code: string, rpcCode: number }
  /** A transaction included in a block but refused by the contract: the receipt's code. */
  | { code: string, hash: string, height: number }
  /** A record the reader cannot use (record.ts): not visible, no key envelope, not a clinician. */
  | { code: 'RECORD_NOT_VISIBLE' | 'RECORD_NO_KEY' | 'RECORD_NOT_CLINICIAN' | 'KEYS_NO_CONSENT', recordId?: string }
  /** A record file larger than the node takes (record put, before encrypting). */
  | { code: 'BLOB_TOO_LARGE', size: number, limit: number }

export class ClientError extends MedchainError<ClientErrorType> {}

export interface RpcClientOptions {
  /** Per-request time limit in milliseconds. Default 30 s. */
  timeoutMs?: number
}

interface JsonRpcResponse {
  jsonrpc?: unknown
  result?: unknown
  error?: { code?: unknown, message?: unknown, data?: { code?: unknown } }
}

function causeCode (err: unknown): string | undefined {
  let e: unknown = err
  for (let i = 0; i < 4 && typeof e === 'object' && e !== null; i++) {
    if ('code' in e && typeof e.code === 'string') return e.code
    e = 'cause' in e ? e.cause : undefined
  }
  return undefined
}

/** A JSON-RPC 2.0 client for one node. */
export class RpcClient {
  private nextId = 1
  readonly timeoutMs: number

  constructor (readonly url: string, opts: RpcClientOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 30_000
  }

  /** Calls `method` with named `params`; resolves with its result or throws ClientError. */
  async call<T = unknown> (method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++
    let res: Response
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        signal: AbortSignal.timeout(this.timeoutMs)
      })
    } catch (err) {
      const name = err instanceof Error ? err.name : ''
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new ClientError({ code: 'CLI_RPC_TIMEOUT', url: this.url, method },
          `The node at ${this.url} did not answer ${method} within ${this.timeoutMs / 1000} s; check that it is running and not overloaded.`)
      }
      const why = causeCode(err)
      throw new ClientError({ code: 'CLI_RPC_UNREACHABLE', url: this.url },
        `No node answers at ${this.url}${why !== undefined ? ` (${why})` : ''}; start one with \`npm start\` or pass --rpc <url>.`)
    }
    let body: JsonRpcResponse
    try {
      body = await res.json() as JsonRpcResponse
    } catch {
      throw new ClientError({ code: 'CLI_RPC_BAD_RESPONSE', url: this.url, method },
        `What answers at ${this.url} (HTTP ${res.status}) is not a medchain node's JSON-RPC; check the --rpc URL.`)
    }
    if (typeof body !== 'object' || body === null) {
      throw new ClientError({ code: 'CLI_RPC_BAD_RESPONSE', url: this.url, method }, `The node at ${this.url} sent an answer that is not JSON-RPC; check the --rpc URL.`)
    }
    if (body.error !== undefined && body.error !== null) {
      const rpcCode = typeof body.error.code === 'number' ? body.error.code : 0
      const dataCode = typeof body.error.data?.code === 'string' ? body.error.data.code : 'RPC_ERROR'
      const message = typeof body.error.message === 'string' && body.error.message !== ''
        ? body.error.message
        : `The node refused ${method} (JSON-RPC error ${rpcCode}).`
      throw new ClientError({ code: dataCode, rpcCode }, message)
    }
    if (!('result' in body)) {
      throw new ClientError({ code: 'CLI_RPC_BAD_RESPONSE', url: this.url, method }, `The node at ${this.url} answered ${method} without a result; check the --rpc URL.`)
    }
    return body.result as T
  }
}

function configRpcUrl (home: string): string | undefined {
  if (!existsSync(join(home, 'config.json'))) return undefined
  const config = loadConfig(home)
  const host = config.rpc.host === '0.0.0.0' || config.rpc.host === '' ? '127.0.0.1' : config.rpc.host === '::' ? '[::1]' : config.rpc.host
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  return `http://${shown}:${config.rpc.port}`
}

/**
 * Where the node's RPC is: `--rpc`, else `$MEDCHAIN_RPC`, else the RPC address in
 * `<home>/config.json` (a node home), else in `<home>/node0/config.json` (a devnet directory), else
 * http://127.0.0.1:26657.
 */
export function resolveRpcUrl (rpcOption: string | undefined, home: string, env: NodeJS.ProcessEnv): string {
  if (rpcOption !== undefined && rpcOption !== '') return rpcOption
  const fromEnv = env[RPC_ENV]
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  return configRpcUrl(home) ?? configRpcUrl(join(home, 'node0')) ?? DEFAULT_RPC_URL
}

// ---------------------------------------------------------------------------------------------
// what the tx and query commands share: option parsers, identities, the connection
// ---------------------------------------------------------------------------------------------

const HEX64_RE = /^[0-9a-fA-F]{64}$/

/** A commander parser for 32 bytes as 64 hex characters (a bad value is a usage error, exit 2). */
export function hex32 (what: string): (value: string) => string {
  return (value) => {
    if (!HEX64_RE.test(value)) throw new InvalidArgumentError(`${what} must be 64 hex characters.`)
    return value.toLowerCase()
  }
}

export function integerIn (min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value)
    if (value.trim() === '' || !Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}.`)
    return n
  }
}

export function rpcUrl (value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InvalidArgumentError('must be a URL such as http://127.0.0.1:26657.')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('must be an http:// or https:// URL.')
  return value
}

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/** "30d", "12h", "90m", "45s", "2w" → milliseconds; undefined when `value` is not a duration. */
export function parseDuration (value: string): number | undefined {
  const m = /^(\d{1,9})([smhdw])$/.exec(value.trim())
  if (m === null) return undefined
  return Number(m[1]) * (DURATION_UNITS[m[2] as string] as number)
}

/** An ISO 8601 time (or milliseconds since the epoch) → milliseconds; undefined when it is neither. */
export function parseTime (value: string): number | undefined {
  const text = value.trim()
  if (/^\d{10,16}$/.test(text)) return Number(text)
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined
  const ms = Date.parse(text)
  return Number.isNaN(ms) ? undefined : ms
}

/**
 * The public key an identity argument names: 64 hex characters as is, else the key of that name
 * in the keystore (read without the passphrase). Throws KEYSTORE_NOT_FOUND / KEYSTORE_BAD_NAME.
 */
export function resolvePublicKey (keystore: Keystore, value: string): Uint8Array {
  if (HEX64_RE.test(value)) return fromHex(value)
  return fromHex(keystore.show(value).publicKey)
}

/** Public key (hex) → keystore name, for showing people names instead of hex. Never throws. */
export function localKeyNames (keystore: Keystore): Map<string, string> {
  try {
    return new Map(keystore.list().keys.map((k) => [k.publicKey, k.name]))
  } catch {
    return new Map()
  }
}

export interface ConnectionOptions {
  rpc?: string
  timeout: number
}

/** What a tx or query command works with. */
export interface CliContext {
  io: CliIo
  home: string
  json: boolean
  keystore: Keystore
  client: RpcClient
  timeoutMs: number
}

export function contextOf (cmd: Command, io: CliIo, opts: ConnectionOptions): CliContext {
  const { home, json } = globalOptions(cmd, io)
  const timeoutMs = opts.timeout * 1000
  return {
    io, home, json, timeoutMs,
    keystore: new Keystore(keystoreDir(home)),
    client: new RpcClient(resolveRpcUrl(opts.rpc, home, io.env), { timeoutMs: Math.min(timeoutMs, 30_000) })
  }
}

export const RPC_HELP = `the node's JSON-RPC URL (default: $${RPC_ENV}, else the RPC port in <home>/config.json or <home>/node0/config.json, else http://127.0.0.1:26657)`

export function addConnectionOptions (cmd: Command, timeoutHelp: string): Command {
  return cmd
    .option('--rpc <url>', RPC_HELP, rpcUrl)
    .option('--timeout <s>', timeoutHelp, integerIn(1, 3600), 30)
}

/** Unlocks keystore key `name` with its seed (to open record key envelopes); the caller zeroes the seed. */
export async function unlockKeySecret (ctx: CliContext, name: string, passphraseFile: string | undefined): Promise<{ signer: Signer, seed: Uint8Array }> {
  ctx.keystore.show(name)
  const passphrase = await readPassphrase(ctx.io, passphraseFile !== undefined ? { passphraseFile } : {}, name)
  return ctx.keystore.unlockSecret(name, passphrase)
}

/** Unlocks keystore key `name` for signing; fails before asking for a passphrase when the key does not exist. */
export async function unlockKey (ctx: CliContext, name: string, passphraseFile: string | undefined): Promise<Signer> {
  ctx.keystore.show(name)
  const passphrase = await readPassphrase(ctx.io, passphraseFile !== undefined ? { passphraseFile } : {}, name)
  return ctx.keystore.unlock(name, passphrase)
}

