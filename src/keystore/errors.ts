/**
 * The errors of the keystore: one code per way a key file operation can fail, each with typed
 * details and a message that says what was wrong and what to do.
 */
import { MedchainError } from '../util/errors.js'

export type KeystoreErrorType =
  | { code: 'KEYSTORE_NOT_FOUND', name: string }
  | { code: 'KEYSTORE_EXISTS', name: string }
  | { code: 'KEYSTORE_BAD_PASSPHRASE', name: string }
  | { code: 'KEYSTORE_EMPTY_PASSPHRASE' }
  | { code: 'KEYSTORE_CORRUPT', path: string, reason: string }
  | { code: 'KEYSTORE_KEY_MISMATCH', name: string }
  | { code: 'KEYSTORE_BAD_NAME', name: string }
  | { code: 'KEYSTORE_INSECURE_PERMISSIONS', path: string, mode: number }
  | { code: 'KEYSTORE_IO', path: string, op: 'read' | 'write', errno: string }

export class KeystoreError extends MedchainError<KeystoreErrorType> {}

/** KEYSTORE_CORRUPT: the file at `path` is not a valid key file, for `reason`; `advice` says what to do. */
export function corrupt (path: string, reason: string, advice = 'restore it from your backup'): KeystoreError {
  return new KeystoreError({ code: 'KEYSTORE_CORRUPT', path, reason },
    `The key file ${path} is not a valid medchain key file (${reason}); ${advice}.`)
}
