/**
 * The state keys a block's execution may read, derived from its transactions and from values
 * already loaded, so that a node can load them (in a few batched reads) before executing the block
 * synchronously against only those values (StrictState, src/types/state.ts). A key missing here is
 * a read StrictState refuses; a key listed but not read costs one read of the store.
 *
 * Every transaction reads its sender's identity (the chain's nonce check and `setSenderNonce`, then
 * `executeTx`); a clinician or organisation also its hospital's (is it active?). Then, by type
 * (`→` = the keys that follow are read from the value on the left; "h" = the block's height):
 *
 * | transaction          | keys it may read besides the sender's                                                                 |
 * | -------------------- | ------------------------------------------------------------------------------------------------------ |
 * | RegisterHospital     | `validators`, `entity/<publicKey>`                                                                     |
 * | RegisterClinician    | `entity/<publicKey>`                                                                                   |
 * | RegisterOrganization | `entity/<publicKey>`                                                                                   |
 * | EnrolPatient         | `entity/<publicKey>`                                                                                   |
 * | Deactivate           | `entity/<target>`                                                                                      |
 * | AnchorRecord         | `entity/<patient>`, `record/<supersedes>` if given; unless the patient is enrolled at the sender's hospital: `grants/<patient>/<sender>` → `grant/<id>` of each listed id |
 * | Grant                | from a patient: `entity/<grantee>` → `entity/<its hospital>` (clinician, organisation); `record/<id>` of each recordId and envelope; `grants/<sender>/<grantee>` → `grant/<id>` each |
 * | Revoke               | `grant/<grantId>`                                                                                      |
 * | EmergencyAccess      | `entity/<patient>`                                                                                     |
 * | AccessRecord         | `record/<recordId>` → unless the sender is its patient or author: `grants/<patient>/<sender>` → `grant/<id>` each (a clinician or organisation sender), `emergency/<sender>/<patient>` (a clinician sender) |
 * | ShareKeys            | `record/<recordId>` of the first envelope (the audit entry); from a patient or hospital: `record/<recordId>` of each envelope, `entity/<recipient>` → `entity/<its hospital>`, and from the first record's patient: `grants/<patient>/<recipient>` → `grant/<id>` each (patient sender), `entity/<patient>`, `emergency/<recipient>/<patient>` (hospital sender) |
 * | ProposeValidator     | `validators`; add: `entity/<validator>`, `entity/<hospital>`, `validators/pending/<h+2>`; remove: `validators/pending/<h+1>`, `validators/pending/<h+2>`, `validators/liveness` |
 * | Vote                 | `validators`, `proposal/<proposalId>` → `entity/<subject>` (add-hospital), `validators/pending/<h+1>`, `validators/pending/<h+2>`, `validators/liveness` |
 * | Evidence             | when both votes decode: `entity/<validator>`, `evidence/<validator>/<height>/<round>/<type>` of the first vote |
 * | (end of the block)   | `validators`; `validators/liveness` when the block carries a lastCommit; `validators/pending/<h+1>` → per change: `proposal/<proposalId>`, `entity/<validator>`, `entity/<hospital>` (add) |
 *
 * A sender's kind never changes, so keys only one kind of sender reaches are left out for the
 * others; a sender the store does not hold yet (enrolled or admitted earlier in the block) counts
 * as any kind. Other refusals read a prefix of their row (their checks stop early) and the list
 * does not follow them that far: a key too many costs one read, a key too few is a
 * STATE_KEY_NOT_LOADED. The audit entry reads only keys already listed (the patient's identity,
 * the grant of a Revoke, the record of an AccessRecord or the first record of a ShareKeys).
 *
 * Values written earlier in the same block: execution reads them from the block's own writes, not
 * the store, but a key derived from such a value must still be listed. Of the values a key is
 * derived from, only new ones can differ from the store's (an identity's hospital, a record's
 * patient and author, a proposal's kind and subject never change once written; a grant index only
 * gains ids whose grants the same transaction writes), so the block's list also derives keys from
 * what its earlier transactions would create: the records of AnchorRecord, the clinicians and
 * organisations of RegisterClinician/RegisterOrganization (their hospital), the proposals of
 * RegisterHospital and ProposeValidator. The end of the block's pending changes for h+1 were
 * scheduled at h-1 (VALIDATOR_CHANGE_DELAY = 2), so they come from the store.
 *
 * Rounds: a key depends on at most two loaded values in a row (a record → its patient's grant index
 * → the grants), so `prefetchBlockKeys` needs at most MAX_PREFETCH_ROUNDS = 3 batched loads.
 * Nothing here is unbounded: a grant index holds at most MAX_LIVE_GRANTS_PER_GRANTEE ids, the
 * envelopes and record ids come from the transaction (bounded by its size), and a height's pending
 * changes by the transactions of one block.
 */
import type { BlockContext } from '../types/application.js'
import { loadTouchedKeys, loadTouchedKeysSync, NOT_LOADED, type LoadedValues, type StateRead, type TouchedKeys } from '../types/state.js'
import { recordIdOf, TxType, ValidatorAction, type Tx } from '../types/tx.js'
import { decodeVote } from '../types/vote.js'
import { equalBytes } from '../crypto/bytes.js'
import { VALIDATOR_CHANGE_DELAY } from './governance.js'
import { StateKeys } from './keys.js'
import { EntityKind } from './roles.js'
import {
  decodeEntity, decodeIdList, decodeProposal, decodeRecord, decodeValidatorChanges, ProposalKind,
  type AnchoredRecord, type Entity, type Proposal, type ValidatorChange
} from './schema.js'

/** Most batched loads `prefetchBlockKeys` needs for any block (see the module comment). */
export const MAX_PREFETCH_ROUNDS = 3

/** What a key is derived from in an identity. */
type EntityFacts = Pick<Entity, 'kind' | 'hospital' | 'enrolledAt'>
/** What a key is derived from in a record. */
type RecordFacts = Pick<AnchoredRecord, 'patient' | 'author'>
/** What a key is derived from in a proposal. */
type ProposalFacts = Pick<Proposal, 'kind' | 'subject'>

/** Values that earlier transactions of the block would create, by state key. */
class BlockNotes {
  readonly entities = new Map<string, EntityFacts>()
  readonly records = new Map<string, RecordFacts>()
  readonly proposals = new Map<string, ProposalFacts>()

  constructor (private readonly chainId: string) {}

  add (tx: Tx): void {
    const p = tx.payload
    switch (p.type) {
      case TxType.RegisterClinician:
      case TxType.RegisterOrganization:
        this.entities.set(StateKeys.entity(p.publicKey), {
          kind: p.type === TxType.RegisterClinician ? EntityKind.Clinician : EntityKind.Organization, hospital: tx.from, enrolledAt: []
        })
        break
      case TxType.AnchorRecord:
        this.records.set(StateKeys.record(recordIdOf(this.chainId, tx.hash)), { patient: p.patient, author: tx.from })
        break
      case TxType.RegisterHospital:
        this.proposals.set(StateKeys.proposal(tx.hash), { kind: ProposalKind.AddHospital, subject: p.publicKey })
        break
      case TxType.ProposeValidator:
        this.proposals.set(StateKeys.proposal(tx.hash), { kind: p.action === ValidatorAction.Add ? ProposalKind.AddValidator : ProposalKind.RemoveValidator, subject: p.validator })
        break
      default:
    }
  }
}

function decoded<T> (decode: () => T): T | undefined {
  try {
    return decode()
  } catch {
    return undefined // execution stops at a value it cannot decode: nothing is read from it
  }
}

/**
 * Collects keys in the order they are first listed. The value getters return every value the key
 * may hold when the transaction runs (the store's and the block's own, 0 to 2 of them), or
 * undefined while the store's is not loaded yet (and the answer is then incomplete).
 */
class KeyCollector {
  private readonly keys = new Set<string>()
  private complete = true
  notes: BlockNotes

  constructor (private readonly read: StateRead, chainId: string) {
    this.notes = new BlockNotes(chainId)
  }

  touch (key: string): void {
    this.keys.add(key)
  }

  private value (key: string): Uint8Array | undefined | typeof NOT_LOADED {
    this.keys.add(key)
    const v = this.read(key)
    if (v === NOT_LOADED) this.complete = false
    return v
  }

  private facts<T> (key: string, decode: (bytes: Uint8Array) => T | undefined, noted: T | undefined): T[] | undefined {
    const v = this.value(key)
    if (v === NOT_LOADED) return undefined
    const out: T[] = []
    const stored = v === undefined ? undefined : decoded(() => decode(v))
    if (stored !== undefined) out.push(stored)
    if (noted !== undefined) out.push(noted)
    return out
  }

  entity (publicKey: Uint8Array): EntityFacts[] | undefined {
    const key = StateKeys.entity(publicKey)
    return this.facts(key, decodeEntity, this.notes.entities.get(key))
  }

  record (recordId: Uint8Array): RecordFacts[] | undefined {
    const key = StateKeys.record(recordId)
    return this.facts(key, decodeRecord, this.notes.records.get(key))
  }

  proposal (proposalId: Uint8Array): ProposalFacts[] | undefined {
    const key = StateKeys.proposal(proposalId)
    return this.facts(key, decodeProposal, this.notes.proposals.get(key))
  }

  /** The ids the stored index lists (ids added in this block come with their grant's write). */
  grantIds (patient: Uint8Array, grantee: Uint8Array): Uint8Array[] | undefined {
    return this.facts(StateKeys.grantIndex(patient, grantee), (v) => decodeIdList(v, 'grants'), undefined)?.flat()
  }

  validatorChanges (effectiveHeight: number): ValidatorChange[] | undefined {
    return this.facts(StateKeys.pendingValidatorChanges(effectiveHeight), decodeValidatorChanges, undefined)?.flat()
  }

  result (): TouchedKeys {
    return { keys: [...this.keys], complete: this.complete }
  }
}

// ------------------------------------------------------------------------------------------------
// the keys of one transaction

/** An identity and, for a clinician or organisation, its hospital (isEffectivelyActive). */
function identityKeys (c: KeyCollector, publicKey: Uint8Array): EntityFacts[] | undefined {
  const found = c.entity(publicKey)
  for (const e of found ?? []) {
    if ((e.kind === EntityKind.Clinician || e.kind === EntityKind.Organization) && e.hospital !== undefined) c.touch(StateKeys.entity(e.hospital))
  }
  return found
}

/**
 * Whether the sender may be of `kind`: an identity's kind never changes, and a sender unknown to
 * the store and to the block's notes (a patient enrolled, or a hospital admitted, earlier in the
 * block) may be of any kind.
 */
function mayBe (senders: readonly EntityFacts[], ...kinds: EntityKind[]): boolean {
  return senders.length === 0 || senders.some((s) => kinds.includes(s.kind))
}

/** A grant index and the grants it lists (loadGrants). */
function grantKeys (c: KeyCollector, patient: Uint8Array, grantee: Uint8Array): void {
  for (const id of c.grantIds(patient, grantee) ?? []) c.touch(StateKeys.grant(id))
}

function txKeys (c: KeyCollector, tx: Tx, ctx: BlockContext): void {
  const senders = identityKeys(c, tx.from)
  const p = tx.payload
  switch (p.type) {
    case TxType.RegisterHospital:
      c.touch(StateKeys.validatorSet)
      c.touch(StateKeys.entity(p.publicKey))
      return
    case TxType.RegisterClinician:
    case TxType.RegisterOrganization:
    case TxType.EnrolPatient:
      c.touch(StateKeys.entity(p.publicKey))
      return
    case TxType.Deactivate:
      c.touch(StateKeys.entity(p.target))
      return
    case TxType.AnchorRecord: {
      const patients = c.entity(p.patient)
      if (p.supersedes !== undefined) c.touch(StateKeys.record(p.supersedes))
      if (senders === undefined || patients === undefined) return
      // enrolment at a hospital is never undone and a clinician's hospital never changes, so a
      // patient enrolled at the sender's hospital before the block still is when the tx runs
      const enrolledHere = senders.length > 0 && patients.length > 0 && senders.every((s) => s.hospital !== undefined &&
        patients.every((pt) => pt.enrolledAt.some((h) => equalBytes(h, s.hospital as Uint8Array))))
      if (!enrolledHere) grantKeys(c, p.patient, tx.from)
      return
    }
    case TxType.Grant:
      if (senders === undefined || !mayBe(senders, EntityKind.Patient)) return // CONSENT_NOT_PATIENT reads nothing
      identityKeys(c, p.grantee)
      for (const id of p.recordIds) c.touch(StateKeys.record(id))
      for (const e of p.envelopes) c.touch(StateKeys.record(e.recordId))
      grantKeys(c, tx.from, p.grantee)
      return
    case TxType.Revoke:
      c.touch(StateKeys.grant(p.grantId))
      return
    case TxType.EmergencyAccess:
      c.touch(StateKeys.entity(p.patient))
      return
    case TxType.AccessRecord: {
      const records = c.record(p.recordId)
      if (senders === undefined) return
      for (const r of records ?? []) {
        if (equalBytes(tx.from, r.patient) || equalBytes(tx.from, r.author)) continue // decideAccess grants before any read
        if (mayBe(senders, EntityKind.Clinician, EntityKind.Organization)) grantKeys(c, r.patient, tx.from) // a grantee role
        if (mayBe(senders, EntityKind.Clinician)) c.touch(StateKeys.emergencyWindow(tx.from, r.patient))
      }
      return
    }
    case TxType.ShareKeys: {
      const first = p.envelopes[0]
      const firstRecords = first === undefined ? [] : c.record(first.recordId) // the audit entry's patient
      if (senders === undefined) return
      const fromPatient = mayBe(senders, EntityKind.Patient)
      const fromHospital = mayBe(senders, EntityKind.Hospital)
      if (!fromPatient && !fromHospital) return // KEYS_NOT_AUTHORISED
      for (const e of p.envelopes) c.touch(StateKeys.record(e.recordId))
      identityKeys(c, p.recipient)
      for (const r of firstRecords ?? []) {
        if (fromPatient) grantKeys(c, r.patient, p.recipient)
        if (fromHospital) {
          c.touch(StateKeys.entity(r.patient))
          c.touch(StateKeys.emergencyWindow(p.recipient, r.patient))
        }
      }
      return
    }
    case TxType.ProposeValidator:
      c.touch(StateKeys.validatorSet)
      if (p.action === ValidatorAction.Add) {
        c.touch(StateKeys.entity(p.validator))
        if (p.hospital !== undefined) c.touch(StateKeys.entity(p.hospital))
      } else {
        c.touch(StateKeys.pendingValidatorChanges(ctx.height + 1))
        c.touch(StateKeys.validatorLiveness)
      }
      c.touch(StateKeys.pendingValidatorChanges(ctx.height + VALIDATOR_CHANGE_DELAY))
      return
    case TxType.Vote:
      c.touch(StateKeys.validatorSet)
      for (const proposal of c.proposal(p.proposalId) ?? []) {
        if (proposal.kind === ProposalKind.AddHospital) c.touch(StateKeys.entity(proposal.subject))
      }
      // a passing vote: removalKeepsQuorum (remove) and the schedule at h+2 (add, remove)
      c.touch(StateKeys.pendingValidatorChanges(ctx.height + 1))
      c.touch(StateKeys.pendingValidatorChanges(ctx.height + VALIDATOR_CHANGE_DELAY))
      c.touch(StateKeys.validatorLiveness)
      return
    case TxType.Evidence: {
      const a = decoded(() => decodeVote(p.voteA))
      if (a === undefined || decoded(() => decodeVote(p.voteB)) === undefined) return // EVIDENCE_MALFORMED reads nothing
      c.touch(StateKeys.entity(a.validator))
      c.touch(StateKeys.evidence(a.validator, a.height, a.round, a.type))
    }
  }
}

/** What the end of the block and the chain's read of the next validator set may read. */
function endBlockStepKeys (c: KeyCollector, ctx: BlockContext): void {
  c.touch(StateKeys.validatorSet)
  if ((ctx.lastCommitSigners ?? []).length > 0) c.touch(StateKeys.validatorLiveness)
  for (const change of c.validatorChanges(ctx.height + 1) ?? []) {
    c.touch(StateKeys.proposal(change.proposalId))
    c.touch(StateKeys.entity(change.validator))
    if (change.action === ValidatorAction.Add && change.hospital !== undefined) c.touch(StateKeys.entity(change.hospital))
  }
}

// ------------------------------------------------------------------------------------------------
// entry points

/**
 * The keys executing `tx` may read (its sender's checks included, the end of the block not),
 * given the values loaded so far; `earlier` are the transactions before it in the same block,
 * whose new records, identities and proposals it may name.
 */
export function touchedKeys (tx: Tx, ctx: BlockContext, read: StateRead, earlier: readonly Tx[] = []): TouchedKeys {
  const c = new KeyCollector(read, ctx.chainId)
  for (const e of earlier) c.notes.add(e)
  txKeys(c, tx, ctx)
  return c.result()
}

/** The keys the end of the block (`endBlock`, then the next validator set) may read. */
export function endBlockKeys (ctx: BlockContext, read: StateRead): TouchedKeys {
  const c = new KeyCollector(read, ctx.chainId)
  endBlockStepKeys(c, ctx)
  return c.result()
}

/**
 * The keys executing `txs` as one block may read: every transaction (with what the ones before it
 * create) and the end of the block. Proposers may pass candidates that will be left out: the list
 * then only grows.
 */
export function blockTouchedKeys (txs: readonly Tx[], ctx: BlockContext, read: StateRead): TouchedKeys {
  const c = new KeyCollector(read, ctx.chainId)
  for (const tx of txs) {
    txKeys(c, tx, ctx)
    c.notes.add(tx)
  }
  endBlockStepKeys(c, ctx)
  return c.result()
}

/**
 * Loads every key the block may read, in at most MAX_PREFETCH_ROUNDS batched calls of `load`
 * (which returns the stored value of each key it is given; a key it leaves out is absent), and
 * returns them all with their values: the loaded map a StrictState executes the block against.
 */
export async function prefetchBlockKeys (
  txs: readonly Tx[], ctx: BlockContext, load: (keys: string[]) => Promise<LoadedValues>
): Promise<Map<string, Uint8Array | undefined>> {
  return await loadTouchedKeys((read) => blockTouchedKeys(txs, ctx, read), load, MAX_PREFETCH_ROUNDS)
}

/** `prefetchBlockKeys` with a synchronous loader (an in-memory state, tests). */
export function prefetchBlockKeysSync (
  txs: readonly Tx[], ctx: BlockContext, load: (keys: string[]) => LoadedValues
): Map<string, Uint8Array | undefined> {
  return loadTouchedKeysSync((read) => blockTouchedKeys(txs, ctx, read), load, MAX_PREFETCH_ROUNDS)
}
