import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { stopChildProcesses } from '../../../src/node/childProcesses.js'

/** A node child that prints "ready" once its SIGTERM behaviour is set up. */
async function child (onTerm: 'exit' | 'ignore'): Promise<ChildProcess> {
  const code = onTerm === 'exit'
    ? "process.on('SIGTERM', () => process.exit(7)); setInterval(() => {}, 1000); console.log('ready')"
    : "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready')"
  const c = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  await once(c.stdout as NodeJS.ReadableStream, 'data')
  return c
}

describe('stopChildProcesses', () => {
  it('SIGTERMs each running child and waits for it; SIGKILLs one that ignores SIGTERM after the grace', async () => {
    const polite = await child('exit')
    const stubborn = await child('ignore')
    await stopChildProcesses([polite, stubborn], 300)
    assert.equal(polite.exitCode, 7, 'the polite child ran its SIGTERM handler')
    assert.equal(stubborn.signalCode, 'SIGKILL', 'the stubborn child was killed after the grace')
  })

  it('returns at once for children that have already exited', async () => {
    const done = spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'ignore' })
    await once(done, 'exit')
    await stopChildProcesses([done], 60_000)
    assert.equal(done.exitCode, 3)
  })
})
