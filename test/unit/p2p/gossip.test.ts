import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CodecError, encodeCanonical } from '../../../src/types/codec.js'
import { ChainError } from '../../../src/types/errors.js'
import { MAX_TX_BYTES } from '../../../src/types/limits.js'
import { MempoolError, Mempool } from '../../../src/chain/mempool.js'
import { TxType } from '../../../src/types/tx.js'
import { ConsensusError } from '../../../src/types/consensusErrors.js'
import { encodeConsensusMessage } from '../../../src/types/consensusMessage.js'
import { signVote, VoteType } from '../../../src/types/vote.js'
import { toHex } from '../../../src/crypto/bytes.js'
import { P2pError } from '../../../src/p2p/errors.js'
import {
  checkConsensusGossip, decodeTxBatch, encodeTxBatch, gossipVerdict, MAX_CONSENSUS_GOSSIP_BYTES, MAX_TX_BATCH_BYTES, MAX_TX_BATCH_TXS, packTxBatches,
  TopicValidatorResult, validateTxGossip
} from '../../../src/p2p/gossip.js'
import { nodeKeyOfPeerId, peerIdOfNodeKey } from '../../../src/p2p/peers.js'
import { bytes32, makeKeys, makeTx, TEST_CHAIN_ID } from '../../utils/factories.js'
import { nodeKey } from './helpers.js'

const { Accept, Ignore, Reject } = TopicValidatorResult

function enrol (nonce: number, signer = makeKeys('clinician')) {
  return makeTx(signer, nonce, { type: TxType.EnrolPatient, publicKey: makeKeys(`patient-${nonce}`).publicKey })
}

function mempool (registered: Record<string, number> = { [toHex(makeKeys('clinician').publicKey)]: 0 }): Mempool {
  return new Mempool({ chainId: TEST_CHAIN_ID, getAccountNonce: (pk) => registered[toHex(pk)] })
}

describe('p2p peer ids', () => {
  it('derive from the ed25519 node key exactly as libp2p derives them from the seed', async () => {
    for (const label of ['a', 'b', 'validator-7']) {
      const k = nodeKey(label)
      const libp2pId = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', k.seed))
      assert.equal(peerIdOfNodeKey(k.publicKey).toString(), libp2pId.toString())
      assert.deepEqual(nodeKeyOfPeerId(libp2pId), k.publicKey)
    }
  })

  it('refuses a key that is not 32 bytes', () => {
    assert.throws(() => peerIdOfNodeKey(new Uint8Array(33)), RangeError)
  })
})

describe('gossipVerdict: one mapping from typed errors to accept / ignore / reject', () => {
  const table: Array<[string, unknown, TopicValidatorResult]> = [
    ['no error', undefined, Accept],
    ['codec: malformed bytes', new CodecError({ code: 'CODEC_MALFORMED', offset: 0 }, 'x'), Reject],
    ['codec: non-canonical', new CodecError({ code: 'CODEC_NON_CANONICAL' }, 'x'), Reject],
    ['gossip malformed', new P2pError({ code: 'GOSSIP_MALFORMED', topic: 't', reason: 'r' }, 'x'), Reject],
    ['gossip too large', new P2pError({ code: 'GOSSIP_TOO_LARGE', topic: 't', size: 2, limit: 1 }, 'x'), Reject],
    ['bad tx signature', new ChainError({ code: 'TX_BAD_SIGNATURE' }, 'x'), Reject],
    ['tx wrong chain', new ChainError({ code: 'TX_WRONG_CHAIN', chainId: 'other' }, 'x'), Reject],
    ['consensus malformed', new ConsensusError({ code: 'MSG_MALFORMED', reason: 'r' }, 'x'), Reject],
    ['consensus bad signature', new ConsensusError({ code: 'MSG_BAD_SIGNATURE', signer: 'ab' }, 'x'), Reject],
    ['consensus wrong chain', new ConsensusError({ code: 'MSG_WRONG_CHAIN', chainId: 'other' }, 'x'), Reject],
    ['duplicate tx', new ChainError({ code: 'TX_DUPLICATE' }, 'x'), Ignore],
    ['nonce too low', new ChainError({ code: 'TX_NONCE_TOO_LOW', expected: 2, got: 1 }, 'x'), Ignore],
    ['nonce too high', new ChainError({ code: 'TX_NONCE_TOO_HIGH', expected: 2, got: 100 }, 'x'), Ignore],
    ['unknown sender (we may lag)', new ChainError({ code: 'TX_UNKNOWN_SENDER' }, 'x'), Ignore],
    ['mempool full', new MempoolError({ code: 'MEMPOOL_FULL', maxTxs: 1, maxBytes: 1 }, 'x'), Ignore],
    ['duplicate nonce', new MempoolError({ code: 'TX_DUPLICATE_NONCE', nonce: 1 }, 'x'), Ignore],
    ['stale consensus message', new P2pError({ code: 'GOSSIP_STALE', reason: 'old height' }, 'x'), Ignore],
    ['not a validator in our view', new ConsensusError({ code: 'MSG_NOT_VALIDATOR', signer: 'ab' }, 'x'), Ignore],
    ['a bug of ours, not the peer', new TypeError('boom'), Ignore]
  ]
  for (const [name, err, verdict] of table) {
    it(`${name} -> ${verdict}`, () => { assert.equal(gossipVerdict(err), verdict) })
  }
})

describe('tx batches', () => {
  it('round-trips and splits by count and size', () => {
    const txs = [enrol(0), enrol(1), enrol(2)]
    const decoded = decodeTxBatch(encodeTxBatch(txs.map((t) => t.bytes)))
    assert.deepEqual(decoded.map((t) => toHex(t.hash)), txs.map((t) => toHex(t.hash)))

    const many = Array.from({ length: MAX_TX_BATCH_TXS + 3 }, () => txs[0]!.bytes)
    const byCount = packTxBatches(many)
    assert.equal(byCount.length, 2)
    const big = new Uint8Array(MAX_TX_BYTES)
    const bySize = packTxBatches(Array.from({ length: 25 }, () => big))
    assert.ok(bySize.length >= 3)
    for (const b of bySize) assert.ok(b.length <= MAX_TX_BATCH_BYTES)
  })

  const malformed: Array<[string, Uint8Array, string]> = [
    ['random bytes', new Uint8Array([0xc1, 0x02, 0x03]), 'GOSSIP_MALFORMED'],
    ['empty list', encodeCanonical([]), 'GOSSIP_MALFORMED'],
    ['not a list', encodeCanonical('hello'), 'GOSSIP_MALFORMED'],
    ['item not bytes', encodeCanonical([7]), 'GOSSIP_MALFORMED'],
    ['too large', new Uint8Array(MAX_TX_BATCH_BYTES + 1), 'GOSSIP_TOO_LARGE'],
    ['same tx twice', encodeTxBatch([enrol(0).bytes, enrol(0).bytes]), 'GOSSIP_MALFORMED'],
    ['item not a tx', encodeTxBatch([new Uint8Array([1, 2, 3])]), 'CODEC_TRAILING_BYTES']
  ]
  for (const [name, bytes, code] of malformed) {
    it(`refuses ${name} (${code}, verdict reject)`, () => {
      assert.throws(() => decodeTxBatch(bytes), (err: unknown) => err instanceof Error && 'code' in err && (err as P2pError).code === code)
      const r = validateTxGossip(bytes, 't', () => { throw new Error('checkTx must not run') })
      assert.equal(r.verdict, Reject)
      assert.equal(r.admitted.length, 0)
    })
  }
})

describe('validateTxGossip runs the node\'s checkTx', () => {
  it('admits every tx of a good batch (accept) and then ignores the same batch (duplicates)', () => {
    const pool = mempool()
    const batch = encodeTxBatch([enrol(0).bytes, enrol(1).bytes])
    const first = validateTxGossip(batch, 't', (t) => pool.checkTx(t))
    assert.equal(first.verdict, Accept)
    assert.equal(first.admitted.length, 2)
    assert.equal(pool.size, 2)
    const again = validateTxGossip(batch, 't', (t) => pool.checkTx(t))
    assert.equal(again.verdict, Ignore)
    assert.equal(pool.size, 2)
  })

  it('rejects a batch holding a tx with a bad signature, whatever else it holds', () => {
    const pool = mempool()
    const bad = enrol(1)
    const forged = new Uint8Array(bad.bytes)
    forged[forged.length - 1]! ^= 0xff
    const r = validateTxGossip(encodeTxBatch([enrol(0).bytes, forged]), 't', (t) => pool.checkTx(t))
    assert.equal(r.verdict, Reject)
    assert.equal((r.error as ChainError).code, 'TX_BAD_SIGNATURE')
  })

  it('ignores txs of an unknown sender or a stale nonce (no penalty: we may lag)', () => {
    const pool = mempool()
    const stranger = makeTx(makeKeys('stranger'), 0, { type: TxType.EnrolPatient, publicKey: bytes32('p') })
    const r = validateTxGossip(encodeTxBatch([stranger.bytes]), 't', (t) => pool.checkTx(t))
    assert.equal(r.verdict, Ignore)
    assert.equal((r.error as ChainError).code, 'TX_UNKNOWN_SENDER')
    const stale = validateTxGossip(encodeTxBatch([enrol(0).bytes]), 't', (t) => mempool({ [toHex(makeKeys('clinician').publicKey)]: 5 }).checkTx(t))
    assert.equal(stale.verdict, Ignore)
  })

  it('rejects a tx signed for another chain', () => {
    const other = makeTx(makeKeys('clinician'), 0, { type: TxType.EnrolPatient, publicKey: bytes32('p') }, 'another-chain')
    const r = validateTxGossip(encodeTxBatch([other.bytes]), 't', (t) => mempool().checkTx(t))
    assert.equal(r.verdict, Reject)
    assert.equal((r.error as ChainError).code, 'TX_WRONG_CHAIN')
  })
})

describe('checkConsensusGossip', () => {
  const validator = makeKeys('hospital-a/validator')
  const vote = signVote({ chainId: TEST_CHAIN_ID, type: VoteType.Prevote, height: 3, round: 0, blockHash: bytes32('b'), validator: validator.publicKey }, validator)

  it('accepts a signed vote of our chain', () => {
    const msg = checkConsensusGossip(encodeConsensusMessage({ kind: 'vote', vote }), TEST_CHAIN_ID)
    assert.equal(msg.kind, 'vote')
  })

  const cases: Array<[string, () => Uint8Array, string]> = [
    ['malformed bytes', () => new Uint8Array([0x92, 0x02]), 'MSG_MALFORMED'],
    ['more than gossip carries', () => new Uint8Array(MAX_CONSENSUS_GOSSIP_BYTES + 1), 'GOSSIP_TOO_LARGE'],
    ['unknown kind', () => encodeCanonical([9, new Uint8Array(4)]), 'MSG_UNKNOWN_KIND'],
    ['wrong chain', () => encodeConsensusMessage({ kind: 'vote', vote: signVote({ ...vote, chainId: 'other' }, validator) }), 'MSG_WRONG_CHAIN'],
    ['forged signature', () => encodeConsensusMessage({ kind: 'vote', vote: { ...vote, round: 1 } }), 'MSG_BAD_SIGNATURE']
  ]
  for (const [name, bytes, code] of cases) {
    it(`refuses ${name} with ${code} (reject)`, () => {
      assert.throws(() => checkConsensusGossip(bytes(), TEST_CHAIN_ID), (err: unknown) => {
        assert.equal((err as ConsensusError).code, code)
        assert.equal(gossipVerdict(err), Reject)
        return true
      })
    })
  }

  it('runs the node\'s stateful check last and keeps its verdict (stale -> ignore)', () => {
    const stale = (): void => { throw new P2pError({ code: 'GOSSIP_STALE', reason: 'height 3 < 5' }, 'stale') }
    assert.throws(() => checkConsensusGossip(encodeConsensusMessage({ kind: 'vote', vote }), TEST_CHAIN_ID, stale), (err: unknown) => gossipVerdict(err) === Ignore)
  })
})

describe('consensus gossip frame', () => {
  it('gives each publish of the same message its own bytes (so gossipsub lets a re-send through) and unframes to the message', async () => {
    const { frameConsensusGossip, unframeConsensusGossip } = await import('../../../src/p2p/gossip.js')
    const encoded = new Uint8Array([1, 2, 3, 4])
    const a = frameConsensusGossip(encoded)
    const b = frameConsensusGossip(encoded)
    assert.notDeepEqual(a, b)
    assert.deepEqual(unframeConsensusGossip(a), encoded)
    assert.deepEqual(unframeConsensusGossip(b), encoded)
    assert.throws(() => unframeConsensusGossip(new Uint8Array(8)), (err: unknown) => (err as { code?: string }).code === 'MSG_MALFORMED')
  })
})
