/**
 * The safety and liveness invariants checked after every simulation run, as pure functions over a
 * recorded history (so each checker is tested on hand-made violating histories):
 *
 *  1. one-block-per-height: at most one committed block hash per height across all nodes;
 *  2. certificates: every stored certificate holds > 2/3 of the power of that height's validator
 *     set in distinct valid precommit signatures for that node's block (`verifyCommit`);
 *  3. state-roots: equal state roots at equal heights (header roots, and each head's recomputed root);
 *  4. no-honest-double-sign: no honest validator signed two different messages for the same
 *     (height, round, step);
 *  5. liveness: after the last fault ended, a new block was committed within 2 × timeouts.capMs,
 *     and no later gap between commits exceeded that bound;
 *  and, as a sixth verdict, no-node-errors: the engine never threw and every block it decided
 *  imported (a decided block the chain refuses would be an engine or chain bug).
 */
import { blockHash, type CommitCertificate } from '../types/block.js'
import type { ValidatorSet } from '../types/validatorSet.js'
import { equalBytes, toHex } from '../crypto/bytes.js'
import { verifyCommit } from '../types/commit.js'
import { Step } from '../consensus/types.js'
import { type ConsensusMessage } from '../types/consensusMessage.js'
import { VoteType } from '../types/vote.js'

/** What a node signed: one entry per broadcast of an honest node. */
export interface SignedRecord {
  /** Virtual time of the broadcast. */
  at: number
  height: number
  round: number
  step: Step
  /** Block hash signed; undefined for a nil vote. */
  blockHash?: Uint8Array
}

export interface NodeHistory {
  id: number
  honest: boolean
  /** The blocks in the node's store. */
  blocks: Array<{ height: number, hash: Uint8Array, stateRoot: Uint8Array }>
  /** The certificates in the node's store, with the validator set of that height (undefined if the store has none). */
  certificates: Array<{ height: number, certificate: CommitCertificate, validatorSet: ValidatorSet | undefined }>
  /** The head and the state root recomputed from the node's state (not read from a header). */
  head: { height: number, stateRoot: Uint8Array }
  /** Every message the node signed and broadcast (recorded for honest nodes). */
  signed: SignedRecord[]
}

export interface SimHistory {
  chainId: string
  nodes: NodeHistory[]
  /** The first commit of each height at any honest node, in height order. */
  firstCommits: Array<{ height: number, at: number }>
  /** Virtual time the last fault ended (0 without faults). */
  faultsEndMs: number
  capMs: number
  /** Virtual time the run stopped. */
  endMs: number
  /** False when the run stopped short of its target height (then a stall until the end counts). */
  reachedTarget?: boolean
}

export type InvariantName = 'one-block-per-height' | 'certificates' | 'state-roots' | 'no-honest-double-sign' | 'liveness' | 'no-node-errors'

export interface InvariantVerdict {
  name: InvariantName
  /** 'ok', 'violated', or 'inconclusive' (liveness only: the run ended before the bound passed). */
  status: 'ok' | 'violated' | 'inconclusive'
  /** One line per violation found (capped), empty when ok. */
  violations: string[]
  /** Extra figures, e.g. the recovery time of the liveness check. */
  detail?: string
}

const MAX_LISTED = 20

function verdict (name: InvariantName, violations: string[], detail?: string): InvariantVerdict {
  return { name, status: violations.length === 0 ? 'ok' : 'violated', violations: violations.slice(0, MAX_LISTED), ...(detail !== undefined ? { detail } : {}) }
}

const short = (hash: Uint8Array | undefined): string => hash === undefined ? 'nil' : toHex(hash).slice(0, 12)

export function signedRecordOf (message: ConsensusMessage, at: number): SignedRecord {
  if (message.kind === 'proposal') {
    const p = message.proposal
    return { at, height: p.height, round: p.round, step: Step.Propose, blockHash: blockHash(p.block.header) }
  }
  const v = message.vote
  return { at, height: v.height, round: v.round, step: v.type === VoteType.Prevote ? Step.Prevote : Step.Precommit, ...(v.blockHash !== undefined ? { blockHash: v.blockHash } : {}) }
}

/** 1. At most one committed block hash per height across all nodes. */
export function checkOneBlockPerHeight (h: SimHistory): InvariantVerdict {
  const byHeight = new Map<number, Map<string, number[]>>()
  for (const node of h.nodes) {
    for (const b of node.blocks) {
      const hashes = byHeight.get(b.height) ?? new Map<string, number[]>()
      byHeight.set(b.height, hashes)
      const key = toHex(b.hash)
      hashes.set(key, [...(hashes.get(key) ?? []), node.id])
    }
  }
  const violations: string[] = []
  for (const [height, hashes] of [...byHeight].sort((a, b) => a[0] - b[0])) {
    if (hashes.size > 1) violations.push(`height ${height}: ${[...hashes].map(([hash, ids]) => `${hash.slice(0, 12)} at nodes ${ids.join(',')}`).join(' vs ')}`)
  }
  return verdict('one-block-per-height', violations)
}

/** 2. Every stored certificate verifies against that height's validator set and the node's block. */
export function checkCertificates (h: SimHistory): InvariantVerdict {
  const violations: string[] = []
  let checked = 0
  for (const node of h.nodes) {
    const blocks = new Map(node.blocks.map((b) => [b.height, b.hash]))
    for (const c of node.certificates) {
      const hash = blocks.get(c.height)
      if (hash === undefined) { violations.push(`node ${node.id} height ${c.height}: a certificate without its block`); continue }
      if (c.validatorSet === undefined) { violations.push(`node ${node.id} height ${c.height}: no validator set stored for the height`); continue }
      try {
        verifyCommit(h.chainId, c.validatorSet, hash, c.height, c.certificate)
        checked++
      } catch (err) {
        const code = (err as { code?: string }).code ?? String(err)
        violations.push(`node ${node.id} height ${c.height}: ${code}`)
      }
    }
  }
  return verdict('certificates', violations, `${checked} certificates verified`)
}

/** 3. Equal state roots at equal heights, and each node's recomputed state matches its head block. */
export function checkStateRoots (h: SimHistory): InvariantVerdict {
  const violations: string[] = []
  const byHeight = new Map<number, { root: Uint8Array, node: number }>()
  for (const node of h.nodes) {
    for (const b of node.blocks) {
      const first = byHeight.get(b.height)
      if (first === undefined) byHeight.set(b.height, { root: b.stateRoot, node: node.id })
      else if (!equalBytes(first.root, b.stateRoot)) violations.push(`height ${b.height}: state root ${short(first.root)} at node ${first.node} vs ${short(b.stateRoot)} at node ${node.id}`)
    }
  }
  const heads = new Map<number, { root: Uint8Array, node: number }>()
  for (const node of h.nodes) {
    const headBlock = node.blocks.find((b) => b.height === node.head.height)
    if (headBlock !== undefined && !equalBytes(headBlock.stateRoot, node.head.stateRoot)) {
      violations.push(`node ${node.id}: recomputed state root ${short(node.head.stateRoot)} differs from its head block ${node.head.height}'s ${short(headBlock.stateRoot)}`)
    }
    const first = heads.get(node.head.height)
    if (first === undefined) heads.set(node.head.height, { root: node.head.stateRoot, node: node.id })
    else if (!equalBytes(first.root, node.head.stateRoot)) violations.push(`head height ${node.head.height}: recomputed state root ${short(first.root)} at node ${first.node} vs ${short(node.head.stateRoot)} at node ${node.id}`)
  }
  return verdict('state-roots', violations)
}

/** 4. No honest validator signed two different messages for one (height, round, step). */
export function checkNoHonestDoubleSign (h: SimHistory): InvariantVerdict {
  const violations: string[] = []
  const stepName = (s: Step): string => s === Step.Propose ? 'proposal' : s === Step.Prevote ? 'prevote' : 'precommit'
  for (const node of h.nodes) {
    if (!node.honest) continue
    const seen = new Map<string, SignedRecord>()
    for (const r of node.signed) {
      const key = `${r.height}/${r.round}/${r.step}`
      const first = seen.get(key)
      if (first === undefined) { seen.set(key, r); continue }
      const same = first.blockHash === undefined || r.blockHash === undefined ? first.blockHash === r.blockHash : equalBytes(first.blockHash, r.blockHash)
      if (!same) violations.push(`node ${node.id} signed two ${stepName(r.step)}s at height ${r.height} round ${r.round}: ${short(first.blockHash)} at ${first.at} ms and ${short(r.blockHash)} at ${r.at} ms`)
    }
  }
  return verdict('no-honest-double-sign', violations)
}

/**
 * 5. A block is committed within 2 × capMs after the last fault ended, and from then on no two
 * consecutive commits (nor the last commit and the end of a run that stopped short of its
 * target) are more than 2 × capMs apart: progress resumes and keeps going.
 */
export function checkLiveness (h: SimHistory): InvariantVerdict {
  const bound = 2 * h.capMs
  const after = h.firstCommits.filter((c) => c.at >= h.faultsEndMs)
  const first = after[0]
  if (first === undefined && h.endMs - h.faultsEndMs <= bound) {
    return { name: 'liveness', status: 'inconclusive', violations: [], detail: `the run ended ${h.endMs - h.faultsEndMs} ms after the last fault, before the ${bound} ms bound` }
  }
  const violations: string[] = []
  if (first === undefined) {
    violations.push(`no block committed in the ${h.endMs - h.faultsEndMs} ms after the last fault ended at ${h.faultsEndMs} ms (bound ${bound} ms)`)
    return verdict('liveness', violations)
  }
  const took = first.at - h.faultsEndMs
  if (took > bound) violations.push(`no block committed within ${bound} ms after the last fault ended at ${h.faultsEndMs} ms; the next one (height ${first.height}) took ${took} ms`)
  let longest = 0
  for (let i = 1; i < after.length; i++) {
    const prev = after[i - 1] as { height: number, at: number }
    const cur = after[i] as { height: number, at: number }
    longest = Math.max(longest, cur.at - prev.at)
    if (cur.at - prev.at > bound) violations.push(`heights ${prev.height} and ${cur.height} were committed ${cur.at - prev.at} ms apart after the faults ended (bound ${bound} ms)`)
  }
  const last = after[after.length - 1] as { height: number, at: number }
  if (h.reachedTarget === false && h.endMs - last.at > bound) violations.push(`the chain stalled after height ${last.height} (committed at ${last.at} ms) until the run ended at ${h.endMs} ms`)
  return verdict('liveness', violations, `height ${first.height} committed ${took} ms after the last fault ended; longest gap after it ${longest} ms (bound ${bound} ms)`)
}

/** 6. Nothing that must never happen happened inside a node (engine threw, a decided block did not import). */
export function checkNoNodeErrors (errors: readonly string[]): InvariantVerdict {
  return verdict('no-node-errors', [...errors])
}

export function checkInvariants (h: SimHistory, errors: readonly string[] = []): InvariantVerdict[] {
  return [checkOneBlockPerHeight(h), checkCertificates(h), checkStateRoots(h), checkNoHonestDoubleSign(h), checkLiveness(h), checkNoNodeErrors(errors)]
}
