import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { createTestnet, initHome } from '../../../src/node/home.js'
import { DEFAULT_CONFIG, HomePaths, loadConfig, loadGenesis, loadNodeKey, parseConfig } from '../../../src/node/config.js'
import { Chain } from '../../../src/chain/chain.js'
import { Keystore } from '../../../src/keystore/store.js'
import { toHex } from '../../../src/crypto/bytes.js'
import { hasErrorCode } from '../../../src/util/errors.js'
import { CLI_NODE_ARGS } from '../../utils/cli.js'
import { accessControlApp } from '../../../src/contracts/index.js'

const CHEAP = { n: 1024, r: 8, p: 1 }
const dirs: string[] = []
function tempDir (): string {
  const d = mkdtempSync(join(tmpdir(), 'medchain-home-'))
  dirs.push(d)
  return d
}
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

describe('node config', () => {
  it('fills every default from an empty document', () => {
    assert.deepEqual(parseConfig({}), DEFAULT_CONFIG)
  })

  it('keeps given values and refuses bad ones naming the field', () => {
    const c = parseConfig({ moniker: 'st-mary', rpc: { port: 8545 }, consensus: { timeouts: { capMs: 5000 }, createEmptyBlocks: false } })
    assert.equal(c.moniker, 'st-mary')
    assert.equal(c.rpc.port, 8545)
    assert.equal(c.rpc.host, '127.0.0.1', 'RPC stays on loopback unless configured')
    assert.deepEqual(parseConfig({ rpc: { allowedHosts: ['node.hospital.example'] } }).rpc.allowedHosts, ['node.hospital.example'])
    assert.equal(parseConfig({}).rpc.bodyTimeoutMs, 30_000)
    assert.equal(parseConfig({ rpc: { bodyTimeoutMs: 120_000 } }).rpc.bodyTimeoutMs, 120_000)
    assert.equal(c.consensus.timeouts.capMs, 5000)
    assert.equal(c.consensus.createEmptyBlocks, false)
    const cases: Array<[unknown, string]> = [
      [[], '(root)'],
      [{ rpc: { port: 70000 } }, 'rpc.port'],
      [{ rpc: 'x' }, 'rpc'],
      [{ p2p: { listen: 'tcp://1.2.3.4' } }, 'p2p.listen'],
      [{ p2p: { peers: [{ name: 'a', publicKey: 'zz', address: '/ip4/127.0.0.1/tcp/1' }] } }, 'p2p.peers[0].publicKey'],
      [{ consensus: { timeouts: { proposeMs: -1 } } }, 'consensus.timeouts.proposeMs'],
      [{ consensus: { createEmptyBlocks: 'yes' } }, 'consensus.createEmptyBlocks'],
      [{ log: { level: 'loud' } }, 'log.level'],
      [{ moniker: 'has space' }, 'moniker'],
      [{ rpc: { burst: 0 } }, 'rpc.burst'],
      [{ rpc: { allowedHosts: ['bad host!'] } }, 'rpc.allowedHosts'],
      [{ rpc: { bodyTimeoutMs: 10 } }, 'rpc.bodyTimeoutMs']
    ]
    for (const [doc, field] of cases) {
      assert.throws(() => parseConfig(doc), (err: unknown) => hasErrorCode(err, 'CONFIG_INVALID') && (err as { type: { field: string } }).type.field === field, `field ${field}`)
    }
  })
})

describe('testnet homes', () => {
  it('creates N homes with one shared genesis, owner-only node keys, peers, and unlockable demo identities', async () => {
    const out = join(tempDir(), 'devnet')
    const summary = createTestnet({ out, validators: 4, passphrase: 'pw', scrypt: CHEAP, basePort: 30000 })
    assert.equal(summary.nodes.length, 4)
    const genesisFiles = summary.nodes.map((n) => readFileSync(HomePaths.genesis(n.home), 'utf8'))
    assert.equal(new Set(genesisFiles).size, 1, 'every node holds the same genesis')
    const genesis = loadGenesis(summary.nodes[0]?.home as string)
    assert.equal(genesis.validators.length, 4)
    const roots = new Set<string>()
    for (const [i, node] of summary.nodes.entries()) {
      const key = loadNodeKey(node.home)
      assert.equal(toHex(key.publicKey), node.nodePublicKey)
      assert.ok(genesis.validators.some((v) => toHex(v.publicKey) === node.nodePublicKey), 'node key is a validator')
      assert.equal(statSync(HomePaths.nodeKey(node.home)).mode & 0o777, 0o600)
      const config = loadConfig(node.home)
      assert.equal(config.rpc.port, 30000 + 2 * i + 1)
      assert.equal(config.p2p.peers.length, 3)
      assert.ok(!config.p2p.peers.some((p) => p.publicKey === node.nodePublicKey), 'a node does not list itself')
      const chain = await Chain.open({ app: accessControlApp, dir: HomePaths.data(node.home), genesis })
      roots.add(toHex(chain.stateRoot))
      await chain.close()
    }
    assert.equal(roots.size, 1, 'every node starts from the same genesis state')
    const keystore = new Keystore(summary.keystore)
    for (const id of summary.identities) assert.equal(toHex(keystore.unlock(id.keyName, 'pw').publicKey), id.publicKey)
    assert.deepEqual(summary.identities.map((i) => i.keyName), ['hospital-a', 'hospital-b', 'hospital-c', 'hospital-d', 'doctor', 'patient', 'pharmacy'])
    // the hospital admins are the genesis hospitals
    assert.deepEqual(genesis.hospitals.map((h) => toHex(h.publicKey)), summary.identities.slice(0, 4).map((i) => i.publicKey))
    assert.throws(() => createTestnet({ out, validators: 2, passphrase: 'pw', scrypt: CHEAP }), (err: unknown) => hasErrorCode(err, 'CONFIG_EXISTS'))
  })

  it('init makes a single-validator chain whose hospital is the admin key, and refuses to overwrite a home', async () => {
    const home = join(tempDir(), 'st-mary')
    const summary = initHome({ home, moniker: 'st-mary', passphrase: 'pw', scrypt: CHEAP })
    const genesis = loadGenesis(home)
    assert.equal(genesis.chainId, 'medchain-st-mary')
    assert.equal(toHex(genesis.validators[0]?.publicKey as Uint8Array), summary.nodes[0]?.nodePublicKey)
    assert.equal(toHex(genesis.hospitals[0]?.publicKey as Uint8Array), summary.identities[0]?.publicKey)
    assert.throws(() => initHome({ home, moniker: 'st-mary', passphrase: 'pw', scrypt: CHEAP }), (err: unknown) => hasErrorCode(err, 'CONFIG_EXISTS'))
  })

  it('refuses a node key others can read, or whose public key is not its own', () => {
    const home = join(tempDir(), 'h')
    initHome({ home, moniker: 'h', passphrase: 'pw', scrypt: CHEAP })
    const path = HomePaths.nodeKey(home)
    chmodSync(path, 0o644)
    assert.throws(() => loadNodeKey(home), (err: unknown) => hasErrorCode(err, 'NODE_KEY_INSECURE'))
    chmodSync(path, 0o600)
    const doc = JSON.parse(readFileSync(path, 'utf8')) as { publicKey: string }
    writeFileSync(path, JSON.stringify({ ...doc, publicKey: '00'.repeat(32) }), { mode: 0o600 })
    assert.throws(() => loadNodeKey(home), (err: unknown) => hasErrorCode(err, 'CONFIG_INVALID'))
  })

  it('the CLI refuses a bad --validators as a usage error (exit 2)', () => {
    const r = spawnSync(process.execPath, [...CLI_NODE_ARGS, 'testnet', '--validators', '0', '--out', join(tempDir(), 'x')], { env: { ...process.env, MEDCHAIN_PASSPHRASE: 'pw' }, encoding: 'utf8' })
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /validators/)
  })
})
