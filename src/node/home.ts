/**
 * Creating node homes: `initHome` (one node that is its own single-validator chain) and
 * `createTestnet` (N hospital validators sharing one genesis, each with its own home and LevelDB,
 * plus a keystore of demo identities). Pure file work: nothing is started here.
 */
import { existsSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fromHex, toHex } from '../crypto/bytes.js'
import type { KeyPair } from '../crypto/ed25519.js'
import { Keystore } from '../keystore/store.js'
import type { ScryptParams } from '../keystore/format.js'
import { genesisToJson, validateGenesis, type Genesis } from '../types/genesis.js'
import { ConfigError, DEFAULT_CONFIG, ensureDir, generateNodeKey, HomePaths, writeNewFileAtomic, type NodeConfig } from './config.js'
import { type PeerConfig } from '../p2p/peerConfig.js'

export interface HomeSummary {
  name: string
  home: string
  nodePublicKey: string
  p2pPort: number
  rpcPort: number
  rpcUrl: string
}

export interface DemoIdentity {
  /** Name in the keystore (`medchain keys show <name>`). */
  keyName: string
  role: string
  publicKey: string
}

export interface TestnetSummary {
  chainId: string
  nodes: HomeSummary[]
  keystore: string
  identities: DemoIdentity[]
}

function refuseNonEmpty (dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new ConfigError({ code: 'CONFIG_EXISTS', path: dir }, `${dir} is not empty; pick another directory or move it away.`)
  }
}

function writeHome (home: string, config: NodeConfig, genesis: Genesis): void {
  ensureDir(home)
  ensureDir(HomePaths.data(home))
  writeNewFileAtomic(HomePaths.config(home), JSON.stringify(config, null, 2) + '\n')
  writeNewFileAtomic(HomePaths.genesis(home), JSON.stringify(genesisToJson(genesis), null, 2) + '\n')
}

const letters = (i: number): string => String.fromCharCode(97 + (i % 26)) + (i >= 26 ? String(Math.floor(i / 26)) : '')

export interface TestnetOptions {
  out: string
  validators: number
  chainId?: string
  /** First port: node i listens on p2p basePort + 2i and RPC basePort + 2i + 1. */
  basePort?: number
  /** Passphrase of the demo identities' keystore. */
  passphrase: string
  scrypt?: ScryptParams
  /** Genesis time (ms); default now. */
  genesisTime?: number
  timeouts?: NodeConfig['consensus']['timeouts']
}

/**
 * N hospitals, each running one validator: `<out>/node<i>` homes with one shared genesis, and
 * `<out>/keystore` holding each hospital's admin key (`hospital-a`, …) plus demo identities not yet
 * on chain (`doctor`, `patient`, `pharmacy`) for the README walkthrough.
 */
export function createTestnet (opts: TestnetOptions): TestnetSummary {
  const out = resolve(opts.out)
  if (!Number.isInteger(opts.validators) || opts.validators < 1 || opts.validators > 64) {
    throw new ConfigError({ code: 'CONFIG_INVALID', path: out, field: 'validators' }, 'The number of validators must be from 1 to 64.')
  }
  refuseNonEmpty(out)
  ensureDir(out)
  const chainId = opts.chainId ?? 'medchain-devnet'
  const basePort = opts.basePort ?? 26656
  const keystore = new Keystore(join(out, 'keystore'), opts.scrypt !== undefined ? { scrypt: opts.scrypt } : {})
  const homes = Array.from({ length: opts.validators }, (_, i) => join(out, `node${i}`))
  const nodeKeys: KeyPair[] = homes.map((home) => { ensureDir(home); return generateNodeKey(home) })
  const identities: DemoIdentity[] = []
  const admins = homes.map((_, i) => {
    const info = keystore.create(`hospital-${letters(i)}`, opts.passphrase)
    identities.push({ keyName: info.name, role: `admin of Hospital ${letters(i).toUpperCase()} (in the genesis)`, publicKey: info.publicKey })
    return info
  })
  for (const [keyName, role] of [['doctor', 'doctor (not yet registered on chain)'], ['patient', 'patient (not yet enrolled)'], ['pharmacy', 'pharmacy (not yet registered)']] as const) {
    const info = keystore.create(keyName, opts.passphrase)
    identities.push({ keyName, role, publicKey: info.publicKey })
  }
  const genesis: Genesis = {
    chainId,
    genesisTime: opts.genesisTime ?? Date.now(),
    hospitals: admins.map((a, i) => ({ publicKey: fromHex(a.publicKey), name: `Hospital ${letters(i).toUpperCase()}` })),
    validators: nodeKeys.map((k, i) => ({ publicKey: k.publicKey, power: 1, hospital: fromHex((admins[i] as { publicKey: string }).publicKey) }))
  }
  validateGenesis(genesis)
  const ports = homes.map((_, i) => ({ p2p: basePort + 2 * i, rpc: basePort + 2 * i + 1 }))
  const peers: PeerConfig[] = homes.map((_, i) => ({ name: `node${i}`, publicKey: toHex((nodeKeys[i] as KeyPair).publicKey), address: `/ip4/127.0.0.1/tcp/${(ports[i] as { p2p: number }).p2p}` }))
  const nodes = homes.map((home, i): HomeSummary => {
    const port = ports[i] as { p2p: number, rpc: number }
    const config: NodeConfig = {
      ...DEFAULT_CONFIG,
      moniker: `node${i}`,
      p2p: { listen: `/ip4/127.0.0.1/tcp/${port.p2p}`, peers: peers.filter((_, j) => j !== i) },
      rpc: { ...DEFAULT_CONFIG.rpc, port: port.rpc },
      consensus: { ...DEFAULT_CONFIG.consensus, timeouts: opts.timeouts ?? DEFAULT_CONFIG.consensus.timeouts }
    }
    writeHome(home, config, genesis)
    return { name: `node${i}`, home, nodePublicKey: toHex((nodeKeys[i] as KeyPair).publicKey), p2pPort: port.p2p, rpcPort: port.rpc, rpcUrl: `http://127.0.0.1:${port.rpc}` }
  })
  return { chainId, nodes, keystore: keystore.dir, identities }
}

export interface InitOptions {
  home: string
  moniker: string
  chainId?: string
  passphrase: string
  scrypt?: ScryptParams
  genesisTime?: number
}

/**
 * One node home that is a complete single-validator chain: its hospital admin key (`admin` in
 * `<home>/keystore`) is the genesis hospital and its node key the only validator. To join an
 * existing chain instead, replace genesis.json with that chain's file and list its peers.
 */
export function initHome (opts: InitOptions): TestnetSummary {
  const home = resolve(opts.home)
  if (existsSync(HomePaths.config(home)) || existsSync(HomePaths.nodeKey(home))) {
    throw new ConfigError({ code: 'CONFIG_EXISTS', path: home }, `${home} is already a node home; pick another --home.`)
  }
  ensureDir(home)
  const nodeKey = generateNodeKey(home)
  const keystore = new Keystore(HomePaths.keystore(home), opts.scrypt !== undefined ? { scrypt: opts.scrypt } : {})
  const admin = keystore.create('admin', opts.passphrase)
  const chainId = opts.chainId ?? `medchain-${opts.moniker.toLowerCase().replace(/[^a-z0-9._-]/g, '-')}`
  const genesis: Genesis = {
    chainId,
    genesisTime: opts.genesisTime ?? Date.now(),
    hospitals: [{ publicKey: fromHex(admin.publicKey), name: opts.moniker }],
    validators: [{ publicKey: nodeKey.publicKey, power: 1, hospital: fromHex(admin.publicKey) }]
  }
  validateGenesis(genesis)
  writeHome(home, { ...DEFAULT_CONFIG, moniker: opts.moniker }, genesis)
  return {
    chainId,
    nodes: [{ name: opts.moniker, home, nodePublicKey: toHex(nodeKey.publicKey), p2pPort: 26656, rpcPort: DEFAULT_CONFIG.rpc.port, rpcUrl: `http://127.0.0.1:${DEFAULT_CONFIG.rpc.port}` }],
    keystore: keystore.dir,
    identities: [{ keyName: 'admin', role: `admin of ${opts.moniker} (in the genesis)`, publicKey: admin.publicKey }]
  }
}
