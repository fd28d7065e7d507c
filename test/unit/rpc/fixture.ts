/**
 * A real chain (ChainHarness on LevelDB) with a small hospital world, a Mempool reading nonces from
 * the chain, and an RPC server on 127.0.0.1 port 0, plus small HTTP / WebSocket clients.
 *
 * The world, block by block (1 s apart):
 *  1. hospital-a registers doctor, nurse (clinicians), pharmacy, lab and insurer (organisations);
 *  2. doctor enrols patient, anchors a MedicationRequest (rx) and an Observation (obs);
 *  3. patient grants pharmacy (pharmacy, "*", long), lab (treatment, Observation, 1.5 s) and nurse
 *     (treatment, "*", long);
 *  4. patient revokes the nurse's grant;
 *  5. pharmacy accesses rx (purpose pharmacy); by now the lab's grant has expired.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { WebSocket } from 'ws'
import { Mempool, type MempoolOptions } from '../../../src/chain/mempool.js'
import { ClinicianRole, OrganizationKind, Purpose, recordIdOf, TxType, type Tx, type TxPayload } from '../../../src/types/tx.js'
import { toHex } from '../../../src/crypto/bytes.js'
import type { Signer } from '../../../src/crypto/ed25519.js'
import { getSenderNonce } from '../../../src/contracts/index.js'
import { signQuery } from '../../../src/types/signedQuery.js'
import { startRpcServer, type RpcServer, type RpcServerOptions } from '../../../src/rpc/server.js'
import { ChainHarness } from '../../utils/chainHarness.js'
import { bytes32, makeKeys, makeTx, TEST_CHAIN_ID } from '../../utils/factories.js'

export const keys = {
  hospital: makeKeys('hospital-a'),
  doctor: makeKeys('rpc/doctor'),
  nurse: makeKeys('rpc/nurse'),
  pharmacy: makeKeys('rpc/pharmacy'),
  lab: makeKeys('rpc/lab'),
  insurer: makeKeys('rpc/insurer'),
  patient: makeKeys('rpc/patient'),
  stranger: makeKeys('rpc/stranger') // never registered
}

export const hex = (k: Signer): string => toHex(k.publicKey)

/** Next nonce of a signer per the committed state and what this world has already sent. */
export class World {
  readonly nonces = new Map<string, number>()
  grants: { pharmacy: Uint8Array, lab: Uint8Array, nurse: Uint8Array } = { pharmacy: new Uint8Array(), lab: new Uint8Array(), nurse: new Uint8Array() }
  records: { rx: Uint8Array, obs: Uint8Array } = { rx: new Uint8Array(), obs: new Uint8Array() }

  constructor (readonly h: ChainHarness) {}

  tx (signer: Signer, payload: TxPayload): Tx {
    const id = hex(signer)
    const nonce = this.nonces.get(id) ?? getSenderNonce(this.h.chain.stateView, signer.publicKey) ?? 0
    this.nonces.set(id, nonce + 1)
    return makeTx(signer, nonce, payload)
  }

  anchor (resourceType: string, label: string): Tx {
    return this.tx(keys.doctor, {
      type: TxType.AnchorRecord,
      patient: keys.patient.publicKey,
      resourceType,
      contentHash: bytes32(label),
      size: 100,
      blobRef: `blob:${label}`,
      envelopes: [{ recipient: keys.patient.publicKey, wrappedKey: new Uint8Array(48).fill(7) }]
    })
  }

  /** Commits `txs` in one block and checks every receipt is OK. */
  async commitOk (txs: Tx[]): Promise<void> {
    const result = await this.h.commit(txs)
    assert.equal(result.skipped.length, 0, `skipped: ${result.skipped.map((s) => s.error.code).join(', ')}`)
    assert.deepEqual(result.receipts.map((r) => r.code), txs.map(() => 'OK'))
    // the world's own nonce cache is only valid while everything it sent was committed
  }
}

export async function buildWorld (h: ChainHarness): Promise<World> {
  const w = new World(h)
  const { hospital, doctor, nurse, pharmacy, lab, insurer, patient } = keys
  await w.commitOk([
    w.tx(hospital, { type: TxType.RegisterClinician, publicKey: doctor.publicKey, name: 'Dr. RPC', role: ClinicianRole.Doctor }),
    w.tx(hospital, { type: TxType.RegisterClinician, publicKey: nurse.publicKey, name: 'Nurse RPC', role: ClinicianRole.Nurse }),
    w.tx(hospital, { type: TxType.RegisterOrganization, publicKey: pharmacy.publicKey, name: 'Pharmacy', kind: OrganizationKind.Pharmacy }),
    w.tx(hospital, { type: TxType.RegisterOrganization, publicKey: lab.publicKey, name: 'Lab', kind: OrganizationKind.Lab }),
    w.tx(hospital, { type: TxType.RegisterOrganization, publicKey: insurer.publicKey, name: 'Insurer', kind: OrganizationKind.Insurer })
  ])
  const enrol = w.tx(doctor, { type: TxType.EnrolPatient, publicKey: patient.publicKey })
  const rx = w.anchor('MedicationRequest', 'rx')
  const obs = w.anchor('Observation', 'obs')
  await w.commitOk([enrol, rx, obs])
  w.records = { rx: recordIdOf(TEST_CHAIN_ID, rx.hash), obs: recordIdOf(TEST_CHAIN_ID, obs.hash) }
  const t3 = h.nextTimestamp()
  const grant = (grantee: Signer, purpose: Purpose, recordTypes: string[], expiresAt: number): Tx =>
    w.tx(patient, { type: TxType.Grant, grantee: grantee.publicKey, recordTypes, recordIds: [], purpose, expiresAt, envelopes: [] })
  const gPharmacy = grant(pharmacy, Purpose.Pharmacy, ['*'], t3 + 365 * 86_400_000)
  const gLab = grant(lab, Purpose.Treatment, ['Observation'], t3 + 1500)
  const gNurse = grant(nurse, Purpose.Treatment, ['*'], t3 + 365 * 86_400_000)
  await w.commitOk([gPharmacy, gLab, gNurse])
  w.grants = { pharmacy: gPharmacy.hash, lab: gLab.hash, nurse: gNurse.hash }
  await w.commitOk([w.tx(patient, { type: TxType.Revoke, grantId: gNurse.hash })])
  await w.commitOk([w.tx(pharmacy, { type: TxType.AccessRecord, recordId: w.records.rx, purpose: Purpose.Pharmacy })])
  return w
}

export interface Fixture {
  h: ChainHarness
  world: World
  mempool: Mempool
  server: RpcServer
  /** The clock the server reads; tests move it. */
  clock: { now: number }
  close: () => Promise<void>
}

export async function startFixture (opts: { server?: Partial<RpcServerOptions>, mempool?: Partial<MempoolOptions> } = {}): Promise<Fixture> {
  const h = await ChainHarness.open()
  try {
    const world = await buildWorld(h)
    const mempool = new Mempool({ chainId: TEST_CHAIN_ID, getAccountNonce: (pk) => getSenderNonce(h.chain.stateView, pk), ...opts.mempool })
    const clock = { now: Date.UTC(2026, 5, 1) }
    const server = await startRpcServer({
      chain: h.chain,
      mempool,
      nodeInfo: () => ({ version: '0.1.0-test', moniker: 'rpc-test' }),
      peers: () => [{ peerId: 'peer-1', address: '/ip4/127.0.0.1/tcp/1' }],
      now: () => clock.now,
      limits: { ratePerSecond: 1_000_000, burst: 1_000_000 },
      logger: { error: () => undefined },
      ...opts.server
    })
    return {
      h, world, mempool, server, clock,
      close: async () => {
        await server.close()
        await h.close()
      }
    }
  } catch (err) {
    await h.close()
    throw err
  }
}

// ------------------------------------------------------------------------------------------------
// clients

export interface HttpResult { status: number, headers: Record<string, string | string[] | undefined>, text: string, json: () => unknown }

/** One HTTP request on a fresh connection (so Host and other headers are exactly as given). */
export async function http (port: number, opts: { method?: string, path?: string, headers?: Record<string, string>, body?: string | Buffer, chunked?: boolean } = {}): Promise<HttpResult> {
  return await new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body)
    const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers }
    if (body !== undefined && opts.chunked !== true) headers['content-length'] = String(body.length)
    const req = request({ host: '127.0.0.1', port, method: opts.method ?? 'POST', path: opts.path ?? '/', headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as unknown })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    if (body !== undefined) req.write(body)
    req.end()
  })
}

export interface RpcReply { id?: unknown, result?: unknown, error?: { code: number, message: string, data?: { code: string } } }

let nextId = 1

/** One JSON-RPC call over HTTP; returns the response object. */
export async function rpc (server: RpcServer, method: string, params?: unknown): Promise<RpcReply> {
  const id = nextId++
  const res = await http(server.port, { body: JSON.stringify({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) }) })
  assert.equal(res.status, 200, res.text)
  const reply = res.json() as RpcReply
  assert.equal(reply.id, id)
  return reply
}

export async function rpcResult (server: RpcServer, method: string, params?: unknown): Promise<unknown> {
  const reply = await rpc(server, method, params)
  assert.equal(reply.error, undefined, JSON.stringify(reply.error))
  return reply.result
}

/** Asserts a JSON-RPC error with the given numeric code and (when given) data.code. */
export function assertRpcError (reply: RpcReply, code: number, dataCode?: string): void {
  assert.ok(reply.error !== undefined, `expected error ${code} ${dataCode ?? ''}, got result ${JSON.stringify(reply.result)}`)
  assert.equal(reply.error.code, code, JSON.stringify(reply.error))
  if (dataCode !== undefined) assert.equal(reply.error.data?.code, dataCode, JSON.stringify(reply.error))
  assert.equal(typeof reply.error.message, 'string')
  assert.ok(!reply.error.message.includes('    at '), 'no stack trace in messages')
}

export function signed (signer: Signer, method: string, params: Record<string, unknown>, timestamp: number): Record<string, unknown> {
  return signQuery(signer, TEST_CHAIN_ID, method, params, timestamp)
}

/** A WebSocket client that keeps every message it receives, for tests to await by predicate. */
export class WsClient {
  private readonly inbox: unknown[] = []
  private readonly waiters: Array<{ match: (m: unknown) => boolean, resolve: (m: unknown) => void }> = []
  private nextId = 1
  readonly closed: Promise<void>

  private constructor (readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as unknown
      const i = this.waiters.findIndex((w) => w.match(message))
      if (i >= 0) {
        const [waiter] = this.waiters.splice(i, 1)
        waiter?.resolve(message)
      } else {
        this.inbox.push(message)
      }
    })
    this.closed = new Promise((resolve) => { ws.on('close', () => { resolve() }) })
  }

  static async connect (url: string, headers: Record<string, string> = {}): Promise<WsClient> {
    const ws = new WebSocket(url, { headers })
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => { resolve() })
      ws.once('error', reject)
    })
    return new WsClient(ws)
  }

  /** The first message (already received or still to come) matching `match`; removes it. */
  async next (match: (m: unknown) => boolean): Promise<unknown> {
    const i = this.inbox.findIndex(match)
    if (i >= 0) return this.inbox.splice(i, 1)[0]
    return await new Promise((resolve) => { this.waiters.push({ match, resolve }) })
  }

  /** Messages received and not yet taken. */
  pending (): unknown[] {
    return [...this.inbox]
  }

  async call (method: string, params?: unknown): Promise<RpcReply> {
    const id = this.nextId++
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) }))
    return await this.next((m) => (m as RpcReply).id === id) as RpcReply
  }

  async notification (method: string, subscription: string): Promise<{ subscription: string, result?: Record<string, unknown>, error?: RpcReply['error'] }> {
    const m = await this.next((x) => {
      const n = x as { method?: string, params?: { subscription?: string } }
      return n.method === method && n.params?.subscription === subscription
    })
    return (m as { params: { subscription: string, result?: Record<string, unknown>, error?: RpcReply['error'] } }).params
  }

  async close (): Promise<void> {
    this.ws.close()
    await this.closed
  }
}

/** Yields to the event loop until `condition` holds (at most `turns` turns); no timers. */
export async function eventually (condition: () => boolean, turns = 10_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (condition()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  assert.fail('condition not reached')
}
