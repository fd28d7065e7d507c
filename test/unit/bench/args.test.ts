import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BenchArgsError, parseBenchArgs, usageText, type BenchUsage, type FlagSpec } from '../../../bench/args.js'
import { pickHeadline, planSteps } from '../../../bench/headline.js'

const flags = {
  runs: { type: 'integer', default: 5, min: 1, max: 100, help: 'runs per size' },
  sizes: { type: 'integers', default: [100, 1000], min: 1, max: 20000, help: 'block sizes' },
  json: { type: 'boolean', help: 'machine-readable output' },
  profile: { type: 'string', placeholder: 'FILE', help: 'CPU profile' },
  'commit-ms': { type: 'integer', default: 100, min: 0, max: 60000, help: 'commit pause' }
} satisfies Record<string, FlagSpec>
const usage: BenchUsage & { flags: typeof flags } = { command: 'npm run bench:x --', summary: 'A benchmark.', flags, examples: ['npm run bench:x -- --runs 3'] }

describe('bench flags', () => {
  it('no flags: every default', () => {
    assert.deepEqual(parseBenchArgs([], usage), { runs: 5, sizes: [100, 1000], json: false, profile: undefined, 'commit-ms': 100 })
  })

  it('every flag set, in --flag value and --flag=value forms', () => {
    assert.deepEqual(parseBenchArgs(['--runs', '9', '--sizes=10000', '--json', '--profile', '/tmp/p', '--commit-ms', '0'], usage),
      { runs: 9, sizes: [10000], json: true, profile: '/tmp/p', 'commit-ms': 0 })
    assert.deepEqual(parseBenchArgs(['--sizes', '1,20000'], usage), { runs: 5, sizes: [1, 20000], json: false, profile: undefined, 'commit-ms': 100 })
  })

  it('--help and -h win over everything else, even a bad value', () => {
    assert.equal(parseBenchArgs(['--help'], usage), 'help')
    assert.equal(parseBenchArgs(['--runs', 'x', '-h'], usage), 'help')
  })

  const refused: Array<[string[], RegExp]> = [
    [['--secnds', '30'], /Unknown option '--secnds'/],
    [['--runs', 'abc'], /--runs must be a whole number, got "abc"/],
    [['--runs', '0'], /--runs must be between 1 and 100, got 0/],
    [['--runs', '101'], /--runs must be between 1 and 100/],
    [['--runs', '2.5'], /--runs must be a whole number/],
    [['--runs', '-1'], /--runs/],
    [['--sizes', '100,,1000'], /--sizes must be a whole number, got ""/],
    [['--sizes', '100,30000'], /--sizes must be between 1 and 20000, got 30000/],
    [['--runs'], /--runs/],
    [['--profile', ''], /--profile needs a value/],
    [['--runs', '--json'], /--runs/],
    [['10000'], /positional|Unexpected argument/i]
  ]
  for (const [argv, message] of refused) {
    it(`refuses ${JSON.stringify(argv)} with a one-line error naming the flag`, () => {
      assert.throws(() => parseBenchArgs(argv, usage), (err: unknown) => {
        assert.ok(err instanceof BenchArgsError, String(err))
        assert.match(err.message, message)
        assert.ok(!err.message.includes('\n'), err.message)
        return true
      })
    })
  }

  it('the usage text lists every flag with its default, --help, and the examples', () => {
    const text = usageText(usage)
    assert.match(text, /^Usage: npm run bench:x -- \[options\]/)
    for (const line of [/--runs N\s+runs per size \(default 5\)/, /--sizes N,N,…\s+block sizes \(default 100,1000\)/, /--json\s+machine-readable output$/m,
      /--profile FILE\s+CPU profile$/m, /--commit-ms N\s+commit pause \(default 100\)/, /--help\s+print this help and exit/, /npm run bench:x -- --runs 3/]) {
      assert.match(text, line)
    }
  })
})

describe('bench:network headline', () => {
  const step = (finalizedTxPerSec: number, p99: number, sustained: boolean): { finalizedTxPerSec: number, p99: number, sustained: boolean } => ({ finalizedTxPerSec, p99, sustained })

  it('the fastest step that was sustained with p99 under the bound, and the fastest sustained at any latency', () => {
    const steps = [step(300, 500, true), step(600, 800, true), step(900, 1400, true), step(1100, 700, false)]
    const { best, fastest } = pickHeadline(steps, 1000)
    assert.equal(best, steps[1])
    assert.equal(fastest, steps[2])
  })

  it('no headline when no sustained step kept p99 under the bound (never a step that missed it)', () => {
    const steps = [step(263, 936, false), step(500, 1200, true)]
    const { best, fastest } = pickHeadline(steps, 1000)
    assert.equal(best, undefined)
    assert.equal(fastest, steps[1])
  })

  it('nothing sustained: neither', () => {
    assert.deepEqual(pickHeadline([step(263, 936, false)], 1000), {})
    assert.deepEqual(pickHeadline([], 1000), {})
  })
})

describe('bench:network steps', () => {
  it('a warm-up at the first rate comes first and is marked, then every rate in order', () => {
    assert.deepEqual(planSteps([900, 1200], 30, 10), [
      { rate: 900, seconds: 10, warmup: true },
      { rate: 900, seconds: 30, warmup: false },
      { rate: 1200, seconds: 30, warmup: false }
    ])
  })

  it('--warmup 0, or no rates: no warm-up step', () => {
    assert.deepEqual(planSteps([50, 100], 5, 0), [{ rate: 50, seconds: 5, warmup: false }, { rate: 100, seconds: 5, warmup: false }])
    assert.deepEqual(planSteps([], 5, 10), [])
  })
})
