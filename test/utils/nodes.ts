/** Helpers for tests that run real nodes in-process. */
import type { MedchainNode } from '../../src/node/node.js'

/** Resolves when the node's chain reaches `height` (on its 'block' events); rejects after `timeoutMs`. */
export async function waitForHeight (node: MedchainNode, height: number, timeoutMs = 30_000): Promise<void> {
  if (node.chain.head.height >= height) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      node.chain.off('block', onBlock)
      reject(new Error(`${node.config.moniker}: height ${height} not reached in ${timeoutMs} ms (at ${node.chain.head.height})`))
    }, timeoutMs)
    const onBlock = (): void => {
      if (node.chain.head.height >= height) { clearTimeout(timer); node.chain.off('block', onBlock); resolve() }
    }
    node.chain.on('block', onBlock)
  })
}
