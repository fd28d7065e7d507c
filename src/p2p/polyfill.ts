/**
 * `Promise.withResolvers` for Node 20.
 *
 * libp2p 3 and its helper packages (@libp2p/utils, it-*, p-event users) call
 * `Promise.withResolvers()`, which arrived in Node 22; on Node 20 a node dies with
 * `TypeError: Promise.withResolvers is not a function`. This module
 * installs the standard behaviour (ES2024, "Promise.withResolvers") when it is missing and does
 * nothing on runtimes that have it.
 *
 * It must be evaluated before any libp2p code runs: `host.ts` imports it first, and every other
 * entry point that touches libp2p goes through `host.ts`.
 *
 * REMOVE this file (and its import in host.ts) when the project moves to Node >= 22.
 */
interface WithResolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

type PromiseWithResolversCtor = PromiseConstructor & { withResolvers?: <T>() => WithResolvers<T> }

const ctor = Promise as PromiseWithResolversCtor
if (typeof ctor.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function withResolvers<T> (this: PromiseConstructor): WithResolvers<T> {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new this<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}

export {}
