/**
 * A chain on a temporary LevelDB directory that produces and imports blocks the way a validator
 * network would: each block is built by the proposer's `buildBlock`, certified by precommits of
 * every genesis validator, and imported with that certificate; the next block carries it as
 * lastCommit. Used by chain tests, the crash test and the benchmark.
 *
 * With `strictState`, every block the harness builds or commits executes through a StrictState
 * loaded only with the contract's key list for it (`prefetchBlockKeysSync` over the committed
 * state): a read outside the list throws STATE_KEY_NOT_LOADED naming the key. Blocks a test hands
 * to `chain.importBlock` itself run as usual (counted in `strictReport().unchecked`).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Chain, type ChainOptions } from '../../src/chain/chain.js'
import type { ImportResult, BuiltBlock } from '../../src/chain/blockExecutor.js'
import { blockHash, EMPTY_COMMIT, type Block, type CommitCertificate } from '../../src/types/block.js'
import type { Genesis } from '../../src/types/genesis.js'
import type { Tx } from '../../src/types/tx.js'
import type { Application, BlockContext } from '../../src/types/application.js'
import { StrictState, type LoadedValues, type StateBackend } from '../../src/types/state.js'
import type { Signer } from '../../src/crypto/ed25519.js'
import { signVote, VoteType } from '../../src/types/vote.js'
import { makeGenesis, makeKeys } from './factories.js'
import { accessControlApp, prefetchBlockKeysSync } from '../../src/contracts/index.js'

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
  /** Execute the harness's blocks through a StrictState loaded only with their key list (see above). Off by default. */
  strictState?: boolean
}

/**
 * An Application that, while armed with a block's loaded values, hands the wrapped application a
 * StrictState in front of the chain's overlay (one per overlay, so one per execution) instead of
 * the overlay itself; unarmed, it passes the overlay through.
 */
class StrictGuard {
  readonly app: Application
  private loaded: LoadedValues | undefined
  private states = new Map<StateBackend, StrictState>()
  checked = 0
  unchecked = 0

  constructor (base: Application) {
    const wrap = (state: StateBackend): StateBackend => {
      if (this.loaded === undefined) return state
      let strict = this.states.get(state)
      if (strict === undefined) {
        strict = new StrictState(this.loaded, state)
        this.states.set(state, strict)
      }
      return strict
    }
    this.app = {
      ...base,
      getSenderNonce: (state, publicKey) => base.getSenderNonce(wrap(state), publicKey),
      setSenderNonce: (state, publicKey, nonce) => { base.setSenderNonce(wrap(state), publicKey, nonce) },
      executeTx: (state, tx, ctx) => base.executeTx(wrap(state), tx, ctx),
      endBlock: (state, ctx) => {
        if (this.loaded === undefined) this.unchecked++
        base.endBlock(wrap(state), ctx)
      },
      getValidatorSet: (state) => base.getValidatorSet(wrap(state))
    }
  }

  /** Limits every read of the executions that follow to `loaded` (plus their own writes). */
  arm (loaded: LoadedValues): void {
    this.loaded = loaded
    this.states = new Map()
  }

  /** Ends `arm`; throws STATE_KEY_NOT_LOADED for the first key an execution read outside the loaded ones. */
  disarm (): void {
    const states = this.states
    this.loaded = undefined
    this.states = new Map()
    for (const strict of states.values()) {
      this.checked++
      strict.assertNoMisses() // a miss throws out of executeTx already; this also catches one swallowed on the way
    }
  }
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
    private readonly blockIntervalMs: number,
    private readonly strict?: StrictGuard
  ) {
    this.ownsDir = ownsDir
  }

  static async open (opts: HarnessOptions = {}): Promise<ChainHarness> {
    const hospitals = opts.hospitals ?? ['hospital-a']
    const genesis = opts.genesis ?? makeGenesis(hospitals)
    const ownsDir = opts.dir === undefined
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'medchain-test-'))
    const strict = opts.strictState === true ? new StrictGuard(opts.app ?? accessControlApp) : undefined
    const chain = await Chain.open({ now: () => Number.MAX_SAFE_INTEGER / 2, ...opts, app: strict?.app ?? opts.app ?? accessControlApp, dir, genesis })
    const validators = hospitals.map((h) => makeKeys(`${h}/validator`))
    const harness = new ChainHarness(chain, genesis, validators, dir, ownsDir, opts.blockIntervalMs ?? 1000, strict)
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

  async build (txs: readonly Tx[], timestamp = this.nextTimestamp()): Promise<BuiltBlock> {
    const build = async (): Promise<BuiltBlock> => await this.chain.buildBlock({ txs, timestamp, proposer: this.proposer.publicKey, lastCommit: this.lastCommit })
    if (this.strict === undefined) return await build()
    this.strict.arm(this.prefetch(txs, timestamp))
    try {
      return await build()
    } finally {
      this.strict.disarm()
    }
  }

  /** Builds, certifies and imports one block; returns the import result and the block. */
  async commit (txs: readonly Tx[], timestamp?: number): Promise<ImportResult & { block: Block, skipped: BuiltBlock['skipped'] }> {
    const built = await this.build(txs, timestamp)
    const cert = certify(this.chain.chainId, built.block, this.validators)
    this.strict?.arm(this.prefetch(built.block.txs, built.block.header.timestamp))
    let result: ImportResult
    try {
      result = await this.chain.importBlock(built.block, { commit: cert })
    } finally {
      this.strict?.disarm()
    }
    this.lastCommit = cert
    return { ...result, block: built.block, skipped: built.skipped }
  }

  /** What strict mode checked: executions through a StrictState, and blocks that ran without one. */
  strictReport (): { checked: number, unchecked: number } {
    return { checked: this.strict?.checked ?? 0, unchecked: this.strict?.unchecked ?? 0 }
  }

  /** The contract's key list for the next block, loaded from the committed state. */
  private prefetch (txs: readonly Tx[], timestamp: number): LoadedValues {
    const ctx: BlockContext = { chainId: this.chain.chainId, height: this.chain.head.height + 1, timestamp, lastCommitSigners: this.lastCommit.signatures.map((s) => s.validator) }
    const committed = this.chain.stateView
    return prefetchBlockKeysSync(txs, ctx, (keys) => new Map(keys.map((k) => [k, committed.get(k)])))
  }

  async close (): Promise<void> {
    await this.chain.close()
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true })
  }
}
