/**
 * `medchain record put|get|share|release`: medical records end to end, encrypted on this machine.
 *
 * put  (a clinician): inspect the file (a FHIR R4 JSON resource is validated against the official
 *      schema; anything else goes in as a FHIR Binary) → encrypt it with a fresh data key
 *      (src/records/cipher.ts) → seal the data key for the patient, the author and the author's
 *      hospital (the custodian, for break-glass; src/records/envelope.ts) → upload the ciphertext
 *      to the node's blob store → anchor an AnchorRecord tx with its sha256, size and envelopes.
 * get  (anyone): submit an AccessRecord tx (the contract checks consent, and the attempt lands on
 *      the patient's audit trail whether granted or refused) → read the record and the reader's key
 *      envelope → download the ciphertext with the granted access as proof, checking its sha256
 *      against the chain → open the envelope → decrypt → write the file.
 * share (the patient): seal the keys of records a grantee's live consent covers but that carry no
 *      envelope for it (records anchored after the grant) and send them in a ShareKeys tx.
 * release (a hospital where the patient is enrolled): seal the keys of the patient's records for a
 *      clinician who opened emergency access; flagged as emergency on the audit trail.
 *
 * The node never sees a plaintext or a data key: both exist only in this process.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { Purpose, TxType, type GrantEnvelope, type KeyEnvelope, type TxPayload } from '../types/tx.js'
import { fromHex, toHex } from '../crypto/bytes.js'
import type { Signer } from '../crypto/ed25519.js'
import { downloadBlob, readServeLog, uploadBlob } from '../blobs/client.js'
import { grantCoversType, recordTypeReadableBy, type GranteeRole } from '../contracts/index.js'
import { ciphertextSize, decryptFile, encryptFile, newDataKey } from '../records/cipher.js'
import { ENVELOPE_LENGTH, openDataKey, sealDataKey } from '../records/envelope.js'
import { signQuery } from '../types/signedQuery.js'
import type { GrantSummary, RecordSummary } from '../proof/verify.js'
import { formatTable, printNote, printResult, type CliIo, type CommandResult } from './output.js'
import {
  addConnectionOptions, ClientError, contextOf, hex32, localKeyNames, resolvePublicKey, unlockKey, unlockKeySecret, type CliContext, type ConnectionOptions
} from './rpcClient.js'
import { sendTx } from './submit.js'

const PURPOSES = { treatment: Purpose.Treatment, pharmacy: Purpose.Pharmacy, insurance: Purpose.Insurance, research: Purpose.Research } as const
type PurposeName = keyof typeof PURPOSES

/** What records_get / records_listByPatient answer for one record: its metadata and the reader's key envelope. */
export interface RecordJson extends RecordSummary {
  keyEnvelope: string | null
  keySource: string | null
}

/** What consent_list answers for one grant. */
export interface GrantJson extends GrantSummary {
  envelopes: Array<{ recordId: string }>
}

export interface EntityJson { kind: string, role: string | null, hospital: string | null, active: boolean, name: string }

// ---------------------------------------------------------------------------------------------
// helpers

/** What record commands need of node_info: the chain id, and the largest blob the node takes. */
async function nodeInfoOf (ctx: CliContext): Promise<{ chainId: string, blobMaxBytes?: number }> {
  const info = await ctx.client.call<{ chainId?: unknown, blobs?: { maxBytes?: unknown } }>('node_info')
  if (typeof info?.chainId !== 'string') {
    throw new ClientError({ code: 'CLI_RPC_BAD_RESPONSE', url: ctx.client.url, method: 'node_info' }, `The node at ${ctx.client.url} did not say its chain id; check the --rpc URL.`)
  }
  const max = info.blobs?.maxBytes
  return { chainId: info.chainId, ...(typeof max === 'number' ? { blobMaxBytes: max } : {}) }
}

export async function chainIdOf (ctx: CliContext): Promise<string> {
  return (await nodeInfoOf(ctx)).chainId
}

async function signedQuery<T> (ctx: CliContext, signer: Signer, chainId: string, method: string, params: Record<string, unknown>): Promise<T> {
  return await ctx.client.call<T>(method, signQuery(signer, chainId, method, params, Date.now()))
}

/** Records per records_listByPatient page (the node's largest page). */
export const RECORDS_PAGE = 1000

/**
 * Every record of `patient` that `signer` may see, page by page (records_listByPatient answers at
 * most RECORDS_PAGE at a time; a shorter page is the last).
 */
export async function listAllRecords (ctx: CliContext, signer: Signer, chainId: string, patient: string): Promise<RecordJson[]> {
  const all: RecordJson[] = []
  for (;;) {
    const after = all.at(-1)?.recordId
    const page = await signedQuery<RecordJson[]>(ctx, signer, chainId, 'records_listByPatient', { patient, limit: RECORDS_PAGE, ...(after !== undefined ? { after } : {}) })
    all.push(...page)
    if (page.length < RECORDS_PAGE) return all
  }
}

async function entityOf (ctx: CliContext, publicKey: Uint8Array): Promise<EntityJson | null> {
  return await ctx.client.call<EntityJson | null>('state_getEntity', { publicKey: toHex(publicKey) })
}

function mib (bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

/**
 * A progress line on stderr: rewritten in place on a terminal, a line per quarter otherwise (so
 * logs of scripted runs stay short). Quiet for files under 1 MiB.
 */
function progress (io: CliIo, label: string, quiet: boolean): { update: (done: number, total: number) => void, end: () => void } {
  const tty = (io.stderr as NodeJS.WritableStream & { isTTY?: boolean }).isTTY === true
  let lastQuarter = -1
  let shown = false
  return {
    update: (done, total) => {
      if (quiet || total < 1024 * 1024) return
      const pct = Math.floor((done / total) * 100)
      if (tty) {
        const width = 30
        const filled = Math.round((width * done) / total)
        io.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${mib(done)}/${mib(total)}`)
        shown = true
      } else if (Math.floor(pct / 25) > lastQuarter) {
        lastQuarter = Math.floor(pct / 25)
        io.stderr.write(`${label} ${pct}% (${mib(done)} of ${mib(total)})\n`)
      }
    },
    end: () => { if (shown) io.stderr.write('\n') }
  }
}

function scratchDir (): { dir: string, cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'medchain-record-'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

function defaultPurpose (entity: EntityJson | null): PurposeName {
  switch (entity?.role) {
    case 'pharmacy': return 'pharmacy'
    case 'insurer': return 'insurance'
    case 'researcher': return 'research'
    default: return 'treatment'
  }
}

// ---------------------------------------------------------------------------------------------
// put

interface PutOptions extends ConnectionOptions {
  patient: string
  from: string
  type?: string
  supersedes?: string
  passphraseFile?: string
  progress: boolean
}

export async function recordPut (ctx: CliContext, file: string, opts: PutOptions): Promise<CommandResult> {
  const path = resolve(file)
  // FHIR validation (ajv and the R4 schema) loads only for `record put`.
  const { inspectRecordFile } = await import('../records/fhir.js')
  const fileInfo = await inspectRecordFile(path, { ...(opts.type !== undefined ? { declaredType: opts.type } : {}) })
  const patient = resolvePublicKey(ctx.keystore, opts.patient)
  // before the passphrase and the encryption: will this node take the ciphertext at all?
  const { chainId, blobMaxBytes: nodeLimit } = await nodeInfoOf(ctx)
  if (nodeLimit !== undefined && ciphertextSize(fileInfo.size) > nodeLimit) {
    throw new ClientError({ code: 'BLOB_TOO_LARGE', size: ciphertextSize(fileInfo.size), limit: nodeLimit },
      `${path} encrypts to ${ciphertextSize(fileInfo.size)} bytes, more than the ${nodeLimit} this node accepts (blobs.maxBytes); ask the operator to raise it, or split the file.`)
  }
  const signer = await unlockKey(ctx, opts.from, opts.passphraseFile)
  const author = await entityOf(ctx, signer.publicKey)
  if (author === null || author.kind !== 'clinician') {
    throw new ClientError({ code: 'RECORD_NOT_CLINICIAN' }, `Key "${opts.from}" is not a registered clinician; only clinicians put records.`)
  }
  // readers sealed in at anchoring: the patient, the author, and the author's hospital (custodian)
  const recipients = [patient, signer.publicKey, ...(author.hospital !== null ? [fromHex(author.hospital)] : [])]
    .filter((k, i, all) => all.findIndex((o) => toHex(o) === toHex(k)) === i)

  const scratch = scratchDir()
  const dataKey = newDataKey()
  try {
    const encrypted = join(scratch.dir, 'record.enc')
    const bar = progress(ctx.io, 'encrypting', !opts.progress)
    const { contentHash, size } = await encryptFile({ input: path, output: encrypted, dataKey, onProgress: bar.update })
    bar.end()
    const envelopes: KeyEnvelope[] = recipients.map((recipient) => ({ recipient, wrappedKey: sealDataKey({ chainId, dataKey, recipient, contentHash }) }))
    const up = progress(ctx.io, 'uploading', !opts.progress)
    await uploadBlob({ url: ctx.client.url, chainId, signer, file: encrypted, hash: contentHash, onProgress: up.update })
    up.end()
    const payload: TxPayload = {
      type: TxType.AnchorRecord,
      patient,
      resourceType: fileInfo.resourceType,
      contentHash,
      size,
      blobRef: `sha256:${toHex(contentHash)}`,
      envelopes,
      ...(opts.supersedes !== undefined ? { supersedes: fromHex(opts.supersedes) } : {})
    }
    const result = await sendTx(ctx, signer, payload, true)
    const receipt = result.json as { recordId?: string, hash: string, height: number }
    const summary = {
      recordId: receipt.recordId ?? null,
      tx: receipt.hash,
      height: receipt.height,
      resourceType: fileInfo.resourceType,
      contentType: fileInfo.contentType,
      plaintextBytes: fileInfo.size,
      contentHash: toHex(contentHash),
      size,
      readers: recipients.map(toHex)
    }
    const names = localKeyNames(ctx.keystore)
    const text = formatTable([
      ['record id:', summary.recordId ?? '?'],
      ['type:', `${fileInfo.resourceType} (${fileInfo.contentType}${fileInfo.kind === 'fhir' ? ', valid FHIR R4' : ''})`],
      ['encrypted:', `${size} bytes, sha256 ${summary.contentHash}`],
      ['readers:', recipients.map((k) => names.get(toHex(k)) ?? toHex(k).slice(0, 12) + '…').join(', ')],
      ['tx:', `${receipt.hash} (height ${receipt.height})`]
    ])
    return { json: summary, text }
  } finally {
    dataKey.fill(0)
    scratch.cleanup()
  }
}

// ---------------------------------------------------------------------------------------------
// get

interface GetOptions extends ConnectionOptions {
  as: string
  out?: string
  purpose?: PurposeName
  passphraseFile?: string
  force: boolean
  progress: boolean
}

export async function recordGet (ctx: CliContext, recordIdHex: string, opts: GetOptions): Promise<CommandResult> {
  const recordId = fromHex(recordIdHex)
  const out = resolve(opts.out ?? `${recordIdHex.slice(0, 16)}.record`)
  // before the access is requested: a read that cannot be written should not spend an audit entry
  if (!opts.force && existsSync(out)) throw new ClientError({ code: 'CLI_BAD_FILE', path: out }, `The file ${out} already exists; choose another --out or pass --force to overwrite it.`)
  const { signer, seed } = await unlockKeySecret(ctx, opts.as, opts.passphraseFile)
  const scratch = scratchDir()
  try {
    const chainId = await chainIdOf(ctx)
    const purposeName = opts.purpose ?? defaultPurpose(await entityOf(ctx, signer.publicKey))
    // 1. the access, on the patient's audit trail whether granted or refused (a refusal throws here)
    printNote(ctx.io, `requesting access for ${purposeName}…`)
    const access = (await sendTx(ctx, signer, { type: TxType.AccessRecord, recordId, purpose: PURPOSES[purposeName] }, true)).json as {
      hash: string, height: number, events: Array<{ kind: string, attributes: Record<string, string> }>
    }
    const accessed = access.events.find((e) => e.kind === 'record.accessed')?.attributes
    const patient = accessed?.patient
    if (patient === undefined) throw new ClientError({ code: 'CLI_RPC_BAD_RESPONSE', url: ctx.client.url, method: 'tx_getReceipt' }, 'The access receipt names no patient; the node answered something unexpected.')
    // 2. the record and this reader's key envelope
    const record = await signedQuery<RecordJson | null>(ctx, signer, chainId, 'records_get', { patient, recordId: recordIdHex })
    if (record === null) throw new ClientError({ code: 'RECORD_NOT_VISIBLE' }, `Record ${recordIdHex} is not visible to key "${opts.as}" on this node.`)
    if (record.keyEnvelope === null) {
      throw new ClientError({ code: 'RECORD_NO_KEY' },
        `Access was granted, but the chain holds no key envelope for "${opts.as}": ask the patient to run \`medchain record share\` (or, after emergency access, the patient's hospital to run \`medchain record release\`).`)
    }
    // 3. the ciphertext, checked against the anchored sha256
    const contentHash = fromHex(record.contentHash)
    const encrypted = join(scratch.dir, 'record.enc')
    const down = progress(ctx.io, 'downloading', !opts.progress)
    await downloadBlob({ url: ctx.client.url, chainId, signer, recordId, accessTx: fromHex(access.hash), output: encrypted, expectedHash: contentHash, maxBytes: record.size, onProgress: down.update })
    down.end()
    // 4. unwrap and decrypt
    const dataKey = openDataKey({ chainId, envelope: fromHex(record.keyEnvelope), recipientSeed: seed, contentHash })
    try {
      const bar = progress(ctx.io, 'decrypting', !opts.progress)
      const { size } = await decryptFile({ input: encrypted, output: out, dataKey, expectedHash: contentHash, overwrite: opts.force, onProgress: bar.update })
      bar.end()
      const json = { recordId: recordIdHex, patient, resourceType: record.resourceType, output: out, bytes: size, contentHash: record.contentHash, accessTx: access.hash, purpose: purposeName, keySource: record.keySource }
      return { json, text: `Wrote ${out} (${record.resourceType}, ${size} bytes); ciphertext sha256 matches the chain; access ${access.hash} is on the patient's audit trail.` }
    } finally {
      dataKey.fill(0)
    }
  } finally {
    seed.fill(0)
    scratch.cleanup()
  }
}

// ---------------------------------------------------------------------------------------------
// share / release: re-seal data keys for another reader

/**
 * The reader holds a real sealed data key for the record. A record anchored with `tx anchor-record`
 * and no envelope file carries an empty placeholder instead: there is no key to share.
 */
function holdsSealedKey (r: RecordJson): boolean {
  return r.keyEnvelope !== null && r.keyEnvelope.length === ENVELOPE_LENGTH * 2
}

/** Opens `record`'s envelope for the holder of `seed` and seals the data key for `recipient`. */
function reseal (chainId: string, record: RecordJson, seed: Uint8Array, recipient: Uint8Array): GrantEnvelope {
  if (record.keyEnvelope === null) throw new ClientError({ code: 'RECORD_NO_KEY', recordId: record.recordId }, `You hold no key envelope for record ${record.recordId}, so you cannot share its key.`)
  const contentHash = fromHex(record.contentHash)
  const dataKey = openDataKey({ chainId, envelope: fromHex(record.keyEnvelope), recipientSeed: seed, contentHash })
  try {
    return { recordId: fromHex(record.recordId), wrappedKey: sealDataKey({ chainId, dataKey, recipient, contentHash }) }
  } finally {
    dataKey.fill(0)
  }
}

/**
 * Envelopes for `grantee` of the patient's records a grant scope covers and the grantee's role may
 * read (what `tx grant` attaches, and `record share` adds later). `records` are the patient's own view.
 */
export function grantEnvelopesFor (
  chainId: string, records: readonly RecordJson[], seed: Uint8Array, grantee: Uint8Array, role: GranteeRole | undefined,
  scope: { recordTypes: string[], recordIds: string[] }
): GrantEnvelope[] {
  return records
    .filter(holdsSealedKey)
    .filter((r) => grantCoversType(scope, r.resourceType) || scope.recordIds.includes(r.recordId))
    .filter((r) => role === undefined || recordTypeReadableBy(role, r.resourceType))
    .map((r) => reseal(chainId, r, seed, grantee))
}

/** The grantee role the contract's read rules use, from state_getEntity's JSON (roles.ts). */
export function granteeRoleFromJson (e: EntityJson | null): GranteeRole | undefined {
  if (e === null) return undefined
  if (e.kind === 'clinician') return 'clinician'
  const organisations: readonly GranteeRole[] = ['pharmacy', 'lab', 'insurer', 'researcher']
  return e.kind === 'organization' ? organisations.find((r) => r === e.role) : undefined
}

/**
 * Most envelopes one ShareKeys or Grant carries from this client: ~130 bytes each, so a transaction
 * stays far below MAX_TX_BYTES (96 KiB) and under MAX_ENVELOPES (256).
 */
export const ENVELOPES_PER_TX = 200

/** Sends `envelopes` for `recipient` in as many ShareKeys transactions as needed, each waited for; their hashes. */
async function sendShareKeys (ctx: CliContext, signer: Signer, recipient: Uint8Array, envelopes: GrantEnvelope[]): Promise<string[]> {
  const hashes: string[] = []
  for (let i = 0; i < envelopes.length; i += ENVELOPES_PER_TX) {
    const result = await sendTx(ctx, signer, { type: TxType.ShareKeys, recipient, envelopes: envelopes.slice(i, i + ENVELOPES_PER_TX) }, true)
    hashes.push((result.json as { hash: string }).hash)
  }
  return hashes
}

interface ShareOptions extends ConnectionOptions { from: string, to: string, passphraseFile?: string }

export async function recordShare (ctx: CliContext, opts: ShareOptions): Promise<CommandResult> {
  const recipient = resolvePublicKey(ctx.keystore, opts.to)
  const { signer, seed } = await unlockKeySecret(ctx, opts.from, opts.passphraseFile)
  try {
    const chainId = await chainIdOf(ctx)
    const patient = toHex(signer.publicKey)
    const records = await listAllRecords(ctx, signer, chainId, patient)
    const grants = (await signedQuery<GrantJson[]>(ctx, signer, chainId, 'consent_list', { patient }))
      .filter((g) => g.grantee === toHex(recipient) && g.status === 'live')
    if (grants.length === 0) throw new ClientError({ code: 'KEYS_NO_CONSENT' }, `"${opts.to}" holds no live consent from you; grant one first with \`medchain tx grant\`.`)
    const delivered = new Set(grants.flatMap((g) => g.envelopes.map((e) => e.recordId)))
    const role = granteeRoleFromJson(await entityOf(ctx, recipient))
    const missing = records.filter((r) => !delivered.has(r.recordId) && r.supersededBy === null)
    const envelopes = grants.flatMap((g) => grantEnvelopesFor(chainId, missing, seed, recipient, role, g))
      .filter((e, i, all) => all.findIndex((o) => toHex(o.recordId) === toHex(e.recordId)) === i)
    if (envelopes.length === 0) return { json: { shared: 0 }, text: `Nothing to share: every record ${opts.to}'s consent covers already carries a key for it.` }
    const txs = await sendShareKeys(ctx, signer, recipient, envelopes)
    return { json: { shared: envelopes.length, records: envelopes.map((e) => toHex(e.recordId)), txs }, text: `Shared the keys of ${envelopes.length} record(s) with ${opts.to} (${txs.length} transaction(s): ${txs.join(', ')}).` }
  } finally {
    seed.fill(0)
  }
}

interface ReleaseOptions extends ConnectionOptions { from: string, to: string, patient: string, records?: string[], passphraseFile?: string }

export async function recordRelease (ctx: CliContext, opts: ReleaseOptions): Promise<CommandResult> {
  const recipient = resolvePublicKey(ctx.keystore, opts.to)
  const patient = toHex(resolvePublicKey(ctx.keystore, opts.patient))
  const { signer, seed } = await unlockKeySecret(ctx, opts.from, opts.passphraseFile)
  try {
    const chainId = await chainIdOf(ctx)
    const all = await listAllRecords(ctx, signer, chainId, patient)
    const chosen = opts.records === undefined ? all.filter((r) => holdsSealedKey(r) && r.supersededBy === null) : all.filter((r) => opts.records?.includes(r.recordId))
    if (chosen.length === 0) throw new ClientError({ code: 'RECORD_NO_KEY' }, 'Your hospital holds no key to any of the chosen records of this patient.')
    const envelopes = chosen.map((r) => reseal(chainId, r, seed, recipient))
    const txs = await sendShareKeys(ctx, signer, recipient, envelopes)
    return { json: { released: envelopes.length, records: chosen.map((r) => r.recordId), txs }, text: `Released the keys of ${envelopes.length} record(s) to ${opts.to} (flagged as emergency on the patient's audit trail; ${txs.length} transaction(s): ${txs.join(', ')}).` }
  } finally {
    seed.fill(0)
  }
}

// ---------------------------------------------------------------------------------------------
// serves: who downloaded the patient's record contents from this node

interface ServesOptions extends ConnectionOptions { as: string, passphraseFile?: string }

export async function recordServes (ctx: CliContext, opts: ServesOptions): Promise<CommandResult> {
  const signer = await unlockKey(ctx, opts.as, opts.passphraseFile)
  const entries = await readServeLog({ url: ctx.client.url, chainId: await chainIdOf(ctx), signer })
  const names = localKeyNames(ctx.keystore)
  const who = (k: string | null): string => k === null ? '-' : names.get(k) ?? `${k.slice(0, 8)}…${k.slice(-4)}`
  const text = entries.length === 0
    ? `No downloads of your records' contents from ${ctx.client.url}.`
    : formatTable([
      ['TIME', 'REQUESTER', 'RECORD', 'ACCESS TX', 'RESULT'],
      ...entries.map((e) => [new Date(e.time).toISOString(), who(e.requester), `${e.recordId.slice(0, 8)}…${e.recordId.slice(-4)}`, e.access === null ? '-' : `${e.access.slice(0, 8)}…`, e.result])
    ])
  return { json: entries, text }
}

// ---------------------------------------------------------------------------------------------
// commander wiring

const PASSPHRASE_HELP = 'read the key\'s passphrase from the first line of <file> (else $MEDCHAIN_PASSPHRASE, else a prompt)'

function recordIds (value: string, previous: string[] | undefined): string[] {
  const ids = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const id of ids) if (!/^[0-9a-f]{64}$/.test(id)) throw new InvalidArgumentError(`"${id}" is not a record id (64 lower-case hex).`)
  return [...(previous ?? []), ...ids]
}

export function addRecordCommands (program: Command, io: CliIo): void {
  const record = program.command('record')
    .description('put, get, share and release encrypted medical records (contents never leave this machine unencrypted)')
    .addHelpText('after', `
Examples (in a devnet started with \`npm start\`; export MEDCHAIN_PASSPHRASE=devnet):
  $ medchain --home ./devnet record put examples/fhir/medication-request.json --patient patient --from doctor
  $ medchain --home ./devnet record get <recordId> --as pharmacy --out rx.json
  $ medchain --home ./devnet record share --from patient --to pharmacy
  $ medchain --home ./devnet record release --from hospital-a --to doctor --patient patient`)

  addConnectionOptions(record.command('put <file>')
    .description('validate, encrypt, upload and anchor a record file (FHIR R4 JSON, or any file as a FHIR Binary)')
    .requiredOption('--patient <name|hex>', 'the patient the record is about (keystore name or 64 hex)')
    .requiredOption('--from <keyName>', 'the clinician who writes the record (keystore key)')
    .option('--type <FHIR type>', 'the expected resource type; refused when the file says otherwise (Binary or DocumentReference for non-JSON files)')
    .option('--supersedes <recordId>', 'the record this one amends', hex32('--supersedes'))
    .option('--passphrase-file <file>', PASSPHRASE_HELP)
    .option('--no-progress', 'no progress bar for large files'), 'seconds to wait for the record\'s block')
    .addHelpText('after', `
Example:
  $ medchain --home ./devnet record put examples/fhir/medication-request.json --patient patient --from doctor
  $ medchain --home ./devnet record put scan.pdf --patient patient --from doctor --type Binary

The file is encrypted here with a fresh data key; the node stores only ciphertext. The data key is
sealed for the patient, the author and the author's hospital (for break-glass access).`)
    .action(async (file: string, opts: PutOptions, cmd: Command) => {
      const ctx = contextOf(cmd, io, opts)
      printResult(io, ctx.json, await recordPut(ctx, file, opts))
    })

  addConnectionOptions(record.command('get <recordId>')
    .description('request access (on the patient\'s audit trail), download, verify and decrypt a record')
    .requiredOption('--as <keyName>', 'the reader\'s key: the patient, the author, a consent holder, or a clinician with emergency access')
    .option('--out <file>', 'where to write the decrypted record (default: <first 16 hex of the id>.record)')
    .addOption(new Option('--purpose <purpose>', 'the purpose of the access (default: from the reader\'s role)').choices(Object.keys(PURPOSES)))
    .option('--force', 'overwrite --out if it exists')
    .option('--passphrase-file <file>', PASSPHRASE_HELP)
    .option('--no-progress', 'no progress bar for large files'), 'seconds to wait for the access\'s block')
    .addHelpText('after', `
Example:
  $ medchain --home ./devnet record get 3f2a…(64 hex) --as pharmacy --out rx.json

Refused (exit 1, with the contract's code) when the reader has no consent, or it expired, was
revoked, is for another purpose, or does not cover the record; the refusal is on the audit trail.`)
    .action(async (recordId: string, opts: GetOptions, cmd: Command) => {
      if (!/^[0-9a-f]{64}$/.test(recordId)) cmd.error('error: <recordId> must be 64 lower-case hex characters.', { code: 'medchain.recordId', exitCode: 2 })
      const ctx = contextOf(cmd, io, opts)
      printResult(io, ctx.json, await recordGet(ctx, recordId, opts))
    })

  addConnectionOptions(record.command('serves')
    .description('list who downloaded your records\' encrypted contents from this node, and refused downloads (signed by the patient)')
    .requiredOption('--as <keyName>', 'the patient (keystore key)')
    .option('--passphrase-file <file>', PASSPHRASE_HELP), 'seconds to wait for the node')
    .addHelpText('after', `
Example:
  $ medchain --home ./devnet record serves --as patient

Each node keeps its own serve log (<home>/blobs/serve-log.jsonl); ask each node with --rpc. The
audit trail (\`query audit\`) holds the access requests themselves, on chain.`)
    .action(async (opts: ServesOptions, cmd: Command) => {
      const ctx = contextOf(cmd, io, opts)
      printResult(io, ctx.json, await recordServes(ctx, opts))
    })

  addConnectionOptions(record.command('share')
    .description('give a consent holder the keys of your records its consent covers that it has no key for yet (signed by the patient)')
    .requiredOption('--from <keyName>', 'the patient (keystore key)')
    .requiredOption('--to <name|hex>', 'the grantee')
    .option('--passphrase-file <file>', PASSPHRASE_HELP), 'seconds to wait for the block')
    .addHelpText('after', `
Example:
  $ medchain --home ./devnet record share --from patient --to pharmacy

\`tx grant\` already seals the keys of the records that exist when you grant; run this after new
records were anchored to let a grantee read them too.`)
    .action(async (opts: ShareOptions, cmd: Command) => {
      const ctx = contextOf(cmd, io, opts)
      printResult(io, ctx.json, await recordShare(ctx, opts))
    })

  addConnectionOptions(record.command('release')
    .description('break-glass: release a patient\'s record keys to a clinician with open emergency access (signed by the patient\'s hospital)')
    .requiredOption('--from <keyName>', 'the hospital where the patient is enrolled (keystore key)')
    .requiredOption('--to <name|hex>', 'the clinician who opened emergency access')
    .requiredOption('--patient <name|hex>', 'the patient')
    .option('--records <id1,id2>', 'only these records (default: every current record the hospital holds a key to)', recordIds)
    .option('--passphrase-file <file>', PASSPHRASE_HELP), 'seconds to wait for the block')
    .addHelpText('after', `
Example:
  $ medchain --home ./devnet tx emergency-access --from doctor-b --patient patient --reason "unconscious in the ER"
  $ medchain --home ./devnet record release --from hospital-a --to doctor-b --patient patient

Refused unless the clinician's emergency window for the patient is open; flagged as emergency on
the patient's audit trail.`)
    .action(async (opts: ReleaseOptions, cmd: Command) => {
      const ctx = contextOf(cmd, io, opts)
      printResult(io, ctx.json, await recordRelease(ctx, opts))
    })
}
