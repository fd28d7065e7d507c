import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { withTempDir } from '../../utils/tempDir.js'
import { replaceFileAtomic } from '../../../src/util/atomicFile.js'

const withDir = (fn: (dir: string) => void): void => { withTempDir('medchain-atomic-', fn) }

describe('replaceFileAtomic', () => {
  it('replaces the whole content, applies the mode, leaves no .tmp, survives a stale .tmp', () => {
    withDir((dir) => {
      const path = join(dir, 'f.bin')
      writeFileSync(path, 'an older and much longer content that must not leave a tail behind', { mode: 0o644 })
      writeFileSync(`${path}.tmp`, 'a torn temp file of a crashed write')
      replaceFileAtomic(path, Uint8Array.of(1, 2, 3), { mode: 0o600 })
      assert.deepEqual(new Uint8Array(readFileSync(path)), Uint8Array.of(1, 2, 3))
      assert.equal(statSync(path).mode & 0o777, 0o600)
      assert.equal(existsSync(`${path}.tmp`), false)
      replaceFileAtomic(path, 'text')
      assert.equal(readFileSync(path, 'utf8'), 'text')
      assert.equal(statSync(path).mode & 0o777, 0o644, 'the default mode')
    })
  })

  it('a directory that does not exist: throws, and writes nothing', () => {
    withDir((dir) => {
      assert.throws(() => replaceFileAtomic(join(dir, 'missing', 'f.bin'), 'x'), /ENOENT/)
      assert.equal(existsSync(join(dir, 'missing')), false)
    })
  })
})
