import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { WebSocketServer, type WebSocket } from 'ws'
import { CommitWatcher, subscribeNewHeads } from '../../../bench/commitWatcher.js'

/** A block's tx hashes in these tests: `h<height>-<i>`. */
const txsOf = (height: number, n = 2): string[] => Array.from({ length: n }, (_, i) => `h${height}-${i}`)

interface Resolvers<T> { promise: Promise<T>, resolve: (v: T) => void, reject: (e: unknown) => void }
function withResolvers<T> (): Resolvers<T> {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

/** A fake node: a clock the test moves, and block fetches the test answers one by one. */
function fixture (start: number): { watcher: CommitWatcher, clock: { t: number }, fetched: number[], answer: (height: number) => void } {
  const clock = { t: 0 }
  const fetched: number[] = []
  const pending = new Map<number, Resolvers<string[]>>()
  const watcher = new CommitWatcher(start, async (height) => {
    fetched.push(height)
    const r = withResolvers<string[]>()
    pending.set(height, r)
    return await r.promise
  }, () => clock.t)
  const answer = (height: number): void => { pending.get(height)?.resolve(txsOf(height)) }
  return { watcher, clock, fetched, answer }
}

const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r)) }

void describe('CommitWatcher', () => {
  void it('stamps each block\'s transactions with the time of its announcement, not of its (later) fetch', async () => {
    const { watcher, clock, answer } = fixture(5)
    clock.t = 100; watcher.announce(6)
    clock.t = 200; watcher.announce(7)
    clock.t = 900 // the fetches answer long after the announcements
    answer(6); await flush(); answer(7); await flush()
    assert.equal(watcher.mapped, 7)
    assert.equal(watcher.committedAt.get('h6-0'), 100)
    assert.equal(watcher.committedAt.get('h6-1'), 100)
    assert.equal(watcher.committedAt.get('h7-0'), 200)
  })

  void it('fetches every height once and in order, even when announcements arrive during a fetch', async () => {
    const { watcher, clock, fetched, answer } = fixture(0)
    clock.t = 10; watcher.announce(1)
    clock.t = 20; watcher.announce(2)
    watcher.announce(2) // repeated: keeps the first time, no second fetch
    await flush()
    assert.deepEqual(fetched, [1])
    answer(1); await flush()
    clock.t = 30; watcher.announce(3)
    answer(2); await flush(); answer(3); await flush()
    assert.deepEqual(fetched, [1, 2, 3])
    assert.deepEqual([1, 2, 3].map((h) => watcher.committedAt.get(`h${h}-0`)), [10, 20, 30])
  })

  void it('a block whose announcement was missed gets the next later announcement\'s time (never an earlier one)', async () => {
    const { watcher, clock, answer } = fixture(5)
    clock.t = 100; watcher.announce(6)
    clock.t = 300; watcher.announce(8) // 7 was never announced
    for (const h of [6, 7, 8]) { await flush(); answer(h) }
    await flush()
    assert.equal(watcher.committedAt.get('h6-0'), 100)
    assert.equal(watcher.committedAt.get('h7-0'), 300)
    assert.equal(watcher.committedAt.get('h8-0'), 300)
  })

  void it('ignores announcements at or below the start height', async () => {
    const { watcher, fetched } = fixture(5)
    watcher.announce(5)
    watcher.announce(3)
    await flush()
    assert.deepEqual(fetched, [])
    assert.equal(watcher.mapped, 5)
  })

  void it('catchUp resolves once the head is mapped, stamping unannounced blocks with the time of the call', async () => {
    const { watcher, clock, answer } = fixture(5)
    clock.t = 50
    let done = false
    const caught = watcher.catchUp(7).then(() => { done = true })
    await flush(); answer(6); await flush()
    assert.equal(done, false, 'not before block 7 is mapped')
    answer(7); await caught
    assert.equal(watcher.committedAt.get('h6-0'), 50)
    assert.equal(watcher.committedAt.get('h7-1'), 50)
    await watcher.catchUp(6) // already mapped: at once
  })

  void it('a failed fetch rejects catchUp with its error and stops the mapping', async () => {
    const watcher = new CommitWatcher(0, async () => { throw new Error('node0 is gone') }, () => 0)
    await assert.rejects(watcher.catchUp(2), /node0 is gone/)
    await assert.rejects(watcher.catchUp(3), /node0 is gone/)
    assert.equal(watcher.mapped, 0)
  })
})

void describe('subscribeNewHeads', () => {
  /** A stand-in node0: answers chain_subscribe (or refuses it) and pushes the heads the test sends. */
  async function fakeNode (answer: 'confirm' | 'refuse' | 'hang up' = 'confirm'): Promise<{ url: string, push: (height: number) => void, drop: () => void, close: () => Promise<void> }> {
    const server = createServer()
    const wss = new WebSocketServer({ server, path: '/ws' })
    let client: WebSocket | undefined
    wss.on('connection', (ws) => {
      client = ws
      ws.on('message', (data: Buffer) => {
        const req = JSON.parse(data.toString('utf8')) as { id: number, method: string }
        if (answer === 'hang up') { ws.terminate(); return }
        ws.send(JSON.stringify(answer === 'refuse'
          ? { jsonrpc: '2.0', id: req.id, error: { code: -32601, message: 'no such method' } }
          : { jsonrpc: '2.0', id: req.id, result: 'sub-1' }))
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    return {
      url: `ws://127.0.0.1:${port}/ws`,
      push: (height) => client?.send(JSON.stringify({ jsonrpc: '2.0', method: 'chain_subscription', params: { subscription: 'sub-1', result: { height, hash: 'ab', timestamp: 1 } } })),
      drop: () => client?.terminate(),
      close: async () => { for (const c of wss.clients) c.terminate(); wss.close(); await new Promise((r) => server.close(r)) }
    }
  }

  void it('passes each pushed height to onHead, and reports a connection that drops', async () => {
    const node = await fakeNode()
    const heights: number[] = []
    const lost = withResolvers<string>()
    const got3 = withResolvers<void>()
    const sub = await subscribeNewHeads(node.url, (h) => { heights.push(h); if (h === 3) got3.resolve() }, (reason) => { lost.resolve(reason) })
    node.push(2); node.push(3)
    await got3.promise
    assert.deepEqual(heights, [2, 3])
    node.drop()
    assert.match(await lost.promise, /closed/)
    await sub.close()
    await node.close()
  })

  void it('a refused subscription is an error, and close() is not reported as a loss', async () => {
    const refusing = await fakeNode('refuse')
    await assert.rejects(subscribeNewHeads(refusing.url, () => undefined, () => undefined), /chain_subscribe was refused: no such method/)
    await refusing.close()

    const node = await fakeNode()
    let lost = false
    const sub = await subscribeNewHeads(node.url, () => undefined, () => { lost = true })
    await sub.close() // resolves after the socket's 'close', whose handler has run by then
    assert.equal(lost, false)
    await node.close()
  })

  void it('a node that hangs up before answering chain_subscribe is an error, not a wait forever', async () => {
    const node = await fakeNode('hang up')
    await assert.rejects(subscribeNewHeads(node.url, () => undefined, () => undefined), /closed before chain_subscribe was answered/)
    await node.close()
  })

  void it('an address with nothing listening is a clear error', async () => {
    const node = await fakeNode()
    const url = node.url
    await node.close()
    await assert.rejects(subscribeNewHeads(url, () => undefined, () => undefined), /cannot open ws:\/\/127\.0\.0\.1:\d+\/ws/)
  })
})
