import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { hasErrorCode } from '../../../src/util/errors.js'
import { DEFAULT_CONFIG, HomePaths, parseConfig } from '../../../src/node/config.js'

describe('config: blobs section', () => {
  it('defaults: 64 MiB, access valid 1 h, replicate on; <home>/blobs', () => {
    assert.deepEqual(parseConfig({}).blobs, { maxBytes: 64 * 1024 * 1024, accessTtlMs: 3_600_000, replicate: true })
    assert.deepEqual(DEFAULT_CONFIG.blobs, parseConfig({}).blobs)
    assert.equal(HomePaths.blobs('/h'), join('/h', 'blobs'))
  })

  it('takes each field', () => {
    assert.deepEqual(parseConfig({ blobs: { maxBytes: 2048, accessTtlMs: 5_000, replicate: false } }).blobs, { maxBytes: 2048, accessTtlMs: 5_000, replicate: false })
  })

  const bad: Array<[unknown, string]> = [
    [{ blobs: [] }, 'blobs'],
    [{ blobs: { maxBytes: 10 } }, 'blobs.maxBytes'],
    [{ blobs: { maxBytes: 1.5e3 + 0.5 } }, 'blobs.maxBytes'],
    [{ blobs: { accessTtlMs: 0 } }, 'blobs.accessTtlMs'],
    [{ blobs: { accessTtlMs: 8 * 24 * 3_600_000 } }, 'blobs.accessTtlMs'],
    [{ blobs: { replicate: 'yes' } }, 'blobs.replicate']
  ]
  for (const [doc, field] of bad) {
    it(`refuses ${JSON.stringify(doc)} (CONFIG_INVALID ${field})`, () => {
      assert.throws(() => parseConfig(doc), (err: unknown) => hasErrorCode(err, 'CONFIG_INVALID') && (err as { type: { field: string } }).type.field === field)
    })
  }
})
