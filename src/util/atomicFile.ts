/**
 * Crash-safe replacement of a small file, for files that must survive a power loss whole: write
 * `path.tmp`, fsync it, rename it over `path`, fsync the directory. After a crash `path` holds the
 * old or the new content, whole; a leftover `path.tmp` is harmless and overwritten next time. An
 * existing `path` is replaced without a question (src/node/config.ts's `writeNewFileAtomic` is the
 * variant that refuses to). Each call costs two fsyncs and a rename, so files rewritten at every
 * vote use src/node/inPlaceFile.ts instead.
 */
import { chmodSync, closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'

export interface AtomicWriteOptions {
  /** File mode of the new file (e.g. 0o600 for keys). Default 0o644. */
  mode?: number
}

/** Replaces `path` with `data` (a string is written as UTF-8), crash-safely; `path`'s folder must exist. */
export function replaceFileAtomic (path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): void {
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
