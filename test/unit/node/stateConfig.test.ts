/**
 * The config's state section (the state tree on disk): its documented defaults, values passed
 * through as given, and every bad value refused with CONFIG_INVALID naming the field.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DEFAULT_CONFIG, parseConfig } from '../../../src/node/config.js'
import { hasErrorCode } from '../../../src/util/errors.js'

void describe('config: state', () => {
  void it('defaults to 100 kept tree versions and a 256 MiB tree cache', () => {
    assert.deepEqual(parseConfig({}).state, { keepVersions: 100, cacheMB: 256 })
    assert.deepEqual(DEFAULT_CONFIG.state, { keepVersions: 100, cacheMB: 256 })
    assert.deepEqual(parseConfig({ state: {} }).state, { keepVersions: 100, cacheMB: 256 })
  })

  void it('takes the values given, within their bounds (1 version; a cache of 0 turns it off)', () => {
    assert.deepEqual(parseConfig({ state: { keepVersions: 1, cacheMB: 0 } }).state, { keepVersions: 1, cacheMB: 0 })
    assert.deepEqual(parseConfig({ state: { keepVersions: 1_000_000, cacheMB: 65_536 } }).state, { keepVersions: 1_000_000, cacheMB: 65_536 })
  })

  void it('refuses a bad value with CONFIG_INVALID naming the field and its bounds', () => {
    const bad: Array<[unknown, string, RegExp]> = [
      [{ state: { keepVersions: 0 } }, 'state.keepVersions', /"state\.keepVersions" must be an integer from 1 to 1000000/],
      [{ state: { keepVersions: 2.5 } }, 'state.keepVersions', /integer/],
      [{ state: { keepVersions: '100' } }, 'state.keepVersions', /integer/],
      [{ state: { cacheMB: -1 } }, 'state.cacheMB', /"state\.cacheMB" must be an integer from 0 to 65536/],
      [{ state: { cacheMB: 100_000 } }, 'state.cacheMB', /from 0 to 65536/],
      [{ state: 5 }, 'state', /"state" must be an object/]
    ]
    for (const [doc, field, message] of bad) {
      assert.throws(() => parseConfig(doc), (err: unknown) => {
        assert.ok(hasErrorCode(err, 'CONFIG_INVALID'), `${field}: CONFIG_INVALID`)
        assert.equal((err as { type: { field: string } }).type.field, field)
        assert.match((err as Error).message, message)
        assert.match((err as Error).message, /fix it or delete the field/)
        return true
      })
    }
  })
})
