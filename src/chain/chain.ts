/**
 * The chain: state and indexes in one LevelDB database, blocks, receipts and certificates in a
 * second one (the block store, see BLOCK_STORE_DIR), and `importBlock`, the one function that
 * changes them. Also the proposer's `buildBlock` and the read queries the RPC
 * will serve.
 *
 * The committed state is held in memory (values, state tree, audit accumulator) and LevelDB is
 * its durable copy: on open the node loads every state value, rebuilds the tree and refuses to
 * start if the recomputed state root differs from the head block's. See README "Storage".
 */
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { equalBytes } from '../crypto/bytes.js'
import { verify } from '../crypto/ed25519.js'
import type { Application } from '../types/application.js'
import {
  blockHash, certificateHash, computeTxRoot, decodeBlock, EMPTY_COMMIT, validateBlockBasic, ZERO_HASH,
  type Block, type BlockHeader, type CommitCertificate
} from '../types/block.js'
import { accumulatorRoot, decodeAccumulator, encodeAccumulator, EMPTY_ACCUMULATOR } from './auditLog.js'
import { decodeCanonical, encodeCanonical, readBytes, readTuple, readU64, u64 } from '../types/codec.js'
import { ChainError } from '../types/errors.js'
import { executeBlockTxs, type ExecutionOutput } from './execute.js'
import { genesisHash, type Genesis } from '../types/genesis.js'
import { BLOCK_VERSION, MAX_BLOCK_TXS } from '../types/limits.js'
import { computeResultsRoot, type Receipt } from '../types/receipt.js'
import { buildCommittedState, computeStateRoot, StateOverlay, type CommittedState, type StateCommitment } from './stateOverlay.js'
import type { StateBackend } from '../types/state.js'
import { Bucket, heightKey, Meta, metaKey, prefixRange, stateKey } from './store/buckets.js'
import { txSignatureJob, type Tx } from '../types/tx.js'
import { validateBlock, type ChainView } from './validateBlock.js'
import { BLOCK_STORE_DIR, BlockStore, blockStoreOps } from './store/blockStore.js'
import { addAuditIndexOps, addBlockIndexOps, ChainIndexes, type TxLocation } from './store/indexes.js'
import { createLevelDb, writeBatch, writeBlockBatch, type BatchOp, type BlockBatch, type ChainDb } from './store/db.js'
import { verifyCommit } from '../types/commit.js'
import { decodeValidatorSet, encodeValidatorSet, validatorSetHash, type ValidatorSet } from '../types/validatorSet.js'

type Db = ChainDb

/** Verifies many signatures at once, e.g. a VerifyPool spreading them over worker threads. */
export interface BatchVerifier {
  verifyBatch: (jobs: ReadonlyArray<{ publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array }>) => Promise<boolean[]>
}

/** Remembers transaction hashes whose signature was verified (on mempool admission). */
export interface VerifiedTxCache {
  has: (txHash: Uint8Array) => boolean
  add: (txHash: Uint8Array) => void
}

export interface ChainOptions {
  /** Directory of the LevelDB database (created if missing). */
  dir: string
  /** Use this database instead of opening LevelDB at `dir` (e.g. a MemoryLevel in the simulator). */
  db?: ChainDb
  /** The block store; defaults to LevelDB at `dir`/BLOCK_STORE_DIR, or to `db` itself when `db` is given. */
  blocksDb?: ChainDb
  genesis: Genesis
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

export interface ChainEvents {
  block: [{ block: Block, hash: Uint8Array, receipts: Receipt[] }]
}

const inlineVerifier: BatchVerifier = {
  verifyBatch: async (jobs) => jobs.map((j) => verify(j.publicKey, j.message, j.signature))
}

export class Chain extends EventEmitter<ChainEvents> {
  readonly chainId: string
  private headHeightValue = 0
  private headHashValue: Uint8Array = ZERO_HASH
  private headTimestamp: number
  private committed: CommittedState
  private validatorSetValue: ValidatorSet
  private headValidatorSet: ValidatorSet
  private closed = false
  /** The last block validated by checkBlock, kept so that importing it does not execute it again. */
  private prepared: PreparedBlock | undefined
  /** Serialises imports: one block at a time. */
  private importQueue: Promise<unknown> = Promise.resolve()
  /** Blocks, receipts and certificates by height. */
  private readonly store: BlockStore
  /** The query indexes in the state database. */
  private readonly indexes: ChainIndexes

  private constructor (
    private readonly db: Db,
    private readonly blocks: Db,
    private readonly opts: ChainOptions,
    committed: CommittedState
  ) {
    super()
    this.chainId = opts.genesis.chainId
    this.headTimestamp = opts.genesis.genesisTime
    this.committed = committed
    this.validatorSetValue = opts.app.getValidatorSet(this.stateView)
    this.headValidatorSet = this.validatorSetValue
    this.store = new BlockStore(blocks, db, () => this.headHeightValue)
    this.indexes = new ChainIndexes(db)
  }

  /**
   * Opens (or creates) the database. On a new database the genesis state is written; on an
   * existing one the genesis must match and the recomputed state root must equal the head's.
   */
  static async open (opts: ChainOptions): Promise<Chain> {
    const db: Db = opts.db ?? createLevelDb(opts.dir)
    if (db.status !== 'open') await db.open()
    // the block store opens inside the state database's directory, which exists once that is open
    let blocks: Db = db
    try {
      blocks = opts.blocksDb ?? opts.db ?? createLevelDb(join(opts.dir, BLOCK_STORE_DIR))
      if (blocks.status !== 'open') await blocks.open()
      const gHash = genesisHash(opts.genesis)
      const storedGenesis = await db.get(metaKey(Meta.genesisHash))
      if (storedGenesis === undefined) {
        await Chain.writeGenesis(db, opts.app, opts.genesis, gHash)
      } else if (!equalBytes(storedGenesis, gHash)) {
        throw new ChainError({ code: 'STORE_GENESIS_MISMATCH' }, `The database in ${opts.dir} belongs to another genesis; point --home at the right node or move the data directory away.`)
      }
      const values = new Map<string, Uint8Array>()
      const decoder = new TextDecoder()
      for await (const [key, value] of db.iterator(prefixRange(new Uint8Array([Bucket.state])))) {
        values.set(decoder.decode(key.subarray(1)), value)
      }
      const accBytes = await db.get(metaKey(Meta.auditAccumulator))
      const audit = accBytes === undefined ? EMPTY_ACCUMULATOR : decodeAccumulator(accBytes)
      const chain = new Chain(db, blocks, opts, buildCommittedState(values, audit))
      await chain.loadHead()
      return chain
    } catch (err) {
      if (blocks !== db) await blocks.close()
      await db.close()
      throw err
    }
  }

  private static async writeGenesis (db: Db, app: Application, genesis: Genesis, gHash: Uint8Array): Promise<void> {
    const base = buildCommittedState(new Map(), EMPTY_ACCUMULATOR)
    const overlay = new StateOverlay(base)
    app.initGenesisState(overlay, genesis)
    const commitment = overlay.commitment(genesis.chainId)
    const ops: BatchOp[] = []
    for (const [key, value] of overlay.writes) if (value !== null) ops.push({ type: 'put', key: stateKey(key), value })
    ops.push({ type: 'put', key: heightKey(Bucket.validatorSetFrom, 1), value: encodeValidatorSet(app.getValidatorSet(overlay)) })
    ops.push({ type: 'put', key: metaKey(Meta.genesisStateRoot), value: commitment.stateRoot })
    ops.push({ type: 'put', key: metaKey(Meta.auditAccumulator), value: encodeAccumulator(commitment.audit) })
    ops.push({ type: 'put', key: metaKey(Meta.head), value: encodeCanonical([u64(0), ZERO_HASH]) })
    ops.push({ type: 'put', key: metaKey(Meta.genesisHash), value: gHash })
    await writeBatch(db, ops, true)
  }

  private async loadHead (): Promise<void> {
    const headBytes = await this.db.get(metaKey(Meta.head))
    if (headBytes === undefined) throw new ChainError({ code: 'STORE_CORRUPT', reason: 'no head' }, 'The database has a genesis but no head; move the data directory away and resync.')
    const t = readTuple(decodeCanonical(headBytes, { maxBytes: 64, maxItems: 2, maxDepth: 1 }), 2, 'head')
    const height = readU64(t[0], 'head.height')
    const hash = readBytes(t[1], 'head.hash', 32)
    let expectedRoot: Uint8Array | undefined
    if (height === 0) {
      expectedRoot = await this.db.get(metaKey(Meta.genesisStateRoot))
    } else {
      const bytes = await this.store.read(Bucket.blockByHeight, height)
      const block = bytes === undefined ? undefined : decodeBlock(bytes)
      if (block === undefined || !equalBytes(blockHash(block.header), hash)) {
        throw new ChainError({ code: 'STORE_CORRUPT', reason: 'head block missing' }, `The head block ${height} is missing or does not match the head hash; move the data directory away and resync.`)
      }
      expectedRoot = block.header.stateRoot
      this.headTimestamp = block.header.timestamp
    }
    const root = computeStateRoot(this.chainId, this.committed.tree, this.committed.audit)
    if (expectedRoot === undefined || !equalBytes(root, expectedRoot)) {
      throw new ChainError({ code: 'STORE_STATE_MISMATCH', height }, `The stored state does not match the state root of block ${height}: the database is damaged; restore the data directory from a backup or move it away and resync from peers.`)
    }
    this.headHeightValue = height
    this.headHashValue = hash
    this.headValidatorSet = (await this.validatorSetAt(height)) ?? this.validatorSetValue
  }

  /** The validator set that validated block `height` (the latest change at or below it). */
  async validatorSetAt (height: number): Promise<ValidatorSet | undefined> {
    for await (const value of this.db.values({ gte: heightKey(Bucket.validatorSetFrom, 0), lte: heightKey(Bucket.validatorSetFrom, Math.max(height, 1)), reverse: true, limit: 1 })) {
      return decodeValidatorSet(value)
    }
    return undefined
  }

  /**
   * Every change of the validator set after genesis that is in force at or before `maxHeight`,
   * oldest first: the set in force from `fromHeight` (block `fromHeight - 1`'s nextValidatorsHash
   * commits to it), as encoded bytes. For validator-history proofs (src/proof).
   */
  async listValidatorSetChanges (maxHeight: number): Promise<Array<{ fromHeight: number, encodedSet: Uint8Array }>> {
    const out: Array<{ fromHeight: number, encodedSet: Uint8Array }> = []
    if (maxHeight < 2) return out
    for await (const [key, value] of this.db.iterator({ gte: heightKey(Bucket.validatorSetFrom, 2), lte: heightKey(Bucket.validatorSetFrom, maxHeight) })) {
      out.push({ fromHeight: Number(new DataView(key.buffer, key.byteOffset + 1, 8).getBigUint64(0)), encodedSet: value })
    }
    return out
  }

  get head (): { height: number, hash: Uint8Array, timestamp: number } {
    return { height: this.headHeightValue, hash: this.headHashValue, timestamp: this.headTimestamp }
  }

  get stateRoot (): Uint8Array {
    return computeStateRoot(this.chainId, this.committed.tree, this.committed.audit)
  }

  /** The validator set that validated the head block (its certificate's signers). */
  get headValidators (): ValidatorSet {
    return this.headValidatorSet
  }

  /** The validator set that validates the next block. */
  get validatorSet (): ValidatorSet {
    return this.validatorSetValue
  }

  /** Read-only view of the committed state (for the mempool's nonce lookups and queries). */
  get stateView (): StateBackend {
    const values = (): ReadonlyMap<string, Uint8Array> => this.committed.values
    const readOnly = (): never => { throw new TypeError('the committed state is read-only; write through importBlock') }
    return { get: (key) => values().get(key), set: readOnly, delete: readOnly, appendAudit: readOnly }
  }

  /** The committed state tree, for state proofs. */
  get stateTree (): CommittedState['tree'] {
    return this.committed.tree
  }

  /** The audit accumulator's root as of the head (the second half of stateRoot's preimage), for state proofs. */
  get auditRoot (): Uint8Array {
    return accumulatorRoot(this.committed.audit)
  }

  private view (): ChainView {
    return {
      chainId: this.chainId,
      headHeight: this.headHeightValue,
      headHash: this.headHashValue,
      headTimestamp: this.headTimestamp,
      validatorSet: this.validatorSetValue,
      headValidatorSet: this.headValidatorSet
    }
  }

  /**
   * Builds the next block from candidate transactions (the proposer's side): executes them in an
   * overlay, leaves out those that are not includable, and fills in every root. Persists nothing.
   */
  buildBlock (args: { txs: readonly Tx[], timestamp: number, proposer: Uint8Array, lastCommit?: CommitCertificate }): BuiltBlock {
    const lastCommit = args.lastCommit ?? EMPTY_COMMIT
    const height = this.headHeightValue + 1
    const overlay = new StateOverlay(this.committed)
    const out = executeBlockTxs(this.opts.app, overlay, args.txs.slice(0, MAX_BLOCK_TXS), { chainId: this.chainId, height, timestamp: args.timestamp, lastCommitSigners: lastCommit.signatures.map((sig) => sig.validator) }, { onInvalidTx: 'skip-tx' })
    const commitment = overlay.commitment(this.chainId)
    const header: BlockHeader = {
      version: BLOCK_VERSION,
      chainId: this.chainId,
      height,
      timestamp: args.timestamp,
      prevHash: this.headHashValue,
      txRoot: computeTxRoot(out.included),
      stateRoot: commitment.stateRoot,
      resultsRoot: computeResultsRoot(out.receipts),
      validatorsHash: validatorSetHash(this.chainId, this.validatorSetValue),
      nextValidatorsHash: validatorSetHash(this.chainId, out.nextValidatorSet),
      proposer: args.proposer,
      lastCommitHash: certificateHash(this.chainId, lastCommit)
    }
    const block = { header, txs: out.included, lastCommit }
    // the proposer validates its own proposal next (checkBlock): keep this execution for it, but
    // only when every signature was verified before (mempool admission), or checkBlock would skip one
    const cache = this.opts.verifiedTxs
    if (cache !== undefined && out.included.every((tx) => cache.has(tx.hash))) this.prepared = { hash: blockHash(header), parentHash: this.headHashValue, out, overlay, commitment, timings: { checksMs: 0, executeMs: 0, rootsMs: 0, verifyWaitMs: 0 } }
    return { block, receipts: out.receipts, skipped: out.skipped }
  }

  /**
   * Imports the next block. The one function that changes the chain; in this order, so a crash
   * at any point leaves either the old head or the new one, never a mix:
   *
   *  1. stateless checks (`validateBlockBasic`): sizes, chain id, tx root, last-commit hash;
   *  2. chain checks (`validateBlock`): height, parent, time, validator set, proposer, last commit;
   *  3. start verifying the signatures of transactions not verified before (worker threads);
   *     this starts first, so the workers verify while this thread runs steps 1, 2, 4, 6 and
   *     builds step 8's batch;
   *  4. meanwhile execute the transactions in an overlay (no writes to the committed state);
   *  5. wait for the signatures: any bad one rejects the block and the overlay is dropped;
   *  6. compare the execution's state root, results root and next validator set with the header
   *     (computed before step 5; a mismatch is reported after it, so a bad signature is reported
   *     first, whatever else it broke);
   *  7. verify the block's own commit certificate, when given (block sync, consensus);
   *  8. write two atomic LevelDB batches, each synced: first the block store's (block,
   *     certificates, receipts), then the state database's (tx index, state changes, audit
   *     entries and their patient index, the records-by-patient index, validator set change,
   *     audit accumulator and the new head), which alone moves the head (see BLOCK_STORE_DIR;
   *     both are built in memory before step 5, and written only after step 7);
   *  9. adopt the overlay as the committed in-memory state;
   * 10. emit the 'block' event, last.
   */
  async importBlock (block: Block, opts: { commit?: CommitCertificate } = {}): Promise<ImportResult> {
    const run = this.importQueue.then(async () => await this.importBlockNow(block, opts))
    this.importQueue = run.catch(() => undefined)
    return await run
  }

  /**
   * Validates a candidate block completely (steps 1-6 of importBlock) without writing anything:
   * what a validator does with a proposal before prevoting for it. The execution result is kept,
   * so importing the same block next does not execute it again. Throws ChainError/CodecError.
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
    if (this.closed) throw new ChainError({ code: 'STORE_CLOSED' }, 'The chain database is closed.')
    const h = block.header
    const hash = blockHash(h)
    const cached = this.prepared
    if (cached !== undefined && equalBytes(cached.hash, hash) && equalBytes(cached.parentHash, this.headHashValue)) return cached
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
    const overlay = new StateOverlay(this.committed)
    let executed: { out: ExecutionOutput, commitment: StateCommitment, ops?: BlockBatch } | { error: unknown }
    let tRoots = t1
    try {
      const out = executeBlockTxs(this.opts.app, overlay, block.txs, { chainId: this.chainId, height: h.height, timestamp: h.timestamp, lastCommitSigners: block.lastCommit.signatures.map((sig) => sig.validator) }, { onInvalidTx: 'reject-block' })
      tRoots = performance.now()
      const commitment = overlay.commitment(this.chainId)
      this.compareRoots(h, out, commitment)
      executed = { out, commitment, ...(forImport !== undefined ? { ops: this.batchFor(block, hash, out, overlay, commitment, forImport.commit) } : {}) }
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
      parentHash: this.headHashValue,
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
      verifyCommit(this.chainId, this.validatorSetValue, hash, h.height, opts.commit)
    }
    // 8
    const batch = prepared.ops ?? this.batchFor(block, hash, out, overlay, commitment, opts.commit)
    // the block store first: a crash in between leaves a block above the head, which is never
    // read (readCommitted) and is written again when the block is imported again
    await writeBlockBatch(this.db, this.blocks, batch, this.opts.syncWrites ?? true)
    // 9
    this.committed = overlay.applyTo(this.committed.values as Map<string, Uint8Array>, commitment)
    this.headValidatorSet = this.validatorSetValue
    this.validatorSetValue = out.nextValidatorSet
    this.headHeightValue = h.height
    this.headHashValue = hash
    this.headTimestamp = h.timestamp
    this.store.remember(block)
    // 10
    this.emit('block', { block, hash, receipts: out.receipts })
    const timings = { ...prepared.timings, commitMs: performance.now() - t3 }
    return { height: h.height, hash, receipts: out.receipts, stateRoot: commitment.stateRoot, timings }
  }

  private batchFor (block: Block, hash: Uint8Array, out: ExecutionOutput, overlay: StateOverlay, commitment: StateCommitment, commit?: CommitCertificate): BlockBatch {
    const height = block.header.height
    const blockOps = blockStoreOps(block, out.receipts, commit)
    const ops: BatchOp[] = []
    addBlockIndexOps(ops, block, hash, out.receipts)
    for (const [key, value] of overlay.writes) {
      ops.push(value === null ? { type: 'del', key: stateKey(key) } : { type: 'put', key: stateKey(key), value })
    }
    addAuditIndexOps(ops, overlay.firstAuditSeq, overlay.appendedAudit)
    // the header's hashes were checked against both sets (validateBlock, step 6)
    if (!equalBytes(block.header.nextValidatorsHash, block.header.validatorsHash)) {
      ops.push({ type: 'put', key: heightKey(Bucket.validatorSetFrom, height + 1), value: encodeValidatorSet(out.nextValidatorSet) })
    }
    ops.push({ type: 'put', key: metaKey(Meta.auditAccumulator), value: encodeAccumulator(commitment.audit) })
    ops.push({ type: 'put', key: metaKey(Meta.head), value: encodeCanonical([u64(height), hash]) })
    return { blockOps, stateOps: ops }
  }

  // ------------------------------------------------------------------------------------------
  // queries

  /** The committed block at `height`; one of the RECENT_BLOCKS newest comes from memory (the same object each time). */
  async getBlock (height: number): Promise<Block | undefined> {
    return await this.store.getBlock(height)
  }

  async getBlockBytes (height: number): Promise<Uint8Array | undefined> {
    return await this.store.getBlockBytes(height)
  }

  async getHeader (height: number): Promise<BlockHeader | undefined> {
    return (await this.getBlock(height))?.header
  }

  async getHeightByHash (hash: Uint8Array): Promise<number | undefined> {
    return await this.indexes.getHeightByHash(hash)
  }

  /** The certificate committing block `height`, once known (stored with block height+1 at the latest). */
  async getCertificate (height: number): Promise<CommitCertificate | undefined> {
    return await this.store.getCertificate(height)
  }

  async getTxLocation (txHash: Uint8Array): Promise<TxLocation | undefined> {
    return await this.indexes.getTxLocation(txHash)
  }

  async getReceipt (txHash: Uint8Array): Promise<(TxLocation & { receipt: Receipt }) | undefined> {
    const loc = await this.getTxLocation(txHash)
    if (loc === undefined) return undefined
    const receipt = await this.store.getReceipt(loc.height, loc.index)
    return receipt === undefined ? undefined : { ...loc, receipt }
  }

  /** The encoded receipts of block `height`, in transaction order (the leaves of its resultsRoot). */
  async getBlockReceiptBytes (height: number): Promise<Uint8Array[] | undefined> {
    return await this.store.getBlockReceiptBytes(height)
  }

  /**
   * A patient's record ids in anchoring order, oldest first, read lazily from the index (a caller
   * that filters them reads only as far as it needs); with `after`, starting after that record of
   * the patient, which was anchored at block `after.height` (its `anchoredAt`).
   */
  recordsByPatient (patient: Uint8Array, after?: { recordId: Uint8Array, height: number }): AsyncGenerator<Uint8Array> {
    return this.indexes.recordsByPatient(patient, after)
  }

  /**
   * A patient's audit entries with their global sequence numbers, oldest first (newest first with
   * `reverse`); `afterSeq` starts after a known entry, so a subscriber reads only what is new.
   */
  async listAuditByPatient (patient: Uint8Array, opts: { afterSeq?: number, limit?: number, reverse?: boolean } = {}): Promise<Array<{ seq: number, entry: Uint8Array }>> {
    return await this.indexes.listAuditByPatient(patient, opts)
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.importQueue
    if (this.blocks !== this.db) await this.blocks.close()
    await this.db.close()
  }
}
