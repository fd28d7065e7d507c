import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodeVote, encodeVote, signVote, verifyConsensusSignature, verifyVoteSignature, voteSigningBytes, VoteType, VOTE_VERSION, type UnsignedVote, type Vote } from '../../../src/types/vote.js'
import { CodecError, decodeCanonical, encodeCanonical, type Wire } from '../../../src/types/codec.js'
import { MAX_VOTE_BYTES } from '../../../src/types/limits.js'
import { Domain, domainBytes } from '../../../src/crypto/hash.js'
import { toHex } from '../../../src/crypto/bytes.js'
import { bytes32, makeKeys, TEST_CHAIN_ID } from '../../utils/factories.js'

const SEED = 0x7073
const v1 = makeKeys('v1')
const v2 = makeKeys('v2')

function unsigned (overrides: Partial<UnsignedVote> = {}): UnsignedVote {
  return { chainId: TEST_CHAIN_ID, type: VoteType.Precommit, height: 42, round: 1, blockHash: bytes32('block 42'), validator: v1.publicKey, ...overrides }
}

function expectCode (fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CodecError, `expected CodecError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  })
}

void describe('vote', () => {
  const samples: Array<[string, UnsignedVote]> = [
    ['precommit for a block', unsigned()],
    ['prevote for a block', unsigned({ type: VoteType.Prevote })],
    ['prevote for nil', (({ blockHash: _b, ...rest }) => ({ ...rest, type: VoteType.Prevote }))(unsigned())],
    ['precommit for nil at the largest height and round, longest chain id', (({ blockHash: _b, ...rest }) => ({ ...rest, chainId: 'c'.repeat(64), height: Number.MAX_SAFE_INTEGER, round: 0xffffffff }))(unsigned())],
    ['precommit for a block at the largest height, longest chain id', unsigned({ chainId: 'c'.repeat(64), height: Number.MAX_SAFE_INTEGER, round: 0xffffffff })]
  ]

  for (const [name, u] of samples) {
    void it(`${name}: signs, verifies, roundtrips`, () => {
      const vote = signVote(u, v1)
      assert.equal(verifyVoteSignature(vote), true)
      const bytes = encodeVote(vote)
      assert.ok(bytes.length <= MAX_VOTE_BYTES, `${bytes.length} bytes`)
      const decoded = decodeVote(bytes)
      assert.deepEqual(decoded, vote)
      assert.equal(verifyVoteSignature(decoded), true)
      assert.equal(toHex(encodeVote(decoded)), toHex(bytes))
    })
  }

  void it('signing bytes are the vote domain and chain id followed by the unsigned tuple', () => {
    const u = unsigned()
    const prefix = domainBytes(Domain.vote, TEST_CHAIN_ID)
    const sb = voteSigningBytes(u)
    assert.equal(toHex(sb.subarray(0, prefix.length)), toHex(prefix))
    assert.equal(toHex(sb.subarray(prefix.length)), toHex(encodeCanonical([VOTE_VERSION, u.chainId, u.type, BigInt(u.height), u.round, u.blockHash as Uint8Array, u.validator])))
  })

  void it('any tampered field makes the signature fail, also after the genuine vote was verified (and remembered)', () => {
    const vote = signVote(unsigned(), v1)
    assert.equal(verifyVoteSignature(vote), true)
    assert.equal(verifyVoteSignature(vote), true, 'the same vote again')
    const flipped = new Uint8Array(vote.signature)
    flipped[40] = (flipped[40] as number) ^ 0x10
    const { blockHash: _b, ...nil } = vote
    const tampered: Array<[string, Vote]> = [
      ['chain id', { ...vote, chainId: 'other-chain' }],
      ['type', { ...vote, type: VoteType.Prevote }],
      ['height', { ...vote, height: 43 }],
      ['round', { ...vote, round: 0 }],
      ['block hash', { ...vote, blockHash: bytes32('block 42b') }],
      ['block hash → nil', nil],
      ['validator', { ...vote, validator: v2.publicKey }],
      ['signature bit', { ...vote, signature: flipped }],
      ['signature of another validator', { ...vote, signature: signVote(unsigned({ validator: v1.publicKey }), v2).signature }]
    ]
    for (const [name, t] of tampered) assert.equal(verifyVoteSignature(t), false, name)
    for (const [name, t] of tampered) assert.equal(verifyVoteSignature(t), false, `${name}, asked a second time`)
    // a nil vote and a vote for a block are different messages
    const nilVote = signVote((({ blockHash: _x, ...rest }) => rest)(unsigned()), v1)
    assert.equal(verifyVoteSignature({ ...nilVote, blockHash: new Uint8Array(0) }), true, 'an empty block hash encodes as nil')
    assert.equal(verifyVoteSignature({ ...nilVote, blockHash: bytes32('block 42') }), false)
  })

  void describe('decodeVote refusals', () => {
    const vote = signVote(unsigned(), v1)
    const wire = (): Wire[] => (decodeCanonical(encodeVote(vote), { maxBytes: MAX_VOTE_BYTES, maxItems: 8, maxDepth: 1 }) as Wire[]).map((x) => x instanceof Uint8Array ? new Uint8Array(x) : x)
    const edit = (i: number, value: Wire): Uint8Array => { const w = wire(); w[i] = value; return encodeCanonical(w) }
    const rows: Array<[string, () => Uint8Array, string]> = [
      ['version 2', () => edit(0, 2), 'CODEC_WRONG_SHAPE'],
      ['type 0', () => edit(2, 0), 'CODEC_WRONG_SHAPE'],
      ['type 3', () => edit(2, 3), 'CODEC_WRONG_SHAPE'],
      ['height as u32', () => edit(3, 42), 'CODEC_WRONG_SHAPE'],
      ['round as u64', () => edit(4, 1n), 'CODEC_WRONG_SHAPE'],
      ['block hash of 31 bytes', () => edit(5, new Uint8Array(31)), 'CODEC_WRONG_SHAPE'],
      ['validator of 33 bytes', () => edit(6, new Uint8Array(33)), 'CODEC_WRONG_SHAPE'],
      ['signature of 65 bytes', () => edit(7, new Uint8Array(65)), 'CODEC_WRONG_SHAPE'],
      ['chain id as bytes', () => edit(1, new Uint8Array(3)), 'CODEC_WRONG_SHAPE'],
      ['chain id of 65 characters', () => edit(1, 'c'.repeat(65)), 'CODEC_WRONG_SHAPE'],
      ['7 fields', () => encodeCanonical(wire().slice(0, 7)), 'CODEC_WRONG_SHAPE'],
      ['9 fields', () => encodeCanonical([...wire(), 0]), 'CODEC_TOO_LARGE'],
      ['nested tuple', () => edit(5, [new Uint8Array(32)]), 'CODEC_TOO_DEEP'],
      ['over MAX_VOTE_BYTES', () => edit(1, 'c'.repeat(200)), 'CODEC_TOO_LARGE'],
      ['trailing byte', () => new Uint8Array([...encodeVote(vote), 0]), 'CODEC_TRAILING_BYTES'],
      ['a nil', () => new Uint8Array([0xc0]), 'CODEC_FORBIDDEN_TYPE'],
      ['empty input', () => new Uint8Array(0), 'CODEC_MALFORMED']
    ]
    for (const [name, bytes, code] of rows) {
      void it(`${name} → ${code}`, () => { expectCode(() => decodeVote(bytes()), code) })
    }

    void it('garbage and mutated votes throw only CodecError; a mutated vote that decodes fails verification', () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try { decodeVote(bytes) } catch (err) { assert.ok(err instanceof CodecError, String(err)) }
      }), { seed: SEED, numRuns: 1000 })
      const bytes = encodeVote(vote)
      let decodedCount = 0
      fc.assert(fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), (where, byte) => {
        const mutated = new Uint8Array(bytes)
        const i = where % mutated.length
        if (mutated[i] === byte) return
        mutated[i] = byte
        let decoded: Vote
        try { decoded = decodeVote(mutated) } catch (err) { assert.ok(err instanceof CodecError, String(err)); return }
        decodedCount++
        assert.equal(verifyVoteSignature(decoded), false, toHex(mutated))
      }), { seed: SEED, numRuns: 1000 })
      assert.ok(decodedCount > 100)
    })
  })
})

void describe('verifyConsensusSignature: remembers only signatures that verified', () => {
  void it('a remembered (key, message, signature) never vouches for another key, message or signature', () => {
    const vote = signVote(unsigned({ height: 7001 }), v1)
    const message = voteSigningBytes(vote)
    assert.equal(verifyConsensusSignature(v1.publicKey, message, vote.signature), true)
    assert.equal(verifyConsensusSignature(v1.publicKey, message, vote.signature), true, 'the remembered answer')
    const flipped = new Uint8Array(vote.signature)
    flipped[5] = (flipped[5] as number) ^ 1
    assert.equal(verifyConsensusSignature(v1.publicKey, message, flipped), false)
    assert.equal(verifyConsensusSignature(v2.publicKey, message, vote.signature), false, 'same message and signature, another key')
    const otherMessage = voteSigningBytes({ ...vote, height: 7002 })
    assert.equal(verifyConsensusSignature(v1.publicKey, otherMessage, vote.signature), false, 'same key and signature, another message')
  })

  void it('a signature that failed is checked again, not remembered as failed', () => {
    const vote = signVote(unsigned({ height: 7003 }), v1)
    const message = voteSigningBytes(vote)
    const bad = new Uint8Array(vote.signature)
    bad[0] = (bad[0] as number) ^ 0x80
    assert.equal(verifyConsensusSignature(v1.publicKey, message, bad), false)
    assert.equal(verifyConsensusSignature(v1.publicKey, message, bad), false)
    assert.equal(verifyConsensusSignature(v1.publicKey, message, vote.signature), true)
  })
})
