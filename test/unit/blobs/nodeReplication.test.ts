/**
 * Node wiring of the blob store: two hospital validators (real nodes, libp2p, RPC) on 127.0.0.1.
 * A doctor uploads a ciphertext to node 0 and anchors the record; node 1 replicates the blob from
 * node 0 in the background (blobs.replicate) and serves it to the patient after an AccessRecord.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { ClinicianRole, Purpose, recordIdOf, signTx, TxType, type TxPayload } from '../../../src/types/tx.js'
import { downloadBlob, uploadBlob } from '../../../src/blobs/client.js'
import { toHex } from '../../../src/crypto/bytes.js'
import type { Signer } from '../../../src/crypto/ed25519.js'
import { Keystore } from '../../../src/keystore/store.js'
import { HomePaths } from '../../../src/node/config.js'
import { createTestnet } from '../../../src/node/home.js'
import { MedchainNode } from '../../../src/node/node.js'
import { libp2pNetwork } from '../../../src/node/network.js'
import { waitForHeight } from '../../utils/nodes.js'
import { freePorts } from '../../utils/ports.js'

const FAST = { proposeMs: 400, prevoteMs: 200, precommitMs: 200, deltaMs: 200, capMs: 2000, commitMs: 100 }

async function until (what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('blob replication between nodes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medchain-blob-net-'))
  const nodes: MedchainNode[] = []
  after(async () => {
    await Promise.all(nodes.map(async (n) => { await n.stop() }))
    rmSync(dir, { recursive: true, force: true })
  })

  it('a blob uploaded to one node is replicated to the other when its record is anchored, and served there', { timeout: 120_000 }, async () => {
    const ports = await freePorts(4)
    const summary = createTestnet({ out: join(dir, 'net'), validators: 2, passphrase: 'pw', scrypt: { n: 1024, r: 8, p: 1 }, timeouts: FAST })
    for (let i = 0; i < 2; i++) {
      nodes.push(await MedchainNode.start({
        home: summary.nodes[i]?.home as string,
        network: libp2pNetwork,
        logger: pino({ level: 'silent' }),
        config: (c) => ({
          ...c,
          p2p: { listen: `/ip4/127.0.0.1/tcp/${ports[i] as number}`, peers: c.p2p.peers.map((p) => ({ ...p, address: `/ip4/127.0.0.1/tcp/${ports[Number(p.name.replace('node', ''))] as number}` })) },
          rpc: { ...c.rpc, port: ports[2 + i] as number, ratePerSecond: 1000 }
        })
      }))
    }
    const [n0, n1] = nodes as [MedchainNode, MedchainNode]
    await Promise.all(nodes.map(async (n) => { await waitForHeight(n, 1) }))
    const keystore = new Keystore(summary.keystore)
    const admin = keystore.unlock('hospital-a', 'pw')
    const doctor = keystore.unlock('doctor', 'pw')
    const patient = keystore.unlock('patient', 'pw')
    const nonces = new Map<string, number>()
    const commit = async (signer: Signer, payload: TxPayload): Promise<Uint8Array> => {
      const nonce = nonces.get(toHex(signer.publicKey)) ?? 0
      nonces.set(toHex(signer.publicKey), nonce + 1)
      const tx = signTx({ chainId: summary.chainId, from: signer.publicKey, nonce, payload }, signer)
      const res = await fetch(n0.rpc?.url as string, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tx_submit', params: { tx: toHex(tx.bytes) } }) })
      assert.equal(((await res.json()) as { error?: unknown }).error, undefined)
      await until('tx committed on both nodes', async () => (await n0.chain.getReceipt(tx.hash)) !== undefined && (await n1.chain.getReceipt(tx.hash)) !== undefined)
      assert.equal((await n1.chain.getReceipt(tx.hash))?.receipt.code, 'OK')
      return tx.hash
    }
    await commit(admin, { type: TxType.RegisterClinician, publicKey: doctor.publicKey, name: 'Dr. Blob', role: ClinicianRole.Doctor })
    await commit(doctor, { type: TxType.EnrolPatient, publicKey: patient.publicKey })

    const ciphertext = randomBytes(200_000)
    const contentHash = new Uint8Array(createHash('sha256').update(ciphertext).digest())
    const file = join(dir, 'record.enc')
    writeFileSync(file, ciphertext)
    await uploadBlob({ url: n0.rpc?.url as string, chainId: summary.chainId, signer: doctor, file, hash: contentHash })
    const blobAt = (home: string): string => join(HomePaths.blobs(home), toHex(contentHash).slice(0, 2), toHex(contentHash))
    assert.ok(existsSync(blobAt(n0.home)))
    assert.equal(existsSync(blobAt(n1.home)), false)

    const anchor = await commit(doctor, {
      type: TxType.AnchorRecord, patient: patient.publicKey, resourceType: 'Observation', contentHash, size: ciphertext.length, blobRef: 'medchain:test',
      envelopes: [{ recipient: patient.publicKey, wrappedKey: new Uint8Array(48).fill(2) }]
    })
    await until('the blob replicated to node 1', () => existsSync(blobAt(n1.home)))
    assert.ok(readFileSync(blobAt(n1.home)).equals(ciphertext))

    const recordId = recordIdOf(summary.chainId, anchor)
    const accessTx = await commit(patient, { type: TxType.AccessRecord, recordId, purpose: Purpose.Treatment })
    const output = join(dir, 'download.enc')
    await downloadBlob({ url: n1.rpc?.url as string, chainId: summary.chainId, signer: patient, recordId, accessTx, output, expectedHash: contentHash, maxBytes: ciphertext.length })
    assert.ok(readFileSync(output).equals(ciphertext))
  })
})
