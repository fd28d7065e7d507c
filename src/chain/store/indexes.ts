/**
 * The state database's indexes for queries: where a transaction sits (tx location), a block's
 * height by its hash, a patient's records and a patient's audit trail; what a block's batch
 * writes into them, and the reads over them.
 */
import { equalBytes, fromHex, u64be } from '../../crypto/bytes.js'
import type { Block } from '../../types/block.js'
import { decodeCanonical, readTuple, readU32, readU64 } from '../../types/codec.js'
import { RESULT_OK, type Receipt } from '../../types/receipt.js'
import { auditByPatientKey, Bucket, encodeTxLocation, hashKey, prefixRange, recordByPatientKey } from './buckets.js'
import type { BatchOp, ChainDb } from './db.js'

export interface TxLocation { height: number, index: number }

/**
 * Appends to `ops` a block's index writes that come before its state changes: its height by its
 * hash, then for each transaction in order its location and, for a successful anchoring, the
 * record under its patient.
 */
export function addBlockIndexOps (ops: BatchOp[], block: Block, hash: Uint8Array, receipts: readonly Receipt[]): void {
  const height = block.header.height
  ops.push({ type: 'put', key: hashKey(Bucket.heightByHash, hash), value: u64be(height) })
  block.txs.forEach((tx, index) => {
    ops.push({ type: 'put', key: hashKey(Bucket.txLocation, tx.hash), value: encodeTxLocation(height, index) })
    const receipt = receipts[index] as Receipt
    if (receipt.code !== RESULT_OK) return
    for (const ev of receipt.events) {
      if (ev.kind !== 'record.anchored') continue
      const attr = new Map(ev.attributes)
      const recordId = attr.get('recordId')
      const patient = attr.get('patient')
      if (recordId !== undefined && patient !== undefined) ops.push({ type: 'put', key: recordByPatientKey(fromHex(patient), height, index), value: fromHex(recordId) })
    }
  })
}

/** Appends to `ops` a block's audit entries under their patients, numbered from `firstSeq` in order. */
export function addAuditIndexOps (ops: BatchOp[], firstSeq: number, appended: ReadonlyArray<{ patient: Uint8Array, entry: Uint8Array }>): void {
  let seq = firstSeq
  for (const a of appended) {
    ops.push({ type: 'put', key: auditByPatientKey(a.patient, seq), value: a.entry })
    seq++
  }
}

/** The index reads, over the state database. */
export class ChainIndexes {
  constructor (private readonly db: ChainDb) {}

  async getHeightByHash (hash: Uint8Array): Promise<number | undefined> {
    const v = await this.db.get(hashKey(Bucket.heightByHash, hash))
    return v === undefined ? undefined : Number(new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0))
  }

  async getTxLocation (txHash: Uint8Array): Promise<TxLocation | undefined> {
    const v = await this.db.get(hashKey(Bucket.txLocation, txHash))
    if (v === undefined) return undefined
    const t = readTuple(decodeCanonical(v, { maxBytes: 32, maxItems: 2, maxDepth: 1 }), 2, 'txLocation')
    return { height: readU64(t[0], 'height'), index: readU32(t[1], 'index') }
  }

  /**
   * A patient's record ids in anchoring order, oldest first, read lazily from the index (a caller
   * that filters them reads only as far as it needs); with `after`, starting after that record of
   * the patient, which was anchored at block `after.height` (its `anchoredAt`).
   */
  async * recordsByPatient (patient: Uint8Array, after?: { recordId: Uint8Array, height: number }): AsyncGenerator<Uint8Array> {
    const prefix = new Uint8Array(33)
    prefix[0] = Bucket.recordsByPatient
    prefix.set(patient, 1)
    const range = prefixRange(prefix)
    let skipping = after !== undefined
    for await (const recordId of this.db.values({ gte: after === undefined ? range.gte : recordByPatientKey(patient, after.height, 0), lt: range.lt })) {
      if (skipping) {
        if (equalBytes(recordId, (after as { recordId: Uint8Array }).recordId)) skipping = false
        continue
      }
      yield recordId
    }
  }

  /**
   * A patient's audit entries with their global sequence numbers, oldest first (newest first with
   * `reverse`); `afterSeq` starts after a known entry, so a subscriber reads only what is new.
   */
  async listAuditByPatient (patient: Uint8Array, opts: { afterSeq?: number, limit?: number, reverse?: boolean } = {}): Promise<Array<{ seq: number, entry: Uint8Array }>> {
    const prefix = new Uint8Array(33)
    prefix[0] = Bucket.auditByPatient
    prefix.set(patient, 1)
    const range = prefixRange(prefix)
    const gte = opts.afterSeq === undefined ? range.gte : auditByPatientKey(patient, opts.afterSeq + 1)
    const limit = opts.limit ?? 1000
    const out: Array<{ seq: number, entry: Uint8Array }> = []
    for await (const [key, entry] of this.db.iterator({ gte, lt: range.lt, reverse: opts.reverse ?? false, ...(Number.isFinite(limit) ? { limit } : {}) })) {
      out.push({ seq: Number(new DataView(key.buffer, key.byteOffset + 33, 8).getBigUint64(0)), entry })
    }
    return out
  }
}

/**
 * Every validator set the state database stores, oldest first, with the height it is in force
 * from (the genesis set from 1; a block that changes the set stores the new one from its height
 * + 1), as encoded bytes. The set that validated block h is the last one from at most max(h, 1).
 */
export async function * storedValidatorSets (db: ChainDb): AsyncGenerator<{ fromHeight: number, encodedSet: Uint8Array }> {
  for await (const [key, value] of db.iterator(prefixRange(new Uint8Array([Bucket.validatorSetFrom])))) {
    if (key.length !== 9) continue
    yield { fromHeight: Number(new DataView(key.buffer, key.byteOffset + 1, 8).getBigUint64(0)), encodedSet: value }
  }
}
