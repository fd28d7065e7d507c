/**
 * Crash-safe file replacement, the one implementation every durable small file uses (config,
 * genesis, node key, sign-state, the validator's own signed messages): write `path.tmp`, fsync it,
 * rename it over `path`, fsync the directory. After a crash `path` holds the old or the new
 * content, whole; a leftover `path.tmp` is harmless and overwritten next time.
 */
import { chmodSync, closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs'
import { chmod, open, rename } from 'node:fs/promises'
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

/**
 * `writeFileAtomic` on the thread pool: the same steps and guarantees, but the event loop keeps
 * serving the network and RPC while the disk syncs (a validator writes its sign-state before
 * every vote; synchronous fsyncs held its event loop for about a tenth of the time under load).
 * The caller must not start two writes of the same path at once.
 */
export async function writeFileAtomicAsync (path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): Promise<void> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data
  const tmp = `${path}.tmp`
  const mode = opts.mode ?? 0o644
  const file = await open(tmp, 'w', mode)
  try {
    let off = 0
    while (off < bytes.length) off += (await file.write(bytes, off, bytes.length - off)).bytesWritten
    await file.sync()
  } finally {
    await file.close()
  }
  await chmod(tmp, mode)
  await rename(tmp, path)
  const dir = await open(dirname(path), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}
