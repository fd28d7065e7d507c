import { MedchainError } from '../util/errors.js'

/** Errors of the CLI itself (where its inputs come from), as opposed to the operations it calls. */
export type CliErrorType =
  | { code: 'CLI_NO_PASSPHRASE' }
  | { code: 'CLI_EMPTY_PASSPHRASE', source: string }
  | { code: 'CLI_PASSPHRASE_MISMATCH' }
  | { code: 'CLI_CANCELLED' }
  | { code: 'CLI_FILE_UNREADABLE', path: string, errno: string }
  | { code: 'CLI_BAD_SECRET_FILE', path: string, reason: string }

export class CliError extends MedchainError<CliErrorType> {}
