/**
 * Commit certificates: `verifyCommit` checks that a certificate holds precommits for one block
 * from more than 2/3 of a validator set's voting power. It needs nothing but the validator set,
 * which is what block sync and a patient's finality proof rest on.
 */
import { equalBytes, toHex } from '../crypto/bytes.js'
import type { CommitCertificate } from './block.js'
import { findValidator, quorumPower, type ValidatorSet } from './validatorSet.js'
import { MedchainError } from '../util/errors.js'
import { verifyConsensusSignature, VoteType, voteSigningBytes } from './vote.js'

export type CommitErrorType =
  | { code: 'COMMIT_WRONG_BLOCK' }
  | { code: 'COMMIT_WRONG_HEIGHT', expected: number, got: number }
  | { code: 'COMMIT_UNKNOWN_VALIDATOR', validator: string }
  | { code: 'COMMIT_DUPLICATE_VALIDATOR', validator: string }
  | { code: 'COMMIT_BAD_SIGNATURE', validator: string }
  | { code: 'COMMIT_INSUFFICIENT_POWER', power: number, needed: number }

export class CommitError extends MedchainError<CommitErrorType> {}

/**
 * Throws CommitError unless `cert` commits `blockHash` at `height` with signatures from more
 * than 2/3 of `validatorSet`'s power. Every signature must be valid and from a distinct member.
 */
export function verifyCommit (chainId: string, validatorSet: ValidatorSet, blockHash: Uint8Array, height: number, cert: CommitCertificate): void {
  if (cert.height !== height) throw new CommitError({ code: 'COMMIT_WRONG_HEIGHT', expected: height, got: cert.height }, `The commit certificate is for height ${cert.height}, expected ${height}.`)
  if (!equalBytes(cert.blockHash, blockHash)) throw new CommitError({ code: 'COMMIT_WRONG_BLOCK' }, 'The commit certificate is for a different block.')
  const seen = new Set<string>()
  let power = 0
  for (const s of cert.signatures) {
    const id = toHex(s.validator)
    const validator = findValidator(validatorSet, s.validator)
    if (validator === undefined) throw new CommitError({ code: 'COMMIT_UNKNOWN_VALIDATOR', validator: id }, `Validator ${id} in the commit certificate is not in the validator set.`)
    if (seen.has(id)) throw new CommitError({ code: 'COMMIT_DUPLICATE_VALIDATOR', validator: id }, `Validator ${id} signs the commit certificate twice.`)
    seen.add(id)
    const message = voteSigningBytes({ chainId, type: VoteType.Precommit, height, round: cert.round, blockHash, validator: s.validator })
    if (!verifyConsensusSignature(s.validator, message, s.signature)) throw new CommitError({ code: 'COMMIT_BAD_SIGNATURE', validator: id }, `The precommit signature of validator ${id} does not verify.`)
    power += validator.power
  }
  const needed = quorumPower(validatorSet.totalPower)
  if (power < needed) throw new CommitError({ code: 'COMMIT_INSUFFICIENT_POWER', power, needed }, `The commit certificate holds ${power} voting power; more than 2/3 (${needed}) is needed.`)
}
