/**
 * Errors of the consensus layer: refused peer messages (the `reason` of a 'rejected' engine action
 * is one of these codes) and sign-state storage problems.
 */
import { MedchainError } from '../util/errors.js'

export type ConsensusErrorType =
  | { code: 'MSG_MALFORMED', reason: string }
  | { code: 'MSG_TOO_LARGE', size: number, limit: number }
  | { code: 'MSG_UNKNOWN_KIND', kind: number }
  | { code: 'MSG_WRONG_CHAIN', chainId: string }
  | { code: 'MSG_BAD_SIGNATURE', signer: string }
  | { code: 'MSG_NOT_VALIDATOR', signer: string }
  | { code: 'MSG_NOT_PROPOSER', signer: string, expected: string }
  | { code: 'MSG_BAD_ROUND', round: number, current: number }
  | { code: 'MSG_BAD_POL_ROUND', polRound: number, round: number }
  | { code: 'MSG_BAD_BLOCK', reason: string }
  | { code: 'SIGN_STATE_CORRUPT', path: string, reason: string }

export type ConsensusErrorCode = ConsensusErrorType['code']

export class ConsensusError extends MedchainError<ConsensusErrorType> {}
