/**
 * The JSON-RPC methods: one table from method name to its params, whether it needs a signed query
 * (auth.ts), and what it answers. Bytes are lower-case hex, times milliseconds since the epoch.
 * src/rpc/README.md lists the same shapes.
 *
 * | method                 | params                                   | result                                      |
 * | ---------------------- | ---------------------------------------- | ------------------------------------------- |
 * | chain_head             | —                                        | {height, hash, timestamp}                   |
 * | chain_getBlock         | {height} or {hash}                       | {height, hash, timestamp, header, txs, lastCommit} or null |
 * | tx_submit              | {tx}                                     | {hash}                                      |
 * | tx_getReceipt          | {hash}                                   | {hash, height, index, code, log, events} or null |
 * | state_getEntity        | {publicKey}                              | entity or null                              |
 * | validators_list        | —                                        | {height, totalPower, validators}            |
 * | node_info              | —                                        | {chainId, height, ...the node's info}       |
 * | node_peers             | —                                        | [...]                                       |
 * | records_listByPatient  | {patient, after?, limit?, auth}          | [record], a page of at most limit (≤ 1000)  |
 * | records_get            | {patient, recordId, auth}                | record (with the reader's keyEnvelope) or null |
 * | consent_list           | {patient, auth}                          | [grant]                                     |
 * | audit_listByPatient    | {patient, from?, to?, limit?, auth}      | [audit entry]                               |
 * | proof_getRecord        | {recordId, patient, grantee?, auth}      | record proof bundle (src/proof/types.ts) or null |
 * | proof_getTx            | {hash, patient, auth}                    | tx proof bundle, or null when not on the trail the reader sees |
 * | chain_subscribe (ws)   | {topic: "newHeads"}                      | subscription id                             |
 * | audit_subscribe (ws)   | {patient, auth}                          | subscription id                             |
 * | chain_unsubscribe (ws) | {subscription}                           | true, or false when unknown                 |
 */
import type { Chain } from '../chain/chain.js'
import { blockHash, type Block, type BlockHeader } from '../types/block.js'
import type { Receipt } from '../types/receipt.js'
import { Purpose, TX_TYPE_NAMES, TxType, type Tx, type ClinicianRole, type OrganizationKind } from '../types/tx.js'
import { toHex } from '../crypto/bytes.js'
import { MedchainError } from '../util/errors.js'
import {
  CLINICIAN_ROLE_NAMES, ENTITY_KIND_NAMES, EntityKind, EntityStatus, ORGANIZATION_KIND_NAMES, PURPOSE_NAMES,
  checkRecordAccess, decodeAuditEntry, getEntity, getGrant, getKeyEnvelope, getRecord, listGrantsFor,
  type AnchoredRecord, type AuditEntry, type Entity, type Grant
} from '../contracts/index.js'
import { isEffectivelyActive } from '../contracts/registry.js'
import { StateView } from '../contracts/stateView.js'
import { authoriseReader, readerPurposes, readQueryAuth, verifySignedQuery, type ReaderScope } from './auth.js'
import { auditVisibleTo, method, type CallContext, type MethodSpec, type SubscriptionHost } from './methodSpec.js'
import { PROOF_METHODS } from './proofMethods.js'
import { invalidParams, RpcError } from './errors.js'
import { readHex, readOptionalHex, readOptionalInt, readParams, readString, type Params } from './params.js'

export type { CallContext, RpcContext, SubscriptionHost } from './methodSpec.js'
export { auditVisibleTo }

/** Default and largest number of audit entries per call. */
/** Most records in one records_listByPatient page (also its default). */
export const RECORDS_MAX_LIMIT = 1000
export const AUDIT_DEFAULT_LIMIT = 100
export const AUDIT_MAX_LIMIT = 1000

// ------------------------------------------------------------------------------------------------
// JSON shapes

export function headerJson (h: BlockHeader): Record<string, unknown> {
  return {
    version: h.version,
    chainId: h.chainId,
    height: h.height,
    timestamp: h.timestamp,
    prevHash: toHex(h.prevHash),
    txRoot: toHex(h.txRoot),
    stateRoot: toHex(h.stateRoot),
    resultsRoot: toHex(h.resultsRoot),
    validatorsHash: toHex(h.validatorsHash),
    nextValidatorsHash: toHex(h.nextValidatorsHash),
    proposer: toHex(h.proposer),
    lastCommitHash: toHex(h.lastCommitHash)
  }
}

function blockJson (block: Block, hash: Uint8Array): Record<string, unknown> {
  const c = block.lastCommit
  return {
    height: block.header.height,
    hash: toHex(hash),
    timestamp: block.header.timestamp,
    header: headerJson(block.header),
    txs: block.txs.map((tx) => toHex(tx.hash)),
    lastCommit: { height: c.height, round: c.round, blockHash: toHex(c.blockHash), signers: c.signatures.map((s) => toHex(s.validator)) }
  }
}

function receiptJson (hash: Uint8Array, loc: { height: number, index: number }, r: Receipt): Record<string, unknown> {
  return {
    hash: toHex(hash),
    height: loc.height,
    index: loc.index,
    code: r.code,
    log: r.log,
    events: r.events.map((e) => ({ kind: e.kind, attributes: Object.fromEntries(e.attributes) }))
  }
}

function roleName (e: Entity): string | null {
  if (e.kind === EntityKind.Clinician) return CLINICIAN_ROLE_NAMES[e.role as ClinicianRole] ?? null
  if (e.kind === EntityKind.Organization) return ORGANIZATION_KIND_NAMES[e.role as OrganizationKind] ?? null
  return null
}

function entityJson (chain: Chain, publicKey: Uint8Array, e: Entity): Record<string, unknown> {
  return {
    publicKey: toHex(publicKey),
    kind: ENTITY_KIND_NAMES[e.kind],
    status: e.status === EntityStatus.Active ? 'active' : 'inactive',
    /** Active and, for clinicians and organisations, its hospital active too. */
    active: isEffectivelyActive(new StateView(chain.stateView), e),
    role: roleName(e),
    name: e.name,
    hospital: e.hospital === undefined ? null : toHex(e.hospital),
    registeredBy: e.registeredBy === undefined ? null : toHex(e.registeredBy),
    registeredAt: e.registeredAt,
    nonce: e.nonce,
    enrolledAt: e.enrolledAt.map(toHex),
    deactivatedAt: e.deactivatedAt === 0 ? null : e.deactivatedAt
  }
}

function recordJson (chain: Chain, recordId: Uint8Array, r: AnchoredRecord, requester: Uint8Array): Record<string, unknown> {
  const envelope = getKeyEnvelope(chain.stateView, recordId, requester, chain.head.timestamp)
  return {
    recordId: toHex(recordId),
    patient: toHex(r.patient),
    resourceType: r.resourceType,
    contentHash: toHex(r.contentHash),
    size: r.size,
    blobRef: r.blobRef,
    author: toHex(r.author),
    anchoredAt: r.anchoredAt,
    anchoredTime: r.anchoredTime,
    supersedes: r.supersedes === undefined ? null : toHex(r.supersedes),
    supersededBy: r.supersededBy === undefined ? null : toHex(r.supersededBy),
    /** The record's data key wrapped for the requester: from the record, a grant, or a ShareKeys tx. */
    keyEnvelope: envelope === undefined ? null : toHex(envelope.wrappedKey),
    keySource: envelope?.source ?? null
  }
}

function grantJson (grantId: Uint8Array, g: Grant, headTimestamp: number): Record<string, unknown> {
  const status = g.revokedAt !== undefined ? 'revoked' : headTimestamp >= g.expiresAt ? 'expired' : 'live'
  return {
    grantId: toHex(grantId),
    patient: toHex(g.patient),
    grantee: toHex(g.grantee),
    purpose: PURPOSE_NAMES[g.purpose],
    expiresAt: g.expiresAt,
    recordTypes: g.recordTypes,
    recordIds: g.recordIds.map(toHex),
    envelopes: g.envelopes.map((e) => ({ recordId: toHex(e.recordId), wrappedKey: toHex(e.wrappedKey) })),
    grantedAt: g.grantedAt,
    revokedAt: g.revokedAt ?? null,
    status
  }
}

export function auditEntryJson (seq: number, e: AuditEntry): Record<string, unknown> {
  return {
    seq,
    height: e.height,
    txIndex: e.txIndex,
    txHash: toHex(e.txHash),
    time: e.timestamp,
    actor: toHex(e.actor),
    actorKind: ENTITY_KIND_NAMES[e.actorKind as EntityKind] ?? String(e.actorKind),
    action: TX_TYPE_NAMES[e.action],
    recordId: e.recordId === undefined ? null : toHex(e.recordId),
    purpose: e.purpose === 0 ? null : PURPOSE_NAMES[e.purpose as Purpose] ?? String(e.purpose),
    result: e.result,
    emergency: e.emergency
  }
}

// ------------------------------------------------------------------------------------------------
// queries over the chain

interface RecordsArgs { patient: Uint8Array, after?: Uint8Array, limit: number }

/**
 * A page of the records the reader may see, in anchoring order: at most `limit`, starting after
 * record `after`. A page shorter than `limit` is the last one.
 */
async function listRecords (chain: Chain, args: RecordsArgs, scope: ReaderScope): Promise<unknown[]> {
  const state = chain.stateView
  const headTimestamp = chain.head.timestamp
  const purposes = readerPurposes(scope)
  const visible = (recordId: Uint8Array): boolean => scope.ground === 'patient' || scope.ground === 'custodian' ||
    purposes.some((purpose) => checkRecordAccess(state, scope.requester, recordId, purpose, headTimestamp).code === 'OK')
  let after: { recordId: Uint8Array, height: number } | undefined
  if (args.after !== undefined) {
    // the same answer for a record that does not exist, is another patient's or is not visible
    // to this reader: the cursor reveals nothing a listing would not
    const record = getRecord(state, args.after)
    if (record === undefined || toHex(record.patient) !== toHex(args.patient) || !visible(args.after)) {
      throw invalidParams('after', 'Param "after" must be the id of a record of this patient that you may see (the last record of the previous page).')
    }
    after = { recordId: args.after, height: record.anchoredAt }
  }
  const out: unknown[] = []
  for await (const recordId of chain.recordsByPatient(args.patient, after)) {
    const record = getRecord(state, recordId)
    if (record === undefined || !visible(recordId)) continue
    out.push(recordJson(chain, recordId, record, scope.requester))
    if (out.length >= args.limit) break
  }
  return out
}

/**
 * One record of the patient, with the reader's key envelope: to the patient always; to anyone else
 * when some purpose they hold would be granted access now (the same rule as records_listByPatient).
 * Answers null for a record that does not exist, belongs to another patient, or is not visible.
 */
function getVisibleRecord (chain: Chain, patient: Uint8Array, recordId: Uint8Array, scope: ReaderScope): unknown {
  const state = chain.stateView
  const record = getRecord(state, recordId)
  if (record === undefined || toHex(record.patient) !== toHex(patient)) return null
  const visible = scope.ground === 'patient' || scope.ground === 'custodian' || toHex(record.author) === toHex(scope.requester) ||
    readerPurposes(scope).some((purpose) => checkRecordAccess(state, scope.requester, recordId, purpose, chain.head.timestamp).code === 'OK')
  return visible ? recordJson(chain, recordId, record, scope.requester) : null
}

async function listConsents (chain: Chain, patient: Uint8Array, scope: ReaderScope): Promise<unknown[]> {
  const state = chain.stateView
  const headTimestamp = chain.head.timestamp
  if (scope.ground !== 'patient') {
    return listGrantsFor(state, patient, scope.requester).map(({ grantId, grant }) => grantJson(grantId, grant, headTimestamp))
  }
  // Every grant the patient made is on its audit trail: a Grant entry whose tx hash is the grant id.
  const out: unknown[] = []
  for await (const { entry } of auditTrail(chain, patient)) {
    if (entry.action !== TxType.Grant || entry.result !== 'OK') continue
    const grant = getGrant(state, entry.txHash)
    if (grant !== undefined) out.push(grantJson(entry.txHash, grant, headTimestamp))
  }
  return out
}

/**
 * The patient's audit trail in order, decoded, read from the store a page at a time: a listing
 * that stops early reads about what it answers, and a long trail is never held in memory at once.
 */
async function * auditTrail (chain: Chain, patient: Uint8Array): AsyncGenerator<{ seq: number, entry: AuditEntry }> {
  let afterSeq: number | undefined
  for (;;) {
    const page = await chain.listAuditByPatient(patient, { ...(afterSeq !== undefined ? { afterSeq } : {}), limit: AUDIT_PAGE })
    for (const { seq, entry } of page) yield { seq, entry: decodeAuditEntry(entry) }
    if (page.length < AUDIT_PAGE) return
    afterSeq = (page[page.length - 1] as { seq: number }).seq
  }
}

async function listAudit (chain: Chain, args: AuditArgs, scope: ReaderScope): Promise<unknown[]> {
  const out: unknown[] = []
  for await (const { seq, entry } of auditTrail(chain, args.patient)) {
    // entries are in block order, so past `to` nothing more can match
    if (args.to !== undefined && entry.timestamp > args.to) break
    if (args.from !== undefined && entry.timestamp < args.from) continue
    if (auditVisibleTo(scope, entry)) out.push(auditEntryJson(seq, entry))
    if (out.length >= args.limit) break
  }
  return out
}

/** Audit entries read from the store per step of a listing. */
const AUDIT_PAGE = 256

interface AuditArgs { patient: Uint8Array, from?: number, to?: number, limit: number }

// ------------------------------------------------------------------------------------------------
// the table

const patientArg = (p: Params): { patient: Uint8Array } => ({ patient: readHex(p, 'patient', { length: 32 }) })

export const METHODS: Readonly<Record<string, MethodSpec<unknown>>> = {
  ...PROOF_METHODS,

  chain_head: method({
    params: [],
    parse: () => null,
    run: (_a, { rpc }) => {
      const head = rpc.chain.head
      return { height: head.height, hash: toHex(head.hash), timestamp: head.timestamp }
    }
  }),

  chain_getBlock: method({
    params: ['height', 'hash'],
    parse: (p) => {
      const height = readOptionalInt(p, 'height')
      const hash = p.hash === undefined ? undefined : readHex(p, 'hash', { length: 32 })
      if ((height === undefined) === (hash === undefined)) throw invalidParams('height', 'Give exactly one of "height" or "hash".')
      return { height, hash }
    },
    run: async ({ height, hash }, { rpc }) => {
      const h = height ?? (hash === undefined ? undefined : await rpc.chain.getHeightByHash(hash))
      if (h === undefined || h === 0) return null
      const block = await rpc.chain.getBlock(h)
      if (block === undefined) return null
      return blockJson(block, hash ?? blockHash(block.header))
    }
  }),

  tx_submit: method({
    params: ['tx'],
    parse: (p) => readHex(p, 'tx'),
    run: (bytes, { rpc }) => {
      let tx: Tx
      try {
        tx = rpc.mempool.checkTx(bytes)
      } catch (err) {
        if (err instanceof MedchainError) throw new RpcError({ code: 'TX_REFUSED', txCode: err.code }, err.message)
        throw err
      }
      rpc.onTx?.(tx)
      return { hash: toHex(tx.hash) }
    }
  }),

  tx_getReceipt: method({
    params: ['hash'],
    parse: (p) => readHex(p, 'hash', { length: 32 }),
    run: async (hash, { rpc }) => {
      const found = await rpc.chain.getReceipt(hash)
      return found === undefined ? null : receiptJson(hash, found, found.receipt)
    }
  }),

  state_getEntity: method({
    params: ['publicKey'],
    parse: (p) => readHex(p, 'publicKey', { length: 32 }),
    run: (publicKey, { rpc }) => {
      const entity = getEntity(rpc.chain.stateView, publicKey)
      return entity === undefined ? null : entityJson(rpc.chain, publicKey, entity)
    }
  }),

  validators_list: method({
    params: [],
    parse: () => null,
    run: (_a, { rpc }) => {
      const set = rpc.chain.validatorSet
      return {
        height: rpc.chain.head.height,
        totalPower: set.totalPower,
        validators: set.validators.map((v) => ({ publicKey: toHex(v.publicKey), power: v.power, hospital: toHex(v.hospital) }))
      }
    }
  }),

  node_info: method({
    params: [],
    parse: () => null,
    run: (_a, { rpc }) => ({ chainId: rpc.chain.chainId, height: rpc.chain.head.height, ...rpc.nodeInfo() })
  }),

  node_peers: method({
    params: [],
    parse: () => null,
    run: (_a, { rpc }) => rpc.peers()
  }),

  records_listByPatient: method({
    params: ['patient', 'after', 'limit'],
    parse: (p): RecordsArgs => {
      const after = readOptionalHex(p, 'after', 32)
      return {
        patient: readHex(p, 'patient', { length: 32 }),
        ...(after !== undefined ? { after } : {}),
        limit: readOptionalInt(p, 'limit', { min: 1, max: RECORDS_MAX_LIMIT }) ?? RECORDS_MAX_LIMIT
      }
    },
    patientOf: (a) => a.patient,
    run: async (args, { rpc }, scope) => await listRecords(rpc.chain, args, scope as ReaderScope)
  }),

  records_get: method({
    params: ['patient', 'recordId'],
    parse: (p) => ({ patient: readHex(p, 'patient', { length: 32 }), recordId: readHex(p, 'recordId', { length: 32 }) }),
    patientOf: (a) => a.patient,
    // the author of the record may read it back (the contract grants the author access too)
    alsoReader: ({ patient, recordId }, chain, requester) => {
      const record = getRecord(chain.stateView, recordId)
      const isAuthor = record !== undefined && toHex(record.patient) === toHex(patient) && toHex(record.author) === toHex(requester) &&
        checkRecordAccess(chain.stateView, requester, recordId, Purpose.Treatment, chain.head.timestamp).code === 'OK'
      return isAuthor ? { ground: 'consent', requester, grants: [], emergency: false } : undefined
    },
    run: ({ patient, recordId }, { rpc }, scope) => getVisibleRecord(rpc.chain, patient, recordId, scope as ReaderScope)
  }),

  consent_list: method({
    params: ['patient'],
    parse: patientArg,
    patientOf: (a) => a.patient,
    run: async ({ patient }, { rpc }, scope) => await listConsents(rpc.chain, patient, scope as ReaderScope)
  }),

  audit_listByPatient: method({
    params: ['patient', 'from', 'to', 'limit'],
    parse: (p): AuditArgs => {
      const from = readOptionalInt(p, 'from')
      const to = readOptionalInt(p, 'to')
      if (from !== undefined && to !== undefined && from > to) throw invalidParams('from', 'Param "from" must not be after "to".')
      return {
        patient: readHex(p, 'patient', { length: 32 }),
        ...(from !== undefined ? { from } : {}),
        ...(to !== undefined ? { to } : {}),
        limit: readOptionalInt(p, 'limit', { min: 1, max: AUDIT_MAX_LIMIT }) ?? AUDIT_DEFAULT_LIMIT
      }
    },
    patientOf: (a) => a.patient,
    run: async (args, { rpc }, scope) => await listAudit(rpc.chain, args, scope as ReaderScope)
  }),

  chain_subscribe: method({
    params: ['topic'],
    parse: (p) => readString(p, 'topic', ['newHeads']),
    wsOnly: true,
    run: (_topic, { session }) => (session as SubscriptionHost).subscribeNewHeads()
  }),

  audit_subscribe: method({
    params: ['patient'],
    parse: patientArg,
    patientOf: (a) => a.patient,
    wsOnly: true,
    run: ({ patient }, { session }, scope) => (session as SubscriptionHost).subscribeAudit(patient, scope as ReaderScope)
  }),

  chain_unsubscribe: method({
    params: ['subscription'],
    parse: (p) => {
      const id = p.subscription
      if (typeof id !== 'string' || id.length === 0 || id.length > 64) throw invalidParams('subscription', 'Param "subscription" must be the id that chain_subscribe or audit_subscribe returned.')
      return id
    },
    wsOnly: true,
    run: (id, { session }) => (session as SubscriptionHost).unsubscribe(id)
  })
}

export const METHOD_NAMES: readonly string[] = Object.keys(METHODS)

/**
 * Runs one call: checks the params, the signature of a signed query and the reader's authority,
 * then the method. Throws RpcError for anything the client should see; any other error is a bug
 * or a broken store (the caller logs it and answers "internal error").
 */
export async function callMethod (name: string, rawParams: unknown, ctx: CallContext): Promise<unknown> {
  const spec = Object.hasOwn(METHODS, name) ? METHODS[name] : undefined
  if (spec === undefined) throw new RpcError({ code: 'RPC_METHOD_NOT_FOUND', method: name.slice(0, 64) }, `Method "${name.slice(0, 64)}" does not exist; see src/rpc/README.md for the list of methods.`)
  if (spec.wsOnly === true && ctx.session === undefined) {
    throw new RpcError({ code: 'RPC_WEBSOCKET_ONLY', method: name }, `Method "${name}" needs a WebSocket connection; connect to /ws.`)
  }
  const signed = spec.patientOf !== undefined
  const params = readParams(rawParams, signed ? [...spec.params, 'auth'] : spec.params)
  const args = spec.parse(params)
  let scope: ReaderScope | undefined
  if (spec.patientOf !== undefined) {
    const auth = readQueryAuth(params)
    const { chain } = ctx.rpc
    verifySignedQuery({ chainId: chain.chainId, method: name, params, auth, now: ctx.rpc.now(), replay: ctx.rpc.replay })
    scope = spec.alsoReader?.(args, chain, auth.requester) ?? authoriseReader(chain.stateView, chain.head.timestamp, spec.patientOf(args), auth.requester)
  }
  return await spec.run(args, ctx, scope)
}
