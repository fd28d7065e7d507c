import { describe, it, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, connect, Socket, type Server } from 'node:net'
import { coalesceSocketWrites, writeCoalescer } from '../../../src/p2p/coalesce.js'
import { waitFor } from './helpers.js'

/** Counts how the socket's Writable hands data to libuv: `_write` (one chunk) or `_writev` (several). */
function spyWrites (socket: Socket): { single: number, vectored: number[] } {
  const counts = { single: 0, vectored: [] as number[] }
  const s = socket as unknown as { _write: (...a: unknown[]) => void, _writev: (chunks: unknown[], cb: unknown) => void }
  const write = s._write.bind(socket)
  const writev = s._writev.bind(socket)
  s._write = (...a) => { counts.single++; write(...a) }
  s._writev = (chunks, cb) => { counts.vectored.push(chunks.length); writev(chunks, cb) }
  return counts
}

describe('write coalescing of libp2p TCP sockets (p2p/coalesce.ts)', () => {
  let server: Server
  const received: Buffer[] = []
  let port = 0

  before(async () => {
    server = createServer((sock) => { sock.on('data', (d: Buffer) => received.push(d)) })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as { port: number }).port
  })
  after(async () => {
    for (const s of sockets) s.destroy()
    server.close()
    await once(server, 'close')
  })

  const sockets: Socket[] = []
  const dial = async (): Promise<Socket> => {
    const socket = connect(port, '127.0.0.1')
    sockets.push(socket)
    await once(socket, 'connect')
    return socket
  }
  const bytesReceived = (): number => received.reduce((n, b) => n + b.length, 0)

  it('sends the writes of one tick in one writev, in order, and later ticks too', async () => {
    received.length = 0
    const socket = await dial()
    assert.equal(coalesceSocketWrites(socket), true)
    const spy = spyWrites(socket)
    const chunks = ['alpha-', 'beta-', 'gamma-', 'delta'].map((t) => Buffer.from(t))
    for (const c of chunks) socket.write(c)
    assert.deepEqual(spy, { single: 0, vectored: [] }, 'nothing leaves before the tick ends')
    await waitFor(() => bytesReceived() === 22, 2000, 'first tick delivered')
    assert.deepEqual(spy.vectored, [4])
    assert.equal(spy.single, 0)
    // the next tick: corked and uncorked again (a socket left corked would never deliver this)
    socket.write(Buffer.from('-epsilon'))
    await waitFor(() => bytesReceived() === 30, 2000, 'second tick delivered')
    assert.equal(Buffer.concat(received).toString(), 'alpha-beta-gamma-delta-epsilon')
    socket.destroy()
  })

  it('without it, every write is its own system call (what libp2p\'s TCP transport does)', async () => {
    received.length = 0
    const socket = await dial()
    const spy = spyWrites(socket)
    for (const c of ['a', 'b', 'c']) socket.write(c)
    await waitFor(() => bytesReceived() === 3, 2000, 'delivered')
    assert.deepEqual(spy, { single: 3, vectored: [] })
    socket.destroy()
  })

  it('is idempotent, refuses a destroyed socket, and a write after destroy still errors normally', async () => {
    const socket = await dial()
    assert.equal(coalesceSocketWrites(socket), true)
    const patched = socket.write
    assert.equal(coalesceSocketWrites(socket), true)
    assert.equal(socket.write, patched, 'patched once')
    socket.destroy()
    await once(socket, 'close')
    assert.equal(coalesceSocketWrites(new Socket().destroy()), false)
    const errors: unknown[] = []
    socket.on('error', (e) => errors.push(e))
    socket.write('late', (err) => errors.push(err))
    await waitFor(() => errors.length > 0, 2000, 'write-after-destroy error')
    assert.match(String(errors[0]), /destroyed|EPIPE|write after end/i)
  })

  it('the connection protector coalesces a connection that has a TCP socket, passes anything else through', async () => {
    const coalescer = writeCoalescer()
    const socket = await dial()
    const conn = { socket, other: 1 }
    assert.equal(await coalescer.protect(conn), conn)
    assert.equal(coalescer.coalesced, 1)
    const notTcp = { socket: 'not a socket' }
    assert.equal(await coalescer.protect(notTcp), notTcp)
    const plain = {}
    assert.equal(await coalescer.protect(plain), plain)
    assert.equal(coalescer.coalesced, 1, 'only the TCP connection')
    socket.destroy()
  })
})
