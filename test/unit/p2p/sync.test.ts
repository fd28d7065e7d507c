import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { streamPair } from '@libp2p/utils'
import { encodeCanonical } from '../../../src/types/codec.js'
import { MedchainError } from '../../../src/util/errors.js'
import { P2pError } from '../../../src/p2p/errors.js'
import { peerIdOfNodeKey } from '../../../src/p2p/peers.js'
import {
  decodeBlocksRequest, decodeResponseFrame, decodeStatus, decodeStatusRequest, encodeBlockItem, encodeBlocksRequest,
  encodeEnd, encodeStatus, encodeStatusRequest, getBlocksHandler, getStatusHandler, MAX_BLOCKS_PER_REQUEST, requestBlocks,
  requestStatus, type SyncSource
} from '../../../src/p2p/sync.js'
import { nodeKey } from './helpers.js'

const peer: PeerId = peerIdOfNodeKey(nodeKey('remote').publicKey)
const connection = { remotePeer: peer } as unknown as Connection

function code (err: unknown): string {
  return err instanceof MedchainError ? String(err.code) : `not typed: ${String(err)}`
}

describe('sync frames', () => {
  it('round-trip', () => {
    decodeStatusRequest(encodeStatusRequest())
    const hash = new Uint8Array(32).fill(7)
    assert.deepEqual(decodeStatus(encodeStatus({ height: 12, hash })), { height: 12, hash })
    assert.deepEqual(decodeBlocksRequest(encodeBlocksRequest({ fromHeight: 3, count: 64, maxBytes: 1000 })), { fromHeight: 3, count: 64, maxBytes: 1000 })
    assert.deepEqual(decodeResponseFrame(encodeEnd(2)), { kind: 'end', status: 2 })
    const item = decodeResponseFrame(encodeBlockItem(new Uint8Array([1]), new Uint8Array([2])))
    assert.equal(item.kind, 'item')
  })

  const bad: Array<[string, () => unknown, string]> = [
    ['count 0', () => decodeBlocksRequest(encodeCanonical([BigInt(1), 0, 10])), 'SYNC_BAD_REQUEST'],
    [`count ${MAX_BLOCKS_PER_REQUEST + 1}`, () => decodeBlocksRequest(encodeCanonical([BigInt(1), MAX_BLOCKS_PER_REQUEST + 1, 10])), 'SYNC_BAD_REQUEST'],
    ['fromHeight 0', () => decodeBlocksRequest(encodeCanonical([BigInt(0), 1, 10])), 'SYNC_BAD_REQUEST'],
    ['maxBytes 0', () => decodeBlocksRequest(encodeCanonical([BigInt(1), 1, 0])), 'SYNC_BAD_REQUEST'],
    ['height not u64', () => decodeBlocksRequest(encodeCanonical([1, 1, 10])), 'SYNC_BAD_FRAME'],
    ['a status where a request is due (wrong order)', () => decodeBlocksRequest(encodeStatus({ height: 1, hash: new Uint8Array(32) })), 'SYNC_BAD_FRAME'],
    ['a request where a status is due (wrong order)', () => decodeStatus(encodeBlocksRequest({ fromHeight: 1, count: 1, maxBytes: 1 })), 'SYNC_BAD_FRAME'],
    ['status version 2', () => decodeStatusRequest(encodeCanonical([2])), 'SYNC_BAD_FRAME'],
    ['status hash of 31 bytes', () => decodeStatus(encodeCanonical([BigInt(1), new Uint8Array(31)])), 'SYNC_BAD_FRAME'],
    ['response frame of 3 fields', () => decodeResponseFrame(encodeCanonical([1, 2, 3])), 'SYNC_BAD_FRAME'],
    ['non-canonical frame', () => decodeStatusRequest(new Uint8Array([0x91, 0xcc, 0x01])), 'SYNC_BAD_FRAME'],
    ['trailing bytes', () => decodeStatusRequest(new Uint8Array([0x91, 0x01, 0x00])), 'SYNC_BAD_FRAME']
  ]
  for (const [name, run, expected] of bad) {
    it(`refuses ${name} with ${expected}`, () => {
      assert.throws(run, (err: unknown) => code(err) === expected)
    })
  }

  it('random bytes never crash a decoder: typed P2pError or a value', () => {
    const decoders = [decodeStatusRequest, decodeStatus, decodeBlocksRequest, decodeResponseFrame]
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      for (const decode of decoders) {
        try {
          decode(bytes)
        } catch (err) {
          if (!(err instanceof P2pError)) throw err
        }
      }
    }), { numRuns: 2000 })
  })
})

/** Runs `handler` on the inbound end of an in-memory stream pair; the client gets the outbound end. */
async function pairWith (handler: (stream: Stream, conn: Connection) => Promise<void>): Promise<{ openStream: () => Promise<Stream>, served: Promise<void> }> {
  const [outbound, inbound] = await streamPair()
  return { openStream: async () => outbound, served: handler(inbound, connection) }
}

const source: SyncSource = {
  head: { height: 3, hash: new Uint8Array(32).fill(3) },
  getBlockBytes: async () => new Uint8Array([0x90]), // not a block: decoding it must fail on the client
  getCertificate: async () => ({ height: 1, round: 0, blockHash: new Uint8Array(32), signatures: [] })
}

describe('sync over an in-memory stream', () => {
  it('status: request and answer', async () => {
    const { openStream, served } = await pairWith(getStatusHandler('status', { source }))
    const status = await requestStatus(peer, 'status', { openStream })
    assert.equal(status.height, 3)
    await served
  })

  it('blocks: a block that does not decode is SYNC_INVALID_BLOCK at its height', async () => {
    const { openStream, served } = await pairWith(getBlocksHandler('blocks', { source }))
    await assert.rejects(requestBlocks(peer, 'blocks', { fromHeight: 2, count: 2, maxBytes: 1000 }, { openStream }), (err: unknown) => {
      assert.equal(code(err), 'SYNC_INVALID_BLOCK')
      assert.equal((err as P2pError).type.code === 'SYNC_INVALID_BLOCK' && (err as P2pError & { type: { height: number } }).type.height, 2)
      return true
    })
    await served
  })

  it('server: a client that never sends its request is cut off after requestTimeoutMs and reported', async () => {
    const errors: string[] = []
    const { served } = await pairWith(getBlocksHandler('blocks', { source, timeouts: { requestTimeoutMs: 100 }, onPeerError: (_p, e) => errors.push(e.code) }))
    await served
    assert.deepEqual(errors, ['SYNC_TIMEOUT'])
  })

  it('server: an oversized request frame is refused before it is buffered', async () => {
    const errors: string[] = []
    const [outbound, inbound] = await streamPair()
    const served = getStatusHandler('status', { source, onPeerError: (_p, e) => errors.push(e.code) })(inbound, connection)
    outbound.send(new Uint8Array([0xff, 0xff, 0x03, 1, 2, 3])) // claims 65535 bytes
    await served
    assert.deepEqual(errors, ['SYNC_FRAME_TOO_LARGE'])
  })

  it('client: a peer that never answers is SYNC_TIMEOUT', async () => {
    const { openStream } = await pairWith(async () => { /* accepts the stream, never answers */ })
    const started = Date.now()
    await assert.rejects(requestStatus(peer, 'status', { openStream, timeouts: { responseTimeoutMs: 150 } }), (err: unknown) => code(err) === 'SYNC_TIMEOUT')
    assert.ok(Date.now() - started < 2_000)
  })
})
