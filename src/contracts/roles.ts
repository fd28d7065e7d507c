/**
 * Roles, purposes and record types: the tables the access rules are made of.
 *
 * | grantee role              | purpose it may be granted | record types it may read under consent                           |
 * | ------------------------- | ------------------------- | ---------------------------------------------------------------- |
 * | clinician (doctor, nurse) | treatment                 | any                                                              |
 * | lab                       | treatment                 | ServiceRequest, Specimen, Observation, DiagnosticReport          |
 * | pharmacy                  | pharmacy                  | MedicationRequest, MedicationDispense                            |
 * | insurer                   | insurance                 | Claim, ClaimResponse, Coverage, ExplanationOfBenefit, Encounter  |
 * | researcher                | research                  | any                                                              |
 *
 * Hospitals, patients and validators are never grantees. A record type is a FHIR resource type
 * name (`/^[A-Z][A-Za-z]{1,63}$/`); a consent's record types may also hold "*" (every type), which
 * the role's column above still narrows: a pharmacy with "*" reads prescriptions only.
 */
import { ClinicianRole, OrganizationKind, Purpose } from '../types/tx.js'

export const EntityKind = { Hospital: 1, Clinician: 2, Organization: 3, Patient: 4, Validator: 5 } as const
export type EntityKind = typeof EntityKind[keyof typeof EntityKind]

export const EntityStatus = { Active: 1, Inactive: 2 } as const
export type EntityStatus = typeof EntityStatus[keyof typeof EntityStatus]

export const ENTITY_KIND_NAMES: Record<EntityKind, string> = {
  [EntityKind.Hospital]: 'hospital',
  [EntityKind.Clinician]: 'clinician',
  [EntityKind.Organization]: 'organization',
  [EntityKind.Patient]: 'patient',
  [EntityKind.Validator]: 'validator'
}

export const CLINICIAN_ROLE_NAMES: Record<ClinicianRole, string> = {
  [ClinicianRole.Doctor]: 'doctor',
  [ClinicianRole.Nurse]: 'nurse'
}

export const ORGANIZATION_KIND_NAMES: Record<OrganizationKind, string> = {
  [OrganizationKind.Pharmacy]: 'pharmacy',
  [OrganizationKind.Lab]: 'lab',
  [OrganizationKind.Insurer]: 'insurer',
  [OrganizationKind.Researcher]: 'researcher'
}

export const PURPOSE_NAMES: Record<Purpose, string> = {
  [Purpose.Treatment]: 'treatment',
  [Purpose.Pharmacy]: 'pharmacy',
  [Purpose.Insurance]: 'insurance',
  [Purpose.Research]: 'research'
}

/** A FHIR resource type name: what `AnchorRecord.resourceType` and consent scopes hold. */
export const FHIR_RESOURCE_TYPE_RE = /^[A-Z][A-Za-z]{1,63}$/

/** In a consent's record types: every type (still narrowed by the grantee's role). */
export const ALL_RECORD_TYPES = '*'

/** Largest record (ciphertext) that may be anchored: 1 GiB. */
export const MAX_RECORD_SIZE = 1024 * 1024 * 1024

export type GranteeRole = 'clinician' | 'pharmacy' | 'lab' | 'insurer' | 'researcher'

const ORGANIZATION_ROLE: Record<OrganizationKind, GranteeRole> = {
  [OrganizationKind.Pharmacy]: 'pharmacy',
  [OrganizationKind.Lab]: 'lab',
  [OrganizationKind.Insurer]: 'insurer',
  [OrganizationKind.Researcher]: 'researcher'
}

/** The role an identity has as a consent grantee, or undefined when it can hold no consent. */
export function granteeRoleOf (entity: { kind: EntityKind, role: number }): GranteeRole | undefined {
  if (entity.kind === EntityKind.Clinician) return 'clinician'
  if (entity.kind === EntityKind.Organization) return ORGANIZATION_ROLE[entity.role as OrganizationKind]
  return undefined
}

/** The one purpose a consent to each role may name. */
export const ALLOWED_PURPOSE: Record<GranteeRole, Purpose> = {
  clinician: Purpose.Treatment,
  lab: Purpose.Treatment,
  pharmacy: Purpose.Pharmacy,
  insurer: Purpose.Insurance,
  researcher: Purpose.Research
}

/** Record types each role may read under consent; '*' = any. */
export const READABLE_RECORD_TYPES: Record<GranteeRole, ReadonlySet<string> | '*'> = {
  clinician: '*',
  researcher: '*',
  pharmacy: new Set(['MedicationRequest', 'MedicationDispense']),
  lab: new Set(['ServiceRequest', 'Specimen', 'Observation', 'DiagnosticReport']),
  insurer: new Set(['Claim', 'ClaimResponse', 'Coverage', 'ExplanationOfBenefit', 'Encounter'])
}

export function purposeAllowedFor (role: GranteeRole, purpose: Purpose): boolean {
  return ALLOWED_PURPOSE[role] === purpose
}

export function recordTypeReadableBy (role: GranteeRole, resourceType: string): boolean {
  const allowed = READABLE_RECORD_TYPES[role]
  return allowed === '*' || allowed.has(resourceType)
}

export function isFhirResourceType (name: string): boolean {
  return FHIR_RESOURCE_TYPE_RE.test(name)
}
