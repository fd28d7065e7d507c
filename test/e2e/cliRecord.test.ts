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
import { readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import type { MedchainNode } from '../../src/node/node.js'
import { Keystore } from '../../src/keystore/store.js'
import { HomePaths } from '../../src/node/config.js'
import { failedCode, okJson, runCli, type CliRun } from '../utils/cli.js'
import { filesUnder, labReport, prescription } from '../utils/records.js'
import { startSingleNode } from '../utils/nodes.js'

const PASSPHRASE = 'pw'

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

function writeJson (name: string, value: unknown): string {
  const path = join(dir, name)
  writeFileSync(path, JSON.stringify(value, null, 2))
  return path
}

before(async () => {
  ({ dir, home, node, url } = await startSingleNode({ prefix: 'medchain-clirecord-', passphrase: PASSPHRASE, keys: ['doctor', 'er-doctor', 'patient', 'pharmacy', 'stranger'] }))
})

after(async () => {
  await node?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('medchain record: encrypted records end to end', () => {
  it('puts, grants, gets, shares, releases in an emergency, revokes; nothing readable reaches the node', { timeout: 180_000 }, async () => {
    okJson(await medchain(['tx', 'register-clinician', '--from', 'admin', '--key', 'doctor', '--name', 'Dr. Ada', '--role', 'doctor']))
    okJson(await medchain(['tx', 'register-clinician', '--from', 'admin', '--key', 'er-doctor', '--name', 'Dr. Emergency', '--role', 'doctor']))
    okJson(await medchain(['tx', 'register-organization', '--from', 'admin', '--key', 'pharmacy', '--name', 'Main St Pharmacy', '--kind', 'pharmacy']))
    okJson(await medchain(['tx', 'enrol-patient', '--from', 'doctor', '--patient', 'patient']))

    // bad input anchors nothing
    const invalid = writeJson('invalid.json', { ...prescription('x'), status: 'bogus' })
    const invalidRun = await medchain(['record', 'put', invalid, '--patient', 'patient', '--from', 'doctor'])
    assert.equal(failedCode(invalidRun), 'FHIR_INVALID')
    assert.match(invalidRun.stderr, /\/status/)
    const rxMarker = marker('rx')
    const rxFile = writeJson('rx.json', prescription(rxMarker))
    assert.equal(failedCode(await medchain(['record', 'put', rxFile, '--patient', 'patient', '--from', 'doctor', '--type', 'Observation'])), 'FHIR_TYPE_MISMATCH')
    assert.equal(failedCode(await medchain(['record', 'put', rxFile, '--patient', 'patient', '--from', 'pharmacy'])), 'RECORD_NOT_CLINICIAN')
    // a file larger than the node takes (blobs.maxBytes, 64 MiB) is refused before it is encrypted
    const huge = join(dir, 'huge.bin')
    writeFileSync(huge, '')
    truncateSync(huge, 70 * 1024 * 1024) // sparse: no real 70 MiB written
    const hugeRun = await medchain(['record', 'put', huge, '--patient', 'patient', '--from', 'doctor', '--type', 'Binary'])
    assert.equal(failedCode(hugeRun), 'BLOB_TOO_LARGE')
    assert.doesNotMatch(hugeRun.stderr, /encrypting/)
    const before = okJson<unknown[]>(await medchain(['query', 'records', '--patient', 'patient']))
    assert.equal(before.length, 0, 'a refused put anchors nothing')

    // the doctor puts a prescription and a lab report
    const rx = okJson<{ recordId: string, resourceType: string, contentHash: string, size: number, readers: string[] }>(
      await medchain(['record', 'put', rxFile, '--patient', 'patient', '--from', 'doctor']))
    assert.match(rx.recordId, /^[0-9a-f]{64}$/)
    assert.equal(rx.resourceType, 'MedicationRequest')
    assert.equal(rx.readers.length, 3, 'sealed for the patient, the author and the custodian hospital')
    const reportMarker = marker('report')
    const reportFile = writeJson('report.json', labReport(reportMarker))
    const report = okJson<{ recordId: string }>(await medchain(['record', 'put', reportFile, '--patient', 'patient', '--from', 'doctor']))
    // the patient's records page by page: one, then the one after it, then none
    const page1 = await runCli(['--home', home, 'query', 'records', '--patient', 'patient', '--limit', '1', '--rpc', url], { MEDCHAIN_PASSPHRASE: PASSPHRASE })
    assert.equal(page1.code, 0, page1.stderr)
    assert.match(page1.stdout, new RegExp(`--after ${rx.recordId}`), 'a full page names the next page\'s cursor')
    const page2 = okJson<Array<{ recordId: string }>>(await medchain(['query', 'records', '--patient', 'patient', '--limit', '1', '--after', rx.recordId]))
    assert.deepEqual(page2.map((r) => r.recordId), [report.recordId])
    assert.deepEqual(okJson<unknown[]>(await medchain(['query', 'records', '--patient', 'patient', '--after', report.recordId])), [])

    // the patient reads its own record
    const ownOut = join(dir, 'own-rx.json')
    okJson(await medchain(['record', 'get', rx.recordId, '--as', 'patient', '--out', ownOut]))
    assert.deepEqual(readFileSync(ownOut), readFileSync(rxFile))

    // no consent yet: the pharmacy is refused, and the refusal is on the trail
    assert.equal(failedCode(await medchain(['record', 'get', rx.recordId, '--as', 'pharmacy', '--out', join(dir, 'nope.json')])), 'ACCESS_NO_CONSENT')

    // the patient grants prescriptions; the grant seals the prescription's key for the pharmacy
    const grant = okJson<{ grantId: string }>(await medchain(['tx', 'grant', '--from', 'patient', '--grantee', 'pharmacy', '--types', 'MedicationRequest', '--purpose', 'pharmacy', '--expires', '30d']))
    const pharmacyOut = join(dir, 'pharmacy-rx.json')
    const got = okJson<{ bytes: number, keySource: string, accessTx: string }>(await medchain(['record', 'get', rx.recordId, '--as', 'pharmacy', '--out', pharmacyOut]))
    assert.equal(got.keySource, 'grant')
    assert.deepEqual(readFileSync(pharmacyOut), readFileSync(rxFile))
    // a lab report is out of a pharmacy's scope
    assert.equal(failedCode(await medchain(['record', 'get', report.recordId, '--as', 'pharmacy', '--out', join(dir, 'nope2.json')])), 'ACCESS_OUT_OF_SCOPE')

    // a prescription anchored after the grant: access is granted, but the key arrives with `record share`
    const rx2File = writeJson('rx2.json', prescription(marker('rx2')))
    const rx2 = okJson<{ recordId: string }>(await medchain(['record', 'put', rx2File, '--patient', 'patient', '--from', 'doctor']))
    assert.equal(failedCode(await medchain(['record', 'get', rx2.recordId, '--as', 'pharmacy', '--out', join(dir, 'rx2-early.json')])), 'RECORD_NO_KEY')
    const shared = okJson<{ shared: number }>(await medchain(['record', 'share', '--from', 'patient', '--to', 'pharmacy']))
    assert.equal(shared.shared, 1)
    okJson(await medchain(['record', 'get', rx2.recordId, '--as', 'pharmacy', '--out', join(dir, 'rx2-got.json')]))
    assert.deepEqual(readFileSync(join(dir, 'rx2-got.json')), readFileSync(rx2File))
    // an existing output file is refused before any access is requested
    assert.equal(failedCode(await medchain(['record', 'get', rx2.recordId, '--as', 'pharmacy', '--out', rx2File])), 'CLI_BAD_FILE')

    // break-glass: another doctor opens emergency access; the key comes through the patient's hospital
    okJson(await medchain(['tx', 'emergency-access', '--from', 'er-doctor', '--patient', 'patient', '--reason', 'unconscious in the ER']))
    assert.equal(failedCode(await medchain(['record', 'get', report.recordId, '--as', 'er-doctor', '--out', join(dir, 'er-early.json')])), 'RECORD_NO_KEY')
    const released = okJson<{ released: number }>(await medchain(['record', 'release', '--from', 'admin', '--to', 'er-doctor', '--patient', 'patient']))
    assert.equal(released.released, 3)
    okJson(await medchain(['record', 'get', report.recordId, '--as', 'er-doctor', '--out', join(dir, 'er-report.json')]))
    assert.deepEqual(readFileSync(join(dir, 'er-report.json')), readFileSync(reportFile))

    // the patient revokes; the pharmacy is refused from the next block on
    okJson(await medchain(['tx', 'revoke', '--from', 'patient', '--grant', grant.grantId]))
    assert.equal(failedCode(await medchain(['record', 'get', rx.recordId, '--as', 'pharmacy', '--out', join(dir, 'after-revoke.json')])), 'ACCESS_CONSENT_REVOKED')

    // the patient checks the record against the validators' signatures, offline, trusting the genesis only
    const proofFile = join(dir, 'rx.proof.json')
    okJson(await medchain(['query', 'proof', '--record', rx.recordId, '--patient', 'patient', '--as', 'patient', '--out', proofFile]))
    // no node is asked: `verify` takes no --rpc, only the proof file and the home's genesis
    const proven = okJson<{ verified: boolean, record: { recordId: string, contentHash: string }, consents: Array<{ status: string }> }>(await runCli(['--home', home, '--json', 'verify', proofFile]))
    assert.equal(proven.verified, true)
    assert.deepEqual([proven.record.recordId, proven.record.contentHash], [rx.recordId, rx.contentHash])
    assert.deepEqual(proven.consents.map((c) => c.status), ['revoked'])

    // the accounting of disclosures, every line proven
    const trail = okJson<Array<{ action: string, actorName: string, result: string, emergency: boolean, verified: boolean }>>(await medchain(['query', 'audit', '--patient', 'patient', '--as', 'patient', '--verify']))
    assert.ok(trail.every((e) => e.verified), 'every audit line verifies against its block\'s certificate')
    const reads = trail.filter((e) => e.action === 'AccessRecord')
    assert.deepEqual(reads.filter((e) => e.actorName === 'Main St Pharmacy').map((e) => e.result),
      ['ACCESS_NO_CONSENT', 'OK', 'ACCESS_OUT_OF_SCOPE', 'OK', 'OK', 'ACCESS_CONSENT_REVOKED'])
    assert.ok(reads.some((e) => e.actorName === 'Dr. Emergency' && e.result === 'OK' && e.emergency))
    assert.ok(trail.some((e) => e.action === 'ShareKeys' && e.emergency), 'the emergency key release is flagged')
    assert.ok(trail.some((e) => e.action === 'ShareKeys' && !e.emergency), 'the patient\'s share is not')

    // the node's serve log: every download of the patient's contents, to the patient only
    const serves = okJson<Array<{ requester: string, result: string, recordId: string }>>(await medchain(['record', 'serves', '--as', 'patient']))
    const pharmacyKey = new Keystore(HomePaths.keystore(home)).show('pharmacy').publicKey
    assert.deepEqual(serves.filter((e) => e.requester === pharmacyKey).map((e) => [e.recordId, e.result]), [[rx.recordId, 'served'], [rx2.recordId, 'served']])
    assert.equal(serves.filter((e) => e.result === 'served').length, 4, 'patient, pharmacy twice, emergency doctor')
    assert.deepEqual(okJson(await medchain(['record', 'serves', '--as', 'pharmacy'])), [], 'a key reads only the log of its own records')

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
