/**
 * One configured peer, as `config.json`'s `p2p.peers` lists it (parsed by src/node/config.ts):
 * the only nodes this node dials and accepts.
 */
export interface PeerConfig {
  /** A name for logs. */
  name: string
  /** The peer's node key (hex): its libp2p peer id derives from it. */
  publicKey: string
  /** Multiaddr to dial, e.g. /ip4/127.0.0.1/tcp/26656. */
  address: string
}
