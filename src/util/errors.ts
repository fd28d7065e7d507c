/**
 * The one base class of every error medchain throws on purpose.
 *
 * `type` carries a stable string `code` (what tests and clients match on) plus typed details;
 * `message` is one sentence for a person: what was wrong and what to do.
 */
export class MedchainError<T extends { code: string }> extends Error {
  readonly type: T

  constructor (type: T, message: string) {
    super(message)
    this.type = type
    this.name = 'MedchainError'
  }

  get code (): T['code'] {
    return this.type.code
  }
}

/** True when `err` is a MedchainError with the given code. */
export function hasErrorCode (err: unknown, code: string): boolean {
  return err instanceof MedchainError && err.code === code
}
