#!/usr/bin/env node
// Runs every test/**/*.test.ts file with node's built-in test runner through tsx.
// Node 20's `--test` does not expand globs, so this script finds the files.
// Usage: npm test [-- <filter substring>...]   (MEDCHAIN_TEST_CONCURRENCY=N: test files run at once)
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { spawnSync } from 'node:child_process'
import { availableParallelism } from 'node:os'

function findTests (dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const full = join(dir, name)
    if (statSync(full).isDirectory()) out.push(...findTests(full))
    else if (name.endsWith('.test.ts')) out.push(full)
  }
  return out
}

// Two test files at a time on a machine with two or more cores (node's own default on 2 cores is
// one): most of the e2e and CLI files' time is spent waiting on child processes (the README's
// Set-up has the measured times). MEDCHAIN_TEST_CONCURRENCY=1 runs them one at a time.
const concurrencyEnv = process.env.MEDCHAIN_TEST_CONCURRENCY
const concurrency = concurrencyEnv === undefined || concurrencyEnv === ''
  ? Math.max(1, Math.min(2, availableParallelism()))
  : Number(concurrencyEnv)
if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
  console.error(`MEDCHAIN_TEST_CONCURRENCY must be a whole number from 1 to 64 (test files run at once), not "${concurrencyEnv}"`)
  process.exit(2)
}

const filters = process.argv.slice(2)
const files = findTests('test').map((f) => relative('.', f)).sort()
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
if (files.length === 0) {
  console.error('no test files matched')
  process.exit(1)
}

// The CLI tests run the compiled CLI (test/utils/cli.ts), as `npx medchain` does: build it first
// unless dist/ is newer than every source (a fresh `npm install` has just built it in `prepare`).
const COMPILED_CLI = 'dist/bin/medchain.js'
function newestMtime (path) {
  const st = statSync(path)
  if (!st.isDirectory()) return st.mtimeMs
  let newest = st.mtimeMs
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)))
  return newest
}
const sourcesMtime = Math.max(...['src', 'bin', 'bench', 'tsconfig.json', 'package.json'].map(newestMtime))
if (!existsSync(COMPILED_CLI) || statSync(COMPILED_CLI).mtimeMs < sourcesMtime) {
  console.error('building dist/ for the CLI tests (npm run build)…')
  const build = spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' })
  if (build.status !== 0) {
    console.error('the build failed: fix the errors above (npm run typecheck shows them too)')
    process.exit(build.status ?? 1)
  }
}
const env = { ...process.env, MEDCHAIN_TEST_CLI_BIN: resolve(COMPILED_CLI) }
const result = spawnSync(process.execPath, [`--test-concurrency=${concurrency}`, '--import', 'tsx', '--test', '--test-reporter=spec', ...files], { stdio: 'inherit', env })
process.exit(result.status ?? 1)
