/**
 * Crash-safe signing: the last (height, round, step, block hash) this validator signed.
 *
 * Rule (`checkCanSign`): never sign at a (height, round, step) lower than the last signed one; at the
 * same (height, round, step) sign only the same block hash (or nil again), which re-creates the
 * identical message (ed25519 signatures are deterministic). Steps order Propose < Prevote < Precommit.
 *
 * Wire: [version u32, height u64, round u32, step u32, blockHash bytes(0|32)]
 * File: two 512-byte slots written in place (see `SignStateFile`); files of the earlier format,
 * [state bytes, sha256(state bytes)], are still read and rewritten in slots by the next save.
 */
import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs'
import { replaceFileAtomic } from '../util/atomicFile.js'
import { equalBytes } from '../crypto/bytes.js'
import { HASH_LENGTH, sha256 } from '../crypto/hash.js'
import {
  decodeCanonical, encodeCanonical, readBytes, readOptionalBytes, readTuple, readU32, readU64, u64, wrongShape, EMPTY_BYTES
} from '../types/codec.js'
import { MedchainError } from '../util/errors.js'
import { ConsensusError } from '../types/consensusErrors.js'
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

/** Size of one slot, and the slot file: two slots back to back. */
export const SIGN_STATE_SLOT_BYTES = 512
export const SIGN_STATE_FILE_BYTES = 2 * SIGN_STATE_SLOT_BYTES
/** "MCSS": the first bytes of a written slot. */
const SLOT_MAGIC = Uint8Array.of(0x4d, 0x43, 0x53, 0x53)
/** magic 4 B | sequence u64 big-endian | body length u16 big-endian */
const SLOT_HEADER_BYTES = 4 + 8 + 2
const MAX_BODY_BYTES = SIGN_STATE_SLOT_BYTES - SLOT_HEADER_BYTES - HASH_LENGTH

/** Where save number `seq` goes: the slots alternate, so a save never overwrites the latest state. */
export function signStateSlotOffset (seq: number): number {
  return (seq % 2) * SIGN_STATE_SLOT_BYTES
}

/** One slot's bytes: header, the encoded state, sha256 of header and state, zero padding. */
export function encodeSignStateSlot (seq: number, s: SignState): Uint8Array {
  const body = encodeSignState(s)
  const slot = new Uint8Array(SIGN_STATE_SLOT_BYTES)
  const view = new DataView(slot.buffer)
  slot.set(SLOT_MAGIC, 0)
  view.setBigUint64(4, BigInt(seq))
  view.setUint16(12, body.length)
  slot.set(body, SLOT_HEADER_BYTES)
  const end = SLOT_HEADER_BYTES + body.length
  slot.set(sha256(slot.subarray(0, end)), end)
  return slot
}

/** The slot's sequence number and state, or undefined when it is empty, torn or damaged. */
function decodeSlot (slot: Uint8Array): { seq: number, state: SignState } | undefined {
  if (!equalBytes(slot.subarray(0, 4), SLOT_MAGIC)) return undefined
  const view = new DataView(slot.buffer, slot.byteOffset, slot.length)
  const seq = view.getBigUint64(4)
  const length = view.getUint16(12)
  if (length > MAX_BODY_BYTES || seq > BigInt(Number.MAX_SAFE_INTEGER)) return undefined
  const end = SLOT_HEADER_BYTES + length
  if (!equalBytes(sha256(slot.subarray(0, end)), slot.subarray(end, end + HASH_LENGTH))) return undefined
  try {
    return { seq: Number(seq), state: decodeSignState(slot.subarray(SLOT_HEADER_BYTES, end)) }
  } catch {
    return undefined
  }
}

/**
 * The sign-state on disk, saved before every signed message leaves the validator (so its cost is
 * on the path of every vote).
 *
 * The file holds two 512-byte slots. Save n writes slot n mod 2 in place and `fdatasync`s it: the
 * file keeps its size, so no metadata (no rename, no directory) has to reach the disk, which makes
 * a save much cheaper than a temp-file-and-rename one (figures in bench/RESULTS.md).
 * Crash safety: a save never touches the slot that holds the latest state, and each slot carries a
 * sequence number and a sha256. A crash in the middle of a save leaves that slot torn (checksum
 * mismatch) and `load` returns the other slot: the state before the save, which is the truth,
 * because the message is sent only after `save` returned. The file itself is created, whole, by
 * an atomic replace (src/util/atomicFile.ts), also when a file of the earlier format is upgraded.
 *
 * `load` refuses (SIGN_STATE_CORRUPT) a file in which no slot is valid, of another size, or
 * unreadable: never a silent fresh start.
 */
export class SignStateFile {
  /** Sequence number of the latest saved state; undefined until the file exists in slot format. */
  private seq: number | undefined

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
    if (bytes.length === SIGN_STATE_FILE_BYTES) {
      const slots = [decodeSlot(bytes.subarray(0, SIGN_STATE_SLOT_BYTES)), decodeSlot(bytes.subarray(SIGN_STATE_SLOT_BYTES))]
      const latest = slots.reduce((a, b) => (b !== undefined && (a === undefined || b.seq > a.seq) ? b : a), undefined)
      if (latest === undefined) throw corrupt(this.path, 'neither slot holds a valid sign-state')
      this.seq = latest.seq
      return latest.state
    }
    this.seq = undefined // the earlier format: the next save rewrites the whole file
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

  /**
   * Persists `s` (synchronously, durable on return). Call `load` first on an existing file, as the
   * node does at start: the sequence number continues from the latest slot.
   */
  save (s: SignState): void {
    if (this.seq === undefined) {
      // first save of a new file, or of a file in the earlier format: create it whole
      const file = new Uint8Array(SIGN_STATE_FILE_BYTES)
      file.set(encodeSignStateSlot(1, s), signStateSlotOffset(1))
      replaceFileAtomic(this.path, file, { mode: 0o600 })
      this.seq = 1
      return
    }
    const seq = this.seq + 1
    const fd = openSync(this.path, 'r+')
    try {
      const slot = encodeSignStateSlot(seq, s)
      let off = 0
      while (off < slot.length) off += writeSync(fd, slot, off, slot.length - off, signStateSlotOffset(seq) + off)
      fdatasyncSync(fd)
    } finally {
      closeSync(fd)
    }
    this.seq = seq
  }
}
