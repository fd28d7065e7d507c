/**
 * Test factories shared by every suite: deterministic keys, signed transactions, genesis.
 * Deterministic: the same label always gives the same key, so failures reproduce.
 */
import { createHash } from 'node:crypto'
import { createSigner, type Signer } from '../../src/crypto/ed25519.js'
import { signTx, type Tx, type TxPayload } from '../../src/types/tx.js'
import type { Genesis } from '../../src/types/genesis.js'

export const TEST_CHAIN_ID = 'medchain-test'
export const GENESIS_TIME = Date.UTC(2026, 0, 1)

/** A signer whose seed is sha256(label). */
export function makeKeys (label: string): Signer {
  return createSigner(new Uint8Array(createHash('sha256').update(`medchain-test-key/${label}`).digest()))
}

export function makeTx (signer: Signer, nonce: number, payload: TxPayload, chainId = TEST_CHAIN_ID): Tx {
  return signTx({ chainId, from: signer.publicKey, nonce, payload }, signer)
}

/** A genesis with the given hospitals; each hospital runs one validator keyed `${label}/validator`. */
export function makeGenesis (hospitalLabels: string[] = ['hospital-a'], chainId = TEST_CHAIN_ID): Genesis {
  return {
    chainId,
    genesisTime: GENESIS_TIME,
    hospitals: hospitalLabels.map((l) => ({ publicKey: makeKeys(l).publicKey, name: l })),
    validators: hospitalLabels.map((l) => ({ publicKey: makeKeys(`${l}/validator`).publicKey, power: 1, hospital: makeKeys(l).publicKey }))
  }
}

/** 32 deterministic bytes, e.g. for content hashes. */
export function bytes32 (label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(label).digest())
}
