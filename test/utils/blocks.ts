/**
 * A block for tests that only need its shape and hash (the own-messages WAL, the action executor):
 * `label` fills its txRoot and stateRoot, so blocks with different labels have different hashes.
 */
import { EMPTY_COMMIT, ZERO_HASH, type Block } from '../../src/types/block.js'
import { bytes32, GENESIS_TIME, TEST_CHAIN_ID } from './factories.js'

export function labelledBlock (height: number, label: string, proposer: Uint8Array): Block {
  const h = bytes32(label)
  return {
    header: { version: 1, chainId: TEST_CHAIN_ID, height, timestamp: GENESIS_TIME + height, prevHash: ZERO_HASH, txRoot: h, stateRoot: h, resultsRoot: ZERO_HASH, validatorsHash: ZERO_HASH, nextValidatorsHash: ZERO_HASH, proposer, lastCommitHash: ZERO_HASH },
    txs: [],
    lastCommit: EMPTY_COMMIT
  }
}
