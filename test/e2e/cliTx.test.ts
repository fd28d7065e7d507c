/**
 * `medchain tx …` and `medchain query …` as a user runs them: a real single-validator node in this
 * process (RPC on a free port), and the CLI as child processes (test/utils/cli.ts; `medchain
 * --home H --json … --rpc URL`) going through the README walkthrough: a hospital registers a
 * doctor and a pharmacy, the doctor enrols a patient and anchors two records, the patient grants
 * the pharmacy access to prescriptions, the pharmacy reads (granted, then refused out of scope),
 * the patient revokes, the pharmacy is refused, and the patient reads the audit trail. Then the
 * refusals every user meets: a stranger's signed query, an unknown key name, no node at --rpc.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { failedCode, okJson, oneJson, runCli, type CliRun } from '../utils/cli.js'
import { freePort } from '../utils/ports.js'
import { startSingleNode } from '../utils/nodes.js'
import { rmSync } from 'node:fs'
import type { MedchainNode } from '../../src/node/node.js'

const PASSPHRASE = 'pw'
const CONTENT_HASH_1 = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
const CONTENT_HASH_2 = '60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752'

type Run = CliRun

let dir: string
let home: string
let node: MedchainNode
let url: string

/** Runs the CLI with stdin closed, the passphrase in the environment, against the test node unless `args` names --rpc. */
async function medchain (args: string[], opts: { env?: Record<string, string | undefined>, json?: boolean } = {}): Promise<Run> {
  const env = opts.env ?? {}
  const rpc = args.includes('--rpc') || env.MEDCHAIN_RPC !== undefined ? [] : ['--rpc', url]
  return await runCli(['--home', home, ...(opts.json === false ? [] : ['--json']), ...args, ...rpc], { MEDCHAIN_PASSPHRASE: PASSPHRASE, ...env })
}

interface Receipt { hash: string, height: number, code: string, log: string, events: Array<{ kind: string, attributes: Record<string, string> }>, recordId?: string, grantId?: string }

/** A committed, accepted transaction: exit 0, its receipt with code OK. */
function committed (run: Run): Receipt {
  const receipt = okJson<Receipt>(run)
  assert.match(run.stderr, /waiting for block…/)
  assert.equal(receipt.code, 'OK')
  assert.match(receipt.hash, /^[0-9a-f]{64}$/)
  assert.ok(receipt.height > 0)
  return receipt
}

before(async () => {
  ({ dir, home, node, url } = await startSingleNode({ prefix: 'medchain-clitx-', passphrase: PASSPHRASE, keys: ['doctor', 'patient', 'pharmacy', 'stranger'] }))
})

after(async () => {
  await node?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('medchain tx and query against a running node', () => {
  it('walks through register, enrol, anchor, grant, access, revoke and the audit trail', { timeout: 90_000 }, async () => {
    // the hospital admin registers a doctor and a pharmacy, at once (the second finds the next free nonce)
    const [doctorRun, pharmacyRun] = await Promise.all([
      medchain(['tx', 'register-clinician', '--from', 'admin', '--key', 'doctor', '--name', 'Dr. Ada Lovelace', '--role', 'doctor']),
      medchain(['tx', 'register-organization', '--from', 'admin', '--key', 'pharmacy', '--name', 'Main St Pharmacy', '--kind', 'pharmacy'])
    ])
    const doctorReg = committed(doctorRun)
    assert.ok(doctorReg.events.some((e) => e.kind === 'identity.registered'), JSON.stringify(doctorReg.events))
    committed(pharmacyRun)

    // the doctor enrols the patient and anchors a prescription and a lab report
    committed(await medchain(['tx', 'enrol-patient', '--from', 'doctor', '--patient', 'patient']))
    const [prescriptionRun, reportRun] = await Promise.all([
      medchain(['tx', 'anchor-record', '--from', 'doctor', '--patient', 'patient', '--type', 'MedicationRequest', '--content-hash', CONTENT_HASH_1, '--size', '1024']),
      medchain(['tx', 'anchor-record', '--from', 'doctor', '--patient', 'patient', '--type', 'DiagnosticReport', '--content-hash', CONTENT_HASH_2, '--size', '2048', '--blob-ref', 'blob://st-mary/2'])
    ])
    const prescription = committed(prescriptionRun).recordId as string
    assert.match(prescription, /^[0-9a-f]{64}$/)
    assert.match(prescriptionRun.stderr, /placeholder envelope/)
    const report = committed(reportRun).recordId as string
    assert.notEqual(report, prescription)

    // the patient lets the pharmacy read prescriptions, for 30 days
    const grantReceipt = committed(await medchain(['tx', 'grant', '--from', 'patient', '--grantee', 'pharmacy', '--types', 'MedicationRequest', '--purpose', 'pharmacy', '--expires', '30d']))
    const grantId = grantReceipt.grantId as string
    assert.equal(grantId, grantReceipt.hash)

    // while the grant is live: the pharmacy sees only the prescription, and reads it; the lab report is out of scope
    const [pharmacyRecords, consents, granted, outOfScope] = await Promise.all([
      medchain(['query', 'records', '--patient', 'patient', '--as', 'pharmacy']),
      medchain(['query', 'consent', '--patient', 'patient']),
      medchain(['tx', 'access-record', '--from', 'pharmacy', '--record', prescription, '--purpose', 'pharmacy']),
      medchain(['tx', 'access-record', '--from', 'pharmacy', '--record', report, '--purpose', 'pharmacy', '--timeout', '20'])
    ])
    assert.equal(pharmacyRecords.code, 0, pharmacyRecords.stderr)
    assert.deepEqual(oneJson<Array<{ recordId: string }>>(pharmacyRecords).map((r) => r.recordId), [prescription])
    assert.equal(consents.code, 0, consents.stderr)
    const grants = oneJson<Array<{ grantId: string, status: string, purpose: string }>>(consents)
    assert.deepEqual(grants.map((g) => [g.grantId, g.status, g.purpose]), [[grantId, 'live', 'pharmacy']])
    committed(granted)
    assert.equal(failedCode(outOfScope), 'ACCESS_OUT_OF_SCOPE')
    assert.match(outOfScope.stderr, /refused with ACCESS_OUT_OF_SCOPE/)

    // the patient revokes; the pharmacy is refused
    committed(await medchain(['tx', 'revoke', '--from', 'patient', '--grant', grantId]))
    const afterRevoke = await medchain(['tx', 'access-record', '--from', 'pharmacy', '--record', prescription, '--purpose', 'pharmacy'])
    assert.ok(['ACCESS_CONSENT_REVOKED', 'ACCESS_NO_CONSENT'].includes(failedCode(afterRevoke)), afterRevoke.stdout)

    // one after the other: the same query signed by the same key in the same millisecond is the
    // same signature, which the node refuses the second time (QUERY_REPLAYED), as it should
    const audit = await medchain(['query', 'audit', '--patient', 'patient', '--as', 'patient'])
    const auditCsv = await medchain(['query', 'audit', '--patient', 'patient', '--as', 'patient', '--format', 'csv'], { json: false })
    const printed = await medchain(['query', 'audit', '--patient', 'patient', '--as', 'patient', '--print-request'])
    const [strangerAudit, unknownKey, noNode, tx, entity, validators] = await Promise.all([
      medchain(['query', 'audit', '--patient', 'patient', '--as', 'stranger']),
      medchain(['tx', 'enrol-patient', '--from', 'nobody', '--patient', 'patient']),
      freePort().then(async (port) => await medchain(['tx', 'enrol-patient', '--from', 'doctor', '--patient', 'stranger', '--rpc', `http://127.0.0.1:${port}`])),
      medchain(['query', 'tx', grantId], { env: { MEDCHAIN_RPC: url } }),
      medchain(['query', 'entity', 'pharmacy']),
      medchain(['query', 'validators'])
    ])

    // the patient's accounting of disclosures lists the granted and the refused reads
    assert.equal(audit.code, 0, audit.stderr)
    const entries = oneJson<Array<{ action: string, actorName: string, actorRole: string, purpose: string | null, result: string, emergency: boolean, recordId: string | null }>>(audit)
    const afterRevokeCode = oneJson<{ error: { code: string } }>(afterRevoke).error.code
    const reads = entries.filter((e) => e.action === 'AccessRecord')
    assert.deepEqual(reads.map((e) => e.result).sort(), ['OK', 'ACCESS_OUT_OF_SCOPE', afterRevokeCode].sort())
    for (const e of reads) assert.deepEqual([e.actorName, e.actorRole, e.purpose, e.emergency], ['Main St Pharmacy', 'pharmacy', 'pharmacy', false])
    assert.ok(entries.some((e) => e.action === 'Grant' && e.result === 'OK'))
    assert.ok(entries.some((e) => e.action === 'Revoke' && e.result === 'OK'))
    assert.equal(auditCsv.code, 0, auditCsv.stderr)
    const csvLines = auditCsv.stdout.trim().split('\n')
    assert.equal(csvLines[0], 'time,actor,actor_name,role,action,purpose,record_id,result,emergency,height,tx_hash')
    assert.equal(csvLines.length, entries.length + 1)
    assert.ok(csvLines.some((l) => l.includes(',access-record,pharmacy,') && l.includes(',ACCESS_OUT_OF_SCOPE,')))

    // the same query signed by the CLI and sent by another client (curl in the README)
    assert.equal(printed.code, 0, printed.stderr)
    const viaFetch = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(oneJson(printed)) })
    assert.equal(((await viaFetch.json()) as { result: unknown[] }).result.length, entries.length)

    // someone with no consent may not read the trail
    assert.equal(failedCode(strangerAudit), 'QUERY_NOT_AUTHORISED')
    // a signer that is not in the keystore
    assert.equal(failedCode(unknownKey), 'KEYSTORE_NOT_FOUND')
    assert.match(unknownKey.stderr, /no key named "nobody"/)
    // no node at --rpc
    assert.equal(failedCode(noNode), 'CLI_RPC_UNREACHABLE')
    assert.match(noNode.stderr, /^error: No node answers at http:\/\/127\.0\.0\.1:\d+ .*start one with `npm start` or pass --rpc/)

    // public reads ($MEDCHAIN_RPC picks the node too)
    assert.equal(tx.code, 0, tx.stderr)
    assert.equal(oneJson<Receipt>(tx).code, 'OK')
    assert.equal(entity.code, 0, entity.stderr)
    assert.deepEqual((({ kind, role, name, status }) => ({ kind, role, name, status }))(oneJson<{ kind: string, role: string, name: string, status: string }>(entity)),
      { kind: 'organization', role: 'pharmacy', name: 'Main St Pharmacy', status: 'active' })
    assert.equal(validators.code, 0, validators.stderr)
    assert.equal(oneJson<{ validators: unknown[] }>(validators).validators.length, 1)
  })

  it('refuses bad usage before touching the network, with exit 2', { timeout: 30_000 }, async () => {
    const [badRole, badHash, noSigner, help] = await Promise.all([
      medchain(['tx', 'register-clinician', '--from', 'admin', '--key', 'doctor', '--name', 'X', '--role', 'surgeon']),
      medchain(['tx', 'anchor-record', '--from', 'doctor', '--patient', 'patient', '--type', 'Observation', '--content-hash', 'abc', '--size', '1']),
      medchain(['tx', 'revoke', '--grant', CONTENT_HASH_1]),
      medchain(['tx', 'access-record', '--help'], { json: false })
    ])
    for (const run of [badRole, badHash, noSigner]) {
      assert.equal(run.code, 2, run.stderr)
      assert.equal(oneJson<{ error: { code: string } }>(run).error.code, 'CLI_USAGE')
    }
    assert.match(noSigner.stderr, /--from <keyName>/)
    assert.equal(help.code, 0)
    assert.match(help.stdout, /Example:\n\s+\$ medchain .*tx access-record --from pharmacy/)
  })
})
