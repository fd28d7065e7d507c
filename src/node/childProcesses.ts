import type { ChildProcess } from 'node:child_process'

/**
 * Stops child processes as a supervisor should: SIGTERM to each that still runs (so a node
 * closes its store and writes its profile), SIGKILL to any still running after `graceMs`, and
 * resolves once every one has exited. Used by `medchain devnet` and by bench:network.
 */
export async function stopChildProcesses (children: Iterable<ChildProcess>, graceMs = 10_000): Promise<void> {
  await Promise.all([...children].map(async (c) => {
    if (c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise((resolve) => c.once('exit', resolve))
    c.kill('SIGTERM')
    const timer = setTimeout(() => c.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
  }))
}
