/**
 * `medchain start` (one node from its home) and `medchain devnet` (a local network of hospital
 * validators, one OS process each, supervised). Both run until Ctrl-C / SIGTERM, then stop cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import type { NetworkFactory } from '../node/node.js'
import { createTestnet, type HomeSummary } from '../node/home.js'
import { loadConfig } from '../node/config.js'
import { printNote, ReportedFailure, writeJson, type CliIo } from './output.js'
import { PASSPHRASE_ENV } from './passphrase.js'
import { globalOptions } from './options.js'
import { childNodeArgs, missingRuntimeFlags } from '../node/runtimeFlags.js'
import { stopChildProcesses } from '../node/childProcesses.js'

/** The network layer, loaded lazily so commands that do not start a node do not load libp2p. */
export type NetworkLoader = () => Promise<NetworkFactory | undefined>

function integer (min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}.`)
    return n
  }
}

/** Resolves when SIGINT or SIGTERM arrives. */
function untilSignal (): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals): void => { process.off('SIGINT', on); process.off('SIGTERM', on); resolve(sig) }
    process.on('SIGINT', on)
    process.on('SIGTERM', on)
  })
}

async function waitHealthy (url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let delay = 100
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the node process exited (code ${child.exitCode}) before its RPC answered; see its node.log`)
    try {
      const res = await fetch(`${url}/health`)
      if (res.ok) return
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`${url} did not become healthy within ${timeoutMs / 1000} s; see its node.log`)
    await new Promise((r) => setTimeout(r, delay))
    delay = Math.min(delay * 2, 1000)
  }
}

export function addStartCommands (program: Command, io: CliIo, loadNetwork: NetworkLoader): void {
  program.command('start')
    .description('run a node from its home until Ctrl-C (JSON logs on stdout)')
    .addHelpText('after', `
Example:
  $ medchain start --home ./devnet/node0
  {"level":30,"time":...,"node":"node0","height":0,"msg":"node started"}`)
    .action(async (_opts: object, cmd: Command) => {
      const { home } = globalOptions(cmd, io)
      const network = await loadNetwork()
      // The node (consensus, RPC server, libp2p, metrics) loads only here, so the commands that
      // only talk to a node never load it and start faster (FHIR validation is lazy too); a test
      // (test/e2e/install.test.ts) pins which modules a query loads.
      const { MedchainNode } = await import('../node/node.js')
      const node = await MedchainNode.start({ home, ...(network !== undefined ? { network } : {}) })
      const missing = missingRuntimeFlags()
      if (missing.length > 0) {
        node.logger.info({ missing }, `node runs without ${missing.join(' ')} (block import spends ~10% more in GC); start it as \`node ${missing.join(' ')} dist/bin/medchain.js start …\` or set NODE_OPTIONS="${missing.join(' ')}"`)
      }
      const failed = new Promise<'failed'>((resolve) => { node.emitFailure = () => { resolve('failed') } })
      const reason = await Promise.race([untilSignal(), failed])
      // the node logged why it stopped itself; the process exits 1
      if (reason === 'failed') throw new ReportedFailure('the node stopped itself on a failure')
      node.logger.info({ signal: reason }, 'shutting down')
      await node.stop()
    })

  program.command('devnet')
    .description('run a local network of hospital validators, one process each, ready for the CLI; Ctrl-C stops all')
    .option('--validators <n>', 'number of hospital validators', integer(1, 16), 4)
    .option('--dir <dir>', 'where the homes live (created on first run, reused after)', './devnet')
    .option('--base-port <port>', 'node i listens on p2p <port>+2i and RPC <port>+2i+1', integer(1024, 65000), 26656)
    .addHelpText('after', `
Example:
  $ npx medchain devnet                 # 4 validators in ./devnet, RPC at http://127.0.0.1:26657 …
  $ npx medchain devnet --json          # one line once all are up:
  {"nodes":[{"name":"node0","rpc":"http://127.0.0.1:26657","pid":12345}, …]}

The demo identities (hospital-a…d, doctor, patient, pharmacy) are in <dir>/keystore, encrypted with
$${PASSPHRASE_ENV} (default "devnet": a development passphrase, never for real data).`)
    .action(async (opts: { validators: number, dir: string, basePort: number }, cmd: Command) => {
      const { json } = globalOptions(cmd, io)
      const dir = resolve(opts.dir)
      const passphrase = io.env[PASSPHRASE_ENV] ?? 'devnet'
      let nodes: HomeSummary[]
      if (existsSync(join(dir, 'node0', 'config.json'))) {
        nodes = []
        for (let i = 0; existsSync(join(dir, `node${i}`, 'config.json')); i++) {
          const home = join(dir, `node${i}`)
          const config = loadConfig(home)
          nodes.push({ name: `node${i}`, home, nodePublicKey: '', p2pPort: 0, rpcPort: config.rpc.port, rpcUrl: `http://127.0.0.1:${config.rpc.port}` })
        }
        printNote(io, `Reusing the devnet in ${dir} (${nodes.length} validators); delete it to start from genesis.`)
      } else {
        printNote(io, `Creating a devnet of ${opts.validators} hospital validators in ${dir}…`)
        nodes = createTestnet({ out: dir, validators: opts.validators, basePort: opts.basePort, passphrase }).nodes
        if (io.env[PASSPHRASE_ENV] === undefined) printNote(io, `Demo keys are encrypted with the development passphrase "devnet": export ${PASSPHRASE_ENV}=devnet to use them.`)
      }
      const script = process.argv[1] as string
      const children = new Map<string, ChildProcess>()
      let stopping = false
      // Ctrl-C reaches the whole process group: mark the stop at once, so the children's own
      // graceful exits are not taken for crashes
      const signalled = untilSignal().then((sig) => { stopping = true; return sig })
      const launch = (n: HomeSummary): ChildProcess => {
        const log = createWriteStream(join(n.home, 'node.log'), { flags: 'a' })
        const child = spawn(process.execPath, [...childNodeArgs(), script, 'start', '--home', n.home], { stdio: ['ignore', 'pipe', 'pipe'] })
        child.stdout?.pipe(log)
        child.stderr?.pipe(log)
        child.on('exit', (code, signal) => {
          if (stopping || code === 0) return
          printNote(io, `${n.name} exited (${signal ?? `code ${String(code)}`}); restarting it. See ${join(n.home, 'node.log')}.`)
          setTimeout(() => { if (!stopping) children.set(n.name, launch(n)) }, 1000)
        })
        return child
      }
      for (const n of nodes) children.set(n.name, launch(n))
      const stopAll = async (): Promise<void> => {
        stopping = true
        await stopChildProcesses(children.values())
      }
      try {
        for (const n of nodes) {
          await waitHealthy(n.rpcUrl, children.get(n.name) as ChildProcess, 60_000)
          if (!json) printNote(io, `  ${n.name} up: ${n.rpcUrl}`)
        }
      } catch (err) {
        await stopAll()
        throw err
      }
      const ready = nodes.map((n) => ({ name: n.name, rpc: n.rpcUrl, pid: children.get(n.name)?.pid ?? 0 }))
      if (json) writeJson(io, { nodes: ready })
      else {
        io.stdout.write(`devnet ready: ${nodes.length} hospital validators\n`)
        for (const r of ready) io.stdout.write(`  ${r.name}  ${r.rpc}  (pid ${r.pid})\n`)
        io.stdout.write(`keystore: ${join(dir, 'keystore')} — try: medchain --home ${dir} keys list\nCtrl-C stops every node.\n`)
      }
      await signalled
      printNote(io, 'stopping the devnet…')
      await stopAll()
    })
}
