/**
 * `npm run sim` (src/sim/cli.ts): the JSON line, the exit codes, the help.
 * Calls `main` in-process with console output captured (no child process, no wall clock).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { main } from '../../../src/sim/cli.js'

async function capture (argv: string[]): Promise<{ code: number, out: string[], err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const log = console.log
  const error = console.error
  console.log = (...args: unknown[]) => { out.push(args.map(String).join(' ')) }
  console.error = (...args: unknown[]) => { err.push(args.map(String).join(' ')) }
  try {
    return { code: await main(argv), out, err }
  } finally {
    console.log = log
    console.error = error
  }
}

void describe('sim CLI', () => {
  it('--json prints one JSON object on its last line, with the required fields first, and exits 0 when every invariant held', async () => {
    const { code, out } = await capture(['--validators', '4', '--heights', '3', '--faults', 'none', '--seed', '9', '--json'])
    assert.equal(code, 0)
    const last = out[out.length - 1] ?? ''
    const result = JSON.parse(last) as Record<string, unknown>
    assert.deepEqual(Object.keys(result).slice(0, 7), ['validators', 'heights', 'committed', 'forks', 'invariantViolations', 'p50CommitMs', 'p99CommitMs'])
    assert.equal(result.validators, 4)
    assert.equal(result.heights, 3)
    assert.ok((result.committed as number) >= 3)
    assert.equal(result.forks, 0)
    assert.equal(result.invariantViolations, 0)
  })

  it('the report names every invariant with its verdict', async () => {
    const { code, out } = await capture(['--validators', '1', '--heights', '2', '--seed', '3'])
    assert.equal(code, 0)
    const text = out.join('\n')
    for (const name of ['one-block-per-height', 'certificates', 'state-roots', 'no-honest-double-sign', 'liveness']) assert.match(text, new RegExp(`ok\\s+${name}`))
    assert.match(text, /commit latency \(virtual\): p50 \d+ ms, p99 \d+ ms/)
    assert.match(text, /throughput \(virtual\): [\d.]+ blocks\/s, [\d.]+ txs\/s/)
  })

  it('exits 2 with a one-sentence error on bad arguments, and --help shows an example', async () => {
    for (const argv of [['--validators', 'x'], ['--validators', '0'], ['--faults', 'meteor'], ['--seed', '-1'], ['--bogus'], ['--regossip-scope', 'all']]) {
      const { code, err } = await capture(argv)
      assert.equal(code, 2, argv.join(' '))
      assert.equal(err.length, 1, argv.join(' '))
      assert.match(err[0] ?? '', /--help/)
    }
    const help = await capture(['--help'])
    assert.equal(help.code, 0)
    assert.match(help.out.join('\n'), /Example:\n\s+npm run sim -- --validators/)
  })
})
