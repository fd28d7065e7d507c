/** Assertions shared by the simulation suites. */
import assert from 'node:assert/strict'
import type { SimulationResult } from '../../src/sim/run.js'

/** One line that says what a run did, for assertion messages. */
export function explain (r: SimulationResult): string {
  const bad = r.verdicts.filter((v) => v.status === 'violated').map((v) => `${v.name}: ${v.violations.slice(0, 3).join('; ')}`)
  return `seed ${r.seed}, n=${r.validators}, faults ${JSON.stringify(r.faults)}: committed ${r.committed}, stop ${r.stopReason}, nodes ${JSON.stringify(r.nodes.map((n) => [n.id, n.height, n.engine]))}${bad.length > 0 ? `; violated ${bad.join(' | ')}` : ''}${r.errors.length > 0 ? `; errors ${r.errors.slice(0, 3).join(' | ')}` : ''}`
}

/** No fork, no invariant violated. */
export function assertAllHeld (r: SimulationResult): void {
  assert.equal(r.invariantViolations, 0, explain(r))
  assert.equal(r.forks, 0, explain(r))
  for (const v of r.verdicts) assert.notEqual(v.status, 'violated', `${v.name}: ${explain(r)}`)
}
