/**
 * Fault scenarios on real processes (`medchain start`, one OS process per node, 127.0.0.1, free
 * ports): kill -9 a validator and the other three keep committing; restart it and it catches up;
 * wipe a validator's data and restart it: it syncs from its peers and rejoins; a new full node
 * joins from genesis and reaches the head; every node holds the same block at the same height.
 */
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestnet } from '../../src/node/home.js'
import { DEFAULT_CONFIG, ensureDir, generateNodeKey, HomePaths, type NodeConfig } from '../../src/node/config.js'
import { toHex } from '../../src/crypto/bytes.js'
import { freePorts } from '../utils/ports.js'
import { CLI_NODE_ARGS } from '../utils/cli.js'

const FAST = { proposeMs: 500, prevoteMs: 250, precommitMs: 250, deltaMs: 250, capMs: 3000, commitMs: 200 }

async function call (url: string, method: string, params: unknown = {}): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) })
  return ((await res.json()) as { result: unknown }).result
}

async function height (url: string): Promise<number> {
  try { return (await call(url, 'chain_head') as { height: number }).height } catch { return -1 }
}

/** Polls a node's RPC (another process) until its height reaches `target`. */
async function waitForHeight (url: string, target: number, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const h = await height(url)
    if (h >= target) return h
    if (Date.now() > deadline) throw new Error(`${url} did not reach height ${target} (at ${h})`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

describe('faults on real validator processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medchain-faults-'))
  const procs = new Map<string, ChildProcess>()
  after(async () => {
    for (const p of procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('survives kill -9, a wiped validator and a joining full node, and stays one chain', { timeout: 300_000 }, async () => {
    const ports = await freePorts(10)
    const net = createTestnet({ out: join(dir, 'net'), validators: 4, passphrase: 'pw', scrypt: { n: 1024, r: 8, p: 1 }, timeouts: FAST })
    const p2p = (i: number): number => ports[i] as number
    const rpcPort = (i: number): number => ports[5 + i] as number
    // a full node: its own key, the same genesis, the validators as peers (and they admit it)
    const fullHome = join(dir, 'net', 'full')
    ensureDir(fullHome)
    ensureDir(HomePaths.data(fullHome))
    const fullKey = generateNodeKey(fullHome)
    copyFileSync(HomePaths.genesis(net.nodes[0]?.home as string), HomePaths.genesis(fullHome))
    const homes = [...net.nodes.map((n) => n.home), fullHome]
    const names = ['node0', 'node1', 'node2', 'node3', 'full']
    const keys = [...net.nodes.map((n) => n.nodePublicKey), toHex(fullKey.publicKey)]
    homes.forEach((home, i) => {
      const config: NodeConfig = {
        ...DEFAULT_CONFIG,
        moniker: names[i] as string,
        p2p: { listen: `/ip4/127.0.0.1/tcp/${p2p(i)}`, peers: homes.map((_, j) => ({ name: names[j] as string, publicKey: keys[j] as string, address: `/ip4/127.0.0.1/tcp/${p2p(j)}` })).filter((_, j) => j !== i) },
        rpc: { ...DEFAULT_CONFIG.rpc, port: rpcPort(i) },
        consensus: { ...DEFAULT_CONFIG.consensus, timeouts: FAST }
      }
      writeFileSync(HomePaths.config(home), JSON.stringify(config, null, 2))
    })
    const url = (i: number): string => `http://127.0.0.1:${rpcPort(i)}`
    const start = (i: number): void => {
      const log = createWriteStream(join(homes[i] as string, 'node.log'), { flags: 'a' })
      const child = spawn(process.execPath, [...CLI_NODE_ARGS, 'start', '--home', homes[i] as string], { stdio: ['ignore', 'pipe', 'pipe'] })
      child.stdout?.pipe(log)
      child.stderr?.pipe(log)
      procs.set(names[i] as string, child)
    }
    const kill9 = async (i: number): Promise<void> => {
      const child = procs.get(names[i] as string) as ChildProcess
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGKILL')
      await exited
    }
    const logOf = (i: number): string => readFileSync(join(homes[i] as string, 'node.log'), 'utf8').split('\n').slice(-5).join('\n')

    for (let i = 0; i < 4; i++) start(i)
    for (let i = 0; i < 4; i++) await waitForHeight(url(i), 2).catch((err: unknown) => { throw new Error(`${String(err)}\n${logOf(i)}`) })

    // kill -9 one validator: the other three (3 of 4 > 2/3) keep committing
    await kill9(3)
    const h0 = await height(url(0))
    await waitForHeight(url(0), h0 + 3)
    // restart it: it syncs and votes again
    start(3)
    await waitForHeight(url(3), (await height(url(0))) + 1)

    // wipe a validator's data (its sign-state stays: it must sync before it signs again)
    await kill9(1)
    rmSync(HomePaths.data(homes[1] as string), { recursive: true, force: true })
    ensureDir(HomePaths.data(homes[1] as string))
    start(1)
    await waitForHeight(url(1), (await height(url(0))) + 1)

    // a new full node joins from genesis and reaches the head
    start(4)
    await waitForHeight(url(4), await height(url(0)))

    // one chain: the same block hash at the same height everywhere
    const h = Math.min(...await Promise.all([0, 1, 2, 3, 4].map(async (i) => await height(url(i)))))
    const hashes = await Promise.all([0, 1, 2, 3, 4].map(async (i) => (await call(url(i), 'chain_getBlock', { height: h }) as { hash: string }).hash))
    assert.equal(new Set(hashes).size, 1, `same block at height ${h} on every node`)
    const info = await call(url(4), 'node_info') as { validator: boolean }
    assert.equal(info.validator, false, 'the full node does not vote')
  })
})
