/**
 * Prometheus metrics of the RPC server (prom-client), registered on the node's registry when one is
 * passed (the node adds its consensus metrics there) or on a registry of its own. Removed from the
 * registry on close, so a restarted server can register them again.
 *
 * | metric                                  | type      | labels        |
 * | --------------------------------------- | --------- | ------------- |
 * | medchain_chain_height                   | gauge     |               |
 * | medchain_mempool_size                   | gauge     |               |
 * | medchain_rpc_requests_total             | counter   | method, code  |
 * | medchain_rpc_request_duration_seconds   | histogram | method        |
 *
 * `method` is a known method name or "unknown" (so that clients cannot create label values at
 * will); `code` is "OK" or the error's `data.code` (a closed set of typed codes).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

export const METRIC_NAMES = {
  chainHeight: 'medchain_chain_height',
  mempoolSize: 'medchain_mempool_size',
  requests: 'medchain_rpc_requests_total',
  duration: 'medchain_rpc_request_duration_seconds'
} as const

export interface RpcMetrics {
  readonly registry: Registry
  observeCall: (method: string, code: string, seconds: number) => void
  remove: () => void
}

export function createRpcMetrics (opts: { registry?: Registry, height: () => number, mempoolSize: () => number }): RpcMetrics {
  const registry = opts.registry ?? new Registry()
  const registers = [registry]
  new Gauge({
    name: METRIC_NAMES.chainHeight,
    help: 'Height of the last committed block.',
    registers,
    collect () { this.set(opts.height()) }
  })
  new Gauge({
    name: METRIC_NAMES.mempoolSize,
    help: 'Transactions waiting in the mempool.',
    registers,
    collect () { this.set(opts.mempoolSize()) }
  })
  const requests = new Counter({
    name: METRIC_NAMES.requests,
    help: 'JSON-RPC calls answered, by method and result code ("OK" or the error code).',
    labelNames: ['method', 'code'] as const,
    registers
  })
  const duration = new Histogram({
    name: METRIC_NAMES.duration,
    help: 'Time to answer one JSON-RPC call, in seconds.',
    labelNames: ['method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers
  })
  return {
    registry,
    observeCall (method, code, seconds) {
      requests.inc({ method, code })
      duration.observe({ method }, seconds)
    },
    remove () {
      for (const name of Object.values(METRIC_NAMES)) registry.removeSingleMetric(name)
    }
  }
}
