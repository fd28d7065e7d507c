/**
 * A real chain (ChainHarness on LevelDB) whose validator set changes once, governed on chain, then
 * the RPC fixture's hospital world, plus a second patient with a record of its own:
 *
 *  1. hospital-a's validator proposes adding validator-2 (power 1); with one validator it passes at
 *     once, effective at height 3;
 *  2. an empty block; its nextValidatorsHash commits to the new set {validator-a, validator-2};
 *  3-7. buildWorld (test/unit/rpc/fixture.ts), certified by both validators from block 3 on;
 *  8. the doctor enrols patient-2 and anchors a record for it.
 */
import { recordIdOf, TxType, ValidatorAction, type Tx } from '../../../src/types/tx.js'
import { Mempool } from '../../../src/chain/mempool.js'
import { decodeAuditEntry, getSenderNonce } from '../../../src/contracts/index.js'
import { startRpcServer, type RpcServer } from '../../../src/rpc/server.js'
import { ChainHarness } from '../../utils/chainHarness.js'
import { bytes32, makeKeys, makeTx, TEST_CHAIN_ID } from '../../utils/factories.js'
import { buildWorld, keys, type World } from '../rpc/fixture.js'

export const validator2 = makeKeys('proof/validator-2')
export const patient2 = makeKeys('proof/patient-2')

export interface ProofFixture {
  h: ChainHarness
  world: World
  /** patient-2's record. */
  otherRecord: Uint8Array
  /** The AccessRecord tx of the pharmacy (on the patient's trail). */
  accessTx: Uint8Array
  clock: { now: number }
  server?: RpcServer
  close: () => Promise<void>
}

export async function openProofChain (opts: { rpc?: boolean, realTime?: boolean } = {}): Promise<ProofFixture> {
  const h = await ChainHarness.open()
  let server: RpcServer | undefined
  try {
    const validatorA = h.validators[0] as NonNullable<typeof h.validators[0]>
    const propose: Tx = makeTx(validatorA, getSenderNonce(h.chain.stateView, validatorA.publicKey) ?? 0, {
      type: TxType.ProposeValidator, action: ValidatorAction.Add, validator: validator2.publicKey, hospital: keys.hospital.publicKey, power: 1
    })
    const r1 = await h.commit([propose])
    if (r1.receipts[0]?.code !== 'OK') throw new Error(`ProposeValidator: ${r1.receipts[0]?.code ?? 'skipped'}`)
    await h.commit([])
    if (h.chain.validatorSet.validators.length !== 2) throw new Error('the validator set did not change at height 3')
    h.validators.push(validator2)
    const world = await buildWorld(h)
    const enrol = world.tx(keys.doctor, { type: TxType.EnrolPatient, publicKey: patient2.publicKey })
    const anchor = world.tx(keys.doctor, {
      type: TxType.AnchorRecord, patient: patient2.publicKey, resourceType: 'Observation', contentHash: bytes32('other'), size: 10, blobRef: 'blob:other', envelopes: [{ recipient: patient2.publicKey, wrappedKey: new Uint8Array(48).fill(7) }]
    })
    await world.commitOk([enrol, anchor])
    let accessTx: Uint8Array | undefined
    for (const { entry } of await h.chain.listAuditByPatient(keys.patient.publicKey, { limit: Number.POSITIVE_INFINITY })) {
      const e = decodeAuditEntry(entry)
      if (e.action === TxType.AccessRecord) accessTx = e.txHash
    }
    const clock = { now: Date.UTC(2026, 5, 1) }
    if (opts.rpc === true) {
      const mempool = new Mempool({ chainId: TEST_CHAIN_ID, getAccountNonce: (pk) => getSenderNonce(h.chain.stateView, pk) })
      server = await startRpcServer({
        chain: h.chain,
        mempool,
        nodeInfo: () => ({ version: '0.1.0-test' }),
        peers: () => [],
        now: opts.realTime === true ? Date.now : () => clock.now,
        limits: { ratePerSecond: 1_000_000, burst: 1_000_000 },
        logger: { error: () => undefined }
      })
    }
    const srv = server
    return {
      h, world, clock, server,
      otherRecord: recordIdOf(TEST_CHAIN_ID, anchor.hash),
      accessTx: accessTx as Uint8Array,
      close: async () => {
        if (srv !== undefined) await srv.close()
        await h.close()
      }
    }
  } catch (err) {
    if (server !== undefined) await server.close()
    await h.close()
    throw err
  }
}
