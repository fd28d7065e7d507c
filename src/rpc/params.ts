/**
 * Reading JSON-RPC params: always a JSON object (by name), checked strictly so that a typo in a
 * field name is an error (-32602) and not a silently ignored field. Bytes are hex (lower or upper
 * case in, always lower case out).
 */
import { fromHex } from '../crypto/bytes.js'
import { invalidParams } from './errors.js'

export type Params = Readonly<Record<string, unknown>>

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The params object of a call (absent or null = {}); refuses arrays and any field not in `allowed`. */
export function readParams (raw: unknown, allowed: readonly string[]): Params {
  if (raw === undefined || raw === null) return {}
  if (!isPlainObject(raw)) throw invalidParams('params', 'params must be a JSON object with named fields.')
  for (const name of Object.keys(raw)) {
    if (!allowed.includes(name)) {
      const known = allowed.length === 0 ? 'this method takes no params' : `expected ${allowed.join(', ')}`
      throw invalidParams(name, `Unknown param "${name.slice(0, 40)}": ${known}.`)
    }
  }
  return raw
}

const HEX_RE = /^[0-9a-fA-F]*$/

/** A hex string of exactly `length` bytes (any length when undefined, up to `maxLength`). */
export function readHex (p: Params, field: string, opts: { length?: number, maxLength?: number } = {}): Uint8Array {
  const value = p[field]
  const what = opts.length !== undefined ? `${opts.length * 2} hex digits` : 'a hex string'
  if (typeof value !== 'string') throw invalidParams(field, `Param "${field}" is required and must be ${what}.`)
  if (value.length % 2 !== 0 || !HEX_RE.test(value)) throw invalidParams(field, `Param "${field}" must be ${what} (0-9, a-f, no 0x prefix).`)
  const bytes = value.length / 2
  if (opts.length !== undefined && bytes !== opts.length) throw invalidParams(field, `Param "${field}" must be ${what}, got ${value.length}.`)
  if (opts.maxLength !== undefined && bytes > opts.maxLength) throw invalidParams(field, `Param "${field}" must be at most ${opts.maxLength} bytes.`)
  return fromHex(value)
}

export function readOptionalHex (p: Params, field: string, length: number): Uint8Array | undefined {
  return p[field] === undefined ? undefined : readHex(p, field, { length })
}

/** An optional non-negative integer in [min, max]. */
export function readOptionalInt (p: Params, field: string, opts: { min?: number, max?: number } = {}): number | undefined {
  const value = p[field]
  if (value === undefined) return undefined
  const min = opts.min ?? 0
  const max = opts.max ?? Number.MAX_SAFE_INTEGER
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidParams(field, `Param "${field}" must be an integer from ${min} to ${max}.`)
  }
  return value
}

export function readString (p: Params, field: string, allowed: readonly string[]): string {
  const value = p[field]
  if (typeof value !== 'string' || !allowed.includes(value)) throw invalidParams(field, `Param "${field}" must be one of: ${allowed.join(', ')}.`)
  return value
}

export { isPlainObject }
