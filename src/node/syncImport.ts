/**
 * Block sync's import step for a host that brings its own transport (the consensus simulator,
 * src/sim, which may import src/node but not src/p2p): the node's `importCertifiedBlocks` from
 * src/p2p/sync.ts, the same code `syncFrom` runs.
 */
export { importCertifiedBlocks, type CertifiedBlock, type ImportCertifiedOptions, type ImportStop } from '../p2p/sync.js'
