/**
 * Record file checks: FHIR R4 validation (schema + base-spec rules) and Binary detection.
 *
 * Invalid cases are a table: take a valid fixture, break one thing, expect one code and one path.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inspectRecordFile, MAX_FHIR_JSON_SIZE, parseFhirJson, validateFhirResource } from '../../../src/records/fhir.js'
import { FhirError, type FhirErrorType } from '../../../src/records/fhirErrors.js'

const FIXTURES = fileURLToPath(new URL('../../fixtures/fhir/', import.meta.url))
const fixturePath = (name: string): string => join(FIXTURES, name)

type Json = Record<string, unknown>

async function loadFixture (name: string): Promise<Json> {
  return JSON.parse(await readFile(fixturePath(name), 'utf8')) as Json
}

/** Asserts `fn` throws a FhirError whose details include `expected`; returns the error. */
function expectFhirError (fn: () => unknown, expected: Partial<FhirErrorType>): FhirError {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  assert.ok(caught instanceof FhirError, `expected a FhirError, got ${String(caught)}`)
  assert.deepEqual(pick(caught.type, Object.keys(expected)), expected)
  return caught
}

async function expectFhirRejection (promise: Promise<unknown>, expected: Partial<FhirErrorType>): Promise<FhirError> {
  let caught: unknown
  try {
    await promise
  } catch (err) {
    caught = err
  }
  assert.ok(caught instanceof FhirError, `expected a FhirError, got ${String(caught)}`)
  assert.deepEqual(pick(caught.type, Object.keys(expected)), expected)
  return caught
}

function pick (value: object, keys: string[]): Json {
  return Object.fromEntries(keys.map(k => [k, (value as Json)[k]]))
}

const VALID = ['patient.json', 'observation.json', 'medicationRequest.json', 'diagnosticReport.json']
let fixtures: Record<string, Json> = {}

before(async () => {
  fixtures = Object.fromEntries(await Promise.all(VALID.map(async name => [name, await loadFixture(name)] as const)))
})

describe('validateFhirResource', () => {
  it('accepts real-world-shaped resources (first call measured)', (t) => {
    const start = performance.now()
    assert.deepEqual(validateFhirResource(fixtures['patient.json']), { resourceType: 'Patient' })
    t.diagnostic(`first validation (schema load + Patient compile): ${(performance.now() - start).toFixed(0)} ms`)
    assert.deepEqual(validateFhirResource(fixtures['observation.json']), { resourceType: 'Observation' })
    assert.deepEqual(validateFhirResource(fixtures['medicationRequest.json']), { resourceType: 'MedicationRequest' })
    assert.deepEqual(validateFhirResource(fixtures['diagnosticReport.json']), { resourceType: 'DiagnosticReport' })
  })

  it('accepts a required primitive given only as its _extension (data absent)', () => {
    const observation = structuredClone(fixtures['observation.json']!)
    delete observation.status
    observation._status = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] }
    assert.deepEqual(validateFhirResource(observation), { resourceType: 'Observation' })
  })

  it('accepts a Bundle of valid resources', () => {
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: VALID.map(name => ({ resource: fixtures[name] })) }
    assert.deepEqual(validateFhirResource(bundle), { resourceType: 'Bundle' })
  })

  const invalid: { name: string, fixture: string, malleate: (r: Json) => void, path: string, reason?: RegExp }[] = [
    { name: 'MedicationRequest.status not in its required value set', fixture: 'medicationRequest.json', malleate: r => { r.status = 'bogus' }, path: '/status', reason: /allowed values \(active, on-hold, / },
    { name: 'MedicationRequest.intent not in its required value set', fixture: 'medicationRequest.json', malleate: r => { r.intent = 'wish' }, path: '/intent' },
    { name: 'MedicationRequest without intent', fixture: 'medicationRequest.json', malleate: r => { delete r.intent }, path: '/intent', reason: /required/ },
    { name: 'MedicationRequest without status', fixture: 'medicationRequest.json', malleate: r => { delete r.status }, path: '/status', reason: /required/ },
    { name: 'MedicationRequest without subject', fixture: 'medicationRequest.json', malleate: r => { delete r.subject }, path: '/subject', reason: /required/ },
    { name: 'MedicationRequest without medication[x]', fixture: 'medicationRequest.json', malleate: r => { delete r.medicationCodeableConcept }, path: '/medication[x]', reason: /medicationCodeableConcept, medicationReference/ },
    { name: 'MedicationRequest.medicationCodeableConcept a string', fixture: 'medicationRequest.json', malleate: r => { r.medicationCodeableConcept = 'amoxicillin' }, path: '/medicationCodeableConcept', reason: /must be object/ },
    { name: 'dosage frequency a string, deep in a backbone element', fixture: 'medicationRequest.json', malleate: r => { ((r.dosageInstruction as Json[])[0]!.timing as { repeat: Json }).repeat.frequency = 'thrice' }, path: '/dosageInstruction/0/timing/repeat/frequency' },
    { name: 'dosage sequence not a whole number', fixture: 'medicationRequest.json', malleate: r => { (r.dosageInstruction as Json[])[0]!.sequence = 1.5 }, path: '/dosageInstruction/0/sequence', reason: /integer/ },
    { name: 'numberOfRepeatsAllowed negative (unsignedInt)', fixture: 'medicationRequest.json', malleate: r => { (r.dispenseRequest as Json).numberOfRepeatsAllowed = -1 }, path: '/dispenseRequest/numberOfRepeatsAllowed' },
    { name: 'Patient.identifier[0].type a string', fixture: 'patient.json', malleate: r => { (r.identifier as Json[])[0]!.type = 'MR' }, path: '/identifier/0/type', reason: /must be object/ },
    { name: 'Patient.birthDate a number', fixture: 'patient.json', malleate: r => { r.birthDate = 5 }, path: '/birthDate', reason: /must be string/ },
    { name: 'Patient.birthDate not a date', fixture: 'patient.json', malleate: r => { r.birthDate = '25/12/1974' }, path: '/birthDate', reason: /pattern/ },
    { name: 'Patient.gender a number', fixture: 'patient.json', malleate: r => { r.gender = 5 }, path: '/gender' },
    { name: 'Patient.gender not in the enum', fixture: 'patient.json', malleate: r => { r.gender = 'woman' }, path: '/gender', reason: /male, female, other, unknown/ },
    { name: 'Patient.name[0].family a number', fixture: 'patient.json', malleate: r => { (r.name as Json[])[0]!.family = 5 }, path: '/name/0/family' },
    { name: 'Patient.name not an array', fixture: 'patient.json', malleate: r => { r.name = { family: 'Doe' } }, path: '/name', reason: /must be array/ },
    { name: 'unknown property on Patient', fixture: 'patient.json', malleate: r => { r.favouriteColour = 'blue' }, path: '/favouriteColour', reason: /not a property/ },
    { name: 'unknown property in a datatype', fixture: 'patient.json', malleate: r => { (r.name as Json[])[0]!.middle = 'X' }, path: '/name/0/middle' },
    { name: 'bad contained resource', fixture: 'patient.json', malleate: r => { (r.contained as Json[])[0]!.active = 'yes' }, path: '/contained/0/active' },
    { name: 'contained resource of unknown type', fixture: 'patient.json', malleate: r => { (r.contained as Json[])[0]!.resourceType = 'Clinic' }, path: '/contained/0/resourceType' },
    { name: 'Observation without code', fixture: 'observation.json', malleate: r => { delete r.code }, path: '/code', reason: /required/ },
    { name: 'Observation.valueQuantity.value a string', fixture: 'observation.json', malleate: r => { (r.valueQuantity as Json).value = '6.3' }, path: '/valueQuantity/value' },
    { name: 'Observation.status not in its value set', fixture: 'observation.json', malleate: r => { r.status = 'done' }, path: '/status' },
    { name: 'DiagnosticReport.status not in its value set', fixture: 'diagnosticReport.json', malleate: r => { r.status = 'signed' }, path: '/status' },
    { name: 'DiagnosticReport.result not an array', fixture: 'diagnosticReport.json', malleate: r => { r.result = { reference: 'Observation/glucose' } }, path: '/result' }
  ]
  for (const c of invalid) {
    it(`refuses ${c.name} with FHIR_INVALID at ${c.path}`, () => {
      const resource = structuredClone(fixtures[c.fixture]!)
      c.malleate(resource)
      const err = expectFhirError(() => validateFhirResource(resource), { code: 'FHIR_INVALID', path: c.path })
      assert.equal(err.type.code === 'FHIR_INVALID' && err.type.resourceType, resource.resourceType)
      if (c.reason !== undefined && err.type.code === 'FHIR_INVALID') assert.match(err.type.reason, c.reason)
      assert.match(err.message, /^The FHIR \w+ is invalid at \/\S*: .+; fix it and try again\.$/)
    })
  }

  it('gives the path inside a Bundle entry', () => {
    const patient = structuredClone(fixtures['patient.json']!)
    patient.gender = 5
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: fixtures['observation.json'] }, { resource: patient }] }
    expectFhirError(() => validateFhirResource(bundle), { code: 'FHIR_INVALID', path: '/entry/1/resource/gender' })
  })

  const notResources: { name: string, value: unknown }[] = [
    { name: 'an unknown resourceType', value: { resourceType: 'Patientt', name: [] } },
    { name: 'a Medplum-only resourceType', value: { resourceType: 'Project', name: 'x' } },
    { name: 'an R4B-only resourceType', value: { resourceType: 'SubscriptionStatus' } },
    { name: 'no resourceType', value: { name: [{ family: 'Doe' }] } },
    { name: 'a non-string resourceType', value: { resourceType: 5 } },
    { name: 'an array', value: [fixtures['patient.json']] },
    { name: 'null', value: null },
    { name: 'a string', value: 'Patient' }
  ]
  for (const c of notResources) {
    it(`refuses ${c.name} with FHIR_NOT_A_RESOURCE`, () => {
      expectFhirError(() => validateFhirResource(c.value), { code: 'FHIR_NOT_A_RESOURCE' })
    })
  }
})

describe('parseFhirJson', () => {
  it('reports the line and column of a syntax error', () => {
    const err = expectFhirError(() => parseFhirJson('{\n  "resourceType": "Patient",\n  "active": true,\n}\n'), { code: 'FHIR_BAD_JSON', line: 4, column: 1 })
    assert.match(err.message, /line 4, column 1/)
  })

  it('reports truncated JSON', () => {
    expectFhirError(() => parseFhirJson('{"resourceType": "Patient"'), { code: 'FHIR_BAD_JSON' })
  })
})

describe('inspectRecordFile', () => {
  let dir = ''
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'medchain-fhir-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })
  const write = async (name: string, content: string | Uint8Array): Promise<string> => {
    const path = join(dir, name)
    await writeFile(path, content)
    return path
  }

  for (const [name, resourceType] of [['patient.json', 'Patient'], ['observation.json', 'Observation'], ['medicationRequest.json', 'MedicationRequest'], ['diagnosticReport.json', 'DiagnosticReport']] as const) {
    it(`reads ${name} as a FHIR ${resourceType}`, async () => {
      const size = (await readFile(fixturePath(name))).length
      assert.deepEqual(await inspectRecordFile(fixturePath(name)), { kind: 'fhir', resourceType, contentType: 'application/fhir+json', size })
      assert.equal((await inspectRecordFile(fixturePath(name), { declaredType: resourceType })).resourceType, resourceType)
    })
  }

  it('refuses a --type that differs from the resource', async () => {
    await expectFhirRejection(inspectRecordFile(fixturePath('observation.json'), { declaredType: 'MedicationRequest' }),
      { code: 'FHIR_TYPE_MISMATCH', declaredType: 'MedicationRequest', actualType: 'Observation' })
  })

  it('detects JSON by its first non-space byte, whatever the extension', async () => {
    const path = await write('record.txt', `\ufeff \n\t${JSON.stringify(fixtures['patient.json'])}`)
    assert.equal((await inspectRecordFile(path)).kind, 'fhir')
  })

  it('refuses an invalid resource in a file with FHIR_INVALID', async () => {
    const path = await write('bad.json', JSON.stringify({ ...fixtures['medicationRequest.json'], status: 'bogus' }))
    await expectFhirRejection(inspectRecordFile(path), { code: 'FHIR_INVALID', path: '/status' })
  })

  it('refuses unparseable JSON with FHIR_BAD_JSON and a position', async () => {
    const path = await write('broken.json', '{\n  "resourceType": "Patient"\n  "active": true\n}')
    await expectFhirRejection(inspectRecordFile(path), { code: 'FHIR_BAD_JSON', line: 3, column: 3 })
  })

  it('refuses a .json file that is not a resource', async () => {
    await expectFhirRejection(inspectRecordFile(await write('list.json', '[1, 2]')), { code: 'FHIR_NOT_A_RESOURCE' })
  })

  it('refuses a .json file that is not UTF-8 with FHIR_BAD_JSON', async () => {
    await expectFhirRejection(inspectRecordFile(await write('latin1.json', new Uint8Array([0x7b, 0xe9, 0x7d]))), { code: 'FHIR_BAD_JSON' })
  })

  it('refuses a JSON file above 16 MiB with FHIR_TOO_LARGE before reading it', async () => {
    const path = await write('huge.json', '{')
    await truncate(path, MAX_FHIR_JSON_SIZE + 1) // sparse: nothing is written
    await expectFhirRejection(inspectRecordFile(path), { code: 'FHIR_TOO_LARGE', size: MAX_FHIR_JSON_SIZE + 1, limit: MAX_FHIR_JSON_SIZE })
  })

  it('detects a PDF and a PNG from their magic bytes', async () => {
    const pdfSize = (await readFile(fixturePath('report.pdf'))).length
    assert.deepEqual(await inspectRecordFile(fixturePath('report.pdf')), { kind: 'binary', resourceType: 'Binary', contentType: 'application/pdf', size: pdfSize })
    assert.equal((await inspectRecordFile(fixturePath('scan.png'))).contentType, 'image/png')
    // magic bytes win over a misleading extension
    const png = await readFile(fixturePath('scan.png'))
    assert.equal((await inspectRecordFile(await write('scan.pdf', png))).contentType, 'image/png')
  })

  it('detects JPEG and DICOM, then falls back to the extension and to octet-stream', async () => {
    assert.equal((await inspectRecordFile(await write('photo', new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0x10])))).contentType, 'image/jpeg')
    const dicom = new Uint8Array(200)
    dicom.set([0x44, 0x49, 0x43, 0x4d], 128)
    assert.equal((await inspectRecordFile(await write('image', dicom))).contentType, 'application/dicom')
    assert.equal((await inspectRecordFile(await write('notes.txt', 'Discharge summary'))).contentType, 'text/plain')
    assert.equal((await inspectRecordFile(await write('blob.bin', new Uint8Array([1, 2, 3])))).contentType, 'application/octet-stream')
    assert.equal((await inspectRecordFile(await write('empty', new Uint8Array(0)))).contentType, 'application/octet-stream')
  })

  it('allows --type Binary or DocumentReference for a binary file and refuses any other', async () => {
    for (const declaredType of ['Binary', 'DocumentReference']) {
      assert.equal((await inspectRecordFile(fixturePath('report.pdf'), { declaredType })).resourceType, 'Binary')
    }
    await expectFhirRejection(inspectRecordFile(fixturePath('report.pdf'), { declaredType: 'Observation' }),
      { code: 'FHIR_TYPE_MISMATCH', declaredType: 'Observation', actualType: 'Binary' })
  })

  it('refuses a file above maxBytes with RECORD_FILE_TOO_LARGE', async () => {
    await expectFhirRejection(inspectRecordFile(fixturePath('report.pdf'), { maxBytes: 16 }), { code: 'RECORD_FILE_TOO_LARGE', limit: 16 })
    await expectFhirRejection(inspectRecordFile(fixturePath('patient.json'), { maxBytes: 16 }), { code: 'RECORD_FILE_TOO_LARGE', limit: 16 })
  })

  it('refuses a missing file or a directory with RECORD_FILE_UNREADABLE', async () => {
    await expectFhirRejection(inspectRecordFile(join(dir, 'nope.pdf')), { code: 'RECORD_FILE_UNREADABLE', reason: 'ENOENT' })
    const sub = join(dir, 'folder.json')
    await mkdir(sub)
    await expectFhirRejection(inspectRecordFile(sub), { code: 'RECORD_FILE_UNREADABLE' })
  })
})
