import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { TxType, ValidatorAction, type TxPayload } from '../../../src/types/tx.js'
import { findValidator, quorumPower } from '../../../src/types/validatorSet.js'
import { encodeVote, signVote, VoteType, type UnsignedVote } from '../../../src/types/vote.js'
import {
  EntityKind, EntityStatus, getEntity, getEvidence, getProposal, getScheduledValidatorChanges, getValidatorSet, LIVENESS_WINDOW, ProposalStatus
} from '../../../src/contracts/index.js'
import { bytes32, makeGenesis, TEST_CHAIN_ID } from '../../utils/factories.js'
import { ClinicianRole, key, pk, TestChain } from './harness.js'
import { doubleSign } from './world.js'

const V = (h: string): string => `${h}/validator`
const addValidator = (label: string, hospital: string, power = 1): TxPayload =>
  ({ type: TxType.ProposeValidator, action: ValidatorAction.Add, validator: pk(label), hospital: pk(hospital), power })
const removeValidator = (label: string): TxPayload =>
  ({ type: TxType.ProposeValidator, action: ValidatorAction.Remove, validator: pk(label), power: 0 })
const vote = (proposalId: Uint8Array, approve = true): TxPayload => ({ type: TxType.Vote, proposalId, approve })

function inSet (w: TestChain, label: string): boolean {
  return findValidator(getValidatorSet(w.state), pk(label)) !== undefined
}

function fourHospitals (): TestChain {
  return TestChain.withHospitals(['hospital-a', 'hospital-b', 'hospital-c', 'hospital-d'])
}

describe('governance: validator set changes', () => {
  it('adds a validator at >2/3 of the power, applied by endBlock at exactly commit height + 2', () => {
    const w = fourHospitals() // 4 × power 1: quorum 3
    assert.equal(quorumPower(4), 3)
    const p = w.ok(V('hospital-a'), addValidator('new-validator', 'hospital-b', 5))
    const id = p.tx.hash
    w.ok(V('hospital-b'), vote(id))
    assert.equal(getProposal(w.state, id)?.status, ProposalStatus.Open, '2 of 4 is not more than 2/3')
    w.commitBlock()
    const passed = w.ok(V('hospital-c'), vote(id))
    const commitHeight = w.height
    assert.equal(getProposal(w.state, id)?.status, ProposalStatus.Passed)
    assert.equal(getProposal(w.state, id)?.effectiveHeight, commitHeight + 2)
    assert.ok(passed.receipt.events.some((e) => e.kind === 'proposal.passed'))
    assert.equal(getScheduledValidatorChanges(w.state, commitHeight + 2).length, 1)

    w.commitBlock() // endBlock(commitHeight): the set of commitHeight + 1 is unchanged
    assert.equal(inSet(w, 'new-validator'), false)
    assert.equal(getEntity(w.state, pk('new-validator')), undefined)
    w.commitBlock() // endBlock(commitHeight + 1): the set that validates commitHeight + 2 has it
    assert.equal(w.height, commitHeight + 2)
    assert.equal(inSet(w, 'new-validator'), true)
    assert.equal(getValidatorSet(w.state).totalPower, 9)
    assert.equal(getEntity(w.state, pk('new-validator'))?.kind, EntityKind.Validator)
    assert.deepEqual(getEntity(w.state, pk('new-validator'))?.hospital, pk('hospital-b'))
    assert.equal(getScheduledValidatorChanges(w.state, commitHeight + 2).length, 0, 'the schedule is cleared')
    // the new validator can now take part in governance
    w.ok('new-validator', addValidator('third-validator', 'hospital-c'))
  })

  it('passes at once in a one-validator consortium and applies at height + 2', () => {
    const w = TestChain.withHospitals(['hospital-a'])
    w.commitBlock()
    const h = w.height
    const r = w.ok(V('hospital-a'), addValidator('second', 'hospital-a'))
    assert.equal(getProposal(w.state, r.tx.hash)?.effectiveHeight, h + 2)
    w.commitBlock()
    assert.equal(getValidatorSet(w.state).validators.length, 1)
    w.commitBlock()
    assert.equal(getValidatorSet(w.state).validators.length, 2)
  })

  it('weighs votes by power: a 4-power validator alone does not pass, with one more it does', () => {
    const genesis = makeGenesis(['hospital-a', 'hospital-b', 'hospital-c', 'hospital-d'])
    genesis.validators = genesis.validators.map((v, i) => ({ ...v, power: i === 0 ? 4 : 1 }))
    const w = new TestChain(genesis) // total 7, quorum 5
    assert.deepEqual(genesis.validators[0]?.publicKey, pk(V('hospital-a')))
    const heavyLabel = V('hospital-a')
    const other = V('hospital-b')
    const r = w.ok(heavyLabel, addValidator('new-validator', 'hospital-a'))
    assert.equal(getProposal(w.state, r.tx.hash)?.status, ProposalStatus.Open)
    w.ok(other, vote(r.tx.hash))
    assert.equal(getProposal(w.state, r.tx.hash)?.status, ProposalStatus.Passed)
  })

  it('does not pass at exactly 2/3 of the power', () => {
    const w = TestChain.withHospitals(['hospital-a', 'hospital-b', 'hospital-c']) // quorum of 3 is 3
    const r = w.ok(V('hospital-a'), addValidator('new-validator', 'hospital-a'))
    w.ok(V('hospital-b'), vote(r.tx.hash))
    assert.equal(getProposal(w.state, r.tx.hash)?.status, ProposalStatus.Open)
    w.ok(V('hospital-c'), vote(r.tx.hash))
    assert.equal(getProposal(w.state, r.tx.hash)?.status, ProposalStatus.Passed)
  })

  it('removes a validator at >2/3, at commit height + 2, and deactivates its identity', () => {
    const w = fourHospitals()
    const r = w.ok(V('hospital-a'), removeValidator(V('hospital-d')))
    w.ok(V('hospital-b'), vote(r.tx.hash))
    w.ok(V('hospital-c'), vote(r.tx.hash))
    const commitHeight = w.height
    assert.equal(getProposal(w.state, r.tx.hash)?.effectiveHeight, commitHeight + 2)
    w.commitBlock()
    assert.equal(inSet(w, V('hospital-d')), true)
    assert.equal(w.submit(V('hospital-d'), addValidator('x', 'hospital-a')).receipt.code, 'OK', 'still a validator of the current set at commit height + 1')
    w.commitBlock()
    assert.equal(inSet(w, V('hospital-d')), false)
    assert.equal(getValidatorSet(w.state).totalPower, 3)
    assert.equal(getEntity(w.state, pk(V('hospital-d')))?.status, EntityStatus.Inactive)
    assert.equal(w.submit(V('hospital-d'), vote(r.tx.hash)).receipt.code, 'SENDER_INACTIVE')
    assert.equal(w.submit(V('hospital-a'), removeValidator(V('hospital-d'))).receipt.code, 'GOV_NOT_IN_SET')
  })

  it('counts approvals over the current set at tally time', () => {
    const w = fourHospitals()
    const p = w.ok(V('hospital-d'), addValidator('new-validator', 'hospital-a')) // approved by D
    // remove D
    const r = w.ok(V('hospital-a'), removeValidator(V('hospital-d')))
    w.ok(V('hospital-b'), vote(r.tx.hash))
    w.ok(V('hospital-c'), vote(r.tx.hash))
    w.commitBlock()
    w.commitBlock()
    assert.equal(getValidatorSet(w.state).validators.length, 3) // quorum of 3 is 3
    w.ok(V('hospital-a'), vote(p.tx.hash))
    w.ok(V('hospital-b'), vote(p.tx.hash))
    assert.equal(getProposal(w.state, p.tx.hash)?.status, ProposalStatus.Open, 'D\'s approval no longer counts')
    w.ok(V('hospital-c'), vote(p.tx.hash))
    assert.equal(getProposal(w.state, p.tx.hash)?.status, ProposalStatus.Passed)
  })

  it('refuses to remove the last validator, at proposal and when applying', () => {
    const one = TestChain.withHospitals(['hospital-a'])
    assert.equal(one.submit(V('hospital-a'), removeValidator(V('hospital-a'))).receipt.code, 'GOV_LAST_VALIDATOR')
    assert.equal(getValidatorSet(one.state).validators.length, 1)

    // a second removal while the first is pending would empty the set: refused at proposal time
    const w = TestChain.withHospitals(['hospital-a', 'hospital-b'])
    const first = w.ok(V('hospital-a'), removeValidator(V('hospital-b')))
    w.ok(V('hospital-b'), vote(first.tx.hash))
    assert.equal(w.submit(V('hospital-b'), removeValidator(V('hospital-a'))).receipt.code, 'GOV_LAST_VALIDATOR')
    w.commitBlock()
    w.commitBlock()
    const set = getValidatorSet(w.state)
    assert.equal(set.validators.length, 1)
    assert.deepEqual(set.validators[0]?.publicKey, pk(V('hospital-a')))
  })

  it('refuses a removal that would leave the validators seen online without a 2/3 quorum (a validator removed while another is offline)', () => {
    const w = fourHospitals()
    // hospital-d's validator is offline: for more than LIVENESS_WINDOW blocks only a, b, c sign commits
    w.lastCommitSigners = ['hospital-a', 'hospital-b', 'hospital-c'].map((h) => pk(V(h)))
    for (let i = 0; i < LIVENESS_WINDOW + 2; i++) w.commitBlock()
    // removing c would leave {a, b, d} with only a and b online: 2 of 3 < quorum 3
    assert.equal(w.submit(V('hospital-a'), removeValidator(V('hospital-c'))).receipt.code, 'GOV_REMOVAL_BREAKS_QUORUM')
    // removing the offline d leaves {a, b, c}, all online: allowed, passes with 3 of 4
    const p = w.ok(V('hospital-a'), removeValidator(V('hospital-d')))
    w.ok(V('hospital-b'), vote(p.tx.hash))
    w.ok(V('hospital-c'), vote(p.tx.hash))
    assert.equal(getProposal(w.state, p.tx.hash)?.status, ProposalStatus.Passed)
    w.commitBlock()
    w.commitBlock()
    assert.equal(inSet(w, V('hospital-d')), false)
    assert.equal(getValidatorSet(w.state).validators.length, 3)
  })

  it('while every validator signs, any single removal of four keeps quorum', () => {
    const w = fourHospitals()
    w.lastCommitSigners = ['hospital-a', 'hospital-b', 'hospital-c', 'hospital-d'].map((h) => pk(V(h)))
    for (let i = 0; i < LIVENESS_WINDOW + 2; i++) w.commitBlock()
    assert.equal(w.submit(V('hospital-a'), removeValidator(V('hospital-c'))).receipt.code, 'OK')
  })

  it('re-checks an add when applying: skipped if the hospital was deactivated meanwhile', () => {
    const w = TestChain.withHospitals(['hospital-a', 'hospital-b'])
    const p = w.ok(V('hospital-a'), addValidator('new-validator', 'hospital-b'))
    w.ok(V('hospital-b'), vote(p.tx.hash))
    w.ok('hospital-b', { type: TxType.Deactivate, target: pk('hospital-b'), reason: 'leaving' })
    w.commitBlock()
    w.commitBlock()
    assert.equal(inSet(w, 'new-validator'), false)
    assert.equal(getEntity(w.state, pk('new-validator')), undefined)
    assert.equal(getProposal(w.state, p.tx.hash)?.status, ProposalStatus.Failed)
  })

  it('refuses double voting, in either direction', () => {
    const w = fourHospitals()
    const p = w.ok(V('hospital-a'), addValidator('new-validator', 'hospital-a'))
    assert.equal(w.submit(V('hospital-a'), vote(p.tx.hash)).receipt.code, 'GOV_ALREADY_VOTED', 'the proposer\'s approval is counted')
    w.ok(V('hospital-b'), vote(p.tx.hash, false))
    assert.equal(w.submit(V('hospital-b'), vote(p.tx.hash, false)).receipt.code, 'GOV_ALREADY_VOTED')
    assert.equal(w.submit(V('hospital-b'), vote(p.tx.hash, true)).receipt.code, 'GOV_ALREADY_VOTED')
    assert.deepEqual(getProposal(w.state, p.tx.hash)?.approvals, [pk(V('hospital-a'))])
    assert.deepEqual(getProposal(w.state, p.tx.hash)?.rejections, [pk(V('hospital-b'))])
  })

  it('closes a proposal as rejected when more than 1/3 of the power rejects it', () => {
    const w = fourHospitals()
    const p = w.ok(V('hospital-a'), addValidator('new-validator', 'hospital-a'))
    w.ok(V('hospital-b'), vote(p.tx.hash, false))
    assert.equal(getProposal(w.state, p.tx.hash)?.status, ProposalStatus.Open, '1/4 is not more than 1/3')
    w.ok(V('hospital-c'), vote(p.tx.hash, false))
    assert.equal(getProposal(w.state, p.tx.hash)?.status, ProposalStatus.Rejected)
    assert.equal(w.submit(V('hospital-d'), vote(p.tx.hash)).receipt.code, 'GOV_PROPOSAL_CLOSED')
    w.commitBlock()
    w.commitBlock()
    assert.equal(inSet(w, 'new-validator'), false)
  })

  it('keeps a proposal open when rejections are exactly 1/3 of the power', () => {
    const w = TestChain.withHospitals(['hospital-a', 'hospital-b', 'hospital-c'])
    const p = w.ok(V('hospital-a'), addValidator('new-validator', 'hospital-a'))
    w.ok(V('hospital-b'), vote(p.tx.hash, false))
    assert.equal(getProposal(w.state, p.tx.hash)?.status, ProposalStatus.Open)
    w.ok(V('hospital-c'), vote(p.tx.hash, false))
    assert.equal(getProposal(w.state, p.tx.hash)?.status, ProposalStatus.Rejected)
  })

  it('admits a hospital by vote: active in the tx that reaches the quorum', () => {
    const w = fourHospitals()
    const p = w.ok(V('hospital-a'), { type: TxType.RegisterHospital, publicKey: pk('st-marys'), name: 'St Mary\'s' })
    w.ok(V('hospital-b'), vote(p.tx.hash))
    assert.equal(getEntity(w.state, pk('st-marys')), undefined, 'not registered before the quorum')
    assert.equal(getSenderNonceOf(w, 'st-marys'), undefined)
    w.ok(V('hospital-c'), vote(p.tx.hash))
    assert.equal(getEntity(w.state, pk('st-marys'))?.status, EntityStatus.Active)
    assert.deepEqual(getEntity(w.state, pk('st-marys'))?.registeredBy, pk(V('hospital-a')))
    w.ok('st-marys', { type: TxType.RegisterClinician, publicKey: pk('dr-new'), name: 'Dr New', role: ClinicianRole.Doctor })
  })

  it('marks an add-hospital proposal failed when its key was registered before the quorum', () => {
    const w = fourHospitals()
    const p = w.ok(V('hospital-a'), { type: TxType.RegisterHospital, publicKey: pk('st-marys'), name: 'St Mary\'s' })
    w.ok('hospital-a', { type: TxType.RegisterClinician, publicKey: pk('st-marys'), name: 'squatter', role: ClinicianRole.Nurse })
    w.ok(V('hospital-b'), vote(p.tx.hash))
    const r = w.ok(V('hospital-c'), vote(p.tx.hash))
    assert.equal(getProposal(w.state, p.tx.hash)?.status, ProposalStatus.Failed)
    assert.ok(r.receipt.events.some((e) => e.kind === 'proposal.failed'))
    assert.equal(getEntity(w.state, pk('st-marys'))?.kind, EntityKind.Clinician)
  })
})

function getSenderNonceOf (w: TestChain, label: string): number | undefined {
  return getEntity(w.state, pk(label))?.nonce
}

describe('governance: evidence of double-signing', () => {
  function evidenceWorld (): TestChain {
    const w = fourHospitals()
    w.registerClinician('hospital-a', 'doctor')
    w.commitBlock()
    w.commitBlock()
    return w
  }
  const evidence = (votes: { voteA: Uint8Array, voteB: Uint8Array }): TxPayload => ({ type: TxType.Evidence, ...votes })
  const base: UnsignedVote = { chainId: TEST_CHAIN_ID, type: VoteType.Precommit, height: 2, round: 1, blockHash: bytes32('block-1'), validator: pk(V('hospital-c')) }
  const signed = (v: UnsignedVote, signer = V('hospital-c')): Uint8Array => encodeVote(signVote(v, key(signer)))

  it('accepts a real double-sign from any active identity and records it once', () => {
    const w = evidenceWorld()
    const votes = { voteA: signed(base), voteB: signed({ ...base, blockHash: bytes32('block-2') }) }
    const r = w.ok('doctor', evidence(votes))
    assert.ok(r.receipt.events.some((e) => e.kind === 'evidence.recorded'))
    const stored = getEvidence(w.state, pk(V('hospital-c')), 2, 1, VoteType.Precommit)
    assert.deepEqual(stored?.reporter, pk('doctor'))
    assert.equal(r.changedKeys.length, 1)
    // the same offence again, in either order or as another conflicting pair, is a duplicate
    assert.equal(w.submit('hospital-a', evidence(votes)).receipt.code, 'EVIDENCE_DUPLICATE')
    assert.equal(w.submit('hospital-a', evidence({ voteA: votes.voteB, voteB: votes.voteA })).receipt.code, 'EVIDENCE_DUPLICATE')
    assert.equal(w.submit('hospital-a', evidence({ voteA: votes.voteA, voteB: signed({ ...base, blockHash: bytes32('block-3') }) })).receipt.code, 'EVIDENCE_DUPLICATE')
  })

  it('accepts a vote for a block against a vote for nil at the same step', () => {
    const w = evidenceWorld()
    const nil: UnsignedVote = { chainId: base.chainId, type: base.type, height: base.height, round: base.round, validator: base.validator }
    assert.equal(w.submit('doctor', evidence({ voteA: signed(base), voteB: signed(nil) })).receipt.code, 'OK')
  })

  it('accepts evidence against a validator that was removed since', () => {
    const w = evidenceWorld()
    const r = w.ok(V('hospital-a'), removeValidator(V('hospital-c')))
    w.ok(V('hospital-b'), vote(r.tx.hash))
    w.ok(V('hospital-d'), vote(r.tx.hash))
    w.commitBlock()
    w.commitBlock()
    assert.equal(inSet(w, V('hospital-c')), false)
    assert.equal(w.submit('doctor', evidence(doubleSign(V('hospital-c'), 2))).receipt.code, 'OK')
  })

  const refusals: Array<[string, () => { voteA: Uint8Array, voteB: Uint8Array }, string]> = [
    ['a forged signature on one vote', () => ({ voteA: signed(base), voteB: signed({ ...base, blockHash: bytes32('block-2') }, V('hospital-d')) }), 'EVIDENCE_BAD_SIGNATURE'],
    ['a signature bit flipped', () => {
      const voteB = signed({ ...base, blockHash: bytes32('block-2') })
      voteB[voteB.length - 1] = (voteB[voteB.length - 1] as number) ^ 1
      return { voteA: signed(base), voteB }
    }, 'EVIDENCE_BAD_SIGNATURE'],
    ['the same vote twice', () => ({ voteA: signed(base), voteB: signed(base) }), 'EVIDENCE_NOT_CONFLICTING'],
    ['different rounds', () => ({ voteA: signed(base), voteB: signed({ ...base, round: 2, blockHash: bytes32('block-2') }) }), 'EVIDENCE_NOT_CONFLICTING'],
    ['different heights', () => ({ voteA: signed(base), voteB: signed({ ...base, height: 1, blockHash: bytes32('block-2') }) }), 'EVIDENCE_NOT_CONFLICTING'],
    ['different vote types', () => ({ voteA: signed(base), voteB: signed({ ...base, type: VoteType.Prevote, blockHash: bytes32('block-2') }) }), 'EVIDENCE_NOT_CONFLICTING'],
    ['different validators', () => ({ voteA: signed(base), voteB: signed({ ...base, validator: pk(V('hospital-d')), blockHash: bytes32('block-2') }, V('hospital-d')) }), 'EVIDENCE_NOT_CONFLICTING'],
    ['a key that was never a validator', () => ({
      voteA: signed({ ...base, validator: pk('rogue') }, 'rogue'),
      voteB: signed({ ...base, validator: pk('rogue'), blockHash: bytes32('block-2') }, 'rogue')
    }), 'EVIDENCE_UNKNOWN_VALIDATOR'],
    ['a registered identity that is not a validator', () => ({
      voteA: signed({ ...base, validator: pk('doctor') }, 'doctor'),
      voteB: signed({ ...base, validator: pk('doctor'), blockHash: bytes32('block-2') }, 'doctor')
    }), 'EVIDENCE_UNKNOWN_VALIDATOR'],
    ['a height the chain has not reached', () => doubleSign(V('hospital-c'), 1000), 'EVIDENCE_FROM_FUTURE'],
    ['votes for another chain', () => doubleSign(V('hospital-c'), 1, 0, 'other-chain'), 'EVIDENCE_WRONG_CHAIN'],
    ['bytes that are not a vote', () => ({ voteA: new Uint8Array([1, 2, 3]), voteB: signed(base) }), 'EVIDENCE_MALFORMED'],
    ['an empty vote', () => ({ voteA: signed(base), voteB: new Uint8Array(0) }), 'EVIDENCE_MALFORMED']
  ]
  for (const [name, make, code] of refusals) {
    it(`refuses ${name} (${code}) and records nothing`, () => {
      const w = evidenceWorld()
      const r = w.submit('doctor', evidence(make()))
      assert.equal(r.receipt.code, code)
      assert.deepEqual(r.changedKeys, [])
    })
  }
})
