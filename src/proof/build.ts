/**
 * Building proof bundles (types.ts) on the node, from what a Chain stores: blocks, certificates,
 * receipts, the validator-set changes and the committed state tree. Read-only.
 *
 * A record proof's state part is taken in one synchronous step (tree root, audit root, values and
 * head height together), and its tree proofs are read at that head's tree version (kept readable
 * for the chain's last `keepVersions` heights), so a block imported while the bundle is built
 * cannot mix two states.
 */
import { encodeCertificate, encodeHeader } from '../types/block.js'
import type { Chain } from '../chain/chain.js'
import { merkleProof, type MerkleProof } from '../types/merkle.js'
import type { SmtProof } from '../types/smtProof.js'
import { stateKeyHash } from '../chain/stateOverlay.js'
import { recordIdOf, TxType } from '../types/tx.js'
import { byteKey, equalBytes, toHex } from '../crypto/bytes.js'
import { decodeAuditEntry, getGrant, getRecord, StateKeys } from '../contracts/index.js'
import { decodeGrantIdList } from './stateValues.js'
import { ProofError } from './errors.js'
import {
  PROOF_VERSION, RECORD_PROOF_KIND, TX_PROOF_KIND,
  type CertifiedHeaderJson, type MerkleProofJson, type RecordProof, type SmtProofJson, type StateEntryJson, type TxInclusionJson, type TxProof,
  type ValidatorTransitionJson
} from './types.js'

function unavailable (what: string, reason: string): ProofError {
  return new ProofError({ code: 'PROOF_UNAVAILABLE', what, reason }, `${reason}.`)
}

function merkleJson (p: MerkleProof): MerkleProofJson {
  return { index: p.index, total: p.total, siblings: p.siblings.map(toHex) }
}

function smtJson (p: SmtProof): SmtProofJson {
  return { siblings: p.siblings.map(toHex), leaf: p.leaf === undefined ? null : { keyHash: toHex(p.leaf.keyHash), valueHash: toHex(p.leaf.valueHash) } }
}

/** Block `height`'s header and commit certificate, encoded. */
async function certifiedHeader (chain: Chain, height: number): Promise<CertifiedHeaderJson> {
  const header = await chain.getHeader(height)
  if (header === undefined) throw unavailable('block', `This node has no block ${height}`)
  const certificate = await chain.getCertificate(height)
  if (certificate === undefined) throw unavailable('certificate', `This node does not hold the commit certificate of block ${height} yet; ask again after the next block`)
  return { header: toHex(encodeHeader(header)), certificate: toHex(encodeCertificate(certificate)) }
}

/** Every validator-set change in force at or before `maxHeight`, with the block that committed to it. */
export async function buildValidatorHistory (chain: Chain, maxHeight: number): Promise<ValidatorTransitionJson[]> {
  const out: ValidatorTransitionJson[] = []
  for (const change of await chain.listValidatorSetChanges(maxHeight)) {
    out.push({ ...(await certifiedHeader(chain, change.fromHeight - 1)), validatorSet: toHex(change.encodedSet) })
  }
  return out
}

async function txInclusion (chain: Chain, height: number, index: number): Promise<TxInclusionJson> {
  const block = await chain.getBlock(height)
  const receipts = await chain.getBlockReceiptBytes(height)
  if (block === undefined || receipts === undefined) throw unavailable('block', `This node has no block ${height}`)
  const tx = block.txs[index]
  const receipt = receipts[index]
  if (tx === undefined || receipt === undefined) throw unavailable('tx', `Block ${height} has no transaction ${index}`)
  return {
    ...(await certifiedHeader(chain, height)),
    tx: toHex(tx.bytes),
    txProof: merkleJson(merkleProof(block.txs.map((t) => t.hash), index)),
    receipt: toHex(receipt),
    receiptProof: merkleJson(merkleProof(receipts, index))
  }
}

/** A transaction, its receipt and the certified block holding them, with the validator history up to it. */
export async function buildTxProof (chain: Chain, txHash: Uint8Array): Promise<TxProof> {
  const loc = await chain.getTxLocation(txHash)
  if (loc === undefined) throw unavailable('tx', `No transaction ${toHex(txHash)} is in a block on this node`)
  return {
    kind: TX_PROOF_KIND,
    version: PROOF_VERSION,
    chainId: chain.chainId,
    validatorHistory: await buildValidatorHistory(chain, loc.height),
    anchor: await txInclusion(chain, loc.height, loc.index)
  }
}

export interface RecordProofOptions {
  /** Also prove this grantee's consent index entry for the record's patient (inclusion or absence). */
  grantee?: Uint8Array
  /**
   * Whose consent entries to include: the given grantees only (a reader other than the patient sees
   * only its own), or by default every grantee on the patient's audit trail (Grant entries).
   */
  grantees?: readonly Uint8Array[]
}

/**
 * A record's anchoring transaction (certified) plus, at the head, the record's state (supersededBy)
 * and the patient's consent entries: `grants/<patient>/<grantee>` index entries and the
 * `grant/<id>` entries they list or the audit trail names.
 */
export async function buildRecordProof (chain: Chain, recordId: Uint8Array, opts: RecordProofOptions = {}): Promise<RecordProof> {
  const record = getRecord(chain.stateView, recordId)
  if (record === undefined) throw unavailable('record', `No record ${toHex(recordId)} is anchored on this chain`)
  const patient = record.patient
  const block = await chain.getBlock(record.anchoredAt)
  if (block === undefined) throw unavailable('block', `This node has no block ${record.anchoredAt}`)
  const index = block.txs.findIndex((tx) => equalBytes(recordIdOf(chain.chainId, tx.hash), recordId))
  if (index < 0) throw unavailable('tx', `Block ${record.anchoredAt} holds no transaction anchoring record ${toHex(recordId)}`)
  const anchor = await txInclusion(chain, record.anchoredAt, index)

  // grantees and grant ids named by the audit trail (async reads, before the synchronous state step)
  const trailGrantIds: Uint8Array[] = []
  let grantees: Uint8Array[]
  if (opts.grantees !== undefined) {
    grantees = [...opts.grantees]
  } else {
    grantees = []
    for (const { entry } of await chain.listAuditByPatient(patient, { limit: Number.POSITIVE_INFINITY })) {
      const e = decodeAuditEntry(entry)
      if (e.action !== TxType.Grant || e.result !== 'OK') continue
      trailGrantIds.push(e.txHash)
      const grant = getGrant(chain.stateView, e.txHash)
      if (grant !== undefined) grantees.push(grant.grantee)
    }
  }
  if (opts.grantee !== undefined) grantees.push(opts.grantee)

  // one synchronous step: the head, its tree root, its audit root and the values; the proofs are
  // then read at the head's tree version, which stays readable while newer blocks are imported
  const head = chain.head.height
  const treeRoot = chain.stateTreeRoot
  const auditRoot = chain.auditRoot
  const state = chain.stateView
  const keys: string[] = []
  const seen = new Set<string>()
  const addKey = (key: string): void => { if (!seen.has(key)) { seen.add(key); keys.push(key) } }
  addKey(StateKeys.record(recordId))
  const seenGrantees = new Set<string>()
  for (const grantee of grantees) {
    if (seenGrantees.has(byteKey(grantee))) continue
    seenGrantees.add(byteKey(grantee))
    const indexKey = StateKeys.grantIndex(patient, grantee)
    addKey(indexKey)
    const indexValue = state.get(indexKey)
    if (indexValue !== undefined) for (const id of decodeGrantIdList(indexValue)) addKey(StateKeys.grant(id))
  }
  for (const id of trailGrantIds) {
    const grant = getGrant(state, id)
    if (grant !== undefined && (opts.grantees === undefined || seenGrantees.has(byteKey(grant.grantee)))) addKey(StateKeys.grant(id))
  }
  const read = keys.map((key) => ({ key, value: state.get(key) }))
  const entries: StateEntryJson[] = []
  for (const { key, value } of read) {
    entries.push({ key, value: value === undefined ? null : toHex(value), proof: smtJson(await chain.proveState(stateKeyHash(key), head)) })
  }
  const smtRoot = toHex(treeRoot)
  const auditRootHex = toHex(auditRoot)

  return {
    kind: RECORD_PROOF_KIND,
    version: PROOF_VERSION,
    chainId: chain.chainId,
    recordId: toHex(recordId),
    patient: toHex(patient),
    grantee: opts.grantee === undefined ? null : toHex(opts.grantee),
    validatorHistory: await buildValidatorHistory(chain, head),
    anchor,
    state: { ...(await certifiedHeader(chain, head)), smtRoot, auditRoot: auditRootHex, entries }
  }
}
