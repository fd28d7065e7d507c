/**
 * The simulator's transaction load: a hospital registering clinicians, a few transactions per
 * tick with consecutive nonces, sent by the "client" to every running node's mempool (a hospital
 * client talks to its own node; gossip is not what is tested here). Transactions not yet committed
 * are re-sent every tick, so a node that was down or wiped gets them again and no nonce gap stalls
 * the load.
 */
import { createHash } from 'node:crypto'
import { ClinicianRole, signTx, TxType, type Tx } from '../types/tx.js'
import { getSenderNonce } from '../contracts/index.js'
import { createSigner, type Signer } from '../crypto/ed25519.js'
import type { SimNode } from './simNode.js'

export interface WorkloadOptions {
  chainId: string
  /** The hospital that registers clinicians (an active genesis hospital). */
  hospital: Signer
  /** New transactions per tick. */
  perTick: number
  /** Most transactions created but not committed (below the mempool's nonce gap). */
  maxPending?: number
}

export class Workload {
  private nextNonce = 0
  private pending: Tx[] = []
  created = 0

  constructor (private readonly opts: WorkloadOptions) {}

  tick (nodes: readonly SimNode[]): void {
    let committedNonce = 0
    for (const node of nodes) {
      const chain = node.chain
      if (chain === undefined || !node.honest) continue
      committedNonce = Math.max(committedNonce, getSenderNonce(chain.stateView, this.opts.hospital.publicKey) ?? 0)
    }
    this.pending = this.pending.filter((tx) => tx.nonce >= committedNonce)
    this.nextNonce = Math.max(this.nextNonce, committedNonce)
    const maxPending = this.opts.maxPending ?? 48
    for (let i = 0; i < this.opts.perTick && this.pending.length < maxPending; i++) this.pending.push(this.registerClinician(this.nextNonce++))
    for (const node of nodes) {
      if (!node.isUp) continue
      for (const tx of this.pending) node.submitTx(tx)
    }
  }

  private registerClinician (nonce: number): Tx {
    const clinician = createSigner(new Uint8Array(createHash('sha256').update(`medchain-sim-key/clinician/${nonce}`).digest()))
    this.created++
    return signTx({
      chainId: this.opts.chainId,
      from: this.opts.hospital.publicKey,
      nonce,
      payload: { type: TxType.RegisterClinician, publicKey: clinician.publicKey, name: `Dr. Sim ${nonce}`, role: nonce % 2 === 0 ? ClinicianRole.Doctor : ClinicianRole.Nurse }
    }, this.opts.hospital)
  }
}
