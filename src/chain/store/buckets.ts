/**
 * LevelDB key layout: the one place that defines every key prefix of the node's database.
 *
 * | prefix | key                                   | value                                       |
 * | ------ | ------------------------------------- | ------------------------------------------- |
 * | 0x01   | meta name (utf8)                      | see `Meta`                                  |
 * | 0x02   | height u64be                          | encoded block                               |
 * | 0x03   | block hash                            | height u64be                                |
 * | 0x04   | height u64be                          | commit certificate of that block (if known) |
 * | 0x05   | height u64be                          | encoded receipts of the block (one list)    |
 * | 0x06   | tx hash                               | [height u64, index u32]                     |
 * | 0x07   | state key (utf8)                      | state value (contract-encoded)              |
 * | 0x08   | (reserved for audit accumulator nodes, for audit proofs)                            |
 * | 0x09   | patient (32 B) + audit sequence u64be | encoded audit entry (a patient's trail)     |
 * | 0x0a   | patient (32 B) + height u64be + index | record id (index: records by patient)       |
 * | 0x0b   | height u64be                          | validator set in force from that height     |
 * | 0x0c   | version u64be + depth u16be + path    | state tree node (see store/treeNodes.ts)    |
 * | 0x0d   | version u64be                         | state tree root of that version             |
 * | 0x0e   | staleSince u64be                      | keys of the tree nodes that left the tree then, concatenated |
 * | 0x0f   | name (utf8)                           | state tree metadata (pruning watermark)     |
 */
import { concatBytes, utf8, writeU32be, writeU64be } from '../../crypto/bytes.js'

export const Bucket = {
  meta: 0x01,
  blockByHeight: 0x02,
  heightByHash: 0x03,
  certificateByHeight: 0x04,
  receiptsByHeight: 0x05,
  txLocation: 0x06,
  state: 0x07,
  auditByPatient: 0x09,
  recordsByPatient: 0x0a,
  validatorSetFrom: 0x0b,
  treeNode: 0x0c,
  treeRoot: 0x0d,
  treeStale: 0x0e,
  treeMeta: 0x0f
} as const

export const Meta = {
  /** [height u64, block hash] of the last imported block (height 0 = genesis only). */
  head: 'head',
  /** sha256 of the genesis file this database was created with. */
  genesisHash: 'genesis-hash',
  /** State root right after genesis (there is no block 0 header to hold it). */
  genesisStateRoot: 'genesis-state-root',
  /** Encoded audit accumulator (count and peaks) as of the head. */
  auditAccumulator: 'audit-accumulator'
} as const

export function metaKey (name: string): Uint8Array {
  return concatBytes(new Uint8Array([Bucket.meta]), utf8(name))
}

// Keys are built with one allocation each: a 10,000-transaction block writes ~40,000 of them.

export function heightKey (bucket: number, height: number): Uint8Array {
  const out = new Uint8Array(9)
  out[0] = bucket
  writeU64be(out, 1, height)
  return out
}

export function hashKey (bucket: number, hash: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + hash.length)
  out[0] = bucket
  out.set(hash, 1)
  return out
}

export function stateKey (key: string): Uint8Array {
  const out = Buffer.allocUnsafe(1 + Buffer.byteLength(key, 'utf8'))
  out[0] = Bucket.state
  out.write(key, 1, 'utf8')
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}

export function auditByPatientKey (patient: Uint8Array, seq: number): Uint8Array {
  const out = new Uint8Array(1 + patient.length + 8)
  out[0] = Bucket.auditByPatient
  out.set(patient, 1)
  writeU64be(out, 1 + patient.length, seq)
  return out
}

export function recordByPatientKey (patient: Uint8Array, height: number, txIndex: number): Uint8Array {
  const out = new Uint8Array(1 + patient.length + 12)
  out[0] = Bucket.recordsByPatient
  out.set(patient, 1)
  writeU64be(out, 1 + patient.length, height)
  writeU32be(out, 9 + patient.length, txIndex)
  return out
}

/**
 * The value of a 0x06 key, `encodeCanonical([u64(height), index])` byte for byte (a fixarray of 2,
 * the 9-byte int64, the smallest uint form of the index; a test compares the two), written by hand
 * because every transaction of a block writes one.
 */
export function encodeTxLocation (height: number, index: number): Uint8Array {
  const out = new Uint8Array(index < 0x80 ? 11 : index < 0x100 ? 12 : index < 0x10000 ? 13 : 15)
  out[0] = 0x92
  out[1] = 0xd3
  writeU64be(out, 2, height)
  if (index < 0x80) {
    out[10] = index
  } else if (index < 0x100) {
    out[10] = 0xcc; out[11] = index
  } else if (index < 0x10000) {
    out[10] = 0xcd; out[11] = index >>> 8; out[12] = index & 0xff
  } else {
    out[10] = 0xce
    writeU32be(out, 11, index)
  }
  return out
}

/** [gte, lt) range covering every key that starts with `prefix`. */
export function prefixRange (prefix: Uint8Array): { gte: Uint8Array, lt: Uint8Array } {
  const lt = new Uint8Array(prefix)
  for (let i = lt.length - 1; i >= 0; i--) {
    if ((lt[i] as number) < 0xff) { lt[i] = (lt[i] as number) + 1; return { gte: prefix, lt: lt.subarray(0, i + 1) } }
  }
  return { gte: prefix, lt: new Uint8Array([0xff, 0xff, 0xff, 0xff]) }
}
