/**
 * Signed queries: how a patient (or someone the patient consented to) proves who asks for the
 * patient's records, consents and audit trail.
 *
 * The signing format (src/types/signedQuery.ts): a signed call carries, next to its other params, `auth: { requester, timestamp, signature }`:
 *
 *   message   = domainBytes('medchain/query/v1', chainId)
 *               || encodeCanonical([method, canonicalJson(paramsWithoutAuth), u64(timestamp)])
 *   signature = ed25519 over `message` by `requester` (checked with THE `verify` of src/crypto)
 *
 * `canonicalJson` is JSON without whitespace whose object keys are sorted (by UTF-16 code units,
 * i.e. `Array.prototype.sort`) at every level; arrays keep their order. `timestamp` is the client's
 * clock in milliseconds since the epoch. Hex strings are signed as sent (case included).
 *
 * The node accepts the query when, in this order:
 *  1. `auth` is present (QUERY_UNSIGNED);
 *  2. |now − timestamp| ≤ 60 s (QUERY_EXPIRED);
 *  3. the signature verifies (QUERY_BAD_SIGNATURE);
 *  4. the (requester, signature) pair was not seen within its window (QUERY_REPLAYED): accepted
 *     pairs are kept until their timestamp + 60 s in a bounded cache;
 *  5. the requester may read the patient's data (QUERY_NOT_AUTHORISED): the requester is the
 *     patient, or an active identity holding a live grant from the patient (not revoked, not expired
 *     at the head block's time), or a clinician with an open emergency window for the patient, or
 *     an active hospital where the patient is enrolled (the custodian: it sees the metadata of the
 *     patient's records, to release keys in an emergency, and nothing else).
 *
 * What a reader sees (methods.ts): the patient sees everything; anyone else sees only what concerns
 * them: the records their consent (or emergency window) lets them read, the grants made to them,
 * and the audit entries of their own actions.
 */
import { Purpose } from '../types/tx.js'
import type { StateBackend } from '../types/state.js'
import { equalBytes, toHex } from '../crypto/bytes.js'
import { verify } from '../crypto/ed25519.js'
import { querySigningBytes } from '../types/signedQuery.js'
import { EntityKind, getEmergencyWindow, getEntity, listGrantsFor, type Grant } from '../contracts/index.js'
import { isWindowOpen } from '../contracts/emergency.js'
import { isEffectivelyActive } from '../contracts/registry.js'
import { StateView } from '../contracts/stateView.js'
import { invalidParams, queryError } from './errors.js'
import { isPlainObject, readHex, type Params } from './params.js'

/** How far a query's timestamp may be from the node's clock, either way. */
export const QUERY_WINDOW_MS = 60_000
/** Most accepted (requester, signature) pairs remembered at once. */
export const DEFAULT_REPLAY_CACHE_LIMIT = 100_000

export interface QueryAuth {
  requester: Uint8Array
  timestamp: number
  signature: Uint8Array
}

/** Reads `params.auth`; QUERY_UNSIGNED when absent, -32602 when malformed. */
export function readQueryAuth (params: Params): QueryAuth {
  const raw = params.auth
  if (raw === undefined || raw === null) throw queryError('QUERY_UNSIGNED', 'This query needs a signature: add auth {requester, timestamp, signature} signed by the patient or by a holder of the patient\'s consent.')
  if (!isPlainObject(raw)) throw invalidParams('auth', 'Param "auth" must be an object {requester, timestamp, signature}.')
  for (const name of Object.keys(raw)) {
    if (name !== 'requester' && name !== 'timestamp' && name !== 'signature') throw invalidParams(`auth.${name.slice(0, 40)}`, `Unknown field "auth.${name.slice(0, 40)}": expected requester, timestamp, signature.`)
  }
  const timestamp = raw.timestamp
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw invalidParams('auth.timestamp', 'auth.timestamp must be the signing time in milliseconds since the epoch.')
  }
  return {
    requester: readHex(raw, 'requester', { length: 32 }),
    timestamp,
    signature: readHex(raw, 'signature', { length: 64 })
  }
}

/**
 * Accepted (requester, signature) pairs until their window ends. Bounded: past `limit` the oldest
 * pair is forgotten early (a replay of it inside its window would then pass; at the default limit
 * that takes 100,000 signed queries within two minutes, far above the per-client rate limit).
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>()

  constructor (readonly limit = DEFAULT_REPLAY_CACHE_LIMIT) {}

  /** True when the pair is new (and remembers it until `expiresAt`); false for a replay. */
  add (key: string, expiresAt: number, now: number): boolean {
    for (const [k, until] of this.seen) {
      if (until > now && this.seen.size < this.limit) break
      this.seen.delete(k)
    }
    if (this.seen.has(key)) return false
    this.seen.set(key, expiresAt)
    return true
  }

  get size (): number {
    return this.seen.size
  }
}

/** Steps 2-4 of the module comment. Throws RpcError with a QUERY_* code. */
export function verifySignedQuery (args: {
  chainId: string
  method: string
  params: Params
  auth: QueryAuth
  now: number
  replay: ReplayCache
}): void {
  const { auth, now } = args
  if (Math.abs(now - auth.timestamp) > QUERY_WINDOW_MS) {
    throw queryError('QUERY_EXPIRED', 'The query timestamp is more than 60 seconds away from the node\'s clock; sign it again with the current time (and check the clock).')
  }
  if (!verify(auth.requester, querySigningBytes(args.chainId, args.method, args.params, auth.timestamp), auth.signature)) {
    throw queryError('QUERY_BAD_SIGNATURE', 'The query signature does not verify for this requester, method and params; sign exactly the params you send, for this chain.')
  }
  const key = toHex(auth.requester) + toHex(auth.signature)
  if (!args.replay.add(key, auth.timestamp + QUERY_WINDOW_MS, now)) {
    throw queryError('QUERY_REPLAYED', 'This signed query was already used; sign a new one with a fresh timestamp.')
  }
}

/** Why a requester may read a patient's data, and so what it sees. */
export type ReaderScope =
  | { ground: 'patient', requester: Uint8Array }
  | {
    ground: 'consent'
    requester: Uint8Array
    /** The requester's live grants from the patient. */
    grants: Array<{ grantId: Uint8Array, grant: Grant }>
    /** The requester is a clinician with an open emergency window for the patient. */
    emergency: boolean
  }
  | { ground: 'custodian', requester: Uint8Array }

/** Step 5 of the module comment, at block time `headTimestamp`. Throws QUERY_NOT_AUTHORISED. */
export function authoriseReader (state: StateBackend, headTimestamp: number, patient: Uint8Array, requester: Uint8Array): ReaderScope {
  if (equalBytes(patient, requester)) return { ground: 'patient', requester }
  const refused = (): never => {
    throw queryError('QUERY_NOT_AUTHORISED', 'The requester is neither the patient nor an active holder of a live consent from the patient; ask the patient for a grant.')
  }
  const entity = getEntity(state, requester)
  if (entity === undefined || !isEffectivelyActive(new StateView(state), entity)) return refused()
  if (entity.kind === EntityKind.Hospital && getEntity(state, patient)?.enrolledAt.some((h) => equalBytes(h, requester)) === true) {
    return { ground: 'custodian', requester }
  }
  const grants = listGrantsFor(state, patient, requester)
    .filter(({ grant }) => grant.revokedAt === undefined && headTimestamp < grant.expiresAt)
  const emergency = entity.kind === EntityKind.Clinician && isWindowOpen(getEmergencyWindow(state, requester, patient), headTimestamp)
  if (grants.length === 0 && !emergency) return refused()
  return { ground: 'consent', requester, grants, emergency }
}

/** The purposes a consent-scoped reader may read records for. */
export function readerPurposes (scope: ReaderScope): Purpose[] {
  if (scope.ground === 'patient') return [Purpose.Treatment]
  if (scope.ground === 'custodian') return []
  const purposes = new Set<Purpose>(scope.grants.map(({ grant }) => grant.purpose))
  if (scope.emergency) purposes.add(Purpose.Treatment)
  return [...purposes]
}
