/** Helpers for tests that run real nodes in-process. */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { initHome } from '../../src/node/home.js'
import { MedchainNode } from '../../src/node/node.js'
import { Keystore } from '../../src/keystore/store.js'
import { HomePaths } from '../../src/node/config.js'

const CHEAP_SCRYPT = { n: 1024, r: 8, p: 1 }
const FAST = { proposeMs: 200, prevoteMs: 100, precommitMs: 100, deltaMs: 100, capMs: 1000, commitMs: 50 }

export interface SingleNode { dir: string, home: string, node: MedchainNode, url: string }

/**
 * One validator ('st-mary', home `<dir>/home` in a new temporary `dir`) started in this process with
 * fast timeouts and its RPC on a free port; `keys` are created in its keystore with cheap scrypt
 * (the CLI's `keys new` uses the production cost), all under `passphrase`. The caller stops the
 * node and removes `dir`.
 */
export async function startSingleNode (opts: { prefix: string, passphrase: string, keys: readonly string[] }): Promise<SingleNode> {
  const dir = mkdtempSync(join(tmpdir(), opts.prefix))
  const home = join(dir, 'home')
  initHome({ home, moniker: 'st-mary', passphrase: opts.passphrase, scrypt: CHEAP_SCRYPT })
  const keystore = new Keystore(HomePaths.keystore(home), { scrypt: CHEAP_SCRYPT })
  for (const name of opts.keys) keystore.create(name, opts.passphrase)
  const node = await MedchainNode.start({
    home,
    logger: pino({ level: 'silent' }),
    // a burst as large as the rate: tests submit batches of 60-100 calls back to back, and with the
    // default burst of 100 two batches within ~60 ms of each other were refused (RPC_RATE_LIMITED)
    config: (c) => ({ ...c, rpc: { ...c.rpc, port: 0, ratePerSecond: 1000, burst: 1000 }, consensus: { ...c.consensus, timeouts: FAST } })
  })
  return { dir, home, node, url: node.rpc?.url as string }
}

/** Resolves when the node's chain reaches `height` (on its 'block' events); rejects after `timeoutMs`. */
export async function waitForHeight (node: MedchainNode, height: number, timeoutMs = 30_000): Promise<void> {
  if (node.chain.head.height >= height) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      node.chain.off('block', onBlock)
      reject(new Error(`${node.config.moniker}: height ${height} not reached in ${timeoutMs} ms (at ${node.chain.head.height})`))
    }, timeoutMs)
    const onBlock = (): void => {
      if (node.chain.head.height >= height) { clearTimeout(timer); node.chain.off('block', onBlock); resolve() }
    }
    node.chain.on('block', onBlock)
  })
}
