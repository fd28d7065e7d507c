/**
 * The block executor: builds the proposer's next block, validates a candidate block (checkBlock)
 * and imports a block, one at a time, executing it on the chain's tip and advancing the tip. The
 * steps numbered in the comments here are those of `Chain.importBlock`, whose doc comment in
 * src/chain/chain.ts is the contract (their order is what makes an import crash-safe).
 */
import { performance } from 'node:perf_hooks'
import { equalBytes } from '../crypto/bytes.js'
import { verify } from '../crypto/ed25519.js'
import type { Application } from '../types/application.js'
import {
  blockHash, certificateHash, computeTxRoot, EMPTY_COMMIT, validateBlockBasic, type Block, type BlockHeader, type CommitCertificate
} from '../types/block.js'
import { encodeCanonical, u64 } from '../types/codec.js'
import { verifyCommit } from '../types/commit.js'
import { ChainError } from '../types/errors.js'
import { BLOCK_VERSION, MAX_BLOCK_TXS } from '../types/limits.js'
import { computeResultsRoot, type Receipt } from '../types/receipt.js'
import { txSignatureJob, type Tx } from '../types/tx.js'
import { encodeValidatorSet, validatorSetHash, type ValidatorSet } from '../types/validatorSet.js'
import { encodeAccumulator } from './auditLog.js'
import { executeBlockTxs, type ExecutionOutput } from './execute.js'
import { StateOverlay, type CommittedState, type StateCommitment } from './stateOverlay.js'
import { blockStoreOps, type BlockStore } from './store/blockStore.js'
import { Bucket, heightKey, Meta, metaKey, stateKey } from './store/buckets.js'
import { writeBlockBatch, type BatchOp, type BlockBatch, type ChainDb } from './store/db.js'
import { addAuditIndexOps, addBlockIndexOps } from './store/indexes.js'
import { validateBlock, type ChainView } from './validateBlock.js'

/** Verifies many signatures at once, e.g. a VerifyPool spreading them over worker threads. */
export interface BatchVerifier {
  verifyBatch: (jobs: ReadonlyArray<{ publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array }>) => Promise<boolean[]>
}

/** Remembers transaction hashes whose signature was verified (on mempool admission). */
export interface VerifiedTxCache {
  has: (txHash: Uint8Array) => boolean
  add: (txHash: Uint8Array) => void
}

export interface ImportResult {
  height: number
  hash: Uint8Array
  receipts: Receipt[]
  stateRoot: Uint8Array
  /** Wall-clock milliseconds of each import phase (for metrics and the benchmark). */
  timings: ImportTimings
}

export interface ImportTimings {
  /** Steps 1-3: stateless and chain checks, handing signatures to the verifier. */
  checksMs: number
  /** Step 4: executing the transactions. */
  executeMs: number
  /** Step 4: computing the new state tree, audit accumulator and state root; step 6's comparisons;
   *  building step 8's batch (importBlock of a block checkBlock did not prepare). */
  rootsMs: number
  /** Step 5: waiting for signature verdicts after execution finished. */
  verifyWaitMs: number
  /** Steps 7-8: the certificate, and writing the batch (building it too, for a block checkBlock prepared). */
  commitMs: number
}

export interface BuiltBlock {
  block: Block
  receipts: Receipt[]
  skipped: ExecutionOutput['skipped']
}

/** What the 'block' event carries: a block just committed (step 10). */
export interface CommittedBlock { block: Block, hash: Uint8Array, receipts: Receipt[] }

/**
 * The chain's head and the committed state as of it: what the next block executes on. Only an
 * import changes it (step 9), once the block is on disk.
 */
export interface ChainTip {
  height: number
  hash: Uint8Array
  /** Timestamp of the head block, or the genesis time. */
  timestamp: number
  committed: CommittedState
  /** The validator set that validates the next block. */
  validatorSet: ValidatorSet
  /** The validator set that validated the head block (its certificate's signers). */
  headValidatorSet: ValidatorSet
}

/** The chain options the executor reads (a `ChainOptions` is one), read at each use. */
export interface ExecutorOptions {
  /** The state machine the blocks run through: the contract (`accessControlApp` of src/contracts). */
  app: Application
  verifier?: BatchVerifier
  verifiedTxs?: VerifiedTxCache
  /** Clock for the block timestamp drift check; defaults to Date.now. */
  now?: () => number
  maxClockDriftMs?: number
  /** fsync each block's batch (default true). Off only for benchmarks of other costs. */
  syncWrites?: boolean
}

export interface BlockExecutorDeps {
  chainId: string
  /** The tip to execute on; the executor advances it in place (step 9), its owner reads it. */
  tip: ChainTip
  opts: ExecutorOptions
  /** The state database. */
  db: ChainDb
  /** The block store's database (`db` itself when they share one). */
  blocksDb: ChainDb
  /** Told of each committed block (step 9), for its recent-blocks cache. */
  blockStore: BlockStore
  /** Step 10: called with each committed block, last. */
  onBlock: (event: CommittedBlock) => void
}

interface PreparedBlock {
  hash: Uint8Array
  /** The head the block was executed on: the result is stale once the head moves. */
  parentHash: Uint8Array
  out: ExecutionOutput
  overlay: StateOverlay
  commitment: StateCommitment
  /** Step 8's batch, when it was built while the workers verified (importBlock, not checkBlock). */
  ops?: BlockBatch
  timings: Omit<ImportTimings, 'commitMs'>
}

const inlineVerifier: BatchVerifier = {
  verifyBatch: async (jobs) => jobs.map((j) => verify(j.publicKey, j.message, j.signature))
}

export class BlockExecutor {
  private readonly chainId: string
  private readonly tip: ChainTip
  private readonly opts: ExecutorOptions
  private closedValue = false
  /** The last block validated by checkBlock, kept so that importing it does not execute it again. */
  private prepared: PreparedBlock | undefined
  /** Serialises imports: one block at a time. */
  private importQueue: Promise<unknown> = Promise.resolve()

  constructor (private readonly deps: BlockExecutorDeps) {
    this.chainId = deps.chainId
    this.tip = deps.tip
    this.opts = deps.opts
  }

  /** True once `close` was called: every later check or import throws STORE_CLOSED. */
  get closed (): boolean {
    return this.closedValue
  }

  /** Refuses further checks and imports, and resolves once the one under way (if any) settled. */
  async close (): Promise<void> {
    this.closedValue = true
    await this.importQueue
  }

  private view (): ChainView {
    return {
      chainId: this.chainId,
      headHeight: this.tip.height,
      headHash: this.tip.hash,
      headTimestamp: this.tip.timestamp,
      validatorSet: this.tip.validatorSet,
      headValidatorSet: this.tip.headValidatorSet
    }
  }

  /**
   * Builds the next block from candidate transactions (the proposer's side): executes them in an
   * overlay, leaves out those that are not includable, and fills in every root. Persists nothing.
   */
  async buildBlock (args: { txs: readonly Tx[], timestamp: number, proposer: Uint8Array, lastCommit?: CommitCertificate }): Promise<BuiltBlock> {
    const lastCommit = args.lastCommit ?? EMPTY_COMMIT
    const height = this.tip.height + 1
    const parentHash = this.tip.hash
    const validatorSet = this.tip.validatorSet
    const overlay = new StateOverlay(this.tip.committed)
    const out = executeBlockTxs(this.opts.app, overlay, args.txs.slice(0, MAX_BLOCK_TXS), { chainId: this.chainId, height, timestamp: args.timestamp, lastCommitSigners: lastCommit.signatures.map((sig) => sig.validator) }, { onInvalidTx: 'skip-tx' })
    // reads tree nodes: the head may move meanwhile, the block is built on the one it started from
    const commitment = await overlay.commitment(this.chainId, height)
    const header: BlockHeader = {
      version: BLOCK_VERSION,
      chainId: this.chainId,
      height,
      timestamp: args.timestamp,
      prevHash: parentHash,
      txRoot: computeTxRoot(out.included),
      stateRoot: commitment.stateRoot,
      resultsRoot: computeResultsRoot(out.receipts),
      validatorsHash: validatorSetHash(this.chainId, validatorSet),
      nextValidatorsHash: validatorSetHash(this.chainId, out.nextValidatorSet),
      proposer: args.proposer,
      lastCommitHash: certificateHash(this.chainId, lastCommit)
    }
    const block = { header, txs: out.included, lastCommit }
    // the proposer validates its own proposal next (checkBlock): keep this execution for it, but
    // only when every signature was verified before (mempool admission), or checkBlock would skip one
    const cache = this.opts.verifiedTxs
    if (cache !== undefined && out.included.every((tx) => cache.has(tx.hash))) this.prepared = { hash: blockHash(header), parentHash, out, overlay, commitment, timings: { checksMs: 0, executeMs: 0, rootsMs: 0, verifyWaitMs: 0 } }
    return { block, receipts: out.receipts, skipped: out.skipped }
  }

  /** Steps 1-10 of `Chain.importBlock`, after the imports and checks queued before it. */
  async importBlock (block: Block, opts: { commit?: CommitCertificate } = {}): Promise<ImportResult> {
    const run = this.importQueue.then(async () => await this.importBlockNow(block, opts))
    this.importQueue = run.catch(() => undefined)
    return await run
  }

  /**
   * Validates a candidate block completely (steps 1-6 of importBlock) without writing anything,
   * after the imports and checks queued before it. The execution result is kept, so importing
   * the same block next does not execute it again. Throws ChainError/CodecError.
   */
  async checkBlock (block: Block): Promise<void> {
    const run = this.importQueue.then(async () => { this.prepared = await this.prepareBlock(block) })
    this.importQueue = run.catch(() => undefined)
    await run
  }

  /**
   * Steps 1-6 of importBlock: everything short of writing. With `forImport`, step 8's batch is
   * also built (in memory), while the workers still verify.
   */
  private async prepareBlock (block: Block, forImport?: { commit?: CommitCertificate }): Promise<PreparedBlock> {
    if (this.closedValue) throw new ChainError({ code: 'STORE_CLOSED' }, 'The chain database is closed.')
    const h = block.header
    const hash = blockHash(h)
    const cached = this.prepared
    if (cached !== undefined && equalBytes(cached.hash, hash) && equalBytes(cached.parentHash, this.tip.hash)) return cached
    const t0 = performance.now()
    // 3 first: the worker threads verify while this thread runs the checks (the tx root alone is
    // 2 hashes per tx); a block refused by the checks costs only the verification work wasted
    const cache = this.opts.verifiedTxs
    const toVerify = cache === undefined ? block.txs : block.txs.filter((tx) => !cache.has(tx.hash))
    const verdicts = (this.opts.verifier ?? inlineVerifier).verifyBatch(toVerify.map(txSignatureJob))
    // 1-2
    try {
      validateBlockBasic(block, { chainId: this.chainId })
      validateBlock(this.view(), block, (this.opts.now ?? Date.now)(), { maxClockDriftMs: this.opts.maxClockDriftMs ?? 10_000 })
    } catch (err) {
      await verdicts.catch(() => undefined) // no verification is left running unobserved
      throw err
    }
    const t1 = performance.now()
    // 4, then 6 and step 8's batch, all while the workers verify
    const overlay = new StateOverlay(this.tip.committed)
    let executed: { out: ExecutionOutput, commitment: StateCommitment, ops?: BlockBatch } | { error: unknown }
    let tRoots = t1
    try {
      const out = executeBlockTxs(this.opts.app, overlay, block.txs, { chainId: this.chainId, height: h.height, timestamp: h.timestamp, lastCommitSigners: block.lastCommit.signatures.map((sig) => sig.validator) }, { onInvalidTx: 'reject-block' })
      tRoots = performance.now()
      const commitment = await overlay.commitment(this.chainId, h.height)
      this.compareRoots(h, out, commitment)
      executed = { out, commitment, ...(forImport !== undefined ? { ops: blockBatch(block, hash, out, overlay, commitment, forImport.commit) } : {}) }
    } catch (error) {
      executed = { error }
    }
    const t2 = performance.now()
    // 5 (awaited even when execution failed, so no verification is left running unobserved)
    const bad = (await verdicts).indexOf(false)
    const t3 = performance.now()
    if (bad >= 0) {
      const index = block.txs.indexOf(toVerify[bad] as Tx)
      throw new ChainError({ code: 'BLOCK_INVALID_TX', index, txCode: 'TX_BAD_SIGNATURE', reason: 'bad signature' }, `Transaction ${index} has a bad signature; the block is refused.`)
    }
    if ('error' in executed) throw executed.error
    const { out, commitment, ops } = executed
    if (cache !== undefined) for (const tx of toVerify) cache.add(tx.hash)
    return {
      hash,
      parentHash: this.tip.hash,
      out,
      overlay,
      commitment,
      ...(ops !== undefined ? { ops } : {}),
      timings: { checksMs: t1 - t0, executeMs: tRoots - t1, rootsMs: t2 - tRoots, verifyWaitMs: t3 - t2 }
    }
  }

  /** Step 6: the header's state root, results root and next validator set against the execution's. */
  private compareRoots (h: BlockHeader, out: ExecutionOutput, commitment: StateCommitment): void {
    if (!equalBytes(commitment.stateRoot, h.stateRoot)) throw new ChainError({ code: 'BLOCK_BAD_STATE_ROOT' }, `Block ${h.height}'s stateRoot differs from the state its transactions produce here.`)
    if (!equalBytes(computeResultsRoot(out.receipts), h.resultsRoot)) throw new ChainError({ code: 'BLOCK_BAD_RESULTS_ROOT' }, `Block ${h.height}'s resultsRoot differs from the receipts its transactions produce here.`)
    const nextSetHash = validatorSetHash(this.chainId, out.nextValidatorSet)
    if (!equalBytes(nextSetHash, h.nextValidatorsHash)) throw new ChainError({ code: 'BLOCK_BAD_NEXT_VALIDATORS_HASH' }, `Block ${h.height}'s nextValidatorsHash differs from the validator set its transactions produce.`)
  }

  private async importBlockNow (block: Block, opts: { commit?: CommitCertificate }): Promise<ImportResult> {
    const h = block.header
    const prepared = await this.prepareBlock(block, opts)
    this.prepared = undefined
    const { hash, out, overlay, commitment } = prepared
    const t3 = performance.now()
    // 7
    if (opts.commit !== undefined) {
      verifyCommit(this.chainId, this.tip.validatorSet, hash, h.height, opts.commit)
    }
    // 8: the block store first, then the state that moves the head (writeBlockBatch)
    const batch = prepared.ops ?? blockBatch(block, hash, out, overlay, commitment, opts.commit)
    await writeBlockBatch(this.deps.db, this.deps.blocksDb, batch, this.opts.syncWrites ?? true)
    // 9
    const tip = this.tip
    tip.committed = overlay.applyTo(tip.committed.values as Map<string, Uint8Array>, commitment)
    tip.headValidatorSet = tip.validatorSet
    tip.validatorSet = out.nextValidatorSet
    tip.height = h.height
    tip.hash = hash
    tip.timestamp = h.timestamp
    this.deps.blockStore.remember(block)
    // 10
    this.deps.onBlock({ block, hash, receipts: out.receipts })
    const timings = { ...prepared.timings, commitMs: performance.now() - t3 }
    return { height: h.height, hash, receipts: out.receipts, stateRoot: commitment.stateRoot, timings }
  }
}

/**
 * Step 8's batch for a block: the block store's writes (blockStoreOps), and the state database's
 * in this order: the block's indexes, the state changes, the state tree's new version (its nodes,
 * root pointer and stale-index entries), the audit entries under their patients,
 * the validator set the block changes to (if it does), the audit accumulator, the new head.
 */
export function blockBatch (block: Block, hash: Uint8Array, out: ExecutionOutput, overlay: StateOverlay, commitment: StateCommitment, commit?: CommitCertificate): BlockBatch {
  const height = block.header.height
  const blockOps = blockStoreOps(block, out.receipts, commit)
  const ops: BatchOp[] = []
  addBlockIndexOps(ops, block, hash, out.receipts)
  for (const [key, value] of overlay.writes) {
    ops.push(value === null ? { type: 'del', key: stateKey(key) } : { type: 'put', key: stateKey(key), value })
  }
  for (const [key, value] of commitment.tree.puts) ops.push({ type: 'put', key, value })
  addAuditIndexOps(ops, overlay.firstAuditSeq, overlay.appendedAudit)
  // the header's hashes were checked against both sets (validateBlock, step 6)
  if (!equalBytes(block.header.nextValidatorsHash, block.header.validatorsHash)) {
    ops.push({ type: 'put', key: heightKey(Bucket.validatorSetFrom, height + 1), value: encodeValidatorSet(out.nextValidatorSet) })
  }
  ops.push({ type: 'put', key: metaKey(Meta.auditAccumulator), value: encodeAccumulator(commitment.audit) })
  ops.push({ type: 'put', key: metaKey(Meta.head), value: encodeCanonical([u64(height), hash]) })
  return { blockOps, stateOps: ops }
}
