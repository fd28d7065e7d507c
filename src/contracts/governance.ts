/**
 * Governance: the consortium admits hospitals and changes its validator set by vote of the
 * current validators; anyone may submit evidence of a validator's double-signing.
 *
 * | transaction      | signed by                                       | rules (refusal code)                                                  |
 * | ---------------- | ----------------------------------------------- | --------------------------------------------------------------------- |
 * | RegisterHospital | a validator of the current set (GOV_NOT_VALIDATOR) | key valid (REGISTRY_BAD_KEY), unregistered (REGISTRY_ALREADY_REGISTERED); opens an add-hospital proposal |
 * | ProposeValidator | a validator of the current set (GOV_NOT_VALIDATOR) | add: key valid and unregistered (REGISTRY_BAD_KEY, REGISTRY_ALREADY_REGISTERED), hospital an active hospital (GOV_UNKNOWN_HOSPITAL), power 1..65535 (GOV_BAD_POWER), set not full (GOV_SET_FULL); remove: key in the current set (GOV_NOT_IN_SET), not the last one counting pending removals (GOV_LAST_VALIDATOR), and the validators of the remaining set seen signing commits in the last 20 blocks keep more than 2/3 of its power (GOV_REMOVAL_BREAKS_QUORUM; re-checked when the proposal passes) |
 * | Vote             | a validator of the current set (GOV_NOT_VALIDATOR) | proposal exists (GOV_UNKNOWN_PROPOSAL), still open (GOV_PROPOSAL_CLOSED), sender has not voted (GOV_ALREADY_VOTED) |
 * | Evidence         | any active identity                              | both votes decode (EVIDENCE_MALFORMED), are for this chain (EVIDENCE_WRONG_CHAIN), same validator, height, round and type with different block hashes (EVIDENCE_NOT_CONFLICTING), height ≤ current height (EVIDENCE_FROM_FUTURE), by a key registered as a validator (EVIDENCE_UNKNOWN_VALIDATOR), not recorded before (EVIDENCE_DUPLICATE), both signatures valid (EVIDENCE_BAD_SIGNATURE) |
 *
 * Proposals: id = hash of the opening transaction; the proposer's approval is counted. After every
 * vote the proposal is tallied over the CURRENT validator set (votes of keys no longer in the set
 * do not count): approvals' power ≥ quorumPower(totalPower) (more than 2/3) passes it; rejections'
 * power > 1/3 of the total rejects it. A passed add-hospital proposal makes the hospital active in
 * that same transaction (a single-validator consortium: immediately). A passed validator change
 * is scheduled for height h + 2 (h = the height of the passing transaction) and applied by
 * `endBlock` of height h + 1, so the set of block h + 1's `nextValidatorsHash` is the new one and
 * every node switches at block h + 2. It is re-checked when applied (the added key still
 * unregistered, its hospital still active, the set not full; the removed key still in the set and
 * not the last one) and skipped otherwise, its proposal then marked failed. An added validator is
 * registered as an identity of kind validator when the change applies; a removed one is deactivated.
 *
 * Evidence is recorded once per (validator, height, round, vote type) with both votes, so anyone
 * can re-verify it; medchain has no stake to slash, the consortium removes the validator by vote.
 */
import { ValidatorAction, type TxType } from '../types/tx.js'
import { findValidator, makeValidatorSet, quorumPower, type Validator, type ValidatorSet } from '../types/validatorSet.js'
import { MAX_VALIDATORS } from '../types/limits.js'
import { compareBytes, equalBytes, toHex } from '../crypto/bytes.js'
import { decodeVote, verifyVoteSignature, type Vote } from '../types/vote.js'
import { ok, refuse, type Effects, type Sender, type TxOf, type Verdict } from './context.js'
import { type BlockContext, type ExecContext } from '../types/application.js'
import { contractError } from './errors.js'
import { checkNewKey, getActive, newEntity } from './registry.js'
import { EntityKind, EntityStatus } from './roles.js'
import { ProposalKind, ProposalStatus, type Proposal, type ValidatorChange } from './schema.js'
import type { StateView } from './stateView.js'

/** Largest voting power of one validator. */
export const MAX_VALIDATOR_POWER = 0xffff

/** Validator changes take effect this many heights after the transaction that passed them. */
export const VALIDATOR_CHANGE_DELAY = 2

/**
 * A validator counts as online if it signed one of the commits of the last this-many blocks
 * (as carried in blocks' lastCommit). Genesis validators count as having signed at height 0.
 */
export const LIVENESS_WINDOW = 20

/**
 * Keys removed by changes already passed but not yet applied (effective at the next two heights).
 */
function pendingRemovals (view: StateView, ctx: BlockContext): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let h = ctx.height + 1; h <= ctx.height + VALIDATOR_CHANGE_DELAY; h++) {
    for (const c of view.getValidatorChanges(h)) if (c.action === ValidatorAction.Remove) out.push(c.validator)
  }
  return out
}

/**
 * Whether removing `subject` (after the removals already pending) leaves a set whose validators
 * seen online within LIVENESS_WINDOW blocks still hold more than 2/3 of its power: a removal that
 * would leave the chain unable to reach quorum is refused (the last validator is the extreme case).
 */
export function removalKeepsQuorum (view: StateView, set: ValidatorSet, subject: Uint8Array, ctx: BlockContext): 'ok' | 'GOV_LAST_VALIDATOR' | 'GOV_REMOVAL_BREAKS_QUORUM' {
  const gone = [...pendingRemovals(view, ctx), subject]
  const remaining = set.validators.filter((v) => !gone.some((g) => equalBytes(g, v.publicKey)))
  if (remaining.length === 0) return 'GOV_LAST_VALIDATOR'
  const liveness = view.getLiveness()
  let total = 0
  let live = 0
  for (const v of remaining) {
    total += v.power
    if (ctx.height - (liveness.get(toHex(v.publicKey)) ?? 0) <= LIVENESS_WINDOW) live += v.power
  }
  return live >= quorumPower(total) ? 'ok' : 'GOV_REMOVAL_BREAKS_QUORUM'
}

/** Records which validators signed the previous block's commit (from the block's lastCommit). */
export function recordLiveness (view: StateView, ctx: BlockContext): void {
  const signers = ctx.lastCommitSigners ?? []
  if (signers.length === 0) return
  const liveness = view.getLiveness()
  const set = currentValidatorSet(view)
  for (const s of signers) if (findValidator(set, s) !== undefined) liveness.set(toHex(s), ctx.height - 1)
  // forget validators that left the set
  for (const key of [...liveness.keys()]) if (!set.validators.some((v) => toHex(v.publicKey) === key)) liveness.delete(key)
  view.putLiveness(liveness)
}

const PROPOSAL_KIND_NAMES: Record<ProposalKind, string> = {
  [ProposalKind.AddHospital]: 'add-hospital',
  [ProposalKind.AddValidator]: 'add-validator',
  [ProposalKind.RemoveValidator]: 'remove-validator'
}

export function currentValidatorSet (view: StateView): ValidatorSet {
  const set = view.getValidatorSet()
  if (set === undefined) throw contractError('STATE_NOT_INITIALISED')
  return set
}

function isCurrentValidator (set: ValidatorSet, sender: Sender): boolean {
  return sender.entity.kind === EntityKind.Validator && findValidator(set, sender.publicKey) !== undefined
}

function powerOf (set: ValidatorSet, voters: readonly Uint8Array[]): number {
  let power = 0
  for (const voter of voters) power += findValidator(set, voter)?.power ?? 0
  return power
}

export type TallyResult = 'open' | 'passed' | 'rejected'

/** Tally over `set`: passed at ≥ quorumPower, rejected when rejections exceed 1/3 of the power. */
export function tallyProposal (set: ValidatorSet, proposal: Pick<Proposal, 'approvals' | 'rejections'>): TallyResult {
  if (powerOf(set, proposal.approvals) >= quorumPower(set.totalPower)) return 'passed'
  if (powerOf(set, proposal.rejections) * 3 > set.totalPower) return 'rejected'
  return 'open'
}

/** Tallies `proposal` and applies the outcome; returns the proposal to store and the events. */
function settle (view: StateView, proposalId: Uint8Array, proposal: Proposal, ctx: ExecContext, set: ValidatorSet): { proposal: Proposal, events: Effects['events'] } {
  const outcome = tallyProposal(set, proposal)
  const id = toHex(proposalId)
  if (outcome === 'open') return { proposal, events: [] }
  if (outcome === 'rejected') {
    return { proposal: { ...proposal, status: ProposalStatus.Rejected, closedAt: ctx.height }, events: [{ kind: 'proposal.rejected', attributes: [['proposalId', id]] }] }
  }
  if (proposal.kind === ProposalKind.AddHospital) {
    if (checkNewKey(view, proposal.subject, 'strict') !== undefined) {
      return { proposal: { ...proposal, status: ProposalStatus.Failed, closedAt: ctx.height }, events: [{ kind: 'proposal.failed', attributes: [['proposalId', id]] }] }
    }
    view.putEntity(proposal.subject, newEntity({ kind: EntityKind.Hospital, name: proposal.name, registeredBy: proposal.proposer, registeredAt: ctx.height }))
    return {
      proposal: { ...proposal, status: ProposalStatus.Passed, closedAt: ctx.height },
      events: [
        { kind: 'proposal.passed', attributes: [['proposalId', id]] },
        { kind: 'identity.registered', attributes: [['publicKey', toHex(proposal.subject)], ['kind', 'hospital'], ['role', 'hospital'], ['registeredBy', toHex(proposal.proposer)]] }
      ]
    }
  }
  if (proposal.kind === ProposalKind.RemoveValidator && removalKeepsQuorum(view, set, proposal.subject, ctx) !== 'ok') {
    return { proposal: { ...proposal, status: ProposalStatus.Failed, closedAt: ctx.height }, events: [{ kind: 'proposal.failed', attributes: [['proposalId', id], ['reason', 'GOV_REMOVAL_BREAKS_QUORUM']] }] }
  }
  const effectiveHeight = ctx.height + VALIDATOR_CHANGE_DELAY
  const change: ValidatorChange = {
    proposalId,
    action: proposal.kind === ProposalKind.AddValidator ? ValidatorAction.Add : ValidatorAction.Remove,
    validator: proposal.subject,
    power: proposal.power,
    ...(proposal.hospital !== undefined ? { hospital: proposal.hospital } : {})
  }
  view.putValidatorChanges(effectiveHeight, [...view.getValidatorChanges(effectiveHeight), change])
  return {
    proposal: { ...proposal, status: ProposalStatus.Passed, closedAt: ctx.height, effectiveHeight },
    events: [{ kind: 'proposal.passed', attributes: [['proposalId', id], ['effectiveHeight', String(effectiveHeight)]] }]
  }
}

function openProposal (view: StateView, ctx: ExecContext, sender: Sender, set: ValidatorSet, fields: Pick<Proposal, 'kind' | 'subject' | 'name' | 'hospital' | 'power'>): Effects {
  const opened: Proposal = {
    kind: fields.kind,
    status: ProposalStatus.Open,
    proposer: sender.publicKey,
    createdAt: ctx.height,
    subject: fields.subject,
    name: fields.name,
    ...(fields.hospital !== undefined ? { hospital: fields.hospital } : {}),
    power: fields.power,
    approvals: [sender.publicKey],
    rejections: [],
    closedAt: 0,
    effectiveHeight: 0
  }
  const { proposal, events } = settle(view, ctx.txHash, opened, ctx, set)
  view.putProposal(ctx.txHash, proposal)
  return {
    events: [
      { kind: 'proposal.opened', attributes: [['proposalId', toHex(ctx.txHash)], ['kind', PROPOSAL_KIND_NAMES[fields.kind]], ['subject', toHex(fields.subject)]] },
      ...events
    ]
  }
}

// ------------------------------------------------------------------------------------------------
// RegisterHospital

export function verifyRegisterHospital (view: StateView, tx: TxOf<typeof TxType.RegisterHospital>, _ctx: ExecContext, sender: Sender): Verdict<ValidatorSet> {
  const set = currentValidatorSet(view)
  if (!isCurrentValidator(set, sender)) return refuse('GOV_NOT_VALIDATOR')
  const bad = checkNewKey(view, tx.payload.publicKey, 'strict')
  if (bad !== undefined) return refuse(bad)
  return ok(set)
}

export function executeRegisterHospital (view: StateView, tx: TxOf<typeof TxType.RegisterHospital>, ctx: ExecContext, sender: Sender, set: ValidatorSet): Effects {
  return openProposal(view, ctx, sender, set, { kind: ProposalKind.AddHospital, subject: tx.payload.publicKey, name: tx.payload.name, power: 0 })
}

// ------------------------------------------------------------------------------------------------
// ProposeValidator

export function verifyProposeValidator (view: StateView, tx: TxOf<typeof TxType.ProposeValidator>, ctx: ExecContext, sender: Sender): Verdict<ValidatorSet> {
  const p = tx.payload
  const set = currentValidatorSet(view)
  if (!isCurrentValidator(set, sender)) return refuse('GOV_NOT_VALIDATOR')
  if (p.action === ValidatorAction.Add) {
    const bad = checkNewKey(view, p.validator, 'strict')
    if (bad !== undefined) return refuse(bad)
    if (p.hospital === undefined || getActive(view, p.hospital, EntityKind.Hospital) === undefined) return refuse('GOV_UNKNOWN_HOSPITAL')
    if (!Number.isInteger(p.power) || p.power < 1 || p.power > MAX_VALIDATOR_POWER) return refuse('GOV_BAD_POWER')
    if (set.validators.length >= MAX_VALIDATORS) return refuse('GOV_SET_FULL')
    return ok(set)
  }
  if (findValidator(set, p.validator) === undefined) return refuse('GOV_NOT_IN_SET')
  if (set.validators.length === 1) return refuse('GOV_LAST_VALIDATOR')
  const quorum = removalKeepsQuorum(view, set, p.validator, ctx)
  if (quorum !== 'ok') return refuse(quorum)
  return ok(set)
}

export function executeProposeValidator (view: StateView, tx: TxOf<typeof TxType.ProposeValidator>, ctx: ExecContext, sender: Sender, set: ValidatorSet): Effects {
  const p = tx.payload
  if (p.action === ValidatorAction.Add) {
    return openProposal(view, ctx, sender, set, { kind: ProposalKind.AddValidator, subject: p.validator, name: '', hospital: p.hospital, power: p.power })
  }
  return openProposal(view, ctx, sender, set, { kind: ProposalKind.RemoveValidator, subject: p.validator, name: '', power: 0 })
}

// ------------------------------------------------------------------------------------------------
// Vote

export interface VotePlan { set: ValidatorSet, proposal: Proposal }

export function verifyVote (view: StateView, tx: TxOf<typeof TxType.Vote>, _ctx: ExecContext, sender: Sender): Verdict<VotePlan> {
  const set = currentValidatorSet(view)
  if (!isCurrentValidator(set, sender)) return refuse('GOV_NOT_VALIDATOR')
  const proposal = view.getProposal(tx.payload.proposalId)
  if (proposal === undefined) return refuse('GOV_UNKNOWN_PROPOSAL')
  if (proposal.status !== ProposalStatus.Open) return refuse('GOV_PROPOSAL_CLOSED')
  const voted = (list: Uint8Array[]): boolean => list.some((k) => equalBytes(k, sender.publicKey))
  if (voted(proposal.approvals) || voted(proposal.rejections)) return refuse('GOV_ALREADY_VOTED')
  return ok({ set, proposal })
}

export function executeVote (view: StateView, tx: TxOf<typeof TxType.Vote>, ctx: ExecContext, sender: Sender, plan: VotePlan): Effects {
  const p = tx.payload
  const voted: Proposal = p.approve
    ? { ...plan.proposal, approvals: [...plan.proposal.approvals, sender.publicKey] }
    : { ...plan.proposal, rejections: [...plan.proposal.rejections, sender.publicKey] }
  const { proposal, events } = settle(view, p.proposalId, voted, ctx, plan.set)
  view.putProposal(p.proposalId, proposal)
  return {
    events: [
      { kind: 'proposal.voted', attributes: [['proposalId', toHex(p.proposalId)], ['voter', toHex(sender.publicKey)], ['approve', p.approve ? 'yes' : 'no']] },
      ...events
    ]
  }
}

// ------------------------------------------------------------------------------------------------
// Evidence

export interface EvidencePlan { vote: Vote, first: Uint8Array, second: Uint8Array }

function sameBlockHash (a: Vote, b: Vote): boolean {
  if (a.blockHash === undefined || b.blockHash === undefined) return a.blockHash === b.blockHash
  return equalBytes(a.blockHash, b.blockHash)
}

export function verifyEvidence (view: StateView, tx: TxOf<typeof TxType.Evidence>, ctx: ExecContext, _sender: Sender): Verdict<EvidencePlan> {
  let a: Vote
  let b: Vote
  try {
    a = decodeVote(tx.payload.voteA)
    b = decodeVote(tx.payload.voteB)
  } catch {
    return refuse('EVIDENCE_MALFORMED')
  }
  if (a.chainId !== ctx.chainId || b.chainId !== ctx.chainId) return refuse('EVIDENCE_WRONG_CHAIN')
  const sameStep = equalBytes(a.validator, b.validator) && a.height === b.height && a.round === b.round && a.type === b.type
  if (!sameStep || sameBlockHash(a, b)) return refuse('EVIDENCE_NOT_CONFLICTING')
  if (a.height > ctx.height) return refuse('EVIDENCE_FROM_FUTURE')
  const validator = view.getEntity(a.validator)
  if (validator === undefined || validator.kind !== EntityKind.Validator) return refuse('EVIDENCE_UNKNOWN_VALIDATOR')
  if (view.getEvidence(a.validator, a.height, a.round, a.type) !== undefined) return refuse('EVIDENCE_DUPLICATE')
  if (!verifyVoteSignature(a) || !verifyVoteSignature(b)) return refuse('EVIDENCE_BAD_SIGNATURE')
  // stored in byte order, so the record does not depend on the order the votes were submitted in
  const [first, second] = compareBytes(tx.payload.voteA, tx.payload.voteB) <= 0 ? [tx.payload.voteA, tx.payload.voteB] : [tx.payload.voteB, tx.payload.voteA]
  return ok({ vote: a, first, second })
}

export function executeEvidence (view: StateView, _tx: TxOf<typeof TxType.Evidence>, ctx: ExecContext, sender: Sender, plan: EvidencePlan): Effects {
  const v = plan.vote
  view.putEvidence(v.validator, v.height, v.round, v.type, { reportedAt: ctx.height, reporter: sender.publicKey, voteA: plan.first, voteB: plan.second })
  return {
    events: [{ kind: 'evidence.recorded', attributes: [['validator', toHex(v.validator)], ['height', String(v.height)], ['round', String(v.round)], ['voteType', String(v.type)]] }]
  }
}

// ------------------------------------------------------------------------------------------------
// endBlock: scheduled validator changes

/**
 * Applies the validator changes scheduled for `ctx.height + 1` to the stored set, in the order
 * they passed, each re-checked (see the module comment). Never leaves the set empty.
 */
export function applyValidatorChanges (view: StateView, ctx: BlockContext): void {
  const effectiveHeight = ctx.height + 1
  const changes = view.getValidatorChanges(effectiveHeight)
  if (changes.length === 0) return
  const validators: Validator[] = [...currentValidatorSet(view).validators]
  for (const change of changes) {
    const proposal = view.getProposal(change.proposalId)
    let applied = false
    if (change.action === ValidatorAction.Add) {
      const hospitalActive = change.hospital !== undefined && getActive(view, change.hospital, EntityKind.Hospital) !== undefined
      const inSet = validators.some((v) => equalBytes(v.publicKey, change.validator))
      if (change.hospital !== undefined && hospitalActive && !inSet && validators.length < MAX_VALIDATORS &&
        change.power >= 1 && change.power <= MAX_VALIDATOR_POWER && checkNewKey(view, change.validator, 'strict') === undefined) {
        validators.push({ publicKey: change.validator, power: change.power, hospital: change.hospital })
        view.putEntity(change.validator, newEntity({
          kind: EntityKind.Validator,
          hospital: change.hospital,
          ...(proposal !== undefined ? { registeredBy: proposal.proposer } : {}),
          registeredAt: effectiveHeight
        }))
        applied = true
      }
    } else {
      const index = validators.findIndex((v) => equalBytes(v.publicKey, change.validator))
      if (index >= 0 && validators.length > 1) {
        validators.splice(index, 1)
        const entity = view.getEntity(change.validator)
        if (entity !== undefined) view.putEntity(change.validator, { ...entity, status: EntityStatus.Inactive, deactivatedAt: effectiveHeight })
        applied = true
      }
    }
    if (!applied && proposal !== undefined) view.putProposal(change.proposalId, { ...proposal, status: ProposalStatus.Failed })
  }
  view.putValidatorSet(makeValidatorSet(validators))
  view.putValidatorChanges(effectiveHeight, [])
}
