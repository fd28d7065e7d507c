/**
 * `runSimulation`: N validators (the real engine, real block execution on MemoryLevel stores) on a
 * seeded virtual network, a transaction load, a fault schedule; then the invariants.
 *
 * Figures are in virtual time: commit latency of height h = first commit of h at any honest node
 * minus first commit of h-1 (0 for h = 1), so it includes the block interval (timeouts.commitMs);
 * throughput = committed blocks (transactions) / virtual seconds up to the last first-commit.
 *
 * A run stops when every honest running node holds `heights` blocks, no fault is still to come or
 * still down (a node scheduled to restart), and the liveness check is settled (a block committed
 * after the last fault ended, or 2 × capMs passed) — or at `maxVirtualMs`.
 */
import { createHash } from 'node:crypto'
import { TxType, type Tx } from '../types/tx.js'
import type { Genesis } from '../types/genesis.js'
import { RESULT_OK } from '../types/receipt.js'
import { blockHash } from '../types/block.js'
import { createSigner, type Signer } from '../crypto/ed25519.js'
import { equalBytes, toHex } from '../crypto/bytes.js'
import { decodeConsensusMessage, encodeConsensusMessage, type ConsensusMessage } from '../types/consensusMessage.js'
import { DEFAULT_TIMEOUTS, type SignState, type TimeoutConfig } from '../consensus/types.js'
import { decodeVote } from '../types/vote.js'
import { applyFaults, byzantineNodes, isFaultName, planFaults, plannedFaultsEnd, type Fault, type FaultName } from './faults.js'
import { checkInvariants, signedRecordOf, type InvariantVerdict, type NodeHistory, type SignedRecord, type SimHistory } from './invariants.js'
import { Network, type LinkConfig, type NetworkStats } from './network.js'
import { Rng } from './random.js'
import { Scheduler } from './scheduler.js'
import { signerOf, SimNode, type EngineFactory, type SimEnv, type SimObserver } from './simNode.js'
import { Workload } from './workload.js'

export const SIM_CHAIN_ID = 'medchain-sim'
export const SIM_GENESIS_TIME = Date.UTC(2026, 0, 1)

export interface SimulationOptions {
  validators: number
  /** Run until every honest running node holds this many blocks. */
  heights: number
  seed: number
  /** Fault names (planned from the seed) or a concrete schedule. Default none. */
  faults?: readonly FaultName[] | readonly Fault[]
  timeouts?: Partial<TimeoutConfig>
  link?: Partial<LinkConfig>
  /** Give up at this virtual time (default: planned faults end + 4 × cap + 10 s per height). */
  maxVirtualMs?: number
  /** New transactions per workload tick (default 3; 0 = empty blocks). */
  txPerTick?: number
  /** Virtual ms between workload ticks (default 500). */
  txIntervalMs?: number
  /** Most blocks per sync reply (default 20). */
  syncBatch?: number
  /** Builds each node's engine (default: the real ConsensusEngine); for studying engine variants. */
  engineFactory?: EngineFactory
  /** Node-level re-gossip every N virtual ms (default 0 = off); see SimEnv.rebroadcastMs. */
  rebroadcastMs?: number
  /** What the re-gossip re-sends (default 'own'); see SimEnv.rebroadcastScope. */
  rebroadcastScope?: 'own' | 'seen'
  /** Keep the scheduler's event trace in the result. */
  trace?: boolean
  /** Receives every node log line ("t=1234 n2: crashed"). */
  log?: (line: string) => void
  /** Called after setup, before the run: a test may attach more behaviour (e.g. inspect nodes). */
  setup?: (ctx: { env: SimEnv, nodes: SimNode[] }) => void
}

export interface NodeSummary {
  id: number
  honest: boolean
  up: boolean
  height: number
  /** Where the engine stands at the end of the run (undefined while down). */
  engine?: { height: number, round: number, step: number }
  signState?: SignState
}

export interface SimulationResult {
  validators: number
  heights: number
  seed: number
  /** Highest height committed by an honest node. */
  committed: number
  /** Heights at which nodes hold different blocks. */
  forks: number
  /** Violations found by the invariant checks (0 = all held). */
  invariantViolations: number
  p50CommitMs: number
  p99CommitMs: number
  virtualMs: number
  blocksPerSecond: number
  txsPerSecond: number
  txsCommitted: number
  stopReason: 'done' | 'maxVirtualMs' | 'idle'
  verdicts: InvariantVerdict[]
  faults: Fault[]
  faultsEndMs: number
  /** First commit of each height at an honest node. */
  firstCommits: Array<{ height: number, at: number, hash: string, txs: number }>
  nodes: NodeSummary[]
  network: NetworkStats
  /** Peer messages the engines refused, by reason. */
  rejected: Record<string, number>
  evidence: { submitted: number, recordedOnChain: number, records: Array<{ validator: string, height: number, round: number, voteType: number, reporter: string }> }
  errors: string[]
  events: number
  /** sha256 over the scheduler's event trace (same seed → same value). */
  traceHash: string
  trace?: Array<{ at: number, label: string }>
  history: SimHistory
}

const signerCache = new Map<string, Signer>()
/** Deterministic simulator keys: seed = sha256("medchain-sim-key/" + label). */
export function simKey (label: string): Signer {
  let s = signerCache.get(label)
  if (s === undefined) {
    s = createSigner(new Uint8Array(createHash('sha256').update(`medchain-sim-key/${label}`).digest()))
    signerCache.set(label, s)
  }
  return s
}

/** N hospitals, each running one validator of power 1. */
export function simGenesis (validators: number): { genesis: Genesis, hospitals: Signer[], validatorKeys: Signer[] } {
  const hospitals = Array.from({ length: validators }, (_, i) => simKey(`hospital-${i}`))
  const validatorKeys = Array.from({ length: validators }, (_, i) => simKey(`hospital-${i}/validator`))
  const genesis: Genesis = {
    chainId: SIM_CHAIN_ID,
    genesisTime: SIM_GENESIS_TIME,
    hospitals: hospitals.map((h, i) => ({ publicKey: h.publicKey, name: `Hospital ${i}` })),
    validators: validatorKeys.map((v, i) => ({ publicKey: v.publicKey, power: 1, hospital: (hospitals[i] as Signer).publicKey }))
  }
  return { genesis, hospitals, validatorKeys }
}

export function percentile (values: readonly number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank] as number
}

export async function runSimulation (opts: SimulationOptions): Promise<SimulationResult> {
  const n = opts.validators
  if (!Number.isSafeInteger(n) || n < 1 || n > 100) throw new RangeError(`validators must be an integer from 1 to 100, got ${n}`)
  if (!Number.isSafeInteger(opts.heights) || opts.heights < 1) throw new RangeError(`heights must be a positive integer, got ${opts.heights}`)
  const timeouts: TimeoutConfig = { ...DEFAULT_TIMEOUTS, ...opts.timeouts }
  const rng = new Rng(opts.seed)
  const faultRng = rng.fork()
  const netRng = rng.fork()
  const nodeRng = rng.fork()
  const given = opts.faults ?? []
  const faults: Fault[] = given.every((f) => typeof f === 'string')
    ? planFaults((given as readonly string[]).filter(isFaultName), { validators: n, rng: faultRng, timeouts })
    : [...(given as readonly Fault[])]
  const byzantine = byzantineNodes(faults)
  const { genesis, hospitals, validatorKeys } = simGenesis(n)
  const scheduler = new Scheduler({ trace: true })

  // ---- recorder
  const firstCommits = new Map<number, { at: number, hash: Uint8Array, txs: number }>()
  const signed: SignedRecord[][] = Array.from({ length: n }, () => [])
  const rejected: Record<string, number> = {}
  const errors: string[] = []
  const evidenceTxs: Tx[] = []
  const log = (line: string): void => opts.log?.(`t=${scheduler.now} ${line}`)
  let dynamicFaultsEnd = 0
  const observer: SimObserver = {
    onCommit: (node, height, hash, txs, at) => {
      if (byzantine.has(node) || firstCommits.has(height)) return
      firstCommits.set(height, { at, hash, txs })
    },
    onBroadcast: (node, message, at) => {
      // recorded by signer, not by sender: a relayed vote (last-commit catch-up) is not the relayer's signature
      const signer = signerOf(message)
      const key = nodes[node]?.signer.publicKey
      if (signer !== undefined && key !== undefined && equalBytes(signer, key)) signed[node]?.push(signedRecordOf(message, at))
    },
    onRejected: (_node, reason) => { rejected[reason] = (rejected[reason] ?? 0) + 1 },
    onEvidence: (_node, tx) => { evidenceTxs.push(tx) },
    onError: (node, what) => { errors.push(`t=${scheduler.now} node ${node}: ${what}`); log(`n${node}: ERROR ${what}`) },
    onLog: (node, line) => log(`n${node}: ${line}`)
  }

  const nodes: SimNode[] = []
  const network = new Network<ConsensusMessage>({
    size: n,
    scheduler,
    rng: netRng,
    codec: { encode: encodeConsensusMessage, decode: decodeConsensusMessage },
    ...(opts.link !== undefined ? { link: opts.link } : {}),
    deliver: async (to, from, message) => { await nodes[to]?.deliver(from, message) },
    isUp: (id) => nodes[id]?.isUp ?? false,
    onMalformed: (_to, _from, err) => { const code = (err as { code?: unknown }).code; const reason = `MALFORMED_${typeof code === 'string' ? code : 'UNKNOWN'}`; rejected[reason] = (rejected[reason] ?? 0) + 1 }
  })
  const env: SimEnv = {
    genesis, timeouts, scheduler, network, rng: nodeRng, observer, nodes, syncBatch: opts.syncBatch ?? 20,
    ...(opts.engineFactory !== undefined ? { engineFactory: opts.engineFactory } : {}),
    ...(opts.rebroadcastMs !== undefined ? { rebroadcastMs: opts.rebroadcastMs } : {}),
    ...(opts.rebroadcastScope !== undefined ? { rebroadcastScope: opts.rebroadcastScope } : {})
  }
  for (let i = 0; i < n; i++) nodes.push(new SimNode(i, validatorKeys[i] as Signer, !byzantine.has(i), env))

  const plannedEnd = plannedFaultsEnd(faults)
  const permanentlyDown = new Set(faults.filter((f) => f.kind === 'crash' && f.until === undefined).map((f) => (f as { node: number }).node))
  applyFaults(faults, env, { onFaultEnd: (at) => { dynamicFaultsEnd = Math.max(dynamicFaultsEnd, at) }, onLog: (line) => log(line) })
  opts.setup?.({ env, nodes })

  const workload = new Workload({ chainId: genesis.chainId, hospital: hospitals[0] as Signer, perTick: opts.txPerTick ?? 3 })
  const txIntervalMs = opts.txIntervalMs ?? 500
  const tick = (): void => { scheduler.after(txIntervalMs, 'workload', () => { workload.tick(nodes); tick() }) }
  if ((opts.txPerTick ?? 3) > 0) tick()
  for (const node of nodes) scheduler.schedule(0, `start n${node.id}`, async () => { await node.start() })

  const faultsEnd = (): number => Math.max(plannedEnd, dynamicFaultsEnd)
  const topHeight = (): number => { let h = 0; while (firstCommits.has(h + 1)) h++; return h }
  const done = (): boolean => {
    if (topHeight() < opts.heights || scheduler.now < plannedEnd) return false
    if (!nodes.every((node) => node.isUp || permanentlyDown.has(node.id))) return false
    if (!nodes.every((node) => !node.honest || !node.isUp || node.headHeight >= opts.heights)) return false
    const end = faultsEnd()
    return [...firstCommits.values()].some((c) => c.at >= end) || scheduler.now > end + 2 * timeouts.capMs
  }
  const maxVirtualMs = opts.maxVirtualMs ?? plannedEnd + 4 * timeouts.capMs + 10_000 * opts.heights
  const why = await scheduler.runUntil(() => done() || scheduler.now >= maxVirtualMs)
  const stopReason: SimulationResult['stopReason'] = why === 'idle' ? 'idle' : done() ? 'done' : 'maxVirtualMs'

  // ---- history and invariants
  const history: SimHistory = {
    chainId: genesis.chainId,
    nodes: await Promise.all(nodes.map(async (node) => await nodeHistory(node, signed[node.id] ?? []))),
    firstCommits: [...firstCommits].sort((a, b) => a[0] - b[0]).map(([height, c]) => ({ height, at: c.at })),
    faultsEndMs: faultsEnd(),
    capMs: timeouts.capMs,
    endMs: scheduler.now,
    reachedTarget: topHeight() >= opts.heights
  }
  const verdicts = checkInvariants(history, errors)
  const committed = topHeight()
  const commits = [...firstCommits].sort((a, b) => a[0] - b[0])
  const latencies: number[] = []
  for (const [height, c] of commits) {
    if (height > committed) break
    latencies.push(c.at - (firstCommits.get(height - 1)?.at ?? 0))
  }
  const lastAt = firstCommits.get(committed)?.at ?? 0
  const txsCommitted = commits.filter(([h]) => h <= committed).reduce((sum, [, c]) => sum + c.txs, 0)
  const trace = scheduler.trace ?? []
  const traceHash = createHash('sha256')
  for (const e of trace) traceHash.update(`${e.at}|${e.label}\n`)
  return {
    validators: n,
    heights: opts.heights,
    seed: opts.seed,
    committed,
    forks: countForks(history),
    invariantViolations: verdicts.reduce((sum, v) => sum + (v.status === 'violated' ? Math.max(1, v.violations.length) : 0), 0),
    p50CommitMs: percentile(latencies, 50),
    p99CommitMs: percentile(latencies, 99),
    virtualMs: scheduler.now,
    blocksPerSecond: lastAt > 0 ? round2(committed / (lastAt / 1000)) : 0,
    txsPerSecond: lastAt > 0 ? round2(txsCommitted / (lastAt / 1000)) : 0,
    txsCommitted,
    stopReason,
    verdicts,
    faults,
    faultsEndMs: faultsEnd(),
    firstCommits: commits.map(([height, c]) => ({ height, at: c.at, hash: toHex(c.hash), txs: c.txs })),
    nodes: nodes.map((node) => ({ id: node.id, honest: node.honest, up: node.isUp, height: node.headHeight, ...(node.engine !== undefined ? { engine: { height: node.engine.height, round: node.engine.round, step: node.engine.step } } : {}), ...(node.storedSignState !== undefined ? { signState: node.storedSignState } : {}) })),
    network: { ...network.stats },
    rejected,
    evidence: await evidenceSummary(nodes, evidenceTxs.length),
    errors,
    events: scheduler.eventsRun,
    traceHash: traceHash.digest('hex'),
    ...(opts.trace === true ? { trace: trace.map((e) => ({ at: e.at, label: e.label })) } : {}),
    history
  }
}

function round2 (x: number): number {
  return Math.round(x * 100) / 100
}

async function nodeHistory (node: SimNode, signedRecords: SignedRecord[]): Promise<NodeHistory> {
  const chain = node.chain
  const out: NodeHistory = { id: node.id, honest: node.honest, blocks: [], certificates: [], head: { height: 0, stateRoot: new Uint8Array(32) }, signed: signedRecords }
  if (chain === undefined) return out
  out.head = { height: chain.head.height, stateRoot: chain.stateRoot }
  for (let h = 1; h <= chain.head.height; h++) {
    const block = await chain.getBlock(h)
    if (block === undefined) continue
    out.blocks.push({ height: h, hash: blockHash(block.header), stateRoot: block.header.stateRoot })
    const certificate = await chain.getCertificate(h)
    if (certificate !== undefined) out.certificates.push({ height: h, certificate, validatorSet: await chain.validatorSetAt(h) })
  }
  return out
}

function countForks (h: SimHistory): number {
  const byHeight = new Map<number, Set<string>>()
  for (const node of h.nodes) for (const b of node.blocks) {
    const set = byHeight.get(b.height) ?? new Set<string>()
    set.add(toHex(b.hash))
    byHeight.set(b.height, set)
  }
  return [...byHeight.values()].filter((s) => s.size > 1).length
}

/** Evidence transactions found in the blocks of the most advanced honest node, with an OK receipt. */
async function evidenceSummary (nodes: readonly SimNode[], submitted: number): Promise<SimulationResult['evidence']> {
  const best = nodes.filter((n) => n.honest && n.chain !== undefined).sort((a, b) => b.headHeight - a.headHeight)[0]
  const records: SimulationResult['evidence']['records'] = []
  const chain = best?.chain
  if (chain === undefined) return { submitted, recordedOnChain: 0, records }
  for (let h = 1; h <= chain.head.height; h++) {
    const block = await chain.getBlock(h)
    for (const tx of block?.txs ?? []) {
      if (tx.payload.type !== TxType.Evidence) continue
      const receipt = await chain.getReceipt(tx.hash)
      if (receipt?.receipt.code !== RESULT_OK) continue
      const vote = decodeVote(tx.payload.voteA)
      records.push({ validator: toHex(vote.validator), height: vote.height, round: vote.round, voteType: vote.type, reporter: toHex(tx.from) })
    }
  }
  return { submitted, recordedOnChain: records.length, records }
}
