/**
 * A small file rewritten in place, for the liveness data a validator writes at every vote: the
 * block it last signed for and the WAL of its own messages at the current height. Neither is
 * needed for safety (the durable sign-state is, src/consensus/signState.ts), so neither is synced.
 *
 * A write is one `pwrite` at offset 0 of a file that stays open: no rename, no unlink, no
 * truncation (except to shrink a file that once held something much larger), and the page cache is
 * flushed in the background. A rename over an existing file (or an unlink) would make ext4
 * (auto_da_alloc) start writing the new file back at once, on the thread that renames, which is the
 * thread that votes (figures in bench/RESULTS.md).
 *
 * Layout (big-endian): magic "MCIP" | body length u32 | body | sha256(magic | length | body).
 * Bytes after the frame (left by an earlier, longer body) are ignored. A reader gets the body of a
 * whole frame or nothing: a frame torn by a power loss, a file of any other format or a corrupt
 * one reads as missing, which costs the validator at most a round, never safety.
 */
import { closeSync, ftruncateSync, fstatSync, openSync, readFileSync, writeSync } from 'node:fs'
import { equalBytes } from '../crypto/bytes.js'
import { HASH_LENGTH, sha256 } from '../crypto/hash.js'

const MAGIC = new Uint8Array([0x4d, 0x43, 0x49, 0x50]) // "MCIP"
const HEADER_LENGTH = 8
/** A file at least this much larger than its frame (and past SHRINK_MIN_BYTES) is cut back to it. */
const SHRINK_FACTOR = 4
const SHRINK_MIN_BYTES = 64 * 1024

/** The frame of `body`: what `InPlaceFile.write` puts at offset 0. */
export function frameInPlace (body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH + body.length + HASH_LENGTH)
  out.set(MAGIC, 0)
  new DataView(out.buffer).setUint32(4, body.length)
  out.set(body, HEADER_LENGTH)
  out.set(sha256(out.subarray(0, HEADER_LENGTH + body.length)), HEADER_LENGTH + body.length)
  return out
}

/** The body of the frame at the start of `bytes`, or undefined when there is no whole, intact frame. */
export function unframeInPlace (bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length < HEADER_LENGTH + HASH_LENGTH || !equalBytes(bytes.subarray(0, 4), MAGIC)) return undefined
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4)
  const end = HEADER_LENGTH + length
  if (end + HASH_LENGTH > bytes.length) return undefined
  if (!equalBytes(sha256(bytes.subarray(0, end)), bytes.subarray(end, end + HASH_LENGTH))) return undefined
  return bytes.slice(HEADER_LENGTH, end)
}

export class InPlaceFile {
  private fd: number | undefined
  private size = -1

  /** `mode` applies when the file is created (0o600: a validator's messages are its own business). */
  constructor (readonly path: string, private readonly mode = 0o600) {}

  /** The last body written, or undefined (no file, or no intact frame in it). */
  read (): Uint8Array | undefined {
    let bytes: Uint8Array
    try {
      bytes = new Uint8Array(readFileSync(this.path))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    return unframeInPlace(bytes)
  }

  /** Replaces the body: one write at offset 0 of the open file, no sync. */
  write (body: Uint8Array): void {
    const frame = frameInPlace(body)
    const fd = this.open()
    let off = 0
    while (off < frame.length) off += writeSync(fd, frame, off, frame.length - off, off)
    if (frame.length > this.size) this.size = frame.length
    else if (this.size > SHRINK_MIN_BYTES && this.size > SHRINK_FACTOR * frame.length) {
      ftruncateSync(fd, frame.length)
      this.size = frame.length
    }
  }

  /** Closes the file (a later write opens it again). */
  close (): void {
    if (this.fd === undefined) return
    closeSync(this.fd)
    this.fd = undefined
  }

  private open (): number {
    if (this.fd !== undefined) return this.fd
    let fd: number
    try {
      fd = openSync(this.path, 'r+')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      fd = openSync(this.path, 'w+', this.mode)
    }
    this.size = fstatSync(fd).size
    this.fd = fd
    return fd
  }
}
