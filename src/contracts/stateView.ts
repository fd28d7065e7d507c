/**
 * The typed state view of the contract: get/put of identities, records, consents, emergency
 * windows, shared keys, proposals, the validator set, liveness and evidence over a StateBackend,
 * each value encoded as schema.ts says and every key spelled by keys.ts.
 *
 * Writes are buffered in the view and reach the backend only on `commit()`, in the order they were
 * made. The dispatcher commits after a successful execution only, so a refused (or failed)
 * transaction cannot leave a partial write behind.
 */
import type { StateBackend } from '../types/state.js'
import { decodeValidatorSet, encodeValidatorSet, type ValidatorSet } from '../types/validatorSet.js'
import { StateKeys } from './keys.js'
import {
  decodeEmergencyWindow, decodeEntity, decodeEvidence, decodeGrant, decodeIdList, decodeKeyShare, decodeLiveness, decodeProposal,
  decodeRecord, decodeValidatorChanges, encodeEmergencyWindow, encodeEntity, encodeEvidence, encodeGrant, encodeIdList, encodeKeyShare,
  encodeLiveness, encodeProposal, encodeRecord, encodeValidatorChanges, withEntityNonce, type AnchoredRecord, type EmergencyWindow,
  type Entity, type EvidenceRecord, type Grant, type KeyShare, type Proposal, type ValidatorChange
} from './schema.js'

/**
 * Decoded identities by the stored bytes they came from. Every transaction reads its sender's
 * identity several times (nonce, activity, role), so each stored value is decoded once (figures in
 * bench/RESULTS.md). Stored values are never changed in place (a write stores new bytes), so an
 * entry can never be stale; entities are frozen because they are shared.
 */
const decodedEntities = new WeakMap<Uint8Array, Readonly<Entity>>()

/** Typed, write-buffered access to the contract state over a StateBackend. */
export class StateView {
  private readonly writes = new Map<string, Uint8Array | undefined>()
  /**
   * The last record this view decoded, by state key, with the bytes it was decoded from: a
   * transaction that names a record reads it two or three times (its audit subject, its checks,
   * its effects), and a record is the largest value to decode (its key envelopes). Only used while
   * the key still holds those very bytes, so a write in between is never hidden.
   */
  private decodedRecords: Map<string, { bytes: Uint8Array, record: Readonly<AnchoredRecord> }> | undefined

  constructor (private readonly backend: StateBackend) {}

  private read (key: string): Uint8Array | undefined {
    return this.writes.has(key) ? this.writes.get(key) : this.backend.get(key)
  }

  private write (key: string, value: Uint8Array): void {
    this.writes.delete(key) // keep the order of the last write
    this.writes.set(key, value)
  }

  private remove (key: string): void {
    this.writes.delete(key)
    this.writes.set(key, undefined)
  }

  /** Number of buffered writes (sets and deletes). */
  get pendingWrites (): number {
    return this.writes.size
  }

  /** Sends the buffered writes to the backend, in the order they were made, and clears the buffer. */
  commit (): void {
    for (const [key, value] of this.writes) {
      if (value === undefined) this.backend.delete(key)
      else this.backend.set(key, value)
    }
    this.writes.clear()
  }

  /** Forgets the buffered writes. */
  discard (): void {
    this.writes.clear()
  }

  getEntity (publicKey: Uint8Array): Entity | undefined {
    const v = this.read(StateKeys.entity(publicKey))
    if (v === undefined) return undefined
    let entity = decodedEntities.get(v)
    if (entity === undefined) {
      entity = Object.freeze(decodeEntity(v))
      decodedEntities.set(v, entity)
    }
    return entity
  }

  /**
   * Stores the identity's next nonce (see `withEntityNonce`); false when `publicKey` is not a
   * registered identity.
   */
  putNonce (publicKey: Uint8Array, nonce: number): boolean {
    const key = StateKeys.entity(publicKey)
    const old = this.read(key)
    if (old === undefined) return false
    const bytes = withEntityNonce(old, nonce)
    const entity = decodedEntities.get(old)
    if (entity !== undefined) decodedEntities.set(bytes, Object.freeze({ ...entity, nonce }))
    this.write(key, bytes)
    return true
  }

  putEntity (publicKey: Uint8Array, entity: Entity): void {
    const bytes = encodeEntity(entity)
    decodedEntities.set(bytes, Object.freeze({ ...entity }))
    this.write(StateKeys.entity(publicKey), bytes)
  }

  getRecord (recordId: Uint8Array): Readonly<AnchoredRecord> | undefined {
    const key = StateKeys.record(recordId)
    const v = this.read(key)
    if (v === undefined) return undefined
    const cached = this.decodedRecords?.get(key)
    if (cached !== undefined && cached.bytes === v) return cached.record
    const record = Object.freeze(decodeRecord(v))
    this.decodedRecords ??= new Map() // most transactions name no record: no Map for them
    this.decodedRecords.set(key, { bytes: v, record })
    return record
  }

  putRecord (recordId: Uint8Array, record: AnchoredRecord): void {
    this.write(StateKeys.record(recordId), encodeRecord(record))
  }

  getGrant (grantId: Uint8Array): Grant | undefined {
    const v = this.read(StateKeys.grant(grantId))
    return v === undefined ? undefined : decodeGrant(v)
  }

  putGrant (grantId: Uint8Array, grant: Grant): void {
    this.write(StateKeys.grant(grantId), encodeGrant(grant))
  }

  getGrantIds (patient: Uint8Array, grantee: Uint8Array): Uint8Array[] {
    const v = this.read(StateKeys.grantIndex(patient, grantee))
    return v === undefined ? [] : decodeIdList(v, 'grants')
  }

  putGrantIds (patient: Uint8Array, grantee: Uint8Array, grantIds: readonly Uint8Array[]): void {
    if (grantIds.length === 0) this.remove(StateKeys.grantIndex(patient, grantee))
    else this.write(StateKeys.grantIndex(patient, grantee), encodeIdList(grantIds))
  }

  getKeyShare (recordId: Uint8Array, recipient: Uint8Array): KeyShare | undefined {
    const v = this.read(StateKeys.keyShare(recordId, recipient))
    return v === undefined ? undefined : decodeKeyShare(v)
  }

  putKeyShare (recordId: Uint8Array, recipient: Uint8Array, share: KeyShare): void {
    this.write(StateKeys.keyShare(recordId, recipient), encodeKeyShare(share))
  }

  getEmergencyWindow (clinician: Uint8Array, patient: Uint8Array): EmergencyWindow | undefined {
    const v = this.read(StateKeys.emergencyWindow(clinician, patient))
    return v === undefined ? undefined : decodeEmergencyWindow(v)
  }

  putEmergencyWindow (clinician: Uint8Array, patient: Uint8Array, window: EmergencyWindow): void {
    this.write(StateKeys.emergencyWindow(clinician, patient), encodeEmergencyWindow(window))
  }

  getProposal (proposalId: Uint8Array): Proposal | undefined {
    const v = this.read(StateKeys.proposal(proposalId))
    return v === undefined ? undefined : decodeProposal(v)
  }

  putProposal (proposalId: Uint8Array, proposal: Proposal): void {
    this.write(StateKeys.proposal(proposalId), encodeProposal(proposal))
  }

  /** The stored validator set (the one validating the next block), or undefined before genesis. */
  getValidatorSet (): ValidatorSet | undefined {
    const v = this.read(StateKeys.validatorSet)
    return v === undefined ? undefined : decodeValidatorSet(v)
  }

  putValidatorSet (set: ValidatorSet): void {
    this.write(StateKeys.validatorSet, encodeValidatorSet(set))
  }

  getValidatorChanges (effectiveHeight: number): ValidatorChange[] {
    const v = this.read(StateKeys.pendingValidatorChanges(effectiveHeight))
    return v === undefined ? [] : decodeValidatorChanges(v)
  }

  putValidatorChanges (effectiveHeight: number, changes: readonly ValidatorChange[]): void {
    const key = StateKeys.pendingValidatorChanges(effectiveHeight)
    if (changes.length === 0) this.remove(key)
    else this.write(key, encodeValidatorChanges(changes))
  }

  /** Last height each validator was seen signing a commit (validators never seen are absent). */
  getLiveness (): Map<string, number> {
    const v = this.read(StateKeys.validatorLiveness)
    return v === undefined ? new Map<string, number>() : decodeLiveness(v)
  }

  putLiveness (liveness: ReadonlyMap<string, number>): void {
    this.write(StateKeys.validatorLiveness, encodeLiveness(liveness))
  }

  getEvidence (validator: Uint8Array, height: number, round: number, voteType: number): EvidenceRecord | undefined {
    const v = this.read(StateKeys.evidence(validator, height, round, voteType))
    return v === undefined ? undefined : decodeEvidence(v)
  }

  putEvidence (validator: Uint8Array, height: number, round: number, voteType: number, evidence: EvidenceRecord): void {
    this.write(StateKeys.evidence(validator, height, round, voteType), encodeEvidence(evidence))
  }
}
