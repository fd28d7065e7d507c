/**
 * Receipts: the result of every included transaction.
 *
 * Wire: [code str, log str, events [[kind str, [[key str, value str], ...]], ...]]
 * `code` is "OK" or a contract error code (e.g. "ACCESS_NO_CONSENT"); `log` is one sentence.
 * resultsRoot = merkle root over the encoded receipts, in transaction order.
 */
import { decodeCanonical, encodeCanonical, readList, readString, readTuple } from './codec.js'
import { merkleRoot } from './merkle.js'

export const RESULT_OK = 'OK'

export interface TxEvent {
  kind: string
  attributes: Array<[string, string]>
}

export interface Receipt {
  code: string
  log: string
  events: TxEvent[]
}

/**
 * Encodings of receipts already encoded: a block's receipts are encoded for its resultsRoot and
 * again for the store's batch. Receipts are values, never changed after execution made them.
 */
const encodedReceipts = new WeakMap<Receipt, Uint8Array>()

export function encodeReceipt (r: Receipt): Uint8Array {
  let bytes = encodedReceipts.get(r)
  if (bytes === undefined) {
    bytes = encodeCanonical([r.code, r.log, r.events.map((e) => [e.kind, e.attributes.map(([k, v]) => [k, v])])])
    encodedReceipts.set(r, bytes)
  }
  return bytes
}

export function decodeReceipt (bytes: Uint8Array): Receipt {
  // nesting: receipt > events > event > attributes > [key, value] = 5 levels
  const t = readTuple(decodeCanonical(bytes, { maxBytes: 64 * 1024, maxItems: 256, maxDepth: 5 }), 3, 'receipt')
  return {
    code: readString(t[0], 'receipt.code', 64),
    log: readString(t[1], 'receipt.log', 1024),
    events: readList(t[2], 256, 'receipt.events').map((e) => {
      const pair = readTuple(e, 2, 'receipt.events[]')
      return {
        kind: readString(pair[0], 'receipt.events[].kind', 64),
        attributes: readList(pair[1], 256, 'receipt.events[].attributes').map((a) => {
          const kv = readTuple(a, 2, 'receipt.events[].attributes[]')
          return [readString(kv[0], 'attribute key', 64), readString(kv[1], 'attribute value', 1024)] as [string, string]
        })
      }
    })
  }
}

export function computeResultsRoot (receipts: readonly Receipt[]): Uint8Array {
  return merkleRoot(receipts.map(encodeReceipt))
}
