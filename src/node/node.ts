/**
 * The medchain node: composes the chain store, the mempool, the signature worker pool, the
 * consensus engine, the action executor (actions.ts), the network and the JSON-RPC server, and runs
 * their lifecycle (start, stop, stop on a consensus failure).
 *
 * Engine events are handled strictly one at a time (a promise queue), so the engine never sees a
 * message while a block it decided is still being imported. The executor performs the engine's
 * actions through the node's ports: the validator's files (validatorDisk.ts: the sign-state is
 * fdatasync'd before a signed message leaves, the liveness files are rewritten in place after),
 * the network (libp2p, network.ts; the message is handed to our own engine too), real timers (all
 * cleared on stop), proposals from the mempool (waiting for a transaction when
 * `consensus.createEmptyBlocks` is false), block sync from the best peer, evidence into the mempool
 * and gossip, and logs and metrics (metrics.ts). Every imported block, decided here or received by
 * block sync, settles the mempool and moves the engine to the new head. RPC-admitted transactions
 * are gossiped in batches (txGossip.ts). Blobs (encrypted record contents): one FsBlobStore at
 * `<home>/blobs`, served over p2p and the RPC blob routes; with `blobs.replicate`, missing blobs of
 * anchored records are fetched from peers (blobReplication.ts).
 */
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import type { Registry } from 'prom-client'
import { Chain } from '../chain/chain.js'
import type { Genesis } from '../types/genesis.js'
import { Mempool, SignatureCache } from '../chain/mempool.js'
import type { Tx } from '../types/tx.js'
import { findValidator } from '../types/validatorSet.js'
import { getSenderNonce, accessControlApp } from '../contracts/index.js'
import { equalBytes, toHex } from '../crypto/bytes.js'
import type { Signer } from '../crypto/ed25519.js'
import { VerifyPool } from '../crypto/verifyPool.js'
import { ConsensusEngine } from '../consensus/engine.js'
import type { EngineEvent } from '../consensus/types.js'
import type { ConsensusMessage } from '../types/consensusMessage.js'
import { resolveLimits, startRpcServer, type RpcServer } from '../rpc/server.js'
import { MAX_CONSENSUS_GOSSIP_BYTES } from '../p2p/gossip.js'
import { FsBlobStore, type BlobStore } from '../blobs/store.js'
import { HomePaths, loadConfig, loadGenesis, loadNodeKeyPair, type NodeConfig } from './config.js'
import { ActionExecutor } from './actions.js'
import { BlobReplicator } from './blobReplication.js'
import { errorCode } from './errorCode.js'
import { createNodeMetrics, type NodeGauges } from './metrics.js'
import { TxGossipBatcher } from './txGossip.js'
import { ValidatorDisk } from './validatorDisk.js'

/** What the node needs of the network; src/p2p provides it. A lone validator runs without one. */
export interface NodeNetwork {
  /** Sends a signed consensus message to every peer. */
  publishConsensus: (message: ConsensusMessage) => void
  /** Gossips admitted transactions. */
  publishTxs: (txs: readonly Tx[]) => void
  /** Fetches and imports blocks from `fromHeight` from the best peer; resolves with the new head height. */
  syncFrom: (fromHeight: number) => Promise<number>
  peers: () => unknown[]
  /** Re-reads who may connect (after a block changed the validator set). */
  refreshAllowlist: () => Promise<void>
  /** Fetches a blob (at most maxBytes) from peers into the blob store; true when it is there afterwards. */
  fetchBlob?: (hash: Uint8Array, maxBytes: number) => Promise<boolean>
  stop: () => Promise<void>
}

export interface NetworkFactoryArgs {
  config: NodeConfig
  genesis: Genesis
  nodeKey: Signer
  /** The node key's 32-byte seed (libp2p derives the peer id from it). */
  nodeSecret: Uint8Array
  chain: Chain
  /**
   * The one admission function for transactions from any door: encoded bytes, or a transaction
   * the gossip validator already decoded (decoding hashes it; once per transaction is enough).
   */
  checkTx: (input: Uint8Array | Tx) => Tx
  onConsensusMessage: (message: ConsensusMessage) => void
  logger: Logger
  /** The node's blob store, served to and filled from peers. */
  blobStore?: BlobStore
}

export type NetworkFactory = (args: NetworkFactoryArgs) => Promise<NodeNetwork>

export interface StartNodeOptions {
  home: string
  /** Overrides of the home's config.json (tests pick free ports this way). */
  config?: (config: NodeConfig) => NodeConfig
  network?: NetworkFactory
  logger?: Logger
}

export class MedchainNode {
  private queue: Promise<void> = Promise.resolve()
  private readonly timers = new Set<NodeJS.Timeout>()
  private stopped = false
  private waitingForTxs: { height: number, round: number } | undefined
  private syncing = false
  private heightStartedAt = Date.now()
  /** Performs the engine's actions (actions.ts) through this node's ports. */
  private readonly actions: ActionExecutor
  /** Transactions admitted from RPC, gossiped together at the next flush (one message, not one each). */
  private readonly gossip: TxGossipBatcher
  private readonly replicator: BlobReplicator

  private constructor (
    readonly home: string,
    readonly config: NodeConfig,
    readonly genesis: Genesis,
    readonly nodeKey: Signer,
    readonly chain: Chain,
    readonly mempool: Mempool,
    readonly engine: ConsensusEngine,
    private readonly pool: VerifyPool,
    private readonly disk: ValidatorDisk,
    readonly logger: Logger,
    readonly metrics: Registry,
    private readonly gauges: NodeGauges,
    blobStore: BlobStore,
    ownMessages: readonly ConsensusMessage[]
  ) {
    this.gossip = new TxGossipBatcher((txs) => { this.network?.publishTxs(txs) })
    this.replicator = new BlobReplicator({ store: blobStore, state: () => chain.stateView, maxBytes: config.blobs.maxBytes, fetchBlob: () => this.network?.fetchBlob, logger })
    this.actions = new ActionExecutor({
      signer: nodeKey,
      chain,
      engine,
      disk,
      publish: (message) => { this.network?.publishConsensus(message); return true },
      loopback: true,
      scheduleTimeout: (delayMs, event) => {
        const timer = setTimeout(() => {
          this.timers.delete(timer)
          this.enqueue(event)
        }, delayMs)
        this.timers.add(timer)
      },
      proposals: {
        // stay under what one gossip message can carry (the header and lastCommit need the margin)
        reap: () => mempool.reap(MAX_CONSENSUS_GOSSIP_BYTES - 64 * 1024),
        now: () => Date.now(),
        defer: (height, round) => {
          if (config.consensus.createEmptyBlocks || mempool.size > 0) return false
          this.waitingForTxs = { height, round }
          return true
        },
        background: (event) => { this.enqueue(event) }
      },
      startSync: (fromHeight) => { this.startSync(fromHeight) },
      evidence: {
        pendingOwnTxs: () => mempool.pendingCount(nodeKey.publicKey),
        submit: (tx) => {
          mempool.checkTx(tx.bytes)
          this.onAdmitted(tx)
        }
      },
      monotonicMs: () => performance.now(),
      errorCode,
      // a stop lets the event being handled finish its actions; the events it fed back are dropped
      session: () => ({ event: () => !this.stopped, action: () => true }),
      hooks: {
        engineThrew: (_event, err) => { throw err },
        afterEvent: () => {
          gauges.height.set(engine.height)
          gauges.round.set(engine.round)
        },
        blockRefused: (height, code) => { logger.warn({ height, code }, 'proposed block refused') },
        committed: ({ height, hash, block, certificate, importMs }) => {
          gauges.validationSeconds.observe(importMs / 1000)
          gauges.commitSeconds.observe((Date.now() - this.heightStartedAt) / 1000)
          this.heightStartedAt = Date.now()
          gauges.txs.inc(block.txs.length)
          logger.info({ height, hash: toHex(hash).slice(0, 16), txs: block.txs.length, round: certificate.round }, 'committed block')
        },
        // a decided block that does not import is the node's own failure (see `enqueue`)
        importFailed: (_action, err) => { throw err },
        proposalFailed: (err) => { logger.error({ err }, 'could not build a proposal') },
        evidenceSubmitted: (_tx, voteA) => { logger.warn({ validator: toHex(voteA.validator), height: voteA.height, round: voteA.round }, 'double-sign detected: evidence submitted') },
        evidenceFailed: (err) => { logger.warn({ code: errorCode(err) }, 'could not submit evidence') },
        rejected: (reason, detail) => { logger.debug({ reason, detail }, 'consensus message refused') }
      }
    }, { ownMessages })
  }

  network: NodeNetwork | undefined
  rpc: RpcServer | undefined

  /** Opens the home, starts every service, and starts consensus. */
  static async start (opts: StartNodeOptions): Promise<MedchainNode> {
    const home = opts.home
    const baseConfig = loadConfig(home)
    const config = opts.config?.(baseConfig) ?? baseConfig
    const genesis = loadGenesis(home)
    const { signer: nodeKey, secretKey: nodeSecret } = loadNodeKeyPair(home)
    const logger = opts.logger ?? pino({ level: config.log.level, base: { node: config.moniker } })
    const disk = new ValidatorDisk(home)
    const signState = disk.loadSignState()
    const pool = new VerifyPool()
    const signatureCache = new SignatureCache()
    let treeLogAt = 0
    const chain = await Chain.open({
      app: accessControlApp,
      dir: HomePaths.data(home),
      genesis,
      verifier: pool,
      verifiedTxs: signatureCache,
      keepVersions: config.state.keepVersions,
      treeCacheBytes: config.state.cacheMB * 1024 * 1024,
      // once per data directory written before the tree moved to disk: a line at the start, the end, and every 5 s
      onTreeBuild: ({ done, total }) => {
        const now = Date.now()
        if (done !== 0 && done !== total && now - treeLogAt < 5000) return
        treeLogAt = now
        logger.info({ done, total }, `building the state tree on disk: ${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} keys`)
      },
      onPruneError: (err) => { logger.warn({ code: errorCode(err), err }, 'could not prune old state tree versions; the next block retries') }
    })
    const blobStore = await FsBlobStore.open(HomePaths.blobs(home))
    const mempool = new Mempool({
      chainId: genesis.chainId,
      maxTxs: config.mempool.maxTxs,
      maxBytes: config.mempool.maxBytes,
      getAccountNonce: (pk) => getSenderNonce(chain.stateView, pk),
      signatureCache
    })
    const lastSignedBlock = disk.readLastSignedBlock()
    const ownMessages = disk.readOwnMessages(logger)
    const isValidator = findValidator(chain.validatorSet, nodeKey.publicKey) !== undefined
    const engine = new ConsensusEngine({
      chainId: genesis.chainId,
      ...(isValidator ? { signer: nodeKey } : {}),
      height: chain.head.height + 1,
      validatorSet: chain.validatorSet,
      ...(signState !== undefined ? { signState } : {}),
      ...(lastSignedBlock !== undefined ? { lastSignedBlock } : {}),
      ...(ownMessages.length > 0 ? { ownMessages } : {}),
      timeouts: config.consensus.timeouts
    })
    const { registry: metrics, gauges } = createNodeMetrics()
    const node = new MedchainNode(home, config, genesis, nodeKey, chain, mempool, engine, pool, disk, logger, metrics, gauges, blobStore, ownMessages)
    // every imported block, decided here or received by block sync (also a sync that failed
    // part-way), settles the mempool and moves the engine to the new head; for a block the engine
    // decided itself that event arrives after its own and is ignored as stale
    chain.on('block', ({ block, receipts }) => {
      mempool.update(block.header.height, block.txs)
      node.actions.clearOwnMessages(block.header.height)
      if (!equalBytes(block.header.validatorsHash, block.header.nextValidatorsHash)) void node.network?.refreshAllowlist()
      const head = chain.head
      node.enqueue({ type: 'blockCommitted', height: head.height, hash: head.hash, validatorSet: chain.validatorSet, timestamp: head.timestamp })
      if (config.blobs.replicate) node.replicator.replicate(receipts)
    })
    try {
      if (opts.network !== undefined) {
        node.network = await opts.network({
          config, genesis, nodeKey, nodeSecret, chain, logger, blobStore,
          checkTx: (input) => node.admitTx(input),
          onConsensusMessage: (message) => { node.enqueue({ type: 'message', message }) }
        })
      }
      node.rpc = await startRpcServer({
        chain,
        mempool,
        host: config.rpc.host,
        port: config.rpc.port,
        limits: { maxBodyBytes: config.rpc.maxBodyBytes, maxBatch: config.rpc.maxBatch, ratePerSecond: config.rpc.ratePerSecond, burst: config.rpc.burst, bodyTimeoutMs: config.rpc.bodyTimeoutMs, ...(config.rpc.allowedHosts.length > 0 ? { allowedHosts: [...resolveLimits(config.rpc.host).allowedHosts, ...config.rpc.allowedHosts] } : {}) },
        nodeInfo: () => ({ moniker: config.moniker, nodeKey: toHex(nodeKey.publicKey), validator: findValidator(chain.validatorSet, nodeKey.publicKey) !== undefined, consensus: { height: engine.height, round: engine.round, step: engine.step }, blobs: { maxBytes: config.blobs.maxBytes } }),
        peers: () => node.network?.peers() ?? [],
        metrics,
        onTx: (tx) => { node.onAdmitted(tx) },
        logger,
        blobs: {
          store: blobStore,
          maxBytes: config.blobs.maxBytes,
          accessTtlMs: config.blobs.accessTtlMs,
          serveLogPath: join(HomePaths.blobs(home), 'serve-log.jsonl'),
          fetchMissing: async (hash, maxBytes) => (await node.network?.fetchBlob?.(hash, maxBytes)) ?? false
        }
      })
    } catch (err) {
      await node.stop()
      throw err
    }
    logger.info({ height: chain.head.height, chainId: genesis.chainId, validator: isValidator, rpc: node.rpc.url }, 'node started')
    if (engine.signingPausedUntil !== undefined) logger.warn({ until: engine.signingPausedUntil }, 'this validator signed up to a height its store does not have yet: it will not sign until it has synced')
    node.enqueue({ type: 'start' })
    return node
  }

  /** Admission of a transaction from the network (same checks as RPC). */
  private admitTx (input: Uint8Array | Tx): Tx {
    const tx = this.mempool.checkTx(input)
    this.onAdmitted(tx, false)
    return tx
  }

  /** An admitted transaction: gossiped (unless it came by gossip), and the proposal waiting for one is built. */
  private onAdmitted (tx: Tx, gossip = true): void {
    if (gossip) this.gossip.add(tx)
    const waiting = this.waitingForTxs
    if (waiting !== undefined) {
      this.waitingForTxs = undefined
      this.actions.proposeInBackground(waiting.height, waiting.round)
    }
  }

  /**
   * Queues an event for the engine; events are handled one at a time, actions to completion. The
   * engine never throws on peer input, so an error here is the node's own (a disk that cannot
   * persist the sign-state or a block): consensus cannot continue safely and the node stops, as
   * CometBFT halts on a WAL or store failure; a supervisor (e.g. `medchain devnet`) restarts it.
   */
  enqueue (event: EngineEvent): void {
    if (this.stopped) return
    this.queue = this.queue.then(async () => { await this.actions.handle(event) }).catch((err: unknown) => {
      this.logger.fatal({ err, code: errorCode(err) }, 'consensus failed; stopping the node')
      this.failure = err
      setImmediate(() => { void this.stop().then(() => { this.emitFailure?.(err) }) })
    })
  }

  /** The error that stopped the node, if one did. */
  failure: unknown
  /** Called after the node stopped itself on a consensus failure (`medchain start` exits non-zero). */
  emitFailure: ((err: unknown) => void) | undefined

  private startSync (fromHeight: number): void {
    const network = this.network
    if (network === undefined || this.syncing) return
    this.syncing = true
    // every block sync imports reaches the engine through the chain's 'block' event
    void network.syncFrom(fromHeight).then((height) => {
      this.syncing = false
      if (height >= fromHeight) this.logger.info({ height }, 'synced')
    }, (err: unknown) => {
      this.syncing = false
      this.logger.warn({ code: errorCode(err) }, 'block sync failed; will retry when peers are ahead again')
    })
  }

  /** Stops consensus, the RPC server, the network and the store, in that order. Idempotent. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    this.gossip.stop()
    this.replicator.stop()
    await this.queue
    await this.rpc?.close()
    await this.network?.stop()
    await this.chain.close()
    this.disk.close()
    await this.pool.close()
    this.logger.info('node stopped')
  }
}
