/**
 * The README's main command: `medchain devnet --json` starts one OS process per hospital
 * validator, prints exactly one JSON line once every RPC answers, the validators commit blocks
 * together, and SIGINT stops every process cleanly.
 */
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CLI_NODE_ARGS } from '../utils/cli.js'
import { NODE_RUNTIME_FLAGS } from '../../src/node/runtimeFlags.js'

async function freeBasePort (): Promise<number> {
  // a free port p whose neighbours p+1..p+5 are free too (2 validators use 4 ports)
  for (;;) {
    const p = await new Promise<number>((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const port = (s.address() as { port: number }).port; s.close(() => resolve(port)) }) })
    if (p > 65000) continue
    const ok = await Promise.all([1, 2, 3].map(async (d) => await new Promise<boolean>((resolve) => { const s = createServer(); s.once('error', () => resolve(false)); s.listen(p + d, '127.0.0.1', () => s.close(() => resolve(true))) })))
    if (ok.every(Boolean)) return p
  }
}

async function headOf (url: string): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'chain_head' }) })
  return ((await res.json()) as { result: { height: number } }).result.height
}

describe('medchain devnet', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medchain-devnet-'))
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('starts validators as processes, prints one JSON line when ready, commits, and stops on SIGINT', { timeout: 120_000 }, async () => {
    const base = await freeBasePort()
    const child = spawn(process.execPath, [...CLI_NODE_ARGS, 'devnet', '--validators', '2', '--dir', join(dir, 'devnet'), '--base-port', String(base), '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MEDCHAIN_PASSPHRASE: 'pw' } })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    let nodePids: number[] = []
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = ''
        child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('\n')) resolve(out.split('\n')[0] as string) })
        void exited.then(() => reject(new Error(`devnet exited early: ${stderr}`)))
      })
      const ready = JSON.parse(line) as { nodes: Array<{ name: string, rpc: string, pid: number }> }
      nodePids = ready.nodes.map((n) => n.pid)
      assert.equal(ready.nodes.length, 2)
      assert.deepEqual(ready.nodes.map((n) => n.name), ['node0', 'node1'])
      for (const n of ready.nodes) { assert.match(n.rpc, /^http:\/\/127\.0\.0\.1:\d+$/); assert.ok(n.pid > 0) }
      if (process.platform === 'linux') {
        // every validator runs with the node's V8 flags (src/node/runtimeFlags.ts)
        for (const n of ready.nodes) {
          const argv = readFileSync(`/proc/${n.pid}/cmdline`, 'utf8').split('\0')
          for (const flag of NODE_RUNTIME_FLAGS) assert.ok(argv.includes(flag), `${n.name} runs without ${flag}: ${argv.join(' ')}`)
        }
      }
      // both validators are needed for a quorum of 2: blocks mean they talk to each other
      const deadline = Date.now() + 60_000
      let heights = [0, 0]
      while (Math.min(...heights) < 2) {
        assert.ok(Date.now() < deadline, `no blocks committed (heights ${heights.join(', ')}): ${stderr}`)
        heights = await Promise.all(ready.nodes.map(async (n) => await headOf(n.rpc)))
        if (Math.min(...heights) < 2) await new Promise((r) => setTimeout(r, 250)) // polling a live network's RPC
      }
      child.kill('SIGINT')
      assert.equal(await exited, 0, stderr)
      for (const n of ready.nodes) assert.throws(() => process.kill(n.pid, 0), 'every node process is gone')
    } finally {
      // on a failure, leave no process behind: the devnet and the node processes it started
      if (child.exitCode === null) child.kill('SIGKILL')
      for (const pid of nodePids) { try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ } }
    }
  })
})
