/**
 * Blocks, block headers and commit certificates: types, canonical encoding, hashes and the
 * stateless check `validateBlockBasic`.
 *
 * Header wire: [version u32, chainId str, height u64, timestamp u64 (ms since epoch), prevHash bytes32,
 *               txRoot bytes32, stateRoot bytes32, resultsRoot bytes32, validatorsHash bytes32,
 *               nextValidatorsHash bytes32, proposer bytes32, lastCommitHash bytes32]
 * Block wire:  [header, [tx bytes, ...], lastCommit]
 * Certificate wire: [height u64, round u32, blockHash bytes(0|32), [[validator bytes32, signature bytes64], ...]]
 *
 * The block hash is sha256(domain 'medchain/block/v1' || chainId || encoded header). stateRoot and
 * resultsRoot are those after executing this block's transactions.
 */
import { byteKey, equalBytes } from '../crypto/bytes.js'
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH } from '../crypto/ed25519.js'
import { Domain, hashWithDomain, HASH_LENGTH } from '../crypto/hash.js'
import {
  decodeCanonical, encodeCanonical, readBytes, readList, readOptionalBytes, readString, readTuple, readU32,
  readU64, u64, EMPTY_BYTES, type Wire
} from './codec.js'
import { ChainError } from './errors.js'
import { BLOCK_DECODE_LIMITS, BLOCK_VERSION, MAX_BLOCK_BYTES, MAX_BLOCK_TXS, MAX_CHAIN_ID_LENGTH, MAX_TX_BYTES, MAX_VALIDATORS } from './limits.js'
import { merkleRoot } from './merkle.js'
import { decodeOwnedTx, type Tx } from './tx.js'

export interface BlockHeader {
  version: number
  chainId: string
  height: number
  /** Milliseconds since the Unix epoch, as proposed and agreed by the validators. */
  timestamp: number
  prevHash: Uint8Array
  txRoot: Uint8Array
  stateRoot: Uint8Array
  resultsRoot: Uint8Array
  validatorsHash: Uint8Array
  nextValidatorsHash: Uint8Array
  proposer: Uint8Array
  lastCommitHash: Uint8Array
}

export interface CommitSignature { validator: Uint8Array, signature: Uint8Array }

/** Precommits of more than 2/3 of the voting power for one block (filled by the consensus engine). */
export interface CommitCertificate {
  height: number
  round: number
  /** Empty only in the certificate carried by block 1 (there is no block 0 to commit). */
  blockHash: Uint8Array
  signatures: CommitSignature[]
}

export interface Block {
  header: BlockHeader
  txs: Tx[]
  lastCommit: CommitCertificate
}

export const ZERO_HASH = new Uint8Array(HASH_LENGTH)
export const EMPTY_COMMIT: CommitCertificate = { height: 0, round: 0, blockHash: EMPTY_BYTES, signatures: [] }

function headerToWire (h: BlockHeader): Wire[] {
  return [h.version, h.chainId, u64(h.height), u64(h.timestamp), h.prevHash, h.txRoot, h.stateRoot, h.resultsRoot, h.validatorsHash, h.nextValidatorsHash, h.proposer, h.lastCommitHash]
}

function certificateToWire (c: CommitCertificate): Wire[] {
  return [u64(c.height), c.round, c.blockHash, c.signatures.map((s) => [s.validator, s.signature])]
}

export function encodeHeader (h: BlockHeader): Uint8Array {
  return encodeCanonical(headerToWire(h))
}

export function blockHash (h: BlockHeader): Uint8Array {
  return hashWithDomain(Domain.block, h.chainId, encodeHeader(h))
}

export function encodeCertificate (c: CommitCertificate): Uint8Array {
  return encodeCanonical(certificateToWire(c))
}

export function certificateHash (chainId: string, c: CommitCertificate): Uint8Array {
  return hashWithDomain(Domain.commit, chainId, encodeCertificate(c))
}

/**
 * The encoding of blocks encoded or decoded before: a block is encoded for its proposal, for the
 * validator's last-signed-block file and for the store, and a decoded block has its bytes already.
 * Blocks are values: nothing changes a Block object after it was built or decoded.
 */
const encodedBlocks = new WeakMap<Block, Uint8Array>()

export function encodeBlock (b: Block): Uint8Array {
  let bytes = encodedBlocks.get(b)
  if (bytes === undefined) {
    bytes = encodeCanonical([headerToWire(b.header), b.txs.map((t) => t.bytes), certificateToWire(b.lastCommit)])
    encodedBlocks.set(b, bytes)
  }
  return bytes
}

function headerFromWire (w: Wire | undefined): BlockHeader {
  const t = readTuple(w, 12, 'header')
  const h32 = (i: number, name: string): Uint8Array => readBytes(t[i], `header.${name}`, HASH_LENGTH)
  const version = readU32(t[0], 'header.version')
  if (version !== BLOCK_VERSION) throw new ChainError({ code: 'BLOCK_BAD_VERSION', version }, `Block version ${version} is not supported (expected ${BLOCK_VERSION}).`)
  return {
    version,
    chainId: readString(t[1], 'header.chainId', MAX_CHAIN_ID_LENGTH),
    height: readU64(t[2], 'header.height'),
    timestamp: readU64(t[3], 'header.timestamp'),
    prevHash: h32(4, 'prevHash'),
    txRoot: h32(5, 'txRoot'),
    stateRoot: h32(6, 'stateRoot'),
    resultsRoot: h32(7, 'resultsRoot'),
    validatorsHash: h32(8, 'validatorsHash'),
    nextValidatorsHash: h32(9, 'nextValidatorsHash'),
    proposer: readBytes(t[10], 'header.proposer', PUBLIC_KEY_LENGTH),
    lastCommitHash: h32(11, 'lastCommitHash')
  }
}

function certificateFromWire (w: Wire | undefined): CommitCertificate {
  const t = readTuple(w, 4, 'commit')
  return {
    height: readU64(t[0], 'commit.height'),
    round: readU32(t[1], 'commit.round'),
    blockHash: readOptionalBytes(t[2], 'commit.blockHash', HASH_LENGTH) ?? EMPTY_BYTES,
    signatures: readList(t[3], MAX_VALIDATORS, 'commit.signatures').map((s) => {
      const pair = readTuple(s, 2, 'commit.signatures[]')
      return { validator: readBytes(pair[0], 'commit.signatures[].validator', PUBLIC_KEY_LENGTH), signature: readBytes(pair[1], 'commit.signatures[].signature', SIGNATURE_LENGTH) }
    })
  }
}

export function decodeHeader (bytes: Uint8Array): BlockHeader {
  return headerFromWire(decodeCanonical(bytes, { maxBytes: 1024, maxItems: 12, maxDepth: 1 }))
}

export function decodeCertificate (bytes: Uint8Array): CommitCertificate {
  return certificateFromWire(decodeCanonical(bytes, { maxBytes: MAX_VALIDATORS * 110 + 64, maxItems: MAX_VALIDATORS, maxDepth: 3 }))
}

/**
 * Decodes a block and every transaction in it (each canonical on its own). Throws CodecError or
 * ChainError; signatures are not checked here.
 */
export function decodeBlock (bytes: Uint8Array): Block {
  if (bytes.length > MAX_BLOCK_BYTES) {
    throw new ChainError({ code: 'BLOCK_TOO_LARGE', size: bytes.length, limit: MAX_BLOCK_BYTES }, `The block is ${bytes.length} bytes, more than the limit of ${MAX_BLOCK_BYTES}.`)
  }
  // one copy (the caller may reuse its buffer); the transactions are views into it
  const owned = new Uint8Array(bytes)
  const t = readTuple(decodeCanonical(owned, BLOCK_DECODE_LIMITS), 3, 'block')
  const header = headerFromWire(t[0])
  const txList = readList(t[1], MAX_BLOCK_TXS, 'block.txs')
  const txs = txList.map((w, i) => decodeOwnedTx(readBytesOfTx(w, i)))
  const block = { header, txs, lastCommit: certificateFromWire(t[2]) }
  // canonical: these bytes are its one encoding
  encodedBlocks.set(block, owned)
  return block
}

function readBytesOfTx (w: Wire | undefined, index: number): Uint8Array {
  if (!(w instanceof Uint8Array)) return readBytes(w, `block.txs[${index}]`, 0)
  if (w.length > MAX_TX_BYTES) throw new ChainError({ code: 'TX_TOO_LARGE', size: w.length, limit: MAX_TX_BYTES }, `Transaction ${index} is ${w.length} bytes, more than the limit of ${MAX_TX_BYTES}.`)
  return w
}

export function computeTxRoot (txs: readonly Tx[]): Uint8Array {
  return merkleRoot(txs.map((t) => t.hash))
}

/**
 * Stateless block checks: version, chain id, counts and sizes, the transaction root, the
 * last-commit hash, transaction chain ids and no duplicate transaction. Signatures of transactions
 * are checked by `verifyBlockSignatures` (worker threads); state-dependent rules by `validateBlock`.
 */
export function validateBlockBasic (block: Block, opts: { chainId: string }): void {
  const h = block.header
  if (h.version !== BLOCK_VERSION) throw new ChainError({ code: 'BLOCK_BAD_VERSION', version: h.version }, `Block version ${h.version} is not supported (expected ${BLOCK_VERSION}).`)
  if (h.chainId !== opts.chainId) throw new ChainError({ code: 'BLOCK_WRONG_CHAIN', chainId: h.chainId }, `The block is for chain "${h.chainId}", not "${opts.chainId}".`)
  if (h.height < 1) throw new ChainError({ code: 'BLOCK_BAD_HEIGHT', expected: 1, got: h.height }, 'Block heights start at 1.')
  if (block.txs.length > MAX_BLOCK_TXS) throw new ChainError({ code: 'BLOCK_TOO_MANY_TXS', count: block.txs.length, limit: MAX_BLOCK_TXS }, `The block has ${block.txs.length} transactions, more than the limit of ${MAX_BLOCK_TXS}.`)
  if (!equalBytes(computeTxRoot(block.txs), h.txRoot)) throw new ChainError({ code: 'BLOCK_BAD_TX_ROOT' }, 'The block header\'s txRoot does not match its transactions.')
  if (!equalBytes(certificateHash(h.chainId, block.lastCommit), h.lastCommitHash)) throw new ChainError({ code: 'BLOCK_BAD_LAST_COMMIT', reason: 'hash mismatch' }, 'The block header\'s lastCommitHash does not match its last commit.')
  if (block.lastCommit.height !== h.height - 1) throw new ChainError({ code: 'BLOCK_BAD_LAST_COMMIT', reason: 'wrong height' }, `The last commit is for height ${block.lastCommit.height}, expected ${h.height - 1}.`)
  const seen = new Set<string>()
  block.txs.forEach((tx, index) => {
    if (tx.chainId !== h.chainId) throw new ChainError({ code: 'BLOCK_INVALID_TX', index, txCode: 'TX_WRONG_CHAIN', reason: 'wrong chain id' }, `Transaction ${index} is for chain "${tx.chainId}".`)
    const id = byteKey(tx.hash)
    if (seen.has(id)) throw new ChainError({ code: 'BLOCK_DUPLICATE_TX', index }, `Transaction ${index} appears twice in the block.`)
    seen.add(id)
  })
}
