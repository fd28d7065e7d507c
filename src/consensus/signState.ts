/**
 * Crash-safe signing: the last (height, round, step, block hash) this validator signed.
 *
 * Rule (`checkCanSign`): never sign at a (height, round, step) lower than the last signed one; at the
 * same (height, round, step) sign only the same block hash (or nil again), which re-creates the
 * identical message (ed25519 signatures are deterministic). Steps order Propose < Prevote < Precommit.
 *
 * Wire: [version u32, height u64, round u32, step u32, blockHash bytes(0|32)]
 * File: [state bytes, sha256(state bytes)], replaced atomically by `SignStateFile.save`.
 */
import { readFileSync } from 'node:fs'
import { writeFileAtomic } from '../atomicFile.js'
import { equalBytes } from '../crypto/bytes.js'
import { HASH_LENGTH, sha256 } from '../crypto/hash.js'
import {
  decodeCanonical, encodeCanonical, readBytes, readOptionalBytes, readTuple, readU32, readU64, u64, wrongShape, EMPTY_BYTES
} from '../chain/codec.js'
import { MedchainError } from '../errors.js'
import { ConsensusError } from './errors.js'
import { Step, type SignState } from './types.js'

export const SIGN_STATE_VERSION = 1

export function encodeSignState (s: SignState): Uint8Array {
  return encodeCanonical([SIGN_STATE_VERSION, u64(s.height), s.round, s.step, s.blockHash ?? EMPTY_BYTES])
}

/** Throws CodecError unless `bytes` is the canonical encoding of a sign-state. */
export function decodeSignState (bytes: Uint8Array): SignState {
  const t = readTuple(decodeCanonical(bytes, { maxBytes: 128, maxItems: 5, maxDepth: 1 }), 5, 'signState')
  if (readU32(t[0], 'signState.version') !== SIGN_STATE_VERSION) throw wrongShape('signState.version', `must be ${SIGN_STATE_VERSION}`)
  const step = readU32(t[3], 'signState.step')
  if (step !== Step.Propose && step !== Step.Prevote && step !== Step.Precommit) throw wrongShape('signState.step', 'must be 1, 2 or 3')
  const blockHash = readOptionalBytes(t[4], 'signState.blockHash', HASH_LENGTH)
  return {
    height: readU64(t[1], 'signState.height'),
    round: readU32(t[2], 'signState.round'),
    step: step as Step,
    ...(blockHash !== undefined ? { blockHash } : {})
  }
}

/** -1, 0 or 1 as (height, round, step) of `a` is before, equal to or after that of `b`. */
export function compareSignPosition (a: SignState, b: SignState): number {
  if (a.height !== b.height) return a.height < b.height ? -1 : 1
  if (a.round !== b.round) return a.round < b.round ? -1 : 1
  if (a.step !== b.step) return a.step < b.step ? -1 : 1
  return 0
}

/** True when a validator whose last signature is `last` may sign `next` (the rule above). Pure. */
export function checkCanSign (last: SignState | undefined, next: SignState): boolean {
  if (last === undefined) return true
  const order = compareSignPosition(next, last)
  if (order !== 0) return order > 0
  if (last.blockHash === undefined || next.blockHash === undefined) return last.blockHash === next.blockHash
  return equalBytes(last.blockHash, next.blockHash)
}

function corrupt (path: string, reason: string): ConsensusError {
  return new ConsensusError(
    { code: 'SIGN_STATE_CORRUPT', path, reason },
    `The sign-state file ${path} is unreadable (${reason}); do not delete it: restore it from a backup, or, only if you are sure this validator never signed above the chain head, move it away and start again with the chain fully synced.`
  )
}

/**
 * The sign-state on disk. `save` is synchronous and crash-safe: it writes `path.tmp`, fsyncs it,
 * renames it over `path` and fsyncs the directory, so after a crash `path` holds either the old or
 * the new state, whole. A leftover `path.tmp` (a crash before the rename) is ignored by `load`.
 */
export class SignStateFile {
  constructor (readonly path: string) {}

  /** The saved state; undefined when none was ever saved. Throws ConsensusError SIGN_STATE_CORRUPT. */
  load (): SignState | undefined {
    let bytes: Uint8Array
    try {
      bytes = readFileSync(this.path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw corrupt(this.path, (err as Error).message)
    }
    try {
      const t = readTuple(decodeCanonical(bytes, { maxBytes: 256, maxItems: 2, maxDepth: 1 }), 2, 'signStateFile')
      const body = t[0]
      if (!(body instanceof Uint8Array)) throw wrongShape('signStateFile.state', 'must be bytes')
      const checksum = readBytes(t[1], 'signStateFile.checksum', HASH_LENGTH)
      if (!equalBytes(sha256(body), checksum)) throw wrongShape('signStateFile.checksum', 'does not match the state')
      return decodeSignState(body)
    } catch (err) {
      throw corrupt(this.path, err instanceof MedchainError ? `${String(err.code)}: ${err.message}` : String(err))
    }
  }

  save (s: SignState): void {
    const body = encodeSignState(s)
    writeFileAtomic(this.path, encodeCanonical([body, sha256(body)]), { mode: 0o600 })
  }

}
