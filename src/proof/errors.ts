/**
 * Errors of proof verification (src/proof/verify.ts). Each code names the part of a proof bundle
 * that failed; `details.part` says which one (e.g. "validatorHistory[1]", "block", "head",
 * "state[record/…]").
 */
import { MedchainError } from '../util/errors.js'

export type ProofErrorType =
  /** Building: the node cannot prove this (unknown tx or record, or a certificate it does not hold). */
  | { code: 'PROOF_UNAVAILABLE', what: string, reason: string }
  /** The bundle is not a medchain proof of the expected kind, or a field does not decode. */
  | { code: 'PROOF_MALFORMED', part: string, reason: string }
  /** The bundle is for a chain other than the trusted genesis. */
  | { code: 'PROOF_WRONG_CHAIN', expected: string, got: string }
  /** The validator-set history does not lead from the genesis set to the sets the headers name. */
  | { code: 'PROOF_VALIDATOR_HISTORY', part: string, reason: string }
  /** A commit certificate does not verify; `commitCode` is the CommitError code, `validator` the signer at fault. */
  | { code: 'PROOF_COMMIT', part: string, commitCode: string, validator?: string }
  | { code: 'PROOF_TX_INCLUSION', part: string }
  | { code: 'PROOF_RECEIPT_INCLUSION', part: string }
  /** The record id, record state or audit line does not match the proven transaction. */
  | { code: 'PROOF_RECORD_MISMATCH', part: string, reason: string }
  /** A state entry does not verify under the head's state root. */
  | { code: 'PROOF_STATE', part: string, reason: string }

export type ProofErrorCode = ProofErrorType['code']

export class ProofError extends MedchainError<ProofErrorType> {}
