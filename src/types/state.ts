/**
 * What block execution reads and writes: a key-value view of the contract state plus the
 * append-only audit log. The store (src/chain/store) implements it over the committed state with
 * a per-block overlay; tests use `MemoryState`. Keys are strings owned by src/contracts/keys.ts.
 * `StrictState` executes against only the values loaded before a block (the key list of
 * src/contracts/touchedKeys.ts, loaded by `loadTouchedKeys`) and refuses any other read.
 *
 * Everything written through `set`/`delete` is committed by the state root's sparse Merkle tree;
 * everything appended through `appendAudit` by the audit accumulator. Execution is synchronous and
 * pure over this interface: no disk or clock inside.
 */
import { MedchainError } from '../util/errors.js'

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

// ------------------------------------------------------------------------------------------------
// Executing a block against the values loaded before it

/** What a key-list function is told about a key whose value has not been loaded yet. */
export const NOT_LOADED: unique symbol = Symbol('NOT_LOADED')

/** The value of a key as loaded so far: its bytes, undefined when the state has no such key, or NOT_LOADED. */
export type StateRead = (key: string) => Uint8Array | undefined | typeof NOT_LOADED

/**
 * The keys an execution may read, as far as the values loaded so far tell. `complete` is false when
 * a key depends on a value that is not loaded yet: load `keys` and ask again.
 */
export interface TouchedKeys {
  keys: string[]
  complete: boolean
}

/** The values of some keys read from the store; a key missing from the map (or undefined) is not in the state. */
export type LoadedValues = ReadonlyMap<string, Uint8Array | undefined>

export type StateErrorType =
  | { code: 'STATE_KEY_NOT_LOADED', key: string }
  | { code: 'STATE_PREFETCH_TOO_MANY_ROUNDS', rounds: number }
  | { code: 'STATE_PREFETCH_STUCK', round: number }

/** A read outside the loaded key set, or a key-list function that does not reach its fixed point. */
export class StateError extends MedchainError<StateErrorType> {}

function keyNotLoaded (key: string): StateError {
  return new StateError({ code: 'STATE_KEY_NOT_LOADED', key },
    `State key "${key}" was read during execution but was not loaded before it; the block's key list (src/contracts/touchedKeys.ts) misses it and must list it.`)
}

/**
 * A StateBackend over the values loaded before a block: a read of a loaded key gives its loaded
 * value (undefined for a key known to be absent), a read of a key written through this backend
 * gives the last write, and a read of any other key THROWS StateError STATE_KEY_NOT_LOADED naming
 * the key. Writes and audit entries are kept here (in first-write order, as in StateOverlay) and,
 * when `mirror` is given, also passed on to it, so the strict backend can stand in front of the
 * chain's overlay.
 *
 * The contract rethrows a StateError from inside a transaction (it turns other exceptions into a
 * CONTRACT_INTERNAL_ERROR receipt), so a miss stops the block. Every miss is also recorded in
 * `misses`; `assertNoMisses()` rethrows the first, for a caller that catches errors on the way.
 */
export class StrictState implements StateBackend {
  /** key → new value, or null for a deletion. */
  readonly writes = new Map<string, Uint8Array | null>()
  readonly appendedAudit: Array<{ patient: Uint8Array, entry: Uint8Array }> = []
  /** Every key read that was neither loaded nor written, in the order of the reads. */
  readonly misses: string[] = []

  constructor (readonly loaded: LoadedValues, private readonly mirror?: StateBackend) {}

  get (key: string): Uint8Array | undefined {
    const w = this.writes.get(key)
    if (w !== undefined) return w ?? undefined
    if (!this.loaded.has(key)) {
      this.misses.push(key)
      throw keyNotLoaded(key)
    }
    return this.loaded.get(key)
  }

  set (key: string, value: Uint8Array): void {
    this.writes.set(key, value)
    this.mirror?.set(key, value)
  }

  delete (key: string): void {
    this.writes.set(key, null)
    this.mirror?.delete(key)
  }

  appendAudit (patient: Uint8Array, entry: Uint8Array): void {
    this.appendedAudit.push({ patient, entry })
    this.mirror?.appendAudit(patient, entry)
  }

  /** Throws StateError STATE_KEY_NOT_LOADED for the first key read that was not loaded, if any. */
  assertNoMisses (): void {
    const first = this.misses[0]
    if (first !== undefined) throw keyNotLoaded(first)
  }
}

/**
 * Runs a key-list function to its fixed point: asks it for the keys, loads the ones not loaded yet
 * in one batch, and asks again until it reports `complete` with nothing left to load. Returns every
 * key loaded with its value (undefined when absent from the state), ready for StrictState. Throws
 * StateError when more than `maxLoads` batches would be needed, or when the function reports
 * incomplete while every key it listed is loaded (it read a key it did not list).
 */
export async function loadTouchedKeys (
  touched: (read: StateRead) => TouchedKeys,
  load: (keys: string[]) => Promise<LoadedValues>,
  maxLoads: number
): Promise<Map<string, Uint8Array | undefined>> {
  const rounds = loadRounds(touched, maxLoads)
  let step = rounds.next()
  while (step.done !== true) step = rounds.next(await load(step.value))
  return step.value
}

/** `loadTouchedKeys` with a synchronous loader (tests, tools over an in-memory state). */
export function loadTouchedKeysSync (
  touched: (read: StateRead) => TouchedKeys,
  load: (keys: string[]) => LoadedValues,
  maxLoads: number
): Map<string, Uint8Array | undefined> {
  const rounds = loadRounds(touched, maxLoads)
  let step = rounds.next()
  while (step.done !== true) step = rounds.next(load(step.value))
  return step.value
}

/** The rounds of both loaders: yields the keys to load next, takes their values, returns what was loaded. */
function * loadRounds (touched: (read: StateRead) => TouchedKeys, maxLoads: number): Generator<string[], Map<string, Uint8Array | undefined>, LoadedValues> {
  const loaded = new Map<string, Uint8Array | undefined>()
  const read: StateRead = (key) => loaded.has(key) ? loaded.get(key) : NOT_LOADED
  for (let round = 1; ; round++) {
    const { keys, complete } = touched(read)
    const missing = keys.filter((k) => !loaded.has(k))
    if (missing.length > 0) {
      if (round > maxLoads) throw tooManyRounds(round)
      const values = yield missing
      for (const k of missing) loaded.set(k, values.get(k))
    } else if (!complete) {
      throw stuck(round)
    }
    if (complete) return loaded
  }
}

function tooManyRounds (round: number): StateError {
  return new StateError({ code: 'STATE_PREFETCH_TOO_MANY_ROUNDS', rounds: round },
    `Loading a block's state keys needed more than ${round - 1} batched reads; the key-list function's stated bound is wrong and must be fixed.`)
}

function stuck (round: number): StateError {
  return new StateError({ code: 'STATE_PREFETCH_STUCK', round },
    `The key-list function reported missing values in round ${round} while every key it listed was loaded; it reads a key it does not list and must be fixed.`)
}
