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
 */
import { concatBytes, u64be, utf8 } from '../../crypto/bytes.js'

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
  validatorSetFrom: 0x0b
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

export function heightKey (bucket: number, height: number): Uint8Array {
  return concatBytes(new Uint8Array([bucket]), u64be(height))
}

export function hashKey (bucket: number, hash: Uint8Array): Uint8Array {
  return concatBytes(new Uint8Array([bucket]), hash)
}

export function stateKey (key: string): Uint8Array {
  return concatBytes(new Uint8Array([Bucket.state]), utf8(key))
}

export function auditByPatientKey (patient: Uint8Array, seq: number): Uint8Array {
  return concatBytes(new Uint8Array([Bucket.auditByPatient]), patient, u64be(seq))
}

export function recordByPatientKey (patient: Uint8Array, height: number, txIndex: number): Uint8Array {
  const idx = new Uint8Array(4)
  new DataView(idx.buffer).setUint32(0, txIndex)
  return concatBytes(new Uint8Array([Bucket.recordsByPatient]), patient, u64be(height), idx)
}

/** [gte, lt) range covering every key that starts with `prefix`. */
export function prefixRange (prefix: Uint8Array): { gte: Uint8Array, lt: Uint8Array } {
  const lt = new Uint8Array(prefix)
  for (let i = lt.length - 1; i >= 0; i--) {
    if ((lt[i] as number) < 0xff) { lt[i] = (lt[i] as number) + 1; return { gte: prefix, lt: lt.subarray(0, i + 1) } }
  }
  return { gte: prefix, lt: new Uint8Array([0xff, 0xff, 0xff, 0xff]) }
}
