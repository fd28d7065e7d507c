/**
 * The signed-query format: the bytes a patient (or a holder of the patient's consent) signs to
 * read the patient's records, consents and audit trail over RPC or the blob routes. Shared by the
 * clients that sign (CLI, blob client) and the node that checks (src/rpc/auth.ts, which also
 * states the acceptance rules).
 *
 *   message   = domainBytes('medchain/query/v1', chainId)
 *               || encodeCanonical([method, canonicalJson(paramsWithoutAuth), u64(timestamp)])
 *   signature = ed25519 over `message` by the requester
 *
 * `canonicalJson` is JSON without whitespace whose object keys are sorted (by UTF-16 code units,
 * i.e. `Array.prototype.sort`) at every level; arrays keep their order. `timestamp` is the client's
 * clock in milliseconds since the epoch. Hex strings are signed as sent (case included).
 */
import { concatBytes, toHex } from '../crypto/bytes.js'
import type { Signer } from '../crypto/ed25519.js'
import { Domain, domainBytes } from '../crypto/hash.js'
import { encodeCanonical, u64 } from './codec.js'

/** JSON with object keys sorted at every level and no whitespace. Throws TypeError on non-JSON values. */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value)
    if (text === undefined || (typeof value === 'number' && !Number.isFinite(value))) throw new TypeError(`canonicalJson: ${typeof value} is not a JSON value`)
    return text
  }
  if (Array.isArray(value)) return '[' + value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',') + ']'
  const object = value as Record<string, unknown>
  const keys = Object.keys(object).filter((k) => object[k] !== undefined).sort()
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson(object[k])).join(',') + '}'
}

function withoutAuth (params: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { auth: _auth, ...rest } = params
  return rest
}

/** The bytes a signed query's signature covers (see the module comment). */
export function querySigningBytes (chainId: string, method: string, params: Readonly<Record<string, unknown>>, timestamp: number): Uint8Array {
  const body = encodeCanonical([method, canonicalJson(withoutAuth(params)), u64(timestamp)])
  return concatBytes(domainBytes(Domain.query, chainId), body)
}

/**
 * Client side: `params` with an `auth` field signed by `signer` (for the CLI and tests).
 * `timestamp` is milliseconds since the epoch, normally Date.now().
 */
export function signQuery<P extends Record<string, unknown>> (
  signer: Signer, chainId: string, method: string, params: P, timestamp: number
): Omit<P, 'auth'> & { auth: { requester: string, timestamp: number, signature: string } } {
  const rest = withoutAuth(params) as Omit<P, 'auth'>
  const signature = signer.sign(querySigningBytes(chainId, method, rest, timestamp))
  return { ...rest, auth: { requester: toHex(signer.publicKey), timestamp, signature: toHex(signature) } }
}
