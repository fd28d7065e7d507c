/**
 * Registry: who may register, enrol and deactivate whom.
 *
 * | transaction          | signed by                                       | rules (refusal code)                                                        |
 * | -------------------- | ----------------------------------------------- | --------------------------------------------------------------------------- |
 * | RegisterHospital     | a validator of the current set (governance.ts)  | opens an add-hospital proposal; see governance.ts                           |
 * | RegisterClinician    | an active hospital (REGISTRY_NOT_HOSPITAL)      | new key valid (REGISTRY_BAD_KEY), not registered (REGISTRY_ALREADY_REGISTERED); its hospital = sender |
 * | RegisterOrganization | an active hospital (REGISTRY_NOT_HOSPITAL)      | as RegisterClinician; kind pharmacy, lab, insurer or researcher             |
 * | EnrolPatient         | an active clinician (REGISTRY_NOT_CLINICIAN)    | new key: a patient enrolled at the clinician's hospital; existing patient: enrolled at one more hospital (REGISTRY_ALREADY_ENROLLED if there already, REGISTRY_PATIENT_INACTIVE if deactivated); other kind: REGISTRY_ALREADY_REGISTERED |
 * | Deactivate           | the target's registrar (REGISTRY_NOT_REGISTRAR) | target exists (REGISTRY_UNKNOWN_IDENTITY) and is active (REGISTRY_ALREADY_INACTIVE) |
 *
 * Registrar of a target: for a clinician or organisation its hospital; for a patient any hospital
 * where the patient is enrolled; for a hospital the hospital itself; a validator has none (it is
 * removed by a governance vote). Every key admitted passes `validatePublicKey` (hospital and
 * validator keys `validatePublicKeyStrict`) and must not be
 * registered under any kind. Patients carry no name (no personal data on chain).
 *
 * Every transaction type: a sender that is inactive, or a clinician or organisation whose hospital
 * is inactive, is refused with SENDER_INACTIVE (still audited when it names a patient or record).
 */
import type { TxType } from '../types/tx.js'
import { equalBytes, toHex } from '../crypto/bytes.js'
import { validatePublicKey, validatePublicKeyStrict } from '../crypto/ed25519.js'
import { ok, refuse, type Effects, type Sender, type TxOf, type Verdict } from './context.js'
import { type ExecContext } from '../types/application.js'
import type { ContractErrorCode } from './errors.js'
import { CLINICIAN_ROLE_NAMES, ENTITY_KIND_NAMES, EntityKind, EntityStatus, ORGANIZATION_KIND_NAMES } from './roles.js'
import type { Entity } from './schema.js'
import type { StateView } from './stateView.js'

// ------------------------------------------------------------------------------------------------
// shared identity predicates

/**
 * True when the identity may act: it is active and, for a clinician or organisation, so is the
 * hospital that registered it.
 */
export function isEffectivelyActive (view: StateView, entity: Entity): boolean {
  if (entity.status !== EntityStatus.Active) return false
  if ((entity.kind === EntityKind.Clinician || entity.kind === EntityKind.Organization) && entity.hospital !== undefined) {
    const hospital = view.getEntity(entity.hospital)
    return hospital !== undefined && hospital.status === EntityStatus.Active
  }
  return true
}

/** The identity under `publicKey` when it is of `kind` and effectively active. */
export function getActive (view: StateView, publicKey: Uint8Array, kind: EntityKind): Entity | undefined {
  const entity = view.getEntity(publicKey)
  if (entity === undefined || entity.kind !== kind || !isEffectivelyActive(view, entity)) return undefined
  return entity
}

/**
 * Key admission: the key is a usable ed25519 key and registered under no kind. Hospital and
 * validator keys get the strict check (on the curve, no torsion), whose signatures third parties
 * verify; other identities the O(1) one (see src/crypto/ed25519.ts).
 */
export function checkNewKey (view: StateView, publicKey: Uint8Array, admission: 'standard' | 'strict' = 'standard'): ContractErrorCode | undefined {
  try {
    if (admission === 'strict') validatePublicKeyStrict(publicKey)
    else validatePublicKey(publicKey)
  } catch {
    return 'REGISTRY_BAD_KEY'
  }
  if (view.getEntity(publicKey) !== undefined) return 'REGISTRY_ALREADY_REGISTERED'
  return undefined
}

export interface NewEntity {
  kind: EntityKind
  role?: number
  name?: string
  hospital?: Uint8Array
  registeredBy?: Uint8Array
  registeredAt: number
}

export function newEntity (e: NewEntity): Entity {
  return {
    kind: e.kind,
    status: EntityStatus.Active,
    role: e.role ?? 0,
    name: e.name ?? '',
    ...(e.hospital !== undefined ? { hospital: e.hospital } : {}),
    ...(e.registeredBy !== undefined ? { registeredBy: e.registeredBy } : {}),
    registeredAt: e.registeredAt,
    nonce: 0,
    enrolledAt: [],
    deactivatedAt: 0
  }
}

export function roleName (entity: Entity): string {
  if (entity.kind === EntityKind.Clinician) return CLINICIAN_ROLE_NAMES[entity.role as keyof typeof CLINICIAN_ROLE_NAMES] ?? 'clinician'
  if (entity.kind === EntityKind.Organization) return ORGANIZATION_KIND_NAMES[entity.role as keyof typeof ORGANIZATION_KIND_NAMES] ?? 'organization'
  return ENTITY_KIND_NAMES[entity.kind]
}

function registeredEvent (publicKey: Uint8Array, entity: Entity, registeredBy: Uint8Array): Effects['events'][number] {
  return { kind: 'identity.registered', attributes: [['publicKey', toHex(publicKey)], ['kind', ENTITY_KIND_NAMES[entity.kind]], ['role', roleName(entity)], ['registeredBy', toHex(registeredBy)]] }
}

// ------------------------------------------------------------------------------------------------
// RegisterClinician, RegisterOrganization

type RegisterTx = TxOf<typeof TxType.RegisterClinician> | TxOf<typeof TxType.RegisterOrganization>

function verifyRegisterByHospital (view: StateView, tx: RegisterTx, sender: Sender): Verdict<null> {
  if (sender.entity.kind !== EntityKind.Hospital) return refuse('REGISTRY_NOT_HOSPITAL')
  const bad = checkNewKey(view, tx.payload.publicKey)
  if (bad !== undefined) return refuse(bad)
  return ok(null)
}

export function verifyRegisterClinician (view: StateView, tx: TxOf<typeof TxType.RegisterClinician>, _ctx: ExecContext, sender: Sender): Verdict<null> {
  return verifyRegisterByHospital(view, tx, sender)
}

export function executeRegisterClinician (view: StateView, tx: TxOf<typeof TxType.RegisterClinician>, ctx: ExecContext, sender: Sender): Effects {
  const entity = newEntity({ kind: EntityKind.Clinician, role: tx.payload.role, name: tx.payload.name, hospital: sender.publicKey, registeredBy: sender.publicKey, registeredAt: ctx.height })
  view.putEntity(tx.payload.publicKey, entity)
  return { events: [registeredEvent(tx.payload.publicKey, entity, sender.publicKey)] }
}

export function verifyRegisterOrganization (view: StateView, tx: TxOf<typeof TxType.RegisterOrganization>, _ctx: ExecContext, sender: Sender): Verdict<null> {
  return verifyRegisterByHospital(view, tx, sender)
}

export function executeRegisterOrganization (view: StateView, tx: TxOf<typeof TxType.RegisterOrganization>, ctx: ExecContext, sender: Sender): Effects {
  const entity = newEntity({ kind: EntityKind.Organization, role: tx.payload.kind, name: tx.payload.name, hospital: sender.publicKey, registeredBy: sender.publicKey, registeredAt: ctx.height })
  view.putEntity(tx.payload.publicKey, entity)
  return { events: [registeredEvent(tx.payload.publicKey, entity, sender.publicKey)] }
}

// ------------------------------------------------------------------------------------------------
// EnrolPatient

export interface EnrolPlan {
  /** The hospital the patient is enrolled at: the clinician's. */
  hospital: Uint8Array
  /** The patient as stored, when already registered. */
  existing?: Entity
}

export function verifyEnrolPatient (view: StateView, tx: TxOf<typeof TxType.EnrolPatient>, _ctx: ExecContext, sender: Sender): Verdict<EnrolPlan> {
  if (sender.entity.kind !== EntityKind.Clinician || sender.entity.hospital === undefined) return refuse('REGISTRY_NOT_CLINICIAN')
  const hospital = sender.entity.hospital
  const existing = view.getEntity(tx.payload.publicKey)
  if (existing === undefined) {
    const bad = checkNewKey(view, tx.payload.publicKey)
    if (bad !== undefined) return refuse(bad)
    return ok({ hospital })
  }
  if (existing.kind !== EntityKind.Patient) return refuse('REGISTRY_ALREADY_REGISTERED')
  if (existing.status !== EntityStatus.Active) return refuse('REGISTRY_PATIENT_INACTIVE')
  if (existing.enrolledAt.some((h) => equalBytes(h, hospital))) return refuse('REGISTRY_ALREADY_ENROLLED')
  return ok({ hospital, existing })
}

export function executeEnrolPatient (view: StateView, tx: TxOf<typeof TxType.EnrolPatient>, ctx: ExecContext, sender: Sender, plan: EnrolPlan): Effects {
  const events: Effects['events'] = []
  let patient: Entity
  if (plan.existing === undefined) {
    patient = newEntity({ kind: EntityKind.Patient, registeredBy: sender.publicKey, registeredAt: ctx.height })
    events.push(registeredEvent(tx.payload.publicKey, patient, sender.publicKey))
  } else {
    patient = plan.existing
  }
  patient = { ...patient, enrolledAt: [...patient.enrolledAt, plan.hospital] }
  view.putEntity(tx.payload.publicKey, patient)
  events.push({ kind: 'patient.enrolled', attributes: [['patient', toHex(tx.payload.publicKey)], ['hospital', toHex(plan.hospital)], ['clinician', toHex(sender.publicKey)]] })
  return { events }
}

// ------------------------------------------------------------------------------------------------
// Deactivate

/** True when `registrar` may deactivate `target` (see the table above). */
export function isRegistrarOf (registrar: Sender, targetKey: Uint8Array, target: Entity): boolean {
  switch (target.kind) {
    case EntityKind.Clinician:
    case EntityKind.Organization:
      return registrar.entity.kind === EntityKind.Hospital && target.hospital !== undefined && equalBytes(target.hospital, registrar.publicKey)
    case EntityKind.Patient:
      return registrar.entity.kind === EntityKind.Hospital && target.enrolledAt.some((h) => equalBytes(h, registrar.publicKey))
    case EntityKind.Hospital:
      return equalBytes(targetKey, registrar.publicKey)
    case EntityKind.Validator:
      return false
  }
}

export function verifyDeactivate (view: StateView, tx: TxOf<typeof TxType.Deactivate>, _ctx: ExecContext, sender: Sender): Verdict<Entity> {
  const target = view.getEntity(tx.payload.target)
  if (target === undefined) return refuse('REGISTRY_UNKNOWN_IDENTITY')
  if (!isRegistrarOf(sender, tx.payload.target, target)) return refuse('REGISTRY_NOT_REGISTRAR')
  if (target.status !== EntityStatus.Active) return refuse('REGISTRY_ALREADY_INACTIVE')
  return ok(target)
}

export function executeDeactivate (view: StateView, tx: TxOf<typeof TxType.Deactivate>, ctx: ExecContext, sender: Sender, target: Entity): Effects {
  view.putEntity(tx.payload.target, { ...target, status: EntityStatus.Inactive, deactivatedAt: ctx.height })
  return { events: [{ kind: 'identity.deactivated', attributes: [['publicKey', toHex(tx.payload.target)], ['kind', ENTITY_KIND_NAMES[target.kind]], ['by', toHex(sender.publicKey)]] }] }
}
