/**
 * The blob routes' wire protocol, shared by the client (client.ts) and the node's routes
 * (src/rpc/blobRoutes.ts, whose module comment describes every route): the headers that carry a
 * signed query's auth, the method names each route signs under, and one line of the serve log.
 */

export const BLOB_HEADERS = {
  requester: 'x-medchain-requester',
  timestamp: 'x-medchain-timestamp',
  signature: 'x-medchain-signature',
  contentHash: 'x-medchain-content-hash'
} as const

export const BlobMethod = { put: 'blob_put', get: 'blob_get', serveLog: 'blob_serveLog' } as const

/** One line of a node's serve log (`<home>/blobs/serve-log.jsonl`). */
export interface ServeLogEntry {
  time: number
  patient: string
  recordId: string
  requester: string | null
  access: string | null
  result: string
}
