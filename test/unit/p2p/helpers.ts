/**
 * Helpers of the p2p tests: node keys, peer configs and waiting for network events with a
 * deadline (never a fixed sleep).
 */
import { createHash } from 'node:crypto'
import type { EventEmitter } from 'node:events'
import { createSigner } from '../../../src/crypto/ed25519.js'
import { toHex } from '../../../src/crypto/bytes.js'
import type { PeerConfig } from '../../../src/p2p/peerConfig.js'

export interface TestNodeKey { seed: Uint8Array, publicKey: Uint8Array, hex: string }

/** A deterministic node key: seed = sha256('medchain-p2p-test/' + label). */
export function nodeKey (label: string): TestNodeKey {
  const seed = new Uint8Array(createHash('sha256').update(`medchain-p2p-test/${label}`).digest())
  const publicKey = createSigner(seed).publicKey
  return { seed, publicKey, hex: toHex(publicKey) }
}

export function peerConfig (name: string, key: TestNodeKey, address = ''): PeerConfig {
  return { name, publicKey: key.hex, address }
}

/** Resolves once `predicate()` is true; rejects with `what` after `timeoutMs`. Polls every 10 ms. */
export async function waitFor (predicate: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Resolves with the first `event` whose payload matches `filter`; rejects after `timeoutMs`. */
export async function waitForEvent<T> (emitter: EventEmitter, event: string, filter: (payload: T) => boolean, timeoutMs: number): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener)
      reject(new Error(`timed out after ${timeoutMs} ms waiting for event ${event}`))
    }, timeoutMs)
    const listener = (payload: T): void => {
      if (!filter(payload)) return
      clearTimeout(timer)
      emitter.off(event, listener)
      resolve(payload)
    }
    emitter.on(event, listener)
  })
}

/** Records every payload of `event` (to assert on later). */
export function record<T> (emitter: EventEmitter, event: string): T[] {
  const out: T[] = []
  emitter.on(event, (payload: T) => { out.push(payload) })
  return out
}
