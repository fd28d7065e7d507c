/**
 * `medchain query …`: read the chain through a node's JSON-RPC (src/rpc/README.md).
 *
 *  - public reads: `block <height|hash>`, `tx <hash>` (its receipt), `entity <name|hex>`, `validators`;
 *  - a patient's data, as signed queries (`signQuery` of src/rpc/auth.ts, signed afresh for every
 *    call by the `--as` key): `records`, `consent`, `audit`, and `proof` (a record's proof bundle for
 *    `medchain verify`, src/cli/verify.ts). The node answers the patient with
 *    everything, a holder of a live grant with what concerns it, and anyone else QUERY_NOT_AUTHORISED.
 *
 * `query audit` is the patient's accounting of disclosures: every access to the patient's records,
 * granted or refused, with time, actor, the actor's role, action, purpose, result and the emergency
 * (break-glass) flag; `--format table|json|csv`. With `--verify` every line is proven offline
 * against the genesis (proof_getTx, src/proof): a VERIFIED column, or exit 1 naming the line.
 */
import { writeFileSync } from 'node:fs'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { toHex } from '../crypto/bytes.js'
import { ProofError } from '../proof/errors.js'
import type { RecordProof } from '../proof/types.js'
import { verifyTxProof } from '../proof/verify.js'
import { signQuery } from '../types/signedQuery.js'
import { loadTrustedGenesis } from './verify.js'
import { formatTable, printResult, type CliIo, type CommandResult } from './output.js'
import {
  addConnectionOptions, ClientError, contextOf, hex32, integerIn, localKeyNames, parseDuration, parseTime, resolvePublicKey, unlockKey,
  type CliContext, type ConnectionOptions
} from './rpcClient.js'
import { RECORDS_PAGE, type GrantJson, type RecordJson } from './record.js'

const HEX64_RE = /^[0-9a-fA-F]{64}$/

function short (hex: string): string {
  return hex.length > 16 ? `${hex.slice(0, 8)}…${hex.slice(-4)}` : hex
}

function isoTime (ms: number | null | undefined): string {
  return typeof ms === 'number' ? new Date(ms).toISOString() : '-'
}

function notFound (what: string, message: string): ClientError {
  return new ClientError({ code: 'CLI_NOT_FOUND', what }, message)
}

// ---------------------------------------------------------------------------------------------
// public reads
// ---------------------------------------------------------------------------------------------

interface BlockJson {
  height: number
  hash: string
  timestamp: number
  header: { proposer: string, prevHash: string, stateRoot: string }
  txs: string[]
  lastCommit: { signers: string[] }
}

export async function queryBlock (ctx: CliContext, ref: string): Promise<CommandResult> {
  const params = /^\d{1,15}$/.test(ref) ? { height: Number(ref) } : { hash: ref.toLowerCase() }
  const block = await ctx.client.call<BlockJson | null>('chain_getBlock', params)
  if (block === null) {
    const head = await ctx.client.call<{ height: number }>('chain_head')
    throw notFound('block', `This node has no block ${'height' in params ? `at height ${ref}` : `with hash ${ref}`} (its head is at height ${head.height}); ask for a height from 1 to ${head.height}.`)
  }
  const text = formatTable([
    ['height:', String(block.height)],
    ['hash:', block.hash],
    ['time:', isoTime(block.timestamp)],
    ['proposer:', block.header.proposer],
    ['previous:', block.header.prevHash],
    ['state root:', block.header.stateRoot],
    ['commit signers:', String(block.lastCommit.signers.length)],
    ['txs:', block.txs.length === 0 ? '(none)' : block.txs.join('\n' + ' '.repeat(16))]
  ])
  return { json: block, text }
}

interface ReceiptJson { hash: string, height: number, index: number, code: string, log: string, events: Array<{ kind: string, attributes: Record<string, string> }> }

export async function queryTx (ctx: CliContext, hash: string): Promise<CommandResult> {
  const receipt = await ctx.client.call<ReceiptJson | null>('tx_getReceipt', { hash })
  if (receipt === null) throw notFound('tx', `No transaction ${hash} is in a block on this node; if it was just submitted, wait a block and ask again.`)
  const text = formatTable([
    ['tx:', receipt.hash],
    ['height:', `${receipt.height} (index ${receipt.index})`],
    ['result:', receipt.log === '' ? receipt.code : `${receipt.code} (${receipt.log})`]
  ]) + (receipt.events.length === 0 ? '' : '\nevents:\n' + receipt.events.map((e) => `  ${e.kind}  ${Object.entries(e.attributes).map(([k, v]) => `${k}=${v}`).join(' ')}`).join('\n'))
  return { json: receipt, text }
}

interface EntityJson {
  publicKey: string
  kind: string
  status: string
  active: boolean
  role: string | null
  name: string
  hospital: string | null
  registeredBy: string | null
  registeredAt: number
  nonce: number
  enrolledAt: string[]
  deactivatedAt: number | null
}

export async function queryEntity (ctx: CliContext, who: string): Promise<CommandResult> {
  const publicKey = toHex(resolvePublicKey(ctx.keystore, who))
  const entity = await ctx.client.call<EntityJson | null>('state_getEntity', { publicKey })
  if (entity === null) throw notFound('entity', `No identity is registered under ${publicKey}${HEX64_RE.test(who) ? '' : ` (key "${who}")`}; a hospital must register or enrol it first.`)
  const names = localKeyNames(ctx.keystore)
  const named = (hex: string | null): string => hex === null ? '-' : names.has(hex) ? `${hex} (${names.get(hex) as string})` : hex
  const text = formatTable([
    ['public key:', named(entity.publicKey)],
    ['kind:', entity.kind + (entity.role !== null ? ` (${entity.role})` : '')],
    ['name:', entity.name === '' ? '-' : entity.name],
    ['status:', `${entity.status}${entity.status === 'active' && !entity.active ? ' (its hospital is inactive)' : ''}`],
    ['hospital:', named(entity.hospital)],
    ['registered by:', named(entity.registeredBy)],
    ['registered at:', `height ${entity.registeredAt}`],
    ['enrolled at:', entity.enrolledAt.length === 0 ? '-' : entity.enrolledAt.map(named).join(', ')],
    ['next nonce:', String(entity.nonce)],
    ...(entity.deactivatedAt !== null ? [['deactivated at:', `height ${entity.deactivatedAt}`]] : [])
  ])
  return { json: entity, text }
}

export async function queryValidators (ctx: CliContext): Promise<CommandResult> {
  const set = await ctx.client.call<{ height: number, totalPower: number, validators: Array<{ publicKey: string, power: number, hospital: string }> }>('validators_list')
  const names = localKeyNames(ctx.keystore)
  const text = `validators for block ${set.height + 1} (total power ${set.totalPower}):\n` + formatTable([
    ['VALIDATOR', 'POWER', 'HOSPITAL'],
    ...set.validators.map((v) => [v.publicKey, String(v.power), names.get(v.hospital) ?? v.hospital])
  ])
  return { json: set, text }
}

// ---------------------------------------------------------------------------------------------
// signed patient queries
// ---------------------------------------------------------------------------------------------

interface SignedOptions extends ConnectionOptions {
  patient: string
  as?: string
  printRequest?: boolean
  passphraseFile?: string
}

/**
 * Calls a signed query method for `--patient`, signed by the `--as` key (default: the patient's
 * own key name). With `--print-request` it returns the signed JSON-RPC request instead of sending
 * it (for curl; valid for 60 s and once).
 */
async function signedCall<T> (
  ctx: CliContext, cmd: Command, method: string, opts: SignedOptions, extra: Record<string, unknown> = {}
): Promise<{ result: T } | { request: CommandResult }> {
  const session = await openSignedSession(ctx, cmd, opts)
  const params = session.sign(method, extra)
  if (opts.printRequest === true) {
    const request = { jsonrpc: '2.0', id: 1, method, params }
    return { request: { json: request, text: JSON.stringify(request) } }
  }
  return { result: await ctx.client.call<T>(method, params) }
}

/** The `--as` key unlocked once, signing queries for `--patient` with a fresh timestamp each. */
async function openSignedSession (
  ctx: CliContext, cmd: Command, opts: SignedOptions
): Promise<{ sign: (method: string, extra: Record<string, unknown>) => Record<string, unknown> }> {
  const asName = opts.as ?? (HEX64_RE.test(opts.patient) ? undefined : opts.patient)
  if (asName === undefined) cmd.error('error: name the key that signs the query with --as <keyName> (the patient, or a holder of the patient\'s consent).', { code: 'medchain.as', exitCode: 2 })
  const patient = toHex(resolvePublicKey(ctx.keystore, opts.patient))
  const signer = await unlockKey(ctx, asName as string, opts.passphraseFile)
  const info = await ctx.client.call<{ chainId?: unknown }>('node_info')
  if (typeof info?.chainId !== 'string') {
    throw new ClientError({ code: 'CLI_RPC_BAD_RESPONSE', url: ctx.client.url, method: 'node_info' }, `The node at ${ctx.client.url} did not say its chain id; check the --rpc URL.`)
  }
  const chainId = info.chainId
  return { sign: (method, extra) => signQuery(signer, chainId, method, { patient, ...extra }, Date.now()) }
}


interface RecordsOptions extends SignedOptions { limit?: number, after?: string }

async function queryRecords (ctx: CliContext, cmd: Command, opts: RecordsOptions): Promise<CommandResult> {
  const limit = opts.limit ?? RECORDS_PAGE
  const call = await signedCall<RecordJson[]>(ctx, cmd, 'records_listByPatient', opts, { limit, ...(opts.after !== undefined ? { after: opts.after } : {}) })
  if ('request' in call) return call.request
  const records = call.result
  const names = localKeyNames(ctx.keystore)
  const last = records.at(-1)
  const more = records.length === limit && last !== undefined ? `\n(a full page of ${limit}: the next one starts with --after ${last.recordId})` : ''
  const text = records.length === 0
    ? (opts.after === undefined ? 'No records you may see.' : 'No more records you may see.')
    : formatTable([
      ['RECORD ID', 'TYPE', 'SIZE', 'AUTHOR', 'ANCHORED', 'STATUS'],
      ...records.map((r) => [r.recordId, r.resourceType, String(r.size), names.get(r.author) ?? short(r.author), `${isoTime(r.anchoredTime)} (height ${r.anchoredAt})`, r.supersededBy === null ? 'current' : `superseded by ${short(r.supersededBy)}`])
    ]) + more
  return { json: records, text }
}

async function queryConsent (ctx: CliContext, cmd: Command, opts: SignedOptions): Promise<CommandResult> {
  const call = await signedCall<GrantJson[]>(ctx, cmd, 'consent_list', opts)
  if ('request' in call) return call.request
  const grants = call.result
  const names = localKeyNames(ctx.keystore)
  const text = grants.length === 0
    ? 'No consents you may see.'
    : formatTable([
      ['GRANT ID', 'GRANTEE', 'PURPOSE', 'SCOPE', 'EXPIRES', 'STATUS'],
      ...grants.map((g) => [
        g.grantId, names.get(g.grantee) ?? short(g.grantee), g.purpose,
        [...g.recordTypes, ...g.recordIds.map((id) => `record ${short(id)}`)].join(', '),
        isoTime(g.expiresAt), g.status
      ])
    ])
  return { json: grants, text }
}

interface AuditJson {
  seq: number
  height: number
  txHash: string
  time: number
  actor: string
  actorKind: string
  action: string
  recordId: string | null
  purpose: string | null
  result: string
  emergency: boolean
}

/** Action names as a person reads them ("AccessRecord" → "access-record", as the tx subcommands). */
function actionName (action: string): string {
  return action.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()
}

function csvCell (value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value
}

/** `--from` / `--to` of `query audit`: an ISO time, or a duration before now ("7d" = seven days ago). */
function auditTime (now: () => number): (value: string) => number {
  return (value) => {
    const duration = parseDuration(value)
    const at = duration !== undefined ? now() - duration : parseTime(value)
    if (at === undefined) throw new InvalidArgumentError('must be an ISO time (2026-11-01T00:00:00Z) or a duration before now such as 7d or 12h.')
    return at
  }
}

interface AuditOptions extends SignedOptions {
  from?: number
  to?: number
  limit?: number
  format: 'table' | 'json' | 'csv'
  verify?: boolean
  genesis?: string
}

/**
 * `audit --verify`: fetches a tx proof (proof_getTx) for every line and verifies it offline against
 * the genesis; the proven tx hash, height and receipt code must be the line's. Throws ProofError
 * naming the first line that fails.
 */
async function verifyAuditLines (ctx: CliContext, cmd: Command, opts: AuditOptions, entries: readonly AuditJson[]): Promise<void> {
  const genesis = loadTrustedGenesis(ctx.home, opts.genesis)
  const session = await openSignedSession(ctx, cmd, opts)
  for (const [i, e] of entries.entries()) {
    const line = `Audit line ${i + 1} (tx ${short(e.txHash)}, height ${e.height})`
    const bundle = await ctx.client.call<unknown>('proof_getTx', session.sign('proof_getTx', { hash: e.txHash }))
    if (bundle === null) throw new ProofError({ code: 'PROOF_UNAVAILABLE', what: 'tx', reason: 'not on the trail' }, `${line} has no proof: the node says the tx is not on the trail you may see.`)
    let proven
    try {
      proven = verifyTxProof(bundle, genesis)
    } catch (err) {
      if (err instanceof ProofError) throw new ProofError(err.type, `${line} does not verify: ${err.message}`)
      throw err
    }
    if (proven.txHash !== e.txHash || proven.block.height !== e.height || proven.receipt.code !== e.result) {
      throw new ProofError({ code: 'PROOF_RECORD_MISMATCH', part: `audit[${i + 1}]`, reason: 'line' },
        `${line} does not match its proof: the proven tx ${short(proven.txHash)} at height ${proven.block.height} has result ${proven.receipt.code}, the line says ${e.result}.`)
    }
  }
}

async function queryAudit (ctx: CliContext, cmd: Command, opts: AuditOptions): Promise<CommandResult> {
  const extra = {
    ...(opts.from !== undefined ? { from: opts.from } : {}),
    ...(opts.to !== undefined ? { to: opts.to } : {}),
    ...(opts.limit !== undefined ? { limit: opts.limit } : {})
  }
  const call = await signedCall<AuditJson[]>(ctx, cmd, 'audit_listByPatient', opts, extra)
  if ('request' in call) return call.request
  const entries = call.result
  if (opts.verify === true) await verifyAuditLines(ctx, cmd, opts, entries)
  const verified = opts.verify === true ? { verified: true } : {}
  // the actor's name and role, as registered on chain (one lookup per distinct actor)
  const names = localKeyNames(ctx.keystore)
  const actors = new Map<string, EntityJson | null>()
  for (const e of entries) {
    if (!actors.has(e.actor)) actors.set(e.actor, await ctx.client.call<EntityJson | null>('state_getEntity', { publicKey: e.actor }))
  }
  const report = entries.map((e) => {
    const entity = actors.get(e.actor) ?? null
    return {
      ...e,
      ...verified,
      timeIso: isoTime(e.time),
      actorName: entity !== null && entity.name !== '' ? entity.name : names.get(e.actor) ?? null,
      actorRole: entity?.role ?? e.actorKind
    }
  })
  const columns = ['TIME', 'ACTOR', 'ROLE', 'ACTION', 'PURPOSE', 'RECORD', 'RESULT', 'EMERGENCY', ...(opts.verify === true ? ['VERIFIED'] : [])]
  const row = (r: typeof report[number]): string[] => [
    r.timeIso, r.actorName ?? short(r.actor), r.actorRole, actionName(r.action), r.purpose ?? '-',
    r.recordId === null ? '-' : short(r.recordId), r.result, r.emergency ? 'EMERGENCY' : '-', ...(opts.verify === true ? ['yes'] : [])
  ]
  let text: string
  if (opts.format === 'json') text = JSON.stringify(report)
  else if (opts.format === 'csv') {
    const header = ['time', 'actor', 'actor_name', 'role', 'action', 'purpose', 'record_id', 'result', 'emergency', 'height', 'tx_hash', ...(opts.verify === true ? ['verified'] : [])]
    text = [header.join(','), ...report.map((r) => [
      r.timeIso, r.actor, r.actorName ?? '', r.actorRole, actionName(r.action), r.purpose ?? '', r.recordId ?? '', r.result, String(r.emergency), String(r.height), r.txHash,
      ...(opts.verify === true ? ['true'] : [])
    ].map(csvCell).join(','))].join('\n')
  } else {
    text = report.length === 0 ? 'No audit entries you may see.' : formatTable([columns, ...report.map(row)])
  }
  return { json: report, text }
}

interface ProofOptions extends SignedOptions {
  record: string
  grantee?: string
  out?: string
}

/** `query proof`: fetches proof_getRecord (signed) and writes the bundle for `medchain verify`. */
async function queryProof (ctx: CliContext, cmd: Command, opts: ProofOptions): Promise<CommandResult> {
  const extra = { recordId: opts.record, ...(opts.grantee !== undefined ? { grantee: toHex(resolvePublicKey(ctx.keystore, opts.grantee)) } : {}) }
  const call = await signedCall<RecordProof | null>(ctx, cmd, 'proof_getRecord', opts, extra)
  if ('request' in call) return call.request
  const bundle = call.result
  if (bundle === null) throw notFound('record', `No record ${opts.record} is anchored on this chain; list the patient's records with \`medchain query records\`.`)
  if (opts.out === undefined) return { json: bundle, text: JSON.stringify(bundle, null, 2) }
  try {
    writeFileSync(opts.out, JSON.stringify(bundle, null, 2) + '\n')
  } catch (err) {
    throw new ClientError({ code: 'CLI_BAD_FILE', path: opts.out }, `Could not write ${opts.out} (${(err as NodeJS.ErrnoException).code ?? 'error'}); choose another --out path.`)
  }
  return {
    json: { out: opts.out, kind: bundle.kind, recordId: bundle.recordId },
    text: `Wrote the proof of record ${opts.record} to ${opts.out}; check it offline with: medchain verify ${opts.out}`
  }
}

// ---------------------------------------------------------------------------------------------
// commander wiring
// ---------------------------------------------------------------------------------------------

const TIMEOUT_HELP = 'seconds to wait for the node\'s answer'

function blockRef (value: string): string {
  if (/^\d{1,15}$/.test(value) || HEX64_RE.test(value)) return value
  throw new InvalidArgumentError('must be a block height or a block hash (64 hex characters).')
}

function signedOptions (cmd: Command): Command {
  return cmd
    .requiredOption('--patient <name|hex>', 'the patient (keystore name or 64 hex)')
    .option('--as <keyName>', 'keystore key that signs the query: the patient, or a holder of the patient\'s consent (default: --patient when it is a key name)')
    .option('--passphrase-file <file>', 'read the --as key\'s passphrase from the first line of <file> (else $MEDCHAIN_PASSPHRASE, else a prompt)')
    .option('--print-request', 'print the signed JSON-RPC request instead of sending it (for curl; valid for 60 s, once)')
}

export function addQueryCommands (program: Command, io: CliIo, now: () => number = Date.now): void {
  const query = program.command('query')
    .description('read blocks, receipts, identities, validators, and (signed) a patient\'s records, consents and audit trail')
    .addHelpText('after', `
Examples (in a devnet started with \`npm start\`; export MEDCHAIN_PASSPHRASE=devnet):
  $ medchain --home ./devnet query block 12
  $ medchain --home ./devnet query entity doctor
  $ medchain --home ./devnet query audit --patient patient --as patient

The node is --rpc <url>, else $MEDCHAIN_RPC, else the one in <home>/config.json or <home>/node0/config.json.`)

  const run = (action: (ctx: CliContext, cmd: Command) => Promise<CommandResult>) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command
      const ctx = contextOf(cmd, io, cmd.opts<ConnectionOptions>())
      printResult(io, ctx.json, await action(ctx, cmd))
    }

  addConnectionOptions(query.command('block')
    .description('a block by height or hash: header, transactions, commit signers')
    .argument('<height|hash>', 'block height, or block hash (64 hex)', blockRef), TIMEOUT_HELP)
    .addHelpText('after', `
Example:
  $ medchain --home ./devnet query block 3 --json
  {"height":3,"hash":"…","timestamp":1795000000000,"header":{…},"txs":["…"],"lastCommit":{…}}`)
    .action(run(async (ctx, cmd) => await queryBlock(ctx, cmd.processedArgs[0] as string)))

  addConnectionOptions(query.command('tx')
    .description('a transaction\'s receipt: height, result code, log and events')
    .argument('<hash>', 'transaction hash (64 hex)', hex32('the transaction hash')), TIMEOUT_HELP)
    .addHelpText('after', `
Example:
  $ medchain --home ./devnet query tx 5d0c…(64 hex)`)
    .action(run(async (ctx, cmd) => await queryTx(ctx, cmd.processedArgs[0] as string)))

  addConnectionOptions(query.command('entity')
    .description('a registered identity: kind, role, name, status, hospital, next nonce')
    .argument('<name|hex>', 'keystore name or 64-hex public key'), TIMEOUT_HELP)
    .addHelpText('after', `
Example:
  $ medchain --home ./devnet query entity doctor`)
    .action(run(async (ctx, cmd) => await queryEntity(ctx, cmd.processedArgs[0] as string)))

  addConnectionOptions(query.command('validators')
    .description('the validator set that validates the next block'), TIMEOUT_HELP)
    .addHelpText('after', `
Example:
  $ medchain --home ./devnet query validators`)
    .action(run(async (ctx) => await queryValidators(ctx)))

  addConnectionOptions(signedOptions(query.command('records')
    .description('a patient\'s anchored records, oldest first (signed query: the patient sees all, a grantee what its consent covers)'))
    .option('--limit <n>', 'at most this many records (default and most: 1000, one page)', integerIn(1, 1000))
    .option('--after <recordId>', 'start after this record: the last one of the previous page', hex32('--after')), TIMEOUT_HELP)
    .addHelpText('after', `
Example:
  $ medchain --home ./devnet query records --patient patient --as patient
  $ medchain --home ./devnet query records --patient patient --as pharmacy
  $ medchain --home ./devnet query records --patient patient --as patient --limit 50 --after <last record id of the previous page>`)
    .action(run(async (ctx, cmd) => await queryRecords(ctx, cmd, cmd.opts<RecordsOptions>())))

  addConnectionOptions(signedOptions(query.command('consent')
    .description('a patient\'s consents (signed query: the patient sees all, a grantee the grants made to it)')), TIMEOUT_HELP)
    .addHelpText('after', `
Example:
  $ medchain --home ./devnet query consent --patient patient --as patient`)
    .action(run(async (ctx, cmd) => await queryConsent(ctx, cmd, cmd.opts<SignedOptions>())))

  addConnectionOptions(signedOptions(query.command('audit')
    .description('a patient\'s audit trail, an accounting of disclosures: who read or was refused what, when, for which purpose (signed query)'))
    .option('--from <time>', 'only entries at or after this ISO time (or duration ago, e.g. 7d)', auditTime(now))
    .option('--to <time>', 'only entries at or before this ISO time (or duration ago)', auditTime(now))
    .option('--limit <n>', 'at most this many entries (node default 100, at most 1000)', integerIn(1, 1000))
    .addOption(new Option('--format <format>', 'output as a table, JSON or CSV (--json also gives JSON)').choices(['table', 'json', 'csv']).default('table'))
    .option('--verify', 'fetch a proof of every line (proof_getTx) and verify it offline against the genesis; exit 1 naming the first line that fails')
    .option('--genesis <file>', 'with --verify: the genesis.json to trust (default: <home>/genesis.json, else <home>/node0/genesis.json)'), TIMEOUT_HELP)
    .addHelpText('after', `
Example:
  $ medchain --home ./devnet query audit --patient patient --as patient
  TIME                      ACTOR             ROLE      ACTION            PURPOSE    RECORD         RESULT                  EMERGENCY
  2026-11-22T03:45:51.345Z  Main St Pharmacy  pharmacy  access-record     pharmacy   9e8d516f…feac  OK                      -
  2026-11-22T03:45:53.572Z  Main St Pharmacy  pharmacy  access-record     pharmacy   e651b435…ab10  ACCESS_OUT_OF_SCOPE     -
  2026-11-22T03:45:59.880Z  patient           patient   revoke            pharmacy   -              OK                      -
  2026-11-22T03:46:02.017Z  Main St Pharmacy  pharmacy  access-record     pharmacy   9e8d516f…feac  ACCESS_CONSENT_REVOKED  -
  2026-11-22T03:46:18.309Z  Dr. Ada Lovelace  doctor    emergency-access  -          -              OK                      EMERGENCY
  $ medchain --home ./devnet query audit --patient patient --as patient --from 7d --format csv > disclosures.csv
  $ medchain --home ./devnet query audit --patient patient --as patient --verify      adds a VERIFIED column: each line proven against the genesis
  $ curl -s http://127.0.0.1:26657/ -H 'content-type: application/json' \\
      -d "$(medchain --home ./devnet query audit --patient patient --as patient --print-request)"`)
    .action(run(async (ctx, cmd) => {
      const opts = cmd.opts<AuditOptions>()
      if (opts.from !== undefined && opts.to !== undefined && opts.from > opts.to) cmd.error('error: --from must not be after --to.', { code: 'medchain.range', exitCode: 2 })
      return await queryAudit(ctx, cmd, opts)
    }))

  addConnectionOptions(signedOptions(query.command('proof')
    .description('a proof of one record (signed query): its anchoring tx, block and commit certificate, validator history, and at the head its state and the patient\'s consents; check it with `medchain verify`'))
    .requiredOption('--record <id>', 'record id (64 hex)', hex32('the record id'))
    .option('--grantee <name|hex>', 'also prove whether this grantee holds a consent from the patient (inclusion or absence)')
    .option('--out <file>', 'write the bundle to <file> (default: print it)'), TIMEOUT_HELP)
    .addHelpText('after', `
Examples:
  $ medchain --home ./devnet query proof --record 9e8d…(64 hex) --patient patient --as patient --out rx.proof.json
  $ medchain --home ./devnet query proof --record 9e8d…(64 hex) --patient patient --as patient --grantee pharmacy --out rx.proof.json
  $ medchain --home ./devnet verify rx.proof.json`)
    .action(run(async (ctx, cmd) => await queryProof(ctx, cmd, cmd.opts<ProofOptions>())))
}
