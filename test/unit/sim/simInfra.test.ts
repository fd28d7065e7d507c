/**
 * The simulator's own machinery, tested without the engine: the seeded PRNG, the scheduler's
 * order and determinism, the network's delay/drop/partition rules, and each invariant checker on
 * a hand-made history that breaks it.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Rng } from '../../../src/sim/random.js'
import { Scheduler } from '../../../src/sim/scheduler.js'
import { Network, type MessageCodec } from '../../../src/sim/network.js'
import {
  checkCertificates, checkInvariants, checkLiveness, checkNoHonestDoubleSign, checkOneBlockPerHeight, checkStateRoots,
  type NodeHistory, type SimHistory
} from '../../../src/sim/invariants.js'
import { makeValidatorSet } from '../../../src/types/validatorSet.js'
import type { CommitCertificate } from '../../../src/types/block.js'
import { Step } from '../../../src/consensus/types.js'
import { signVote, VoteType } from '../../../src/types/vote.js'
import { bytes32, makeKeys, TEST_CHAIN_ID } from '../../utils/factories.js'

const SEED = 0x51a1

void describe('sim: Rng', () => {
  it('gives the same sequence for the same seed and another for another seed', () => {
    const draw = (seed: number): number[] => { const r = new Rng(seed); return Array.from({ length: 20 }, () => r.int(0, 1_000_000)) }
    assert.deepEqual(draw(SEED), draw(SEED))
    assert.notDeepEqual(draw(SEED), draw(SEED + 1))
  })

  it('keeps int, float, pick and shuffle in range', () => {
    const r = new Rng(SEED)
    for (let i = 0; i < 2000; i++) {
      const x = r.int(-3, 3)
      assert.ok(Number.isInteger(x) && x >= -3 && x <= 3)
      const f = r.float()
      assert.ok(f >= 0 && f < 1)
    }
    assert.ok(['a', 'b'].includes(r.pick(['a', 'b'])))
    assert.deepEqual(r.shuffle([1, 2, 3, 4, 5]).sort(), [1, 2, 3, 4, 5])
    assert.throws(() => r.int(2, 1), RangeError)
    assert.throws(() => r.pick([]), RangeError)
  })
})

void describe('sim: Scheduler', () => {
  it('runs events by (time, sequence number): earlier first, same time in scheduling order', async () => {
    const s = new Scheduler({ trace: true })
    const ran: string[] = []
    s.schedule(30, 'c', () => { ran.push('c') })
    s.schedule(10, 'a1', () => { ran.push('a1') })
    s.schedule(10, 'a2', () => { ran.push('a2') })
    s.schedule(20, 'b', async () => { await Promise.resolve(); ran.push('b'); s.after(0, 'b-child', () => { ran.push('b-child') }) })
    assert.equal(await s.runUntil(() => false), 'idle')
    assert.deepEqual(ran, ['a1', 'a2', 'b', 'b-child', 'c'])
    assert.equal(s.now, 30)
    assert.deepEqual(s.trace?.map((e) => e.at), [10, 10, 20, 20, 30])
  })

  it('runUntil(time) stops before later events and advances the clock to that time', async () => {
    const s = new Scheduler()
    const ran: number[] = []
    for (const t of [5, 50, 500]) s.schedule(t, `t${t}`, () => { ran.push(t) })
    assert.equal(await s.runUntil(100), 'time')
    assert.deepEqual(ran, [5, 50])
    assert.equal(s.now, 100)
    assert.equal(s.pending, 1)
    assert.equal(await s.runUntil(() => ran.length === 3), 'condition')
  })

  it('awaits an async event to the end before the next one starts', async () => {
    const s = new Scheduler()
    const log: string[] = []
    s.schedule(1, 'slow', async () => { log.push('slow start'); for (let i = 0; i < 5; i++) await Promise.resolve(); log.push('slow end') })
    s.schedule(1, 'next', () => { log.push('next') })
    await s.runUntil(() => false)
    assert.deepEqual(log, ['slow start', 'slow end', 'next'])
  })

  it('same seed gives an identical event trace; another seed another trace', async () => {
    const trace = async (seed: number): Promise<string> => {
      const s = new Scheduler({ trace: true })
      const rng = new Rng(seed)
      const spawn = (depth: number): void => {
        for (let i = 0; i < 3; i++) {
          s.after(rng.int(0, 50), `d${depth}/${i}`, () => { if (depth < 4) spawn(depth + 1) })
        }
      }
      spawn(0)
      await s.runUntil(() => false)
      return JSON.stringify(s.trace)
    }
    assert.equal(await trace(SEED), await trace(SEED))
    assert.notEqual(await trace(SEED), await trace(SEED + 1))
  })
})

const jsonCodec: MessageCodec<string> = {
  encode: (m) => new TextEncoder().encode(JSON.stringify(m)),
  decode: (b) => { const v: unknown = JSON.parse(new TextDecoder().decode(b)); if (typeof v !== 'string') throw new TypeError('not a string'); return v }
}

function makeNet (opts: { size?: number, dropRate?: number, jitterMs?: number, up?: (id: number) => boolean } = {}): { s: Scheduler, net: Network<string>, got: Array<{ to: number, from: number, m: string, at: number }>, malformed: number[] } {
  const s = new Scheduler()
  const got: Array<{ to: number, from: number, m: string, at: number }> = []
  const malformed: number[] = []
  const net = new Network<string>({
    size: opts.size ?? 4,
    scheduler: s,
    rng: new Rng(SEED),
    codec: jsonCodec,
    link: { baseDelayMs: 10, jitterMs: opts.jitterMs ?? 5, dropRate: opts.dropRate ?? 0 },
    deliver: (to, from, m) => { got.push({ to, from, m, at: s.now }) },
    ...(opts.up !== undefined ? { isUp: opts.up } : {}),
    onMalformed: (to) => { malformed.push(to) }
  })
  return { s, net, got, malformed }
}

void describe('sim: Network', () => {
  it('delivers a broadcast to every node, to itself at zero delay and to peers after base delay + jitter', async () => {
    const { s, net, got } = makeNet()
    net.broadcast(1, 'hello')
    await s.runUntil(() => false)
    assert.deepEqual(got.map((g) => g.to).sort(), [0, 1, 2, 3])
    const self = got.find((g) => g.to === 1)
    assert.equal(self?.at, 0)
    for (const g of got.filter((g) => g.to !== 1)) assert.ok(g.at >= 10 && g.at <= 15, `delay ${g.at}`)
    assert.ok(got.every((g) => g.from === 1 && g.m === 'hello'))
  })

  it('blocks messages across a partition, not within a group, and heals', async () => {
    const { s, net, got } = makeNet()
    net.setPartition([[0, 1], [2, 3]])
    assert.equal(net.partitioned, true)
    net.broadcast(0, 'split')
    await s.runUntil(() => false)
    assert.deepEqual(got.map((g) => g.to).sort(), [0, 1])
    assert.equal(net.stats.blocked, 2)
    net.heal()
    got.length = 0
    net.broadcast(0, 'healed')
    await s.runUntil(() => false)
    assert.deepEqual(got.map((g) => g.to).sort(), [0, 1, 2, 3])
  })

  it('loses a copy in flight when a partition starts before it arrives', async () => {
    const { s, net, got } = makeNet()
    net.broadcast(0, 'in flight')
    s.schedule(1, 'partition', () => { net.setPartition([[0], [1, 2, 3]]) })
    await s.runUntil(() => false)
    assert.deepEqual(got.map((g) => g.to), [0])
  })

  it('drops copies with the given probability (never the self-delivery) and none at 0', async () => {
    const all = makeNet({ dropRate: 1 })
    all.net.broadcast(2, 'x')
    await all.s.runUntil(() => false)
    assert.deepEqual(all.got.map((g) => g.to), [2])
    const some = makeNet({ size: 2, dropRate: 0.3 })
    for (let i = 0; i < 1000; i++) some.net.sendTo(0, [1], `m${i}`)
    await some.s.runUntil(() => false)
    assert.ok(some.got.length > 600 && some.got.length < 800, `delivered ${some.got.length} of 1000 at drop rate 0.3`)
    assert.equal(some.net.stats.dropped + some.got.length, 1000)
  })

  it('decodes at the receiver: bytes that do not decode are counted as malformed and never delivered', async () => {
    const { s, net, got, malformed } = makeNet()
    net.sendBytes(0, 3, new Uint8Array([0xff, 0x00]))
    net.sendBytes(0, 2, jsonCodec.encode('fine'))
    await s.runUntil(() => false)
    assert.deepEqual(got.map((g) => [g.to, g.m]), [[2, 'fine']])
    assert.deepEqual(malformed, [3])
    assert.equal(net.stats.malformed, 1)
  })

  it('loses copies to a node that is down when they arrive', async () => {
    const down = new Set([3])
    const { s, net, got } = makeNet({ up: (id) => !down.has(id) })
    net.broadcast(0, 'x')
    await s.runUntil(() => false)
    assert.deepEqual(got.map((g) => g.to).sort(), [0, 1, 2])
    assert.equal(net.stats.toDownNode, 1)
  })
})

// ---------------------------------------------------------------------------------------------
// invariants on hand-made histories

const keys = ['v0', 'v1', 'v2', 'v3'].map((l) => makeKeys(`sim-infra/${l}`))
const validatorSet = makeValidatorSet(keys.map((k) => ({ publicKey: k.publicKey, power: 1, hospital: bytes32('hospital') })))

function certificate (height: number, hash: Uint8Array, signers = keys, round = 0): CommitCertificate {
  return {
    height,
    round,
    blockHash: hash,
    signatures: signers.map((k) => ({ validator: k.publicKey, signature: signVote({ chainId: TEST_CHAIN_ID, type: VoteType.Precommit, height, round, blockHash: hash, validator: k.publicKey }, k).signature }))
  }
}

function node (id: number, heights: number, opts: { fork?: number, root?: (h: number) => Uint8Array, signers?: typeof keys } = {}): NodeHistory {
  const blocks = Array.from({ length: heights }, (_, i) => {
    const height = i + 1
    return { height, hash: bytes32(`block ${height}${opts.fork === height ? ' fork' : ''}`), stateRoot: (opts.root ?? ((h: number) => bytes32(`root ${h}`)))(height) }
  })
  return {
    id,
    honest: true,
    blocks,
    certificates: blocks.map((b) => ({ height: b.height, certificate: certificate(b.height, b.hash, opts.signers ?? keys), validatorSet })),
    head: { height: heights, stateRoot: blocks[heights - 1]?.stateRoot ?? bytes32('root 0') },
    signed: []
  }
}

function history (nodes: NodeHistory[], overrides: Partial<SimHistory> = {}): SimHistory {
  return {
    chainId: TEST_CHAIN_ID,
    nodes,
    firstCommits: [{ height: 1, at: 1000 }, { height: 2, at: 2000 }, { height: 3, at: 3000 }],
    faultsEndMs: 0,
    capMs: 10_000,
    endMs: 4000,
    ...overrides
  }
}

void describe('sim: invariant checkers', () => {
  it('a healthy history passes every check', () => {
    const verdicts = checkInvariants(history([node(0, 3), node(1, 3), node(2, 2)]))
    assert.deepEqual(verdicts.map((v) => [v.name, v.status]), [
      ['one-block-per-height', 'ok'], ['certificates', 'ok'], ['state-roots', 'ok'], ['no-honest-double-sign', 'ok'], ['liveness', 'ok'], ['no-node-errors', 'ok']
    ])
  })

  it('catches a fork: two block hashes at one height', () => {
    const v = checkOneBlockPerHeight(history([node(0, 3), node(1, 3, { fork: 2 })]))
    assert.equal(v.status, 'violated')
    assert.match(v.violations[0] ?? '', /^height 2:/)
  })

  it('catches a short certificate (2 of 4 signatures) and a forged signature', () => {
    const short = checkCertificates(history([node(0, 3), node(1, 3, { signers: keys.slice(0, 2) })]))
    assert.equal(short.status, 'violated')
    assert.ok(short.violations.every((l) => l.includes('COMMIT_INSUFFICIENT_POWER')))
    const forged = node(2, 1)
    const cert = forged.certificates[0]?.certificate as CommitCertificate
    cert.signatures[0] = { validator: cert.signatures[0]?.validator as Uint8Array, signature: new Uint8Array(64) }
    const bad = checkCertificates(history([forged]))
    assert.equal(bad.status, 'violated')
    assert.match(bad.violations[0] ?? '', /COMMIT_BAD_SIGNATURE/)
    const outsider = node(3, 1, { signers: [...keys.slice(0, 2), makeKeys('sim-infra/outsider'), makeKeys('sim-infra/outsider2')] })
    assert.match(checkCertificates(history([outsider])).violations[0] ?? '', /COMMIT_UNKNOWN_VALIDATOR/)
  })

  it('catches a state-root mismatch at one height and a head whose recomputed state differs', () => {
    const mismatch = checkStateRoots(history([node(0, 3), node(1, 3, { root: (h) => bytes32(h === 3 ? 'other root' : `root ${h}`) })]))
    assert.equal(mismatch.status, 'violated')
    assert.ok(mismatch.violations.some((l) => l.startsWith('height 3:')))
    const drifted = node(2, 2)
    drifted.head.stateRoot = bytes32('drifted')
    assert.ok(checkStateRoots(history([drifted])).violations.some((l) => l.includes('recomputed state root')))
  })

  it('catches an honest double-sign, ignores identical re-broadcasts and byzantine nodes', () => {
    const a = bytes32('A')
    const b = bytes32('B')
    const honest = node(0, 1)
    honest.signed = [
      { at: 1, height: 5, round: 0, step: Step.Prevote, blockHash: a },
      { at: 2, height: 5, round: 0, step: Step.Prevote, blockHash: a },
      { at: 3, height: 5, round: 0, step: Step.Precommit },
      { at: 4, height: 5, round: 1, step: Step.Prevote, blockHash: b }
    ]
    assert.equal(checkNoHonestDoubleSign(history([honest])).status, 'ok')
    honest.signed.push({ at: 5, height: 5, round: 0, step: Step.Precommit, blockHash: b })
    const v = checkNoHonestDoubleSign(history([honest]))
    assert.equal(v.status, 'violated')
    assert.match(v.violations[0] ?? '', /two precommits at height 5 round 0/)
    honest.honest = false
    assert.equal(checkNoHonestDoubleSign(history([honest])).status, 'ok')
  })

  it('judges liveness: recovery within 2 x cap, a late recovery, a stall after recovery, and a run too short to tell', () => {
    const commits = (times: number[]): SimHistory['firstCommits'] => times.map((at, i) => ({ height: i + 1, at }))
    assert.equal(checkLiveness(history([], { faultsEndMs: 50_000, firstCommits: commits([1000, 60_000, 61_000]), endMs: 62_000 })).status, 'ok')
    assert.equal(checkLiveness(history([], { faultsEndMs: 50_000, firstCommits: commits([1000, 75_000]), endMs: 76_000 })).status, 'violated')
    assert.equal(checkLiveness(history([], { faultsEndMs: 50_000, firstCommits: commits([1000, 51_000, 80_000]), endMs: 81_000 })).status, 'violated')
    assert.equal(checkLiveness(history([], { faultsEndMs: 50_000, firstCommits: commits([1000, 51_000]), endMs: 90_000, reachedTarget: false })).status, 'violated')
    assert.equal(checkLiveness(history([], { faultsEndMs: 50_000, firstCommits: commits([1000]), endMs: 55_000 })).status, 'inconclusive')
    assert.equal(checkLiveness(history([], { faultsEndMs: 50_000, firstCommits: commits([1000]), endMs: 90_000 })).status, 'violated')
  })
})
