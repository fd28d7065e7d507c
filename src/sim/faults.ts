/**
 * Fault schedules for the simulator: what goes wrong, to whom, and when (virtual ms), and the
 * byzantine behaviours. `planFaults` turns fault names (the CLI's `--faults crash,partition`)
 * into a concrete seeded schedule; `applyFaults` puts a schedule on the scheduler.
 *
 * A byzantine validator runs the real engine (so it takes part) but signs extra messages with its
 * real key, bypassing the engine's sign-state rules: a second proposal with a different block for
 * half of its peers, a correctly signed proposal of a block whose state root is wrong, a conflicting prevote/precommit next to each vote, votes for future heights,
 * replays of old votes, and it sends votes signed by a key outside the validator set and bytes
 * that do not decode.
 */
import { createHash } from 'node:crypto'
import { createSigner, type Signer } from '../crypto/ed25519.js'
import { blockHash } from '../types/block.js'
import type { TimeoutConfig } from '../consensus/types.js'
import { type ConsensusMessage, encodeConsensusMessage, signProposal } from '../types/consensusMessage.js'
import { encodeVote, signVote, VoteType, type Vote } from '../types/vote.js'
import type { LinkConfig } from './network.js'
import type { Rng } from './random.js'
import type { SimEnv, SimNode } from './simNode.js'

export type ByzantineBehaviour = 'double-propose' | 'invalid-block' | 'equivocate' | 'future-votes' | 'replay-old' | 'non-validator' | 'malformed'
export const ALL_BYZANTINE_BEHAVIOURS: readonly ByzantineBehaviour[] = ['double-propose', 'invalid-block', 'equivocate', 'future-votes', 'replay-old', 'non-validator', 'malformed']

export type Fault =
  /** The node is killed at `at` and restarted at `until` (never, when undefined) from its store and sign-state. */
  | { kind: 'crash', node: number, at: number, until?: number }
  /** The node is killed at `at` and restarted at `until` with an empty store but its sign-state file. */
  | { kind: 'wipe', node: number, at: number, until: number }
  /** The network splits into `groups` (a node in none is alone) at `at` and heals at `until`. */
  | { kind: 'partition', groups: number[][], at: number, until: number }
  /** Link conditions (drop rate, delay, jitter) between `at` and `until`. */
  | { kind: 'link', link: Partial<LinkConfig>, at: number, until: number }
  /** The node is byzantine from `at` on (for good). */
  | { kind: 'byzantine', node: number, behaviours: readonly ByzantineBehaviour[], at: number }
  /** The node crashes right after it broadcast its first precommit at height >= `height`, and restarts `downMs` later. */
  | { kind: 'crash-after-precommit', node: number, height: number, downMs: number }

export const FAULT_NAMES = ['none', 'crash', 'partition', 'byzantine', 'wipe', 'outage', 'drop'] as const
export type FaultName = typeof FAULT_NAMES[number]

export function isFaultName (name: string): name is FaultName {
  return (FAULT_NAMES as readonly string[]).includes(name)
}

/** The largest number of faulty validators n = 3f + 1 tolerates. */
export function maxFaulty (validators: number): number {
  return Math.floor((validators - 1) / 3)
}

/** Nodes that are byzantine in a schedule. */
export function byzantineNodes (faults: readonly Fault[]): Set<number> {
  return new Set(faults.filter((f) => f.kind === 'byzantine').map((f) => (f as { node: number }).node))
}

/**
 * When the last fault of a schedule ends (virtual ms): a restart, a heal, the end of bad links,
 * and the START of permanent faults (a crash without restart, a byzantine node), since the chain
 * must go on despite those. Scripted crash-after-precommit faults end when they restart, which
 * the runner records as it happens.
 */
export function plannedFaultsEnd (faults: readonly Fault[]): number {
  let end = 0
  for (const f of faults) {
    if (f.kind === 'crash-after-precommit') continue
    end = Math.max(end, 'until' in f && f.until !== undefined ? f.until : f.at)
  }
  return end
}

export interface PlanOptions {
  validators: number
  rng: Rng
  timeouts: TimeoutConfig
}

/**
 * A seeded concrete schedule for the named faults: at most f validators byzantine, and no node
 * given two overlapping down-times (outage first, then crash, then wipe). A wipe needs another
 * validator to sync from, so a single-validator network gets none (losing the only store is
 * unrecoverable by design: the validator must not sign until it synced, and nobody can serve it).
 */
export function planFaults (names: readonly FaultName[], opts: PlanOptions): Fault[] {
  const { validators: n, rng, timeouts } = opts
  const f = maxFaulty(n)
  const cap = timeouts.capMs
  const all = Array.from({ length: n }, (_, i) => i)
  const faults: Fault[] = []
  const byz = names.includes('byzantine') ? rng.shuffle(all).slice(0, f) : []
  for (const node of byz) faults.push({ kind: 'byzantine', node, behaviours: ALL_BYZANTINE_BEHAVIOURS, at: 0 })
  const honest = all.filter((i) => !byz.includes(i))
  const busy = new Map<number, Array<[number, number]>>()
  const isFree = (node: number, at: number, until: number): boolean => (busy.get(node) ?? []).every(([a, b]) => until < a - 1_000 || at > b + 1_000)
  const take = (node: number, at: number, until: number): void => { busy.set(node, [...(busy.get(node) ?? []), [at, until]]) }
  const order: FaultName[] = ['outage', 'crash', 'wipe', 'partition', 'drop']
  for (const name of order.filter((x) => names.includes(x))) {
    switch (name) {
      case 'outage': {
        const at = rng.int(2_000, 6_000)
        const until = at + rng.int(3 * cap, 5 * cap)
        for (const node of rng.shuffle(honest).slice(0, Math.min(honest.length, f + 1))) {
          faults.push({ kind: 'crash', node, at, until })
          take(node, at, until)
        }
        break
      }
      case 'crash': {
        const count = n === 1 ? 1 : Math.max(1, f)
        const at = rng.int(2_000, 10_000)
        const until = at + rng.int(1_000, 3 * cap)
        for (const node of rng.shuffle(honest).filter((i) => isFree(i, at, until)).slice(0, count)) {
          faults.push({ kind: 'crash', node, at, until })
          take(node, at, until)
        }
        break
      }
      case 'wipe': {
        if (n < 2) break
        const at = rng.int(3_000, 12_000)
        const until = at + rng.int(1_000, 10_000)
        const free = honest.filter((i) => isFree(i, at, until))
        if (free.length === 0) break
        const node = rng.pick(free)
        faults.push({ kind: 'wipe', node, at, until })
        take(node, at, until)
        break
      }
      case 'partition': {
        if (n < 2) break
        const shuffled = rng.shuffle(all)
        const cut = rng.int(1, n - 1)
        const at = rng.int(2_000, 10_000)
        faults.push({ kind: 'partition', groups: [shuffled.slice(0, cut), shuffled.slice(cut)], at, until: at + rng.int(2_000, 2 * cap) })
        break
      }
      case 'drop': {
        const at = rng.int(1_000, 5_000)
        faults.push({ kind: 'link', link: { dropRate: rng.int(5, 30) / 100, jitterMs: rng.int(50, 400) }, at, until: at + rng.int(5_000, 20_000) })
        break
      }
      default:
        break
    }
  }
  return faults
}

export interface FaultHooks {
  /** Told when a fault ends (a restart, a heal), for the liveness check. */
  onFaultEnd: (at: number) => void
  onLog: (line: string) => void
}

/** Puts a schedule on the scheduler. Byzantine nodes must have been created as not honest. */
export function applyFaults (faults: readonly Fault[], env: SimEnv, hooks: FaultHooks): void {
  const { scheduler, network, nodes } = env
  const node = (id: number): SimNode => {
    const found = nodes[id]
    if (found === undefined) throw new RangeError(`fault names node ${id}, but there are ${nodes.length} nodes`)
    return found
  }
  for (const f of faults) {
    switch (f.kind) {
      case 'crash':
        scheduler.schedule(f.at, `fault crash n${f.node}`, () => node(f.node).crash())
        if (f.until !== undefined) {
          scheduler.schedule(f.until, `fault restart n${f.node}`, async () => { await node(f.node).start(); hooks.onFaultEnd(scheduler.now) })
        }
        break
      case 'wipe':
        scheduler.schedule(f.at, `fault wipe n${f.node}`, async () => { await node(f.node).wipe() })
        scheduler.schedule(f.until, `fault restart-wiped n${f.node}`, async () => { await node(f.node).start(); hooks.onFaultEnd(scheduler.now) })
        break
      case 'partition':
        scheduler.schedule(f.at, 'fault partition', () => { network.setPartition(f.groups); hooks.onLog(`partition ${f.groups.map((g) => `[${g.join(',')}]`).join(' ')}`) })
        scheduler.schedule(f.until, 'fault heal', () => { network.heal(); hooks.onLog('partition healed'); hooks.onFaultEnd(scheduler.now) })
        break
      case 'link': {
        let before: LinkConfig | undefined
        scheduler.schedule(f.at, 'fault link', () => { before = { ...network.linkConfig }; network.setLink(f.link) })
        scheduler.schedule(f.until, 'fault link-restored', () => { if (before !== undefined) network.setLink(before); hooks.onFaultEnd(scheduler.now) })
        break
      }
      case 'byzantine':
        scheduler.schedule(f.at, `fault byzantine n${f.node}`, () => { new ByzantineAgent(node(f.node), env, f.behaviours).attach() })
        break
      case 'crash-after-precommit': {
        const target = node(f.node)
        target.crashAfterPrecommit = {
          height: f.height,
          downMs: f.downMs,
          onCrash: () => {
            hooks.onLog(`node ${f.node} crashed right after signing a precommit`)
            scheduler.after(f.downMs, `fault restart n${f.node}`, async () => { await target.start(); hooks.onFaultEnd(scheduler.now) })
          }
        }
        break
      }
    }
  }
}

/** A key outside every validator set, used to sign votes that must be refused. */
export function outsiderSigner (): Signer {
  return createSigner(new Uint8Array(createHash('sha256').update('medchain-sim-key/outsider').digest()))
}

/** Extra messages per byzantine tick. */
const TICK_MS = 700

export class ByzantineAgent {
  private readonly outsider = outsiderSigner()
  /** Alternative block hash proposed by this node per "height/round", to equivocate votes with. */
  private readonly alternatives = new Map<string, Uint8Array>()
  readonly sent = { doubleProposals: 0, invalidBlocks: 0, equivocations: 0, futureVotes: 0, replays: 0, outsiderVotes: 0, malformed: 0 }

  constructor (
    private readonly node: SimNode,
    private readonly env: SimEnv,
    private readonly behaviours: readonly ByzantineBehaviour[]
  ) {}

  private has (b: ByzantineBehaviour): boolean { return this.behaviours.includes(b) }

  private get rng (): Rng { return this.env.rng }

  private peers (): number[] {
    return this.env.nodes.map((n) => n.id).filter((id) => id !== this.node.id)
  }

  attach (): void {
    this.node.broadcastHook = async (message) => await this.onBroadcast(message)
    const tick = (): void => {
      this.env.scheduler.after(TICK_MS, `byzantine tick n${this.node.id}`, () => { this.onTick(); tick() })
    }
    tick()
  }

  private randomHash (): Uint8Array {
    return Uint8Array.from({ length: 32 }, () => this.rng.int(0, 255))
  }

  /** Returns true when it sent the message its own way (the normal broadcast is suppressed). */
  private async onBroadcast (message: ConsensusMessage): Promise<boolean> {
    const net = this.env.network
    if (message.kind === 'proposal' && this.has('invalid-block') && this.rng.chance(0.5)) {
      const p = message.proposal
      const bad = { ...p.block, header: { ...p.block.header, stateRoot: this.randomHash() } }
      const invalid = signProposal({ chainId: p.chainId, height: p.height, round: p.round, polRound: p.polRound, block: bad, proposer: p.proposer }, this.node.signer)
      net.sendTo(this.node.id, this.env.nodes.map((n) => n.id), { kind: 'proposal', proposal: invalid })
      this.sent.invalidBlocks++
      return true
    }
    if (message.kind === 'proposal' && this.has('double-propose') && this.node.chain !== undefined) {
      const p = message.proposal
      let alt
      try {
        alt = await this.node.buildBlock(1 + this.rng.int(0, 50))
      } catch {
        return false
      }
      if (alt.header.height !== p.height) return false
      const altHash = blockHash(alt.header)
      this.alternatives.set(`${p.height}/${p.round}`, altHash)
      const second = signProposal({ chainId: p.chainId, height: p.height, round: p.round, polRound: p.polRound, block: alt, proposer: p.proposer }, this.node.signer)
      const peers = this.rng.shuffle(this.peers())
      const half = Math.ceil(peers.length / 2)
      net.sendTo(this.node.id, [this.node.id, ...peers.slice(0, half)], message)
      net.sendTo(this.node.id, peers.slice(half), { kind: 'proposal', proposal: second })
      this.sent.doubleProposals++
      return true
    }
    if (message.kind === 'vote' && this.has('equivocate')) {
      const v = message.vote
      const alt = this.alternatives.get(`${v.height}/${v.round}`)
      const blockHashB = alt !== undefined && (v.blockHash === undefined || !alt.every((b, i) => b === v.blockHash?.[i]))
        ? alt
        : v.blockHash === undefined ? this.randomHash() : undefined
      const conflicting = signVote({ chainId: v.chainId, type: v.type, height: v.height, round: v.round, validator: v.validator, ...(blockHashB !== undefined ? { blockHash: blockHashB } : {}) }, this.node.signer)
      const peers = this.rng.shuffle(this.peers())
      net.broadcast(this.node.id, message)
      net.sendTo(this.node.id, peers.slice(0, Math.ceil(peers.length / 2)), { kind: 'vote', vote: conflicting })
      this.sent.equivocations++
      return true
    }
    return false
  }

  private onTick (): void {
    const engine = this.node.engine
    if (!this.node.isUp || engine === undefined) return
    const net = this.env.network
    const chainId = this.env.genesis.chainId
    const peers = this.peers()
    const height = engine.height
    const round = engine.round
    if (this.has('future-votes')) {
      const vote = signVote({ chainId, type: this.rng.chance(0.5) ? VoteType.Prevote : VoteType.Precommit, height: height + this.rng.int(2, 6), round: this.rng.int(0, 3), blockHash: this.randomHash(), validator: this.node.signer.publicKey }, this.node.signer)
      net.sendTo(this.node.id, peers, { kind: 'vote', vote })
      this.sent.futureVotes++
    }
    if (this.has('replay-old')) {
      const old = this.node.received.filter((v: Vote) => v.height < height)
      if (old.length > 0) {
        net.sendTo(this.node.id, peers, { kind: 'vote', vote: this.rng.pick(old) })
        this.sent.replays++
      }
    }
    if (this.has('non-validator')) {
      const type = this.rng.chance(0.5) ? VoteType.Prevote : VoteType.Precommit
      const vote = signVote({ chainId, type, height, round, blockHash: this.randomHash(), validator: this.outsider.publicKey }, this.outsider)
      net.sendTo(this.node.id, peers, { kind: 'vote', vote })
      this.sent.outsiderVotes++
    }
    if (this.has('malformed')) {
      const real = encodeConsensusMessage({ kind: 'vote', vote: signVote({ chainId, type: VoteType.Prevote, height, round, validator: this.node.signer.publicKey }, this.node.signer) })
      const variants = [
        Uint8Array.from({ length: this.rng.int(0, 120) }, () => this.rng.int(0, 255)),
        real.subarray(0, this.rng.int(0, real.length - 1)),
        Uint8Array.from([...real, 0]),
        encodeVote(signVote({ chainId, type: VoteType.Prevote, height, round, validator: this.node.signer.publicKey }, this.node.signer)),
        encodeConsensusMessage({ kind: 'vote', vote: signVote({ chainId: 'another-chain', type: VoteType.Prevote, height, round, blockHash: this.randomHash(), validator: this.node.signer.publicKey }, this.node.signer) })
      ]
      for (const bytes of variants) for (const to of peers) net.sendBytes(this.node.id, to, bytes)
      this.sent.malformed++
    }
  }
}
