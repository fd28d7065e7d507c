/**
 * A node home and its configuration.
 *
 *   <home>/config.json      node settings (below); every field optional, defaults documented here
 *   <home>/genesis.json     the chain's genesis, identical on every node (src/types/genesis.ts)
 *   <home>/node_key.json    the node's ed25519 key: its validator key and its libp2p identity;
 *                           plain text like CometBFT's priv_validator_key.json, owner-only (0600)
 *   <home>/sign_state.json  what the validator signed last (written by the node before each vote)
 *   <home>/data/            the LevelDB database
 *   <home>/blobs/           encrypted record contents (src/blobs/store.ts) and serve-log.jsonl
 *   <home>/keystore/        encrypted user keys (`medchain keys`)
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { replaceFileAtomic } from '../util/atomicFile.js'
import { join } from 'node:path'
import { fromHex, toHex } from '../crypto/bytes.js'
import { createSigner, generateKeyPair, type KeyPair, type Signer } from '../crypto/ed25519.js'
import { genesisFromJson, type Genesis } from '../types/genesis.js'
import { DEFAULT_TIMEOUTS, type TimeoutConfig } from '../consensus/types.js'
import { MedchainError } from '../util/errors.js'
import type { PeerConfig } from '../p2p/peerConfig.js'

export type ConfigErrorType =
  | { code: 'CONFIG_NOT_FOUND', path: string }
  | { code: 'CONFIG_INVALID', path: string, field: string }
  | { code: 'CONFIG_EXISTS', path: string }
  | { code: 'NODE_KEY_INSECURE', path: string }

export class ConfigError extends MedchainError<ConfigErrorType> {}

export interface NodeConfig {
  /** A human name for this node in logs and metrics. */
  moniker: string
  p2p: {
    /** Multiaddr to listen on. Default /ip4/127.0.0.1/tcp/26656. */
    listen: string
    /** Peers to dial and to admit (validators and known full nodes); nobody else may connect. */
    peers: PeerConfig[]
  }
  rpc: {
    /** Bound to loopback unless set otherwise. */
    host: string
    port: number
    maxBodyBytes: number
    maxBatch: number
    /** Calls per second per client IP, sustained. */
    ratePerSecond: number
    /** Calls a client IP may make at once before the rate applies. */
    burst: number
    /** Extra host names accepted in Host/Origin headers (localhost and the bound host always are). */
    allowedHosts: string[]
    /** A JSON-RPC body must arrive within this; a blob upload must not pause longer than this. */
    bodyTimeoutMs: number
  }
  consensus: {
    timeouts: TimeoutConfig
    /** Propose blocks even when the mempool is empty (false: wait for transactions). */
    createEmptyBlocks: boolean
  }
  mempool: { maxTxs: number, maxBytes: number }
  /** Encrypted record contents (src/blobs, src/rpc/blobRoutes.ts, src/p2p/blobs.ts). */
  blobs: {
    /** Largest blob uploaded, served or fetched from peers. Default 64 MiB (1 KiB..4 GiB). */
    maxBytes: number
    /** How long after its block an AccessRecord lets its sender download the blob. Default 1 h (1 s..7 days). */
    accessTtlMs: number
    /** Fetch the blob of every newly anchored record from peers in the background. Default true. */
    replicate: boolean
  }
  /** The state tree on disk (src/chain/versionedTree.ts). */
  state: {
    /** Tree versions (heights) kept readable for proofs; older ones are pruned. Default 100 (1..1,000,000). */
    keepVersions: number
    /** Bound of the tree's node cache in MiB. Default 256 (0..65,536; 0 turns the cache off). */
    cacheMB: number
  }
  log: { level: 'debug' | 'info' | 'warn' | 'error' }
}

export const DEFAULT_CONFIG: NodeConfig = {
  moniker: 'medchain-node',
  p2p: { listen: '/ip4/127.0.0.1/tcp/26656', peers: [] },
  rpc: { host: '127.0.0.1', port: 26657, maxBodyBytes: 1024 * 1024, maxBatch: 100, ratePerSecond: 50, burst: 100, allowedHosts: [], bodyTimeoutMs: 30_000 },
  consensus: { timeouts: DEFAULT_TIMEOUTS, createEmptyBlocks: true },
  mempool: { maxTxs: 10_000, maxBytes: 32 * 1024 * 1024 },
  blobs: { maxBytes: 64 * 1024 * 1024, accessTtlMs: 60 * 60 * 1000, replicate: true },
  state: { keepVersions: 100, cacheMB: 256 },
  log: { level: 'info' }
}

export const HomePaths = {
  config: (home: string) => join(home, 'config.json'),
  genesis: (home: string) => join(home, 'genesis.json'),
  nodeKey: (home: string) => join(home, 'node_key.json'),
  signState: (home: string) => join(home, 'sign_state.json'),
  data: (home: string) => join(home, 'data'),
  blobs: (home: string) => join(home, 'blobs'),
  keystore: (home: string) => join(home, 'keystore')
} as const

function invalid (path: string, field: string, what: string): ConfigError {
  return new ConfigError({ code: 'CONFIG_INVALID', path, field }, `${path}: "${field}" ${what}; fix it or delete the field to use the default.`)
}

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

function pickNumber (path: string, obj: Json, field: string, fallback: number, min: number, max: number): number {
  const v = obj[field.split('.').pop() as string]
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(path, field, `must be an integer from ${min} to ${max}`)
  return v
}

function pickString (path: string, obj: Json, field: string, fallback: string, pattern?: RegExp): string {
  const v = obj[field.split('.').pop() as string]
  if (v === undefined) return fallback
  if (typeof v !== 'string' || (pattern !== undefined && !pattern.test(v))) throw invalid(path, field, 'is not a valid value')
  return v
}

function pickStringList (path: string, obj: Json, field: string, fallback: string[]): string[] {
  const v = obj[field.split('.').pop() as string]
  if (v === undefined) return fallback
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && /^[A-Za-z0-9.:[\]-]{1,253}$/.test(x))) throw invalid(path, field, 'must be a list of host names')
  return v as string[]
}

function section (path: string, obj: Json, name: string): Json {
  const v = obj[name]
  if (v === undefined) return {}
  if (!isObject(v)) throw invalid(path, name, 'must be an object')
  return v
}

const MULTIADDR_RE = /^\/ip[46]\/[^/]+\/tcp\/\d{1,5}(\/p2p\/[A-Za-z0-9]+)?$/
const HEX32_RE = /^[0-9a-f]{64}$/

/** Parses a config document, filling defaults; throws CONFIG_INVALID naming the first bad field. */
export function parseConfig (json: unknown, path = 'config.json'): NodeConfig {
  if (!isObject(json)) throw invalid(path, '(root)', 'must be a JSON object')
  const p2p = section(path, json, 'p2p')
  const rpc = section(path, json, 'rpc')
  const consensus = section(path, json, 'consensus')
  const timeouts = section(path, consensus, 'timeouts')
  const mempool = section(path, json, 'mempool')
  const log = section(path, json, 'log')
  const blobs = section(path, json, 'blobs')
  const state = section(path, json, 'state')
  const replicate = blobs.replicate
  if (replicate !== undefined && typeof replicate !== 'boolean') throw invalid(path, 'blobs.replicate', 'must be true or false')
  const peersRaw = p2p.peers ?? []
  if (!Array.isArray(peersRaw)) throw invalid(path, 'p2p.peers', 'must be a list')
  const peers = peersRaw.map((p: unknown, i): PeerConfig => {
    if (!isObject(p)) throw invalid(path, `p2p.peers[${i}]`, 'must be an object')
    return {
      name: pickString(path, p, `p2p.peers[${i}].name`, `peer-${i}`),
      publicKey: pickString(path, p, `p2p.peers[${i}].publicKey`, '', HEX32_RE),
      address: pickString(path, p, `p2p.peers[${i}].address`, '', MULTIADDR_RE)
    }
  })
  const d = DEFAULT_CONFIG
  const t = d.consensus.timeouts
  const createEmpty = consensus.createEmptyBlocks
  if (createEmpty !== undefined && typeof createEmpty !== 'boolean') throw invalid(path, 'consensus.createEmptyBlocks', 'must be true or false')
  const level = pickString(path, log, 'log.level', d.log.level, /^(debug|info|warn|error)$/) as NodeConfig['log']['level']
  const ms = (name: keyof TimeoutConfig): number => pickNumber(path, timeouts, `consensus.timeouts.${name}`, t[name], 1, 3_600_000)
  return {
    moniker: pickString(path, json, 'moniker', d.moniker, /^[A-Za-z0-9._-]{1,64}$/),
    p2p: { listen: pickString(path, p2p, 'p2p.listen', d.p2p.listen, MULTIADDR_RE), peers },
    rpc: {
      host: pickString(path, rpc, 'rpc.host', d.rpc.host),
      port: pickNumber(path, rpc, 'rpc.port', d.rpc.port, 0, 65535),
      maxBodyBytes: pickNumber(path, rpc, 'rpc.maxBodyBytes', d.rpc.maxBodyBytes, 1024, 64 * 1024 * 1024),
      maxBatch: pickNumber(path, rpc, 'rpc.maxBatch', d.rpc.maxBatch, 1, 10_000),
      ratePerSecond: pickNumber(path, rpc, 'rpc.ratePerSecond', d.rpc.ratePerSecond, 1, 1_000_000),
      burst: pickNumber(path, rpc, 'rpc.burst', d.rpc.burst, 1, 1_000_000),
      allowedHosts: pickStringList(path, rpc, 'rpc.allowedHosts', d.rpc.allowedHosts),
      bodyTimeoutMs: pickNumber(path, rpc, 'rpc.bodyTimeoutMs', d.rpc.bodyTimeoutMs, 1000, 600_000)
    },
    consensus: {
      timeouts: { proposeMs: ms('proposeMs'), prevoteMs: ms('prevoteMs'), precommitMs: ms('precommitMs'), deltaMs: ms('deltaMs'), capMs: ms('capMs'), commitMs: ms('commitMs') },
      createEmptyBlocks: typeof createEmpty === 'boolean' ? createEmpty : d.consensus.createEmptyBlocks
    },
    mempool: {
      maxTxs: pickNumber(path, mempool, 'mempool.maxTxs', d.mempool.maxTxs, 1, 1_000_000),
      maxBytes: pickNumber(path, mempool, 'mempool.maxBytes', d.mempool.maxBytes, 1024, 4 * 1024 * 1024 * 1024)
    },
    blobs: {
      maxBytes: pickNumber(path, blobs, 'blobs.maxBytes', d.blobs.maxBytes, 1024, 4 * 1024 * 1024 * 1024),
      accessTtlMs: pickNumber(path, blobs, 'blobs.accessTtlMs', d.blobs.accessTtlMs, 1_000, 7 * 24 * 3_600_000),
      replicate: typeof replicate === 'boolean' ? replicate : d.blobs.replicate
    },
    state: {
      keepVersions: pickNumber(path, state, 'state.keepVersions', d.state.keepVersions, 1, 1_000_000),
      cacheMB: pickNumber(path, state, 'state.cacheMB', d.state.cacheMB, 0, 65_536)
    },
    log: { level }
  }
}

function readJson (path: string): unknown {
  if (!existsSync(path)) throw new ConfigError({ code: 'CONFIG_NOT_FOUND', path }, `${path} does not exist; create the node home with \`medchain init\` or \`medchain testnet\`.`)
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch {
    throw invalid(path, '(root)', 'is not valid JSON')
  }
}

export function loadConfig (home: string): NodeConfig {
  const path = HomePaths.config(home)
  return parseConfig(readJson(path), path)
}

export function loadGenesis (home: string): Genesis {
  return genesisFromJson(readJson(HomePaths.genesis(home)))
}

/**
 * Writes a new text file of a node home crash-safely (src/util/atomicFile.ts); refuses
 * (CONFIG_EXISTS) when `path` already exists, so a home is never overwritten by mistake.
 */
export function writeNewFileAtomic (path: string, text: string, opts: { mode?: number } = {}): void {
  if (existsSync(path)) throw new ConfigError({ code: 'CONFIG_EXISTS', path }, `${path} already exists; move it away or pick another --home.`)
  replaceFileAtomic(path, text, opts)
}

export function ensureDir (path: string, mode = 0o700): void {
  mkdirSync(path, { recursive: true, mode })
}

/** Saves a node key (0600). */
export function saveNodeKey (home: string, key: KeyPair): void {
  writeNewFileAtomic(HomePaths.nodeKey(home), JSON.stringify({ type: 'ed25519', publicKey: toHex(key.publicKey), secretKey: toHex(key.secretKey) }, null, 2) + '\n', { mode: 0o600 })
}

export function generateNodeKey (home: string): KeyPair {
  const key = generateKeyPair()
  saveNodeKey(home, key)
  return key
}

/** Loads the node key; refuses a file others can read, or whose public key does not match its secret. */
export function loadNodeKey (home: string): Signer {
  return loadNodeKeyPair(home).signer
}

/** The node key with its 32-byte seed, which libp2p needs to derive the node's peer id. */
export function loadNodeKeyPair (home: string): { signer: Signer, secretKey: Uint8Array } {
  const path = HomePaths.nodeKey(home)
  const json = readJson(path)
  if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0) {
    throw new ConfigError({ code: 'NODE_KEY_INSECURE', path }, `${path} can be read by other users; run \`chmod 600 ${path}\`.`)
  }
  if (!isObject(json) || typeof json.secretKey !== 'string' || !HEX32_RE.test(json.secretKey) || typeof json.publicKey !== 'string') {
    throw invalid(path, 'secretKey', 'must be 64 hex digits')
  }
  const secretKey = fromHex(json.secretKey)
  const signer = createSigner(secretKey)
  if (toHex(signer.publicKey) !== json.publicKey) throw invalid(path, 'publicKey', 'does not belong to the secret key')
  return { signer, secretKey }
}
