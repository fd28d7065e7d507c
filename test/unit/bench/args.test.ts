import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BenchArgsError, parseBenchArgs, usageText, type BenchUsage, type FlagSpec } from '../../../bench/args.js'
import { nextStep, pickHeadline, type PlannedStep, type SearchOptions, type StepResult } from '../../../bench/headline.js'

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
  const opts: SearchOptions = { seconds: 30, warmupSeconds: 10, refine: 3, p99BoundMs: 1000, granularity: 50 }
  const ok = (rate: number, p99 = 500): StepResult => ({ rate, p99, sustained: true })
  const slow = (rate: number): StepResult => ({ rate, p99: 1500, sustained: true })
  const lost = (rate: number): StepResult => ({ rate, p99: 2500, sustained: false })
  /** Runs the search against a network whose behaviour at each rate is `outcome(rate)`; returns the rates in order. */
  const run = (ladder: number[], outcome: (rate: number) => StepResult, o: SearchOptions = opts): PlannedStep[] => {
    const results: StepResult[] = []
    const planned: PlannedStep[] = []
    let warmedUp = false
    for (let step = nextStep(ladder, results, warmedUp, o); step !== undefined; step = nextStep(ladder, results, warmedUp, o)) {
      planned.push(step)
      assert.ok(planned.length < 50, 'the search must end')
      if (step.warmup) warmedUp = true
      else results.push(outcome(step.rate))
    }
    return planned
  }
  const rates = (steps: PlannedStep[]): number[] => steps.filter((s) => !s.warmup).map((s) => s.rate)

  it('a warm-up at the first rate comes first and is marked, then the ladder in order', () => {
    const steps = run([900, 1200], (r) => ok(r), { ...opts, refine: 0 })
    assert.deepEqual(steps, [
      { rate: 900, seconds: 10, warmup: true, refinement: false },
      { rate: 900, seconds: 30, warmup: false, refinement: false },
      { rate: 1200, seconds: 30, warmup: false, refinement: false }
    ])
  })

  it('--warmup 0, or no rates: no warm-up step', () => {
    assert.deepEqual(run([50, 100], (r) => ok(r), { ...opts, warmupSeconds: 0 }).map((s) => s.warmup), [false, false])
    assert.deepEqual(run([], (r) => ok(r)), [])
  })

  it('the ladder ends at the first step that is not sustained; a slow but sustained step does not end it', () => {
    const network = (r: number): StepResult => r <= 400 ? ok(r) : r <= 800 ? slow(r) : lost(r)
    assert.deepEqual(rates(run([100, 200, 400, 800, 1600, 3200], network, { ...opts, refine: 0 })), [100, 200, 400, 800, 1600])
  })

  it('then bisects between the fastest rate that passed and the slowest that failed, rounded to the granularity', () => {
    // a network that holds 2,150 tx/s under 1 s and loses transactions from 2,600
    const network = (r: number): StepResult => r <= 2150 ? ok(r) : r < 2600 ? slow(r) : lost(r)
    const steps = run([400, 800, 1600, 3200], network)
    assert.deepEqual(rates(steps), [400, 800, 1600, 3200, 2400, 2000, 2200])
    assert.deepEqual(steps.filter((s) => !s.warmup).map((s) => s.refinement), [false, false, false, false, true, true, true])
    assert.equal(pickHeadline(steps.filter((s) => !s.warmup).map((s) => ({ ...network(s.rate), finalizedTxPerSec: s.rate })), 1000).best?.finalizedTxPerSec, 2000)
  })

  it('a slow step (p99 over the bound) counts as failed for the bisection even though the ladder goes on', () => {
    const network = (r: number): StepResult => r <= 1000 ? ok(r) : r <= 1600 ? slow(r) : lost(r)
    assert.deepEqual(rates(run([800, 1600, 3200], network)), [800, 1600, 3200, 1200, 1000, 1100])
  })

  it('stops early once the gap is the granularity, and --refine 0 never bisects', () => {
    const network = (r: number): StepResult => r <= 100 ? ok(r) : lost(r)
    assert.deepEqual(rates(run([100, 200], network)), [100, 200, 150])
    assert.deepEqual(rates(run([100, 150], network)), [100, 150]) // midpoint 125 rounds to 150 or 100: nothing between
    assert.deepEqual(rates(run([100, 200], network, { ...opts, refine: 0 })), [100, 200])
  })

  it('nothing to bisect when no step passed, or when every step passed', () => {
    assert.deepEqual(rates(run([100, 200], (r) => lost(r))), [100])
    assert.deepEqual(rates(run([100, 200], (r) => slow(r))), [100, 200])
    assert.deepEqual(rates(run([100, 200], (r) => ok(r))), [100, 200])
  })
})
