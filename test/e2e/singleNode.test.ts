/**
 * A real node (chain, mempool, consensus engine with real timers, RPC) as a single-validator
 * chain: it commits blocks alone, admits a transaction over JSON-RPC into a block, and resumes
 * after a restart from its stored head and sign-state.
 */
import { describe, it, after } from 'node:test'
import { waitForHeight } from '../utils/nodes.js'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { initHome } from '../../src/node/home.js'
import { MedchainNode } from '../../src/node/node.js'
import { Keystore } from '../../src/keystore/store.js'
import { HomePaths } from '../../src/node/config.js'
import { ClinicianRole, signTx, TxType } from '../../src/types/tx.js'
import { toHex } from '../../src/crypto/bytes.js'
import { makeKeys } from '../utils/factories.js'

const FAST = { proposeMs: 200, prevoteMs: 100, precommitMs: 100, deltaMs: 100, capMs: 1000, commitMs: 50 }

async function rpc (url: string, method: string, params: unknown = {}): Promise<{ result?: unknown, error?: { code: number, message: string, data?: { code?: string } } }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) })
  return await res.json() as { result?: unknown, error?: { code: number, message: string } }
}

describe('a single-validator node', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medchain-node-'))
  const home = join(dir, 'home')
  after(() => { rmSync(dir, { recursive: true, force: true }) })
  initHome({ home, moniker: 'solo', passphrase: 'pw', scrypt: { n: 1024, r: 8, p: 1 } })
  const start = async (): Promise<MedchainNode> => await MedchainNode.start({
    home,
    logger: pino({ level: 'silent' }),
    config: (c) => ({ ...c, rpc: { ...c.rpc, port: 0 }, consensus: { ...c.consensus, timeouts: FAST } })
  })

  it('commits blocks alone, serves a tx submitted over RPC, and resumes after a restart', { timeout: 60_000 }, async () => {
    let node = await start()
    try {
      await waitForHeight(node, 2)
      const url = node.rpc?.url as string
      const head = await rpc(url, 'chain_head')
      assert.ok((head.result as { height: number }).height >= 2)
      // the hospital admin registers a doctor through RPC
      const admin = new Keystore(HomePaths.keystore(home)).unlock('admin', 'pw')
      const doctor = makeKeys('solo/doctor')
      const tx = signTx({ chainId: node.genesis.chainId, from: admin.publicKey, nonce: 0, payload: { type: TxType.RegisterClinician, publicKey: doctor.publicKey, name: 'Dr. Solo', role: ClinicianRole.Doctor } }, admin)
      const submitted = await rpc(url, 'tx_submit', { tx: toHex(tx.bytes) })
      assert.equal(submitted.error, undefined, JSON.stringify(submitted.error))
      const target = node.chain.head.height + 3
      await waitForHeight(node, target)
      const receipt = await rpc(url, 'tx_getReceipt', { hash: toHex(tx.hash) })
      assert.equal((receipt.result as { code: string }).code, 'OK')
      // a replay of the same tx is refused by the one checkTx
      const again = await rpc(url, 'tx_submit', { tx: toHex(tx.bytes) })
      assert.equal(again.error?.data?.code, 'TX_NONCE_TOO_LOW')
    } finally {
      await node.stop()
    }
    const stoppedAt = node.chain.head.height
    node = await start()
    try {
      assert.equal(node.chain.head.height, stoppedAt, 'reopened at the stored head')
      await waitForHeight(node, stoppedAt + 2)
    } finally {
      await node.stop()
    }
  })
})
