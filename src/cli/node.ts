/**
 * `medchain init` and `medchain testnet`: create node homes (src/node/home.ts). Starting nodes
 * (`start`, `devnet`) is src/cli/start.ts.
 */
import { InvalidArgumentError, type Command } from 'commander'
import { createTestnet, initHome, type TestnetSummary } from '../node/home.js'
import { formatTable, printResult, type CliIo, type CommandResult } from './output.js'
import { readNewPassphrase, type PassphraseOptions } from './passphrase.js'
import { globalOptions } from './options.js'

const PASSPHRASE_HELP = 'file whose first line is the passphrase of the new keystore keys (else $MEDCHAIN_PASSPHRASE, else a prompt)'

function summaryResult (summary: TestnetSummary, headline: string): CommandResult {
  const nodes = formatTable([['NODE', 'HOME', 'RPC', 'P2P PORT'], ...summary.nodes.map((n) => [n.name, n.home, n.rpcUrl, String(n.p2pPort)])])
  const ids = formatTable([['KEY NAME', 'ROLE', 'PUBLIC KEY'], ...summary.identities.map((i) => [i.keyName, i.role, i.publicKey])])
  return {
    json: summary,
    text: `${headline}\nchain id: ${summary.chainId}\n\n${nodes}\n\nkeystore: ${summary.keystore}\n${ids}`
  }
}

/** A commander argument parser for an integer in [min, max] (a bad value is a usage error, exit 2). */
function integer (min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}.`)
    return n
  }
}

export function addNodeCommands (program: Command, io: CliIo): void {
  program.command('init')
    .description('create a node home: node key, config, and a single-validator genesis with this hospital')
    .requiredOption('--moniker <name>', 'this node\'s (hospital\'s) name, e.g. st-mary')
    .option('--chain-id <id>', 'chain id of the new chain (default medchain-<moniker>)')
    .option('--passphrase-file <file>', PASSPHRASE_HELP)
    .addHelpText('after', `
Example:
  $ MEDCHAIN_PASSPHRASE=... medchain init --home ./st-mary --moniker st-mary
  creates ./st-mary/{config.json,genesis.json,node_key.json,data/,keystore/admin.json}`)
    .action(async (opts: PassphraseOptions & { moniker: string, chainId?: string }, cmd: Command) => {
      const { home, json } = globalOptions(cmd, io)
      const passphrase = await readNewPassphrase(io, opts, 'admin')
      const summary = initHome({ home, moniker: opts.moniker, passphrase, ...(opts.chainId !== undefined ? { chainId: opts.chainId } : {}) })
      printResult(io, json, summaryResult(summary, `Initialised node home ${home}.`))
    })

  program.command('testnet')
    .description('create N hospital validator homes sharing one genesis, and a keystore of demo identities')
    .requiredOption('--out <dir>', 'directory for the homes (node0, node1, …) and the keystore; must be empty or new')
    .option('--validators <n>', 'number of hospital validators', integer(1, 64), 4)
    .option('--chain-id <id>', 'chain id', 'medchain-devnet')
    .option('--base-port <port>', 'node i listens on p2p <port>+2i and RPC <port>+2i+1', integer(1024, 65000), 26656)
    .option('--passphrase-file <file>', PASSPHRASE_HELP)
    .addHelpText('after', `
Example:
  $ MEDCHAIN_PASSPHRASE=... medchain testnet --validators 4 --out ./devnet
  then use the demo identities with: medchain --home ./devnet keys list`)
    .action(async (opts: PassphraseOptions & { out: string, validators: number, chainId: string, basePort: number }, cmd: Command) => {
      const { json } = globalOptions(cmd, io)
      const { validators, basePort } = opts
      const passphrase = await readNewPassphrase(io, opts, 'the demo identities')
      const summary = createTestnet({ out: opts.out, validators, chainId: opts.chainId, basePort, passphrase })
      printResult(io, json, summaryResult(summary, `Created a testnet of ${validators} hospital validators in ${opts.out}.`))
    })
}
