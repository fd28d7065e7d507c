/**
 * `medchain tx <type> …`: one subcommand per contract transaction (src/types/tx.ts). Each signs
 * with a key of `<home>/keystore` (`--from`, unlocked with the passphrase sources of
 * passphrase.ts) or, for the consortium's own transactions, with a validator's node key
 * (`--node-key`), then:
 *
 *  1. reads the chain id (`node_info`) and the signer's next nonce (`state_getEntity`);
 *  2. signs and submits (`tx_submit`); a refusal by the mempool exits 1 with its code
 *     (TX_UNKNOWN_SENDER, TX_BAD_SIGNATURE, MEMPOOL_FULL, …); a nonce taken meanwhile by another
 *     transaction of the same signer (TX_DUPLICATE_NONCE pending, TX_NONCE_TOO_LOW committed) is
 *     retried with the next free one, at most 64 times;
 *  3. unless `--no-wait`, polls `tx_getReceipt` until the transaction is in a block (progress on
 *     stderr) and prints the receipt; a receipt whose code is not OK exits 1 with that code
 *     (the contract's, e.g. ACCESS_OUT_OF_SCOPE).
 *
 * Arguments that name an identity (`--key`, `--patient`, `--grantee`, …) take a keystore name
 * (its public key is read without a passphrase) or the 64-hex public key itself.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import {
  ClinicianRole, OrganizationKind, Purpose, TxType, ValidatorAction,
  type GrantEnvelope, type KeyEnvelope, type TxPayload
} from '../types/tx.js'
import { MAX_ENVELOPE_BYTES, MAX_ENVELOPES } from '../types/limits.js'
import { fromHex, toHex } from '../crypto/bytes.js'
import type { Signer } from '../crypto/ed25519.js'
import { Keystore } from '../keystore/store.js'
import { loadNodeKey } from '../node/config.js'
import { printNote, printResult, type CliIo } from './output.js'
import { keystoreDir } from './options.js'
import {
  addConnectionOptions, ClientError, contextOf, hex32, integerIn, parseDuration, parseTime, resolvePublicKey, unlockKey, unlockKeySecret,
  type CliContext, type ConnectionOptions
} from './rpcClient.js'
import { sendTx } from './submit.js'
import { chainIdOf, ENVELOPES_PER_TX, grantEnvelopesFor, granteeRoleFromJson, listAllRecords, type EntityJson } from './record.js'

const HEX64_RE = /^[0-9a-fA-F]{64}$/

/** `--expires`: an ISO time or a duration from now ("30d"), in the future. */
function expiry (now: () => number): (value: string) => number {
  return (value) => {
    const duration = parseDuration(value)
    const at = duration !== undefined ? now() + duration : parseTime(value)
    if (at === undefined) throw new InvalidArgumentError('must be an ISO time (2027-01-31T00:00:00Z) or a duration from now such as 30d, 12h or 90m.')
    if (at <= now()) throw new InvalidArgumentError('must be in the future.')
    return at
  }
}

function commaList (what: string, check?: (item: string) => string): (value: string, previous: string[] | undefined) => string[] {
  return (value, previous) => {
    const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
    if (items.length === 0) throw new InvalidArgumentError(`must list at least one ${what}, separated by commas.`)
    return [...(previous ?? []), ...items.map((item) => check === undefined ? item : check(item))]
  }
}

// ---------------------------------------------------------------------------------------------
// signing, submitting, waiting
// ---------------------------------------------------------------------------------------------

interface TxOptions extends ConnectionOptions {
  from?: string
  nodeKey?: string | true
  passphraseFile?: string
  wait: boolean
}

/** The node home whose node_key.json `--node-key` names (a directory or a node_key.json path). */
function nodeKeyHome (home: string, value: string | true): string {
  if (value === true) return existsSync(join(home, 'node_key.json')) ? home : join(home, 'node0')
  const path = resolve(value)
  if (existsSync(path) && statSync(path).isDirectory()) return path
  if (basename(path) === 'node_key.json') return dirname(path)
  throw new ClientError({ code: 'CLI_BAD_FILE', path }, `--node-key ${value} is neither a node home nor a node_key.json file; name the node's home directory.`)
}

async function signerOf (ctx: CliContext, cmd: Command, opts: TxOptions): Promise<Signer> {
  if (opts.from !== undefined && opts.nodeKey !== undefined) cmd.error('error: give either --from <keyName> or --node-key, not both.', { code: 'medchain.signer', exitCode: 2 })
  if (opts.nodeKey !== undefined) return loadNodeKey(nodeKeyHome(ctx.home, opts.nodeKey))
  if (opts.from === undefined) cmd.error(`error: name the signer with --from <keyName> (a key in ${keystoreDir(ctx.home)}).`, { code: 'medchain.signer', exitCode: 2 })
  return await unlockKey(ctx, opts.from as string, opts.passphraseFile)
}

// ---------------------------------------------------------------------------------------------
// envelopes
// ---------------------------------------------------------------------------------------------

function readJsonFile (path: string): unknown {
  try {
    if (statSync(path).size > 1024 * 1024) throw new Error('larger than 1 MiB')
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    const why = err instanceof SyntaxError ? 'it is not JSON' : err instanceof Error ? err.message : String(err)
    throw new ClientError({ code: 'CLI_BAD_FILE', path }, `Could not read the envelope file ${path} (${why}); fix the file or leave out --envelope-file.`)
  }
}

function envelopeList (path: string, fields: readonly [string, string]): Array<Record<string, string>> {
  const json = readJsonFile(path)
  const bad = (why: string): ClientError => new ClientError({ code: 'CLI_BAD_FILE', path },
    `The envelope file ${path} ${why}; it must be a JSON list of {"${fields[0]}": …, "${fields[1]}": "<hex>"} (at most ${MAX_ENVELOPES}).`)
  if (!Array.isArray(json) || json.length > MAX_ENVELOPES) throw bad('is not a list of envelopes')
  return json.map((e: unknown, i) => {
    if (typeof e !== 'object' || e === null) throw bad(`has a non-object at [${i}]`)
    const entry = e as Record<string, unknown>
    const first = entry[fields[0]]
    const wrapped = entry[fields[1]]
    if (typeof first !== 'string') throw bad(`lacks "${fields[0]}" at [${i}]`)
    if (typeof wrapped !== 'string' || wrapped.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(wrapped) || wrapped.length / 2 > MAX_ENVELOPE_BYTES) {
      throw bad(`has a "${fields[1]}" at [${i}] that is not hex of at most ${MAX_ENVELOPE_BYTES} bytes`)
    }
    return { [fields[0]]: first, [fields[1]]: wrapped }
  })
}

/** `anchor-record --envelope-file`: [{"recipient": "<name|hex>", "wrappedKey": "<hex>"}]. */
function recordEnvelopes (keystore: Keystore, path: string): KeyEnvelope[] {
  return envelopeList(path, ['recipient', 'wrappedKey']).map((e) => ({
    recipient: resolvePublicKey(keystore, e.recipient as string),
    wrappedKey: fromHex(e.wrappedKey as string)
  }))
}

/** `grant --envelope-file`: [{"recordId": "<hex>", "wrappedKey": "<hex>"}]. */
function grantEnvelopes (path: string): GrantEnvelope[] {
  return envelopeList(path, ['recordId', 'wrappedKey']).map((e) => {
    if (!HEX64_RE.test(e.recordId as string)) throw new ClientError({ code: 'CLI_BAD_FILE', path }, `The envelope file ${path} has a recordId that is not 64 hex characters; fix it.`)
    return { recordId: fromHex(e.recordId as string), wrappedKey: fromHex(e.wrappedKey as string) }
  })
}

// ---------------------------------------------------------------------------------------------
// commander wiring
// ---------------------------------------------------------------------------------------------

const ROLES = { doctor: ClinicianRole.Doctor, nurse: ClinicianRole.Nurse } as const
const KINDS = { pharmacy: OrganizationKind.Pharmacy, lab: OrganizationKind.Lab, insurer: OrganizationKind.Insurer, researcher: OrganizationKind.Researcher } as const
const PURPOSES = { treatment: Purpose.Treatment, pharmacy: Purpose.Pharmacy, insurance: Purpose.Insurance, research: Purpose.Research } as const
const FHIR_TYPE_RE = /^[A-Z][A-Za-z]{1,63}$/

function fhirType (value: string): string {
  if (!FHIR_TYPE_RE.test(value)) throw new InvalidArgumentError('must be a FHIR resource type name such as MedicationRequest or Observation.')
  return value
}

function scopeType (value: string): string {
  if (value !== '*' && !FHIR_TYPE_RE.test(value)) throw new InvalidArgumentError(`"${value}" is neither * nor a FHIR resource type name such as MedicationRequest.`)
  return value
}

function recordIdItem (value: string): string {
  if (!HEX64_RE.test(value)) throw new InvalidArgumentError(`"${value}" is not a record id (64 hex characters).`)
  return value.toLowerCase()
}

function nonEmptyText (max: number): (value: string) => string {
  return (value) => {
    if (value.trim() === '') throw new InvalidArgumentError('must not be empty.')
    if (Buffer.byteLength(value, 'utf8') > max) throw new InvalidArgumentError(`must be at most ${max} bytes.`)
    return value
  }
}

const SIGNER_NOTE = `
Signing: --from <keyName> unlocks a key of <home>/keystore with --passphrase-file, else
$MEDCHAIN_PASSPHRASE, else a prompt. Identities (--key, --patient, --grantee, …) are keystore
names or 64-hex public keys. Exit codes: 0 committed OK; 1 refused (the contract's or the
mempool's code is printed), unreachable node or timeout; 2 bad usage.`

type Build<O> = (ctx: CliContext, opts: O, cmd: Command) => TxPayload

/** Fills in what needs the signer's secret (the grant's key envelopes); the seed is zeroed after. */
type Complete<O> = (ctx: CliContext, opts: O, payload: TxPayload, key: { signer: Signer, seed: Uint8Array }) => Promise<TxPayload>

function txCommand<O extends object> (
  parent: Command, io: CliIo, name: string, description: string, example: string,
  configure: (cmd: Command) => Command, build: Build<O>, complete?: Complete<O>
): Command {
  const cmd = parent.command(name).description(description)
  configure(cmd)
  cmd.option('--from <keyName>', 'keystore key that signs the transaction')
    .option('--passphrase-file <file>', 'read the --from key\'s passphrase from the first line of <file> (else $MEDCHAIN_PASSPHRASE, else a prompt)')
  addConnectionOptions(cmd, 'seconds to wait for the transaction to be in a block')
    .option('--no-wait', 'return once the node admitted the transaction, without waiting for its block')
    .addHelpText('after', `\nExample:\n${example}\n${SIGNER_NOTE}`)
    .action(async (opts: O & TxOptions, command: Command) => {
      const ctx = contextOf(command, io, opts)
      let payload = build(ctx, opts, command)
      if (complete !== undefined && opts.from !== undefined && opts.nodeKey === undefined) {
        const key = await unlockKeySecret(ctx, opts.from, opts.passphraseFile)
        try {
          payload = await complete(ctx, opts, payload, key)
        } finally {
          key.seed.fill(0)
        }
        printResult(io, ctx.json, await sendTx(ctx, key.signer, payload, opts.wait))
        return
      }
      const signer = await signerOf(ctx, command, opts)
      printResult(io, ctx.json, await sendTx(ctx, signer, payload, opts.wait))
    })
  return cmd
}

/** Adds `--node-key` to the consortium's transactions, which validators sign. */
function withNodeKey (cmd: Command): Command {
  return cmd.option('--node-key [home]', 'sign with a validator\'s node key (node_key.json) instead of --from; default <home>/node_key.json, or <home>/node0/node_key.json in a devnet directory')
}

const ENVELOPE_NOTE = `
Key envelopes: --envelope-file holds [{"recipient": "<name|hex>", "wrappedKey": "<hex>"}], the
record's data key wrapped for each reader (the patient included). Without it the record carries an
EMPTY envelope for the patient: a placeholder that wraps nothing. \`medchain record put\`
encrypts the record and fills real envelopes; use this command alone to anchor a hash only.`

export function addTxCommands (program: Command, io: CliIo, now: () => number = Date.now): void {
  const tx = program.command('tx')
    .description('sign and submit a transaction, wait for its block, print the receipt')
    .addHelpText('after', `
Examples (in a devnet started with \`npm start\`; export MEDCHAIN_PASSPHRASE=devnet):
  $ medchain --home ./devnet tx register-clinician --from hospital-a --key doctor --name "Dr. Ada Lovelace" --role doctor
  $ medchain --home ./devnet tx enrol-patient --from doctor --patient patient
  $ medchain --home ./devnet tx anchor-record --from doctor --patient patient --type MedicationRequest \\
      --content-hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 --size 1024
  $ medchain --home ./devnet tx grant --from patient --grantee pharmacy --types MedicationRequest --purpose pharmacy --expires 30d
${SIGNER_NOTE}`)

  txCommand<{ key: string, name: string }>(tx, io, 'register-hospital',
    'propose a new hospital to the consortium (signed by a validator: --node-key); it joins when the validators approve',
    '  $ medchain --home ./devnet tx register-hospital --node-key ./devnet/node0 --key 5f1c…(64 hex) --name "St. Mary"',
    (cmd) => withNodeKey(cmd
      .requiredOption('--key <name|hex>', 'the hospital admin\'s public key (keystore name or 64 hex)')
      .requiredOption('--name <name>', 'the hospital\'s name', nonEmptyText(128))),
    (ctx, o) => ({ type: TxType.RegisterHospital, publicKey: resolvePublicKey(ctx.keystore, o.key), name: o.name }))

  txCommand<{ key: string, name: string, role: keyof typeof ROLES }>(tx, io, 'register-clinician',
    'register a doctor or nurse of your hospital (signed by the hospital admin)',
    '  $ medchain --home ./devnet tx register-clinician --from hospital-a --key doctor --name "Dr. Ada Lovelace" --role doctor',
    (cmd) => cmd
      .requiredOption('--key <name|hex>', 'the clinician\'s public key (keystore name or 64 hex)')
      .requiredOption('--name <name>', 'the clinician\'s name', nonEmptyText(128))
      .addOption(new Option('--role <role>', 'doctor or nurse').choices(Object.keys(ROLES)).makeOptionMandatory()),
    (ctx, o) => ({ type: TxType.RegisterClinician, publicKey: resolvePublicKey(ctx.keystore, o.key), name: o.name, role: ROLES[o.role] }))

  txCommand<{ key: string, name: string, kind: keyof typeof KINDS }>(tx, io, 'register-organization',
    'register a pharmacy, lab, insurer or researcher (signed by a hospital admin)',
    '  $ medchain --home ./devnet tx register-organization --from hospital-a --key pharmacy --name "Main St Pharmacy" --kind pharmacy',
    (cmd) => cmd
      .requiredOption('--key <name|hex>', 'the organisation\'s public key (keystore name or 64 hex)')
      .requiredOption('--name <name>', 'the organisation\'s name', nonEmptyText(128))
      .addOption(new Option('--kind <kind>', 'what it is').choices(Object.keys(KINDS)).makeOptionMandatory()),
    (ctx, o) => ({ type: TxType.RegisterOrganization, publicKey: resolvePublicKey(ctx.keystore, o.key), name: o.name, kind: KINDS[o.kind] }))

  txCommand<{ patient: string }>(tx, io, 'enrol-patient',
    'enrol a patient at your hospital (signed by a clinician)',
    '  $ medchain --home ./devnet tx enrol-patient --from doctor --patient patient',
    (cmd) => cmd.requiredOption('--patient <name|hex>', 'the patient\'s public key (keystore name or 64 hex)'),
    (ctx, o) => ({ type: TxType.EnrolPatient, publicKey: resolvePublicKey(ctx.keystore, o.patient) }))

  txCommand<{ target: string, reason: string }>(tx, io, 'deactivate',
    'deactivate an identity your hospital registered (signed by the hospital admin)',
    '  $ medchain --home ./devnet tx deactivate --from hospital-a --target doctor --reason "left the hospital"',
    (cmd) => cmd
      .requiredOption('--target <name|hex>', 'the identity to deactivate (keystore name or 64 hex)')
      .requiredOption('--reason <text>', 'why, for the record', nonEmptyText(512)),
    (ctx, o) => ({ type: TxType.Deactivate, target: resolvePublicKey(ctx.keystore, o.target), reason: o.reason }))

  txCommand<{ patient: string, type: string, contentHash: string, size: number, blobRef?: string, supersedes?: string, envelopeFile?: string }>(tx, io, 'anchor-record',
    'anchor the hash of a patient\'s encrypted FHIR record (signed by a clinician); prints the record id',
    `  $ medchain --home ./devnet tx anchor-record --from doctor --patient patient --type MedicationRequest \\
      --content-hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 --size 1024
${ENVELOPE_NOTE}`,
    (cmd) => cmd
      .requiredOption('--patient <name|hex>', 'the patient (keystore name or 64 hex)')
      .requiredOption('--type <FHIR type>', 'FHIR resource type, e.g. MedicationRequest, DiagnosticReport', fhirType)
      .requiredOption('--content-hash <hex>', 'sha256 of the encrypted record (64 hex)', hex32('--content-hash'))
      .requiredOption('--size <n>', 'size of the encrypted record in bytes', integerIn(0, Number.MAX_SAFE_INTEGER))
      .option('--blob-ref <ref>', 'where the encrypted record is stored (at most 256 characters)')
      .option('--supersedes <recordId>', 'the record this one amends', hex32('--supersedes'))
      .option('--envelope-file <file>', 'JSON list of key envelopes (see below)'),
    (ctx, o) => {
      const patient = resolvePublicKey(ctx.keystore, o.patient)
      let envelopes: KeyEnvelope[]
      if (o.envelopeFile !== undefined) envelopes = recordEnvelopes(ctx.keystore, o.envelopeFile)
      else {
        envelopes = [{ recipient: patient, wrappedKey: new Uint8Array(0) }]
        printNote(ctx.io, 'note: no --envelope-file, so the record carries an empty placeholder envelope for the patient; `medchain record put` encrypts a file and fills real key envelopes.')
      }
      return {
        type: TxType.AnchorRecord,
        patient,
        resourceType: o.type,
        contentHash: fromHex(o.contentHash),
        size: o.size,
        blobRef: o.blobRef ?? '',
        envelopes,
        ...(o.supersedes !== undefined ? { supersedes: fromHex(o.supersedes) } : {})
      }
    })

  txCommand<{ grantee: string, types?: string[], records?: string[], purpose: keyof typeof PURPOSES, expires: number, envelopeFile?: string, envelopes: boolean }>(tx, io, 'grant',
    'give a clinician or organisation consent to read some of your records (signed by the patient); prints the grant id',
    `  $ medchain --home ./devnet tx grant --from patient --grantee pharmacy --types MedicationRequest --purpose pharmacy --expires 30d
  $ medchain --home ./devnet tx grant --from patient --grantee doctor --records <recordId>,<recordId> --purpose treatment --expires 2027-01-31T00:00:00Z`,
    (cmd) => cmd
      .requiredOption('--grantee <name|hex>', 'who may read (keystore name or 64 hex)')
      .option('--types <A,B>', 'FHIR resource types covered (* = all the grantee\'s role may read)', commaList('type', scopeType))
      .option('--records <id1,id2>', 'record ids covered', commaList('record id', recordIdItem))
      .addOption(new Option('--purpose <purpose>', 'what the grantee may read for').choices(Object.keys(PURPOSES)).makeOptionMandatory())
      .requiredOption('--expires <time>', 'ISO time, or a duration from now such as 30d, 12h, 90m', expiry(now))
      .option('--envelope-file <file>', 'JSON list [{"recordId": "<hex>", "wrappedKey": "<hex>"}] of data keys wrapped for the grantee (default: sealed here for every record in scope)')
      .option('--no-envelopes', 'grant without sealing the records\' keys for the grantee (it then cannot decrypt them until `medchain record share`)'),
    (ctx, o, cmd) => {
      if ((o.types ?? []).length === 0 && (o.records ?? []).length === 0) cmd.error('error: name what the consent covers with --types and/or --records.', { code: 'medchain.scope', exitCode: 2 })
      return {
        type: TxType.Grant,
        grantee: resolvePublicKey(ctx.keystore, o.grantee),
        recordTypes: o.types ?? [],
        recordIds: (o.records ?? []).map(fromHex),
        purpose: PURPOSES[o.purpose],
        expiresAt: o.expires,
        envelopes: o.envelopeFile !== undefined ? grantEnvelopes(o.envelopeFile) : []
      }
    },
    async (ctx, o, payload, { signer, seed }) => {
      // seal the data key of every record in scope (that the grantee's role may read) for the grantee
      if (o.envelopeFile !== undefined || !o.envelopes || payload.type !== TxType.Grant) return payload
      const chainId = await chainIdOf(ctx)
      const patient = toHex(signer.publicKey)
      const records = await listAllRecords(ctx, signer, chainId, patient)
      const role = granteeRoleFromJson(await ctx.client.call<EntityJson | null>('state_getEntity', { publicKey: toHex(payload.grantee) }))
      const envelopes = grantEnvelopesFor(chainId, records.filter((r) => r.supersededBy === null), seed, payload.grantee, role, {
        recordTypes: payload.recordTypes, recordIds: payload.recordIds.map(toHex)
      })
      if (envelopes.length > ENVELOPES_PER_TX) {
        printNote(ctx.io, `sealed the keys of ${ENVELOPES_PER_TX} of ${envelopes.length} records in scope for the grantee; after this grant, run \`medchain record share --from <patient key> --to ${o.grantee}\` for the rest`)
        return { ...payload, envelopes: envelopes.slice(0, ENVELOPES_PER_TX) }
      }
      if (envelopes.length > 0) printNote(ctx.io, `sealed the keys of ${envelopes.length} record(s) for the grantee`)
      return { ...payload, envelopes }
    })

  txCommand<{ grant: string }>(tx, io, 'revoke',
    'revoke a consent you granted (signed by the patient)',
    '  $ medchain --home ./devnet tx revoke --from patient --grant <grantId>',
    (cmd) => cmd.requiredOption('--grant <id>', 'the grant id (the hash of the grant transaction)', hex32('--grant')),
    (_ctx, o) => ({ type: TxType.Revoke, grantId: fromHex(o.grant) }))

  txCommand<{ patient: string, reason: string }>(tx, io, 'emergency-access',
    'open a time-limited break-glass window on a patient\'s records (signed by a clinician; flagged in the audit trail)',
    '  $ medchain --home ./devnet tx emergency-access --from doctor --patient patient --reason "unconscious in A&E"',
    (cmd) => cmd
      .requiredOption('--patient <name|hex>', 'the patient (keystore name or 64 hex)')
      .requiredOption('--reason <text>', 'why, for the patient\'s audit trail', nonEmptyText(512)),
    (ctx, o) => ({ type: TxType.EmergencyAccess, patient: resolvePublicKey(ctx.keystore, o.patient), reason: o.reason }))

  txCommand<{ record: string, purpose: keyof typeof PURPOSES }>(tx, io, 'access-record',
    'request to read a record for a purpose; granted or refused by consent, and written to the patient\'s audit trail',
    '  $ medchain --home ./devnet tx access-record --from pharmacy --record <recordId> --purpose pharmacy',
    (cmd) => cmd
      .requiredOption('--record <id>', 'the record id', hex32('--record'))
      .addOption(new Option('--purpose <purpose>', 'why you read it').choices(Object.keys(PURPOSES)).makeOptionMandatory()),
    (_ctx, o) => ({ type: TxType.AccessRecord, recordId: fromHex(o.record), purpose: PURPOSES[o.purpose] }))

  txCommand<{ add?: boolean, remove?: boolean, validator: string, hospital?: string, power: number }>(tx, io, 'propose-validator',
    'propose adding or removing a validator (signed by a validator: --node-key); the proposal id is printed',
    `  $ medchain --home ./devnet tx propose-validator --node-key ./devnet/node0 --add --validator <node key hex> --hospital hospital-a --power 1
  $ medchain --home ./devnet tx propose-validator --node-key ./devnet/node0 --remove --validator <node key hex>`,
    (cmd) => withNodeKey(cmd
      .option('--add', 'add the validator')
      .option('--remove', 'remove the validator')
      .requiredOption('--validator <name|hex>', 'the validator\'s node public key (64 hex)')
      .option('--hospital <name|hex>', 'with --add: the active hospital that operates it')
      .option('--power <n>', 'with --add: voting power', integerIn(1, 65535), 1)),
    (ctx, o, cmd) => {
      if (o.add === o.remove) cmd.error('error: give exactly one of --add or --remove.', { code: 'medchain.action', exitCode: 2 })
      if (o.add === true && o.hospital === undefined) cmd.error('error: --add needs --hospital <name|hex>, the hospital that operates the validator.', { code: 'medchain.hospital', exitCode: 2 })
      return {
        type: TxType.ProposeValidator,
        action: o.add === true ? ValidatorAction.Add : ValidatorAction.Remove,
        validator: resolvePublicKey(ctx.keystore, o.validator),
        ...(o.add === true && o.hospital !== undefined ? { hospital: resolvePublicKey(ctx.keystore, o.hospital) } : {}),
        power: o.add === true ? o.power : 0
      }
    })

  txCommand<{ proposal: string, approve?: boolean, reject?: boolean }>(tx, io, 'vote',
    'approve or reject a consortium proposal (signed by a validator: --node-key)',
    '  $ medchain --home ./devnet tx vote --node-key ./devnet/node1 --proposal <proposalId> --approve',
    (cmd) => withNodeKey(cmd
      .requiredOption('--proposal <id>', 'the proposal id', hex32('--proposal'))
      .option('--approve', 'vote for')
      .option('--reject', 'vote against')),
    (_ctx, o, cmd) => {
      if (o.approve === o.reject) cmd.error('error: give exactly one of --approve or --reject.', { code: 'medchain.vote', exitCode: 2 })
      return { type: TxType.Vote, proposalId: fromHex(o.proposal), approve: o.approve === true }
    })
}
