/**
 * The block store: blocks, their receipts and their commit certificates by height, in a database
 * of their own (BLOCK_STORE_DIR), with reads that fall back to the state database for data
 * directories that keep them there, never serve a height above the head, and serve the newest
 * blocks decoded from memory.
 */
import { decodeBlock, decodeCertificate, encodeBlock, encodeCertificate, type Block, type CommitCertificate } from '../../types/block.js'
import { decodeCanonical, encodeCanonical, readBytesMax, readList } from '../../types/codec.js'
import { MAX_BLOCK_TXS } from '../../types/limits.js'
import { decodeReceipt, encodeReceipt, type Receipt } from '../../types/receipt.js'
import { Bucket, heightKey } from './buckets.js'
import type { BatchOp, ChainDb } from './db.js'

/**
 * The block store's directory inside the state database's: blocks, receipts and certificates,
 * keyed by height, live in a LevelDB database of their own (as CometBFT keeps blockstore.db apart
 * from state.db). They are most of the bytes a block writes; alone, their keys only ever grow, so
 * they are flushed once and never merged again by LevelDB's compactions of the randomly keyed
 * state and indexes (figures in bench/RESULTS.md).
 *
 * LevelDB ignores a directory it did not create inside its own, so wiping `data/` still wipes
 * both. A data directory whose blocks sit in the state database (one written before the block
 * store had a database of its own) stays readable: a read that misses the block store falls back
 * to the state database.
 */
export const BLOCK_STORE_DIR = 'blocks'

/**
 * How many of the newest committed blocks `getBlock` serves decoded from memory, and the most
 * encoded bytes they may hold together. Clients poll the head (explorers, `medchain` waiting for
 * a commit, bench:network timing every block): each read decoded the whole block again, which
 * hashes every transaction in it.
 */
export const RECENT_BLOCKS = 16
const RECENT_BLOCKS_MAX_BYTES = 64 * 1024 * 1024

/**
 * The block store's writes for a block at `block.header.height`: the block, its receipts, its own
 * certificate when given, and the previous block's certificate, which arrives in this block's
 * lastCommit. In this order.
 */
export function blockStoreOps (block: Block, receipts: readonly Receipt[], commit?: CommitCertificate): BatchOp[] {
  const height = block.header.height
  const blockOps: BatchOp[] = [
    { type: 'put', key: heightKey(Bucket.blockByHeight, height), value: encodeBlock(block) },
    { type: 'put', key: heightKey(Bucket.receiptsByHeight, height), value: encodeCanonical(receipts.map(encodeReceipt)) }
  ]
  if (commit !== undefined) blockOps.push({ type: 'put', key: heightKey(Bucket.certificateByHeight, height), value: encodeCertificate(commit) })
  if (height > 1) blockOps.push({ type: 'put', key: heightKey(Bucket.certificateByHeight, height - 1), value: encodeCertificate(block.lastCommit) })
  return blockOps
}

export class BlockStore {
  /** The newest committed blocks by height, oldest first (see RECENT_BLOCKS); blocks are immutable. */
  private readonly recentBlocks = new Map<number, { block: Block, bytes: number }>()
  private recentBlocksBytes = 0

  /**
   * @param blocks the block store's database (`state` itself when they share one)
   * @param state the state database, read when `blocks` misses
   * @param headHeight the height of the chain's head: nothing above it is served
   */
  constructor (
    private readonly blocks: ChainDb,
    private readonly state: ChainDb,
    private readonly headHeight: () => number
  ) {}

  /**
   * A block-store value (block, receipts or certificate by height), whatever the head: from the
   * block store, or from the state database, where a data directory from before the block store
   * had its own database (BLOCK_STORE_DIR) keeps them.
   */
  async read (bucket: number, height: number): Promise<Uint8Array | undefined> {
    const key = heightKey(bucket, height)
    const v = await this.blocks.get(key)
    if (v !== undefined || this.blocks === this.state) return v
    return await this.state.get(key)
  }

  /**
   * The block store's value for a committed height: none above the head, where a crash between
   * the two batches of a block's write may have left a block the state never adopted.
   */
  private async readCommitted (bucket: number, height: number): Promise<Uint8Array | undefined> {
    if (height > this.headHeight()) return undefined
    return await this.read(bucket, height)
  }

  /** The committed block at `height`; one of the RECENT_BLOCKS newest comes from memory (the same object each time). */
  async getBlock (height: number): Promise<Block | undefined> {
    const recent = this.recentBlocks.get(height)
    if (recent !== undefined) return recent.block
    const bytes = await this.getBlockBytes(height)
    return bytes === undefined ? undefined : decodeBlock(bytes)
  }

  /** Keeps a block just committed among the RECENT_BLOCKS served from memory, dropping the oldest past either bound. */
  remember (block: Block): void {
    const bytes = encodeBlock(block).length // cached by encodeBlock: the batch just wrote it
    this.recentBlocks.set(block.header.height, { block, bytes })
    this.recentBlocksBytes += bytes
    for (const [height, entry] of this.recentBlocks) {
      if (this.recentBlocks.size <= RECENT_BLOCKS && this.recentBlocksBytes <= RECENT_BLOCKS_MAX_BYTES) break
      this.recentBlocks.delete(height)
      this.recentBlocksBytes -= entry.bytes
    }
  }

  async getBlockBytes (height: number): Promise<Uint8Array | undefined> {
    return await this.readCommitted(Bucket.blockByHeight, height)
  }

  /** The certificate committing block `height`, once known (stored with block height+1 at the latest). */
  async getCertificate (height: number): Promise<CommitCertificate | undefined> {
    const v = await this.readCommitted(Bucket.certificateByHeight, height)
    return v === undefined ? undefined : decodeCertificate(v)
  }

  /** The receipt of transaction `index` of block `height`, or undefined when either is unknown. */
  async getReceipt (height: number, index: number): Promise<Receipt | undefined> {
    const v = await this.readCommitted(Bucket.receiptsByHeight, height)
    if (v === undefined) return undefined
    const list = readList(decodeCanonical(v, { maxBytes: 64 * 1024 * 1024, maxItems: MAX_BLOCK_TXS, maxDepth: 2 }), MAX_BLOCK_TXS, 'receipts')
    const item = list[index]
    if (!(item instanceof Uint8Array)) return undefined
    return decodeReceipt(item)
  }

  /** The encoded receipts of block `height`, in transaction order (the leaves of its resultsRoot). */
  async getBlockReceiptBytes (height: number): Promise<Uint8Array[] | undefined> {
    const v = await this.readCommitted(Bucket.receiptsByHeight, height)
    if (v === undefined) return undefined
    return readList(decodeCanonical(v, { maxBytes: 64 * 1024 * 1024, maxItems: MAX_BLOCK_TXS, maxDepth: 2 }), MAX_BLOCK_TXS, 'receipts')
      .map((item, i) => readBytesMax(item, `receipts[${i}]`, 64 * 1024))
  }
}
