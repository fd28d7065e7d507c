/**
 * What block execution reads and writes: a key-value view of the contract state plus the
 * append-only audit log. The store (src/chain/store) implements it over the committed state with
 * a per-block overlay; tests use `MemoryState`. Keys are strings owned by src/contracts/keys.ts.
 *
 * Everything written through `set`/`delete` is committed by the state root's sparse Merkle tree;
 * everything appended through `appendAudit` by the audit accumulator. Execution is synchronous and
 * pure over this interface: no disk or clock inside.
 */
export interface StateBackend {
  get: (key: string) => Uint8Array | undefined
  set: (key: string, value: Uint8Array) => void
  delete: (key: string) => void
  /** Appends one encoded audit entry to the patient's trail (and the global accumulator). */
  appendAudit: (patient: Uint8Array, entry: Uint8Array) => void
}

/** A plain in-memory StateBackend, for tests and tools. */
export class MemoryState implements StateBackend {
  readonly values = new Map<string, Uint8Array>()
  readonly audit: Array<{ patient: Uint8Array, entry: Uint8Array }> = []

  get (key: string): Uint8Array | undefined {
    return this.values.get(key)
  }

  set (key: string, value: Uint8Array): void {
    this.values.set(key, value)
  }

  delete (key: string): void {
    this.values.delete(key)
  }

  appendAudit (patient: Uint8Array, entry: Uint8Array): void {
    this.audit.push({ patient, entry })
  }

  /** A deep copy, to compare before/after in tests. */
  clone (): MemoryState {
    const copy = new MemoryState()
    for (const [k, v] of this.values) copy.values.set(k, v)
    copy.audit.push(...this.audit)
    return copy
  }
}
