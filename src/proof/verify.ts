/**
 * Offline verification of proof bundles (types.ts). Pure: the only thing trusted is the genesis
 * (its chain id and first validator set); everything else is recomputed from the bundle's bytes.
 *
 *  1. the bundle is for the genesis' chain (PROOF_WRONG_CHAIN);
 *  2. the validator history, oldest first: each transition header names the set in force
 *     (validatorsHash), is certified by it (verifyCommit), and its nextValidatorsHash is the hash of
 *     the new set the bundle gives, which is adopted from the next height (PROOF_VALIDATOR_HISTORY,
 *     PROOF_COMMIT);
 *  3. the block (and, for a record, the head) names the set in force at its height and is certified
 *     by it (PROOF_VALIDATOR_HISTORY, PROOF_COMMIT);
 *  4. the tx is under txRoot, its receipt under resultsRoot at the same index (PROOF_TX_INCLUSION,
 *     PROOF_RECEIPT_INCLUSION);
 *  5. record proofs: the record id is recordIdOf(tx), the tx anchors it, and the state entries verify
 *     under the head's stateRoot = H(state domain, chainId, smtRoot || auditRoot); the record's and
 *     the consents' values are decoded from the proven bytes (PROOF_RECORD_MISMATCH, PROOF_STATE).
 *
 * Anything unreadable is PROOF_MALFORMED. Returns a typed summary of what was proven.
 */
import { blockHash, decodeCertificate, decodeHeader, type BlockHeader, type CommitCertificate } from '../types/block.js'
import type { Genesis } from '../types/genesis.js'
import { verifyMerkleProof, type MerkleProof } from '../types/merkle.js'
import { decodeReceipt, RESULT_OK } from '../types/receipt.js'
import { verifySmtProof, type SmtProof } from '../types/smtProof.js'
import { decodeTx, recordIdOf, TX_TYPE_NAMES, TxType, type Tx } from '../types/tx.js'
import { decodeValidatorSet, findValidator, makeValidatorSet, quorumPower, validatorSetHash, type ValidatorSet } from '../types/validatorSet.js'
import { CommitError, verifyCommit } from '../types/commit.js'
import { concatBytes, equalBytes, fromHex, toHex, utf8 } from '../crypto/bytes.js'
import { Domain, hashWithDomain, sha256 } from '../crypto/hash.js'
import { PURPOSE_NAMES } from '../contracts/roles.js'
import { StateKeys } from '../contracts/keys.js'
import { decodeGrant, decodeRecord, type Grant } from '../contracts/schema.js'
import { ProofError } from './errors.js'
import { decodeGrantIdList } from './stateValues.js'
import {
  PROOF_VERSION, RECORD_PROOF_KIND, TX_PROOF_KIND,
  type CertifiedHeaderJson, type MerkleProofJson, type SmtProofJson, type TxInclusionJson
} from './types.js'

/** What the verifier trusts: the genesis file (chain id and first validator set). */
export type ProofTrust = Pick<Genesis, 'chainId' | 'validators'>

export interface CertifiedBlockSummary {
  height: number
  hash: string
  /** Block time, ms since the epoch. */
  time: number
  /** Voting power of the certificate's signers, the set's total, and the quorum (> 2/3). */
  signedPower: number
  totalPower: number
  quorum: number
  signers: string[]
}

export interface TxProofSummary {
  chainId: string
  txHash: string
  txType: string
  sender: string
  index: number
  block: CertifiedBlockSummary
  receipt: { code: string, log: string }
  /** Validator-set changes the verifier walked from genesis. */
  validatorChanges: number
}

/** A grant as JSON (hex keys and ids, names for purposes), as the proof and the RPC's consent_list show it. */
export interface GrantSummary {
  grantId: string
  grantee: string
  purpose: string
  expiresAt: number
  recordTypes: string[]
  recordIds: string[]
  grantedAt: number
  revokedAt: number | null
  /** At the head block's time. */
  status: 'live' | 'expired' | 'revoked'
}

export interface ConsentSummary extends GrantSummary {
  /** The grant's scope includes this record (by type, "*" or id). */
  coversRecord: boolean
}

/** An anchored record's metadata as JSON (hex keys and ids), as the proof and the RPC's record methods show it. */
export interface RecordSummary {
  recordId: string
  patient: string
  resourceType: string
  contentHash: string
  size: number
  blobRef: string
  author: string
  anchoredAt: number
  anchoredTime: number
  supersedes: string | null
  supersededBy: string | null
}

export interface RecordProofSummary {
  record: RecordSummary
  anchor: TxProofSummary
  head: CertifiedBlockSummary
  /** The proven consents of the patient (as of the head). */
  consents: ConsentSummary[]
  /** The asked-for grantee: its index entry exists (grantIds) or was proven absent (grantIds []). */
  grantee: { grantee: string, grantIds: string[], liveGrantCoversRecord: boolean } | null
}

// ------------------------------------------------------------------------------------------------
// reading the bundle

function malformed (part: string, reason: string): ProofError {
  return new ProofError({ code: 'PROOF_MALFORMED', part, reason }, `The proof's ${part} is malformed: ${reason}.`)
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function field (obj: unknown, name: string, part: string): unknown {
  if (!isObject(obj)) throw malformed(part, 'it is not a JSON object')
  if (!(name in obj)) throw malformed(part, `field "${name}" is missing`)
  return obj[name]
}

function hexField (obj: unknown, name: string, part: string, length?: number): Uint8Array {
  return hexValue(field(obj, name, part), name, part, length)
}

function hexValue (v: unknown, name: string, part: string, length?: number): Uint8Array {
  if (typeof v !== 'string' || v.length % 2 !== 0 || !/^[0-9a-f]*$/.test(v)) throw malformed(part, `"${name}" must be lower-case hex`)
  if (length !== undefined && v.length !== length * 2) throw malformed(part, `"${name}" must be ${length} bytes`)
  return fromHex(v)
}

function arrayField (obj: unknown, name: string, part: string, max = 4096): unknown[] {
  const v = field(obj, name, part)
  if (!Array.isArray(v) || v.length > max) throw malformed(part, `"${name}" must be a list of at most ${max} items`)
  return Array.from(v) // a sparse array's holes become undefined, which the item readers refuse
}

function intField (obj: unknown, name: string, part: string): number {
  const v = field(obj, name, part)
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw malformed(part, `"${name}" must be a non-negative integer`)
  return v
}

function decodeWith<T> (decode: () => T, part: string): T {
  try {
    return decode()
  } catch (err) {
    if (err instanceof ProofError) throw err
    throw malformed(part, err instanceof Error ? err.message.replace(/\.$/, '') : String(err))
  }
}

function readMerkleProof (obj: unknown, part: string): MerkleProof {
  const p = obj as MerkleProofJson
  return {
    index: intField(p, 'index', part),
    total: intField(p, 'total', part),
    siblings: arrayField(p, 'siblings', part, 64).map((v, i) => hexValue(v, `siblings[${i}]`, part, 32))
  }
}

function readSmtProof (obj: unknown, part: string): SmtProof {
  const p = obj as SmtProofJson
  const siblings = arrayField(p, 'siblings', part, 256).map((v, i) => hexValue(v, `siblings[${i}]`, part, 32))
  const leaf = field(p, 'leaf', part)
  if (leaf === null) return { siblings }
  return { siblings, leaf: { keyHash: hexField(leaf, 'keyHash', `${part}.leaf`, 32), valueHash: hexField(leaf, 'valueHash', `${part}.leaf`, 32) } }
}

interface Certified { header: BlockHeader, certificate: CommitCertificate }

function readCertified (obj: unknown, part: string, trust: ProofTrust): Certified {
  const c = obj as CertifiedHeaderJson
  const header = decodeWith(() => decodeHeader(hexField(c, 'header', part)), `${part}.header`)
  if (header.chainId !== trust.chainId) throw wrongChain(trust.chainId, header.chainId)
  const certificate = decodeWith(() => decodeCertificate(hexField(c, 'certificate', part)), `${part}.certificate`)
  return { header, certificate }
}

function wrongChain (expected: string, got: string): ProofError {
  return new ProofError({ code: 'PROOF_WRONG_CHAIN', expected, got }, `The proof is for chain "${got}", but the genesis is for "${expected}"; use the genesis file of the chain the proof came from.`)
}

// ------------------------------------------------------------------------------------------------
// validator sets and certificates

/** The validator sets the history proves: the genesis set from height 1, then each change. */
interface ValidatorSchedule {
  setAt: (height: number) => ValidatorSet
  changes: number
}

function certify (part: string, c: Certified, set: ValidatorSet, chainId: string): CertifiedBlockSummary {
  const { header, certificate } = c
  if (!equalBytes(header.validatorsHash, validatorSetHash(chainId, set))) {
    throw new ProofError({ code: 'PROOF_VALIDATOR_HISTORY', part, reason: 'validatorsHash' },
      `The ${part} header (height ${header.height}) names a validator set that the proof's validator history does not lead to.`)
  }
  const hash = blockHash(header)
  try {
    verifyCommit(chainId, set, hash, header.height, certificate)
  } catch (err) {
    if (!(err instanceof CommitError)) throw err
    const validator = 'validator' in err.type ? err.type.validator : undefined
    throw new ProofError({ code: 'PROOF_COMMIT', part, commitCode: err.code, ...(validator !== undefined ? { validator } : {}) },
      `The commit certificate of the ${part} (height ${header.height}) does not verify: ${err.message}`)
  }
  let signedPower = 0
  for (const s of certificate.signatures) signedPower += findValidator(set, s.validator)?.power ?? 0
  return {
    height: header.height,
    hash: toHex(hash),
    time: header.timestamp,
    signedPower,
    totalPower: set.totalPower,
    quorum: quorumPower(set.totalPower),
    signers: certificate.signatures.map((s) => toHex(s.validator))
  }
}

function verifyValidatorHistory (history: unknown, trust: ProofTrust): ValidatorSchedule {
  let current: ValidatorSet
  try {
    current = makeValidatorSet(trust.validators)
  } catch (err) {
    throw malformed('genesis', (err as Error).message)
  }
  const sets: Array<{ from: number, set: ValidatorSet }> = [{ from: 1, set: current }]
  if (!Array.isArray(history) || history.length > 100_000) throw malformed('validatorHistory', 'it must be a list')
  let lastHeight = 0
  history.forEach((item, i) => {
    const part = `validatorHistory[${i}]`
    const c = readCertified(item, part, trust)
    if (c.header.height <= lastHeight) {
      throw new ProofError({ code: 'PROOF_VALIDATOR_HISTORY', part, reason: 'order' }, `The ${part} header is not after the previous change; the history must be in height order.`)
    }
    certify(part, c, current, trust.chainId)
    const next = decodeWith(() => decodeValidatorSet(hexField(item, 'validatorSet', part)), `${part}.validatorSet`)
    if (!equalBytes(validatorSetHash(trust.chainId, next), c.header.nextValidatorsHash)) {
      throw new ProofError({ code: 'PROOF_VALIDATOR_HISTORY', part, reason: 'nextValidatorsHash' },
        `The validator set in ${part} is not the one its header's nextValidatorsHash commits to.`)
    }
    lastHeight = c.header.height
    current = next
    sets.push({ from: c.header.height + 1, set: next })
  })
  return {
    setAt: (height) => {
      let found = sets[0] as { set: ValidatorSet }
      for (const s of sets) if (s.from <= height) found = s
      return found.set
    },
    changes: history.length
  }
}

// ------------------------------------------------------------------------------------------------
// transactions

function checkHeader (bundle: unknown, kind: string, trust: ProofTrust): void {
  if (!isObject(bundle)) throw malformed('bundle', 'it is not a JSON object')
  if (bundle.kind !== kind) throw malformed('bundle', `"kind" must be "${kind}"`)
  if (bundle.version !== PROOF_VERSION) throw malformed('bundle', `"version" must be ${PROOF_VERSION}`)
  if (typeof bundle.chainId !== 'string') throw malformed('bundle', '"chainId" is missing')
  if (bundle.chainId !== trust.chainId) throw wrongChain(trust.chainId, bundle.chainId)
}

function verifyInclusion (anchorJson: unknown, schedule: ValidatorSchedule, trust: ProofTrust): { summary: TxProofSummary, tx: Tx, header: BlockHeader } {
  const a = anchorJson as TxInclusionJson
  const c = readCertified(a, 'block', trust)
  const block = certify('block', c, schedule.setAt(c.header.height), trust.chainId)
  const tx = decodeWith(() => decodeTx(hexField(a, 'tx', 'anchor')), 'anchor.tx')
  if (tx.chainId !== trust.chainId) throw wrongChain(trust.chainId, tx.chainId)
  const txProof = readMerkleProof(field(a, 'txProof', 'anchor'), 'anchor.txProof')
  if (!verifyMerkleProof(c.header.txRoot, tx.hash, txProof)) {
    throw new ProofError({ code: 'PROOF_TX_INCLUSION', part: 'anchor.txProof' }, `The transaction is not in block ${c.header.height}: its inclusion proof does not lead to the header's txRoot.`)
  }
  const receiptBytes = hexField(a, 'receipt', 'anchor')
  const receipt = decodeWith(() => decodeReceipt(receiptBytes), 'anchor.receipt')
  const receiptProof = readMerkleProof(field(a, 'receiptProof', 'anchor'), 'anchor.receiptProof')
  if (receiptProof.index !== txProof.index || receiptProof.total !== txProof.total || !verifyMerkleProof(c.header.resultsRoot, receiptBytes, receiptProof)) {
    throw new ProofError({ code: 'PROOF_RECEIPT_INCLUSION', part: 'anchor.receiptProof' }, `The receipt is not the transaction's result in block ${c.header.height}: its proof does not lead to the header's resultsRoot at the transaction's index.`)
  }
  return {
    tx,
    header: c.header,
    summary: {
      chainId: trust.chainId,
      txHash: toHex(tx.hash),
      txType: TX_TYPE_NAMES[tx.payload.type] ?? String(tx.payload.type),
      sender: toHex(tx.from),
      index: txProof.index,
      block,
      receipt: { code: receipt.code, log: receipt.log },
      validatorChanges: schedule.changes
    }
  }
}

/** Verifies a tx proof against the genesis; throws ProofError naming the failing part. */
export function verifyTxProof (bundle: unknown, trust: ProofTrust): TxProofSummary {
  checkHeader(bundle, TX_PROOF_KIND, trust)
  const schedule = verifyValidatorHistory(field(bundle, 'validatorHistory', 'bundle'), trust)
  return verifyInclusion(field(bundle, 'anchor', 'bundle'), schedule, trust).summary
}

// ------------------------------------------------------------------------------------------------
// records and state

function mismatch (part: string, reason: string, message: string): ProofError {
  return new ProofError({ code: 'PROOF_RECORD_MISMATCH', part, reason }, message)
}

function stateError (part: string, reason: string, message: string): ProofError {
  return new ProofError({ code: 'PROOF_STATE', part, reason }, message)
}

function grantStatus (g: Grant, headTime: number): ConsentSummary['status'] {
  return g.revokedAt !== undefined ? 'revoked' : headTime >= g.expiresAt ? 'expired' : 'live'
}

/** Verifies a record proof against the genesis; throws ProofError naming the failing part. */
export function verifyRecordProof (bundle: unknown, trust: ProofTrust): RecordProofSummary {
  checkHeader(bundle, RECORD_PROOF_KIND, trust)
  const recordId = hexField(bundle, 'recordId', 'bundle', 32)
  const patient = hexField(bundle, 'patient', 'bundle', 32)
  const granteeRaw = field(bundle, 'grantee', 'bundle')
  const grantee = granteeRaw === null ? undefined : hexField(bundle, 'grantee', 'bundle', 32)
  const schedule = verifyValidatorHistory(field(bundle, 'validatorHistory', 'bundle'), trust)

  // the anchoring transaction
  const { summary: anchor, tx, header: anchorHeader } = verifyInclusion(field(bundle, 'anchor', 'bundle'), schedule, trust)
  if (!equalBytes(recordIdOf(trust.chainId, tx.hash), recordId)) {
    throw mismatch('recordId', 'recordIdOf', 'The record id is not the one the proven transaction anchors.')
  }
  const payload = tx.payload
  if (payload.type !== TxType.AnchorRecord) throw mismatch('anchor.tx', 'type', 'The proven transaction is not an AnchorRecord.')
  if (anchor.receipt.code !== RESULT_OK) throw mismatch('anchor.receipt', 'refused', `The anchoring transaction was refused (${anchor.receipt.code}): no record was anchored.`)

  // the head and its state root
  const stateJson = field(bundle, 'state', 'bundle')
  const headC = readCertified(stateJson, 'head', trust)
  if (headC.header.height < anchorHeader.height) throw malformed('head', 'the head is below the anchoring block')
  const head = certify('head', headC, schedule.setAt(headC.header.height), trust.chainId)
  const smtRoot = hexField(stateJson, 'smtRoot', 'state', 32)
  const auditRoot = hexField(stateJson, 'auditRoot', 'state', 32)
  if (!equalBytes(hashWithDomain(Domain.state, trust.chainId, concatBytes(smtRoot, auditRoot)), headC.header.stateRoot)) {
    throw stateError('state', 'stateRoot', 'The state tree and audit roots do not hash to the head block\'s stateRoot.')
  }

  // every state entry under smtRoot
  const values = new Map<string, Uint8Array | null>()
  arrayField(stateJson, 'entries', 'state', 100_000).forEach((entry, i) => {
    const key = field(entry, 'key', `state.entries[${i}]`)
    if (typeof key !== 'string' || key.length === 0 || key.length > 512) throw malformed(`state.entries[${i}]`, '"key" must be a state key')
    const part = `state[${key}]`
    if (values.has(key)) throw malformed(part, 'the key appears twice')
    const raw = field(entry, 'value', part)
    const value = raw === null ? null : hexField(entry, 'value', part)
    const proof = readSmtProof(field(entry, 'proof', part), `${part}.proof`)
    if (!verifySmtProof(smtRoot, sha256(utf8(key)), value === null ? undefined : sha256(value), proof)) {
      throw stateError(part, value === null ? 'absence' : 'inclusion',
        `The state entry ${key} does not verify under the head's state root (${value === null ? 'absence' : 'inclusion'} proof).`)
    }
    values.set(key, value)
  })
  const proven = (key: string): Uint8Array | null => {
    if (!values.has(key)) throw malformed('state', `the bundle does not prove ${key}`)
    return values.get(key) ?? null
  }

  // the record as stored at the head
  const recordKey = StateKeys.record(recordId)
  const recordBytes = proven(recordKey)
  if (recordBytes === null) throw stateError(`state[${recordKey}]`, 'absent', 'The head state proves the record absent.')
  const record = decodeWith(() => decodeRecord(recordBytes), `state[${recordKey}]`)
  if (!equalBytes(record.patient, patient) || !equalBytes(payload.patient, patient)) throw mismatch('patient', 'patient', 'The record belongs to another patient than the proof names.')
  if (!equalBytes(record.contentHash, payload.contentHash) || record.resourceType !== payload.resourceType || record.anchoredAt !== anchorHeader.height || !equalBytes(record.author, tx.from)) {
    throw mismatch(`state[${recordKey}]`, 'record', 'The record state does not match its anchoring transaction.')
  }

  // consents: each index entry of this patient, and every grant entry
  const consents: ConsentSummary[] = []
  const grantIndexPrefix = `grants/${toHex(patient)}/`
  const covers = (g: Grant): boolean => g.recordIds.some((id) => equalBytes(id, recordId)) || g.recordTypes.includes('*') || g.recordTypes.includes(record.resourceType)
  for (const [key, value] of values) {
    if (key.startsWith(grantIndexPrefix) && value !== null) {
      for (const id of decodeWith(() => decodeGrantIdList(value), `state[${key}]`)) {
        if (proven(StateKeys.grant(id)) === null) throw stateError(`state[${key}]`, 'grant absent', `The consent index ${key} lists grant ${toHex(id)}, which the head state proves absent.`)
      }
    }
    if (!key.startsWith('grant/') || value === null) continue
    const g = decodeWith(() => decodeGrant(value), `state[${key}]`)
    if (!equalBytes(g.patient, patient)) throw mismatch(`state[${key}]`, 'patient', `The grant ${key} is from another patient.`)
    consents.push({
      grantId: key.slice('grant/'.length),
      grantee: toHex(g.grantee),
      purpose: PURPOSE_NAMES[g.purpose],
      expiresAt: g.expiresAt,
      recordTypes: g.recordTypes,
      recordIds: g.recordIds.map(toHex),
      grantedAt: g.grantedAt,
      revokedAt: g.revokedAt ?? null,
      status: grantStatus(g, headC.header.timestamp),
      coversRecord: covers(g)
    })
  }
  let granteeSummary: RecordProofSummary['grantee'] = null
  if (grantee !== undefined) {
    const indexValue = proven(StateKeys.grantIndex(patient, grantee))
    const ids = indexValue === null ? [] : decodeWith(() => decodeGrantIdList(indexValue), 'state[grants]').map(toHex)
    granteeSummary = {
      grantee: toHex(grantee),
      grantIds: ids,
      liveGrantCoversRecord: consents.some((c) => ids.includes(c.grantId) && c.status === 'live' && c.coversRecord)
    }
  }
  return {
    record: {
      recordId: toHex(recordId),
      patient: toHex(patient),
      resourceType: record.resourceType,
      contentHash: toHex(record.contentHash),
      size: record.size,
      blobRef: record.blobRef,
      author: toHex(record.author),
      anchoredAt: record.anchoredAt,
      anchoredTime: record.anchoredTime,
      supersedes: record.supersedes === undefined ? null : toHex(record.supersedes),
      supersededBy: record.supersededBy === undefined ? null : toHex(record.supersededBy)
    },
    anchor,
    head,
    consents,
    grantee: granteeSummary
  }
}
