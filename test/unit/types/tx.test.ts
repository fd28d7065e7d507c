import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  computeTxHash, decodeTx, encodeTx, recordIdOf, signTx, txSignatureJob, txSigningBytes, validateTxBasic, verifyTxSignature,
  TxType, TX_TYPE_NAMES, type Tx, type TxPayload, type UnsignedTx
} from '../../../src/types/tx.js'
import { CodecError, decodeCanonical, encodeCanonical, u64, type Wire } from '../../../src/types/codec.js'
import { ChainError } from '../../../src/types/errors.js'
import { MAX_TX_BYTES, TX_DECODE_LIMITS, TX_VERSION } from '../../../src/types/limits.js'
import { verify } from '../../../src/crypto/ed25519.js'
import { Domain, domainBytes, hashWithDomain } from '../../../src/crypto/hash.js'
import { concatBytes, equalBytes, toHex } from '../../../src/crypto/bytes.js'
import { MedchainError } from '../../../src/util/errors.js'
import { bytes32, makeKeys, makeTx, TEST_CHAIN_ID } from '../../utils/factories.js'

const SEED = 0x7e57
const alice = makeKeys('alice')
const bob = makeKeys('bob')

/** One sample payload of every transaction type. */
const SAMPLES: Record<string, TxPayload> = {
  RegisterHospital: { type: TxType.RegisterHospital, publicKey: makeKeys('h').publicKey, name: 'St. Mary’s Hospital' },
  RegisterClinician: { type: TxType.RegisterClinician, publicKey: makeKeys('c').publicKey, name: 'Dr. Ana Souza', role: 1 },
  RegisterOrganization: { type: TxType.RegisterOrganization, publicKey: makeKeys('o').publicKey, name: 'City Lab', kind: 2 },
  EnrolPatient: { type: TxType.EnrolPatient, publicKey: makeKeys('p').publicKey },
  Deactivate: { type: TxType.Deactivate, target: makeKeys('c').publicKey, reason: 'left the hospital' },
  AnchorRecord: {
    type: TxType.AnchorRecord,
    patient: makeKeys('p').publicKey,
    resourceType: 'Observation',
    contentHash: bytes32('content'),
    size: 123_456,
    blobRef: 'blob://hospital-a/obs/1',
    envelopes: [{ recipient: makeKeys('p').publicKey, wrappedKey: new Uint8Array(80).fill(1) }, { recipient: makeKeys('c').publicKey, wrappedKey: new Uint8Array(80).fill(2) }],
    supersedes: bytes32('older record')
  },
  Grant: {
    type: TxType.Grant,
    grantee: makeKeys('o').publicKey,
    recordTypes: ['Observation', 'MedicationRequest'],
    recordIds: [bytes32('r1'), bytes32('r2')],
    purpose: 2,
    expiresAt: Date.UTC(2027, 0, 1),
    envelopes: [{ recordId: bytes32('r1'), wrappedKey: new Uint8Array(80).fill(3) }]
  },
  Revoke: { type: TxType.Revoke, grantId: bytes32('grant') },
  EmergencyAccess: { type: TxType.EmergencyAccess, patient: makeKeys('p').publicKey, reason: 'unconscious patient in the ER' },
  AccessRecord: { type: TxType.AccessRecord, recordId: bytes32('r1'), purpose: 1 },
  ProposeValidator: { type: TxType.ProposeValidator, action: 1, validator: makeKeys('v').publicKey, hospital: makeKeys('h').publicKey, power: 10 },
  Vote: { type: TxType.Vote, proposalId: bytes32('proposal'), approve: true },
  Evidence: { type: TxType.Evidence, voteA: new Uint8Array(150).fill(4), voteB: new Uint8Array(150).fill(5) },
  ShareKeys: { type: TxType.ShareKeys, recipient: makeKeys('o').publicKey, envelopes: [{ recordId: bytes32('r1'), wrappedKey: new Uint8Array(93).fill(6) }] }
}

function expectError (fn: () => unknown, code: string, cls?: typeof CodecError | typeof ChainError): MedchainError<{ code: string }> {
  let caught: unknown
  try { fn() } catch (err) { caught = err }
  assert.ok(caught instanceof MedchainError, `expected ${code}, got ${caught === undefined ? 'no error' : String(caught)}`)
  assert.equal(caught.code, code)
  if (cls !== undefined) assert.ok(caught instanceof cls, `expected a ${cls.name}`)
  return caught
}

/** The decoded wire tuple of a transaction, deep-copied so that it can be broken. */
function wireOf (tx: Tx): Wire[] {
  return decodeCanonical(tx.bytes, TX_DECODE_LIMITS) as Wire[]
}

function withField (tx: Tx, path: number[], value: Wire | ((old: Wire) => Wire)): Uint8Array {
  const root = structuredCloneWire(wireOf(tx)) as Wire[]
  let parent = root
  for (const i of path.slice(0, -1)) parent = parent[i] as Wire[]
  const last = path[path.length - 1] as number
  parent[last] = typeof value === 'function' ? value(parent[last] as Wire) : value
  return encodeCanonical(root)
}

function structuredCloneWire (w: Wire): Wire {
  if (Array.isArray(w)) return w.map(structuredCloneWire)
  if (w instanceof Uint8Array) return new Uint8Array(w)
  return w
}

// ---------------------------------------------------------------------------------------------

void describe('tx: every type signs, encodes, decodes and verifies', () => {
  void it('the samples cover all 14 transaction types', () => {
    assert.deepEqual(Object.values(SAMPLES).map((p) => p.type).sort((a, b) => a - b), Object.values(TxType).sort((a, b) => a - b))
    assert.equal(Object.keys(TX_TYPE_NAMES).length, 14)
    for (const [name, payload] of Object.entries(SAMPLES)) assert.equal(TX_TYPE_NAMES[payload.type], name)
  })

  for (const [name, payload] of Object.entries(SAMPLES)) {
    void it(`${name} (${payload.type})`, () => {
      const tx = makeTx(alice, 7, payload)
      assert.equal(tx.version, TX_VERSION)
      assert.equal(tx.bytes[0], 0x97)
      const decoded = decodeTx(tx.bytes)
      assert.deepEqual(decoded, tx)
      assert.equal(verifyTxSignature(tx), true)
      assert.equal(verifyTxSignature(decoded), true)
      validateTxBasic(decoded, { chainId: TEST_CHAIN_ID })
      assert.deepEqual(tx.hash, computeTxHash(TEST_CHAIN_ID, tx.bytes))
      assert.deepEqual(tx.hash, hashWithDomain(Domain.txId, TEST_CHAIN_ID, tx.bytes))

      // the re-encoding-free signing bytes used by verifyTxSignature are the real signing bytes
      const unsigned: UnsignedTx = { chainId: tx.chainId, from: tx.from, nonce: tx.nonce, payload: tx.payload }
      const signingBytes = txSigningBytes(unsigned)
      assert.equal(verify(tx.from, signingBytes, tx.signature), true)
      const job = txSignatureJob(decoded)
      assert.equal(toHex(job.message), toHex(signingBytes))
      assert.deepEqual(job.publicKey, tx.from)
      assert.deepEqual(job.signature, tx.signature)
      assert.equal(toHex(signingBytes), toHex(concatBytes(domainBytes(Domain.tx, TEST_CHAIN_ID),
        encodeCanonical([TX_VERSION, TEST_CHAIN_ID, payload.type, tx.from, u64(7), (wireOf(tx)[5] as Wire)]))))
    })
  }

  void it('optional fields left out roundtrip without the key (AnchorRecord.supersedes, ProposeValidator.hospital)', () => {
    const { supersedes: _s, ...anchor } = SAMPLES.AnchorRecord as Extract<TxPayload, { type: 6 }>
    const { hospital: _h, ...propose } = SAMPLES.ProposeValidator as Extract<TxPayload, { type: 11 }>
    for (const payload of [anchor, propose, { type: TxType.Vote, proposalId: bytes32('x'), approve: false }] as TxPayload[]) {
      const tx = makeTx(alice, 0, payload)
      assert.deepEqual(decodeTx(tx.bytes), tx)
      assert.equal(verifyTxSignature(tx), true)
    }
  })

  void it('the hash and the signature depend on chain id, nonce and sender', () => {
    const payload = SAMPLES.Revoke as TxPayload
    const base = makeTx(alice, 1, payload)
    const hashes = [base, makeTx(alice, 2, payload), makeTx(alice, 1, payload, 'other-chain'), makeTx(bob, 1, payload)].map((t) => toHex(t.hash))
    assert.equal(new Set(hashes).size, 4)
    // a signature for one chain does not verify for another
    const other = makeTx(alice, 1, payload, 'other-chain')
    const transplanted = decodeTx(encodeTx({ ...other, signature: base.signature }))
    assert.equal(verifyTxSignature(transplanted), false)
  })

  void it('recordIdOf is deterministic and chain-separated', () => {
    const h = makeTx(alice, 1, SAMPLES.AnchorRecord as TxPayload).hash
    assert.deepEqual(recordIdOf(TEST_CHAIN_ID, h), recordIdOf(TEST_CHAIN_ID, h))
    assert.notDeepEqual(recordIdOf(TEST_CHAIN_ID, h), recordIdOf('other', h))
  })

  void it('signTx refuses a signer that is not the sender', () => {
    assert.throws(() => signTx({ chainId: TEST_CHAIN_ID, from: bob.publicKey, nonce: 0, payload: SAMPLES.Revoke as TxPayload }, alice), TypeError)
  })
})

// ---------------------------------------------------------------------------------------------

void describe('tx: malleate table (take a valid tx, break one thing, expect one code)', () => {
  const valid = makeTx(alice, 3, SAMPLES.RegisterHospital as TxPayload)
  const grant = makeTx(alice, 3, SAMPLES.Grant as TxPayload)
  const access = makeTx(alice, 3, SAMPLES.AccessRecord as TxPayload)
  const anchor = makeTx(alice, 3, SAMPLES.AnchorRecord as TxPayload)
  const vote = makeTx(alice, 3, SAMPLES.Vote as TxPayload)
  const flipped = new Uint8Array(valid.signature)
  flipped[10] = (flipped[10] as number) ^ 1

  const oversize = makeTx(alice, 3, {
    ...(SAMPLES.AnchorRecord as Extract<TxPayload, { type: 6 }>),
    envelopes: Array.from({ length: 256 }, (_, i) => ({ recipient: makeKeys('p').publicKey, wrappedKey: new Uint8Array(512).fill(i & 0xff) }))
  })

  interface Row { name: string, run: () => unknown, code: string, cls: typeof CodecError | typeof ChainError }
  const decodeRow = (name: string, bytes: () => Uint8Array, code: string, cls: typeof CodecError | typeof ChainError = CodecError): Row =>
    ({ name, run: () => decodeTx(bytes()), code, cls })
  const validateRow = (name: string, tx: () => Tx, code: string): Row =>
    ({ name, run: () => validateTxBasic(tx(), { chainId: TEST_CHAIN_ID }), code, cls: ChainError })

  const rows: Row[] = [
    validateRow('signed for another chain', () => makeTx(alice, 3, SAMPLES.RegisterHospital as TxPayload, 'other-chain'), 'TX_WRONG_CHAIN'),
    validateRow('one bit of the signature flipped', () => decodeTx(encodeTx({ ...valid, signature: flipped })), 'TX_BAD_SIGNATURE'),
    validateRow('signed by another key', () => decodeTx(encodeTx({ ...valid, signature: bob.sign(txSigningBytes(valid)) })), 'TX_BAD_SIGNATURE'),
    validateRow('sender swapped', () => decodeTx(encodeTx({ ...valid, from: bob.publicKey })), 'TX_BAD_SIGNATURE'),
    validateRow('nonce changed after signing', () => decodeTx(encodeTx({ ...valid, nonce: 4 })), 'TX_BAD_SIGNATURE'),
    validateRow('payload changed after signing', () => decodeTx(encodeTx({ ...valid, payload: { ...(SAMPLES.RegisterHospital as Extract<TxPayload, { type: 1 }>), name: 'Evil' } })), 'TX_BAD_SIGNATURE'),
    validateRow('over MAX_TX_BYTES (validateTxBasic)', () => oversize, 'TX_TOO_LARGE'),
    decodeRow('over MAX_TX_BYTES (decodeTx)', () => oversize.bytes, 'TX_TOO_LARGE', ChainError),
    decodeRow('random bytes over MAX_TX_BYTES', () => new Uint8Array(MAX_TX_BYTES + 1), 'TX_TOO_LARGE', ChainError),
    decodeRow('unknown type 99', () => withField(valid, [2], 99), 'TX_UNKNOWN_TYPE', ChainError),
    decodeRow('unknown type 0', () => withField(valid, [2], 0), 'TX_UNKNOWN_TYPE', ChainError),
    decodeRow('version 2', () => encodeTx({ ...valid, version: 2 }), 'TX_BAD_VERSION', ChainError),
    decodeRow('version 0', () => withField(valid, [0], 0), 'TX_BAD_VERSION', ChainError),
    decodeRow('tx tuple of 6', () => encodeCanonical(wireOf(valid).slice(0, 6)), 'CODEC_WRONG_SHAPE'),
    decodeRow('tx tuple of 8', () => encodeCanonical([...wireOf(valid), 0]), 'CODEC_WRONG_SHAPE'),
    decodeRow('tx is not a tuple', () => encodeCanonical('tx'), 'CODEC_WRONG_SHAPE'),
    decodeRow('payload with an extra field', () => withField(valid, [5], (p) => [...(p as Wire[]), 'extra']), 'CODEC_WRONG_SHAPE'),
    decodeRow('payload with a missing field', () => withField(valid, [5], (p) => (p as Wire[]).slice(0, 1)), 'CODEC_WRONG_SHAPE'),
    decodeRow('payload not a tuple', () => withField(valid, [5], 'payload'), 'CODEC_WRONG_SHAPE'),
    decodeRow('nonce as u32 instead of u64', () => withField(valid, [4], 3), 'CODEC_WRONG_SHAPE'),
    decodeRow('nonce beyond 2^53', () => withField(valid, [4], 2n ** 53n), 'CODEC_WRONG_SHAPE'),
    decodeRow('version as a string', () => withField(valid, [0], '1'), 'CODEC_WRONG_SHAPE'),
    decodeRow('chain id as bytes', () => withField(valid, [1], new Uint8Array(3)), 'CODEC_WRONG_SHAPE'),
    decodeRow('chain id longer than 64', () => withField(valid, [1], 'c'.repeat(65)), 'CODEC_WRONG_SHAPE'),
    decodeRow('type as u64', () => withField(valid, [2], 1n), 'CODEC_WRONG_SHAPE'),
    decodeRow('from of 31 bytes', () => withField(valid, [3], new Uint8Array(31)), 'CODEC_WRONG_SHAPE'),
    decodeRow('from of 33 bytes', () => withField(valid, [3], new Uint8Array(33)), 'CODEC_WRONG_SHAPE'),
    decodeRow('from as a string', () => withField(valid, [3], 'alice'), 'CODEC_WRONG_SHAPE'),
    decodeRow('signature of 63 bytes', () => withField(valid, [6], new Uint8Array(63)), 'CODEC_WRONG_SHAPE'),
    decodeRow('payload key of 31 bytes', () => withField(valid, [5, 0], new Uint8Array(31)), 'CODEC_WRONG_SHAPE'),
    decodeRow('payload name as bytes', () => withField(valid, [5, 1], new Uint8Array(4)), 'CODEC_WRONG_SHAPE'),
    decodeRow('empty name', () => withField(valid, [5, 1], ''), 'CODEC_WRONG_SHAPE'),
    decodeRow('name longer than 128', () => withField(valid, [5, 1], 'n'.repeat(129)), 'CODEC_WRONG_SHAPE'),
    decodeRow('purpose 0 (AccessRecord)', () => withField(access, [5, 1], 0), 'CODEC_WRONG_SHAPE'),
    decodeRow('purpose 5 (AccessRecord)', () => withField(access, [5, 1], 5), 'CODEC_WRONG_SHAPE'),
    decodeRow('purpose 0 (Grant)', () => withField(grant, [5, 3], 0), 'CODEC_WRONG_SHAPE'),
    decodeRow('purpose 5 (Grant)', () => withField(grant, [5, 3], 5), 'CODEC_WRONG_SHAPE'),
    decodeRow('empty record type in a grant', () => withField(grant, [5, 1, 0], ''), 'CODEC_WRONG_SHAPE'),
    decodeRow('record id of 31 bytes in a grant', () => withField(grant, [5, 2, 0], new Uint8Array(31)), 'CODEC_WRONG_SHAPE'),
    decodeRow('grant envelope with 3 fields', () => withField(grant, [5, 5, 0], (e) => [...(e as Wire[]), new Uint8Array(1)]), 'CODEC_WRONG_SHAPE'),
    decodeRow('wrapped key over 512 bytes', () => withField(grant, [5, 5, 0, 1], new Uint8Array(513)), 'CODEC_WRONG_SHAPE'),
    decodeRow('expiresAt as u32', () => withField(grant, [5, 4], 5), 'CODEC_WRONG_SHAPE'),
    decodeRow('supersedes of 31 bytes', () => withField(anchor, [5, 6], new Uint8Array(31)), 'CODEC_WRONG_SHAPE'),
    decodeRow('empty resource type', () => withField(anchor, [5, 1], ''), 'CODEC_WRONG_SHAPE'),
    decodeRow('vote approve = 2', () => withField(vote, [5, 1], 2), 'CODEC_WRONG_SHAPE'),
    decodeRow('clinician role 3', () => withField(makeTx(alice, 0, SAMPLES.RegisterClinician as TxPayload), [5, 2], 3), 'CODEC_WRONG_SHAPE'),
    decodeRow('organization kind 0', () => withField(makeTx(alice, 0, SAMPLES.RegisterOrganization as TxPayload), [5, 2], 0), 'CODEC_WRONG_SHAPE'),
    decodeRow('validator action 3', () => withField(makeTx(alice, 0, SAMPLES.ProposeValidator as TxPayload), [5, 0], 3), 'CODEC_WRONG_SHAPE'),
    decodeRow('empty emergency reason', () => withField(makeTx(alice, 0, SAMPLES.EmergencyAccess as TxPayload), [5, 1], ''), 'CODEC_WRONG_SHAPE'),
    decodeRow('evidence vote over 256 bytes', () => withField(makeTx(alice, 0, SAMPLES.Evidence as TxPayload), [5, 0], new Uint8Array(257)), 'CODEC_WRONG_SHAPE'),
    decodeRow('trailing byte', () => concatBytes(valid.bytes, new Uint8Array([0])), 'CODEC_TRAILING_BYTES'),
    decodeRow('truncated', () => valid.bytes.subarray(0, valid.bytes.length - 1), 'CODEC_MALFORMED'),
    decodeRow('nonce in a non-minimal header (array16 tx tuple)', () => concatBytes(new Uint8Array([0xdc, 0x00, 0x07]), valid.bytes.subarray(1)), 'CODEC_NON_CANONICAL')
  ]

  void it('the untouched transaction passes', () => {
    validateTxBasic(decodeTx(valid.bytes), { chainId: TEST_CHAIN_ID })
    validateTxBasic(decodeTx(grant.bytes), { chainId: TEST_CHAIN_ID })
    validateTxBasic(decodeTx(anchor.bytes), { chainId: TEST_CHAIN_ID })
  })

  for (const row of rows) {
    void it(`${row.name} → ${row.code}`, () => { expectError(row.run, row.code, row.cls) })
  }

  void it('signatureVerified skips only the signature check', () => {
    const bad = decodeTx(encodeTx({ ...valid, signature: flipped }))
    validateTxBasic(bad, { chainId: TEST_CHAIN_ID, signatureVerified: true })
    expectError(() => validateTxBasic(makeTx(alice, 3, SAMPLES.Revoke as TxPayload, 'x'), { chainId: TEST_CHAIN_ID, signatureVerified: true }), 'TX_WRONG_CHAIN')
  })
})

// ---------------------------------------------------------------------------------------------

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 })
const hash32 = key32
const text = (min: number, max: number): fc.Arbitrary<string> => fc.string({ unit: 'binary', minLength: min, maxLength: max }).filter((s) => s.length <= max * 2)
const u53 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
const wrapped = fc.uint8Array({ maxLength: 512 })
const purposeArb = fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const)

const payloadArb: fc.Arbitrary<TxPayload> = fc.oneof(
  fc.record({ publicKey: key32, name: text(1, 64) }).map((r): TxPayload => ({ type: TxType.RegisterHospital, ...r })),
  fc.record({ publicKey: key32, name: text(1, 64), role: fc.constantFrom(1 as const, 2 as const) }).map((r): TxPayload => ({ type: TxType.RegisterClinician, ...r })),
  fc.record({ publicKey: key32, name: text(1, 64), kind: fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const) }).map((r): TxPayload => ({ type: TxType.RegisterOrganization, ...r })),
  fc.record({ publicKey: key32 }).map((r): TxPayload => ({ type: TxType.EnrolPatient, ...r })),
  fc.record({ target: key32, reason: text(0, 200) }).map((r): TxPayload => ({ type: TxType.Deactivate, ...r })),
  fc.record({
    patient: key32, resourceType: text(1, 32), contentHash: hash32, size: u53, blobRef: text(0, 128),
    envelopes: fc.array(fc.record({ recipient: key32, wrappedKey: wrapped }, { noNullPrototype: true }), { maxLength: 4 }),
    supersedes: fc.option(hash32, { nil: undefined })
  }).map(({ supersedes, ...r }): TxPayload => ({ type: TxType.AnchorRecord, ...r, ...(supersedes !== undefined ? { supersedes } : {}) })),
  fc.record({
    grantee: key32, recordTypes: fc.array(text(1, 32), { maxLength: 32 }), recordIds: fc.array(hash32, { maxLength: 8 }), purpose: purposeArb,
    expiresAt: u53, envelopes: fc.array(fc.record({ recordId: hash32, wrappedKey: wrapped }, { noNullPrototype: true }), { maxLength: 4 })
  }).map((r): TxPayload => ({ type: TxType.Grant, ...r })),
  fc.record({ grantId: hash32 }).map((r): TxPayload => ({ type: TxType.Revoke, ...r })),
  fc.record({ patient: key32, reason: text(1, 200) }).map((r): TxPayload => ({ type: TxType.EmergencyAccess, ...r })),
  fc.record({ recordId: hash32, purpose: purposeArb }).map((r): TxPayload => ({ type: TxType.AccessRecord, ...r })),
  fc.record({ action: fc.constantFrom(1 as const, 2 as const), validator: key32, hospital: fc.option(key32, { nil: undefined }), power: fc.nat({ max: 0xffffffff }) })
    .map(({ hospital, ...r }): TxPayload => ({ type: TxType.ProposeValidator, ...r, ...(hospital !== undefined ? { hospital } : {}) })),
  fc.record({ proposalId: hash32, approve: fc.boolean() }).map((r): TxPayload => ({ type: TxType.Vote, ...r })),
  fc.record({ voteA: fc.uint8Array({ maxLength: 256 }), voteB: fc.uint8Array({ maxLength: 256 }) }).map((r): TxPayload => ({ type: TxType.Evidence, ...r })),
  fc.record({ recipient: key32, envelopes: fc.array(fc.record({ recordId: hash32, wrappedKey: wrapped }, { noNullPrototype: true }), { maxLength: 4 }) })
    .map((r): TxPayload => ({ type: TxType.ShareKeys, ...r }))
)

void describe('tx: properties', () => {
  void it('random valid payloads of every type roundtrip and verify', () => {
    const seenTypes = new Set<number>()
    fc.assert(fc.property(payloadArb, u53, fc.constantFrom(TEST_CHAIN_ID, 'other', 'a'.repeat(64)), (payload, nonce, chainId) => {
      const tx = makeTx(alice, nonce, payload, chainId)
      const decoded = decodeTx(tx.bytes)
      assert.deepEqual(decoded, tx)
      assert.equal(verifyTxSignature(decoded), true)
      seenTypes.add(payload.type)
    }), { seed: SEED, numRuns: 400 })
    assert.equal(seenTypes.size, 14)
  })

  void it('random mutations of a valid tx: a typed error, or a tx whose signature fails, or the original', () => {
    const txs = Object.values(SAMPLES).map((p, i) => makeTx(alice, i, p))
    const outcomes = { error: 0, badSignature: 0 }
    fc.assert(fc.property(fc.nat({ max: txs.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }), (which, edits) => {
      const original = txs[which] as Tx
      const bytes = new Uint8Array(original.bytes)
      for (const [where, byte] of edits) bytes[where % bytes.length] = byte
      let decoded: Tx
      try {
        decoded = decodeTx(bytes)
      } catch (err) {
        assert.ok(err instanceof CodecError || err instanceof ChainError, `unexpected ${String(err)}`)
        outcomes.error++
        return
      }
      if (equalBytes(bytes, original.bytes)) {
        assert.deepEqual(decoded, original)
      } else {
        assert.equal(verifyTxSignature(decoded), false, `mutated tx still verifies: ${toHex(bytes)}`)
        outcomes.badSignature++
      }
    }), { seed: SEED, numRuns: 2000 })
    assert.ok(outcomes.error > 100 && outcomes.badSignature > 100, JSON.stringify(outcomes))
  })

  void it('random bytes never decode to anything but a typed error', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try { decodeTx(bytes) } catch (err) { assert.ok(err instanceof CodecError || err instanceof ChainError, String(err)) }
    }), { seed: SEED, numRuns: 1000 })
  })
})
