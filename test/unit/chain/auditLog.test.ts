import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { accumulatorRoot, appendEntries, decodeAccumulator, encodeAccumulator, EMPTY_ACCUMULATOR } from '../../../src/chain/auditLog.js'
import { CodecError } from '../../../src/types/codec.js'

const entry = (i: number): Uint8Array => new TextEncoder().encode(`audit entry ${i}`)

describe('audit accumulator', () => {
  it('gives the same root whether entries are appended one by one or in batches', () => {
    const all = Array.from({ length: 100 }, (_, i) => entry(i))
    let oneByOne = EMPTY_ACCUMULATOR
    for (const e of all) oneByOne = appendEntries(oneByOne, [e])
    const batched = appendEntries(appendEntries(EMPTY_ACCUMULATOR, all.slice(0, 37)), all.slice(37))
    assert.equal(oneByOne.count, 100)
    assert.deepEqual(accumulatorRoot(oneByOne), accumulatorRoot(batched))
    // 100 = 64 + 32 + 4: three peaks
    assert.deepEqual(oneByOne.peaks.map((p) => p.height), [6, 5, 2])
  })

  it('changes its root when any entry changes, is reordered, or is left out', () => {
    const base = Array.from({ length: 10 }, (_, i) => entry(i))
    const root = accumulatorRoot(appendEntries(EMPTY_ACCUMULATOR, base))
    const changed = [...base]; changed[3] = entry(99)
    const swapped = [...base]; [swapped[1], swapped[2]] = [base[2] as Uint8Array, base[1] as Uint8Array]
    for (const other of [changed, swapped, base.slice(0, 9)]) {
      assert.notDeepEqual(accumulatorRoot(appendEntries(EMPTY_ACCUMULATOR, other)), root)
    }
  })

  it('does not change the accumulator it appends to', () => {
    const a = appendEntries(EMPTY_ACCUMULATOR, [entry(1), entry(2), entry(3)])
    const rootA = accumulatorRoot(a)
    appendEntries(a, [entry(4)])
    assert.deepEqual(accumulatorRoot(a), rootA)
    assert.equal(a.count, 3)
  })

  it('round-trips its encoding and refuses garbage', () => {
    const a = appendEntries(EMPTY_ACCUMULATOR, Array.from({ length: 13 }, (_, i) => entry(i)))
    const back = decodeAccumulator(encodeAccumulator(a))
    assert.equal(back.count, 13)
    assert.deepEqual(accumulatorRoot(back), accumulatorRoot(a))
    assert.throws(() => decodeAccumulator(new Uint8Array([0x92, 0xc0, 0x90])), CodecError)
  })
})
