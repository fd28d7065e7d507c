/**
 * The key list of src/contracts/touchedKeys.ts and the strict backend it feeds: every key a
 * transaction reads is listed (for every type and signer role of the shared world), keys derived
 * from values written earlier in the same block are listed too, the fixed point takes at most
 * MAX_PREFETCH_ROUNDS batched loads, and a read outside the loaded keys fails loudly with
 * STATE_KEY_NOT_LOADED naming the key.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  accessControlApp, blockTouchedKeys, endBlockKeys, executeTx, getSenderNonce, MAX_PREFETCH_ROUNDS, prefetchBlockKeys,
  prefetchBlockKeysSync, StateKeys, touchedKeys
} from '../../../src/contracts/index.js'
import { executeBlockTxs } from '../../../src/chain/execute.js'
import type { BlockContext, ExecContext } from '../../../src/types/application.js'
import {
  loadTouchedKeys, loadTouchedKeysSync, MemoryState, NOT_LOADED, StrictState, type LoadedValues, type StateBackend
} from '../../../src/types/state.js'
import { recordIdOf, TxType, ValidatorAction, type Tx, type TxPayload } from '../../../src/types/tx.js'
import { hasErrorCode } from '../../../src/util/errors.js'
import { makeTx } from '../../utils/factories.js'
import { anchorPayload, key, pk, Purpose, TestChain } from './harness.js'
import { BASE_PAYLOAD, buildWorld, HOSPITALS, ROLES, ROLE_SIGNER, TX_NAMES } from './world.js'

const world = buildWorld()

/** A StateBackend over `state` that records every key read. */
function recording (state: MemoryState): StateBackend & { reads: Set<string> } {
  const reads = new Set<string>()
  return {
    reads,
    get: (k) => { reads.add(k); return state.get(k) },
    set: (k, v) => { state.set(k, v) },
    delete: (k) => { state.delete(k) },
    appendAudit: (p, e) => { state.appendAudit(p, e) }
  }
}

function blockCtx (w: TestChain): BlockContext {
  return { chainId: w.chainId, height: w.height, timestamp: w.timestamp, lastCommitSigners: w.lastCommitSigners }
}

/** A signed transaction of `signer` with its next nonce in `w`. */
function txOf (w: TestChain, signer: string, payload: TxPayload, nonceOffset = 0): Tx {
  return makeTx(key(signer), (getSenderNonce(w.state, pk(signer)) as number) + nonceOffset, payload, w.chainId)
}

/** The block's loaded values, read from `state` by a loader that counts its calls and refuses a key asked twice. */
function countingLoader (state: MemoryState): { load: (keys: string[]) => LoadedValues, calls: string[][] } {
  const calls: string[][] = []
  const seen = new Set<string>()
  return {
    calls,
    load: (keys) => {
      for (const k of keys) {
        assert.ok(!seen.has(k), `key ${k} loaded twice`)
        seen.add(k)
      }
      calls.push(keys)
      return new Map(keys.map((k) => [k, state.get(k)]))
    }
  }
}

/** Executes `txs` as one block the chain's way through a StrictState over `loaded`; throws on a miss. */
function executeStrictly (w: TestChain, txs: Tx[], loaded: LoadedValues): { strict: StrictState, codes: string[] } {
  const strict = new StrictState(loaded)
  let codes: string[] = []
  try {
    codes = executeBlockTxs(accessControlApp, strict, txs, blockCtx(w), { onInvalidTx: 'reject-block' }).receipts.map((r) => r.code)
  } finally {
    strict.assertNoMisses()
  }
  return { strict, codes }
}

function isNotLoaded (key: string) {
  return (err: unknown): boolean => {
    assert.ok(hasErrorCode(err, 'STATE_KEY_NOT_LOADED'), `expected STATE_KEY_NOT_LOADED, got ${String(err)}`)
    assert.equal((err as { type: { key: string } }).type.key, key)
    assert.match((err as Error).message, new RegExp(key))
    return true
  }
}

describe('touchedKeys', () => {
  it('lists every key each transaction type reads, for every signer role, granted or refused', () => {
    let exactWhenGranted = 0
    for (const tx of TX_NAMES) {
      for (const role of ROLES) {
        const w = world.clone()
        const t = txOf(w, ROLE_SIGNER[role], BASE_PAYLOAD[tx](w, role))
        const ctx: ExecContext = { ...blockCtx(w), txIndex: 0, txHash: t.hash }
        const listed = new Set(touchedKeys(t, ctx, (k) => w.state.get(k)).keys)
        const state = recording(w.state)
        getSenderNonce(state, t.from)
        const receipt = executeTx(state, t, ctx)
        accessControlApp.setSenderNonce(state, t.from, t.nonce + 1)
        for (const k of state.reads) assert.ok(listed.has(k), `${tx} by ${role} (${receipt.code}) read ${k}, which is not listed`)
        // granted transactions that do not vote read exactly their list (a vote lists what passing it would read)
        if (receipt.code === 'OK' && tx !== 'Vote' && tx !== 'ProposeValidator') {
          assert.deepEqual([...listed].sort(), [...state.reads].sort(), `${tx} by ${role}: listed keys that were not read`)
          exactWhenGranted++
        }
      }
    }
    assert.ok(exactWhenGranted >= 20, `only ${exactWhenGranted} granted cases compared`)
  })

  it('lists an access by a grantee as its identity, hospital, the record, the grant index and grants, and the emergency window', () => {
    const w = world.clone()
    const grantId = w.id('grant-b')
    const t = txOf(w, 'doctor-b', { type: TxType.AccessRecord, recordId: w.id('obs'), purpose: Purpose.Treatment })
    assert.deepEqual(touchedKeys(t, blockCtx(w), (k) => w.state.get(k)), {
      complete: true,
      keys: [
        StateKeys.entity(pk('doctor-b')), StateKeys.entity(pk('hospital-b')), StateKeys.record(w.id('obs')),
        StateKeys.grantIndex(pk('patient'), pk('doctor-b')), StateKeys.grant(grantId), StateKeys.emergencyWindow(pk('doctor-b'), pk('patient'))
      ]
    })
  })

  it('is incomplete while a value it derives keys from is not loaded, listing only what it can tell', () => {
    const w = world.clone()
    const t = txOf(w, 'doctor-b', { type: TxType.AccessRecord, recordId: w.id('obs'), purpose: Purpose.Treatment })
    assert.deepEqual(touchedKeys(t, blockCtx(w), () => NOT_LOADED), {
      complete: false,
      keys: [StateKeys.entity(pk('doctor-b')), StateKeys.record(w.id('obs'))]
    })
  })

  it('lists the keys derived from records, identities and proposals created earlier in the same block', () => {
    const w = world.clone()
    // doctor anchors an Encounter (grant-b to doctor-b covers Encounter), then doctor-b reads it and
    // the patient shares its key with doctor-b, all in one block
    const anchor = txOf(w, 'doctor', anchorPayload('patient', 'Encounter', 'same-block'))
    const recordId = recordIdOf(w.chainId, anchor.hash)
    const access = txOf(w, 'doctor-b', { type: TxType.AccessRecord, recordId, purpose: Purpose.Treatment })
    const share = txOf(w, 'patient', { type: TxType.ShareKeys, recipient: pk('doctor-b'), envelopes: [{ recordId, wrappedKey: new Uint8Array(48) }] })
    const index = StateKeys.grantIndex(pk('patient'), pk('doctor-b'))
    const read = (k: string): Uint8Array | undefined => w.state.get(k)
    assert.ok(!touchedKeys(access, blockCtx(w), read).keys.includes(index), 'alone, the access cannot know the new record\'s patient')
    assert.ok(touchedKeys(access, blockCtx(w), read, [anchor]).keys.includes(index))
    assert.ok(blockTouchedKeys([anchor, access, share], blockCtx(w), read).keys.includes(StateKeys.emergencyWindow(pk('doctor-b'), pk('patient'))))

    const loaded = prefetchBlockKeysSync([anchor, access, share], blockCtx(w), (keys) => new Map(keys.map((k) => [k, w.state.get(k)])))
    assert.deepEqual(executeStrictly(w, [anchor, access, share], loaded).codes, ['OK', 'OK', 'OK'])
  })

  it('covers a clinician registered and a hospital proposed earlier in the same block', () => {
    const w = TestChain.withHospitals(HOSPITALS)
    w.registerClinician('hospital-a', 'doctor')
    w.enrol('doctor', 'patient')
    w.commitBlock()
    const register = txOf(w, 'hospital-a', { type: TxType.RegisterClinician, publicKey: pk('fresh-doctor'), name: 'fresh', role: 1 })
    const grant = txOf(w, 'patient', { type: TxType.Grant, grantee: pk('fresh-doctor'), recordTypes: ['*'], recordIds: [], purpose: Purpose.Treatment, expiresAt: w.timestamp + 1e6, envelopes: [] })
    const emergency = makeTx(key('fresh-doctor'), 0, { type: TxType.EmergencyAccess, patient: pk('patient'), reason: 'first shift' }, w.chainId)
    const open = txOf(w, 'hospital-a/validator', { type: TxType.RegisterHospital, publicKey: pk('st-new'), name: 'St New' })
    const votes = ['hospital-b', 'hospital-c'].map((h) => txOf(w, `${h}/validator`, { type: TxType.Vote, proposalId: open.hash, approve: true }))
    const txs = [register, grant, emergency, open, ...votes]
    const keys = touchedKeys(votes[0] as Tx, blockCtx(w), (k) => w.state.get(k), txs.slice(0, 4)).keys
    assert.ok(keys.includes(StateKeys.entity(pk('st-new'))), 'a vote that may pass an add-hospital proposal lists the subject')
    const loaded = prefetchBlockKeysSync(txs, blockCtx(w), (k) => new Map(k.map((x) => [x, w.state.get(x)])))
    assert.deepEqual(executeStrictly(w, txs, loaded).codes, ['OK', 'OK', 'OK', 'OK', 'OK', 'OK'])
  })

  it('lists what the end of the block reads: liveness with a lastCommit, and each scheduled change\'s proposal and keys', () => {
    const w = world.clone()
    w.strict = {}
    assert.deepEqual(endBlockKeys(blockCtx(w), (k) => w.state.get(k)).keys, [StateKeys.validatorSet, StateKeys.pendingValidatorChanges(w.height + 1)])
    const v = (h: string): string => `${h}/validator`
    const p = w.ok(v('hospital-a'), { type: TxType.ProposeValidator, action: ValidatorAction.Add, validator: pk('joining'), hospital: pk('hospital-c'), power: 1 })
    w.ok(v('hospital-b'), { type: TxType.Vote, proposalId: p.tx.hash, approve: true })
    w.ok(v('hospital-c'), { type: TxType.Vote, proposalId: p.tx.hash, approve: true })
    w.commitBlock()
    w.lastCommitSigners = HOSPITALS.map((h) => pk(v(h)))
    assert.deepEqual(endBlockKeys(blockCtx(w), (k) => w.state.get(k)), {
      complete: true,
      keys: [
        StateKeys.validatorSet, StateKeys.validatorLiveness, StateKeys.pendingValidatorChanges(w.height + 1),
        StateKeys.proposal(p.tx.hash), StateKeys.entity(pk('joining')), StateKeys.entity(pk('hospital-c'))
      ]
    })
    const loaded = prefetchBlockKeysSync([], blockCtx(w), (k) => new Map(k.map((x) => [x, w.state.get(x)])))
    executeStrictly(w, [], loaded)
    w.commitBlock() // and the harness's strict replay of the block, with the state compared, agrees
  })

  it('reaches its fixed point in at most MAX_PREFETCH_ROUNDS batched loads, each key loaded once', async () => {
    assert.equal(MAX_PREFETCH_ROUNDS, 3)
    const w = world.clone()
    // a record → its patient's grant index → the grants: the deepest chain, three loads
    const access = txOf(w, 'doctor-b', { type: TxType.AccessRecord, recordId: w.id('obs'), purpose: Purpose.Treatment })
    const deep = countingLoader(w.state)
    await prefetchBlockKeys([access], blockCtx(w), async (keys) => deep.load(keys))
    assert.equal(deep.calls.length, 3)
    assert.deepEqual(deep.calls[2], [StateKeys.grant(w.id('grant-b'))])
    // every base transaction type in one block (one per signer, in nonce order)
    const nonces = new Map<string, number>()
    const txs = TX_NAMES.map((name) => {
      const signer = name === 'Grant' || name === 'Revoke' ? 'patient' : name === 'RegisterHospital' || name === 'ProposeValidator' || name === 'Vote' ? 'hospital-a/validator' : name === 'RegisterClinician' || name === 'RegisterOrganization' || name === 'Deactivate' ? 'hospital-a' : 'doctor'
      const offset = nonces.get(signer) ?? 0
      nonces.set(signer, offset + 1)
      return txOf(w, signer, BASE_PAYLOAD[name](w, signer === 'patient' ? 'patient' : 'doctor'), offset)
    })
    const all = countingLoader(w.state)
    const loaded = await prefetchBlockKeys(txs, { ...blockCtx(w), lastCommitSigners: HOSPITALS.map((h) => pk(`${h}/validator`)) }, async (keys) => all.load(keys))
    assert.ok(all.calls.length <= MAX_PREFETCH_ROUNDS)
    w.lastCommitSigners = HOSPITALS.map((h) => pk(`${h}/validator`))
    const { codes } = executeStrictly(w, txs, loaded)
    assert.equal(codes.length, TX_NAMES.length)
  })
})

describe('StrictState', () => {
  const a = new Uint8Array([1])
  const b = new Uint8Array([2])

  it('reads loaded values, keys loaded as absent, and its own writes and deletions', () => {
    const s = new StrictState(new Map([['x', a], ['absent', undefined]]))
    assert.deepEqual(s.get('x'), a)
    assert.equal(s.get('absent'), undefined)
    s.set('new', b)
    assert.deepEqual(s.get('new'), b)
    s.delete('x')
    assert.equal(s.get('x'), undefined)
    s.appendAudit(a, b)
    assert.deepEqual([...s.writes], [['new', b], ['x', null]])
    assert.deepEqual(s.appendedAudit, [{ patient: a, entry: b }])
    assert.deepEqual(s.misses, [])
    s.assertNoMisses()
  })

  it('throws STATE_KEY_NOT_LOADED naming any other key, records it, and keeps throwing it from assertNoMisses', () => {
    const s = new StrictState(new Map([['x', a]]))
    assert.throws(() => s.get('entity/abc'), isNotLoaded('entity/abc'))
    assert.deepEqual(s.misses, ['entity/abc'])
    assert.throws(() => { s.assertNoMisses() }, isNotLoaded('entity/abc'))
  })

  it('passes writes and audit entries on to a mirror, and reads only what was loaded or written', () => {
    const mirror = new MemoryState()
    mirror.set('hidden', a)
    const s = new StrictState(new Map(), mirror)
    s.set('k', b)
    s.appendAudit(a, b)
    s.delete('hidden')
    assert.deepEqual(mirror.values.get('k'), b)
    assert.equal(mirror.values.has('hidden'), false)
    assert.equal(mirror.audit.length, 1)
    assert.throws(() => s.get('other'), isNotLoaded('other'))
  })

  it('refuses a key-list function that needs more loads than its bound, or stops without listing what it reads', async () => {
    let n = 0
    const endless = (): { keys: string[], complete: boolean } => ({ keys: [`k${n++}`], complete: false })
    await assert.rejects(loadTouchedKeys(endless, async (keys) => new Map(keys.map((k) => [k, a])), 3), (err: unknown) => hasErrorCode(err, 'STATE_PREFETCH_TOO_MANY_ROUNDS'))
    const stuck = (): { keys: string[], complete: boolean } => ({ keys: ['k'], complete: false })
    assert.throws(() => loadTouchedKeysSync(stuck, (keys) => new Map(keys.map((k) => [k, a])), 3), (err: unknown) => hasErrorCode(err, 'STATE_PREFETCH_STUCK'))
  })
})

describe('the guard bites', () => {
  it('a grant key left out of the list stops the block with STATE_KEY_NOT_LOADED naming it, instead of a CONTRACT_INTERNAL_ERROR receipt', () => {
    const w = world.clone()
    const t = txOf(w, 'doctor-b', { type: TxType.AccessRecord, recordId: w.id('obs'), purpose: Purpose.Treatment })
    const grantKey = StateKeys.grant(w.id('grant-b'))
    const loaded = prefetchBlockKeysSync([t], blockCtx(w), (keys) => new Map(keys.map((k) => [k, w.state.get(k)])))
    assert.ok(loaded.delete(grantKey))
    const strict = new StrictState(loaded)
    assert.throws(() => executeBlockTxs(accessControlApp, strict, [t], blockCtx(w), { onInvalidTx: 'reject-block' }), isNotLoaded(grantKey),
      'executeTx rethrows the StateError instead of turning it into a receipt that would change the results root')
    assert.deepEqual(strict.writes, new Map(), 'nothing of the transaction was written')
    assert.throws(() => { strict.assertNoMisses() }, isNotLoaded(grantKey))
  })

  it('a key the end of the block reads, left out, stops the block at once', () => {
    const w = world.clone()
    const loaded = prefetchBlockKeysSync([], blockCtx(w), (keys) => new Map(keys.map((k) => [k, w.state.get(k)])))
    loaded.delete(StateKeys.pendingValidatorChanges(w.height + 1))
    assert.throws(() => executeBlockTxs(accessControlApp, new StrictState(loaded), [], blockCtx(w), { onInvalidTx: 'reject-block' }),
      isNotLoaded(StateKeys.pendingValidatorChanges(w.height + 1)))
  })

  it('the harness\'s strict mode fails a submitted transaction whose list misses a key', () => {
    const w = world.clone()
    w.strict = { omit: (k) => k.startsWith('grants/') }
    assert.throws(() => w.submit('doctor-b', { type: TxType.AccessRecord, recordId: w.id('obs'), purpose: Purpose.Treatment }),
      isNotLoaded(StateKeys.grantIndex(pk('patient'), pk('doctor-b'))))
  })
})
