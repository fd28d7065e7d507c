/**
 * `npm run sim -- --validators N --heights H --faults LIST --seed S [--json]`: one seeded
 * simulation of the real consensus engine and block execution, or `--sweep N`: N seeds with
 * random fault schedules. Exit codes: 0 all invariants held, 1 an invariant was violated,
 * 2 bad arguments.
 */
import { parseArgs } from 'node:util'
import { FAULT_NAMES, isFaultName, type Fault, type FaultName } from './faults.js'
import { Rng } from './random.js'
import { runSimulation, type SimulationResult } from './run.js'

const HELP = `Usage: npm run sim -- [options]

Runs N validators (the real consensus engine and block execution) on a simulated network with a
virtual clock, injects faults, and checks the safety and liveness invariants.

Options:
  --validators N   number of validators (1-100, default 4)
  --heights H      run until every running honest validator holds H blocks (default 20)
  --faults LIST    comma-separated: ${FAULT_NAMES.join(', ')} (default none)
  --seed S         seed of the run: the same seed gives the same run (default 1)
  --json           print one JSON object (on the last line) instead of the report
  --verbose        print node events (crashes, restarts, syncs) as they happen
  --regossip MS    node-level re-gossip every MS virtual ms (default off: the engine alone copes)
  --regossip-scope own|seen
                   re-send only own current-round messages, or also the votes seen at the
                   current height, as a consensus reactor does (default own)
  --sweep N        run N seeds from --seed on, each with random validators and faults;
                   fails if any run violates an invariant
  --help           show this help

Example:
  npm run sim -- --validators 7 --heights 30 --faults crash,partition --seed 42 --json`

class UsageError extends Error {}

function positiveInt (name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) throw new UsageError(`--${name} must be an integer from 1 to ${max}, got "${value}".`)
  return Number(value)
}

function parseFaults (value: string | undefined): FaultName[] {
  if (value === undefined || value === '') return []
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const name of names) if (!isFaultName(name)) throw new UsageError(`Unknown fault "${name}"; use a comma-separated list of ${FAULT_NAMES.join(', ')}.`)
  return names.filter((n) => n !== 'none') as FaultName[]
}

function describeFault (f: Fault): string {
  switch (f.kind) {
    case 'crash': return `crash n${f.node} at ${f.at} ms${f.until !== undefined ? `, restart at ${f.until} ms` : ', never back'}`
    case 'wipe': return `wipe n${f.node} at ${f.at} ms, restart with an empty store at ${f.until} ms`
    case 'partition': return `partition ${f.groups.map((g) => `[${g.join(',')}]`).join(' | ')} from ${f.at} to ${f.until} ms`
    case 'link': return `links ${JSON.stringify(f.link)} from ${f.at} to ${f.until} ms`
    case 'byzantine': return `byzantine n${f.node} (${f.behaviours.join(', ')}) from ${f.at} ms`
    case 'crash-after-precommit': return `n${f.node} crashes after its precommit at height >= ${f.height}, back ${f.downMs} ms later`
  }
}

function jsonLine (r: SimulationResult, faults: readonly string[]): string {
  return JSON.stringify({
    validators: r.validators,
    heights: r.heights,
    committed: r.committed,
    forks: r.forks,
    invariantViolations: r.invariantViolations,
    p50CommitMs: r.p50CommitMs,
    p99CommitMs: r.p99CommitMs,
    seed: r.seed,
    faults,
    virtualMs: r.virtualMs,
    blocksPerSecond: r.blocksPerSecond,
    txsPerSecond: r.txsPerSecond,
    txsCommitted: r.txsCommitted,
    stopReason: r.stopReason,
    verdicts: Object.fromEntries(r.verdicts.map((v) => [v.name, v.status])),
    evidenceRecorded: r.evidence.recordedOnChain
  })
}

function printReport (r: SimulationResult, faults: readonly string[]): void {
  const lines: string[] = []
  lines.push(`medchain consensus simulation: ${r.validators} validators, target ${r.heights} heights, faults ${faults.length === 0 ? 'none' : faults.join(',')}, seed ${r.seed}`)
  for (const f of r.faults) lines.push(`  fault: ${describeFault(f)}`)
  lines.push(`committed heights: ${r.committed} (forks: ${r.forks}); nodes at ${r.nodes.map((n) => `n${n.id}${n.honest ? '' : '(byz)'}${n.up ? '' : '(down)'}=${n.height}`).join(' ')}`)
  lines.push(`virtual time: ${(r.virtualMs / 1000).toFixed(1)} s (stopped: ${r.stopReason}), ${r.events} events`)
  lines.push(`throughput (virtual): ${r.blocksPerSecond} blocks/s, ${r.txsPerSecond} txs/s (${r.txsCommitted} txs)`)
  lines.push(`commit latency (virtual): p50 ${r.p50CommitMs} ms, p99 ${r.p99CommitMs} ms`)
  lines.push(`network: ${r.network.sent} sent, ${r.network.delivered} delivered, ${r.network.dropped} dropped, ${r.network.blocked} blocked by partitions, ${r.network.toDownNode} to down nodes, ${r.network.malformed} malformed`)
  const rejected = Object.entries(r.rejected).sort((a, b) => b[1] - a[1])
  if (rejected.length > 0) lines.push(`refused peer messages: ${rejected.map(([k, v]) => `${k} ${v}`).join(', ')}`)
  if (r.evidence.submitted > 0 || r.evidence.recordedOnChain > 0) lines.push(`evidence: ${r.evidence.submitted} transactions submitted, ${r.evidence.recordedOnChain} recorded on chain`)
  lines.push('invariants:')
  for (const v of r.verdicts) {
    lines.push(`  ${v.status.padEnd(12)} ${v.name}${v.detail !== undefined ? ` (${v.detail})` : ''}`)
    for (const line of v.violations) lines.push(`               - ${line}`)
  }
  lines.push(r.invariantViolations === 0 ? 'all invariants held' : `${r.invariantViolations} invariant violation(s)`)
  console.log(lines.join('\n'))
}

const SWEEP_FAULTS: FaultName[] = ['crash', 'partition', 'byzantine', 'wipe', 'outage', 'drop']

/** The validators and faults of sweep seed `seed` (shared with the tests' property run). */
export function sweepCase (seed: number): { validators: number, faults: FaultName[] } {
  const rng = new Rng(seed * 7919 + 1)
  const validators = rng.pick([1, 4, 4, 4, 7])
  const faults = SWEEP_FAULTS.filter(() => rng.chance(0.3))
  return { validators, faults }
}

async function sweep (count: number, fromSeed: number, heights: number, json: boolean, regossip: { rebroadcastMs: number, rebroadcastScope: 'own' | 'seen' }): Promise<number> {
  const failed: string[] = []
  let totalCommitted = 0
  for (let seed = fromSeed; seed < fromSeed + count; seed++) {
    const { validators, faults } = sweepCase(seed)
    const r = await runSimulation({ validators, heights, faults, seed, ...regossip })
    totalCommitted += r.committed
    const repro = `npm run sim -- --validators ${validators} --heights ${heights} --faults ${faults.length === 0 ? 'none' : faults.join(',')} --seed ${seed}${regossip.rebroadcastMs > 0 ? ` --regossip ${regossip.rebroadcastMs} --regossip-scope ${regossip.rebroadcastScope}` : ''}`
    if (r.invariantViolations > 0) failed.push(repro)
    if (!json) console.log(`seed ${seed}: n=${validators} faults=${faults.join(',') || 'none'} committed ${r.committed}/${heights} violations ${r.invariantViolations} p50 ${r.p50CommitMs} ms p99 ${r.p99CommitMs} ms${r.invariantViolations > 0 ? `  FAILED: ${r.verdicts.filter((v) => v.status === 'violated').map((v) => v.name).join(',')}` : ''}`)
  }
  if (json) {
    console.log(JSON.stringify({ sweep: count, fromSeed, heights, failedRuns: failed.length, committed: totalCommitted, failed }))
  } else {
    console.log(`${count} runs, ${failed.length} with invariant violations`)
    for (const f of failed) console.log(`  reproduce: ${f}`)
  }
  return failed.length === 0 ? 0 : 1
}

export async function main (argv: string[]): Promise<number> {
  let values
  try {
    values = parseArgs({
      args: argv,
      options: {
        validators: { type: 'string' },
        heights: { type: 'string' },
        faults: { type: 'string' },
        seed: { type: 'string' },
        sweep: { type: 'string' },
        json: { type: 'boolean' },
        verbose: { type: 'boolean' },
        regossip: { type: 'string' },
        'regossip-scope': { type: 'string' },
        help: { type: 'boolean' }
      },
      strict: true,
      allowPositionals: false
    }).values
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}; run with --help for the options.`)
    return 2
  }
  if (values.help === true) {
    console.log(HELP)
    return 0
  }
  try {
    const seed = values.seed === undefined ? 1 : /^\d+$/.test(values.seed) ? Number(values.seed) : NaN
    if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed must be a non-negative integer, got "${values.seed}".`)
    const json = values.json === true
    const scope = values['regossip-scope'] ?? 'own'
    if (scope !== 'own' && scope !== 'seen') throw new UsageError(`--regossip-scope must be "own" or "seen", got "${scope}".`)
    const regossip = { rebroadcastMs: values.regossip === undefined ? 0 : positiveInt('regossip', values.regossip, 0, 3_600_000), rebroadcastScope: scope } as const
    if (values.sweep !== undefined) {
      const count = positiveInt('sweep', values.sweep, 200, 100_000)
      return await sweep(count, seed, positiveInt('heights', values.heights, 8, 100_000), json, regossip)
    }
    const validators = positiveInt('validators', values.validators, 4, 100)
    const heights = positiveInt('heights', values.heights, 20, 100_000)
    const faults = parseFaults(values.faults)
    const result = await runSimulation({
      validators,
      heights,
      faults,
      seed,
      ...regossip,
      ...(values.verbose === true ? { log: (line: string) => console.log(line) } : {})
    })
    if (json) console.log(jsonLine(result, faults))
    else printReport(result, faults)
    return result.invariantViolations > 0 ? 1 : 0
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message} Run with --help for an example.`)
      return 2
    }
    throw err
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err: unknown) => {
    console.error(err instanceof Error ? err.stack : String(err))
    process.exitCode = 3
  })
}
