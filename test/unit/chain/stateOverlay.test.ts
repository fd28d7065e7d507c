/**
 * The per-block overlay over the committed in-memory state: reads see the overlay's own writes
 * first, nothing reaches the committed map before applyTo, and applyTo never commits a view of a
 * larger buffer (encodings come back as views of msgpackr's shared buffers, and a view kept in the
 * committed map would pin its whole buffer for as long as the key lives).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { EMPTY_ACCUMULATOR } from '../../../src/chain/auditLog.js'
import { buildCommittedState, StateOverlay } from '../../../src/chain/stateOverlay.js'
import { toHex } from '../../../src/crypto/bytes.js'

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b)

function committedWith (entries: Array<[string, Uint8Array]>): { values: Map<string, Uint8Array>, overlay: StateOverlay } {
  const values = new Map(entries)
  const overlay = new StateOverlay(buildCommittedState(values, EMPTY_ACCUMULATOR))
  return { values, overlay }
}

void describe('StateOverlay', () => {
  void it('reads its own writes and deletions first, the committed values otherwise, and leaves them untouched until applyTo', () => {
    const { values, overlay } = committedWith([['a', bytes(1)], ['b', bytes(2)]])
    overlay.set('a', bytes(9))
    overlay.delete('b')
    overlay.set('c', bytes(3))
    assert.deepEqual(overlay.get('a'), bytes(9))
    assert.equal(overlay.get('b'), undefined)
    assert.deepEqual(overlay.get('c'), bytes(3))
    assert.deepEqual([...values.keys()], ['a', 'b'])
    assert.deepEqual(values.get('a'), bytes(1))
  })

  void it('the commitment is that of a tree built from the resulting values, and applyTo commits exactly them', () => {
    const { values, overlay } = committedWith([['a', bytes(1)], ['b', bytes(2)]])
    overlay.set('a', bytes(9))
    overlay.delete('b')
    overlay.delete('never-there')
    overlay.set('c', bytes(3))
    const commitment = overlay.commitment('chain-1')
    const expected = buildCommittedState(new Map([['a', bytes(9)], ['c', bytes(3)]]), EMPTY_ACCUMULATOR)
    assert.equal(toHex(commitment.tree.root), toHex(expected.tree.root))
    const after = overlay.applyTo(values, commitment)
    assert.deepEqual([...after.values].sort(), [['a', bytes(9)], ['c', bytes(3)]])
    assert.equal(after.tree, commitment.tree)
  })

  void it('applyTo commits a view of a larger buffer as a copy: a buffer of its own size, unaffected by later writes to the old one', () => {
    const shared = new Uint8Array(64 * 1024).fill(7)
    const view = shared.subarray(100, 110)
    const { values, overlay } = committedWith([])
    overlay.set('k', view)
    overlay.applyTo(values, overlay.commitment('chain-1'))
    const kept = values.get('k')
    assert.ok(kept !== undefined)
    assert.equal(kept.buffer.byteLength, 10, 'the committed value owns a buffer of its own size')
    shared.fill(0)
    assert.deepEqual(kept, new Uint8Array(10).fill(7))
  })

  void it('applyTo keeps a value that owns its buffer as the same object (caches keyed by it stay valid)', () => {
    const own = Uint8Array.of(1, 2, 3)
    const { values, overlay } = committedWith([])
    overlay.set('k', own)
    overlay.applyTo(values, overlay.commitment('chain-1'))
    assert.equal(values.get('k'), own)
  })
})
