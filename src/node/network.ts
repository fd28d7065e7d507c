/**
 * The node's network: the libp2p host of src/p2p adapted to what the node needs (NodeNetwork).
 * Peers admitted: the configured ones plus every validator in the current state.
 */
import { findValidator } from '../types/validatorSet.js'
import { createP2pHost, type P2pHost } from '../p2p/host.js'
import { P2pError } from '../p2p/errors.js'
import { ConsensusError } from '../types/consensusErrors.js'
import { toHex } from '../crypto/bytes.js'
import type { NetworkFactory, NetworkFactoryArgs, NodeNetwork } from './node.js'

export const libp2pNetwork: NetworkFactory = async (args) => await startLibp2pNetwork(args)

/**
 * Test hook: `libp2pNetwork`, plus `onHost` called with each started host before the node uses it
 * (e.g. to observe every gossip message on `host.libp2p.services.pubsub`, as
 * test/e2e/privacy.test.ts does). Nodes in production use `libp2pNetwork`.
 */
export function observedLibp2pNetwork (onHost: (host: P2pHost) => void): NetworkFactory {
  return async (args) => await startLibp2pNetwork(args, onHost)
}

async function startLibp2pNetwork (args: NetworkFactoryArgs, onHost?: (host: P2pHost) => void): Promise<NodeNetwork> {
  const { chain, config, logger } = args
  const host = await createP2pHost({
    chainId: args.genesis.chainId,
    nodeKey: args.nodeSecret,
    listen: config.p2p.listen,
    peers: config.p2p.peers,
    isAllowed: (key) => findValidator(chain.validatorSet, key) !== undefined,
    syncSource: chain,
    ...(args.blobStore !== undefined ? { blobStore: args.blobStore } : {}),
    handlers: {
      checkTx: (input) => args.checkTx(input),
      // relay only what could matter: votes and proposals of validators, for the last committed
      // height (catch-up) or later; anything else is ignored (not forwarded, no penalty)
      checkConsensusMessage: (message) => {
        const signer = message.kind === 'vote' ? message.vote.validator : message.proposal.proposer
        const height = message.kind === 'vote' ? message.vote.height : message.proposal.height
        if (findValidator(chain.validatorSet, signer) === undefined && findValidator(chain.headValidators, signer) === undefined) {
          throw new ConsensusError({ code: 'MSG_NOT_VALIDATOR', signer: toHex(signer) }, 'The consensus message is not signed by a validator.')
        }
        if (height < chain.head.height) throw new P2pError({ code: 'GOSSIP_STALE', reason: `height ${height}` }, `The consensus message is for height ${height}, already committed.`)
      },
      onConsensusMessage: (message) => { args.onConsensusMessage(message) }
    }
  })
  onHost?.(host)
  host.on('peer:connect', (peer) => { logger.info({ peer }, 'peer connected') })
  host.on('peer:disconnect', (peer) => { logger.info({ peer }, 'peer disconnected') })
  return {
    publishConsensus: (message) => {
      host.publishConsensusMessage(message).catch((err: unknown) => { logger.warn({ code: (err as P2pError).code ?? String(err) }, 'could not gossip a consensus message') })
    },
    publishTxs: (txs) => {
      host.publishTxs(txs).catch((err: unknown) => { logger.warn({ code: (err as P2pError).code ?? String(err) }, 'could not gossip transactions') })
    },
    syncFrom: async (fromHeight) => {
      // ask every connected peer for its head (at once: one stalled peer must not hold up the rest)
      // and sync from the highest one ahead of us
      let best: { peer: string, height: number } | undefined
      const peers = host.connectedPeers()
      const answers = await Promise.allSettled(peers.map(async (peer) => await host.status(peer)))
      answers.forEach((answer, i) => {
        if (answer.status !== 'fulfilled') return // that peer cannot answer now
        const height = answer.value.height
        if (height >= fromHeight && (best === undefined || height > best.height)) best = { peer: peers[i] as string, height }
      })
      if (best === undefined) return chain.head.height
      const result = await host.syncFrom(best.peer, chain)
      return result.height
    },
    peers: () => host.connectedPeers(),
    refreshAllowlist: async () => { await host.refreshAllowlist() },
    fetchBlob: async (hash, maxBytes) => args.blobStore !== undefined && (await host.fetchBlob(hash, maxBytes)) !== undefined,
    stop: async () => { await host.stop() }
  }
}
