/**
 * The medchain node: composes the chain store, the mempool, the signature worker pool, the
 * consensus engine, the network and the JSON-RPC server, and performs the engine's actions.
 *
 * The engine is a pure state machine; everything with a side effect happens here, in one place:
 *  - events are handled strictly one at a time (a promise queue), so the engine never sees a
 *    message while a block it decided is still being imported;
 *  - `broadcast`: the sign-state reaches the disk (fdatasync) BEFORE the message leaves (the block
 *    signed for is written before it too, unsynced: liveness data); once the message has left, it
 *    joins `<home>/data/own_messages.bin` (every vote signed at the sign-state's height and the
 *    latest proposal, a small WAL given back to the engine as `ownMessages` on start, also
 *    unsynced); both liveness files are rewritten in place (inPlaceFile.ts); these writes are
 *    synchronous on purpose (see `perform`);
 *    the message is delivered to our own engine too;
 *  - `scheduleTimeout`: real timers, all cleared on stop;
 *  - `buildProposal`: the mempool's executable transactions, through `chain.buildBlock`;
 *  - `validateBlock`: `chain.checkBlock` (the execution is kept for the import);
 *  - `commitBlock`: `chain.importBlock` with the certificate, then the mempool is updated;
 *  - `requestSync`: block sync from peers (network), each block verified against its certificate;
 *  - `evidence`: an Evidence transaction signed with the node key, into the mempool and gossip.
 * Blobs (encrypted record contents): one FsBlobStore at `<home>/blobs`, served over p2p and the RPC
 * blob routes; with `blobs.replicate`, the blob of every record anchored in a committed block is
 * fetched from peers in the background when missing here (best effort: logged, never fatal).
 */
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { Registry, Gauge, Histogram, Counter } from 'prom-client'
import { Chain } from '../chain/chain.js'
import { blockHash, decodeBlock, EMPTY_COMMIT, encodeBlock, type Block } from '../types/block.js'
import type { Genesis } from '../types/genesis.js'
import { Mempool, SignatureCache } from '../chain/mempool.js'
import { signTx, TxType, type Tx } from '../types/tx.js'
import { findValidator } from '../types/validatorSet.js'
import { getEvidence, getRecord, getSenderNonce, accessControlApp } from '../contracts/index.js'
import { equalBytes, fromHex, toHex } from '../crypto/bytes.js'
import type { Signer } from '../crypto/ed25519.js'
import { VerifyPool } from '../crypto/verifyPool.js'
import { ConsensusEngine } from '../consensus/engine.js'
import { SignStateFile } from '../consensus/signState.js'
import { decodeOwnMessages, encodeOwnMessages, keepOwnMessages, messageHeight } from '../consensus/wal.js'
import type { EngineAction, EngineEvent } from '../consensus/types.js'
import type { ConsensusMessage } from '../types/consensusMessage.js'
import { encodeVote, type Vote } from '../types/vote.js'
import { resolveLimits, startRpcServer, type RpcServer } from '../rpc/server.js'
import { MAX_CONSENSUS_GOSSIP_BYTES, MAX_TX_BATCH_TXS } from '../p2p/gossip.js'
import { FsBlobStore, type BlobStore } from '../blobs/store.js'
import { HomePaths, loadConfig, loadGenesis, loadNodeKeyPair, type NodeConfig } from './config.js'
import { InPlaceFile } from './inPlaceFile.js'

/** How long RPC-admitted transactions wait to be gossiped together. */
const TX_GOSSIP_FLUSH_MS = 10

/** Most blobs fetched from peers for replication at once. */
const MAX_REPLICATIONS = 4

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

const LAST_SIGNED_BLOCK_FILE = 'last_signed_block.bin'
const OWN_MESSAGES_FILE = 'own_messages.bin'

export class MedchainNode {
  private queue: Promise<void> = Promise.resolve()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly knownBlocks = new Map<string, Block>()
  /** What own_messages.bin holds: the messages this validator signed at the sign-state's height. */
  private ownMessages: ConsensusMessage[] = []
  private stopped = false
  private waitingForTxs: { height: number, round: number } | undefined
  private syncing = false

  private constructor (
    readonly home: string,
    readonly config: NodeConfig,
    readonly genesis: Genesis,
    readonly nodeKey: Signer,
    readonly chain: Chain,
    readonly mempool: Mempool,
    readonly engine: ConsensusEngine,
    private readonly pool: VerifyPool,
    private readonly signStateFile: SignStateFile,
    readonly logger: Logger,
    readonly metrics: Registry,
    private readonly gauges: { height: Gauge, round: Gauge, peers: Gauge, txs: Counter, commitSeconds: Histogram, validationSeconds: Histogram },
    private readonly liveness: LivenessFiles
  ) {}

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
    const signStateFile = new SignStateFile(HomePaths.signState(home))
    const signState = signStateFile.load()
    const pool = new VerifyPool()
    const signatureCache = new SignatureCache()
    const chain = await Chain.open({ app: accessControlApp, dir: HomePaths.data(home), genesis, verifier: pool, verifiedTxs: signatureCache })
    const blobStore = await FsBlobStore.open(HomePaths.blobs(home))
    const mempool = new Mempool({
      chainId: genesis.chainId,
      maxTxs: config.mempool.maxTxs,
      maxBytes: config.mempool.maxBytes,
      getAccountNonce: (pk) => getSenderNonce(chain.stateView, pk),
      signatureCache
    })
    const liveness = livenessFiles(home)
    const lastSignedBlock = readLastSignedBlock(liveness.lastSignedBlock)
    const ownMessages = readOwnMessages(liveness.ownMessages, logger)
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
    const metrics = new Registry()
    const gauges = {
      height: new Gauge({ name: 'medchain_consensus_height', help: 'Height consensus is deciding', registers: [metrics] }),
      round: new Gauge({ name: 'medchain_consensus_round', help: 'Round of the current height', registers: [metrics] }),
      peers: new Gauge({ name: 'medchain_p2p_peers', help: 'Connected peers', registers: [metrics] }),
      txs: new Counter({ name: 'medchain_txs_committed_total', help: 'Transactions committed', registers: [metrics] }),
      commitSeconds: new Histogram({ name: 'medchain_commit_latency_seconds', help: 'Time from the start of a height to its commit', buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [metrics] }),
      validationSeconds: new Histogram({ name: 'medchain_block_validation_seconds', help: 'Time to validate and import a block', buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [metrics] })
    }
    const node = new MedchainNode(home, config, genesis, nodeKey, chain, mempool, engine, pool, signStateFile, logger, metrics, gauges, liveness)
    node.ownMessages = ownMessages
    // every imported block, decided here or received by block sync (also a sync that failed
    // part-way), settles the mempool and moves the engine to the new head; for a block the engine
    // decided itself that event arrives after its own and is ignored as stale
    chain.on('block', ({ block, receipts }) => {
      mempool.update(block.header.height, block.txs)
      node.clearOwnMessages(block.header.height)
      if (!equalBytes(block.header.validatorsHash, block.header.nextValidatorsHash)) void node.network?.refreshAllowlist()
      const head = chain.head
      node.enqueue({ type: 'blockCommitted', height: head.height, hash: head.hash, validatorSet: chain.validatorSet, timestamp: head.timestamp })
      if (config.blobs.replicate) node.replicateBlobs(blobStore, receipts)
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

  /** Transactions admitted from RPC, gossiped together at the next flush (one message, not one each). */
  private gossipBatch: Tx[] = []
  private gossipFlush: NodeJS.Timeout | undefined

  private onAdmitted (tx: Tx, gossip = true): void {
    if (gossip) this.queueGossip(tx)
    const waiting = this.waitingForTxs
    if (waiting !== undefined) {
      this.waitingForTxs = undefined
      this.buildProposal(waiting.height, waiting.round)
    }
  }

  /**
   * Gossips RPC-admitted transactions in batches: what arrives within TX_GOSSIP_FLUSH_MS (or fills a
   * batch) leaves as one message. One message per transaction cost each validator a noise frame,
   * a socket write and a gossipsub message id per transaction per peer (the largest share of a
   * validator's time at 600 tx/s, see bench/RESULTS.md).
   */
  private queueGossip (tx: Tx): void {
    this.gossipBatch.push(tx)
    if (this.gossipBatch.length >= MAX_TX_BATCH_TXS) { this.flushGossip(); return }
    if (this.gossipFlush !== undefined) return
    this.gossipFlush = setTimeout(() => { this.flushGossip() }, TX_GOSSIP_FLUSH_MS)
    this.timers.add(this.gossipFlush)
  }

  private flushGossip (): void {
    if (this.gossipFlush !== undefined) {
      clearTimeout(this.gossipFlush)
      this.timers.delete(this.gossipFlush)
      this.gossipFlush = undefined
    }
    const batch = this.gossipBatch
    this.gossipBatch = []
    if (batch.length > 0 && !this.stopped) this.network?.publishTxs(batch)
  }

  /**
   * Queues an event for the engine; events are handled one at a time, actions to completion. The
   * engine never throws on peer input, so an error here is the node's own (a disk that cannot
   * persist the sign-state or a block): consensus cannot continue safely and the node stops, as
   * CometBFT halts on a WAL or store failure; a supervisor (e.g. `medchain devnet`) restarts it.
   */
  enqueue (event: EngineEvent): void {
    if (this.stopped) return
    this.queue = this.queue.then(async () => { await this.handle(event) }).catch((err: unknown) => {
      this.logger.fatal({ err, code: errorCode(err) }, 'consensus failed; stopping the node')
      this.failure = err
      setImmediate(() => { void this.stop().then(() => { this.emitFailure?.(err) }) })
    })
  }

  /** The error that stopped the node, if one did. */
  failure: unknown
  /** Called after the node stopped itself on a consensus failure (`medchain start` exits non-zero). */
  emitFailure: ((err: unknown) => void) | undefined

  private async handle (event: EngineEvent): Promise<void> {
    const pending: EngineEvent[] = [event]
    while (pending.length > 0 && !this.stopped) {
      const next = pending.shift() as EngineEvent
      if (next.type === 'proposalBuilt') this.rememberBlock(next.block)
      for (const action of this.engine.handle(next)) await this.perform(action, pending)
      this.gauges.height.set(this.engine.height)
      this.gauges.round.set(this.engine.round)
    }
  }

  /**
   * Blocks this validator may sign for: its own proposals and the proposals the engine asked to
   * validate (so only from the round's proposer, never arbitrary peer blocks); the oldest go first.
   */
  private rememberBlock (block: Block): void {
    if (this.knownBlocks.size >= 64) this.knownBlocks.delete(this.knownBlocks.keys().next().value as string)
    this.knownBlocks.set(toHex(blockHash(block.header)), block)
  }

  private heightStartedAt = Date.now()
  private lastSignedBlockHash: string | undefined

  private async perform (action: EngineAction, pending: EngineEvent[]): Promise<void> {
    switch (action.type) {
      case 'broadcast': {
        if (action.signState !== undefined) {
          const hash = action.signState.blockHash
          const block = hash === undefined ? undefined : this.knownBlocks.get(toHex(hash))
          if (block !== undefined && hash !== undefined && toHex(hash) !== this.lastSignedBlockHash) {
            this.liveness.lastSignedBlock.write(encodeBlock(block)) // the prevote and precommit for one block write it once
            this.lastSignedBlockHash = toHex(hash)
          }
          // durable before the message leaves, synchronously: measured at 1,100 tx/s, writing on the
          // thread pool instead let gossip and RPC work run first, and commit latency rose by ~40%
          this.signStateFile.save(action.signState)
        }
        this.network?.publishConsensus(action.message)
        if (action.signState !== undefined) {
          // then the WAL of this height's own messages, once the message is out (it is for
          // re-sending, not for safety: a crash before it is written loses only the message,
          // which the engine re-signs identically from the sign-state): every vote of the height,
          // but only the latest proposal, so a stall of many rounds does not rewrite a growing
          // pile of blocks with every vote (the engine re-sends the same)
          this.ownMessages = keepOwnMessages(this.ownMessages, action.message, action.signState.height)
          this.liveness.ownMessages.write(encodeOwnMessages(this.ownMessages))
        }
        pending.push({ type: 'message', message: action.message })
        return
      }
      case 'scheduleTimeout': {
        const { height, round, step } = action
        const timer = setTimeout(() => {
          this.timers.delete(timer)
          this.enqueue({ type: 'timeout', height, round, step })
        }, action.delayMs)
        this.timers.add(timer)
        return
      }
      case 'buildProposal':
        if (!this.config.consensus.createEmptyBlocks && this.mempool.size === 0) {
          this.waitingForTxs = { height: action.height, round: action.round }
          return
        }
        this.buildProposal(action.height, action.round)
        return
      case 'validateBlock': {
        this.rememberBlock(action.block)
        try {
          await this.chain.checkBlock(action.block)
          pending.push({ type: 'blockValidated', height: action.height, hash: action.hash, valid: true })
        } catch (err) {
          this.logger.warn({ height: action.height, code: errorCode(err) }, 'proposed block refused')
          pending.push({ type: 'blockValidated', height: action.height, hash: action.hash, valid: false, reason: errorCode(err) })
        }
        return
      }
      case 'commitBlock': {
        if (action.height <= this.chain.head.height) {
          const head = this.chain.head
          pending.push({ type: 'blockCommitted', height: head.height, hash: head.hash, validatorSet: this.chain.validatorSet, timestamp: head.timestamp })
          return
        }
        const started = performance.now()
        let result
        try {
          result = await this.chain.importBlock(action.block, { commit: action.certificate })
        } catch (err) {
          // block sync may have imported this height between the check above and the import
          const head = this.chain.head
          if (head.height >= action.height) {
            pending.push({ type: 'blockCommitted', height: head.height, hash: head.hash, validatorSet: this.chain.validatorSet, timestamp: head.timestamp })
            return
          }
          throw err
        }
        this.gauges.validationSeconds.observe((performance.now() - started) / 1000)
        this.gauges.commitSeconds.observe((Date.now() - this.heightStartedAt) / 1000)
        this.heightStartedAt = Date.now()
        this.gauges.txs.inc(action.block.txs.length)
            this.logger.info({ height: result.height, hash: toHex(result.hash).slice(0, 16), txs: action.block.txs.length, round: action.certificate.round }, 'committed block')
        pending.push({ type: 'blockCommitted', height: result.height, hash: result.hash, validatorSet: this.chain.validatorSet, timestamp: action.block.header.timestamp, sinceDecidedMs: performance.now() - started })
        return
      }
      case 'requestSync':
        this.startSync(action.fromHeight)
        return
      case 'evidence':
        this.submitEvidence(action.voteA, action.voteB)
        return
      case 'rejected':
        this.logger.debug({ reason: action.reason, detail: action.detail }, 'consensus message refused')
    }
  }

  /** The height advanced past the own messages' height: they are of no use any more. */
  private clearOwnMessages (committed: number): void {
    const first = this.ownMessages[0]
    if (first === undefined || messageHeight(first) > committed) return
    this.ownMessages = []
    this.liveness.ownMessages.write(encodeOwnMessages([]))
  }

  private buildProposal (height: number, round: number): void {
    void (async () => {
      const head = this.chain.head
      if (height !== head.height + 1) return
      const lastCommit = (await this.chain.getCertificate(head.height)) ?? EMPTY_COMMIT
      // stay under what one gossip message can carry (the header and lastCommit need the margin)
      const txs = this.mempool.reap(MAX_CONSENSUS_GOSSIP_BYTES - 64 * 1024)
      const built = this.chain.buildBlock({ txs, timestamp: Math.max(Date.now(), head.timestamp + 1), proposer: this.nodeKey.publicKey, lastCommit })
      this.enqueue({ type: 'proposalBuilt', height, round, block: built.block })
    })().catch((err: unknown) => { this.logger.error({ err }, 'could not build a proposal') })
  }

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

  /** Blob hashes queued or being fetched for replication (each once). */
  private readonly replicating = new Set<string>()
  private readonly replicationQueue: Array<{ hash: Uint8Array, size: number, recordId: string }> = []
  private activeReplications = 0

  /**
   * Best effort: fetches from peers, in the background and at most MAX_REPLICATIONS at a time, the
   * blob of every record these receipts anchored that this node lacks. Failures are logged; a blob
   * still missing is fetched again when a reader asks for it (blob routes).
   */
  private replicateBlobs (store: BlobStore, receipts: ReadonlyArray<{ events: ReadonlyArray<{ kind: string, attributes: ReadonlyArray<[string, string]> }> }>): void {
    if (this.network?.fetchBlob === undefined) return
    for (const receipt of receipts) {
      for (const event of receipt.events) {
        if (event.kind !== 'record.anchored') continue
        const recordId = event.attributes.find(([k]) => k === 'recordId')?.[1]
        const record = recordId === undefined ? undefined : getRecord(this.chain.stateView, fromHex(recordId))
        if (recordId === undefined || record === undefined) continue
        if (record.size > this.config.blobs.maxBytes) {
          this.logger.warn({ recordId, size: record.size, limit: this.config.blobs.maxBytes }, 'anchored blob larger than blobs.maxBytes: not replicated')
          continue
        }
        const key = toHex(record.contentHash)
        if (this.replicating.has(key)) continue
        this.replicating.add(key)
        this.replicationQueue.push({ hash: record.contentHash, size: record.size, recordId })
      }
    }
    this.pumpReplication(store)
  }

  private pumpReplication (store: BlobStore): void {
    while (this.activeReplications < MAX_REPLICATIONS && !this.stopped) {
      const job = this.replicationQueue.shift()
      if (job === undefined) return
      this.activeReplications++
      void (async () => {
        if (await store.has(job.hash)) return
        const ok = await this.network?.fetchBlob?.(job.hash, job.size)
        if (ok === true) this.logger.info({ recordId: job.recordId, size: job.size }, 'blob replicated from a peer')
        else this.logger.warn({ recordId: job.recordId }, 'blob of an anchored record not found at any peer; fetched again when read')
      })().catch((err: unknown) => {
        this.logger.warn({ recordId: job.recordId, code: errorCode(err) }, 'blob replication failed')
      }).finally(() => {
        this.replicating.delete(toHex(job.hash))
        this.activeReplications--
        this.pumpReplication(store)
      })
    }
  }

  /** Double-signs this node already reported: every honest node sees the same equivocation. */
  private readonly reportedEvidence = new Set<string>()

  private submitEvidence (voteA: Vote, voteB: Vote): void {
    const id = `${toHex(voteA.validator)}/${voteA.height}/${voteA.round}/${voteA.type}`
    if (this.reportedEvidence.has(id) || getEvidence(this.chain.stateView, voteA.validator, voteA.height, voteA.round, voteA.type) !== undefined) return
    if (this.reportedEvidence.size > 1024) this.reportedEvidence.clear()
    this.reportedEvidence.add(id)
    const nonce = getSenderNonce(this.chain.stateView, this.nodeKey.publicKey)
    if (nonce === undefined) return
    try {
      const tx = signTx({ chainId: this.genesis.chainId, from: this.nodeKey.publicKey, nonce: nonce + this.mempool.pendingCount(this.nodeKey.publicKey), payload: { type: TxType.Evidence, voteA: encodeVote(voteA), voteB: encodeVote(voteB) } }, this.nodeKey)
      this.mempool.checkTx(tx.bytes)
      this.onAdmitted(tx)
      this.logger.warn({ validator: toHex(voteA.validator), height: voteA.height, round: voteA.round }, 'double-sign detected: evidence submitted')
    } catch (err) {
      this.logger.warn({ code: errorCode(err) }, 'could not submit evidence')
    }
  }

  /** Stops consensus, the RPC server, the network and the store, in that order. Idempotent. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    await this.queue
    await this.rpc?.close()
    await this.network?.stop()
    await this.chain.close()
    this.liveness.ownMessages.close()
    this.liveness.lastSignedBlock.close()
    await this.pool.close()
    this.logger.info('node stopped')
  }
}

function errorCode (err: unknown): string {
  return typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : (err instanceof Error ? err.message : String(err))
}

/** The validator's liveness files (inPlaceFile.ts): the block it last signed for, and its own messages of the current height. */
interface LivenessFiles { lastSignedBlock: InPlaceFile, ownMessages: InPlaceFile }

function livenessFiles (home: string): LivenessFiles {
  return {
    lastSignedBlock: new InPlaceFile(join(HomePaths.data(home), LAST_SIGNED_BLOCK_FILE)),
    ownMessages: new InPlaceFile(join(HomePaths.data(home), OWN_MESSAGES_FILE))
  }
}

/** The block the sign-state's hash names (see `perform`); undefined when missing or unreadable. */
function readLastSignedBlock (file: InPlaceFile): Block | undefined {
  try {
    const body = file.read()
    return body === undefined ? undefined : decodeBlock(body)
  } catch {
    return undefined
  }
}

/** The own messages of the last signed height; none when the file is missing or unreadable (liveness data only). */
function readOwnMessages (file: InPlaceFile, logger: Logger): ConsensusMessage[] {
  try {
    const body = file.read()
    if (body === undefined) return []
    return decodeOwnMessages(body)
  } catch (err) {
    logger.warn({ path: file.path, err: err instanceof Error ? err.message : String(err) }, 'own messages file unreadable: ignored (a restart re-sends only the last signed vote)')
    return []
  }
}
