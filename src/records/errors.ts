import { MedchainError } from '../util/errors.js'

/**
 * Errors of client-side record encryption: key envelopes (src/records/envelope.ts) and the
 * streaming file cipher (src/records/cipher.ts). FHIR validation errors live in their own file.
 */
export type RecordErrorType =
  /** A key, seed, hash or data key of the wrong length was passed in (a caller bug). */
  | { code: 'RECORD_BAD_LENGTH', what: string, length: number, expected: number }
  /** The recipient key is not a usable ed25519 point, or a small-order one (shared secret zero). */
  | { code: 'RECORD_BAD_RECIPIENT', reason: string }
  /** An envelope of the wrong length or version. */
  | { code: 'ENVELOPE_MALFORMED', reason: string }
  /**
   * An envelope that failed authentication: sealed for another key, for another record or chain,
   * or modified. AES-GCM cannot tell these apart, so there is one code.
   */
  | { code: 'ENVELOPE_TAMPERED' }
  /** encryptStream was asked for a chunk size outside [MIN_CHUNK_SIZE, MAX_CHUNK_SIZE]. */
  | { code: 'RECORD_BAD_CHUNK_SIZE', chunkSize: number }
  /** The ciphertext does not start with a valid header (magic, chunk size). */
  | { code: 'RECORD_CIPHER_BAD_HEADER', reason: string }
  /** The ciphertext ends before its final chunk. */
  | { code: 'RECORD_CIPHER_TRUNCATED', reason: string }
  /** A chunk failed authentication: modified bytes, reordered chunks, or the wrong data key. */
  | { code: 'RECORD_CIPHER_TAMPERED', chunkIndex: number }
  /** Bytes follow the authenticated final chunk. */
  | { code: 'RECORD_CIPHER_TRAILING_DATA', extraBytes: number }
  /** The ciphertext's sha256 is not the content hash anchored on the chain. */
  | { code: 'RECORD_HASH_MISMATCH' }
  /** The output file exists and `overwrite` was not set. */
  | { code: 'RECORD_OUTPUT_EXISTS', path: string }

export class RecordError extends MedchainError<RecordErrorType> {}
