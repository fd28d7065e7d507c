/**
 * The full consistency check of a node's data (`medchain doctor`): reads the state database and
 * the block store of a stopped node, writing nothing, and reports every kind of damage it finds
 * with the first place each occurs. In order:
 *
 *  1. the genesis: the stored genesis hash is the given genesis's;
 *  2. the head: present and decodable, and its block is stored with that hash;
 *  3. the state: the state root recomputed from every stored state value (every leaf hashed,
 *     treeRootOfValues) and the stored audit accumulator (computeStateRoot) equals the head
 *     block's stateRoot (the genesis state root at height 0); and the state tree stored on disk
 *     gives, at the head's version, that same state root (what `Chain.open` reads instead of
 *     hashing the values). A tree with no root at the head (a directory written before the tree moved to
 *     disk, or whose tree build was interrupted) is a note: the next start builds it;
 *  4. the blocks, heights 1 to the head: each present, decodable, stored under its own height,
 *     linked to its parent by prevHash, passing `validateBlockBasic`, naming the validator set
 *     stored for its height, with one receipt per transaction whose resultsRoot is the header's,
 *     and certified: its stored certificate, and the copy the next block carries, verify
 *     (`verifyCommit`) against that validator set and commit to this block's hash (the head's
 *     certificate may be absent until the next block carries it: a note, not a problem);
 *  5. the cheap indexes: each block's height under its hash, each transaction's location.
 *
 * No contract runs: the state root needs none. A database another handle holds open (a running
 * node) is refused before LevelDB is asked to open it, where the platform tells (Linux), and a
 * directory without a database is refused without creating one (DoctorError).
 */
import { join } from 'node:path'
import { equalBytes, toHex } from '../crypto/bytes.js'
import { blockHash, decodeBlock, decodeCertificate, encodeCertificate, validateBlockBasic, ZERO_HASH, type Block, type CommitCertificate } from '../types/block.js'
import { decodeCanonical, readBytes, readTuple, readU64 } from '../types/codec.js'
import { verifyCommit } from '../types/commit.js'
import { genesisHash, type Genesis } from '../types/genesis.js'
import { computeResultsRoot, decodeReceipt } from '../types/receipt.js'
import { decodeValidatorSet, validatorSetHash, type ValidatorSet } from '../types/validatorSet.js'
import { MedchainError } from '../util/errors.js'
import { decodeAccumulator, EMPTY_ACCUMULATOR, type AuditAccumulator } from './auditLog.js'
import { computeStateRoot, treeRootOfValues } from './stateOverlay.js'
import { treeStoreOf, VersionedTree } from './versionedTree.js'
import { hasTreeVersion } from './treeMigration.js'
import { BLOCK_STORE_DIR, BlockStore } from './store/blockStore.js'
import { Bucket, Meta, metaKey, prefixRange } from './store/buckets.js'
import { isLevelDbLockError, levelDbExists, levelDbLockHeld, openExistingLevelDb, type ChainDb } from './store/db.js'
import { ChainIndexes, storedValidatorSets } from './store/indexes.js'

/** Why the doctor could not check at all (nothing was read, nothing changed). */
export type DoctorErrorType =
  | { code: 'DOCTOR_NO_DATA', dir: string }
  | { code: 'DOCTOR_LOCKED', dir: string }

export class DoctorError extends MedchainError<DoctorErrorType> {}

/**
 * The kinds of damage, stable codes:
 *  - DOCTOR_DB_UNREADABLE: LevelDB could not open or read a database (its files are damaged);
 *  - DOCTOR_GENESIS_MISMATCH: the data belongs to another genesis (nothing else is checked);
 *  - DOCTOR_META_CORRUPT: a record of the chain itself is missing or undecodable (genesis hash,
 *    genesis state root, audit accumulator, stored validator sets);
 *  - DOCTOR_HEAD_CORRUPT: the head record is missing or undecodable, or its hash is not its block's;
 *  - DOCTOR_STATE_ROOT_MISMATCH: the stored state does not hash to the head's state root;
 *  - DOCTOR_TREE_MISMATCH: the state tree stored on disk gives another state root at the head
 *    than the head's, or its root pointer there is damaged;
 *  - DOCTOR_BLOCK_MISSING, DOCTOR_BLOCK_CORRUPT: a block is not stored, or its bytes are not the
 *    block certified at its height (undecodable, another height, failing the stateless checks,
 *    or not hashing to what its certificate commits to);
 *  - DOCTOR_BLOCK_UNLINKED: a block's prevHash is not its parent's hash;
 *  - DOCTOR_VALIDATOR_SET_MISMATCH: the validator set stored for a height is not the one its block names;
 *  - DOCTOR_BAD_CERTIFICATE: a committed block's certificate is missing, undecodable or does not verify;
 *  - DOCTOR_RECEIPTS_MISSING, DOCTOR_RECEIPTS_MISMATCH: a block's receipts are not stored, or are
 *    undecodable, not one per transaction, or not hashing to its resultsRoot;
 *  - DOCTOR_INDEX_MISSING, DOCTOR_INDEX_MISMATCH: a block's height-by-hash or a transaction's
 *    location entry is not stored, or points elsewhere.
 */
export type DoctorProblemCode =
  | 'DOCTOR_DB_UNREADABLE'
  | 'DOCTOR_GENESIS_MISMATCH'
  | 'DOCTOR_META_CORRUPT'
  | 'DOCTOR_HEAD_CORRUPT'
  | 'DOCTOR_STATE_ROOT_MISMATCH'
  | 'DOCTOR_TREE_MISMATCH'
  | 'DOCTOR_BLOCK_MISSING'
  | 'DOCTOR_BLOCK_CORRUPT'
  | 'DOCTOR_BLOCK_UNLINKED'
  | 'DOCTOR_VALIDATOR_SET_MISMATCH'
  | 'DOCTOR_BAD_CERTIFICATE'
  | 'DOCTOR_RECEIPTS_MISSING'
  | 'DOCTOR_RECEIPTS_MISMATCH'
  | 'DOCTOR_INDEX_MISSING'
  | 'DOCTOR_INDEX_MISMATCH'

/** The first problem of one kind, and how many of that kind were found. */
export interface DoctorProblem {
  code: DoctorProblemCode
  /** The height of the first one, when it concerns a height. */
  height?: number
  /** One sentence: what is wrong, where. */
  message: string
  /** How many problems of this kind were found (the first is described). */
  count: number
}

export interface DoctorReport {
  ok: boolean
  /** The head's height, or null when the head could not be read. */
  height: number | null
  /** The state root recomputed from the stored state (hex), or null when it could not be computed. */
  stateRoot: string | null
  /** How many state values are stored. */
  stateValues: number
  /** How many heights of the block store were checked (1 to the head). */
  blocksChecked: number
  /** Kinds of damage, the first of each, in the order found; empty when ok. */
  problems: DoctorProblem[]
  /** Facts that are not damage (a head certificate not stored yet, a block above the head). */
  notes: string[]
}

/** How far a long phase is: `done` of `total` state values read, or blocks checked. */
export interface DoctorProgress { phase: 'state' | 'blocks', done: number, total: number }

export interface DoctorOptions {
  /** The state database's directory (a node home's data/); the block store is its BLOCK_STORE_DIR. */
  dir: string
  /** The genesis the data must belong to (the home's genesis.json). */
  genesis: Genesis
  /** Told of progress every STATE_PROGRESS_EVERY values and every block, and at the end of each phase. */
  onProgress?: (progress: DoctorProgress) => void
}

const STATE_PROGRESS_EVERY = 4096

function lockedError (dir: string): DoctorError {
  return new DoctorError({ code: 'DOCTOR_LOCKED', dir }, `The node at ${dir} is running (LevelDB lock); stop it first.`)
}

/**
 * A view of `db` that refuses to write: every check reads, and this makes a write a bug that
 * fails loudly instead of a change to an operator's data.
 */
function readOnly (db: ChainDb): ChainDb {
  return {
    get status () { return db.status },
    open: async () => { await db.open() },
    close: async () => { await db.close() },
    get: async (key) => await db.get(key),
    iterator: (range) => db.iterator(range),
    keys: (range) => db.keys(range),
    values: (range) => db.values(range),
    batch: () => { throw new TypeError('the doctor never writes') }
  }
}

/** Opens an existing database for reading, refusing a locked one without touching it. */
async function openForReading (dir: string): Promise<ChainDb> {
  if (levelDbLockHeld(dir) === true) throw lockedError(dir)
  try {
    return readOnly(await openExistingLevelDb(dir))
  } catch (err) {
    if (isLevelDbLockError(err)) throw lockedError(dir)
    throw err
  }
}

function reason (err: unknown): string {
  return err instanceof Error ? err.message.replace(/\.$/, '') : String(err)
}

/** Throws DoctorError DOCTOR_NO_DATA, touching nothing, unless `dir` holds a LevelDB database. */
export function assertNodeData (dir: string): void {
  if (!levelDbExists(dir)) {
    throw new DoctorError({ code: 'DOCTOR_NO_DATA', dir }, `${dir} holds no chain data yet; start the node once to create it, or point --home at the home of a node that has run.`)
  }
}

/**
 * Checks the node data in `opts.dir` against `opts.genesis` and reports what it finds; writes
 * nothing. Throws DoctorError DOCTOR_NO_DATA when `dir` holds no database (and creates none), and
 * DOCTOR_LOCKED when another handle (a running node) holds it open.
 */
export async function checkNodeData (opts: DoctorOptions): Promise<DoctorReport> {
  const { dir } = opts
  assertNodeData(dir)
  const blocksDir = join(dir, BLOCK_STORE_DIR)
  const blocksSeparate = levelDbExists(blocksDir)
  if (blocksSeparate && levelDbLockHeld(blocksDir) === true) throw lockedError(dir)
  const doctor = new Doctor(opts)
  let state: ChainDb | undefined
  let blocks: ChainDb | undefined
  try {
    try {
      state = await openForReading(dir)
      // a data directory written before the block store had a database of its own keeps blocks in the state database
      blocks = blocksSeparate ? await openForReading(blocksDir) : state
    } catch (err) {
      if (err instanceof DoctorError) throw err
      doctor.problem('DOCTOR_DB_UNREADABLE', undefined, `LevelDB could not open the database in ${blocks === undefined && state !== undefined ? blocksDir : dir} (${reason(err)}).`)
      return doctor.report()
    }
    if (await isEmpty(state)) {
      throw new DoctorError({ code: 'DOCTOR_NO_DATA', dir }, `${dir} holds an empty database (the node never wrote its genesis); start the node once to create its data.`)
    }
    await doctor.run(state, blocks)
    return doctor.report()
  } finally {
    if (blocks !== undefined && blocks !== state) await blocks.close()
    if (state !== undefined) await state.close()
  }
}

async function isEmpty (db: ChainDb): Promise<boolean> {
  for await (const _key of db.keys({ limit: 1 })) return false
  return true
}

interface Head { height: number, hash: Uint8Array }

/** What a checked block leaves for checking the next one and its own certificate. */
interface CheckedBlock {
  height: number
  /** The stored block's hash (the one its certificate commits to, when that verifies). */
  hash: Uint8Array
  /** The stored certificate's bytes, when present. */
  certificate?: Uint8Array
  /** The validator set stored for its height, when it matches the block's validatorsHash. */
  validatorSet?: ValidatorSet
}

/** One run of the checks: collects problems, keeping the first of each kind and a count. */
class Doctor {
  private readonly problems = new Map<DoctorProblemCode, DoctorProblem>()
  private readonly notes: string[] = []
  private readonly chainId: string
  private height: number | null = null
  private stateRoot: Uint8Array | undefined
  private stateValues = 0
  private blocksChecked = 0

  constructor (private readonly opts: DoctorOptions) {
    this.chainId = opts.genesis.chainId
  }

  problem (code: DoctorProblemCode, height: number | undefined, message: string): void {
    const seen = this.problems.get(code)
    if (seen !== undefined) { seen.count++; return }
    this.problems.set(code, { code, ...(height !== undefined ? { height } : {}), message, count: 1 })
  }

  report (): DoctorReport {
    const problems = [...this.problems.values()]
    return {
      ok: problems.length === 0,
      height: this.height,
      stateRoot: this.stateRoot === undefined ? null : toHex(this.stateRoot),
      stateValues: this.stateValues,
      blocksChecked: this.blocksChecked,
      problems,
      notes: this.notes
    }
  }

  async run (state: ChainDb, blocks: ChainDb): Promise<void> {
    // 1. the genesis
    const stored = await state.get(metaKey(Meta.genesisHash))
    if (stored === undefined) {
      this.problem('DOCTOR_META_CORRUPT', undefined, 'The database stores no genesis hash, so which chain it belongs to is unknown.')
    } else if (!equalBytes(stored, genesisHash(this.opts.genesis))) {
      this.problem('DOCTOR_GENESIS_MISMATCH', undefined, `The data belongs to another genesis than this home's genesis.json (chain "${this.chainId}"); nothing else was checked.`)
      return
    }
    // 2. the head
    const head = await this.readHead(state)
    this.height = head?.height ?? null
    const store = new BlockStore(blocks, state, () => head?.height ?? 0)
    const expectedRoot = head === undefined ? undefined : await this.expectedStateRoot(state, store, head)
    // 3. the state
    try {
      await this.checkState(state, head, expectedRoot)
    } catch (err) {
      this.problem('DOCTOR_DB_UNREADABLE', undefined, `Reading the state values failed (${reason(err)}).`)
    }
    // 4 and 5. the blocks and the indexes
    if (head === undefined) return
    try {
      await this.checkBlocks(state, store, head)
    } catch (err) {
      this.problem('DOCTOR_DB_UNREADABLE', undefined, `Reading the block store failed (${reason(err)}).`)
    }
  }

  private async readHead (state: ChainDb): Promise<Head | undefined> {
    const bytes = await state.get(metaKey(Meta.head))
    if (bytes === undefined) {
      this.problem('DOCTOR_HEAD_CORRUPT', undefined, 'The database has a genesis but no head record; the state and the blocks were not checked against one.')
      return undefined
    }
    try {
      const t = readTuple(decodeCanonical(bytes, { maxBytes: 64, maxItems: 2, maxDepth: 1 }), 2, 'head')
      return { height: readU64(t[0], 'head.height'), hash: readBytes(t[1], 'head.hash', 32) }
    } catch (err) {
      this.problem('DOCTOR_HEAD_CORRUPT', undefined, `The head record cannot be decoded (${reason(err)}); the state and the blocks were not checked against it.`)
      return undefined
    }
  }

  /** The state root the stored state must hash to: the head block's, or the genesis state root at height 0. */
  private async expectedStateRoot (state: ChainDb, store: BlockStore, head: Head): Promise<Uint8Array | undefined> {
    if (head.height === 0) {
      const root = await state.get(metaKey(Meta.genesisStateRoot))
      if (root === undefined) this.problem('DOCTOR_META_CORRUPT', 0, 'The genesis state root is not stored, so the state at height 0 cannot be checked.')
      return root
    }
    const above = await store.read(Bucket.blockByHeight, head.height + 1)
    if (above !== undefined) this.notes.push(`Block ${head.height + 1} is stored above the head: an import was interrupted before it moved the head; the node imports it again.`)
    const bytes = await store.read(Bucket.blockByHeight, head.height)
    if (bytes === undefined) return undefined // reported with the blocks
    let block: Block
    try {
      block = decodeBlock(bytes)
    } catch {
      return undefined // reported with the blocks
    }
    if (!equalBytes(blockHash(block.header), head.hash)) {
      this.problem('DOCTOR_HEAD_CORRUPT', head.height, `The head names block ${head.height} by hash ${toHex(head.hash)}, but the block stored at that height hashes to ${toHex(blockHash(block.header))}.`)
    }
    return block.header.stateRoot
  }

  private async checkState (state: ChainDb, head: Head | undefined, expectedRoot: Uint8Array | undefined): Promise<void> {
    const range = prefixRange(new Uint8Array([Bucket.state]))
    let total = 0
    for await (const _key of state.keys(range)) total++
    const values = new Map<string, Uint8Array>()
    const decoder = new TextDecoder()
    for await (const [key, value] of state.iterator(range)) {
      values.set(decoder.decode(key.subarray(1)), value)
      if (values.size % STATE_PROGRESS_EVERY === 0) this.opts.onProgress?.({ phase: 'state', done: values.size, total })
    }
    this.stateValues = values.size
    this.opts.onProgress?.({ phase: 'state', done: values.size, total: values.size })
    let audit: AuditAccumulator
    const accBytes = await state.get(metaKey(Meta.auditAccumulator))
    try {
      audit = accBytes === undefined ? EMPTY_ACCUMULATOR : decodeAccumulator(accBytes)
    } catch (err) {
      this.problem('DOCTOR_META_CORRUPT', undefined, `The audit accumulator cannot be decoded (${reason(err)}), so the state root cannot be computed.`)
      return
    }
    const treeRoot = treeRootOfValues(values)
    const root = computeStateRoot(this.chainId, treeRoot, audit)
    this.stateRoot = root
    if (head !== undefined) await this.checkTree(state, head.height, audit, expectedRoot ?? root)
    if (head !== undefined && expectedRoot !== undefined && !equalBytes(root, expectedRoot)) {
      const where = head.height === 0 ? 'the genesis state root' : `the state root of block ${head.height}, the head`
      this.problem('DOCTOR_STATE_ROOT_MISMATCH', head.height, `The ${values.size} stored state values and the audit accumulator hash to ${toHex(root)}, not to ${where} (${toHex(expectedRoot)}).`)
    }
  }

  /**
   * The state root the stored tree gives at the head (with the audit accumulator) against
   * `expectedRoot` (the head's; the stored values' when the head block is unreadable), so damaged
   * values and a damaged tree are told apart.
   */
  private async checkTree (state: ChainDb, height: number, audit: AuditAccumulator, expectedRoot: Uint8Array): Promise<void> {
    const tree = new VersionedTree(treeStoreOf(state), { cacheBytes: 0 })
    try {
      if (!await hasTreeVersion(tree, height)) {
        this.notes.push(`The state tree has no version at the head (block ${height}): the node builds it from the stored state values on its next start.`)
        return
      }
      const stored = computeStateRoot(this.chainId, await tree.rootOf(height), audit)
      if (!equalBytes(stored, expectedRoot)) {
        this.problem('DOCTOR_TREE_MISMATCH', height, `The state tree stored at the head (block ${height}) gives the state root ${toHex(stored)}, not ${toHex(expectedRoot)}.`)
      }
    } catch (err) {
      this.problem('DOCTOR_TREE_MISMATCH', height, `The state tree's root at the head (block ${height}) cannot be read (${reason(err)}).`)
    }
  }

  private async checkBlocks (state: ChainDb, store: BlockStore, head: Head): Promise<void> {
    const sets = await this.readValidatorSets(state)
    const indexes = new ChainIndexes(state)
    let prev: CheckedBlock | undefined
    for (let h = 1; h <= head.height; h++) {
      const checked = await this.checkBlock(store, indexes, sets, h, prev)
      if (prev !== undefined && prev.certificate === undefined) {
        this.problem('DOCTOR_BAD_CERTIFICATE', prev.height, `The certificate of block ${prev.height} is not stored.`)
      }
      prev = checked
      this.blocksChecked = h
      this.opts.onProgress?.({ phase: 'blocks', done: h, total: head.height })
    }
    // prev is now the head's block, as checked
    if (prev !== undefined && prev.certificate === undefined) {
      this.notes.push(`The head's certificate (block ${head.height}) is not stored yet; the next block carries it.`)
    }
  }

  /** Every stored validator set, oldest first; a problem for one that cannot be decoded. */
  private async readValidatorSets (state: ChainDb): Promise<Array<{ fromHeight: number, set: ValidatorSet }>> {
    const sets: Array<{ fromHeight: number, set: ValidatorSet }> = []
    for await (const { fromHeight, encodedSet } of storedValidatorSets(state)) {
      try {
        sets.push({ fromHeight, set: decodeValidatorSet(encodedSet) })
      } catch (err) {
        this.problem('DOCTOR_META_CORRUPT', fromHeight, `The validator set stored from height ${fromHeight} cannot be decoded (${reason(err)}).`)
      }
    }
    if (sets[0]?.fromHeight !== 1) this.problem('DOCTOR_META_CORRUPT', 1, 'The genesis validator set (in force from height 1) is not stored.')
    return sets
  }

  /** The validator set that validated block `height`: the last stored from at most max(height, 1) (Chain.validatorSetAt). */
  private setAt (sets: ReadonlyArray<{ fromHeight: number, set: ValidatorSet }>, height: number): ValidatorSet | undefined {
    let found: ValidatorSet | undefined
    for (const s of sets) {
      if (s.fromHeight > Math.max(height, 1)) break
      found = s.set
    }
    return found
  }

  /**
   * Checks block `h` and what belongs to it; `prev` is block h-1 as checked (undefined when it
   * is missing or corrupt, when the links to it are not checked). Returns what the next block
   * needs, or undefined when this one is missing or corrupt.
   */
  private async checkBlock (
    store: BlockStore, indexes: ChainIndexes, sets: ReadonlyArray<{ fromHeight: number, set: ValidatorSet }>, h: number, prev: CheckedBlock | undefined
  ): Promise<CheckedBlock | undefined> {
    const bytes = await store.read(Bucket.blockByHeight, h)
    if (bytes === undefined) {
      this.problem('DOCTOR_BLOCK_MISSING', h, `Block ${h} is not in the block store.`)
      return undefined
    }
    let block: Block
    try {
      block = decodeBlock(bytes)
      if (block.header.height !== h) throw new Error(`it says it is block ${block.header.height}`)
      validateBlockBasic(block, { chainId: this.chainId })
    } catch (err) {
      this.problem('DOCTOR_BLOCK_CORRUPT', h, `Block ${h} as stored is damaged: ${reason(err)}.`)
      return undefined
    }
    const hash = blockHash(block.header)
    // the validator set in force at h, as the block names it
    let validatorSet = this.setAt(sets, h)
    if (validatorSet !== undefined && !equalBytes(validatorSetHash(this.chainId, validatorSet), block.header.validatorsHash)) {
      this.problem('DOCTOR_VALIDATOR_SET_MISMATCH', h, `The validator set stored for height ${h} is not the one block ${h} names (validatorsHash); its certificate was not checked.`)
      validatorSet = undefined
    }
    // the stored certificate: valid on its own, and committing to this block's bytes
    const certificate = await store.read(Bucket.certificateByHeight, h)
    if (certificate !== undefined) {
      const verdict = this.verifyCertificate(certificate, validatorSet, h)
      if (verdict.cert !== undefined && !equalBytes(verdict.cert.blockHash, hash)) {
        this.problem('DOCTOR_BLOCK_CORRUPT', h, `Block ${h} as stored does not hash to the block its certificate commits to (${toHex(verdict.cert.blockHash)}).`)
        return undefined
      }
      if (verdict.error !== undefined) this.problem('DOCTOR_BAD_CERTIFICATE', h, `The certificate of block ${h} does not verify: ${verdict.error}.`)
    }
    // the links: to the parent, and the parent's certificate this block carries
    if (h === 1) {
      if (!equalBytes(block.header.prevHash, ZERO_HASH)) this.problem('DOCTOR_BLOCK_UNLINKED', 1, 'Block 1\'s prevHash is not the zero hash.')
      if (block.lastCommit.signatures.length !== 0) this.problem('DOCTOR_BLOCK_CORRUPT', 1, 'Block 1 carries a last commit with signatures; it must carry the empty one.')
    } else if (prev !== undefined) {
      if (!equalBytes(block.header.prevHash, prev.hash)) {
        this.problem('DOCTOR_BLOCK_UNLINKED', h, `Block ${h}'s prevHash is not the hash of block ${h - 1}.`)
      } else {
        this.checkCarriedCertificate(block.lastCommit, prev)
      }
    }
    await this.checkReceipts(store, block, h)
    await this.checkIndexes(indexes, block, hash, h)
    return { height: h, hash, ...(certificate !== undefined ? { certificate } : {}), ...(validatorSet !== undefined ? { validatorSet } : {}) }
  }

  /** The certificate's verdict against `set` at `height`, on the block hash it names itself. */
  private verifyCertificate (bytes: Uint8Array, set: ValidatorSet | undefined, height: number): { cert?: CommitCertificate, error?: string } {
    let cert: CommitCertificate
    try {
      cert = decodeCertificate(bytes)
    } catch (err) {
      return { error: `it cannot be decoded (${reason(err)})` }
    }
    if (set === undefined) return {} // not checkable: reported with the validator sets
    try {
      verifyCommit(this.chainId, set, cert.blockHash, height, cert)
      return { cert }
    } catch (err) {
      return { error: reason(err) }
    }
  }

  /**
   * Block h's lastCommit, the certificate of block h-1: when it is the stored certificate byte
   * for byte it was checked with block h-1 (the usual case: block h's batch stores it), else it
   * is verified here.
   */
  private checkCarriedCertificate (lastCommit: CommitCertificate, prev: CheckedBlock): void {
    const carried = encodeCertificate(lastCommit)
    if (prev.certificate !== undefined && equalBytes(carried, prev.certificate)) return
    if (prev.validatorSet === undefined) return
    try {
      verifyCommit(this.chainId, prev.validatorSet, prev.hash, prev.height, lastCommit)
    } catch (err) {
      this.problem('DOCTOR_BAD_CERTIFICATE', prev.height, `The certificate of block ${prev.height} that block ${prev.height + 1} carries does not verify: ${reason(err)}.`)
    }
  }

  private async checkReceipts (store: BlockStore, block: Block, h: number): Promise<void> {
    if (await store.read(Bucket.receiptsByHeight, h) === undefined) {
      this.problem('DOCTOR_RECEIPTS_MISSING', h, `The receipts of block ${h} are not stored.`)
      return
    }
    try {
      const encoded = await store.getBlockReceiptBytes(h) ?? []
      if (encoded.length !== block.txs.length) throw new Error(`${encoded.length} receipts for ${block.txs.length} transactions`)
      if (!equalBytes(computeResultsRoot(encoded.map(decodeReceipt)), block.header.resultsRoot)) throw new Error('they do not hash to the block\'s resultsRoot')
    } catch (err) {
      this.problem('DOCTOR_RECEIPTS_MISMATCH', h, `The receipts of block ${h} are not the block's: ${reason(err)}.`)
    }
  }

  private async checkIndexes (indexes: ChainIndexes, block: Block, hash: Uint8Array, h: number): Promise<void> {
    const indexed = await indexes.getHeightByHash(hash)
    if (indexed === undefined) this.problem('DOCTOR_INDEX_MISSING', h, `The height-by-hash index has no entry for block ${h}.`)
    else if (indexed !== h) this.problem('DOCTOR_INDEX_MISMATCH', h, `The height-by-hash index sends block ${h}'s hash to height ${indexed}.`)
    for (let i = 0; i < block.txs.length; i++) {
      const tx = block.txs[i] as Block['txs'][number]
      let loc: { height: number, index: number } | undefined
      try {
        loc = await indexes.getTxLocation(tx.hash)
      } catch (err) {
        this.problem('DOCTOR_INDEX_MISMATCH', h, `The tx-location entry of transaction ${i} of block ${h} (${toHex(tx.hash)}) cannot be decoded (${reason(err)}).`)
        continue
      }
      if (loc === undefined) this.problem('DOCTOR_INDEX_MISSING', h, `The tx-location index has no entry for transaction ${i} of block ${h} (${toHex(tx.hash)}).`)
      else if (loc.height !== h || loc.index !== i) this.problem('DOCTOR_INDEX_MISMATCH', h, `The tx-location entry of transaction ${i} of block ${h} (${toHex(tx.hash)}) points at block ${loc.height}, index ${loc.index}.`)
    }
  }
}
