/**
 * Which steps bench:network runs (`planSteps`, below) and which of them is its headline. Pure, so
 * that the rules are tested (test/unit/bench/args.test.ts) and not only read.
 *
 *  - `best`: the fastest step that was sustained AND kept p99 commit latency under the bound
 *    (the measure). Undefined when no step qualifies: the benchmark then reports 0 tx/s
 *    and no latency, rather than a step that missed the bound or was not sustained.
 *  - `fastest`: the fastest sustained step at any latency (undefined when none was sustained).
 */
export interface StepOutcome {
  finalizedTxPerSec: number
  p99: number
  sustained: boolean
}

export function pickHeadline<S extends StepOutcome> (steps: readonly S[], p99BoundMs: number): { best?: S, fastest?: S } {
  const sustained = steps.filter((s) => s.sustained).sort((a, b) => b.finalizedTxPerSec - a.finalizedTxPerSec)
  const best = sustained.find((s) => s.p99 < p99BoundMs)
  const fastest = sustained[0]
  return { ...(best !== undefined ? { best } : {}), ...(fastest !== undefined ? { fastest } : {}) }
}

/** One load step of bench:network: `rate` tx/s for `seconds`; a warm-up step is never reported. */
export interface PlannedStep { rate: number, seconds: number, warmup: boolean }

/**
 * The steps of a run: `warmupSeconds` of unreported load at the first rate (none for 0, or without
 * rates), then every rate for `seconds`, in the order given.
 */
export function planSteps (rates: readonly number[], seconds: number, warmupSeconds: number): PlannedStep[] {
  const first = rates[0]
  return [
    ...(warmupSeconds > 0 && first !== undefined ? [{ rate: first, seconds: warmupSeconds, warmup: true }] : []),
    ...rates.map((rate) => ({ rate, seconds, warmup: false }))
  ]
}
