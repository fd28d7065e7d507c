/**
 * The chain's databases: the slice of the abstract-level API the chain uses (`ChainDb`), opening
 * LevelDB with the chain's settings, and writing batches, one atomic batch at a time.
 */
import { Level } from 'level'

export interface RangeOptions { gte?: Uint8Array, lt?: Uint8Array, lte?: Uint8Array, reverse?: boolean, limit?: number }

/**
 * The part of the abstract-level API the chain uses, with binary ('view') keys and values:
 * LevelDB (`level`) on disk, or `memory-level` in the consensus simulator.
 */
export interface ChainDb {
  readonly status: string
  open: () => Promise<void>
  close: () => Promise<void>
  get: (key: Uint8Array) => Promise<Uint8Array | undefined>
  /** A chained batch: cheaper per operation than the array form of batch() (figures in bench/RESULTS.md). */
  batch: () => ChainedBatch
  iterator: (range: RangeOptions) => AsyncIterable<[Uint8Array, Uint8Array]>
  keys: (range: RangeOptions) => AsyncIterable<Uint8Array>
  values: (range: RangeOptions) => AsyncIterable<Uint8Array>
}

export interface ChainedBatch {
  put: (key: Uint8Array, value: Uint8Array) => unknown
  del: (key: Uint8Array) => unknown
  write: (options: { sync?: boolean }) => Promise<void>
}

export type BatchOp = { type: 'put', key: Uint8Array, value: Uint8Array } | { type: 'del', key: Uint8Array }

/** One block's writes: to the block store (written first), then to the state database. */
export interface BlockBatch { blockOps: BatchOp[], stateOps: BatchOp[] }

/**
 * LevelDB's memtable (write buffer) size: 32 MiB instead of its 4 MiB default. Every block
 * rewrites the identities of its senders (their nonces) and other hot keys; a larger memtable
 * absorbs those overwrites before they reach disk, and flushes (each of which is merged with the
 * whole of level 1) come 8× less often, which costs less CPU (figures in bench/RESULTS.md). Costs
 * up to 2 × 32 MiB of memory (the memtable and the one being flushed) and a longer write-ahead log
 * to replay after a crash.
 */
export const LEVELDB_WRITE_BUFFER_BYTES = 32 * 1024 * 1024

/** A LevelDB database at `dir` with binary keys and values and the chain's write buffer; not open yet. */
export function createLevelDb (dir: string): ChainDb {
  return new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view', writeBufferSize: LEVELDB_WRITE_BUFFER_BYTES })
}

/** Writes `ops` as ONE atomic batch (all or nothing, also across a crash). */
export async function writeBatch (db: ChainDb, ops: readonly BatchOp[], sync: boolean): Promise<void> {
  const batch = db.batch()
  for (const op of ops) {
    if (op.type === 'put') batch.put(op.key, op.value)
    else batch.del(op.key)
  }
  await batch.write({ sync })
}

/**
 * Writes a block's batch: the block store's first, then the state database's, which alone moves
 * the head; each atomic and (with `sync`) synced before the next starts. A crash in between leaves
 * a block above the head, which is never read and is written again when the block is imported
 * again. When both are one database (`blocks === state`), one batch holds both, block store's
 * operations first.
 */
export async function writeBlockBatch (state: ChainDb, blocks: ChainDb, batch: BlockBatch, sync: boolean): Promise<void> {
  if (blocks === state) {
    await writeBatch(state, [...batch.blockOps, ...batch.stateOps], sync)
  } else {
    await writeBatch(blocks, batch.blockOps, sync)
    await writeBatch(state, batch.stateOps, sync)
  }
}
