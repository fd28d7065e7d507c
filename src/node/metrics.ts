/**
 * The node's Prometheus metrics: the registry the RPC server exposes at /metrics and the gauges,
 * counters and histograms the node updates (consensus height and round, committed transactions,
 * commit latency, block validation time, connected peers).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

export interface NodeGauges {
  height: Gauge
  round: Gauge
  peers: Gauge
  txs: Counter
  commitSeconds: Histogram
  validationSeconds: Histogram
}

/** A fresh registry with every node metric registered in it. */
export function createNodeMetrics (): { registry: Registry, gauges: NodeGauges } {
  const registry = new Registry()
  const gauges: NodeGauges = {
    height: new Gauge({ name: 'medchain_consensus_height', help: 'Height consensus is deciding', registers: [registry] }),
    round: new Gauge({ name: 'medchain_consensus_round', help: 'Round of the current height', registers: [registry] }),
    peers: new Gauge({ name: 'medchain_p2p_peers', help: 'Connected peers', registers: [registry] }),
    txs: new Counter({ name: 'medchain_txs_committed_total', help: 'Transactions committed', registers: [registry] }),
    commitSeconds: new Histogram({ name: 'medchain_commit_latency_seconds', help: 'Time from the start of a height to its commit', buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [registry] }),
    validationSeconds: new Histogram({ name: 'medchain_block_validation_seconds', help: 'Time to validate and import a block', buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] })
  }
  return { registry, gauges }
}
