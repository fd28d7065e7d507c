import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { childNodeArgs, missingRuntimeFlags, NODE_RUNTIME_FLAGS } from '../../../src/node/runtimeFlags.js'

describe('childNodeArgs', () => {
  it('keeps the parent\'s node arguments first and adds every runtime flag it lacks', () => {
    assert.deepEqual(childNodeArgs(['--import', 'tsx'], undefined), ['--import', 'tsx', ...NODE_RUNTIME_FLAGS])
    assert.deepEqual(childNodeArgs([], ''), [...NODE_RUNTIME_FLAGS])
    assert.ok(NODE_RUNTIME_FLAGS.includes('--max-semi-space-size=64'))
  })

  it('leaves a flag the operator set, on the command line or in NODE_OPTIONS, as they set it', () => {
    assert.deepEqual(childNodeArgs(['--max-semi-space-size=32'], undefined), ['--max-semi-space-size=32'])
    assert.deepEqual(childNodeArgs(['--max_semi_space_size=32'], undefined), ['--max_semi_space_size=32'], 'V8 spells flags with _ or -')
    assert.deepEqual(childNodeArgs([], '--max-old-space-size=4096 --max-semi-space-size=16'), [])
    assert.deepEqual(childNodeArgs([], '--max-old-space-size=4096'), [...NODE_RUNTIME_FLAGS], 'another flag in NODE_OPTIONS does not count')
  })

  it('missingRuntimeFlags names what `medchain start` tells the operator to add', () => {
    assert.deepEqual(missingRuntimeFlags(['--import', 'tsx'], undefined), [...NODE_RUNTIME_FLAGS])
    assert.deepEqual(missingRuntimeFlags(['--max-semi-space-size=64'], undefined), [])
    assert.deepEqual(missingRuntimeFlags([], '--max-semi-space-size=64'), [])
  })
})
