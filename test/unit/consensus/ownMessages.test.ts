import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Block } from '../../../src/types/block.js'
import { signProposal, type ConsensusMessage } from '../../../src/types/consensusMessage.js'
import { keepOwnMessages } from '../../../src/consensus/wal.js'
import { signVote, VoteType } from '../../../src/types/vote.js'
import { makeKeys, TEST_CHAIN_ID } from '../../utils/factories.js'
import { labelledBlock } from '../../utils/blocks.js'

const me = makeKeys('own-messages/validator')

const block = (height: number, label: string): Block => labelledBlock(height, label, me.publicKey)

const vote = (height: number, round: number, type: VoteType): ConsensusMessage =>
  ({ kind: 'vote', vote: signVote({ chainId: TEST_CHAIN_ID, type, height, round, validator: me.publicKey }, me) })
const proposal = (height: number, round: number): ConsensusMessage =>
  ({ kind: 'proposal', proposal: signProposal({ chainId: TEST_CHAIN_ID, height, round, polRound: -1, block: block(height, `b${height}/${round}`), proposer: me.publicKey }, me) })
const label = (m: ConsensusMessage): string => m.kind === 'vote' ? `h${m.vote.height} r${m.vote.round} ${m.vote.type === VoteType.Prevote ? 'prevote' : 'precommit'}` : `h${m.proposal.height} r${m.proposal.round} proposal`

void describe('own messages WAL (keepOwnMessages)', () => {
  void it('keeps every vote of the height and only the latest proposal; drops other heights', () => {
    let kept: ConsensusMessage[] = []
    const signed = [vote(4, 3, VoteType.Precommit), proposal(5, 0), vote(5, 0, VoteType.Prevote), vote(5, 0, VoteType.Precommit), vote(5, 1, VoteType.Prevote), proposal(5, 4), vote(5, 4, VoteType.Prevote)]
    for (const m of signed) kept = keepOwnMessages(kept, m, m.kind === 'vote' ? m.vote.height : m.proposal.height)
    assert.deepEqual(kept.map(label), ['h5 r0 prevote', 'h5 r0 precommit', 'h5 r1 prevote', 'h5 r4 proposal', 'h5 r4 prevote'])
  })

  void it('a stall of many rounds keeps one block, not one per proposing round', () => {
    let kept: ConsensusMessage[] = []
    for (let round = 0; round < 200; round++) {
      if (round % 4 === 0) kept = keepOwnMessages(kept, proposal(9, round), 9)
      kept = keepOwnMessages(kept, vote(9, round, VoteType.Prevote), 9)
    }
    assert.equal(kept.filter((m) => m.kind === 'proposal').length, 1)
    assert.equal(kept.length, 201)
  })
})
