import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { blockHash, EMPTY_COMMIT, encodeBlock, ZERO_HASH, type Block } from '../../../src/types/block.js'
import { CodecError, encodeCanonical } from '../../../src/types/codec.js'
import { MAX_VOTE_BYTES } from '../../../src/types/limits.js'
import { toHex } from '../../../src/crypto/bytes.js'
import { Domain, domainBytes } from '../../../src/crypto/hash.js'
import { ConsensusError } from '../../../src/types/consensusErrors.js'
import {
  decodeConsensusMessage, decodeProposal, encodeConsensusMessage, encodeProposal, MAX_CONSENSUS_MESSAGE_BYTES,
  MessageKind, proposalSigningBytes, PROPOSAL_VERSION, signProposal, verifyProposalSignature, type UnsignedProposal,
  type ConsensusMessage, type Proposal
} from '../../../src/types/consensusMessage.js'
import { encodeVote, signVote, VoteType } from '../../../src/types/vote.js'
import { bytes32, GENESIS_TIME, makeKeys, TEST_CHAIN_ID } from '../../utils/factories.js'

const SEED = 0x6d657373
const proposer = makeKeys('hospital-a/validator')
const other = makeKeys('hospital-b/validator')

function block (height = 7, label = 'block'): Block {
  const h = bytes32(label)
  return {
    header: {
      version: 1, chainId: TEST_CHAIN_ID, height, timestamp: GENESIS_TIME + 1000, prevHash: h, txRoot: ZERO_HASH, stateRoot: h,
      resultsRoot: h, validatorsHash: h, nextValidatorsHash: h, proposer: proposer.publicKey, lastCommitHash: ZERO_HASH
    },
    txs: [],
    lastCommit: EMPTY_COMMIT
  }
}

function unsigned (overrides: Partial<UnsignedProposal> = {}): UnsignedProposal {
  return { chainId: TEST_CHAIN_ID, height: 7, round: 2, polRound: 1, block: block(), proposer: proposer.publicKey, ...overrides }
}

function expectConsensusError (fn: () => unknown, code: string): ConsensusError {
  let caught: unknown
  assert.throws(fn, (err: unknown) => {
    caught = err
    assert.ok(err instanceof ConsensusError, `expected ConsensusError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  })
  return caught as ConsensusError
}

void describe('consensus messages', () => {
  void describe('proposal', () => {
    for (const [name, p] of [
      ['with a proof-of-lock round', unsigned()],
      ['without a proof-of-lock round', unsigned({ polRound: -1, round: 0 })],
      ['at the largest height and round', unsigned({ height: Number.MAX_SAFE_INTEGER, round: 0xfffffffe, polRound: 0xfffffffd })]
    ] as Array<[string, UnsignedProposal]>) {
      void it(`${name}: signs, verifies, round-trips canonically`, () => {
        const signed = signProposal(p, proposer)
        assert.equal(verifyProposalSignature(signed), true)
        const bytes = encodeProposal(signed)
        const decoded = decodeProposal(bytes)
        assert.deepEqual(decoded, signed)
        assert.equal(verifyProposalSignature(decoded), true)
        assert.equal(toHex(encodeProposal(decoded)), toHex(bytes))
      })
    }

    void it('wire tuple: polRound + 1 (0 = none) and the block as encoded bytes', () => {
      const signed = signProposal(unsigned({ polRound: -1, round: 0 }), proposer)
      const expected = encodeCanonical([PROPOSAL_VERSION, TEST_CHAIN_ID, 7n, 0, 0, encodeBlock(signed.block), proposer.publicKey, signed.signature])
      assert.equal(toHex(encodeProposal(signed)), toHex(expected))
    })

    void it('signing bytes are the proposal domain and chain id, then the tuple with the block HASH', () => {
      const p = unsigned()
      const prefix = domainBytes(Domain.proposal, TEST_CHAIN_ID)
      const sb = proposalSigningBytes(p)
      assert.equal(toHex(sb.subarray(0, prefix.length)), toHex(prefix))
      assert.equal(toHex(sb.subarray(prefix.length)), toHex(encodeCanonical([PROPOSAL_VERSION, TEST_CHAIN_ID, 7n, 2, 2, blockHash(p.block.header), proposer.publicKey])))
    })

    void it('any changed field, or another block, breaks the signature', () => {
      const signed = signProposal(unsigned(), proposer)
      const cases: Array<[string, Proposal]> = [
        ['chain id', { ...signed, chainId: 'other' }],
        ['height', { ...signed, height: 8 }],
        ['round', { ...signed, round: 3 }],
        ['polRound', { ...signed, polRound: 0 }],
        ['block', { ...signed, block: block(7, 'another block') }],
        ['proposer', { ...signed, proposer: other.publicKey }],
        ['signature by another key', { ...signed, signature: signProposal(unsigned(), other).signature }]
      ]
      for (const [name, p] of cases) assert.equal(verifyProposalSignature(p), false, name)
    })

    void it('refuses malformed proposals with a typed error', () => {
      const signed = signProposal(unsigned(), proposer)
      const wire = [PROPOSAL_VERSION, TEST_CHAIN_ID, 7n, 2, 2, encodeBlock(signed.block), proposer.publicKey, signed.signature]
      const withField = (i: number, v: unknown): Uint8Array => encodeCanonical(wire.map((w, j) => j === i ? v : w) as never)
      assert.throws(() => decodeProposal(withField(0, 2)), CodecError)
      assert.throws(() => decodeProposal(withField(6, new Uint8Array(31))), CodecError)
      assert.throws(() => decodeProposal(withField(7, new Uint8Array(63))), CodecError)
      assert.throws(() => decodeProposal(encodeCanonical(wire.slice(0, 7) as never)), CodecError)
      // a block that is not a block: CodecError from the block decoder, or ConsensusError
      assert.throws(() => decodeProposal(withField(5, new Uint8Array([1, 2, 3]))), (err) => err instanceof CodecError || err instanceof ConsensusError)
    })
  })

  void describe('envelope', () => {
    const vote = signVote({ chainId: TEST_CHAIN_ID, type: VoteType.Prevote, height: 7, round: 2, blockHash: bytes32('b'), validator: proposer.publicKey }, proposer)
    const samples: ConsensusMessage[] = [
      { kind: 'proposal', proposal: signProposal(unsigned(), proposer) },
      { kind: 'vote', vote },
      { kind: 'vote', vote: signVote({ chainId: TEST_CHAIN_ID, type: VoteType.Precommit, height: 7, round: 2, validator: proposer.publicKey }, proposer) }
    ]

    void it('round-trips proposals and votes', () => {
      for (const m of samples) {
        const bytes = encodeConsensusMessage(m)
        assert.deepEqual(decodeConsensusMessage(bytes), m)
      }
      assert.equal(toHex(encodeConsensusMessage(samples[1] as ConsensusMessage)), toHex(encodeCanonical([MessageKind.Vote, encodeVote(vote)])))
    })

    void it('refuses unknown kinds, oversized and malformed bytes with ConsensusError codes', () => {
      expectConsensusError(() => decodeConsensusMessage(encodeCanonical([3, encodeVote(vote)])), 'MSG_UNKNOWN_KIND')
      expectConsensusError(() => decodeConsensusMessage(encodeCanonical([MessageKind.Vote, new Uint8Array(MAX_VOTE_BYTES + 1)])), 'MSG_TOO_LARGE')
      expectConsensusError(() => decodeConsensusMessage(new Uint8Array(MAX_CONSENSUS_MESSAGE_BYTES + 1)), 'MSG_TOO_LARGE')
      // a vote payload in a proposal envelope and vice versa
      expectConsensusError(() => decodeConsensusMessage(encodeCanonical([MessageKind.Proposal, encodeVote(vote)])), 'MSG_MALFORMED')
      const ok = encodeConsensusMessage(samples[1] as ConsensusMessage)
      const withTrailing = new Uint8Array([...ok, 0])
      assert.equal(expectConsensusError(() => decodeConsensusMessage(withTrailing), 'MSG_MALFORMED').type.code, 'MSG_MALFORMED')
      expectConsensusError(() => decodeConsensusMessage(ok.subarray(0, ok.length - 1)), 'MSG_MALFORMED')
      expectConsensusError(() => decodeConsensusMessage(new Uint8Array(0)), 'MSG_MALFORMED')
      expectConsensusError(() => decodeConsensusMessage(encodeCanonical([MessageKind.Vote, 'not bytes'])), 'MSG_MALFORMED')
      expectConsensusError(() => decodeConsensusMessage(encodeCanonical([MessageKind.Vote])), 'MSG_MALFORMED')
    })

    void it('random and mutated bytes never throw anything but ConsensusError or CodecError (property, fixed seed)', () => {
      const valid = samples.map(encodeConsensusMessage)
      const check = (bytes: Uint8Array): void => {
        try {
          decodeConsensusMessage(bytes)
        } catch (err) {
          if (!(err instanceof ConsensusError) && !(err instanceof CodecError)) throw err
        }
      }
      fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => { check(bytes) }), { seed: SEED, numRuns: 2000 })
      fc.assert(fc.property(
        fc.integer({ min: 0, max: valid.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        (which, flips, cut) => {
          const base = valid[which] as Uint8Array
          const bytes = new Uint8Array(base)
          for (const [pos, value] of flips) bytes[pos % bytes.length] = value
          check(bytes)
          check(bytes.subarray(0, cut % (bytes.length + 1)))
        }
      ), { seed: SEED, numRuns: 2000 })
    })
  })
})
