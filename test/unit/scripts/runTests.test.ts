import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'

/** Runs the test runner script (`npm test`) with a filter that matches no file, so it never starts a test run. */
function runner (concurrency: string | undefined): { status: number | null, stderr: string, stdout: string } {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.MEDCHAIN_TEST_CONCURRENCY
  if (concurrency !== undefined) env.MEDCHAIN_TEST_CONCURRENCY = concurrency
  const r = spawnSync(process.execPath, ['scripts/runTests.mjs', 'no-test-file-has-this-in-its-path'], { env, encoding: 'utf8' })
  return { status: r.status, stderr: r.stderr, stdout: r.stdout }
}

describe('npm test: MEDCHAIN_TEST_CONCURRENCY', () => {
  it('refuses a value that is not a whole number from 1 to 64, before looking for tests', () => {
    for (const bad of ['x', '0', '-1', '1.5', '65', '2 files']) {
      const r = runner(bad)
      assert.equal(r.status, 2, `"${bad}" exits 2`)
      assert.match(r.stderr, /MEDCHAIN_TEST_CONCURRENCY must be a whole number from 1 to 64/, `"${bad}" is explained`)
      assert.doesNotMatch(r.stderr, /no test files matched/, `"${bad}" stops before the file search`)
      assert.equal(r.stdout, '')
    }
  })

  it('accepts 1, 2 and no value, and goes on to the file search', () => {
    for (const good of [undefined, '', '1', '2']) {
      const r = runner(good)
      assert.equal(r.status, 1, `${JSON.stringify(good)}: the filter matches no file`)
      assert.match(r.stderr, /no test files matched/)
      assert.doesNotMatch(r.stderr, /MEDCHAIN_TEST_CONCURRENCY/)
    }
  })
})
