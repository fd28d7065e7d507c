/**
 * The one way the RPC server's HTTP doors (JSON-RPC, /health, the blob routes) answer with JSON:
 * exact Content-Length, no caching, no content sniffing.
 */
import type { ServerResponse } from 'node:http'

/** Writes `text` (already JSON) as the whole response. */
export function sendJsonText (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers
  })
  res.end(text)
}
