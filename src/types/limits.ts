/**
 * Size limits of the ledger. Every decoder checks these before allocating; a change here is a
 * consensus change (all nodes must agree), so they are constants, not configuration.
 */
import type { DecodeLimits } from './codec.js'

export const TX_VERSION = 1
export const BLOCK_VERSION = 1

/** Largest encoded transaction. A grant carrying 256 key envelopes fits with room to spare. */
export const MAX_TX_BYTES = 96 * 1024
/** Largest encoded block (header + transactions + last commit). */
export const MAX_BLOCK_BYTES = 16 * 1024 * 1024
/** Most transactions in one block. */
export const MAX_BLOCK_TXS = 20_000

export const MAX_NAME_LENGTH = 128
export const MAX_REASON_LENGTH = 512
export const MAX_RESOURCE_TYPE_LENGTH = 64
export const MAX_BLOB_REF_LENGTH = 256
export const MAX_ENVELOPES = 256
export const MAX_ENVELOPE_BYTES = 512
export const MAX_SCOPE_TYPES = 32
export const MAX_SCOPE_RECORDS = 256
export const MAX_VOTE_BYTES = 256
export const MAX_CHAIN_ID_LENGTH = 64
/** Most signatures in a commit certificate (and so validators in a set). */
export const MAX_VALIDATORS = 256

export const TX_DECODE_LIMITS: DecodeLimits = { maxBytes: MAX_TX_BYTES, maxItems: MAX_SCOPE_RECORDS, maxDepth: 4 }
export const BLOCK_DECODE_LIMITS: DecodeLimits = { maxBytes: MAX_BLOCK_BYTES, maxItems: MAX_BLOCK_TXS, maxDepth: 4 }
