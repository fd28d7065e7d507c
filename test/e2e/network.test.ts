/**
 * Four hospital validators as real nodes (chain, mempool, engine, libp2p, RPC) on 127.0.0.1 in one
 * process: they commit blocks together, a transaction submitted to one node's RPC is gossiped,
 * committed and served by every node, and a validator that is stopped and restarted catches up by
 * block sync and rejoins.
 */
import { describe, it, after } from 'node:test'
import { waitForHeight } from '../utils/nodes.js'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { createTestnet } from '../../src/node/home.js'
import { MedchainNode } from '../../src/node/node.js'
import { libp2pNetwork } from '../../src/node/network.js'
import { Keystore } from '../../src/keystore/store.js'
import { ClinicianRole, signTx, TxType } from '../../src/types/tx.js'
import { toHex } from '../../src/crypto/bytes.js'
import { freePorts } from '../utils/ports.js'

const FAST = { proposeMs: 400, prevoteMs: 200, precommitMs: 200, deltaMs: 200, capMs: 2000, commitMs: 100 }

describe('a network of four hospital validators', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medchain-net-'))
  const nodes: Array<MedchainNode | undefined> = []
  after(async () => {
    await Promise.all(nodes.map(async (n) => await n?.stop()))
    rmSync(dir, { recursive: true, force: true })
  })

  it('commits together, gossips and commits a submitted tx everywhere, and a restarted validator catches up', { timeout: 120_000 }, async () => {
    const ports = await freePorts(8)
    const summary = createTestnet({ out: join(dir, 'devnet'), validators: 4, passphrase: 'pw', scrypt: { n: 1024, r: 8, p: 1 }, timeouts: FAST })
    const p2pPorts = ports.slice(0, 4)
    const start = async (i: number): Promise<MedchainNode> => await MedchainNode.start({
      home: summary.nodes[i]?.home as string,
      network: libp2pNetwork,
      logger: pino({ level: 'silent' }),
      config: (c) => ({
        ...c,
        p2p: { listen: `/ip4/127.0.0.1/tcp/${p2pPorts[i] as number}`, peers: c.p2p.peers.map((p) => ({ ...p, address: `/ip4/127.0.0.1/tcp/${p2pPorts[Number(p.name.replace('node', ''))] as number}` })) },
        rpc: { ...c.rpc, port: ports[4 + i] as number, ratePerSecond: 1000 }
      })
    })
    for (let i = 0; i < 4; i++) nodes[i] = await start(i)
    const live = (): MedchainNode[] => nodes.filter((n): n is MedchainNode => n !== undefined)
    await Promise.all(live().map(async (n) => { await waitForHeight(n, 2) }))

    // a tx submitted to node 1's RPC is committed and its receipt served by node 3
    const keystore = new Keystore(summary.keystore)
    const admin = keystore.unlock('hospital-a', 'pw')
    const doctor = keystore.unlock('doctor', 'pw')
    const n1 = nodes[1] as MedchainNode
    const tx = signTx({ chainId: summary.chainId, from: admin.publicKey, nonce: 0, payload: { type: TxType.RegisterClinician, publicKey: doctor.publicKey, name: 'Dr. Net', role: ClinicianRole.Doctor } }, admin)
    const res = await fetch(n1.rpc?.url as string, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tx_submit', params: { tx: toHex(tx.bytes) } }) })
    assert.equal(((await res.json()) as { error?: unknown }).error, undefined)
    const n3 = nodes[3] as MedchainNode
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('tx not committed in time')) }, 30_000)
      const check = async (): Promise<void> => {
        const r = await n3.chain.getReceipt(tx.hash)
        if (r !== undefined) { clearTimeout(timer); n3.chain.off('block', onBlock); assert.equal(r.receipt.code, 'OK'); resolve() }
      }
      const onBlock = (): void => { void check() }
      n3.chain.on('block', onBlock)
      void check()
    })

    // stop validator 2; the other three (3 of 4 > 2/3) go on; restart it and it catches up
    await (nodes[2] as MedchainNode).stop()
    nodes[2] = undefined
    const before = (nodes[0] as MedchainNode).chain.head.height
    await waitForHeight(nodes[0] as MedchainNode, before + 3)
    nodes[2] = await start(2)
    const target = (nodes[0] as MedchainNode).chain.head.height + 2
    await waitForHeight(nodes[2], target)

    // one chain: equal block hashes at equal heights on every node
    const h = Math.min(...live().map((n) => n.chain.head.height))
    const hashes = await Promise.all(live().map(async (n) => toHex((await n.chain.getBlock(h))?.header.stateRoot ?? new Uint8Array())))
    assert.equal(new Set(hashes).size, 1, `same state root at height ${h} on every node`)
  })
})
