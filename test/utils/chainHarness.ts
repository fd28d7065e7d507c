/**
 * A chain on a temporary LevelDB directory that produces and imports blocks the way a validator
 * network would: each block is built by the proposer's `buildBlock`, certified by precommits of
 * every genesis validator, and imported with that certificate; the next block carries it as
 * lastCommit. Used by chain tests, the crash test and the benchmark.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Chain, type ChainOptions } from '../../src/chain/chain.js'
import type { ImportResult, BuiltBlock } from '../../src/chain/blockExecutor.js'
import { blockHash, EMPTY_COMMIT, type Block, type CommitCertificate } from '../../src/types/block.js'
import type { Genesis } from '../../src/types/genesis.js'
import type { Tx } from '../../src/types/tx.js'
import type { Signer } from '../../src/crypto/ed25519.js'
import { signVote, VoteType } from '../../src/types/vote.js'
import { makeGenesis, makeKeys } from './factories.js'
import { accessControlApp } from '../../src/contracts/index.js'

export function certify (chainId: string, block: Block, validators: readonly Signer[], round = 0): CommitCertificate {
  const hash = blockHash(block.header)
  const signatures = validators.map((v) => {
    const vote = signVote({ chainId, type: VoteType.Precommit, height: block.header.height, round, blockHash: hash, validator: v.publicKey }, v)
    return { validator: v.publicKey, signature: vote.signature }
  })
  return { height: block.header.height, round, blockHash: hash, signatures }
}

export interface HarnessOptions extends Partial<Omit<ChainOptions, 'genesis'>> {
  hospitals?: string[]
  genesis?: Genesis
  /** Milliseconds between consecutive block timestamps. */
  blockIntervalMs?: number
}

export class ChainHarness {
  lastCommit: CommitCertificate = EMPTY_COMMIT
  private ownsDir: boolean

  private constructor (
    readonly chain: Chain,
    readonly genesis: Genesis,
    readonly validators: Signer[],
    readonly dir: string,
    ownsDir: boolean,
    private readonly blockIntervalMs: number
  ) {
    this.ownsDir = ownsDir
  }

  static async open (opts: HarnessOptions = {}): Promise<ChainHarness> {
    const hospitals = opts.hospitals ?? ['hospital-a']
    const genesis = opts.genesis ?? makeGenesis(hospitals)
    const ownsDir = opts.dir === undefined
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'medchain-test-'))
    const chain = await Chain.open({ now: () => Number.MAX_SAFE_INTEGER / 2, ...opts, app: opts.app ?? accessControlApp, dir, genesis })
    const validators = hospitals.map((h) => makeKeys(`${h}/validator`))
    const harness = new ChainHarness(chain, genesis, validators, dir, ownsDir, opts.blockIntervalMs ?? 1000)
    harness.lastCommit = (await chain.getCertificate(chain.head.height)) ?? EMPTY_COMMIT
    return harness
  }

  get proposer (): Signer {
    return this.validators[0] as Signer
  }

  /** Timestamp the next block gets. */
  nextTimestamp (): number {
    return this.chain.head.timestamp + this.blockIntervalMs
  }

  build (txs: readonly Tx[], timestamp = this.nextTimestamp()): BuiltBlock {
    return this.chain.buildBlock({ txs, timestamp, proposer: this.proposer.publicKey, lastCommit: this.lastCommit })
  }

  /** Builds, certifies and imports one block; returns the import result and the block. */
  async commit (txs: readonly Tx[], timestamp?: number): Promise<ImportResult & { block: Block, skipped: BuiltBlock['skipped'] }> {
    const built = this.build(txs, timestamp)
    const cert = certify(this.chain.chainId, built.block, this.validators)
    const result = await this.chain.importBlock(built.block, { commit: cert })
    this.lastCommit = cert
    return { ...result, block: built.block, skipped: built.skipped }
  }

  async close (): Promise<void> {
    await this.chain.close()
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true })
  }
}
