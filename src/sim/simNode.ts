/**
 * One simulated validator: the real ConsensusEngine, a real Chain on a MemoryLevel (real block
 * execution and certificate checks) and a Mempool, whose actions are performed by the node's own
 * action executor (src/node/actions.ts: the same persistence order, proposal building, validation,
 * commit and evidence code as a MedchainNode) through simulated ports: the "disk" below, the
 * simulated network, the virtual clock's scheduler and the run's observer. Block sync imports
 * through block sync's import step (`importCertifiedBlocks`, src/p2p/sync.ts) over a simulated
 * request/response.
 *
 * Its "disk" (the MemoryLevel and the last sign-state) survives a crash; a wipe replaces the
 * store with an empty one but keeps the sign-state file. Every event is processed to the end,
 * including the events the actions feed back (proposalBuilt, blockValidated, blockCommitted) and
 * all the async block work, before the scheduler takes the next one, so a run is deterministic.
 */
import { MemoryLevel } from 'memory-level'
import { Chain } from '../chain/chain.js'
import { blockHash, decodeBlock, decodeCertificate, encodeBlock, encodeCertificate, type Block } from '../types/block.js'
import type { Genesis } from '../types/genesis.js'
import { Mempool } from '../chain/mempool.js'
import type { Tx } from '../types/tx.js'
import { getSenderNonce, accessControlApp } from '../contracts/index.js'
import type { Signer } from '../crypto/ed25519.js'
import { equalBytes, toHex } from '../crypto/bytes.js'
import { ConsensusEngine, type EngineOptions } from '../consensus/engine.js'
import { Step, type EngineAction, type EngineEvent, type SignState, type TimeoutConfig } from '../consensus/types.js'
import { type ConsensusMessage } from '../types/consensusMessage.js'
import { VoteType, type Vote } from '../types/vote.js'
import { messageHeight } from '../consensus/wal.js'
import { ActionExecutor, type ActionDisk } from '../node/actions.js'
import { importCertifiedBlocks, type CertifiedBlock } from '../p2p/sync.js'
import type { Network } from './network.js'
import type { Rng } from './random.js'
import type { Scheduler } from './scheduler.js'

/** What a node reports to the run (the recorder in run.ts). */
export interface SimObserver {
  onCommit: (node: number, height: number, hash: Uint8Array, txs: number, at: number, via: 'consensus' | 'sync') => void
  onBroadcast: (node: number, message: ConsensusMessage, at: number) => void
  onRejected: (node: number, reason: string) => void
  onEvidence: (node: number, tx: Tx) => void
  /** Something that must never happen: the engine threw, or a decided block did not import. */
  onError: (node: number, what: string) => void
  onLog: (node: number, line: string) => void
}

/** What the simulator needs of an engine (the real ConsensusEngine, or a variant under study). */
export interface SimEngine {
  handle: (event: EngineEvent) => EngineAction[]
  readonly height: number
  readonly round: number
  readonly step: Step
  readonly signState: SignState | undefined
}

export type EngineFactory = (opts: EngineOptions) => SimEngine

export const defaultEngineFactory: EngineFactory = (opts) => new ConsensusEngine(opts)

/** A hook run on every message this node's engine broadcasts; returns true to suppress the normal broadcast. */
export type BroadcastHook = (message: ConsensusMessage) => boolean | Promise<boolean>

export interface SimEnv {
  genesis: Genesis
  timeouts: TimeoutConfig
  scheduler: Scheduler
  network: Network<ConsensusMessage>
  rng: Rng
  observer: SimObserver
  nodes: SimNode[]
  /** Most blocks returned by one sync request. */
  syncBatch: number
  /** Builds each node's engine (default: the real ConsensusEngine). */
  engineFactory?: EngineFactory
  /**
   * Node-level re-gossip: every `rebroadcastMs` a running node re-sends (identical bytes, no new
   * signature) the messages it signed at its current height and round, as a consensus reactor
   * does for peers that missed them. 0 or undefined = off: the engine alone must cope with loss.
   */
  rebroadcastMs?: number
  /**
   * What the re-gossip re-sends: 'own' = the messages this node signed in its current round;
   * 'seen' = as a Tendermint consensus reactor, also the votes it received at its current height
   * (all of the current and previous round, and block prevotes of earlier rounds, which justify a
   * lock: the proof-of-lock a peer needs to accept a re-proposal) and the current round's proposal;
   * and a peer still sending messages for an already committed height gets that height's
   * certificate precommits (catch-up).
   */
  rebroadcastScope?: 'own' | 'seen'
}

interface Disk {
  db: MemoryLevel<Uint8Array, Uint8Array>
  signState: SignState | undefined
  /** The block whose hash the sign-state holds, when the node had it (the engine's optional `lastSignedBlock`). */
  lastSignedBlock: Block | undefined
  /**
   * Every message this node signed at the height of the sign-state (a small WAL kept next to it,
   * written once the message has left); given back to the engine as `ownMessages`.
   */
  ownMessages: ConsensusMessage[]
}

const SYNC_RETRY_MS = 1_000
const SYNC_ATTEMPTS = 5
const REAP_MAX_BYTES = 1024 * 1024
const REAP_MAX_TXS = 500

function newDb (): MemoryLevel<Uint8Array, Uint8Array> {
  return new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
}

export class SimNode {
  readonly id: number
  readonly signer: Signer
  readonly honest: boolean
  private readonly env: SimEnv
  private readonly disk: Disk = { db: newDb(), signState: undefined, lastSignedBlock: undefined, ownMessages: [] }
  private up = false
  /** Bumped on every start: timeouts and replies of an earlier life are dropped. */
  private incarnation = 0
  private engineValue: SimEngine | undefined
  private chainValue: Chain | undefined
  private mempoolValue: Mempool | undefined
  /** The node's action executor for this life (a start makes a new one: its memory is not on the disk). */
  private executor: ActionExecutor | undefined
  private syncToken = 0
  private syncing = false
  /** Crash right after broadcasting the first precommit at or above this height (a scripted fault). */
  crashAfterPrecommit: { height: number, downMs: number, onCrash: () => void } | undefined
  /** Byzantine behaviour attached by faults.ts. */
  broadcastHook: BroadcastHook | undefined
  /** Messages this node signed at the engine's current height (for node-level re-gossip). */
  private ownMessages: ConsensusMessage[] = []
  /** Messages seen at the engine's current height, by a key per (kind, round, type, signer, block). */
  private seenMessages = new Map<string, ConsensusMessage>()
  private seenHeight = 0
  /** Last catch-up sent per "peer/height" (virtual ms). */
  private catchUpSent = new Map<string, number>()
  /** Messages received from peers (used by a byzantine node to replay old votes). */
  readonly received: Vote[] = []

  constructor (id: number, signer: Signer, honest: boolean, env: SimEnv) {
    this.id = id
    this.signer = signer
    this.honest = honest
    this.env = env
  }

  get isUp (): boolean { return this.up }
  get engine (): SimEngine | undefined { return this.engineValue }
  /** The node's chain; still readable while the node is down (the store survives). */
  get chain (): Chain | undefined { return this.chainValue }
  get mempool (): Mempool | undefined { return this.mempoolValue }
  /** The sign-state on the node's simulated disk. */
  get storedSignState (): SignState | undefined { return this.disk.signState }
  /** The own-messages WAL on the node's simulated disk. */
  get storedOwnMessages (): readonly ConsensusMessage[] { return this.disk.ownMessages }
  get headHeight (): number { return this.chainValue?.head.height ?? 0 }

  private get now (): number { return this.env.scheduler.now }

  /** (Re)starts the node from its disk: opens the chain and starts the engine at head + 1 with the stored sign-state. */
  async start (): Promise<void> {
    if (this.up) return
    this.incarnation++
    const genesis = this.env.genesis
    const chain = await Chain.open({ app: accessControlApp, dir: 'memory', db: this.disk.db, genesis, now: () => genesis.genesisTime + this.env.scheduler.now })
    this.chainValue = chain
    this.mempoolValue = new Mempool({ chainId: genesis.chainId, getAccountNonce: (key) => getSenderNonce(chain.stateView, key) })
    this.engineValue = (this.env.engineFactory ?? defaultEngineFactory)({
      chainId: genesis.chainId,
      signer: this.signer,
      height: chain.head.height + 1,
      validatorSet: chain.validatorSet,
      ...(this.disk.signState !== undefined ? { signState: this.disk.signState } : {}),
      ...(this.disk.lastSignedBlock !== undefined ? { lastSignedBlock: this.disk.lastSignedBlock } : {}),
      ...(this.disk.ownMessages.length > 0 ? { ownMessages: [...this.disk.ownMessages] } : {}),
      timeouts: this.env.timeouts
    })
    // memory of the previous life (known blocks, reported evidence) is gone; only the disk survived
    this.executor = this.newExecutor(chain, this.engineValue, this.mempoolValue)
    // as the node: every imported block, decided here or received by block sync, settles the
    // mempool, and one at the WAL's height or above empties the own-messages WAL
    chain.on('block', ({ block }) => {
      if (chain !== this.chainValue) return
      this.mempoolValue?.update(block.header.height, block.txs)
      this.executor?.clearOwnMessages(block.header.height)
    })
    this.up = true
    this.syncing = false
    this.ownMessages = []
    this.seenMessages = new Map()
    this.scheduleRebroadcast()
    this.env.observer.onLog(this.id, `started at height ${chain.head.height + 1}${this.disk.signState !== undefined ? ` with sign-state h${this.disk.signState.height}/r${this.disk.signState.round}/s${this.disk.signState.step}` : ''}`)
    await this.handle({ type: 'start' })
  }

  /** kill -9: the process is gone, the disk (store and sign-state) stays. */
  crash (): void {
    if (!this.up) return
    this.up = false
    this.engineValue = undefined
    this.mempoolValue = undefined
    this.env.observer.onLog(this.id, 'crashed')
  }

  /** Crash and lose the block store; the sign-state file survives. */
  async wipe (): Promise<void> {
    this.crash()
    const old = this.disk.db
    this.disk.db = newDb()
    this.chainValue = undefined
    await old.close()
    this.env.observer.onLog(this.id, 'store wiped (sign-state kept)')
  }

  /** A consensus message arrived from the network (already decoded). */
  async deliver (from: number, message: ConsensusMessage): Promise<void> {
    if (!this.up) return
    // a proposal for a height still open may be signed for: the executor then stores its block
    if (message.kind === 'proposal' && message.proposal.height > this.headHeight) this.executor?.rememberBlock(message.proposal.block)
    if (this.env.rebroadcastScope === 'seen') {
      this.rememberSeen(message)
      await this.catchUpPeer(from, message)
    }
    if (from !== this.id && message.kind === 'vote') {
      this.received.push(message.vote)
      if (this.received.length > 200) this.received.splice(0, 100)
    }
    await this.handle({ type: 'message', message })
  }

  /** A transaction from a client or a peer's gossip; refused ones are ignored. */
  submitTx (tx: Tx): boolean {
    if (!this.up || this.mempoolValue === undefined) return false
    try {
      this.mempoolValue.checkTx(tx)
      return true
    } catch {
      return false
    }
  }

  /** Feeds one event to the engine and performs every action it causes, to the end (the node's executor). */
  async handle (event: EngineEvent): Promise<void> {
    if (!this.up) return
    await this.executor?.handle(event)
  }

  /** The node's action executor on this life's chain, engine and mempool, through the simulated ports. */
  private newExecutor (chain: Chain, engine: SimEngine, mempool: Mempool): ActionExecutor {
    const life = this.incarnation
    const disk = this.disk
    const simDisk: ActionDisk = {
      // the sign-state "reaches the disk" at once; with it the block it names when this node had
      // that block, else none (the node's file keeps the previous block: the engine ignores a block
      // that is not the sign-state's)
      saveLastSignedBlock: (block) => { disk.lastSignedBlock = block },
      saveSignState: (signState) => { disk.signState = { ...signState } },
      saveOwnMessages: (messages) => { disk.ownMessages = [...messages] }
    }
    return new ActionExecutor({
      signer: this.signer,
      chain,
      engine,
      disk: simDisk,
      publish: async (message) => await this.publish(message),
      // the simulated network delivers a node's own broadcasts to it
      loopback: false,
      scheduleTimeout: (delayMs, event) => {
        this.env.scheduler.after(delayMs, `timeout n${this.id} h${event.height}/r${event.round}/${String(event.step)}`, async () => {
          if (this.up && life === this.incarnation) await this.handle(event)
        })
      },
      proposals: {
        reap: () => mempool.reap(REAP_MAX_BYTES, REAP_MAX_TXS),
        now: () => this.env.genesis.genesisTime + this.now
      },
      startSync: (fromHeight) => { this.requestSync(fromHeight) },
      evidence: {
        // as the node: the mempool's count of this sender's transactions, not a reap of the whole pool
        pendingOwnTxs: () => mempool.pendingCount(this.signer.publicKey),
        submit: (tx) => { if (!this.submitTx(tx)) throw new Error('evidence transaction refused by the own mempool') }
      },
      // virtual time stands still while an event is handled: a decided block imports in 0 ms
      monotonicMs: () => this.now,
      errorCode,
      session: () => {
        const current = this.incarnation
        const live = (): boolean => this.up && current === this.incarnation
        return { event: live, action: live }
      },
      hooks: {
        engineThrew: (event, err) => { this.env.observer.onError(this.id, `the engine threw on a '${event.type}' event: ${describe(err)}`) },
        blockRefused: (_height, reason) => { this.env.observer.onRejected(this.id, `INVALID_BLOCK_${reason}`) },
        alreadyCommitted: async (action) => {
          const have = await chain.getBlock(action.height)
          if (have === undefined || !equalBytes(blockHash(have.header), action.certificate.blockHash)) {
            this.env.observer.onError(this.id, `the engine decided block ${toHex(action.certificate.blockHash).slice(0, 12)} at height ${action.height}, but the chain already holds another block there`)
          }
        },
        committed: ({ height, hash, block }) => { this.env.observer.onCommit(this.id, height, hash, block.txs.length, this.now, 'consensus') },
        importFailed: (action, err) => { this.env.observer.onError(this.id, `the engine decided height ${action.height}, but importBlock refused it: ${errorCode(err)}`) },
        proposalIgnored: (height, headHeight) => { this.env.observer.onLog(this.id, `buildProposal for height ${height} ignored: the chain is at ${headHeight}`) },
        evidenceWithoutAccount: () => { this.env.observer.onLog(this.id, 'evidence not submitted: this validator is not a registered identity') },
        evidenceFailed: () => { this.env.observer.onLog(this.id, 'evidence transaction refused by the own mempool') },
        evidenceSubmitted: (tx) => {
          this.env.observer.onEvidence(this.id, tx)
          for (const peer of this.env.nodes) {
            if (peer.id !== this.id) this.env.network.transmit(this.id, peer.id, 'tx', () => { peer.submitTx(tx) })
          }
        },
        rejected: (reason) => { this.env.observer.onRejected(this.id, reason) }
      }
    }, { ownMessages: disk.ownMessages })
  }

  /**
   * The publish port: the observer sees the message, the byzantine hook may replace it, the
   * simulated network carries it; false when the scripted crash-after-precommit fault fired (the
   * message has left, but the crash comes before the own-messages WAL has it).
   */
  private async publish (message: ConsensusMessage): Promise<boolean> {
    const signer = signerOf(message)
    const own = signer !== undefined && equalBytes(signer, this.signer.publicKey)
    this.env.observer.onBroadcast(this.id, message, this.now)
    if (own) this.rememberOwn(message)
    const suppress = (await this.broadcastHook?.(message)) ?? false
    if (!suppress) this.env.network.broadcast(this.id, message)
    const trigger = this.crashAfterPrecommit
    if (trigger !== undefined && own && message.kind === 'vote' && message.vote.type === VoteType.Precommit && message.vote.height >= trigger.height) {
      this.crashAfterPrecommit = undefined
      this.crash()
      trigger.onCrash()
      return false
    }
    return true
  }

  private rememberOwn (message: ConsensusMessage): void {
    const place = (m: ConsensusMessage): [number, number] => [messageHeight(m), m.kind === 'proposal' ? m.proposal.round : m.vote.round]
    const [height, round] = place(message)
    this.ownMessages = this.ownMessages.filter((m) => { const [h, r] = place(m); return h === height && r === round })
    this.ownMessages.push(message)
  }

  private rememberSeen (m: ConsensusMessage): void {
    const height = this.engineValue?.height ?? 0
    if (height !== this.seenHeight) { this.seenMessages = new Map(); this.seenHeight = height }
    if (m.kind === 'proposal') {
      if (m.proposal.height === height) this.seenMessages.set(`p/${m.proposal.round}/${toHex(m.proposal.signature)}`, m)
      return
    }
    const v = m.vote
    if (v.height !== height || this.seenMessages.size > 4096) return
    this.seenMessages.set(`v/${v.round}/${v.type}/${toHex(v.validator)}/${v.blockHash === undefined ? 'nil' : toHex(v.blockHash)}`, m)
  }

  /**
   * Reactor-style catch-up: a peer still sending messages for a height this node has committed
   * gets the precommits of that height's certificate (at most once per peer and height per
   * rebroadcast interval), so it can decide the block (or ask for it by sync).
   */
  private async catchUpPeer (from: number, message: ConsensusMessage): Promise<void> {
    const height = messageHeight(message)
    const chain = this.chainValue
    if (from === this.id || chain === undefined || height > chain.head.height || height < 1) return
    const key = `${from}/${height}`
    const last = this.catchUpSent.get(key)
    if (last !== undefined && this.now - last < (this.env.rebroadcastMs ?? 0)) return
    this.catchUpSent.set(key, this.now)
    if (this.catchUpSent.size > 1024) this.catchUpSent.clear()
    const cert = await chain.getCertificate(height)
    if (cert === undefined) return
    for (const sig of cert.signatures) {
      const vote: Vote = { chainId: chain.chainId, type: VoteType.Precommit, height, round: cert.round, blockHash: cert.blockHash, validator: sig.validator, signature: sig.signature }
      this.env.network.sendTo(this.id, [from], { kind: 'vote', vote })
    }
  }

  /** What the re-gossip re-sends now (see SimEnv.rebroadcastScope). */
  private regossipSet (): ConsensusMessage[] {
    const engine = this.engineValue
    if (engine === undefined) return []
    const height = engine.height
    const own = this.ownMessages.filter((m) => messageHeight(m) === height)
    if (this.env.rebroadcastScope !== 'seen' || this.seenHeight !== height) return own
    const round = engine.round
    const out = [...own]
    for (const m of this.seenMessages.values()) {
      if (m.kind === 'proposal') { if (m.proposal.round === round) out.push(m); continue }
      const v = m.vote
      if (v.round >= round - 1 || (v.type === VoteType.Prevote && v.blockHash !== undefined)) out.push(m)
    }
    return out
  }

  private scheduleRebroadcast (): void {
    const every = this.env.rebroadcastMs ?? 0
    if (every <= 0) return
    const life = this.incarnation
    this.env.scheduler.after(every, `rebroadcast n${this.id}`, () => {
      if (!this.up || life !== this.incarnation) return
      const peers = this.env.nodes.map((n) => n.id).filter((id) => id !== this.id)
      for (const m of this.regossipSet()) this.env.network.sendTo(this.id, peers, m)
      this.scheduleRebroadcast()
    })
  }

  /** The proposer's block: mempool transactions on top of the head, carrying the head's certificate (the node's executor builds it). */
  async buildBlock (timestampBump = 0): Promise<Block> {
    return await (this.executor as ActionExecutor).buildBlock(timestampBump)
  }

  /**
   * Block sync, the node's side of a 'requestSync': asks a random reachable running peer for
   * blocks from `fromHeight` with their certificates; asks another one when no answer came within
   * SYNC_RETRY_MS (up to SYNC_ATTEMPTS times), and keeps asking while the peer has more. Like a
   * request/response protocol over TCP with a timeout, not a one-shot datagram.
   */
  private requestSync (fromHeight: number): void {
    if (this.syncing) return
    this.syncing = true
    this.syncAttempt(fromHeight, 0)
  }

  private syncAttempt (fromHeight: number, attempt: number): void {
    const net = this.env.network
    const life = this.incarnation
    const token = ++this.syncToken
    // peers advertise their head (as a status exchange would): prefer one that has the blocks
    const reachable = this.env.nodes.filter((n) => n.id !== this.id && n.isUp && net.canReach(this.id, n.id))
    const ahead = reachable.filter((n) => n.headHeight >= fromHeight)
    const peers = (ahead.length > 0 ? ahead : reachable).map((n) => n.id)
    if (peers.length === 0 || attempt >= SYNC_ATTEMPTS) { this.syncing = false; return }
    const peer = this.env.rng.pick(peers)
    this.env.observer.onLog(this.id, `sync from height ${fromHeight} asked of node ${peer}`)
    this.env.scheduler.after(SYNC_RETRY_MS, `sync-retry n${this.id}`, () => {
      if (this.up && life === this.incarnation && token === this.syncToken) this.syncAttempt(Math.max(fromHeight, this.headHeight + 1), attempt + 1)
    })
    net.transmit(this.id, peer, 'sync-request', async () => {
      const server = this.env.nodes[peer] as SimNode
      const reply = await server.serveSync(fromHeight, this.env.syncBatch)
      net.transmit(peer, this.id, 'sync-reply', async () => {
        if (!this.up || life !== this.incarnation || token !== this.syncToken) return
        this.syncToken++ // answered: cancels the retry
        await this.applySync(reply.items)
        if (this.up && life === this.incarnation && reply.head > this.headHeight && reply.items.length > 0) this.syncAttempt(this.headHeight + 1, 0)
        else this.syncing = false
      })
    })
  }

  /** Blocks from `fromHeight` (encoded) with the certificate of each, for a syncing peer. */
  async serveSync (fromHeight: number, limit: number): Promise<{ head: number, items: Array<{ block: Uint8Array, certificate: Uint8Array }> }> {
    const chain = this.chainValue
    if (!this.up || chain === undefined) return { head: 0, items: [] }
    const out: Array<{ block: Uint8Array, certificate: Uint8Array }> = []
    for (let h = Math.max(1, fromHeight); h <= chain.head.height && out.length < limit; h++) {
      const block = await chain.getBlock(h)
      const certificate = await chain.getCertificate(h)
      if (block === undefined || certificate === undefined) break
      out.push({ block: encodeBlock(block), certificate: encodeCertificate(certificate) })
    }
    return { head: chain.head.height, items: out }
  }

  /** Imports a sync reply with the node's import step; the engine hears of the new head once. */
  private async applySync (items: Array<{ block: Uint8Array, certificate: Uint8Array }>): Promise<void> {
    const chain = this.chainValue as Chain
    // the transport's part: decode the reply, up to the first item that does not decode
    const blocks: CertifiedBlock[] = []
    let undecodable: unknown
    for (const item of items) {
      try {
        blocks.push({ block: decodeBlock(item.block), certificate: decodeCertificate(item.certificate) })
      } catch (err) {
        undecodable = err
        break
      }
    }
    let last: { height: number, hash: Uint8Array, timestamp: number } | undefined
    const stop = await importCertifiedBlocks(chain, blocks, {
      onImported: (block, hash) => {
        this.env.observer.onCommit(this.id, block.header.height, hash, block.txs.length, this.now, 'sync')
        last = { height: block.header.height, hash, timestamp: block.header.timestamp }
      }
    })
    if (stop?.reason === 'invalid') this.env.observer.onRejected(this.id, `SYNC_${errorCode(stop.error)}`)
    else if (stop === undefined && undecodable !== undefined) this.env.observer.onRejected(this.id, `SYNC_${errorCode(undecodable)}`)
    if (last !== undefined) {
      this.env.observer.onLog(this.id, `synced to height ${last.height}`)
      await this.handle({ type: 'blockCommitted', height: last.height, hash: last.hash, validatorSet: chain.validatorSet, timestamp: last.timestamp })
    }
  }

  /** Step name of a sign-state, for logs. */
  static stepName (step: Step): string {
    return step === Step.Propose ? 'propose' : step === Step.Prevote ? 'prevote' : 'precommit'
  }
}

/** Who signed a message (the proposer or the voter). */
export function signerOf (m: ConsensusMessage): Uint8Array | undefined {
  return m.kind === 'proposal' ? m.proposal.proposer : m.kind === 'vote' ? m.vote.validator : undefined
}

function errorCode (err: unknown): string {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' ? code : describe(err)
}

function describe (err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}
