/**
 * Write coalescing for libp2p's TCP sockets: every write in one turn of the event loop leaves in
 * one `writev` system call instead of one `write` each.
 *
 * `@libp2p/tcp` 11 hands every chunk of its send queue (noise frames, yamux headers and data) to
 * `socket.write` separately, and a write to an uncorked socket is a system call at once. On
 * loopback that call also runs the receiver's TCP stack, and a validator makes several small
 * writes per transaction. Corking a socket at its first write of a tick and uncorking it on
 * `process.nextTick` sends that tick's chunks together, with no timer and no added latency (the
 * tick ends before any I/O is polled), for less CPU per transaction and a lower p99 commit
 * latency in `bench:network` (figures in bench/RESULTS.md).
 *
 * The hook is libp2p's `connectionProtector` (meant for private networks): the upgrader hands it
 * every new connection, inbound and outbound, before encryption, and ours returns the same stream
 * after coalescing its socket's writes. It reaches the socket as `.socket` of the TCP transport's
 * connection object; should a libp2p upgrade rename that, nothing breaks but the speed-up, and the
 * host test that counts coalesced connections fails.
 */
import { Socket } from 'node:net'

const COALESCED = Symbol('medchain.coalescedWrites')

type Write = Socket['write']

/**
 * Makes the writes of one tick on `socket` go out together (cork at the first write, uncork on the
 * next tick). Patches this socket instance only; idempotent. Returns false for a destroyed socket.
 */
export function coalesceSocketWrites (socket: Socket): boolean {
  const marked = socket as Socket & { [COALESCED]?: true }
  if (marked[COALESCED] === true) return true
  if (socket.destroyed) return false
  marked[COALESCED] = true
  const write = socket.write as (...args: unknown[]) => boolean
  let corked = false
  const uncork = (): void => {
    corked = false
    socket.uncork()
  }
  const coalescingWrite = function (this: Socket, ...args: unknown[]): boolean {
    if (!corked && !socket.destroyed) {
      corked = true
      socket.cork()
      process.nextTick(uncork)
    }
    return write.apply(this, args)
  }
  socket.write = coalescingWrite as Write
  return true
}

/** The part of libp2p's ConnectionProtector this uses (the upgrader calls `protect` on every new connection). */
export interface WriteCoalescer {
  protect: <S>(connection: S) => Promise<S>
  /** Connections whose socket writes were coalesced so far. */
  readonly coalesced: number
}

/**
 * A libp2p `connectionProtector` that protects nothing: it coalesces the writes of each new TCP
 * connection's socket and hands the connection on unchanged.
 */
export function writeCoalescer (): WriteCoalescer {
  let coalesced = 0
  return {
    async protect<S>(connection: S): Promise<S> {
      const socket = (connection as { socket?: unknown }).socket
      if (socket instanceof Socket && coalesceSocketWrites(socket)) coalesced++
      return connection
    },
    get coalesced () { return coalesced }
  }
}
