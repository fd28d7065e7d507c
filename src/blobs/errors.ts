import { MedchainError } from '../util/errors.js'

/**
 * Errors of the blob store (encrypted record contents) and of the blob client. Tests and the CLI
 * match on the code.
 */
export type BlobErrorType =
  /** A blob larger than the limit of the store, route or client. */
  | { code: 'BLOB_TOO_LARGE', size: number, limit: number }
  /** The bytes do not hash to the expected sha256 (upload, peer transfer or download). */
  | { code: 'BLOB_HASH_MISMATCH', expected: string, actual: string }
  /** A stored blob no longer hashes to its name: it was quarantined and must be fetched again. */
  | { code: 'BLOB_CORRUPT', hash: string }
  /** No blob with this hash here (nor at any peer that was asked). */
  | { code: 'BLOB_NOT_FOUND', hash: string }
  /** A hash that is not 32 bytes, or a blob argument that makes no sense. */
  | { code: 'BLOB_BAD_ARGUMENT', reason: string }
  /** The source of an upload or download failed (file unreadable, connection lost). */
  | { code: 'BLOB_TRANSFER_FAILED', reason: string }

export type BlobErrorCode = BlobErrorType['code']

export class BlobError extends MedchainError<BlobErrorType> {}

/**
 * A refusal of a node's blob routes (src/rpc/blobRoutes.ts), on the node and as the client sees
 * it: `code` is the server's code (e.g. QUERY_EXPIRED, ACCESS_CONSENT_REVOKED, BLOB_TOO_LARGE),
 * `status` the HTTP status it is answered with.
 */
export class BlobServerError extends MedchainError<{ code: string, status: number }> {
  get status (): number {
    return this.type.status
  }
}
