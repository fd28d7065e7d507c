/**
 * Refusal codes of the medical-record file checks in `fhir.ts` (run before a file is encrypted and
 * anchored). Codes are stable: the CLI and tests match on them, never on the sentence.
 */
import { MedchainError } from '../util/errors.js'

export type FhirErrorType =
  /** The JSON is a FHIR resource of a known type but breaks the R4 schema or a base-spec rule. */
  | { code: 'FHIR_INVALID', resourceType: string, path: string, reason: string }
  /** The JSON is not an object with a known FHIR R4 `resourceType`. */
  | { code: 'FHIR_NOT_A_RESOURCE', resourceType?: string, reason: string }
  /** The file looked like JSON but does not parse; line and column are 1-based. */
  | { code: 'FHIR_BAD_JSON', reason: string, line?: number, column?: number }
  /** A JSON file above the limit for a FHIR resource read into memory. */
  | { code: 'FHIR_TOO_LARGE', size: number, limit: number }
  /** `--type` does not match what the file is. */
  | { code: 'FHIR_TYPE_MISMATCH', declaredType: string, actualType: string }
  /** The file is above the record size limit. */
  | { code: 'RECORD_FILE_TOO_LARGE', size: number, limit: number }
  /** The file is missing, not a regular file, or cannot be read. */
  | { code: 'RECORD_FILE_UNREADABLE', file: string, reason: string }

export type FhirErrorCode = FhirErrorType['code']

export class FhirError extends MedchainError<FhirErrorType> {
  constructor (type: FhirErrorType, message: string) {
    super(type, message)
    this.name = 'FhirError'
  }
}
