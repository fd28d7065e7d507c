/**
 * Crash-safe file replacement, the one implementation every durable small file uses (config,
 * genesis, node key, sign-state, the validator's own signed messages): write `path.tmp`, fsync it,
 * rename it over `path`, fsync the directory. After a crash `path` holds the old or the new
 * content, whole; a leftover `path.tmp` is harmless and overwritten next time. (Liveness files
 * written at every vote use src/node/inPlaceFile.ts instead: no fsync, no rename.)
 */
import { chmodSync, closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'

export interface AtomicWriteOptions {
  /** File mode of the new file (e.g. 0o600 for keys). Default 0o644. */
  mode?: number
}

export function writeFileAtomic (path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): void {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data
  const tmp = `${path}.tmp`
  const mode = opts.mode ?? 0o644
  const fd = openSync(tmp, 'w', mode)
  try {
    let off = 0
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  chmodSync(tmp, mode) // the umask may have narrowed or the file existed with another mode
  renameSync(tmp, path)
  const dirFd = openSync(dirname(path), 'r')
  try {
    fsyncSync(dirFd)
  } finally {
    closeSync(dirFd)
  }
}
