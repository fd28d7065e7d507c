import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  blockHash, certificateHash, computeTxRoot, decodeBlock, decodeCertificate, decodeHeader, encodeBlock, encodeCertificate,
  encodeHeader, validateBlockBasic, EMPTY_COMMIT, ZERO_HASH, type Block, type BlockHeader, type CommitCertificate
} from '../../../src/types/block.js'
import { CodecError, decodeCanonical, encodeCanonical, type Wire } from '../../../src/types/codec.js'
import { ChainError } from '../../../src/types/errors.js'
import { BLOCK_DECODE_LIMITS, BLOCK_VERSION, MAX_BLOCK_BYTES, MAX_BLOCK_TXS, MAX_TX_BYTES } from '../../../src/types/limits.js'
import { merkleRoot } from '../../../src/types/merkle.js'
import { TxType, type Tx, type TxPayload } from '../../../src/types/tx.js'
import { Domain, hashWithDomain } from '../../../src/crypto/hash.js'
import { toHex } from '../../../src/crypto/bytes.js'
import { MedchainError } from '../../../src/util/errors.js'
import { bytes32, makeKeys, makeTx, GENESIS_TIME, TEST_CHAIN_ID } from '../../utils/factories.js'

const SEED = 0xb10c
const alice = makeKeys('alice')
const validators = [makeKeys('v1'), makeKeys('v2'), makeKeys('v3')]

function txs (n: number, chainId = TEST_CHAIN_ID): Tx[] {
  return Array.from({ length: n }, (_, i) => makeTx(alice, i, { type: TxType.AccessRecord, recordId: bytes32(`record ${i}`), purpose: 1 } satisfies TxPayload, chainId))
}

/** A fake commit certificate for `height` (signatures of the right shape; basic validation does not verify them). */
function fakeCertificate (height: number): CommitCertificate {
  const hash = bytes32(`block ${height}`)
  return { height, round: 1, blockHash: hash, signatures: validators.map((v) => ({ validator: v.publicKey, signature: v.sign(hash) })) }
}

function makeBlock (height: number, blockTxs: Tx[], overrides: Partial<BlockHeader> = {}, lastCommit: CommitCertificate = height === 1 ? EMPTY_COMMIT : fakeCertificate(height - 1)): Block {
  const header: BlockHeader = {
    version: BLOCK_VERSION,
    chainId: TEST_CHAIN_ID,
    height,
    timestamp: GENESIS_TIME + height * 1000,
    prevHash: height === 1 ? ZERO_HASH : bytes32(`block ${height - 1}`),
    txRoot: computeTxRoot(blockTxs),
    stateRoot: bytes32('state'),
    resultsRoot: bytes32('results'),
    validatorsHash: bytes32('validators'),
    nextValidatorsHash: bytes32('next validators'),
    proposer: (validators[height % 3] as typeof alice).publicKey,
    lastCommitHash: certificateHash(TEST_CHAIN_ID, lastCommit),
    ...overrides
  }
  return { header, txs: blockTxs, lastCommit }
}

function expectError (fn: () => unknown, code: string): MedchainError<{ code: string }> {
  let caught: unknown
  try { fn() } catch (err) { caught = err }
  assert.ok(caught instanceof MedchainError, `expected ${code}, got ${caught === undefined ? 'no error' : String(caught)}`)
  assert.equal(caught.code, code)
  return caught
}

const SAMPLES: Array<[string, Block]> = [
  ['height 1, no txs, EMPTY_COMMIT', makeBlock(1, [])],
  ['height 1, 1 tx', makeBlock(1, txs(1))],
  ['height 5, 7 txs, a certificate with signatures', makeBlock(5, txs(7))],
  ['height 5, no txs', makeBlock(5, [])]
]

// ---------------------------------------------------------------------------------------------

void describe('block: encoding', () => {
  for (const [name, block] of SAMPLES) {
    void it(`${name}: encode/decode roundtrip and passes validateBlockBasic`, () => {
      const bytes = encodeBlock(block)
      const decoded = decodeBlock(bytes)
      assert.deepEqual(decoded, block)
      assert.equal(toHex(encodeBlock(decoded)), toHex(bytes))
      validateBlockBasic(block, { chainId: TEST_CHAIN_ID })
      validateBlockBasic(decoded, { chainId: TEST_CHAIN_ID })
      assert.deepEqual(decodeHeader(encodeHeader(block.header)), block.header)
      assert.deepEqual(decodeCertificate(encodeCertificate(block.lastCommit)), block.lastCommit)
    })
  }

  void it('a decoded block keeps its own copy of its bytes: reusing the input buffer changes nothing', () => {
    const block = SAMPLES[2]?.[1] as Block
    const bytes = encodeBlock(block)
    const buffer = new Uint8Array(bytes)
    const decoded = decodeBlock(buffer)
    buffer.fill(0)
    assert.equal(toHex(encodeBlock(decoded)), toHex(bytes))
    // and the remembered encoding is the encoding of its fields
    const copy: Block = { header: { ...decoded.header }, txs: [...decoded.txs], lastCommit: { ...decoded.lastCommit } }
    assert.equal(toHex(encodeBlock(copy)), toHex(bytes))
  })

  void it('txRoot is the Merkle root of the tx hashes; the empty block has the root of nothing', () => {
    const seven = txs(7)
    assert.deepEqual(computeTxRoot(seven), merkleRoot(seven.map((t) => t.hash)))
    assert.deepEqual(computeTxRoot([]), merkleRoot([]))
    assert.notDeepEqual(computeTxRoot(seven), computeTxRoot([...seven].reverse()))
  })

  void it('blockHash is sha256 over the domain, chain id and encoded header', () => {
    const h = (SAMPLES[2] as [string, Block])[1].header
    assert.deepEqual(blockHash(h), hashWithDomain(Domain.block, TEST_CHAIN_ID, encodeHeader(h)))
    assert.deepEqual(blockHash(h), blockHash({ ...h }))
  })

  void it('blockHash changes when any header field changes', () => {
    const h = (SAMPLES[2] as [string, Block])[1].header
    const base = toHex(blockHash(h))
    const fields = Object.keys(h) as Array<keyof BlockHeader>
    assert.equal(fields.length, 12)
    const seen = new Set([base])
    for (const field of fields) {
      const old = h[field]
      let changed: BlockHeader[keyof BlockHeader]
      if (typeof old === 'number') changed = old + 1
      else if (typeof old === 'string') changed = old + 'x'
      else { const b = new Uint8Array(old); b[31] = (b[31] as number) ^ 1; changed = b }
      const hash = toHex(blockHash({ ...h, [field]: changed }))
      assert.notEqual(hash, base, field)
      seen.add(hash)
    }
    assert.equal(seen.size, 13)
  })

  void it('certificateHash depends on the chain, every certificate field and the signature list', () => {
    const c = fakeCertificate(4)
    const hashes = [
      certificateHash(TEST_CHAIN_ID, c),
      certificateHash('other', c),
      certificateHash(TEST_CHAIN_ID, { ...c, height: 5 }),
      certificateHash(TEST_CHAIN_ID, { ...c, round: 2 }),
      certificateHash(TEST_CHAIN_ID, { ...c, blockHash: bytes32('other block') }),
      certificateHash(TEST_CHAIN_ID, { ...c, signatures: c.signatures.slice(1) }),
      certificateHash(TEST_CHAIN_ID, { ...c, signatures: [...c.signatures].reverse() }),
      certificateHash(TEST_CHAIN_ID, EMPTY_COMMIT)
    ].map(toHex)
    assert.equal(new Set(hashes).size, hashes.length)
  })
})

// ---------------------------------------------------------------------------------------------

void describe('block: validateBlockBasic malleate table', () => {
  const seven = txs(7)
  const otherChainTx = makeTx(alice, 99, { type: TxType.Revoke, grantId: bytes32('g') }, 'other-chain')
  const withLastCommit = (c: CommitCertificate): Block => makeBlock(5, seven, {}, c)
  const rows: Array<{ name: string, block: () => Block, chainId?: string, code: string, details?: Record<string, unknown> }> = [
    { name: 'version 2', block: () => makeBlock(5, seven, { version: 2 }), code: 'BLOCK_BAD_VERSION' },
    { name: 'version 0', block: () => makeBlock(5, seven, { version: 0 }), code: 'BLOCK_BAD_VERSION' },
    { name: 'header for another chain', block: () => makeBlock(5, seven, { chainId: 'other-chain' }), code: 'BLOCK_WRONG_CHAIN' },
    { name: 'validated for another chain', block: () => makeBlock(5, seven), chainId: 'other-chain', code: 'BLOCK_WRONG_CHAIN' },
    { name: 'height 0', block: () => makeBlock(0, [], {}, EMPTY_COMMIT), code: 'BLOCK_BAD_HEIGHT' },
    { name: 'txRoot of other txs', block: () => makeBlock(5, seven, { txRoot: computeTxRoot(txs(6)) }), code: 'BLOCK_BAD_TX_ROOT' },
    { name: 'txRoot zero', block: () => makeBlock(5, seven, { txRoot: ZERO_HASH }), code: 'BLOCK_BAD_TX_ROOT' },
    { name: 'txs reordered', block: () => ({ ...makeBlock(5, seven), txs: [...seven].reverse() }), code: 'BLOCK_BAD_TX_ROOT' },
    { name: 'a tx dropped', block: () => ({ ...makeBlock(5, seven), txs: seven.slice(1) }), code: 'BLOCK_BAD_TX_ROOT' },
    { name: 'lastCommitHash of another certificate', block: () => makeBlock(5, seven, { lastCommitHash: certificateHash(TEST_CHAIN_ID, fakeCertificate(3)) }), code: 'BLOCK_BAD_LAST_COMMIT', details: { reason: 'hash mismatch' } },
    { name: 'lastCommit swapped after hashing', block: () => ({ ...makeBlock(5, seven), lastCommit: { ...fakeCertificate(4), round: 7 } }), code: 'BLOCK_BAD_LAST_COMMIT', details: { reason: 'hash mismatch' } },
    { name: 'lastCommit for height 3 at height 5', block: () => withLastCommit(fakeCertificate(3)), code: 'BLOCK_BAD_LAST_COMMIT', details: { reason: 'wrong height' } },
    { name: 'lastCommit for height 5 at height 5', block: () => withLastCommit(fakeCertificate(5)), code: 'BLOCK_BAD_LAST_COMMIT', details: { reason: 'wrong height' } },
    { name: 'EMPTY_COMMIT at height 5', block: () => withLastCommit(EMPTY_COMMIT), code: 'BLOCK_BAD_LAST_COMMIT', details: { reason: 'wrong height' } },
    { name: 'a certificate at height 1', block: () => makeBlock(1, [], {}, fakeCertificate(1)), code: 'BLOCK_BAD_LAST_COMMIT', details: { reason: 'wrong height' } },
    { name: 'duplicate tx', block: () => makeBlock(5, [...seven, seven[2] as Tx]), code: 'BLOCK_DUPLICATE_TX', details: { index: 7 } },
    { name: 'a tx of another chain', block: () => makeBlock(5, [...seven.slice(0, 3), otherChainTx, ...seven.slice(3)]), code: 'BLOCK_INVALID_TX', details: { index: 3, txCode: 'TX_WRONG_CHAIN' } },
    { name: `${MAX_BLOCK_TXS + 1} txs`, block: () => ({ ...makeBlock(5, []), txs: new Array<Tx>(MAX_BLOCK_TXS + 1).fill(seven[0] as Tx) }), code: 'BLOCK_TOO_MANY_TXS' }
  ]

  void it('the unbroken blocks pass', () => {
    validateBlockBasic(makeBlock(5, seven), { chainId: TEST_CHAIN_ID })
    validateBlockBasic(withLastCommit(fakeCertificate(4)), { chainId: TEST_CHAIN_ID })
  })

  for (const row of rows) {
    void it(`${row.name} → ${row.code}`, () => {
      const err = expectError(() => validateBlockBasic(row.block(), { chainId: row.chainId ?? TEST_CHAIN_ID }), row.code)
      assert.ok(err instanceof ChainError)
      for (const [k, v] of Object.entries(row.details ?? {})) assert.equal((err.type as Record<string, unknown>)[k], v, k)
    })
  }
})

// ---------------------------------------------------------------------------------------------

void describe('block: decodeBlock refusals', () => {
  const block = makeBlock(5, txs(7))
  const wire = (): Wire[] => {
    const w = decodeCanonical(encodeBlock(block), BLOCK_DECODE_LIMITS) as Wire[]
    const clone = (x: Wire): Wire => Array.isArray(x) ? x.map(clone) : x instanceof Uint8Array ? new Uint8Array(x) : x
    return clone(w) as Wire[]
  }
  const edit = (f: (w: Wire[]) => void): Uint8Array => { const w = wire(); f(w); return encodeCanonical(w) }
  const header = (w: Wire[]): Wire[] => w[0] as Wire[]

  const rows: Array<[string, () => Uint8Array, string]> = [
    ['header version 2', () => edit((w) => { header(w)[0] = 2 }), 'BLOCK_BAD_VERSION'],
    ['over MAX_BLOCK_BYTES', () => new Uint8Array(MAX_BLOCK_BYTES + 1), 'BLOCK_TOO_LARGE'],
    ['block tuple of 2', () => edit((w) => { w.pop() }), 'CODEC_WRONG_SHAPE'],
    ['header of 11 fields', () => edit((w) => { header(w).pop() }), 'CODEC_WRONG_SHAPE'],
    ['height as u32', () => edit((w) => { header(w)[2] = 5 }), 'CODEC_WRONG_SHAPE'],
    ['prevHash of 31 bytes', () => edit((w) => { header(w)[4] = new Uint8Array(31) }), 'CODEC_WRONG_SHAPE'],
    ['proposer as a string', () => edit((w) => { header(w)[10] = 'v1' }), 'CODEC_WRONG_SHAPE'],
    ['a tx that is not bytes', () => edit((w) => { (w[1] as Wire[])[0] = [1, 2] }), 'CODEC_WRONG_SHAPE'],
    ['a tx with a trailing byte', () => edit((w) => { const t = (w[1] as Wire[])[0] as Uint8Array; (w[1] as Wire[])[0] = new Uint8Array([...t, 0]) }), 'CODEC_TRAILING_BYTES'],
    ['a tx over MAX_TX_BYTES', () => edit((w) => { (w[1] as Wire[])[0] = new Uint8Array(MAX_TX_BYTES + 1) }), 'TX_TOO_LARGE'],
    ['commit blockHash of 31 bytes', () => edit((w) => { (w[2] as Wire[])[2] = new Uint8Array(31) }), 'CODEC_WRONG_SHAPE'],
    ['commit signature of 63 bytes', () => edit((w) => { (((w[2] as Wire[])[3] as Wire[])[0] as Wire[])[1] = new Uint8Array(63) }), 'CODEC_WRONG_SHAPE'],
    ['trailing byte', () => new Uint8Array([...encodeBlock(block), 0]), 'CODEC_TRAILING_BYTES']
  ]
  for (const [name, bytes, code] of rows) {
    void it(`${name} → ${code}`, () => { expectError(() => decodeBlock(bytes()), code) })
  }

  void it('random mutations of block bytes throw only CodecError or ChainError', () => {
    const bytes = encodeBlock(block)
    let errors = 0
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (edits) => {
      const mutated = new Uint8Array(bytes)
      for (const [where, byte] of edits) mutated[where % mutated.length] = byte
      try {
        const decoded = decodeBlock(mutated)
        assert.equal(toHex(encodeBlock(decoded)), toHex(mutated))
      } catch (err) {
        assert.ok(err instanceof CodecError || err instanceof ChainError, `unexpected ${String(err)}`)
        errors++
      }
    }), { seed: SEED, numRuns: 1000 })
    assert.ok(errors > 100)
  })

  void it('random bytes throw only CodecError or ChainError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      try { decodeBlock(bytes) } catch (err) { assert.ok(err instanceof CodecError || err instanceof ChainError, String(err)) }
      try { decodeHeader(bytes) } catch (err) { assert.ok(err instanceof CodecError || err instanceof ChainError, String(err)) }
      try { decodeCertificate(bytes) } catch (err) { assert.ok(err instanceof CodecError || err instanceof ChainError, String(err)) }
    }), { seed: SEED, numRuns: 1000 })
  })
})
