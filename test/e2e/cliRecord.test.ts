/**
 * `medchain record put|get|share|release` end to end, as a user runs them: a real single-validator
 * node in this process (RPC and blob store on a free port), the CLI as child processes.
 *
 * The story: a doctor puts a FHIR prescription and a lab report (each carrying a unique marker
 * string); the patient grants a pharmacy prescriptions; the pharmacy gets the prescription (the
 * decrypted file equals the original) and is refused the report; a later prescription needs
 * `record share`; a clinician of another hospital opens emergency access and gets the report after
 * the patient's hospital releases its key; the patient revokes and the pharmacy is refused. Bad
 * input: an invalid FHIR resource and a wrong --type anchor nothing. Privacy: no marker appears in
 * any LevelDB value or blob file of the node. The audit trail holds every read and refusal.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { pino } from 'pino'
import { initHome } from '../../src/node/home.js'
import { MedchainNode } from '../../src/node/node.js'
import { Keystore } from '../../src/crypto/keystore.js'
import { HomePaths } from '../../src/node/config.js'
import { runCli, type CliRun } from '../utils/cli.js'

const PASSPHRASE = 'pw'
const CHEAP_SCRYPT = { n: 1024, r: 8, p: 1 }
const FAST = { proposeMs: 200, prevoteMs: 100, precommitMs: 100, deltaMs: 100, capMs: 1000, commitMs: 50 }

let dir: string
let home: string
let node: MedchainNode | undefined
let url: string
const markers: string[] = []

function marker (label: string): string {
  const m = `MARKER-${label}-${randomBytes(8).toString('hex')}`
  markers.push(m)
  return m
}

async function medchain (args: string[]): Promise<CliRun> {
  return await runCli(['--home', home, '--json', ...args, '--rpc', url], { MEDCHAIN_PASSPHRASE: PASSPHRASE })
}

function oneJson<T = Record<string, unknown>> (run: CliRun): T {
  const lines = run.stdout.split('\n').filter((l) => l !== '')
  assert.equal(lines.length, 1, `expected one JSON line on stdout, got: ${run.stdout}\nstderr: ${run.stderr}`)
  return JSON.parse(lines[0] as string) as T
}

function ok<T = Record<string, unknown>> (run: CliRun): T {
  assert.equal(run.code, 0, `exit ${String(run.code)}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`)
  return oneJson<T>(run)
}

function failed (run: CliRun): string {
  assert.equal(run.code, 1, `exit ${String(run.code)}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`)
  assert.doesNotMatch(run.stderr, /\n\s+at /)
  return oneJson<{ error: { code: string } }>(run).error.code
}

function prescription (note: string): Record<string, unknown> {
  return {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '308182', display: 'Amoxicillin 250 MG Oral Capsule' }] },
    subject: { reference: 'Patient/example' },
    note: [{ text: note }]
  }
}

function labReport (conclusion: string): Record<string, unknown> {
  return {
    resourceType: 'DiagnosticReport',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '58410-2', display: 'CBC panel' }] },
    subject: { reference: 'Patient/example' },
    conclusion
  }
}

function writeJson (name: string, value: unknown): string {
  const path = join(dir, name)
  writeFileSync(path, JSON.stringify(value, null, 2))
  return path
}

/** Every file under `root`, recursively. */
function filesUnder (root: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const path = join(root, entry.name)
    if (entry.isDirectory()) out.push(...filesUnder(path))
    else if (entry.isFile()) out.push(path)
  }
  return out
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'medchain-clirecord-'))
  home = join(dir, 'home')
  initHome({ home, moniker: 'st-mary', passphrase: PASSPHRASE, scrypt: CHEAP_SCRYPT })
  const keystore = new Keystore(HomePaths.keystore(home), { scrypt: CHEAP_SCRYPT })
  for (const name of ['doctor', 'er-doctor', 'patient', 'pharmacy', 'stranger']) keystore.create(name, PASSPHRASE)
  node = await MedchainNode.start({
    home,
    logger: pino({ level: 'silent' }),
    config: (c) => ({ ...c, rpc: { ...c.rpc, port: 0, ratePerSecond: 1000 }, consensus: { ...c.consensus, timeouts: FAST } })
  })
  url = node.rpc?.url as string
})

after(async () => {
  await node?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('medchain record: encrypted records end to end', () => {
  it('puts, grants, gets, shares, releases in an emergency, revokes; nothing readable reaches the node', { timeout: 180_000 }, async () => {
    ok(await medchain(['tx', 'register-clinician', '--from', 'admin', '--key', 'doctor', '--name', 'Dr. Ada', '--role', 'doctor']))
    ok(await medchain(['tx', 'register-clinician', '--from', 'admin', '--key', 'er-doctor', '--name', 'Dr. Emergency', '--role', 'doctor']))
    ok(await medchain(['tx', 'register-organization', '--from', 'admin', '--key', 'pharmacy', '--name', 'Main St Pharmacy', '--kind', 'pharmacy']))
    ok(await medchain(['tx', 'enrol-patient', '--from', 'doctor', '--patient', 'patient']))

    // bad input anchors nothing
    const invalid = writeJson('invalid.json', { ...prescription('x'), status: 'bogus' })
    const invalidRun = await medchain(['record', 'put', invalid, '--patient', 'patient', '--from', 'doctor'])
    assert.equal(failed(invalidRun), 'FHIR_INVALID')
    assert.match(invalidRun.stderr, /\/status/)
    const rxMarker = marker('rx')
    const rxFile = writeJson('rx.json', prescription(rxMarker))
    assert.equal(failed(await medchain(['record', 'put', rxFile, '--patient', 'patient', '--from', 'doctor', '--type', 'Observation'])), 'FHIR_TYPE_MISMATCH')
    assert.equal(failed(await medchain(['record', 'put', rxFile, '--patient', 'patient', '--from', 'pharmacy'])), 'RECORD_NOT_CLINICIAN')
    const before = ok<unknown[]>(await medchain(['query', 'records', '--patient', 'patient']))
    assert.equal(before.length, 0, 'a refused put anchors nothing')

    // the doctor puts a prescription and a lab report
    const rx = ok<{ recordId: string, resourceType: string, contentHash: string, size: number, readers: string[] }>(
      await medchain(['record', 'put', rxFile, '--patient', 'patient', '--from', 'doctor']))
    assert.match(rx.recordId, /^[0-9a-f]{64}$/)
    assert.equal(rx.resourceType, 'MedicationRequest')
    assert.equal(rx.readers.length, 3, 'sealed for the patient, the author and the custodian hospital')
    const reportMarker = marker('report')
    const reportFile = writeJson('report.json', labReport(reportMarker))
    const report = ok<{ recordId: string }>(await medchain(['record', 'put', reportFile, '--patient', 'patient', '--from', 'doctor']))

    // the patient reads its own record
    const ownOut = join(dir, 'own-rx.json')
    ok(await medchain(['record', 'get', rx.recordId, '--as', 'patient', '--out', ownOut]))
    assert.deepEqual(readFileSync(ownOut), readFileSync(rxFile))

    // no consent yet: the pharmacy is refused, and the refusal is on the trail
    assert.equal(failed(await medchain(['record', 'get', rx.recordId, '--as', 'pharmacy', '--out', join(dir, 'nope.json')])), 'ACCESS_NO_CONSENT')

    // the patient grants prescriptions; the grant seals the prescription's key for the pharmacy
    const grant = ok<{ grantId: string }>(await medchain(['tx', 'grant', '--from', 'patient', '--grantee', 'pharmacy', '--types', 'MedicationRequest', '--purpose', 'pharmacy', '--expires', '30d']))
    const pharmacyOut = join(dir, 'pharmacy-rx.json')
    const got = ok<{ bytes: number, keySource: string, accessTx: string }>(await medchain(['record', 'get', rx.recordId, '--as', 'pharmacy', '--out', pharmacyOut]))
    assert.equal(got.keySource, 'grant')
    assert.deepEqual(readFileSync(pharmacyOut), readFileSync(rxFile))
    // a lab report is out of a pharmacy's scope
    assert.equal(failed(await medchain(['record', 'get', report.recordId, '--as', 'pharmacy', '--out', join(dir, 'nope2.json')])), 'ACCESS_OUT_OF_SCOPE')

    // a prescription anchored after the grant: access is granted, but the key arrives with `record share`
    const rx2File = writeJson('rx2.json', prescription(marker('rx2')))
    const rx2 = ok<{ recordId: string }>(await medchain(['record', 'put', rx2File, '--patient', 'patient', '--from', 'doctor']))
    assert.equal(failed(await medchain(['record', 'get', rx2.recordId, '--as', 'pharmacy', '--out', join(dir, 'rx2-early.json')])), 'RECORD_NO_KEY')
    const shared = ok<{ shared: number }>(await medchain(['record', 'share', '--from', 'patient', '--to', 'pharmacy']))
    assert.equal(shared.shared, 1)
    ok(await medchain(['record', 'get', rx2.recordId, '--as', 'pharmacy', '--out', join(dir, 'rx2-got.json')]))
    assert.deepEqual(readFileSync(join(dir, 'rx2-got.json')), readFileSync(rx2File))
    // an existing output file is refused before any access is requested
    assert.equal(failed(await medchain(['record', 'get', rx2.recordId, '--as', 'pharmacy', '--out', rx2File])), 'CLI_BAD_FILE')

    // break-glass: another doctor opens emergency access; the key comes through the patient's hospital
    ok(await medchain(['tx', 'emergency-access', '--from', 'er-doctor', '--patient', 'patient', '--reason', 'unconscious in the ER']))
    assert.equal(failed(await medchain(['record', 'get', report.recordId, '--as', 'er-doctor', '--out', join(dir, 'er-early.json')])), 'RECORD_NO_KEY')
    const released = ok<{ released: number }>(await medchain(['record', 'release', '--from', 'admin', '--to', 'er-doctor', '--patient', 'patient']))
    assert.equal(released.released, 3)
    ok(await medchain(['record', 'get', report.recordId, '--as', 'er-doctor', '--out', join(dir, 'er-report.json')]))
    assert.deepEqual(readFileSync(join(dir, 'er-report.json')), readFileSync(reportFile))

    // the patient revokes; the pharmacy is refused from the next block on
    ok(await medchain(['tx', 'revoke', '--from', 'patient', '--grant', grant.grantId]))
    assert.equal(failed(await medchain(['record', 'get', rx.recordId, '--as', 'pharmacy', '--out', join(dir, 'after-revoke.json')])), 'ACCESS_CONSENT_REVOKED')

    // the accounting of disclosures
    const trail = ok<Array<{ action: string, actorName: string, result: string, emergency: boolean }>>(await medchain(['query', 'audit', '--patient', 'patient', '--as', 'patient']))
    const reads = trail.filter((e) => e.action === 'AccessRecord')
    assert.deepEqual(reads.filter((e) => e.actorName === 'Main St Pharmacy').map((e) => e.result),
      ['ACCESS_NO_CONSENT', 'OK', 'ACCESS_OUT_OF_SCOPE', 'OK', 'OK', 'ACCESS_CONSENT_REVOKED'])
    assert.ok(reads.some((e) => e.actorName === 'Dr. Emergency' && e.result === 'OK' && e.emergency))
    assert.ok(trail.some((e) => e.action === 'ShareKeys' && e.emergency), 'the emergency key release is flagged')
    assert.ok(trail.some((e) => e.action === 'ShareKeys' && !e.emergency), 'the patient\'s share is not')

    // the node's serve log: every download of the patient's contents, to the patient only
    const serves = ok<Array<{ requester: string, result: string, recordId: string }>>(await medchain(['record', 'serves', '--as', 'patient']))
    const pharmacyKey = new Keystore(HomePaths.keystore(home)).show('pharmacy').publicKey
    assert.deepEqual(serves.filter((e) => e.requester === pharmacyKey).map((e) => [e.recordId, e.result]), [[rx.recordId, 'served'], [rx2.recordId, 'served']])
    assert.equal(serves.filter((e) => e.result === 'served').length, 4, 'patient, pharmacy twice, emergency doctor')
    assert.deepEqual(ok(await medchain(['record', 'serves', '--as', 'pharmacy'])), [], 'a key reads only the log of its own records')

    // privacy: no plaintext marker in any LevelDB value or blob file of the node
    await node?.stop()
    node = undefined
    const db = new ClassicLevel<Uint8Array, Uint8Array>(HomePaths.data(home), { keyEncoding: 'view', valueEncoding: 'view' })
    let values = 0
    try {
      for await (const [key, value] of db.iterator()) {
        values++
        const text = Buffer.concat([Buffer.from(key), Buffer.from(value)]).toString('latin1')
        for (const m of markers) assert.ok(!text.includes(m), `marker ${m} found in LevelDB`)
      }
    } finally {
      await db.close()
    }
    assert.ok(values > 50, `scanned ${values} LevelDB entries`)
    const blobs = filesUnder(join(home, 'blobs')).filter((f) => statSync(f).size > 0)
    assert.ok(blobs.length >= 3, `the node holds the ciphertexts (${blobs.length} files)`)
    for (const file of [...blobs, ...filesUnder(home).filter((f) => !f.startsWith(HomePaths.data(home)))]) {
      const text = readFileSync(file).toString('latin1')
      for (const m of markers) assert.ok(!text.includes(m), `marker ${m} found in ${file}`)
    }
  })
})
