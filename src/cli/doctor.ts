/**
 * `medchain doctor`: the full consistency check of a stopped node's data (src/chain/doctor.ts):
 * the home's data/ against its genesis.json, writing nothing, with progress on stderr and a
 * verdict on stdout: OK (exit 0), or DAMAGED with the first problem of each kind and what to do
 * (exit 1). A running node (LevelDB's lock) or a home without data is refused (exit 1, the error's
 * code and sentence). Loads no node code (no libp2p, no RPC server), and the chain's code and
 * LevelDB only when it runs.
 */
import type { Command } from 'commander'
import type { DoctorProgress, DoctorReport } from '../chain/doctor.js'
import { HomePaths, loadGenesis } from '../node/config.js'
import { ExitCode, printNote, printResult, ReportedFailure, type CliIo, type CommandResult } from './output.js'
import { globalOptions } from './options.js'

/** What `medchain doctor` prints and the exit code it ends with. */
export interface DoctorOutcome { result: CommandResult, exitCode: number }

const count = (n: number): string => n.toLocaleString('en-US')

/** After a phase has run this long, each further tenth of it is reported... */
const PROGRESS_QUIET_MS = 1000
/** ...and a line is printed at least this often while it runs. */
const PROGRESS_EVERY_MS = 3000

/**
 * Prints the checks' progress on stderr ("checked 120,000 of 412,000 state values…"): for a phase
 * that has run PROGRESS_QUIET_MS, at each further tenth, and at least every PROGRESS_EVERY_MS;
 * a quick check prints none.
 */
export function progressPrinter (io: CliIo, now: () => number = Date.now): (progress: DoctorProgress) => void {
  let phase: DoctorProgress['phase'] | undefined
  let start = 0
  let last = 0
  let lastTenth = 0
  return (p) => {
    const t = now()
    if (p.phase !== phase) {
      phase = p.phase
      start = last = t
      lastTenth = 0
    }
    const tenth = p.total === 0 ? 10 : Math.floor(p.done * 10 / p.total)
    if ((tenth > lastTenth && t - start >= PROGRESS_QUIET_MS) || t - last >= PROGRESS_EVERY_MS) {
      printNote(io, `checked ${count(p.done)} of ${count(p.total)} ${p.phase === 'state' ? 'state values' : 'blocks'}…`)
      last = t
      lastTenth = tenth
    }
  }
}

const RESTORE_ADVICE = 'What to do: keep the node stopped; restore data/ from a backup, or move data/ away (e.g. `mv data data.damaged`) and start the node to resync from its peers.'
const GENESIS_ADVICE = 'What to do: point --home at the node this data belongs to, or put back the genesis.json of the chain this data is from.'

/** The verdict as a person reads it. */
export function doctorText (home: string, report: DoctorReport): string {
  const root = report.stateRoot ?? 'not computed'
  const notes = report.notes.map((n) => `note: ${n}`)
  if (report.ok) {
    return [`OK: ${home} is consistent at height ${report.height ?? '?'} (state root ${root}, ${count(report.stateValues)} state values, ${count(report.blocksChecked)} blocks checked)`, ...notes].join('\n')
  }
  const kinds = report.problems.length
  const lines = [`DAMAGED: ${home}: ${kinds} kind${kinds === 1 ? '' : 's'} of problem (the first of each):`]
  for (const p of report.problems) {
    const more = p.count > 1 ? ` (and ${count(p.count - 1)} more like it)` : ''
    lines.push(`  ${p.code}${p.height !== undefined ? ` at height ${p.height}` : ''}: ${p.message}${more}`)
  }
  lines.push(`checked: head ${report.height ?? 'unreadable'}, state root ${root}, ${count(report.stateValues)} state values, ${count(report.blocksChecked)} blocks`)
  lines.push(...notes)
  lines.push(report.problems.every((p) => p.code === 'DOCTOR_GENESIS_MISMATCH') ? GENESIS_ADVICE : RESTORE_ADVICE)
  return lines.join('\n')
}

/**
 * Checks the node data of `home` and returns what to print and the exit code: 0 when consistent,
 * 1 when damaged. Throws (exit 1 through printError) when there is nothing to check or a running
 * node holds the data (DoctorError), or the genesis cannot be read (ConfigError).
 */
export async function runDoctor (io: CliIo, home: string, opts: { now?: () => number } = {}): Promise<DoctorOutcome> {
  const dir = HomePaths.data(home)
  // the chain's code and LevelDB load only here, so the other commands do not load them
  const { assertNodeData, checkNodeData } = await import('../chain/doctor.js')
  assertNodeData(dir)
  const genesis = loadGenesis(home)
  const report = await checkNodeData({ dir, genesis, onProgress: progressPrinter(io, opts.now) })
  return { result: { json: report, text: doctorText(home, report) }, exitCode: report.ok ? ExitCode.ok : ExitCode.failed }
}

/**
 * Registers `medchain doctor`. Its verdict is its output, also when the data is damaged: then it
 * ends with exit 1 without an error document (ReportedFailure).
 */
export function addDoctorCommand (program: Command, io: CliIo): void {
  program.command('doctor')
    .description('check a stopped node\'s data for consistency (state root, blocks, certificates, receipts, indexes); changes nothing')
    .addHelpText('after', `
Checks, in the home's data/ (the node must be stopped): the genesis, the head, the state root
recomputed from every state value, every block (stored, linked, certified by the validators in
force at its height, its receipts) and the transaction index. Progress goes to stderr.

Exit codes: 0 consistent; 1 damaged (the first problem of each kind and what to do), the node is
running (DOCTOR_LOCKED), or the home has no data yet (DOCTOR_NO_DATA).

Examples:
  $ medchain doctor --home ./devnet/node0
  OK: /srv/devnet/node0 is consistent at height 412 (state root 5be1…, 2,318 state values, 412 blocks checked)
  $ medchain doctor --home ./devnet/node0 --json
  {"ok":true,"height":412,"stateRoot":"5be1…","stateValues":2318,"blocksChecked":412,"problems":[],"notes":[]}`)
    .action(async (_opts: object, cmd: Command) => {
      const { home, json } = globalOptions(cmd, io)
      const { result, exitCode } = await runDoctor(io, home)
      printResult(io, json, result)
      if (exitCode !== ExitCode.ok) throw new ReportedFailure('the data is damaged')
    })
}
