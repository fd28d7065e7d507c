/**
 * Sharing more keys than one transaction carries: `medchain record share` for 300 records sends
 * them in several ShareKeys transactions (at most ENVELOPES_PER_TX each), and afterwards the
 * grantee holds a key for every record. A real single-validator node in this process; the records
 * are anchored straight over RPC (their blobs are not needed to share keys).
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { ClinicianRole, OrganizationKind, Purpose, recordIdOf, signTx, TxType, type Tx, type TxPayload } from '../../src/types/tx.js'
import { toHex } from '../../src/crypto/bytes.js'
import type { Signer } from '../../src/crypto/ed25519.js'
import { Keystore } from '../../src/keystore/store.js'
import { getKeyEnvelope, getSenderNonce } from '../../src/contracts/index.js'
import { HomePaths } from '../../src/node/config.js'
import { sealDataKey } from '../../src/records/envelope.js'
import { newDataKey } from '../../src/records/cipher.js'
import { ENVELOPES_PER_TX } from '../../src/cli/record.js'
import { okJson, runCli } from '../utils/cli.js'
import { startSingleNode, waitForHeight, type SingleNode } from '../utils/nodes.js'
import { bytes32 } from '../utils/factories.js'

const PASSPHRASE = 'pw'
const RECORDS = 300 // more than MAX_ENVELOPES (256): one transaction cannot carry them all

let single: SingleNode

before(async () => {
  single = await startSingleNode({ prefix: 'medchain-sharemany-', passphrase: PASSPHRASE, keys: ['doctor', 'patient', 'pharmacy'] })
})

after(async () => {
  await single?.node.stop()
  if (single !== undefined) rmSync(single.dir, { recursive: true, force: true })
})

/** Submits `txs` over RPC (batches of 100) and waits until the last one is in a block. */
async function commit (txs: Tx[]): Promise<void> {
  for (let i = 0; i < txs.length; i += 100) {
    const res = await fetch(single.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(txs.slice(i, i + 100).map((t, id) => ({ jsonrpc: '2.0', id, method: 'tx_submit', params: { tx: toHex(t.bytes) } })))
    })
    const replies = await res.json() as Array<{ error?: unknown }>
    assert.ok(Array.isArray(replies), `the batch was refused as a whole: ${JSON.stringify(replies)}`)
    assert.deepEqual(replies.filter((r) => r.error !== undefined), [])
  }
  const last = txs[txs.length - 1] as Tx
  const { node } = single
  while ((await node.chain.getReceipt(last.hash)) === undefined) await waitForHeight(node, node.chain.head.height + 1)
  for (const tx of txs) assert.equal((await node.chain.getReceipt(tx.hash))?.receipt.code, 'OK')
}

describe('medchain record share: many records', () => {
  it('sends the keys of 300 records in several ShareKeys transactions; the grantee then holds every key', { timeout: 120_000 }, async () => {
    const { node, home } = single
    const chainId = node.genesis.chainId
    const keystore = new Keystore(HomePaths.keystore(home))
    const [admin, doctor, patient, pharmacy] = ['admin', 'doctor', 'patient', 'pharmacy'].map((n) => keystore.unlock(n, PASSPHRASE)) as [Signer, Signer, Signer, Signer]
    const nonces = new Map<string, number>()
    const tx = (signer: Signer, payload: TxPayload): Tx => {
      const key = toHex(signer.publicKey)
      const nonce = nonces.get(key) ?? getSenderNonce(node.chain.stateView, signer.publicKey) ?? 0
      nonces.set(key, nonce + 1)
      return signTx({ chainId, from: signer.publicKey, nonce, payload }, signer)
    }
    await commit([
      tx(admin, { type: TxType.RegisterClinician, publicKey: doctor.publicKey, name: 'Dr. Many', role: ClinicianRole.Doctor }),
      tx(admin, { type: TxType.RegisterOrganization, publicKey: pharmacy.publicKey, name: 'Pharmacy', kind: OrganizationKind.Pharmacy })
    ])
    await commit([tx(doctor, { type: TxType.EnrolPatient, publicKey: patient.publicKey })])
    // prescriptions whose data keys are really sealed for the patient (record share opens them)
    const anchors = Array.from({ length: RECORDS }, (_, i) => {
      const contentHash = bytes32(`many/${i}`)
      const wrappedKey = sealDataKey({ chainId, dataKey: newDataKey(), recipient: patient.publicKey, contentHash })
      return tx(doctor, { type: TxType.AnchorRecord, patient: patient.publicKey, resourceType: 'MedicationRequest', contentHash, size: 1000, blobRef: '', envelopes: [{ recipient: patient.publicKey, wrappedKey }] })
    })
    // the mempool admits at most 64 nonces ahead of a sender's committed one
    for (let i = 0; i < anchors.length; i += 60) await commit(anchors.slice(i, i + 60))
    await commit([tx(patient, { type: TxType.Grant, grantee: pharmacy.publicKey, recordTypes: ['MedicationRequest'], recordIds: [], purpose: Purpose.Pharmacy, expiresAt: Date.now() + 86_400_000, envelopes: [] })])

    const run = await runCli(['--home', home, '--json', 'record', 'share', '--from', 'patient', '--to', 'pharmacy', '--rpc', single.url], { MEDCHAIN_PASSPHRASE: PASSPHRASE })
    const shared = okJson<{ shared: number, txs: string[] }>(run)
    assert.equal(shared.shared, RECORDS)
    assert.equal(shared.txs.length, Math.ceil(RECORDS / ENVELOPES_PER_TX))
    for (const anchor of anchors) {
      const envelope = getKeyEnvelope(node.chain.stateView, recordIdOf(chainId, anchor.hash), pharmacy.publicKey, node.chain.head.timestamp)
      assert.equal(envelope?.source, 'share')
    }
  })
})
