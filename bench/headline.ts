/**
 * Which steps bench:network runs (`nextStep`, below) and which of them is its headline. Pure, so
 * that the rules are tested (test/unit/bench/args.test.ts) and not only read.
 *
 *  - `best`: the fastest step that was sustained AND kept p99 commit latency under the bound
 *    (the throughput this benchmark is judged by). Undefined when no step qualifies: the
 *    benchmark then reports 0 tx/s and no latency, rather than a step that missed the bound or
 *    was not sustained.
 *  - `fastest`: the fastest sustained step at any latency (undefined when none was sustained).
 */
export interface StepOutcome {
  finalizedTxPerSec: number
  p99: number
  sustained: boolean
}

/** The headline's test of one step: sustained, with p99 commit latency under the bound. */
function passesHeadline (step: { p99: number, sustained: boolean }, p99BoundMs: number): boolean {
  return step.sustained && step.p99 < p99BoundMs
}

export function pickHeadline<S extends StepOutcome> (steps: readonly S[], p99BoundMs: number): { best?: S, fastest?: S } {
  const sustained = steps.filter((s) => s.sustained).sort((a, b) => b.finalizedTxPerSec - a.finalizedTxPerSec)
  const best = sustained.find((s) => passesHeadline(s, p99BoundMs))
  const fastest = sustained[0]
  return { ...(best !== undefined ? { best } : {}), ...(fastest !== undefined ? { fastest } : {}) }
}

/** One load step of bench:network: `rate` tx/s for `seconds`; a warm-up step is never reported. */
export interface PlannedStep { rate: number, seconds: number, warmup: boolean, refinement: boolean }

/** What the search needs to know of a reported step. */
export interface StepResult { rate: number, p99: number, sustained: boolean }

export interface SearchOptions {
  seconds: number
  /** Seconds of unreported load at the first rate before the first step (0: none). */
  warmupSeconds: number
  /** How many bisection steps follow the ladder (0: none). */
  refine: number
  p99BoundMs: number
  /** Refined rates are rounded to a multiple of this (tx/s). */
  granularity: number
}

/** How many of `results` belong to the ladder: all of them up to and including the first step that was not sustained. */
function ladderRuns (ladder: readonly number[], results: readonly StepResult[]): number {
  const firstFailed = results.findIndex((r) => !r.sustained)
  return firstFailed < 0 ? ladder.length : Math.min(ladder.length, firstFailed + 1)
}

/**
 * The next step of a run, from the steps reported so far (in the order they ran), or undefined
 * when the run is over:
 *  1. the warm-up (`warmupSeconds` at the ladder's first rate), unless `warmedUp` or it is 0;
 *  2. the ladder: each rate in the order given, ending early at the first step that was not
 *     sustained (the network no longer keeps up, so faster rates would not either);
 *  3. up to `refine` bisection steps between the fastest rate that passed (sustained, p99 under
 *     the bound: the headline's test) and the slowest faster rate that failed, each at their
 *     midpoint rounded to `granularity`. A doubling ladder alone puts the headline within a factor
 *     of two of the real limit (800 or 1,600 when the network holds 1,500); three bisections of
 *     1,600..3,200 put it within 200 tx/s. Nothing is refined when no step passed, when no step
 *     failed above the best one, or once the gap is down to `granularity`.
 */
export function nextStep (ladder: readonly number[], results: readonly StepResult[], warmedUp: boolean, opts: SearchOptions): PlannedStep | undefined {
  const first = ladder[0]
  if (first === undefined) return undefined
  if (!warmedUp && opts.warmupSeconds > 0 && results.length === 0) return { rate: first, seconds: opts.warmupSeconds, warmup: true, refinement: false }
  if (results.length < ladder.length && results.every((r) => r.sustained)) {
    return { rate: ladder[results.length] as number, seconds: opts.seconds, warmup: false, refinement: false }
  }
  if (results.length - ladderRuns(ladder, results) >= opts.refine) return undefined
  const passed = (r: StepResult): boolean => passesHeadline(r, opts.p99BoundMs)
  let lo: number | undefined
  for (const r of results) if (passed(r) && (lo === undefined || r.rate > lo)) lo = r.rate
  if (lo === undefined) return undefined
  let hi: number | undefined
  for (const r of results) if (!passed(r) && r.rate > lo && (hi === undefined || r.rate < hi)) hi = r.rate
  if (hi === undefined) return undefined
  const mid = Math.round((lo + hi) / 2 / opts.granularity) * opts.granularity
  if (mid <= lo || mid >= hi) return undefined
  return { rate: mid, seconds: opts.seconds, warmup: false, refinement: true }
}
