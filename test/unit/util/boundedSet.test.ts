import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BoundedSet } from '../../../src/util/boundedSet.js'

describe('BoundedSet', () => {
  it('never holds more than `limit` strings and always the newest limit/2, however many are added', () => {
    for (const limit of [1, 2, 3, 10, 101]) {
      const set = new BoundedSet(limit)
      const keys = Array.from({ length: limit * 7 + 3 }, (_, i) => `k${limit}/${i}`)
      keys.forEach((k, i) => {
        set.add(k)
        assert.ok(set.size <= limit, `limit ${limit}: size ${set.size} after ${i + 1} adds`)
        assert.ok(set.has(k), 'the string just added is held')
        for (let back = 1; back < Math.floor(limit / 2) && back <= i; back++) assert.ok(set.has(keys[i - back] as string), `limit ${limit}: the ${back}th newest is held`)
      })
      assert.equal(set.has(keys[0] as string), false, `limit ${limit}: the oldest was dropped`)
    }
  })

  it('moves a string added again to the newer generation, so it outlives older ones', () => {
    const set = new BoundedSet(4)
    for (const k of ['a', 'b', 'c', 'a', 'd']) set.add(k)
    assert.deepEqual(['a', 'b', 'c', 'd'].map((k) => set.has(k)), [true, false, true, true])
    assert.equal(set.size, 3)
    set.add('d') // already in the newer generation: nothing changes
    assert.equal(set.size, 3)
  })

  it('refuses a limit that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new BoundedSet(bad), RangeError)
  })
})
