/**
 * The benchmarks' deterministic chain fixtures: a consortium of 4 hospital validators, 100
 * doctors, a pharmacy and a lab, 2,000 enrolled patients with one record each (the pre-state),
 * and blocks of a realistic transaction mix on top of it (25% patient enrolments, 35% record
 * anchors, 20% consent grants, 20% access requests). Shared by bench:validate and bench:state.
 */
import type { Chain } from '../src/chain/chain.js'
import { ClinicianRole, OrganizationKind, Purpose, TxType, recordIdOf, type Tx } from '../src/types/tx.js'
import { getSenderNonce } from '../src/contracts/index.js'
import type { Signer } from '../src/crypto/ed25519.js'
import { ChainHarness } from '../test/utils/chainHarness.js'
import { bytes32, makeKeys, makeTx } from '../test/utils/factories.js'

export const HOSPITALS = ['hospital-a', 'hospital-b', 'hospital-c', 'hospital-d']
export const DOCTORS = 100
export const PATIENTS = 2000

interface Actors { hospital: Signer, doctors: Signer[], patients: Signer[], pharmacy: Signer, lab: Signer }
let actorsMemo: Actors | undefined
/** The fixture's keys, derived on first use (not on import: `--help` and a re-spawning parent need none). */
function actors (): Actors {
  actorsMemo ??= {
    hospital: makeKeys('hospital-a'),
    doctors: Array.from({ length: DOCTORS }, (_, i) => makeKeys(`bench/doctor/${i}`)),
    patients: Array.from({ length: PATIENTS }, (_, i) => makeKeys(`bench/patient/${i}`)),
    pharmacy: makeKeys('bench/pharmacy'),
    lab: makeKeys('bench/lab')
  }
  return actorsMemo
}
const RX_TYPES = ['MedicationRequest', 'Observation', 'DiagnosticReport', 'MedicationDispense']
/** How long a grant of the mix lasts after its block's timestamp. */
export const GRANT_LIFETIME_MS = 30 * 24 * 3600 * 1000

/** The pre-state's records, by patient index. */
export interface PreState { recordIds: Uint8Array[], recordTypes: string[] }

function anchorTx (doctor: Signer, nonce: number, patient: Signer, label: string, resourceType: string): Tx {
  return makeTx(doctor, nonce, {
    type: TxType.AnchorRecord,
    patient: patient.publicKey,
    resourceType,
    contentHash: bytes32(label),
    size: 4096 + label.length,
    blobRef: `sha256:${label}`,
    envelopes: [
      { recipient: patient.publicKey, wrappedKey: bytes32(`${label}/p`).subarray(0, 32) },
      { recipient: doctor.publicKey, wrappedKey: bytes32(`${label}/d`).subarray(0, 32) }
    ]
  })
}

/**
 * Builds the pre-state in `dir` (3 blocks, 4,102 transactions, written without fsync); returns the
 * record ids anchored there (by patient index).
 */
export async function buildPreState (dir: string): Promise<PreState> {
  const { hospital, doctors, patients, pharmacy, lab } = actors()
  const h = await ChainHarness.open({ dir, hospitals: HOSPITALS, syncWrites: false })
  let hn = 0
  await h.commit([
    ...doctors.map((d, i) => makeTx(hospital, hn++, { type: TxType.RegisterClinician, publicKey: d.publicKey, name: `Doctor ${i}`, role: ClinicianRole.Doctor })),
    makeTx(hospital, hn++, { type: TxType.RegisterOrganization, publicKey: pharmacy.publicKey, name: 'City Pharmacy', kind: OrganizationKind.Pharmacy }),
    makeTx(hospital, hn++, { type: TxType.RegisterOrganization, publicKey: lab.publicKey, name: 'Central Lab', kind: OrganizationKind.Lab })
  ])
  const dn = new Array<number>(DOCTORS).fill(0)
  const nextDoctorNonce = (i: number): number => { const n = dn[i % DOCTORS] as number; dn[i % DOCTORS] = n + 1; return n }
  await h.commit(patients.map((p, i) => makeTx(doctors[i % DOCTORS] as Signer, nextDoctorNonce(i), { type: TxType.EnrolPatient, publicKey: p.publicKey })))
  const recordTypes = patients.map((_, i) => RX_TYPES[i % RX_TYPES.length] as string)
  const anchors = patients.map((p, i) => anchorTx(doctors[i % DOCTORS] as Signer, nextDoctorNonce(i), p, `pre/${i}`, recordTypes[i] as string))
  const r = await h.commit(anchors)
  const bad = r.receipts.find((x) => x.code !== 'OK')
  if (bad !== undefined) throw new Error(`pre-state anchor refused: ${bad.code} ${bad.log}`)
  const recordIds = anchors.map((a) => recordIdOf(h.chain.chainId, a.hash))
  await h.close()
  return { recordIds, recordTypes }
}

/**
 * A block's transactions: a deterministic realistic mix of `size` txs on `chain`'s committed state
 * (nonces read from it). `tag` names the new patients and the anchored contents, so that each block
 * of a growing chain enrols new patients and anchors new contents (default: the size).
 */
export function makeMix (chain: Chain, size: number, pre: PreState, timestamp: number, tag: string = String(size)): Tx[] {
  const { doctors, patients, pharmacy, lab } = actors()
  const nonce = new Map<Signer, number>()
  const next = (s: Signer): number => {
    const n = nonce.get(s) ?? getSenderNonce(chain.stateView, s.publicKey) ?? 0
    nonce.set(s, n + 1)
    return n
  }
  const enrol = Math.round(size * 0.25)
  const anchor = Math.round(size * 0.35)
  const grant = Math.round(size * 0.20)
  const access = size - enrol - anchor - grant
  const txs: Tx[] = []
  for (let i = 0; i < enrol; i++) {
    const d = doctors[i % DOCTORS] as Signer
    txs.push(makeTx(d, next(d), { type: TxType.EnrolPatient, publicKey: makeKeys(`bench/new-patient/${tag}/${i}`).publicKey }))
  }
  for (let i = 0; i < anchor; i++) {
    const p = i % PATIENTS
    const d = doctors[p % DOCTORS] as Signer
    txs.push(anchorTx(d, next(d), patients[p] as Signer, `mix/${tag}/${i}`, RX_TYPES[i % RX_TYPES.length] as string))
  }
  for (let i = 0; i < grant; i++) {
    const p = i % PATIENTS
    const toPharmacy = i % 2 === 0
    txs.push(makeTx(patients[p] as Signer, next(patients[p] as Signer), {
      type: TxType.Grant,
      grantee: toPharmacy ? pharmacy.publicKey : lab.publicKey,
      recordTypes: toPharmacy ? ['MedicationRequest', 'MedicationDispense'] : ['Observation', 'DiagnosticReport'],
      recordIds: [],
      purpose: toPharmacy ? Purpose.Pharmacy : Purpose.Treatment,
      expiresAt: timestamp + GRANT_LIFETIME_MS,
      envelopes: [{ recordId: pre.recordIds[p] as Uint8Array, wrappedKey: bytes32(`grant/${i}`) }]
    }))
  }
  for (let i = 0; i < access; i++) {
    const p = i % PATIENTS
    // a third by the patient, the rest by the pharmacy or the lab (granted or refused by consent)
    const who = i % 3 === 0 ? patients[p] as Signer : (i % 3 === 1 ? pharmacy : lab)
    const purpose = who === pharmacy ? Purpose.Pharmacy : Purpose.Treatment
    txs.push(makeTx(who, next(who), { type: TxType.AccessRecord, recordId: pre.recordIds[p] as Uint8Array, purpose }))
  }
  return txs
}

export function median (xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2
}
