/**
 * The committed state (the values, held in memory; the state tree on disk at one version, with
 * its root; the audit accumulator) and the per-block overlay that execution writes into. Nothing
 * here writes to the disk: an overlay's commitment reads the tree's nodes and returns the new
 * version's writes, the store persists them with the overlay's changes in the block's atomic
 * batch and then adopts the overlay's commitment.
 */
import { concatBytes } from '../crypto/bytes.js'
import { Domain, hashWithDomain, sha256Binary } from '../crypto/hash.js'
import { accumulatorRoot, appendEntries, type AuditAccumulator } from './auditLog.js'
import { SparseMerkleTree, type BinaryHash, type TreeChange } from './smt.js'
import type { StateBackend } from '../types/state.js'
import type { TreeUpdate, VersionedTree } from './versionedTree.js'

export interface CommittedState {
  readonly values: ReadonlyMap<string, Uint8Array>
  /** The state tree on disk; `version` is the one these values are at. */
  readonly tree: VersionedTree
  /** The tree version of this state (the head's height), or null for the empty state before genesis. */
  readonly version: number | null
  /** The tree's root at `version` (32 bytes), kept so the state root needs no read. */
  readonly root: Uint8Array
  readonly audit: AuditAccumulator
}

/** The tree's key for a state key: sha256 of its UTF-8 bytes, as a binary string (BinaryHash). */
export function stateKeyHash (key: string): BinaryHash {
  return sha256Binary(key)
}

/** The state root of a block header: commits to the state tree and the audit accumulator. */
export function computeStateRoot (chainId: string, treeRoot: Uint8Array, audit: AuditAccumulator): Uint8Array {
  return hashWithDomain(Domain.state, chainId, concatBytes(treeRoot, accumulatorRoot(audit)))
}

/**
 * The tree root of `values` computed from scratch in memory (every leaf hashed): the reference
 * the doctor checks the stored tree against. The chain never calls it.
 */
export function treeRootOfValues (values: Iterable<[string, Uint8Array]>): Uint8Array {
  const leaves = [...values].map(([k, v]) => ({ keyHash: stateKeyHash(k), valueHash: sha256Binary(v) }))
  return SparseMerkleTree.fromLeaves(leaves).root
}

export interface AppendedAudit { patient: Uint8Array, entry: Uint8Array }

export interface StateCommitment {
  /** The new tree version's writes and root; valid only on the base version it was prepared on. */
  tree: TreeUpdate
  audit: AuditAccumulator
  stateRoot: Uint8Array
}

export class StateOverlay implements StateBackend {
  /** key → new value, or null for a deletion; in first-write order. */
  readonly writes = new Map<string, Uint8Array | null>()
  readonly appendedAudit: AppendedAudit[] = []

  constructor (readonly base: CommittedState) {}

  get (key: string): Uint8Array | undefined {
    const w = this.writes.get(key)
    if (w !== undefined) return w ?? undefined
    return this.base.values.get(key)
  }

  set (key: string, value: Uint8Array): void {
    this.writes.set(key, value)
  }

  delete (key: string): void {
    this.writes.set(key, null)
  }

  appendAudit (patient: Uint8Array, entry: Uint8Array): void {
    this.appendedAudit.push({ patient, entry })
  }

  /** Sequence number the first audit entry of this overlay gets. */
  get firstAuditSeq (): number {
    return this.base.audit.count
  }

  /**
   * The tree version `version`'s writes (on the base's version), the accumulator and the state
   * root if this overlay were committed. Reads tree nodes; writes nothing.
   */
  async commitment (chainId: string, version: number): Promise<StateCommitment> {
    const changes: TreeChange[] = []
    for (const [key, value] of this.writes) {
      if (value === null && !this.base.values.has(key)) continue
      changes.push({ keyHash: stateKeyHash(key), valueHash: value === null ? null : sha256Binary(value) })
    }
    const tree = await this.base.tree.prepareUpdate(version, changes, this.base.version)
    const audit = appendEntries(this.base.audit, this.appendedAudit.map((a) => a.entry))
    return { tree, audit, stateRoot: computeStateRoot(chainId, tree.root, audit) }
  }

  /**
   * Writes this overlay into `values` (the committed map the base reads from, updated in place so
   * a commit costs O(changes), not O(state)) and returns the committed state after it, at the
   * commitment's tree version. Call only once the block's batch (with the tree update's writes)
   * is on disk; the overlay must not be used afterwards.
   *
   * A value that is a view of a larger buffer is committed as a copy of its own (a value that owns
   * its buffer is kept as it is, so caches keyed by it, like the contract's decoded identities,
   * stay valid): encodeCanonical returns views of msgpackr's shared output buffers, which grow with
   * the largest value packed, and a small view kept in this map for as long as its key lives would
   * pin the whole buffer. The copy is made here, once per committed value, rather than in
   * encodeCanonical for every encoding (figures for both in bench/RESULTS.md).
   */
  applyTo (values: Map<string, Uint8Array>, commitment: StateCommitment): CommittedState {
    for (const [key, value] of this.writes) {
      if (value === null) values.delete(key)
      else values.set(key, value.byteLength === value.buffer.byteLength ? value : new Uint8Array(value))
    }
    this.base.tree.commit(commitment.tree)
    return { values, tree: this.base.tree, version: commitment.tree.version, root: commitment.tree.root, audit: commitment.audit }
  }
}
