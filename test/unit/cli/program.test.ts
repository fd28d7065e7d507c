/**
 * runProgram (src/cli/program.ts): how a command's outcome becomes the exit code and what is
 * printed, in particular for a command that printed its own outcome and must still fail.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { tmpdir } from 'node:os'
import { PassThrough, Writable } from 'node:stream'
import { createProgram, runProgram } from '../../../src/cli/program.js'
import { ExitCode, printResult, ReportedFailure, type CliIo } from '../../../src/cli/output.js'
import { MedchainError } from '../../../src/util/errors.js'

function fakeIo (): { io: CliIo, out: () => string, err: () => string } {
  let out = ''
  let err = ''
  const sink = (onData: (s: string) => void): Writable => new Writable({ write (chunk: Buffer, _enc, cb) { onData(chunk.toString()); cb() } })
  const io: CliIo = { stdin: new PassThrough(), stdout: sink((s) => { out += s }), stderr: sink((s) => { err += s }), env: {}, homedir: () => tmpdir() }
  return { io, out: () => out, err: () => err }
}

/** A program with one command `check` whose action prints a report, then does what `then` says. */
function programWith (io: CliIo, then: () => void): ReturnType<typeof createProgram> {
  const program = createProgram(io)
  program.command('check').action(() => {
    printResult(io, program.opts<{ json?: boolean }>().json === true, { json: { ok: false }, text: 'DAMAGED: something' })
    then()
  })
  return program
}

void describe('cli runProgram: exit codes', () => {
  it('a ReportedFailure exits 1 and adds nothing to what the command printed, in text and --json', async () => {
    for (const json of [false, true]) {
      const { io, out, err } = fakeIo()
      const argv = ['node', 'medchain', ...(json ? ['--json'] : []), 'check']
      const code = await runProgram(programWith(io, () => { throw new ReportedFailure('damaged') }), argv, io)
      assert.equal(code, ExitCode.failed)
      assert.equal(out(), json ? '{"ok":false}\n' : 'DAMAGED: something\n', 'exactly the report, no error document')
      assert.equal(err(), '')
    }
  })

  it('a command that returns normally exits 0; a MedchainError exits 1 with its one-sentence message and, with --json, an error document', async () => {
    const ok = fakeIo()
    assert.equal(await runProgram(programWith(ok.io, () => {}), ['node', 'medchain', 'check'], ok.io), ExitCode.ok)
    const failed = fakeIo()
    const code = await runProgram(programWith(failed.io, () => { throw new MedchainError({ code: 'X_FAILED' }, 'It failed; do this.') }), ['node', 'medchain', '--json', 'check'], failed.io)
    assert.equal(code, ExitCode.failed)
    assert.equal(failed.out(), '{"ok":false}\n{"error":{"code":"X_FAILED","message":"It failed; do this."}}\n')
    assert.equal(failed.err(), 'error: It failed; do this.\n')
  })
})
