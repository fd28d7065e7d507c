/**
 * The chain: the facade the node, the RPC and the proofs use. It opens the two databases (state
 * and indexes in one, blocks, receipts and certificates in the block store, src/chain/store),
 * writes genesis or loads and checks the head, holds the head, the validator sets and the
 * committed state, and hands blocks to the BlockExecutor (`buildBlock`, `checkBlock`,
 * `importBlock`, the one function that changes the chain) and queries to the block store and
 * the indexes; the RPC serves those queries.
 *
 * The committed state's values and audit accumulator are held in memory, LevelDB being their
 * durable copy; the state tree lives in the state database (src/chain/versionedTree.ts), one
 * version per block height (genesis = version 0), written in each block's batch. On open the node
 * loads every state value and reads the tree's root at the head (no leaf is hashed), and refuses
 * to start if the state root it gives differs from the head block's. A data directory without a
 * tree root at its head (written before the tree moved to disk) has its tree built once, from the
 * stored values (src/chain/treeMigration.ts). After each import, tree versions older than the
 * last `keepVersions` are pruned in the background. See docs/OPERATIONS.md, "State and storage".
 */
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { equalBytes } from '../crypto/bytes.js'
import type { Application } from '../types/application.js'
import { blockHash, decodeBlock, ZERO_HASH, type Block, type BlockHeader, type CommitCertificate } from '../types/block.js'
import { decodeCanonical, encodeCanonical, readBytes, readTuple, readU64, u64 } from '../types/codec.js'
import { ChainError } from '../types/errors.js'
import { genesisHash, type Genesis } from '../types/genesis.js'
import type { Receipt } from '../types/receipt.js'
import type { StateBackend } from '../types/state.js'
import type { Tx } from '../types/tx.js'
import { decodeValidatorSet, encodeValidatorSet, type ValidatorSet } from '../types/validatorSet.js'
import { accumulatorRoot, decodeAccumulator, encodeAccumulator, EMPTY_ACCUMULATOR } from './auditLog.js'
import {
  BlockExecutor, type BuiltBlock, type ChainTip, type CommittedBlock, type ExecutorOptions, type ImportResult
} from './blockExecutor.js'
import { computeStateRoot, StateOverlay, type CommittedState } from './stateOverlay.js'
import { BLOCK_STORE_DIR, BlockStore } from './store/blockStore.js'
import { Bucket, heightKey, Meta, metaKey, prefixRange, stateKey } from './store/buckets.js'
import { createLevelDb, writeBatch, type BatchOp, type ChainDb } from './store/db.js'
import { ChainIndexes, type TxLocation } from './store/indexes.js'
import { EMPTY_TREE_ROOT, type BinaryHash } from './smt.js'
import { buildTreeFromValues, hasTreeVersion, type TreeBuildProgress } from './treeMigration.js'
import { DEFAULT_TREE_CACHE_BYTES, TreeError, treeStoreOf, VersionedTree } from './versionedTree.js'
import type { SmtProof } from '../types/smtProof.js'

/** How to open a chain: where its databases are, its genesis, and the block executor's options (app, verifier, clock, fsync). */
export interface ChainOptions extends ExecutorOptions {
  /** Directory of the LevelDB database (created if missing). */
  dir: string
  /** Use this database instead of opening LevelDB at `dir` (e.g. a MemoryLevel in the simulator). */
  db?: ChainDb
  /** The block store; defaults to LevelDB at `dir`/BLOCK_STORE_DIR, or to `db` itself when `db` is given. */
  blocksDb?: ChainDb
  genesis: Genesis
  /**
   * State tree versions kept readable: after importing block h, versions up to h - keepVersions
   * are pruned in the background. Default DEFAULT_KEEP_VERSIONS; at least 1.
   */
  keepVersions?: number
  /** Bound of the state tree's node cache in bytes (approximate). Default DEFAULT_TREE_CACHE_BYTES. */
  treeCacheBytes?: number
  /**
   * Progress of building the state tree on disk at open, which happens only for a data directory
   * without a tree root at its head (see src/chain/treeMigration.ts). An exception stops the open.
   */
  onTreeBuild?: (p: TreeBuildProgress) => void
  /** Node writes per synced chunk of that build (default 10,000); small values for tests. */
  treeBuildChunkSize?: number
  /** Told of a failed background prune of old tree versions (not fatal: the next block retries). */
  onPruneError?: (err: unknown) => void
}

/** Tree versions kept readable by default: proofs and reads at the last 100 heights. */
export const DEFAULT_KEEP_VERSIONS = 100

export interface ChainEvents {
  block: [CommittedBlock]
}

/** A read-only StateBackend over the committed values `values()` returns at each read. */
function readOnlyState (values: () => ReadonlyMap<string, Uint8Array>): StateBackend {
  const readOnly = (): never => { throw new TypeError('the committed state is read-only; write through importBlock') }
  return { get: (key) => values().get(key), set: readOnly, delete: readOnly, appendAudit: readOnly }
}

export class Chain extends EventEmitter<ChainEvents> {
  readonly chainId: string
  /** The head and the committed state; the executor advances it on each import. */
  private readonly tip: ChainTip
  /** Blocks, receipts and certificates by height. */
  private readonly store: BlockStore
  /** The query indexes in the state database. */
  private readonly indexes: ChainIndexes
  /** Builds, checks and imports blocks, one at a time. */
  private readonly executor: BlockExecutor

  private constructor (
    private readonly db: ChainDb,
    private readonly blocks: ChainDb,
    private readonly opts: ChainOptions,
    committed: CommittedState
  ) {
    super()
    this.chainId = opts.genesis.chainId
    const validatorSet = opts.app.getValidatorSet(readOnlyState(() => committed.values))
    this.tip = { height: 0, hash: ZERO_HASH, timestamp: opts.genesis.genesisTime, committed, validatorSet, headValidatorSet: validatorSet }
    this.store = new BlockStore(blocks, db, () => this.tip.height)
    this.indexes = new ChainIndexes(db)
    this.executor = new BlockExecutor({
      chainId: this.chainId,
      tip: this.tip,
      opts,
      db,
      blocksDb: blocks,
      blockStore: this.store,
      onBlock: (event) => {
        this.schedulePrune()
        this.emit('block', event)
      }
    })
  }

  /**
   * Opens (or creates) the database. On a new database the genesis state is written; on an
   * existing one the genesis must match, and the state root given by the stored tree's root at
   * the head (built first from the stored values if the tree has no root there) must equal the
   * head's. Refuses a keepVersions below 1 or a negative treeCacheBytes (TREE_BAD_INPUT) before
   * opening anything.
   */
  static async open (opts: ChainOptions): Promise<Chain> {
    const keepVersions = opts.keepVersions ?? DEFAULT_KEEP_VERSIONS
    if (!Number.isSafeInteger(keepVersions) || keepVersions < 1) {
      throw new TreeError({ code: 'TREE_BAD_INPUT', reason: 'keepVersions' }, `keepVersions ${keepVersions} is not a positive integer; keep at least the head's tree version (1).`)
    }
    const treeCacheBytes = opts.treeCacheBytes ?? DEFAULT_TREE_CACHE_BYTES
    if (!Number.isSafeInteger(treeCacheBytes) || treeCacheBytes < 0) {
      throw new TreeError({ code: 'TREE_BAD_INPUT', reason: 'treeCacheBytes' }, `treeCacheBytes ${treeCacheBytes} is not a byte count; pass an integer from 0 up.`)
    }
    const db: ChainDb = opts.db ?? createLevelDb(opts.dir)
    if (db.status !== 'open') await db.open()
    // the block store opens inside the state database's directory, which exists once that is open
    let blocks: ChainDb = db
    try {
      blocks = opts.blocksDb ?? opts.db ?? createLevelDb(join(opts.dir, BLOCK_STORE_DIR))
      if (blocks.status !== 'open') await blocks.open()
      const tree = new VersionedTree(treeStoreOf(db), { cacheBytes: treeCacheBytes })
      const gHash = genesisHash(opts.genesis)
      const storedGenesis = await db.get(metaKey(Meta.genesisHash))
      if (storedGenesis === undefined) {
        await Chain.writeGenesis(db, tree, opts.app, opts.genesis, gHash)
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
      const chain = new Chain(db, blocks, opts, { values, tree, version: null, root: EMPTY_TREE_ROOT, audit })
      await chain.loadHead()
      return chain
    } catch (err) {
      if (blocks !== db) await blocks.close()
      await db.close()
      throw err
    }
  }

  /** Writes the genesis state, its tree as version 0, and the head at height 0, in one batch. */
  private static async writeGenesis (db: ChainDb, tree: VersionedTree, app: Application, genesis: Genesis, gHash: Uint8Array): Promise<void> {
    const overlay = new StateOverlay({ values: new Map(), tree, version: null, root: EMPTY_TREE_ROOT, audit: EMPTY_ACCUMULATOR })
    app.initGenesisState(overlay, genesis)
    const commitment = await overlay.commitment(genesis.chainId, 0)
    const ops: BatchOp[] = []
    for (const [key, value] of overlay.writes) if (value !== null) ops.push({ type: 'put', key: stateKey(key), value })
    for (const [key, value] of commitment.tree.puts) ops.push({ type: 'put', key, value })
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
      this.tip.timestamp = block.header.timestamp
    }
    const committed = this.tip.committed
    if (!await hasTreeVersion(committed.tree, height)) {
      await buildTreeFromValues(this.db, height, {
        ...(this.opts.onTreeBuild !== undefined ? { onProgress: this.opts.onTreeBuild } : {}),
        ...(this.opts.treeBuildChunkSize !== undefined ? { chunkSize: this.opts.treeBuildChunkSize } : {})
      })
    }
    const treeRoot = await committed.tree.rootOf(height)
    this.tip.committed = { ...committed, version: height, root: treeRoot }
    const root = computeStateRoot(this.chainId, treeRoot, committed.audit)
    if (expectedRoot === undefined || !equalBytes(root, expectedRoot)) {
      throw new ChainError({ code: 'STORE_STATE_MISMATCH', height }, `The stored state does not match the state root of block ${height}: the database is damaged; restore the data directory from a backup or move it away and resync from peers.`)
    }
    this.tip.height = height
    this.tip.hash = hash
    this.tip.headValidatorSet = (await this.validatorSetAt(height)) ?? this.tip.validatorSet
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
    return { height: this.tip.height, hash: this.tip.hash, timestamp: this.tip.timestamp }
  }

  get stateRoot (): Uint8Array {
    return computeStateRoot(this.chainId, this.tip.committed.root, this.tip.committed.audit)
  }

  /** The validator set that validated the head block (its certificate's signers). */
  get headValidators (): ValidatorSet {
    return this.tip.headValidatorSet
  }

  /** The validator set that validates the next block. */
  get validatorSet (): ValidatorSet {
    return this.tip.validatorSet
  }

  /** Read-only view of the committed state (for the mempool's nonce lookups and queries). */
  get stateView (): StateBackend {
    return readOnlyState(() => this.tip.committed.values)
  }

  /** The state tree's root at the head (32 bytes; the first half of stateRoot's preimage), for state proofs. */
  get stateTreeRoot (): Uint8Array {
    return this.tip.committed.root
  }

  /**
   * An inclusion or absence proof of `keyHash` (stateKeyHash of a state key) in the state tree at
   * `version` (default: the head's), as SparseMerkleTree.prove gives it. A version older than the
   * last `keepVersions` is pruned (TreeError TREE_VERSION_PRUNED).
   */
  async proveState (keyHash: BinaryHash, version: number = this.tip.height): Promise<SmtProof> {
    return await this.tip.committed.tree.prove(version, keyHash)
  }

  /** The audit accumulator's root as of the head (the second half of stateRoot's preimage), for state proofs. */
  get auditRoot (): Uint8Array {
    return accumulatorRoot(this.tip.committed.audit)
  }

  /**
   * Builds the next block from candidate transactions (the proposer's side): executes them in an
   * overlay, leaves out those that are not includable, and fills in every root. Persists nothing.
   */
  async buildBlock (args: { txs: readonly Tx[], timestamp: number, proposer: Uint8Array, lastCommit?: CommitCertificate }): Promise<BuiltBlock> {
    return await this.executor.buildBlock(args)
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
   *     audit accumulator and the new head), which alone moves the head (see writeBlockBatch in
   *     src/chain/store/db.ts; both are built in memory before step 5, and written only after
   *     step 7);
   *  9. adopt the overlay as the committed in-memory state (and its tree version as the head's);
   * 10. emit the 'block' event, last; then prune tree versions older than the last
   *     `keepVersions` in the background.
   *
   * Imports and checks run one at a time, in call order; the steps are carried out by the
   * BlockExecutor (src/chain/blockExecutor.ts).
   */
  async importBlock (block: Block, opts: { commit?: CommitCertificate } = {}): Promise<ImportResult> {
    return await this.executor.importBlock(block, opts)
  }

  /**
   * Validates a candidate block completely (steps 1-6 of importBlock) without writing anything:
   * what a validator does with a proposal before prevoting for it. The execution result is kept,
   * so importing the same block next does not execute it again. Throws ChainError/CodecError.
   */
  async checkBlock (block: Block): Promise<void> {
    await this.executor.checkBlock(block)
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

  /** The background prune under way, if any. */
  private pruning: Promise<void> | undefined
  /** The highest version a prune was started for. */
  private prunedUpto = -1

  /**
   * Prunes tree versions up to head - keepVersions in the background, unless a prune is still
   * running (the next block's prune then covers these versions too). Errors go to onPruneError.
   */
  private schedulePrune (): void {
    const upto = this.tip.height - (this.opts.keepVersions ?? DEFAULT_KEEP_VERSIONS)
    if (upto < 0 || upto <= this.prunedUpto || this.pruning !== undefined || this.executor.closed) return
    this.prunedUpto = upto
    this.pruning = this.tip.committed.tree.prune(upto).then(() => undefined, (err: unknown) => {
      this.prunedUpto = -1
      this.opts.onPruneError?.(err)
    }).finally(() => { this.pruning = undefined })
  }

  /** Resolves once the background prune under way (if any) has finished. */
  async pruneSettled (): Promise<void> {
    await this.pruning
  }

  async close (): Promise<void> {
    if (this.executor.closed) return
    await this.executor.close()
    await this.pruning
    if (this.blocks !== this.db) await this.blocks.close()
    await this.db.close()
  }
}
