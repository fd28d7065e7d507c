/**
 * The action executor: performs what the consensus engine asks (every EngineAction type) for one
 * validator and feeds the resulting events back to it. The node (src/node/node.ts) and the
 * consensus simulator (src/sim/simNode.ts) both run this code; what differs between them (the disk,
 * the network, the timers, the clock, logs and metrics) is reached through `ActionPorts`.
 *
 * Contracts:
 *  - `handle` feeds one event to the engine and performs every action it causes, in order, and the
 *    events those actions feed back (proposalBuilt, blockValidated, blockCommitted, the own message
 *    when `loopback`), to the end, unless the host stops meanwhile (`ActionPorts.session`);
 *  - `broadcast` with a sign-state: the block it names (when known here) and then the sign-state go
 *    to the disk BEFORE the message is published (`ActionDisk.saveSignState` returns once it is
 *    durable); only after the publish does the message join the own-messages WAL (src/consensus/
 *    wal.ts, `keepOwnMessages`), which is for re-sending, not for safety: a crash before it is
 *    written loses only the message, which the engine re-signs identically from the sign-state;
 *  - `buildProposal`: the host's transactions on top of the head, carrying the head's certificate;
 *  - `validateBlock`: `chain.checkBlock`; the block is remembered as one this validator may sign for;
 *  - `commitBlock`: `chain.importBlock` with the certificate; a height already in the store (block
 *    sync got there first) is reported as the head instead;
 *  - `evidence`: an Evidence transaction signed with the validator's key, once per double-sign;
 *  - `scheduleTimeout`, `requestSync`, `rejected`: handed to the host.
 */
import type { Chain } from '../chain/chain.js'
import { getEvidence, getSenderNonce } from '../contracts/index.js'
import { toHex, equalBytes } from '../crypto/bytes.js'
import type { Signer } from '../crypto/ed25519.js'
import type { EngineAction, EngineEvent, SignState } from '../consensus/types.js'
import { keepOwnMessages, messageHeight } from '../consensus/wal.js'
import { blockHash, EMPTY_COMMIT, type Block, type CommitCertificate } from '../types/block.js'
import type { ConsensusMessage } from '../types/consensusMessage.js'
import { signTx, TxType, type Tx } from '../types/tx.js'
import { encodeVote, type Vote } from '../types/vote.js'

/** Blocks remembered as ones this validator may sign for (the oldest are forgotten first). */
export const MAX_KNOWN_BLOCKS = 64
/** Double-signs remembered as reported; past this many the memory starts over. */
export const MAX_REPORTED_EVIDENCE = 1024

/** What the executor needs of an engine (the ConsensusEngine, or a variant the simulator studies). */
export interface ExecutorEngine {
  handle: (event: EngineEvent) => EngineAction[]
}

/** What the executor reads and writes of the chain (a Chain satisfies it). */
export type ExecutorChain = Pick<Chain, 'chainId' | 'head' | 'validatorSet' | 'stateView' | 'checkBlock' | 'importBlock' | 'getCertificate' | 'buildBlock'>

/** The validator's disk as the executor writes it, in this order for a signed message. */
export interface ActionDisk {
  /**
   * The block the sign-state about to be saved names (`hash`), when it is known here; undefined for
   * a nil vote or a block not seen (liveness data: it need not be durable).
   */
  saveLastSignedBlock: (block: Block | undefined, hash: Uint8Array | undefined) => void
  /** The sign-state; durable when this returns (the message is published only after). */
  saveSignState: (signState: SignState) => void
  /** The own-messages WAL, after the message was published (liveness data: it need not be durable). */
  saveOwnMessages: (messages: readonly ConsensusMessage[]) => void
}

export type TimeoutEvent = Extract<EngineEvent, { type: 'timeout' }>

/** Where the transactions and the clock of a proposal come from, and how the proposal comes back. */
export interface ProposalPorts {
  /** The transactions of a block this validator proposes (the mempool's executable ones, bounded). */
  reap: () => Tx[]
  /** The clock a proposed block's timestamp follows (ms; at least the head's timestamp + 1 is used). */
  now: () => number
  /** Returns true when the host takes this proposal over (the node waits for transactions). */
  defer?: (height: number, round: number) => boolean
  /**
   * Undefined: the proposal is built at once and its 'proposalBuilt' joins the events being
   * handled. A function: it is built in the background and its 'proposalBuilt' is handed to it.
   */
  background?: (event: EngineEvent) => void
}

/** What the host reports, logs or measures; each hook names the moment it is called. */
export interface ActionHooks {
  /** The engine threw on an event (the host decides: rethrow, or report and go on). */
  engineThrew: (event: EngineEvent, err: unknown) => void
  /** After each event and its actions. */
  afterEvent?: () => void
  /** A proposed block failed `checkBlock`; `reason` is `ActionPorts.errorCode`'s name for the error. */
  blockRefused: (height: number, reason: string) => void
  /** The engine decided a height the store already holds (block sync got there first). */
  alreadyCommitted?: (action: Extract<EngineAction, { type: 'commitBlock' }>) => Promise<void>
  /** A decided block was imported (`importMs`: on the host's monotonic clock). */
  committed: (committed: { height: number, hash: Uint8Array, block: Block, certificate: CommitCertificate, importMs: number }) => void
  /** importBlock refused a decided block and the store is not at that height (the host decides: rethrow, or report). */
  importFailed: (action: Extract<EngineAction, { type: 'commitBlock' }>, err: unknown) => void
  /** A proposal was asked for a height that is not the head's next one. */
  proposalIgnored?: (height: number, headHeight: number) => void
  /** A proposal built in the background failed. */
  proposalFailed?: (err: unknown) => void
  /** An Evidence transaction was signed and handed to `EvidencePorts.submit`. */
  evidenceSubmitted?: (tx: Tx, voteA: Vote) => void
  /** No evidence: this validator has no account to sign it from. */
  evidenceWithoutAccount?: () => void
  /** Signing or submitting the Evidence transaction failed. */
  evidenceFailed?: (err: unknown) => void
  /** The engine refused a message (a 'rejected' action). */
  rejected: (reason: string, detail: string) => void
}

export interface EvidencePorts {
  /** Own transactions waiting in the mempool (the next nonce is the account nonce plus this). */
  pendingOwnTxs: () => number
  /** Admits the transaction here and gossips it; throws when the mempool refuses it. */
  submit: (tx: Tx) => void
}

export interface ActionPorts {
  /** The validator's key (proposals, evidence). */
  signer: Signer
  chain: ExecutorChain
  engine: ExecutorEngine
  disk: ActionDisk
  /**
   * Sends a consensus message to the peers (after the sign-state is durable). Returns false when the
   * host went down while sending (a simulated crash): nothing more of this action happens.
   */
  publish: (message: ConsensusMessage) => boolean | Promise<boolean>
  /** Whether the host hands its broadcasts back to its own engine (false when its network delivers them to itself). */
  loopback: boolean
  /** Arms a timer that hands `event` back to the engine after `delayMs`. */
  scheduleTimeout: (delayMs: number, event: TimeoutEvent) => void
  proposals: ProposalPorts
  /** Starts block sync from `fromHeight` (at most one at a time: the host ignores a second). */
  startSync: (fromHeight: number) => void
  evidence: EvidencePorts
  /** A monotonic clock in ms (import time; `sinceDecidedMs` of a decided block). */
  monotonicMs: () => number
  /** The host's name for an error (the reason of a refused block). */
  errorCode: (err: unknown) => string
  /**
   * Called at the start of each `handle`: whether the host still runs, checked before each event
   * (`event`) and before each action (`action`) of that call.
   */
  session: () => { event: () => boolean, action: () => boolean }
  hooks: ActionHooks
}

export interface ActionExecutorOptions {
  /** The own-messages WAL read from the disk at start (the engine got the same as `ownMessages`). */
  ownMessages?: readonly ConsensusMessage[]
}

export class ActionExecutor {
  /** Blocks this validator may sign for: its own proposals and the proposals it was asked to validate, by hash hex. */
  private readonly knownBlocks = new Map<string, Block>()
  /** What the own-messages WAL holds: the messages this validator signed at the sign-state's height. */
  private ownMessagesValue: ConsensusMessage[]
  /** Double-signs already reported: every honest validator sees the same equivocation. */
  private readonly reportedEvidence = new Set<string>()

  constructor (private readonly ports: ActionPorts, opts: ActionExecutorOptions = {}) {
    this.ownMessagesValue = [...(opts.ownMessages ?? [])]
  }

  /** The own-messages WAL's content. */
  get ownMessages (): readonly ConsensusMessage[] { return this.ownMessagesValue }

  /** Feeds one event to the engine and performs every action it causes, to the end. */
  async handle (event: EngineEvent): Promise<void> {
    const live = this.ports.session()
    const pending: EngineEvent[] = [event]
    while (pending.length > 0 && live.event()) {
      const next = pending.shift() as EngineEvent
      if (next.type === 'proposalBuilt') this.rememberBlock(next.block)
      let actions: EngineAction[]
      try {
        actions = this.ports.engine.handle(next)
      } catch (err) {
        this.ports.hooks.engineThrew(next, err)
        continue
      }
      for (const action of actions) {
        if (!live.action()) return
        await this.perform(action, pending)
      }
      this.ports.hooks.afterEvent?.()
    }
  }

  /** Performs one action; the events it feeds back join `pending`. */
  async perform (action: EngineAction, pending: EngineEvent[]): Promise<void> {
    const { chain, hooks } = this.ports
    switch (action.type) {
      case 'broadcast': {
        const signState = action.signState
        if (signState !== undefined) {
          // durable before the message leaves, synchronously (not on the thread pool, where gossip
          // and RPC work would run first and delay the vote)
          const hash = signState.blockHash
          this.ports.disk.saveLastSignedBlock(hash === undefined ? undefined : this.signedBlock(action.message, hash), hash)
          this.ports.disk.saveSignState(signState)
        }
        // a broadcast without sign-state may relay others' votes (the engine's last-commit catch-up)
        const sent = this.ports.publish(action.message)
        if (!(typeof sent === 'boolean' ? sent : await sent)) return
        if (signState !== undefined) {
          // then the WAL of this height's own messages: every vote of the height but only the latest
          // proposal, so a stall of many rounds does not rewrite a growing pile of blocks
          this.ownMessagesValue = keepOwnMessages(this.ownMessagesValue, action.message, signState.height)
          this.ports.disk.saveOwnMessages(this.ownMessagesValue)
        }
        if (this.ports.loopback) pending.push({ type: 'message', message: action.message })
        return
      }
      case 'scheduleTimeout': {
        const { height, round, step } = action
        this.ports.scheduleTimeout(action.delayMs, { type: 'timeout', height, round, step })
        return
      }
      case 'buildProposal': {
        const proposals = this.ports.proposals
        if (proposals.defer?.(action.height, action.round) === true) return
        if (proposals.background !== undefined) {
          this.proposeInBackground(action.height, action.round)
          return
        }
        const block = await this.buildProposal(action.height)
        if (block !== undefined) pending.push({ type: 'proposalBuilt', height: action.height, round: action.round, block })
        return
      }
      case 'validateBlock': {
        this.rememberBlock(action.block)
        try {
          await chain.checkBlock(action.block)
          pending.push({ type: 'blockValidated', height: action.height, hash: action.hash, valid: true })
        } catch (err) {
          const reason = this.ports.errorCode(err)
          hooks.blockRefused(action.height, reason)
          pending.push({ type: 'blockValidated', height: action.height, hash: action.hash, valid: false, reason })
        }
        return
      }
      case 'commitBlock': {
        if (action.height <= chain.head.height) {
          await hooks.alreadyCommitted?.(action)
          pending.push(this.headCommitted())
          return
        }
        const started = this.ports.monotonicMs()
        let result
        try {
          result = await chain.importBlock(action.block, { commit: action.certificate })
        } catch (err) {
          // block sync may have imported this height between the check above and the import
          if (chain.head.height >= action.height) {
            pending.push(this.headCommitted())
            return
          }
          hooks.importFailed(action, err)
          return
        }
        hooks.committed({ height: result.height, hash: result.hash, block: action.block, certificate: action.certificate, importMs: this.ports.monotonicMs() - started })
        pending.push({ type: 'blockCommitted', height: result.height, hash: result.hash, validatorSet: chain.validatorSet, timestamp: action.block.header.timestamp, sinceDecidedMs: this.ports.monotonicMs() - started })
        return
      }
      case 'requestSync':
        this.ports.startSync(action.fromHeight)
        return
      case 'evidence':
        this.submitEvidence(action.voteA, action.voteB)
        return
      case 'rejected':
        hooks.rejected(action.reason, action.detail)
    }
  }

  /**
   * Builds the proposal for (height, round) in the background and hands its 'proposalBuilt' to
   * `ProposalPorts.background` (the node calls this too when transactions arrive for a deferred one).
   */
  proposeInBackground (height: number, round: number): void {
    const background = this.ports.proposals.background
    void (async () => {
      const block = await this.buildProposal(height)
      if (block !== undefined) background?.({ type: 'proposalBuilt', height, round, block })
    })().catch((err: unknown) => { this.ports.hooks.proposalFailed?.(err) })
  }

  /** The proposer's block on top of the head (`timestampBump` ms later than due: a test of timestamps). */
  async buildBlock (timestampBump = 0): Promise<Block> {
    const { chain, proposals } = this.ports
    const head = chain.head
    const lastCommit: CommitCertificate = head.height === 0 ? EMPTY_COMMIT : ((await chain.getCertificate(head.height)) ?? EMPTY_COMMIT)
    const txs = proposals.reap()
    const timestamp = Math.max(proposals.now(), head.timestamp + 1) + timestampBump
    return (await chain.buildBlock({ txs, timestamp, proposer: this.ports.signer.publicKey, lastCommit })).block
  }

  /** Remembers a block this validator may sign for (the simulator also remembers the proposals it receives). */
  rememberBlock (block: Block): void {
    if (this.knownBlocks.size >= MAX_KNOWN_BLOCKS) this.knownBlocks.delete(this.knownBlocks.keys().next().value as string)
    this.knownBlocks.set(toHex(blockHash(block.header)), block)
  }

  /** A block at `committed` or above was imported: an own-messages WAL of a lower height is emptied. */
  clearOwnMessages (committed: number): void {
    const first = this.ownMessagesValue[0]
    if (first === undefined || messageHeight(first) > committed) return
    this.ownMessagesValue = []
    this.ports.disk.saveOwnMessages([])
  }

  private async buildProposal (height: number): Promise<Block | undefined> {
    const headHeight = this.ports.chain.head.height
    if (height !== headHeight + 1) {
      this.ports.hooks.proposalIgnored?.(height, headHeight)
      return undefined
    }
    return await this.buildBlock()
  }

  /** The block a sign-state names: a remembered one, or the proposal being signed. */
  private signedBlock (message: ConsensusMessage, hash: Uint8Array): Block | undefined {
    const known = this.knownBlocks.get(toHex(hash))
    if (known !== undefined) return known
    if (message.kind === 'proposal' && equalBytes(blockHash(message.proposal.block.header), hash)) return message.proposal.block
    return undefined
  }

  private headCommitted (): EngineEvent {
    const chain = this.ports.chain
    const head = chain.head
    return { type: 'blockCommitted', height: head.height, hash: head.hash, validatorSet: chain.validatorSet, timestamp: head.timestamp }
  }

  private submitEvidence (voteA: Vote, voteB: Vote): void {
    const { chain, signer, hooks } = this.ports
    const key = `${toHex(voteA.validator)}/${voteA.height}/${voteA.round}/${voteA.type}`
    if (this.reportedEvidence.has(key) || getEvidence(chain.stateView, voteA.validator, voteA.height, voteA.round, voteA.type) !== undefined) return
    if (this.reportedEvidence.size > MAX_REPORTED_EVIDENCE) this.reportedEvidence.clear()
    this.reportedEvidence.add(key)
    const accountNonce = getSenderNonce(chain.stateView, signer.publicKey)
    if (accountNonce === undefined) { hooks.evidenceWithoutAccount?.(); return }
    let tx: Tx
    try {
      tx = signTx({ chainId: chain.chainId, from: signer.publicKey, nonce: accountNonce + this.ports.evidence.pendingOwnTxs(), payload: { type: TxType.Evidence, voteA: encodeVote(voteA), voteB: encodeVote(voteB) } }, signer)
      this.ports.evidence.submit(tx)
    } catch (err) {
      hooks.evidenceFailed?.(err)
      return
    }
    hooks.evidenceSubmitted?.(tx, voteA)
  }
}
