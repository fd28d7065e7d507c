/**
 * Errors of the RPC server and the JSON-RPC 2.0 error codes it answers with.
 *
 * | JSON-RPC code | when                                                     | `data.code`                        |
 * | ------------- | -------------------------------------------------------- | ---------------------------------- |
 * | -32700        | the body is not JSON                                     | RPC_PARSE_ERROR                    |
 * | -32600        | not a JSON-RPC 2.0 request object; empty or too big batch | RPC_INVALID_REQUEST, RPC_BATCH_TOO_LARGE |
 * | -32601        | unknown method; a subscription method over HTTP          | RPC_METHOD_NOT_FOUND, RPC_WEBSOCKET_ONLY |
 * | -32602        | params missing, of the wrong type, or unknown            | RPC_INVALID_PARAMS                 |
 * | -32603        | a bug or a broken store: logged on the node, never detailed | RPC_INTERNAL_ERROR              |
 * | -32000        | refused: signed-query refusals (QUERY_*), a transaction refused by `checkTx` (TX_*, CODEC_*, MEMPOOL_FULL), rate limit, subscription limits | the typed code |
 *
 * HTTP-level refusals (413 body too large, 429 rate limited, 403 host or origin not allowed, 405 not
 * POST, 404 unknown path, 426 plain HTTP on /ws) carry the same error object as their JSON body, with id null.
 */
import { MedchainError } from '../util/errors.js'

export const JsonRpcCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  serverError: -32000
} as const
export type JsonRpcCode = typeof JsonRpcCode[keyof typeof JsonRpcCode]

/** Refusals of a signed query (see auth.ts). */
export type QueryErrorCode = 'QUERY_UNSIGNED' | 'QUERY_BAD_SIGNATURE' | 'QUERY_EXPIRED' | 'QUERY_REPLAYED' | 'QUERY_NOT_AUTHORISED'

export type RpcErrorType =
  | { code: 'RPC_PARSE_ERROR' }
  | { code: 'RPC_INVALID_REQUEST' }
  | { code: 'RPC_BATCH_TOO_LARGE', size: number, limit: number }
  | { code: 'RPC_METHOD_NOT_FOUND', method: string }
  | { code: 'RPC_WEBSOCKET_ONLY', method: string }
  | { code: 'RPC_INVALID_PARAMS', field: string }
  | { code: 'RPC_INTERNAL_ERROR' }
  | { code: 'RPC_RATE_LIMITED' }
  | { code: 'RPC_BODY_TOO_LARGE', limit: number }
  | { code: 'RPC_HOST_NOT_ALLOWED' }
  | { code: 'RPC_ORIGIN_NOT_ALLOWED' }
  | { code: 'RPC_HTTP_METHOD_NOT_ALLOWED' }
  | { code: 'RPC_NOT_FOUND' }
  | { code: 'RPC_UPGRADE_REQUIRED' }
  | { code: 'RPC_TOO_MANY_SUBSCRIPTIONS', limit: number }
  | { code: QueryErrorCode }
  /** A transaction refused by the mempool: the code of the ChainError / CodecError / MempoolError. */
  | { code: 'TX_REFUSED', txCode: string }

/** The JSON-RPC error code each of our codes is answered with. */
function jsonRpcCodeOf (type: RpcErrorType): JsonRpcCode {
  switch (type.code) {
    case 'RPC_PARSE_ERROR': return JsonRpcCode.parseError
    case 'RPC_INVALID_REQUEST': case 'RPC_BATCH_TOO_LARGE': return JsonRpcCode.invalidRequest
    case 'RPC_METHOD_NOT_FOUND': case 'RPC_WEBSOCKET_ONLY': return JsonRpcCode.methodNotFound
    case 'RPC_INVALID_PARAMS': return JsonRpcCode.invalidParams
    case 'RPC_INTERNAL_ERROR': return JsonRpcCode.internalError
    default: return JsonRpcCode.serverError
  }
}

/** An error the client may see: its JSON-RPC code, one sentence, and `data.code`. */
export class RpcError extends MedchainError<RpcErrorType> {
  get rpcCode (): JsonRpcCode {
    return jsonRpcCodeOf(this.type)
  }

  /** What goes in `error.data.code`: our code, or the mempool's code for a refused transaction. */
  get dataCode (): string {
    return this.type.code === 'TX_REFUSED' ? this.type.txCode : this.type.code
  }

  toJson (): JsonRpcErrorObject {
    return { code: this.rpcCode, message: this.message, data: { code: this.dataCode } }
  }
}

export interface JsonRpcErrorObject {
  code: number
  message: string
  data?: { code: string }
}

export function invalidParams (field: string, message: string): RpcError {
  return new RpcError({ code: 'RPC_INVALID_PARAMS', field }, message)
}

export function queryError (code: QueryErrorCode, message: string): RpcError {
  return new RpcError({ code }, message)
}

export const INTERNAL_ERROR = (): RpcError =>
  new RpcError({ code: 'RPC_INTERNAL_ERROR' }, 'internal error')
