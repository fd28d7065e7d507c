/**
 * The node's RPC server: JSON-RPC 2.0 over HTTP (POST /), WebSocket subscriptions (/ws), and
 * `GET /health` and `GET /metrics`, on one node:http server bound to 127.0.0.1 unless configured.
 *
 * Every HTTP request and WebSocket upgrade, in this order:
 *  1. Host header: its host name must be in `allowedHosts` (default localhost, 127.0.0.1, [::1] and
 *     the bound host; "*" allows any) → else 403. This defeats DNS rebinding: a web page whose name
 *     resolves to 127.0.0.1 still sends its own name as Host.
 *  2. Origin header, when present (browsers send it): its host must be allowed the same way → else
 *     403. A page on another site can then neither POST to the node nor open a WebSocket to it.
 *  3. Route: POST / (JSON-RPC; other methods 405), GET /health, GET /metrics, /ws (upgrade only),
 *     anything else 404.
 * Then, for JSON-RPC over HTTP:
 *  4. rate limit (one token per call, per client IP; rateLimit.ts) → else 429 with Retry-After;
 *  5. body size: a Content-Length over `maxBodyBytes`, or a body that grows past it → 413 at once,
 *     the rest is discarded unread (and the connection cut when it keeps coming) and closed;
 *  6. parse, batch size, the calls (jsonrpc.ts) → 200 with the response, or 204 when the request
 *     held only notifications.
 * Over WebSocket the same limits hold per message: `maxBodyBytes` is the largest message (ws closes
 * the connection with 1009 above it), each call costs a token (a refused message is answered with
 * RPC_RATE_LIMITED), and batches are capped. Messages of one connection are answered in order.
 *
 * Errors never carry a stack trace: an unexpected error is logged here (`logger.error`) and the
 * client gets -32603 "internal error".
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import type { Registry } from 'prom-client'
import type { Chain } from '../chain/chain.js'
import type { Mempool } from '../chain/mempool.js'
import type { Tx } from '../types/tx.js'
import { ReplayCache } from './auth.js'
import { createBlobRoutes, type BlobRoutesOptions } from './blobRoutes.js'
import { sendJsonText } from './http.js'
import { RpcError } from './errors.js'
import { callCount, errorResponse, handleParsed, parsePayload, type CallHooks, type ParsedPayload } from './jsonrpc.js'
import type { RpcContext } from './methods.js'
import { createRpcMetrics } from './metrics.js'
import { RateLimiter } from './rateLimit.js'
import { SubscriptionHub, type WsSession } from './subscriptions.js'

export interface RpcLimits {
  /** Largest HTTP body or WebSocket message; default 1 MiB. */
  maxBodyBytes: number
  /** Most calls in one batch; default 100. */
  maxBatch: number
  /** Calls per second per client IP, sustained; default 50. */
  ratePerSecond: number
  /** Calls a client IP may make at once before the rate applies; default 100. */
  burst: number
  /** Host names accepted in Host and Origin headers; default localhost, 127.0.0.1, [::1] and the bound host. */
  allowedHosts: string[]
  /** Default 32. */
  maxSubscriptionsPerSocket: number
  /** Open WebSocket connections at once; default 256. */
  maxWsConnections: number
  /** Unsent bytes after which a WebSocket client that does not read is cut off; default 8 MiB. */
  maxBufferedBytes: number
  /**
   * A JSON-RPC body must arrive whole within this; a blob upload, which may take minutes on a slow
   * link, must not pause longer than this. Default 30 s.
   */
  bodyTimeoutMs: number
}

/** The pino-style logger the node passes in; by default one JSON line per error on stderr. */
export interface RpcLogger {
  error: (fields: Record<string, unknown>, message: string) => void
}

export interface RpcServerOptions {
  chain: Chain
  mempool: Mempool
  /** Interface to bind; default 127.0.0.1. */
  host?: string
  /** 0 = a random free port (default). */
  port?: number
  limits?: Partial<RpcLimits>
  /** What node_info answers (version, moniker, peer id, …); chainId and height are added. */
  nodeInfo: () => Record<string, unknown>
  /** What node_peers answers; default []. */
  peers?: () => unknown[]
  /** Clock for signed-query freshness and the rate limit; default Date.now. */
  now?: () => number
  /** prom-client registry to register the RPC metrics on; default a new one. */
  metrics?: Registry
  /** Called with every transaction tx_submit admitted to the mempool (the node gossips it). */
  onTx?: (tx: Tx) => void
  logger?: RpcLogger
  /** Serve PUT/GET /blobs/… (blobRoutes.ts) from this blob store; without it those paths are 404. */
  blobs?: Omit<BlobRoutesOptions, 'chain' | 'replay' | 'now' | 'logError'>
}

export interface RpcServer {
  /** http://host:port */
  url: string
  /** ws://host:port/ws */
  wsUrl: string
  port: number
  /** The registry the metrics are on (the one passed in, or the server's own). */
  metrics: Registry
  /** Live WebSocket subscriptions (all connections). */
  subscriptionCount: () => number
  close: () => Promise<void>
}

export const DEFAULT_RPC_LIMITS: Omit<RpcLimits, 'allowedHosts'> & { allowedHosts: readonly string[] } = {
  maxBodyBytes: 1024 * 1024,
  maxBatch: 100,
  ratePerSecond: 50,
  burst: 100,
  allowedHosts: ['localhost', '127.0.0.1', '[::1]'],
  maxSubscriptionsPerSocket: 32,
  maxWsConnections: 256,
  maxBufferedBytes: 8 * 1024 * 1024,
  bodyTimeoutMs: 30_000
}

/** Bytes of an over-limit body discarded before the connection is cut. */
const DRAIN_LIMIT_BYTES = 4 * 1024 * 1024

const defaultLogger: RpcLogger = {
  error: (fields, message) => {
    const err = fields.err instanceof Error ? { name: fields.err.name, message: fields.err.message, stack: fields.err.stack } : fields.err
    process.stderr.write(JSON.stringify({ level: 'error', time: Date.now(), module: 'rpc', ...fields, err, msg: message }) + '\n')
  }
}

/** The host name of a Host header or an origin's host: "[::1]:8545" → "[::1]", "Node.Example:80" → "node.example". */
export function hostNameOf (host: string): string {
  const lower = host.trim().toLowerCase()
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']')
    return end < 0 ? lower : lower.slice(0, end + 1)
  }
  const colon = lower.indexOf(':')
  return colon < 0 ? lower : lower.slice(0, colon)
}

function clientIp (req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? 'unknown'
  return address.startsWith('::ffff:') ? address.slice(7) : address
}

function rawDataToString (data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8')
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return Buffer.from(data).toString('utf8')
}

/**
 * The limits in force: the defaults, overridden by every field of `given` that is set. Throws
 * RangeError on a limit that is not a positive integer (a broken config must not start a server
 * without limits).
 */
export function resolveLimits (host: string, given: Partial<RpcLimits> = {}): RpcLimits {
  const boundHostName = host.includes(':') ? `[${host}]` : host.toLowerCase()
  const limits: RpcLimits = { ...DEFAULT_RPC_LIMITS, allowedHosts: [...DEFAULT_RPC_LIMITS.allowedHosts, boundHostName] }
  for (const [name, value] of Object.entries(given) as Array<[keyof RpcLimits, unknown]>) {
    if (value === undefined) continue
    if (name === 'allowedHosts') {
      if (!Array.isArray(value) || value.some((h) => typeof h !== 'string' || h.length === 0)) throw new RangeError('RPC limits: allowedHosts must be a list of host names')
      limits.allowedHosts = [...value] as string[]
    } else if (name in DEFAULT_RPC_LIMITS) {
      if (typeof value !== 'number' || !(value > 0) || (name !== 'ratePerSecond' && !Number.isSafeInteger(value))) {
        throw new RangeError(`RPC limits: ${name} must be a positive ${name === 'ratePerSecond' ? 'number' : 'integer'}, got ${String(value)}`)
      }
      limits[name] = value
    }
  }
  return limits
}

/** The client closed the connection before its request body ended. */
class ClientGoneError extends Error {}

/** The node's hook must not turn an admitted transaction into an error for the client. */
function guardOnTx (onTx: (tx: Tx) => void, logger: RpcLogger): (tx: Tx) => void {
  return (tx) => {
    try {
      onTx(tx)
    } catch (err) {
      logger.error({ err }, 'The onTx hook failed for a transaction admitted over RPC')
    }
  }
}

export async function startRpcServer (opts: RpcServerOptions): Promise<RpcServer> {
  const host = opts.host ?? '127.0.0.1'
  const now = opts.now ?? Date.now
  const logger = opts.logger ?? defaultLogger
  const limits = resolveLimits(host, opts.limits)
  const allowedHosts = new Set(limits.allowedHosts.map(hostNameOf))
  const allowAnyHost = allowedHosts.has('*')
  const hostAllowed = (value: string | undefined): boolean => value !== undefined && (allowAnyHost || allowedHosts.has(hostNameOf(value)))
  const originAllowed = (origin: string | undefined): boolean => {
    if (origin === undefined) return true
    if (allowAnyHost) return true
    try {
      return allowedHosts.has(hostNameOf(new URL(origin).host))
    } catch {
      return false // "null" and other opaque origins
    }
  }

  const limiter = new RateLimiter({ ratePerSecond: limits.ratePerSecond, burst: limits.burst, now })
  const metrics = createRpcMetrics({ ...(opts.metrics !== undefined ? { registry: opts.metrics } : {}), height: () => opts.chain.head.height, mempoolSize: () => opts.mempool.size })
  const rpc: RpcContext = {
    chain: opts.chain,
    mempool: opts.mempool,
    now,
    replay: new ReplayCache(),
    nodeInfo: opts.nodeInfo,
    peers: opts.peers ?? (() => []),
    ...(opts.onTx !== undefined ? { onTx: guardOnTx(opts.onTx, logger) } : {})
  }
  const hooks: CallHooks = {
    observe: (method, code, seconds) => { metrics.observeCall(method, code, seconds) },
    logError: (err, method) => { logger.error({ err, method }, 'RPC call failed with an internal error') }
  }
  const blobRoutes = opts.blobs === undefined
    ? undefined
    : createBlobRoutes({ ...opts.blobs, chain: opts.chain, replay: rpc.replay, now, uploadIdleMs: limits.bodyTimeoutMs, logError: (err, what) => { logger.error({ err }, `RPC ${what} failed`) } })
  const hub = new SubscriptionHub(opts.chain, limits, (err, what) => { logger.error({ err }, `RPC ${what} failed`) })

  // ---------------------------------------------------------------------------------------------
  // HTTP

  function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    let text: string
    try {
      text = JSON.stringify(body)
    } catch (err) {
      hooks.logError(err, 'serialise')
      status = 500
      text = JSON.stringify(errorResponse(null, new RpcError({ code: 'RPC_INTERNAL_ERROR' }, 'internal error')))
    }
    sendJsonText(res, status, text, headers)
  }

  function refuse (res: ServerResponse, status: number, err: RpcError, headers: Record<string, string> = {}): void {
    sendJson(res, status, errorResponse(null, err), headers)
  }

  /** Reads the body up to the limit; 'tooLarge' as soon as it passes it (nothing more is kept). */
  async function readBody (req: IncomingMessage): Promise<Buffer | 'tooLarge'> {
    return await new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      let size = 0
      const onData = (chunk: Buffer): void => {
        size += chunk.length
        if (size > limits.maxBodyBytes) {
          cleanup()
          resolve('tooLarge')
          return
        }
        chunks.push(chunk)
      }
      const onEnd = (): void => { cleanup(); resolve(Buffer.concat(chunks)) }
      const onError = (err: Error): void => { cleanup(); reject(err) }
      const onClose = (): void => { cleanup(); reject(new ClientGoneError()) }
      // a body that trickles in (slowloris) is cut; blob uploads have their own idle rule
      const deadline = setTimeout(() => { cleanup(); req.destroy(); reject(new ClientGoneError()) }, limits.bodyTimeoutMs)
      const cleanup = (): void => {
        clearTimeout(deadline)
        req.off('data', onData)
        req.off('end', onEnd)
        req.off('error', onError)
        req.off('close', onClose)
      }
      req.on('data', onData)
      req.on('end', onEnd)
      req.on('error', onError)
      req.on('close', onClose)
    })
  }

  /** Answers 413 and discards (without keeping) whatever of the body still arrives, up to a cap. */
  function refuseTooLarge (req: IncomingMessage, res: ServerResponse): void {
    let drained = 0
    req.on('data', (chunk: Buffer) => {
      drained += chunk.length
      if (drained > DRAIN_LIMIT_BYTES) req.socket.destroy()
    })
    req.on('error', () => undefined)
    req.resume()
    refuse(res, 413, new RpcError({ code: 'RPC_BODY_TOO_LARGE', limit: limits.maxBodyBytes }, `The request body is larger than the limit of ${limits.maxBodyBytes} bytes; send less per request.`), { connection: 'close' })
  }

  async function handleJsonRpcPost (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ip = clientIp(req)
    const rateLimited = (cost: number): void => {
      refuse(res, 429, new RpcError({ code: 'RPC_RATE_LIMITED' }, `Too many requests from ${ip}; slow down to ${limits.ratePerSecond} calls per second.`), { 'retry-after': String(limiter.retryAfterSeconds(ip, cost)) })
    }
    if (!limiter.take(ip, 1)) {
      req.resume()
      rateLimited(1)
      return
    }
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > limits.maxBodyBytes) {
      refuseTooLarge(req, res)
      return
    }
    const body = await readBody(req)
    if (body === 'tooLarge') {
      refuseTooLarge(req, res)
      return
    }
    const parsed = parsePayload(body.toString('utf8'), limits.maxBatch)
    const extra = callCount(parsed) - 1
    if (extra > 0 && !limiter.take(ip, extra)) {
      rateLimited(extra)
      return
    }
    const response = await handleParsed(parsed, { rpc }, hooks)
    if (response === undefined) {
      res.writeHead(204, { 'cache-control': 'no-store' })
      res.end()
      return
    }
    sendJson(res, 200, response)
  }

  async function handleHttp (req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostAllowed(req.headers.host)) {
      req.resume()
      refuse(res, 403, new RpcError({ code: 'RPC_HOST_NOT_ALLOWED' }, 'The Host header names a host this node does not serve; add it to the RPC allowedHosts setting if it is yours.'))
      return
    }
    if (!originAllowed(req.headers.origin)) {
      req.resume()
      refuse(res, 403, new RpcError({ code: 'RPC_ORIGIN_NOT_ALLOWED' }, 'Requests from web pages of other sites are not served; call the node from a program or an allowed host.'))
      return
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    if (path === '/') {
      if (req.method !== 'POST') {
        req.resume()
        refuse(res, 405, new RpcError({ code: 'RPC_HTTP_METHOD_NOT_ALLOWED' }, 'JSON-RPC calls are sent with POST to /.'), { allow: 'POST' })
        return
      }
      await handleJsonRpcPost(req, res)
      return
    }
    if (blobRoutes?.matches(path) === true) {
      const ip = clientIp(req)
      if (!limiter.take(ip, 1)) {
        req.resume()
        refuse(res, 429, new RpcError({ code: 'RPC_RATE_LIMITED' }, `Too many requests from ${ip}; slow down to ${limits.ratePerSecond} calls per second.`), { 'retry-after': String(limiter.retryAfterSeconds(ip, 1)) })
        return
      }
      await blobRoutes.handle(req, res)
      return
    }
    req.resume()
    if (path === '/health' || path === '/metrics') {
      if (req.method !== 'GET') {
        refuse(res, 405, new RpcError({ code: 'RPC_HTTP_METHOD_NOT_ALLOWED' }, `${path} is read with GET.`), { allow: 'GET' })
        return
      }
      if (path === '/health') {
        sendJson(res, 200, { status: 'ok', height: opts.chain.head.height })
        return
      }
      const text = await metrics.registry.metrics()
      res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' })
      res.end(text)
      return
    }
    if (path === '/ws') {
      refuse(res, 426, new RpcError({ code: 'RPC_UPGRADE_REQUIRED' }, '/ws takes WebSocket connections only; JSON-RPC over HTTP is at POST /.'), { upgrade: 'websocket' })
      return
    }
    refuse(res, 404, new RpcError({ code: 'RPC_NOT_FOUND' }, `Nothing is served at ${path.slice(0, 64)}; JSON-RPC is at POST /, subscriptions at /ws.`))
  }

  const server: Server = createServer((req, res) => {
    handleHttp(req, res).catch((err: unknown) => {
      // a client that hung up mid-request is not an error of the node (and must not flood the log)
      if (err instanceof ClientGoneError || req.destroyed || (err as { code?: unknown }).code === 'ECONNRESET') {
        res.destroy()
        return
      }
      hooks.logError(err, 'http')
      if (!res.headersSent) refuse(res, 500, new RpcError({ code: 'RPC_INTERNAL_ERROR' }, 'internal error'))
      else res.destroy()
    })
  })
  server.headersTimeout = 10_000
  // no cap on a whole request: a blob upload of a large scan may take minutes; JSON-RPC bodies have
  // their own deadline (readBody) and uploads an idle limit (blobRoutes), both limits.bodyTimeoutMs
  server.requestTimeout = 0
  // `Expect: 100-continue` (blob uploads): the blob routes check size and signature from the headers
  // and only then ask for the body, so a refused upload is never sent; everything else continues now
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    if (blobRoutes?.matches(path) !== true) res.writeContinue()
    server.emit('request', req, res)
  })

  // ---------------------------------------------------------------------------------------------
  // WebSocket

  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxBodyBytes })

  function refuseUpgrade (socket: Duplex, status: number, reason: string): void {
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
    socket.destroy()
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined)
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    if (path !== '/ws') { refuseUpgrade(socket, 404, 'Not Found'); return }
    if (!hostAllowed(req.headers.host) || !originAllowed(req.headers.origin)) { refuseUpgrade(socket, 403, 'Forbidden'); return }
    if (!limiter.take(clientIp(req), 1)) { refuseUpgrade(socket, 429, 'Too Many Requests'); return }
    if (wss.clients.size >= limits.maxWsConnections) { refuseUpgrade(socket, 503, 'Service Unavailable'); return }
    wss.handleUpgrade(req, socket, head, (ws) => { onConnection(ws, clientIp(req)) })
  })

  function onConnection (ws: WebSocket, ip: string): void {
    const session: WsSession = hub.session(ws)
    let queue: Promise<void> = Promise.resolve()
    ws.on('message', (data: RawData) => {
      queue = queue.then(async () => { await handleWsMessage(session, ip, rawDataToString(data)) }).catch((err: unknown) => { hooks.logError(err, 'ws') })
    })
    ws.on('close', () => { session.close() })
    ws.on('error', () => { session.close() })
  }

  async function handleWsMessage (session: WsSession, ip: string, text: string): Promise<void> {
    const parsed: ParsedPayload = parsePayload(text, limits.maxBatch)
    if (!limiter.take(ip, callCount(parsed))) {
      // answered with the request's id when it has one, so the client can match the refusal
      const request = parsed.kind === 'single' ? parsed.request as { id?: unknown } | null : null
      const id = typeof request?.id === 'string' || typeof request?.id === 'number' ? request.id : null
      session.send(errorResponse(id, new RpcError({ code: 'RPC_RATE_LIMITED' }, `Too many requests from ${ip}; slow down to ${limits.ratePerSecond} calls per second.`)))
      return
    }
    const response = await handleParsed(parsed, { rpc, session }, hooks)
    if (response !== undefined) session.send(response)
  }

  // ---------------------------------------------------------------------------------------------
  // start and stop

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    // e.g. the port is taken: leave nothing behind
    await hub.close()
    metrics.remove()
    throw err
  }
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const urlHost = host.includes(':') ? `[${host}]` : host
  let closed: Promise<void> | undefined

  return {
    url: `http://${urlHost}:${port}`,
    wsUrl: `ws://${urlHost}:${port}/ws`,
    port,
    metrics: metrics.registry,
    subscriptionCount: () => hub.subscriptionCount,
    close: async () => {
      closed ??= (async () => {
        for (const ws of wss.clients) ws.terminate()
        await new Promise<void>((resolve) => { wss.close(() => { resolve() }) })
        const serverClosed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
        server.closeAllConnections()
        await serverClosed
        await hub.close()
        metrics.remove()
      })()
      await closed
    }
  }
}
