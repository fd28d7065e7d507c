/**
 * Transactions admitted over RPC leave as batched gossip: what one JSON-RPC batch admits is
 * published as one message (not one per transaction), and nothing is published after stop.
 * The network is a recording stub, so the test sees exactly what the node hands to gossip.
 */
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { ClinicianRole, signTx, TxType, type Tx } from '../../../src/types/tx.js'
import { toHex } from '../../../src/crypto/bytes.js'
import { Keystore } from '../../../src/keystore/store.js'
import { HomePaths } from '../../../src/node/config.js'
import { initHome } from '../../../src/node/home.js'
import { MedchainNode, type NodeNetwork } from '../../../src/node/node.js'
import { makeKeys } from '../../utils/factories.js'

const CHEAP_SCRYPT = { n: 1024, r: 8, p: 1 }
// long timeouts: the lone validator must not commit (and so empty the mempool) during the test
const SLOW = { proposeMs: 60_000, prevoteMs: 60_000, precommitMs: 60_000, deltaMs: 1000, capMs: 60_000, commitMs: 60_000 }

describe('node: gossip of RPC-admitted transactions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medchain-gossipbatch-'))
  let node: MedchainNode | undefined
  after(async () => {
    await node?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('publishes what one RPC batch admitted as one gossip batch', async () => {
    const home = join(dir, 'home')
    initHome({ home, moniker: 'st-mary', passphrase: 'pw', scrypt: CHEAP_SCRYPT })
    const published: Tx[][] = []
    let resolveAll: () => void = () => undefined
    const allPublished = new Promise<void>((resolve) => { resolveAll = resolve })
    const network: NodeNetwork = {
      publishConsensus: () => undefined,
      publishTxs: (txs) => { published.push([...txs]); if (published.flat().length >= 5) resolveAll() },
      syncFrom: async () => 0,
      peers: () => [],
      refreshAllowlist: async () => undefined,
      stop: async () => undefined
    }
    node = await MedchainNode.start({
      home,
      logger: pino({ level: 'silent' }),
      network: async () => network,
      config: (c) => ({ ...c, rpc: { ...c.rpc, port: 0, ratePerSecond: 1000 }, consensus: { ...c.consensus, timeouts: SLOW, createEmptyBlocks: false } })
    })
    const admin = new Keystore(HomePaths.keystore(home)).unlock('admin', 'pw')
    const txs = [0, 1, 2, 3, 4].map((i) => signTx({
      chainId: node?.genesis.chainId as string, from: admin.publicKey, nonce: i,
      payload: { type: TxType.RegisterClinician, publicKey: makeKeys(`gossip/doctor-${i}`).publicKey, name: `Dr. ${i}`, role: ClinicianRole.Doctor }
    }, admin))
    const res = await fetch(node.rpc?.url as string, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(txs.map((t, id) => ({ jsonrpc: '2.0', id, method: 'tx_submit', params: { tx: toHex(t.bytes) } })))
    })
    const replies = await res.json() as Array<{ error?: unknown }>
    assert.deepEqual(replies.map((r) => r.error), txs.map(() => undefined))
    await allPublished
    // normally exactly one message; a scheduler pause longer than the 10 ms flush window may split it
    assert.ok(published.length < txs.length, `batched: ${published.length} gossip messages for ${txs.length} transactions`)
    assert.deepEqual(published.flat().map((t) => toHex(t.hash)), txs.map((t) => toHex(t.hash)), 'every admitted tx once, in admission order')
  })
})
