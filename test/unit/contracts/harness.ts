/**
 * A tiny chain driver for contract tests: it does what the chain layer does around the contract
 * (nonce check and bump, per-tx context, endBlock between blocks) over a MemoryState, and checks on
 * EVERY transaction the contract's refusal invariant: a refused transaction changes no state value
 * (byte for byte), only the audit trail may grow.
 *
 * Strict mode (off unless `useStrictState` or a chain's `strict` turns it on) also checks the key
 * list of src/contracts/touchedKeys.ts on every transaction: the block so far is executed again
 * the chain's way (`executeBlockTxs`, end of the block included) from the state before the block,
 * through a StrictState loaded ONLY with `prefetchBlockKeysSync`'s result, and must read nothing
 * else and give the same receipts; when the block is committed, the full block must also leave the
 * same state and audit trail. A block in which the test wrote to `state` directly is not replayed
 * (counted in `strictStats.skippedBlocks`).
 */
import assert from 'node:assert/strict'
import type { Genesis } from '../../../src/types/genesis.js'
import type { Receipt } from '../../../src/types/receipt.js'
import { MemoryState, StrictState } from '../../../src/types/state.js'
import { ClinicianRole, OrganizationKind, Purpose, recordIdOf, TX_TYPE_NAMES, TxType, type Tx, type TxPayload } from '../../../src/types/tx.js'
import { equalBytes } from '../../../src/crypto/bytes.js'
import type { Signer } from '../../../src/crypto/ed25519.js'
import {
  accessControlApp, decodeAuditEntry, endBlock, executeTx, getSenderNonce, initGenesisState, prefetchBlockKeysSync, setSenderNonce, type AuditEntry
} from '../../../src/contracts/index.js'
import { executeBlockTxs } from '../../../src/chain/execute.js'
import type { BlockContext, ExecContext } from '../../../src/types/application.js'
import { bytes32, GENESIS_TIME, makeGenesis, makeKeys, makeTx, TEST_CHAIN_ID } from '../../utils/factories.js'

/** Milliseconds between two test blocks. */
export const BLOCK_MS = 1000
export const DAY_MS = 24 * 60 * 60 * 1000

const signers = new Map<string, Signer>()

/** The deterministic signer of a label (cached). */
export function key (label: string): Signer {
  let s = signers.get(label)
  if (s === undefined) {
    s = makeKeys(label)
    signers.set(label, s)
  }
  return s
}

export function pk (label: string): Uint8Array {
  return key(label).publicKey
}

export interface Submitted {
  tx: Tx
  receipt: Receipt
  ctx: ExecContext
  /** State keys whose value changed (set, replaced or deleted) during executeTx. */
  changedKeys: string[]
  /** Audit entries appended during executeTx, decoded, with the patient they were filed under. */
  audit: Array<{ patient: Uint8Array, entry: AuditEntry }>
}

export function changedKeys (before: ReadonlyMap<string, Uint8Array>, after: ReadonlyMap<string, Uint8Array>): string[] {
  const out: string[] = []
  for (const [k, v] of after) {
    const old = before.get(k)
    if (old === undefined || !equalBytes(old, v)) out.push(k)
  }
  for (const k of before.keys()) if (!after.has(k)) out.push(k)
  return out.sort()
}

/** How strict mode checks a chain's blocks. */
export interface StrictOptions {
  /** Drops loaded keys before execution: for tests showing that a missing key is caught. */
  omit?: (key: string) => boolean
}

let defaultStrict: StrictOptions | undefined

/** Turns strict mode on (options) or off (undefined) for every TestChain created afterwards. */
export function useStrictState (opts: StrictOptions | undefined): void {
  defaultStrict = opts
}

/** What strict mode checked in this process. */
export const strictStats = { replays: 0, committedBlocks: 0, skippedBlocks: 0, keysLoaded: 0 }

/** A MemoryState that counts its writes, so the harness can tell its own from a test's. */
class CountingState extends MemoryState {
  writeCount = 0

  override set (key: string, value: Uint8Array): void {
    this.writeCount++
    super.set(key, value)
  }

  override delete (key: string): void {
    this.writeCount++
    super.delete(key)
  }

  override appendAudit (patient: Uint8Array, entry: Uint8Array): void {
    this.writeCount++
    super.appendAudit(patient, entry)
  }

  override clone (): CountingState {
    const copy = new CountingState()
    for (const [k, v] of this.values) copy.values.set(k, v)
    copy.audit.push(...this.audit)
    copy.writeCount = this.writeCount
    return copy
  }
}

/** The block being built, as strict mode replays it. */
interface OpenBlock {
  /** The state before the block's first transaction. */
  pre: MemoryState
  txs: Tx[]
  receipts: Receipt[]
  height: number
  timestamp: number
  /** False once the test wrote to the state directly during the block. */
  replayable: boolean
}

export class TestChain {
  state: MemoryState = new CountingState()
  /** Strict mode for this chain (see the file comment); undefined = off. */
  strict: StrictOptions | undefined = defaultStrict
  private block: OpenBlock | undefined
  /** The state's write count after the harness's last own change. */
  private writeMark = 0
  /** Height of the block being built. */
  height = 1
  /** Timestamp of the block being built. */
  timestamp = GENESIS_TIME + BLOCK_MS
  /** Validators whose precommits the current block carries (its lastCommit); none by default. */
  lastCommitSigners: Uint8Array[] = []
  txIndex = 0
  readonly chainId: string
  /** Named ids created by helpers (records, grants, proposals). */
  readonly ids = new Map<string, Uint8Array>()

  constructor (genesis: Genesis) {
    this.chainId = genesis.chainId
    initGenesisState(this.state, genesis)
    this.writeMark = this.writeCount()
  }

  static withHospitals (labels: string[]): TestChain {
    return new TestChain(makeGenesis(labels))
  }

  clone (): TestChain {
    const copy = Object.create(TestChain.prototype) as TestChain
    const block = this.block === undefined ? undefined : { ...this.block, txs: [...this.block.txs], receipts: [...this.block.receipts] }
    Object.assign(copy, { ...this, state: this.state.clone(), ids: new Map(this.ids), block })
    return copy
  }

  id (name: string): Uint8Array {
    const v = this.ids.get(name)
    if (v === undefined) throw new Error(`test bug: no id named ${name}`)
    return v
  }

  /** Submits a transaction the way the chain layer does and checks the refusal invariant. */
  submit (signer: string | Signer, payload: TxPayload): Submitted {
    const open = this.strict === undefined ? undefined : this.openBlock()
    const s = typeof signer === 'string' ? key(signer) : signer
    const nonce = getSenderNonce(this.state, s.publicKey)
    assert.notEqual(nonce, undefined, 'the signer must be a registered identity')
    const tx = makeTx(s, nonce as number, payload, this.chainId)
    setSenderNonce(this.state, s.publicKey, (nonce as number) + 1)
    const before = new Map(this.state.values)
    const auditBefore = this.state.audit.length
    const ctx: ExecContext = { chainId: this.chainId, height: this.height, timestamp: this.timestamp, lastCommitSigners: this.lastCommitSigners, txIndex: this.txIndex, txHash: tx.hash }
    const receipt = executeTx(this.state, tx, ctx)
    this.txIndex++
    const changed = changedKeys(before, this.state.values)
    const audit = this.state.audit.slice(auditBefore).map(({ patient, entry }) => ({ patient, entry: decodeAuditEntry(entry) }))
    if (receipt.code !== 'OK') {
      assert.deepEqual(changed, [], `refused ${TX_TYPE_NAMES[payload.type]} (${receipt.code}) changed state`)
      assert.deepEqual(receipt.events, [])
    }
    assert.ok(audit.length <= 1, 'at most one audit entry per transaction')
    if (open !== undefined) {
      open.txs.push(tx)
      open.receipts.push(receipt)
      if (open.replayable) this.replayStrictly(open, false)
      this.writeMark = this.writeCount()
    }
    return { tx, receipt, ctx, changedKeys: changed, audit }
  }

  /** Submits and asserts the receipt code is OK. */
  ok (signer: string | Signer, payload: TxPayload): Submitted {
    const r = this.submit(signer, payload)
    assert.equal(r.receipt.code, 'OK', `expected OK, got ${r.receipt.code}: ${r.receipt.log}`)
    return r
  }

  /** Ends the current block (endBlock) and starts the next one, `ms` later (default BLOCK_MS). */
  commitBlock (ms = BLOCK_MS): void {
    const open = this.strict === undefined ? undefined : this.openBlock()
    endBlock(this.state, { chainId: this.chainId, height: this.height, timestamp: this.timestamp, lastCommitSigners: this.lastCommitSigners })
    if (open !== undefined) {
      if (open.replayable) {
        this.replayStrictly(open, true)
        strictStats.committedBlocks++
      } else {
        strictStats.skippedBlocks++
      }
      this.block = undefined
      this.writeMark = this.writeCount()
    }
    this.height++
    this.timestamp += ms
    this.txIndex = 0
  }

  /** Commits the current block and starts the next one at exactly `timestamp`. */
  commitBlockAt (timestamp: number): void {
    assert.ok(timestamp > this.timestamp, 'block time must increase')
    this.commitBlock(timestamp - this.timestamp)
  }

  // -- strict mode --------------------------------------------------------------------------

  private writeCount (): number {
    return this.state instanceof CountingState ? this.state.writeCount : -1
  }

  /** The block being built, opened (with the state before it) at its first transaction. */
  private openBlock (): OpenBlock {
    const b = this.block
    if (b === undefined) {
      this.block = { pre: this.state.clone(), txs: [], receipts: [], height: this.height, timestamp: this.timestamp, replayable: this.writeCount() >= 0 }
      return this.block
    }
    // a direct write by the test, or a block whose time was changed midway, cannot be replayed
    if (this.writeCount() !== this.writeMark || b.height !== this.height || b.timestamp !== this.timestamp) b.replayable = false
    return b
  }

  /**
   * Executes the block's transactions so far as the chain does, from the state before the block,
   * through a StrictState loaded only with the block's key list: throws STATE_KEY_NOT_LOADED on a
   * read outside it, and checks the receipts (and, for a committed block, the state and audit
   * trail) against what this chain got.
   */
  private replayStrictly (open: OpenBlock, committed: boolean): void {
    const ctx: BlockContext = { chainId: this.chainId, height: open.height, timestamp: open.timestamp, lastCommitSigners: this.lastCommitSigners }
    const pre = open.pre
    const loaded = prefetchBlockKeysSync(open.txs, ctx, (keys) => new Map(keys.map((k) => [k, pre.values.get(k)])))
    const omit = this.strict?.omit
    if (omit !== undefined) for (const k of [...loaded.keys()]) if (omit(k)) loaded.delete(k)
    strictStats.replays++
    strictStats.keysLoaded += loaded.size
    const strict = new StrictState(loaded)
    let out: ReturnType<typeof executeBlockTxs>
    try {
      out = executeBlockTxs(accessControlApp, strict, open.txs, ctx, { onInvalidTx: 'reject-block' })
    } finally {
      strict.assertNoMisses() // a miss throws out of executeTx already; this also catches one swallowed on the way
    }
    assert.deepEqual(out.receipts, open.receipts, 'the strict replay gives the receipts the test got')
    if (!committed) return
    const after = new Map(pre.values)
    for (const [k, v] of strict.writes) {
      if (v === null) after.delete(k)
      else after.set(k, v)
    }
    assert.deepEqual(changedKeys(after, this.state.values), [], 'the strict replay leaves the state the test got')
    assert.deepEqual(strict.appendedAudit, this.state.audit.slice(pre.audit.length), 'the strict replay appends the audit entries the test got')
  }

  // -- helpers that build common state --------------------------------------------------------

  registerClinician (hospital: string, label: string, role: ClinicianRole = ClinicianRole.Doctor): void {
    this.ok(hospital, { type: TxType.RegisterClinician, publicKey: pk(label), name: label, role })
  }

  registerOrganization (hospital: string, label: string, kind: OrganizationKind): void {
    this.ok(hospital, { type: TxType.RegisterOrganization, publicKey: pk(label), name: label, kind })
  }

  enrol (clinician: string, patient: string): void {
    this.ok(clinician, { type: TxType.EnrolPatient, publicKey: pk(patient) })
  }

  /** Anchors a record of `resourceType` for `patient` by `author`; stores its id under `name`. */
  anchor (author: string, patient: string, resourceType: string, name: string): Uint8Array {
    const r = this.ok(author, anchorPayload(patient, resourceType, name))
    const recordId = recordIdOf(this.chainId, r.tx.hash)
    this.ids.set(name, recordId)
    return recordId
  }

  /** Patient grants consent; stores the grant id under `name`. */
  grant (patient: string, grantee: string, opts: { purpose: Purpose, recordTypes?: string[], recordIds?: Uint8Array[], expiresAt?: number }, name: string): Uint8Array {
    const r = this.ok(patient, {
      type: TxType.Grant,
      grantee: pk(grantee),
      recordTypes: opts.recordTypes ?? [],
      recordIds: opts.recordIds ?? [],
      purpose: opts.purpose,
      expiresAt: opts.expiresAt ?? this.timestamp + 30 * DAY_MS,
      envelopes: []
    })
    this.ids.set(name, r.tx.hash)
    return r.tx.hash
  }
}

export function anchorPayload (patient: string, resourceType: string, content: string): TxPayload {
  return {
    type: TxType.AnchorRecord,
    patient: pk(patient),
    resourceType,
    contentHash: bytes32(content),
    size: 4096,
    blobRef: `blob/${content}`,
    envelopes: [{ recipient: pk(patient), wrappedKey: bytes32(`key/${content}`) }]
  }
}

export { ClinicianRole, OrganizationKind, Purpose, TEST_CHAIN_ID }
