/**
 * What `npm install` leaves behind for a new user: the `prepare` build produced an executable
 * dist/bin/medchain.js (what `npx medchain` runs), and it starts.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../../dist/bin/medchain.js', import.meta.url))
const PKG = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string }

describe('the installed medchain command', () => {
  it('is built, executable, and prints its version', () => {
    assert.ok(existsSync(BIN), 'dist/bin/medchain.js exists (npm install runs the build; or run `npm run build`)')
    assert.notEqual(statSync(BIN).mode & 0o111, 0, 'it is executable, so npx can run it')
    const r = spawnSync(BIN, ['--version'], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout.trim(), PKG.version)
  })
})
