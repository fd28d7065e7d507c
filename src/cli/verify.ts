/**
 * `medchain verify <proof.json> [--genesis FILE]`: checks a proof bundle (src/proof) offline,
 * trusting nothing but the genesis file, and prints what it proves. No node is contacted.
 *
 * The genesis is --genesis, else <home>/genesis.json (a node home), else <home>/node0/genesis.json
 * (a devnet directory). Exit 0 when the proof verifies, 1 when it does not (the ProofError code and
 * its sentence; with --json `{"error": {code, message}}`), 2 on bad usage.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { genesisFromJson, type Genesis } from '../types/genesis.js'
import { ProofError } from '../proof/errors.js'
import { RECORD_PROOF_KIND, TX_PROOF_KIND } from '../proof/types.js'
import { verifyRecordProof, verifyTxProof, type CertifiedBlockSummary, type RecordProofSummary, type TxProofSummary } from '../proof/verify.js'
import { formatTable, printNote, printResult, type CliIo, type CommandResult } from './output.js'
import { globalOptions } from './options.js'
import { ClientError } from './rpcClient.js'

function badFile (path: string, message: string): ClientError {
  return new ClientError({ code: 'CLI_BAD_FILE', path }, message)
}

function readJsonFile (path: string, what: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw badFile(path, `Could not read the ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}); check the path.`)
  }
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw badFile(path, `The ${what} ${path} is not JSON; give the file medchain wrote.`)
  }
}

/** The genesis a proof is checked against: `file`, else <home>/genesis.json, else <home>/node0/genesis.json. */
export function loadTrustedGenesis (home: string, file: string | undefined): Genesis {
  const path = file ?? [join(home, 'genesis.json'), join(home, 'node0', 'genesis.json')].find((p) => existsSync(p))
  if (path === undefined) throw badFile(join(home, 'genesis.json'), `No genesis.json in ${home} or ${join(home, 'node0')}; pass --genesis <file> (the chain's genesis, from a source you trust).`)
  return genesisFromJson(readJsonFile(path, 'genesis file'))
}

function iso (ms: number): string {
  return new Date(ms).toISOString()
}

function blockLine (b: CertifiedBlockSummary): string {
  return `block ${b.height} at ${iso(b.time)}, signed by ${b.signedPower} of ${b.totalPower} voting power (quorum ${b.quorum})`
}

function txText (s: TxProofSummary): string {
  return formatTable([
    ['tx:', s.txHash],
    ['type:', s.txType],
    ['sender:', s.sender],
    ['result:', s.receipt.code + (s.receipt.log === '' ? '' : ` (${s.receipt.log})`)],
    ['in:', `${blockLine(s.block)}, index ${s.index}`],
    ['validator changes:', `${s.validatorChanges} since genesis, each certified by the set before it`]
  ])
}

function recordText (s: RecordProofSummary): string {
  const r = s.record
  const lines = [
    ['record:', r.recordId],
    ['patient:', r.patient],
    ['type:', r.resourceType],
    ['content hash:', `${r.contentHash} (sha256 of the encrypted blob, ${r.size} bytes at ${r.blobRef})`],
    ['author:', r.author],
    ['anchored:', `${blockLine(s.anchor.block)}, tx ${s.anchor.txHash}`],
    ['validator changes:', `${s.anchor.validatorChanges} since genesis, each certified by the set before it`],
    ['head:', blockLine(s.head)],
    ['supersedes:', r.supersedes ?? '-'],
    ['superseded by:', r.supersededBy ?? '- (current at the head)']
  ]
  let text = formatTable(lines)
  text += '\n\nconsents at the head (' + iso(s.head.time) + '):\n'
  text += s.consents.length === 0
    ? '  (none proven)'
    : formatTable([
      ['  GRANT ID', 'GRANTEE', 'PURPOSE', 'STATUS', 'COVERS THIS RECORD'],
      ...s.consents.map((c) => ['  ' + c.grantId, c.grantee, c.purpose, c.status, c.coversRecord ? 'yes' : 'no'])
    ])
  if (s.grantee !== null) {
    text += `\n\ngrantee ${s.grantee.grantee}: ` + (s.grantee.grantIds.length === 0
      ? 'proven to hold no consent from the patient (no index entry in the state).'
      : `${s.grantee.grantIds.length} grant(s) in the index; a live grant covering this record: ${s.grantee.liveGrantCoversRecord ? 'yes' : 'no'}.`)
  }
  text += '\n\nNot proven: that the node showed you every record (completeness), nor that a blob matches until you hash it against the content hash.'
  return text
}

/** Verifies the bundle in `path` against `genesis`; returns what it proves. */
export function verifyProofFile (path: string, genesis: Genesis): CommandResult {
  const bundle = readJsonFile(path, 'proof file')
  const kind = typeof bundle === 'object' && bundle !== null ? (bundle as { kind?: unknown }).kind : undefined
  if (kind === RECORD_PROOF_KIND) {
    const summary = verifyRecordProof(bundle, genesis)
    return { json: { verified: true, kind, ...summary }, text: `VERIFIED record proof (chain ${genesis.chainId})\n\n${recordText(summary)}` }
  }
  if (kind === TX_PROOF_KIND) {
    const summary = verifyTxProof(bundle, genesis)
    return { json: { verified: true, kind, ...summary }, text: `VERIFIED tx proof (chain ${genesis.chainId})\n\n${txText(summary)}` }
  }
  throw new ProofError({ code: 'PROOF_MALFORMED', part: 'bundle', reason: 'kind' }, `${path} is not a medchain proof ("kind" must be "${RECORD_PROOF_KIND}" or "${TX_PROOF_KIND}").`)
}

export function addVerifyCommand (program: Command, io: CliIo): void {
  program.command('verify')
    .description('verify a proof bundle offline against the genesis file: a record (its anchoring, state and consents) or a transaction')
    .argument('<proof.json>', 'a bundle written by `medchain query proof` (or the result of proof_getRecord / proof_getTx)')
    .option('--genesis <file>', 'the chain\'s genesis.json, from a source you trust (default: <home>/genesis.json, else <home>/node0/genesis.json)')
    .addHelpText('after', `
What is trusted: the genesis file only (chain id and first validator set). Every validator-set
change, block header, commit certificate, Merkle and state proof is checked from there.
Not proven: that the node showed you every record, nor that a blob matches until you hash it.

Examples:
  $ medchain --home ./devnet query proof --record 9e8d…(64 hex) --patient patient --as patient --out rx.proof.json
  $ medchain verify rx.proof.json --genesis ./devnet/node0/genesis.json
  VERIFIED record proof (chain medchain-devnet)
  record:             9e8d…
  anchored:           block 5 at 2026-11-22T03:45:40.000Z, signed by 4 of 4 voting power (quorum 3), tx …
  $ medchain --json verify rx.proof.json --genesis genesis.json     one JSON document; exit 1 when it does not verify`)
    .action((file: string, opts: { genesis?: string }, cmd: Command) => {
      const { home, json } = globalOptions(cmd, io)
      const genesis = loadTrustedGenesis(home, opts.genesis)
      try {
        printResult(io, json, verifyProofFile(file, genesis))
      } catch (err) {
        if (err instanceof ProofError) printNote(io, `NOT VERIFIED (${err.code})`)
        throw err
      }
    })
}
