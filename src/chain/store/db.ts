/**
 * The chain's databases: the slice of the abstract-level API the chain uses (`ChainDb`), opening
 * LevelDB with the chain's settings, and writing batches, one atomic batch at a time.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
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

/**
 * True when `dir` holds a LevelDB database (its CURRENT file). Asked to open a directory that
 * holds none, LevelDB creates the directory, a LOCK and a LOG file in it even with
 * createIfMissing false: a reader that must leave such a directory as it is checks this first.
 */
export function levelDbExists (dir: string): boolean {
  return existsSync(join(dir, 'CURRENT'))
}

/**
 * Whether a process (this one included) holds LevelDB's lock on the database at `dir`, read from
 * Linux's /proc/locks (LevelDB locks its LOCK file with fcntl) without opening the database, so
 * asking changes nothing; undefined where it cannot be told that way (no /proc/locks, no LOCK file).
 */
export function levelDbLockHeld (dir: string): boolean | undefined {
  let locks: string
  let dev: bigint
  let ino: bigint
  try {
    const st = statSync(join(dir, 'LOCK'), { bigint: true })
    dev = st.dev
    ino = st.ino
    locks = readFileSync('/proc/locks', 'utf8')
  } catch {
    return undefined
  }
  // Linux's dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31; /proc/locks prints MAJ:MIN:INODE in hex, hex, decimal
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn)
  for (const line of locks.split('\n')) {
    for (const field of line.split(/\s+/)) {
      const m = /^([0-9a-f]+):([0-9a-f]+):(\d+)$/.exec(field)
      if (m !== null && BigInt(`0x${m[1] as string}`) === major && BigInt(`0x${m[2] as string}`) === minor && BigInt(m[3] as string) === ino) return true
    }
  }
  return false
}

/**
 * Opens the existing LevelDB database at `dir` with the chain's settings, creating nothing when
 * it is missing (call `levelDbExists` first: LevelDB would still create the directory). Opening
 * writes no key, but LevelDB keeps its own files as at every open: it starts a new LOG (its text
 * log) and may fold its write-ahead log into a table file. A lock held by another handle rejects
 * with an error `isLevelDbLockError` recognises.
 */
export async function openExistingLevelDb (dir: string): Promise<ChainDb> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view', writeBufferSize: LEVELDB_WRITE_BUFFER_BYTES, createIfMissing: false })
  await db.open({ createIfMissing: false })
  return db
}

/** True when `err` is LevelDB's refusal to open a database whose lock another handle holds. */
export function isLevelDbLockError (err: unknown): boolean {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause
  return (err as { code?: unknown } | undefined)?.code === 'LEVEL_LOCKED' || cause?.code === 'LEVEL_LOCKED'
}
