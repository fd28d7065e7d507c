/**
 * The proof bundles: JSON documents a patient can keep and verify offline (verify.ts) against
 * nothing but the chain's genesis file. Every signed or hashed object travels as its canonical
 * encoded bytes (lower-case hex), so the verifier decodes it with the chain's own strict decoders
 * and recomputes every hash; no JSON field is believed on its own.
 *
 *   TxProof     = { kind: "medchain/tx-proof", version: 1, chainId, validatorHistory, anchor }
 *   RecordProof = { kind: "medchain/record-proof", version: 1, chainId, recordId, patient,
 *                   grantee | null, validatorHistory, anchor, state }
 *
 *   validatorHistory[i] = { header, certificate, validatorSet }: block `header` (validated by the
 *     set in force before it, which `certificate` signs) whose nextValidatorsHash commits to
 *     `validatorSet`, the set in force from header.height + 1. Oldest first; every change after
 *     genesis up to the highest block the bundle proves anything about.
 *   anchor = { header, certificate, tx, txProof, receipt, receiptProof }: the block and its
 *     certificate; `tx` under header.txRoot (leaf: the tx hash), `receipt` under header.resultsRoot
 *     (leaf: the encoded receipt), both with RFC 6962 inclusion proofs (merkle.ts).
 *   state = { header, certificate, smtRoot, auditRoot, entries }: the head block when the bundle
 *     was built; stateRoot = H('medchain/state/v1', chainId, smtRoot || auditRoot); each entry is a
 *     state key with its value bytes (null = absent) and a sparse-Merkle proof under smtRoot.
 */

export const TX_PROOF_KIND = 'medchain/tx-proof'
export const RECORD_PROOF_KIND = 'medchain/record-proof'
export const PROOF_VERSION = 1

/** Inclusion proof in a block's tx or results tree (merkle.ts), siblings from the leaf up. */
export interface MerkleProofJson { index: number, total: number, siblings: string[] }

/** Sparse Merkle proof (smt.ts): siblings from the root down; `leaf` null = the path ends empty. */
export interface SmtProofJson { siblings: string[], leaf: { keyHash: string, valueHash: string } | null }

export interface CertifiedHeaderJson {
  /** encodeHeader bytes. */
  header: string
  /** encodeCertificate bytes of the commit certificate of that block. */
  certificate: string
}

export interface ValidatorTransitionJson extends CertifiedHeaderJson {
  /** encodeValidatorSet bytes of the set in force from header.height + 1. */
  validatorSet: string
}

export interface TxInclusionJson extends CertifiedHeaderJson {
  /** The transaction's canonical bytes. */
  tx: string
  txProof: MerkleProofJson
  /** encodeReceipt bytes. */
  receipt: string
  receiptProof: MerkleProofJson
}

export interface StateEntryJson {
  /** The state key as the contract spells it (src/contracts/keys.ts), e.g. "record/<hex>". */
  key: string
  /** The value bytes, or null when the proof shows the key absent. */
  value: string | null
  proof: SmtProofJson
}

export interface StateProofJson extends CertifiedHeaderJson {
  smtRoot: string
  auditRoot: string
  entries: StateEntryJson[]
}

export interface TxProof {
  kind: typeof TX_PROOF_KIND
  version: typeof PROOF_VERSION
  chainId: string
  validatorHistory: ValidatorTransitionJson[]
  anchor: TxInclusionJson
}

export interface RecordProof {
  kind: typeof RECORD_PROOF_KIND
  version: typeof PROOF_VERSION
  chainId: string
  recordId: string
  patient: string
  /** The grantee whose consent index the bundle proves (inclusion or absence), if one was asked for. */
  grantee: string | null
  validatorHistory: ValidatorTransitionJson[]
  anchor: TxInclusionJson
  state: StateProofJson
}
