import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { decodeCertificate, decodeHeader, encodeCertificate, encodeHeader, type BlockHeader, type CommitCertificate } from '../../../src/types/block.js'
import { decodeReceipt, encodeReceipt } from '../../../src/types/receipt.js'
import { encodeValidatorSet, makeValidatorSet } from '../../../src/types/validatorSet.js'
import { encodeCanonical } from '../../../src/types/codec.js'
import { fromHex, toHex } from '../../../src/crypto/bytes.js'
import { hasErrorCode } from '../../../src/util/errors.js'
import { buildRecordProof, buildTxProof } from '../../../src/proof/build.js'
import { ProofError } from '../../../src/proof/errors.js'
import type { RecordProof, TxProof } from '../../../src/proof/types.js'
import { verifyRecordProof, verifyTxProof } from '../../../src/proof/verify.js'
import { makeGenesis, makeKeys } from '../../utils/factories.js'
import { keys } from '../rpc/fixture.js'
import { openProofChain, type ProofFixture } from './fixture.js'

/** The bundle with one byte of a hex field flipped at `byteIndex` (negative: from the end). */
function flipHex (hex: string, byteIndex = -1): string {
  const bytes = fromHex(hex)
  const i = byteIndex < 0 ? bytes.length + byteIndex : byteIndex
  bytes[i] = (bytes[i] as number) ^ 0x01
  return toHex(bytes)
}

function editHeader (hex: string, edit: (h: BlockHeader) => void): string {
  const h = decodeHeader(fromHex(hex))
  edit(h)
  return toHex(encodeHeader(h))
}

function editCertificate (hex: string, edit: (c: CommitCertificate) => void): string {
  const c = decodeCertificate(fromHex(hex))
  edit(c)
  return toHex(encodeCertificate(c))
}

function assertProofError (fn: () => unknown, code: string): ProofError {
  let caught: unknown
  try { fn() } catch (err) { caught = err }
  assert.ok(caught instanceof ProofError, `expected ProofError ${code}, got ${String(caught)}`)
  assert.equal(caught.code, code, caught.message)
  assert.ok(!caught.message.includes('\n'), 'one sentence')
  return caught
}

describe('proofs: record and tx bundles verified offline against the genesis', () => {
  let f: ProofFixture
  let good: RecordProof
  let strangerAbsent: RecordProof
  let txProof: TxProof
  const clone = <T>(x: T): T => structuredClone(x)

  before(async () => {
    f = await openProofChain()
    good = await buildRecordProof(f.h.chain, f.world.records.rx, { grantee: keys.pharmacy.publicKey })
    strangerAbsent = await buildRecordProof(f.h.chain, f.world.records.rx, { grantee: keys.insurer.publicKey })
    txProof = await buildTxProof(f.h.chain, f.accessTx)
    // the bundle survives JSON
    good = JSON.parse(JSON.stringify(good)) as RecordProof
  })
  after(async () => { await f.close() })

  it('a valid record proof verifies, across the validator-set change', () => {
    assert.equal(good.validatorHistory.length, 1, 'one change of the validator set')
    const s = verifyRecordProof(good, f.h.genesis)
    assert.equal(s.record.recordId, toHex(f.world.records.rx))
    assert.equal(s.record.patient, toHex(keys.patient.publicKey))
    assert.equal(s.record.resourceType, 'MedicationRequest')
    assert.equal(s.record.supersededBy, null)
    assert.equal(s.anchor.receipt.code, 'OK')
    assert.equal(s.anchor.txType, 'AnchorRecord')
    assert.equal(s.anchor.validatorChanges, 1)
    assert.ok(s.anchor.block.height >= 3, 'anchored after the change')
    assert.deepEqual([s.anchor.block.signedPower, s.anchor.block.totalPower, s.anchor.block.quorum], [2, 2, 2])
    assert.equal(s.head.height, f.h.chain.head.height)
    assert.deepEqual(s.consents.map((c) => [c.grantId, c.status, c.coversRecord]), [
      [toHex(f.world.grants.pharmacy), 'live', true],
      [toHex(f.world.grants.lab), 'expired', false],
      [toHex(f.world.grants.nurse), 'revoked', true]
    ])
    assert.deepEqual(s.grantee, { grantee: toHex(keys.pharmacy.publicKey), grantIds: [toHex(f.world.grants.pharmacy)], liveGrantCoversRecord: true })
  })

  it('a tx proof of an access on the patient\'s trail verifies', () => {
    const s = verifyTxProof(txProof, f.h.genesis)
    assert.equal(s.txHash, toHex(f.accessTx))
    assert.equal(s.txType, 'AccessRecord')
    assert.equal(s.receipt.code, 'OK')
    assert.equal(s.sender, toHex(keys.pharmacy.publicKey))
  })

  it('an absence proof for a grantee never granted verifies; claiming a grant for it fails', () => {
    const s = verifyRecordProof(strangerAbsent, f.h.genesis)
    assert.deepEqual(s.grantee, { grantee: toHex(keys.insurer.publicKey), grantIds: [], liveGrantCoversRecord: false })
    const forged = clone(strangerAbsent)
    const entry = forged.state.entries.find((e) => e.key.endsWith(toHex(keys.insurer.publicKey)))
    assert.ok(entry !== undefined && entry.value === null)
    entry.value = toHex(encodeCanonical([f.world.grants.pharmacy]))
    assertProofError(() => verifyRecordProof(forged, f.h.genesis), 'PROOF_STATE')
  })

  const other = makeKeys('proof/attacker')
  const cases: Array<[string, (b: RecordProof) => void, string]> = [
    ['one byte of the tx', (b) => { b.anchor.tx = flipHex(b.anchor.tx) }, 'PROOF_TX_INCLUSION'],
    ['a Merkle sibling of the tx proof', (b) => { b.anchor.txProof.siblings[0] = flipHex(b.anchor.txProof.siblings[0] as string) }, 'PROOF_TX_INCLUSION'],
    ['the tx index', (b) => { b.anchor.txProof.index = (b.anchor.txProof.index + 1) % b.anchor.txProof.total }, 'PROOF_TX_INCLUSION'],
    ['the receipt', (b) => {
      const r = decodeReceipt(fromHex(b.anchor.receipt))
      b.anchor.receipt = toHex(encodeReceipt({ ...r, code: 'ACCESS_NO_CONSENT' }))
    }, 'PROOF_RECEIPT_INCLUSION'],
    ['the header stateRoot', (b) => { b.anchor.header = editHeader(b.anchor.header, (h) => { h.stateRoot = new Uint8Array(32) }) }, 'PROOF_COMMIT'],
    ['the header txRoot', (b) => { b.anchor.header = editHeader(b.anchor.header, (h) => { h.txRoot = new Uint8Array(32).fill(9) }) }, 'PROOF_COMMIT'],
    ['the header height', (b) => { b.anchor.header = editHeader(b.anchor.header, (h) => { h.height += 1 }) }, 'PROOF_COMMIT'],
    ['the head header stateRoot', (b) => { b.state.header = editHeader(b.state.header, (h) => { h.stateRoot = new Uint8Array(32) }) }, 'PROOF_COMMIT'],
    ['one certificate signature', (b) => {
      b.anchor.certificate = editCertificate(b.anchor.certificate, (c) => { const s = c.signatures[1]; if (s !== undefined) s.signature = fromHex(flipHex(toHex(s.signature), 0)) })
    }, 'PROOF_COMMIT'],
    ['signatures dropped below quorum', (b) => { b.anchor.certificate = editCertificate(b.anchor.certificate, (c) => { c.signatures.pop() }) }, 'PROOF_COMMIT'],
    ['a forged validator set in the history', (b) => {
      const h0 = b.validatorHistory[0]
      if (h0 !== undefined) h0.validatorSet = toHex(encodeValidatorSet(makeValidatorSet([{ publicKey: other.publicKey, power: 10, hospital: keys.hospital.publicKey }])))
    }, 'PROOF_VALIDATOR_HISTORY'],
    ['the history left out', (b) => { b.validatorHistory = [] }, 'PROOF_VALIDATOR_HISTORY'],
    ['a history transition signed by someone else', (b) => {
      const h0 = b.validatorHistory[0]
      if (h0 !== undefined) h0.certificate = editCertificate(h0.certificate, (c) => { const s = c.signatures[0]; if (s !== undefined) s.validator = other.publicKey })
    }, 'PROOF_COMMIT'],
    ['a state entry value', (b) => { const e = b.state.entries[0]; if (e?.value != null) e.value = flipHex(e.value) }, 'PROOF_STATE'],
    ['an smt sibling', (b) => { const e = b.state.entries[0]; if (e !== undefined) e.proof.siblings[0] = flipHex(e.proof.siblings[0] as string) }, 'PROOF_STATE'],
    ['the smt root', (b) => { b.state.smtRoot = flipHex(b.state.smtRoot) }, 'PROOF_STATE'],
    ['a record id that does not match', (b) => { b.recordId = toHex(f.world.records.obs) }, 'PROOF_RECORD_MISMATCH'],
    ['the patient', (b) => { b.patient = toHex(keys.nurse.publicKey) }, 'PROOF_RECORD_MISMATCH'],
    ['the kind', (b) => { (b as { kind: string }).kind = 'something' }, 'PROOF_MALFORMED'],
    ['a hex field', (b) => { b.anchor.tx = 'zz' }, 'PROOF_MALFORMED'],
    ['the chain id', (b) => { b.chainId = 'other-chain' }, 'PROOF_WRONG_CHAIN']
  ]
  for (const [what, tamper, code] of cases) {
    it(`tampering with ${what} fails with ${code}`, () => {
      const b = clone(good)
      tamper(b)
      assertProofError(() => verifyRecordProof(b, f.h.genesis), code)
    })
  }

  it('names the failing validator of a bad signature', () => {
    const b = clone(good)
    const cert = decodeCertificate(fromHex(b.anchor.certificate))
    const bad = cert.signatures[1]
    assert.ok(bad !== undefined)
    bad.signature = fromHex(flipHex(toHex(bad.signature), 0))
    b.anchor.certificate = toHex(encodeCertificate(cert))
    const err = assertProofError(() => verifyRecordProof(b, f.h.genesis), 'PROOF_COMMIT')
    assert.deepEqual(err.type, { code: 'PROOF_COMMIT', part: 'block', commitCode: 'COMMIT_BAD_SIGNATURE', validator: toHex(bad.validator) })
  })

  it('fails against a wrong genesis: another validator set, or another chain', () => {
    assertProofError(() => verifyRecordProof(good, makeGenesis(['hospital-z'])), 'PROOF_VALIDATOR_HISTORY')
    assertProofError(() => verifyRecordProof(good, makeGenesis(['hospital-a'], 'other-chain')), 'PROOF_WRONG_CHAIN')
    assertProofError(() => verifyTxProof(txProof, makeGenesis(['hospital-z'])), 'PROOF_VALIDATOR_HISTORY')
  })

  it('a tx proof with a tampered tx or a record bundle passed as a tx proof fails', () => {
    const b = clone(txProof)
    b.anchor.tx = flipHex(b.anchor.tx)
    assertProofError(() => verifyTxProof(b, f.h.genesis), 'PROOF_TX_INCLUSION')
    assertProofError(() => verifyTxProof(good, f.h.genesis), 'PROOF_MALFORMED')
    assertProofError(() => verifyTxProof(null, f.h.genesis), 'PROOF_MALFORMED')
  })

  it('building refuses unknown records and txs with PROOF_UNAVAILABLE', async () => {
    await assert.rejects(buildRecordProof(f.h.chain, new Uint8Array(32)), (err) => hasErrorCode(err, 'PROOF_UNAVAILABLE'))
    await assert.rejects(buildTxProof(f.h.chain, new Uint8Array(32)), (err) => hasErrorCode(err, 'PROOF_UNAVAILABLE'))
  })
})
