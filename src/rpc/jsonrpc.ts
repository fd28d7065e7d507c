/**
 * JSON-RPC 2.0 framing, shared by HTTP and WebSocket: parse a payload, check each request object,
 * run it, and build the response. A request without an `id` member is a notification: it runs,
 * but gets no response (not even an error). A batch answers with the responses of its
 * non-notification requests, in order; a batch of notifications only answers nothing.
 */
import { performance } from 'node:perf_hooks'
import { INTERNAL_ERROR, RpcError, type JsonRpcErrorObject } from './errors.js'
import { callMethod, METHODS, type CallContext } from './methods.js'
import { isPlainObject } from './params.js'

export type JsonRpcId = string | number | null

export type JsonRpcResponse =
  | { jsonrpc: '2.0', id: JsonRpcId, result: unknown }
  | { jsonrpc: '2.0', id: JsonRpcId, error: JsonRpcErrorObject }

export type ParsedPayload =
  | { kind: 'error', response: JsonRpcResponse }
  | { kind: 'single', request: unknown }
  | { kind: 'batch', requests: unknown[] }

export interface CallHooks {
  /** One call answered (metrics). */
  observe: (method: string, code: string, seconds: number) => void
  /** An unexpected error: logged on the node, answered as "internal error". */
  logError: (err: unknown, method: string) => void
}

export function errorResponse (id: JsonRpcId, err: RpcError): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error: err.toJson() }
}

/** Parses a payload and checks the batch size; the requests themselves are checked one by one. */
export function parsePayload (text: string, maxBatch: number): ParsedPayload {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { kind: 'error', response: errorResponse(null, new RpcError({ code: 'RPC_PARSE_ERROR' }, 'The request body is not valid JSON.')) }
  }
  if (!Array.isArray(value)) return { kind: 'single', request: value }
  if (value.length === 0) {
    return { kind: 'error', response: errorResponse(null, new RpcError({ code: 'RPC_INVALID_REQUEST' }, 'An empty batch is not a valid request; send at least one call.')) }
  }
  if (value.length > maxBatch) {
    return { kind: 'error', response: errorResponse(null, new RpcError({ code: 'RPC_BATCH_TOO_LARGE', size: value.length, limit: maxBatch }, `The batch has ${value.length} calls, more than the limit of ${maxBatch}; split it.`)) }
  }
  return { kind: 'batch', requests: value }
}

function isId (value: unknown): value is JsonRpcId {
  return value === null || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))
}

/** Runs one request object; undefined for a notification. */
export async function handleRequest (request: unknown, ctx: CallContext, hooks: CallHooks): Promise<JsonRpcResponse | undefined> {
  const start = performance.now()
  if (!isPlainObject(request)) {
    hooks.observe('invalid', 'RPC_INVALID_REQUEST', (performance.now() - start) / 1000)
    return errorResponse(null, new RpcError({ code: 'RPC_INVALID_REQUEST' }, 'A request must be a JSON object {"jsonrpc": "2.0", "method", "params", "id"}.'))
  }
  const hasId = Object.hasOwn(request, 'id')
  const id = hasId && isId(request.id) ? request.id : null
  if (request.jsonrpc !== '2.0' || typeof request.method !== 'string' || (hasId && !isId(request.id))) {
    hooks.observe('invalid', 'RPC_INVALID_REQUEST', (performance.now() - start) / 1000)
    return errorResponse(id, new RpcError({ code: 'RPC_INVALID_REQUEST' }, 'A request needs "jsonrpc": "2.0", a string "method" and, unless it is a notification, a string or number "id".'))
  }
  const name = request.method
  const label = Object.hasOwn(METHODS, name) ? name : 'unknown'
  let response: JsonRpcResponse
  try {
    const result = await callMethod(name, request.params, ctx)
    response = { jsonrpc: '2.0', id, result: result === undefined ? null : result }
    hooks.observe(label, 'OK', (performance.now() - start) / 1000)
  } catch (err) {
    let rpcErr: RpcError
    if (err instanceof RpcError) {
      rpcErr = err
    } else {
      hooks.logError(err, label)
      rpcErr = INTERNAL_ERROR()
    }
    hooks.observe(label, rpcErr.dataCode, (performance.now() - start) / 1000)
    response = errorResponse(id, rpcErr)
  }
  return hasId ? response : undefined
}

/** Runs a parsed payload: the response body to send, or undefined when there is none. */
export async function handleParsed (parsed: ParsedPayload, ctx: CallContext, hooks: CallHooks): Promise<JsonRpcResponse | JsonRpcResponse[] | undefined> {
  if (parsed.kind === 'error') {
    const r = parsed.response
    hooks.observe('invalid', 'error' in r ? r.error.data?.code ?? 'ERROR' : 'ERROR', 0)
    return parsed.response
  }
  if (parsed.kind === 'single') return await handleRequest(parsed.request, ctx, hooks)
  const out: JsonRpcResponse[] = []
  // one after another: transactions of one sender in a batch are admitted in nonce order
  for (const request of parsed.requests) {
    const response = await handleRequest(request, ctx, hooks)
    if (response !== undefined) out.push(response)
  }
  return out.length === 0 ? undefined : out
}

/** Number of calls a parsed payload makes (what the rate limit charges). */
export function callCount (parsed: ParsedPayload): number {
  return parsed.kind === 'batch' ? parsed.requests.length : 1
}
