/**
 * Seeded simulations of validator governance on the real engine and block execution
 * (src/sim): ProposeValidator / Vote transactions signed by the simulated validators'
 * own keys, submitted to every running node's mempool from a script driven by the virtual clock
 * (no sleeps, no wall clock). Each test is named after a failure seen in other PoA/BFT chains: a
 * removal that leaves the chain unable to reach quorum, and removing the last validator.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runSimulation, type SimulationOptions, type SimulationResult } from '../../../src/sim/run.js'
import type { SimNode } from '../../../src/sim/simNode.js'
import type { Fault } from '../../../src/sim/faults.js'
import type { Chain } from '../../../src/chain/chain.js'
import { RESULT_OK, type Receipt } from '../../../src/types/receipt.js'
import { signTx, TxType, ValidatorAction, type Tx, type TxPayload } from '../../../src/types/tx.js'
import { validatorSetHash, type ValidatorSet } from '../../../src/types/validatorSet.js'
import { getProposal, getSenderNonce, LIVENESS_WINDOW, ProposalStatus, VALIDATOR_CHANGE_DELAY } from '../../../src/contracts/index.js'
import { StateView } from '../../../src/contracts/stateView.js'
import { equalBytes, toHex } from '../../../src/crypto/bytes.js'
import { assertAllHeld as assertInvariants, explain } from '../../utils/sim.js'

/** Every invariant held and no node reported an error. */
function assertAllHeld (r: SimulationResult): void {
  assertInvariants(r)
  assert.deepEqual(r.errors, [], explain(r))
}

/** A transaction signed by a simulated validator's own key, with its next account nonce on `chain`. */
function validatorTx (node: SimNode, chain: Chain, payload: TxPayload): Tx {
  const nonce = getSenderNonce(chain.stateView, node.signer.publicKey)
  assert.ok(nonce !== undefined, `validator ${node.id} is a registered identity`)
  return signTx({ chainId: chain.chainId, from: node.signer.publicKey, nonce, payload }, node.signer)
}

interface Landed { height: number, receipt: Receipt }

/**
 * A governance script on the virtual clock: every `everyMs` it sends the transactions still
 * waiting to every running node's mempool (as a hospital client would resend; a duplicate is
 * refused by the mempool and ignored), and once all of them have a receipt on `watch`'s chain it
 * calls `next` with the receipts, which returns the next batch (or nothing: the script ends).
 * `start` decides when the first batch goes out.
 */
type SetupContext = Parameters<NonNullable<SimulationOptions['setup']>>[0]

function governanceScript (ctx: SetupContext, opts: {
  watch: number
  everyMs?: number
  start: (chain: Chain) => Tx[] | undefined
  next: (chain: Chain, landed: Landed[]) => Promise<Tx[] | undefined>
}): void {
  const every = opts.everyMs ?? 250
  let pending: Tx[] | undefined
  const tick = async (): Promise<void> => {
    const chain = ctx.nodes[opts.watch]?.chain
    if (chain !== undefined) {
      if (pending === undefined) {
        pending = opts.start(chain)
      } else if (pending.length > 0) {
        const landed: Landed[] = []
        for (const tx of pending) {
          const found = await chain.getReceipt(tx.hash)
          if (found !== undefined) landed.push({ height: found.height, receipt: found.receipt })
        }
        if (landed.length === pending.length) pending = (await opts.next(chain, landed)) ?? []
      }
      for (const tx of pending ?? []) for (const node of ctx.nodes) if (node.isUp) node.submitTx(tx)
      if (pending !== undefined && pending.length === 0) return // done
    }
    ctx.env.scheduler.after(every, 'governance', tick)
  }
  ctx.env.scheduler.after(every, 'governance', tick)
}

function keysOf (set: ValidatorSet | undefined): string[] {
  return (set?.validators ?? []).map((v) => toHex(v.publicKey)).sort()
}

void describe('consensus simulation: validator governance', () => {
  it('a validator removed while another member is offline: a removal breaking quorum is refused, removing the offline one passes and applies at (passing height + 2) on every live node', async () => {
    const n = 4
    const offline = 3
    const faults: Fault[] = [{ kind: 'crash', node: offline, at: 2_000 }]
    let nodes: SimNode[] = []
    let proposeTooMuch: Tx | undefined
    let proposeOffline: Tx | undefined
    let votes: Tx[] = []
    let refused: Landed | undefined
    let opened: Landed | undefined
    let voted: Landed[] = []
    let offlineSince = 0
    const r = await runSimulation({
      validators: n,
      heights: 45,
      seed: 901,
      faults,
      setup: (ctx) => {
        nodes = ctx.nodes
        governanceScript(ctx, {
          watch: 0,
          // wait until validator 3 has signed no commit for more than LIVENESS_WINDOW blocks
          start: (chain) => {
            offlineSince = new StateView(chain.stateView).getLiveness().get(toHex((nodes[offline] as SimNode).signer.publicKey)) ?? 0
            if (chain.head.height < offlineSince + LIVENESS_WINDOW + 1) return undefined
            proposeTooMuch = validatorTx(nodes[0] as SimNode, chain, { type: TxType.ProposeValidator, action: ValidatorAction.Remove, validator: (nodes[2] as SimNode).signer.publicKey, power: 0 })
            return [proposeTooMuch]
          },
          next: async (chain, landed) => {
            if (refused === undefined) {
              refused = landed[0]
              proposeOffline = validatorTx(nodes[0] as SimNode, chain, { type: TxType.ProposeValidator, action: ValidatorAction.Remove, validator: (nodes[offline] as SimNode).signer.publicKey, power: 0 })
              return [proposeOffline]
            }
            if (opened === undefined) {
              opened = landed[0]
              const proposalId = (proposeOffline as Tx).hash
              votes = [1, 2].map((id) => validatorTx(nodes[id] as SimNode, chain, { type: TxType.Vote, proposalId, approve: true }))
              return votes
            }
            voted = landed
            return undefined
          }
        })
      }
    })
    assertAllHeld(r)

    // the removal of a live validator while validator 3 is offline: refused, nothing opened
    assert.ok(refused !== undefined && proposeTooMuch !== undefined, `the first removal was not committed: ${explain(r)}`)
    assert.equal(refused.receipt.code, 'GOV_REMOVAL_BREAKS_QUORUM', `receipt ${JSON.stringify(refused.receipt)}`)
    assert.ok(refused.height - offlineSince > LIVENESS_WINDOW, `validator 3 last seen at ${offlineSince}, the removal ran at ${refused.height}`)
    const chain0 = (nodes[0] as SimNode).chain as Chain
    assert.equal(getProposal(chain0.stateView, proposeTooMuch.hash), undefined, 'a refused removal opens no proposal')

    // the removal of the offline validator: opened, then passed by the votes of validators 1 and 2
    assert.ok(opened !== undefined && proposeOffline !== undefined, `the second removal was not committed: ${explain(r)}`)
    assert.equal(opened.receipt.code, RESULT_OK, `receipt ${JSON.stringify(opened.receipt)}`)
    assert.equal(voted.length, 2, `the votes were not committed: ${explain(r)}`)
    for (const v of voted) assert.equal(v.receipt.code, RESULT_OK, `vote receipt ${JSON.stringify(v.receipt)}`)
    const proposal = getProposal(chain0.stateView, proposeOffline.hash)
    assert.ok(proposal !== undefined)
    assert.equal(proposal.status, ProposalStatus.Passed)
    const passedAt = Math.max(...voted.map((v) => v.height))
    assert.equal(proposal.closedAt, passedAt, 'passed by the later of the two votes')
    const effective = passedAt + VALIDATOR_CHANGE_DELAY
    assert.equal(proposal.effectiveHeight, effective)
    const passedEvent = voted.flatMap((v) => v.receipt.events).find((e) => e.kind === 'proposal.passed')
    assert.deepEqual(passedEvent?.attributes.find(([k]) => k === 'effectiveHeight'), ['effectiveHeight', String(effective)])

    // every live node: the 4-validator set up to effective - 1, the 3-validator set from `effective` on
    const all = nodes.map((node) => toHex(node.signer.publicKey)).sort()
    const remaining = nodes.filter((node) => node.id !== offline).map((node) => toHex(node.signer.publicKey)).sort()
    for (const node of nodes.filter((x) => x.id !== offline)) {
      const chain = node.chain
      assert.ok(chain !== undefined && node.isUp)
      assert.ok(chain.head.height >= effective + 5, `node ${node.id} kept committing with 3 validators: head ${chain.head.height}, change at ${effective}; ${explain(r)}`)
      for (let h = 1; h <= chain.head.height; h++) {
        const set = await chain.validatorSetAt(h)
        assert.deepEqual(keysOf(set), h < effective ? all : remaining, `node ${node.id}, height ${h} (change at ${effective})`)
        const header = await chain.getHeader(h)
        assert.ok(header !== undefined && set !== undefined)
        assert.ok(equalBytes(header.validatorsHash, validatorSetHash(chain.chainId, set)), `node ${node.id}, height ${h}: header validatorsHash is the hash of that set`)
        const next = await chain.validatorSetAt(h + 1)
        if (h < chain.head.height && next !== undefined) assert.ok(equalBytes(header.nextValidatorsHash, validatorSetHash(chain.chainId, next)), `node ${node.id}, height ${h}: nextValidatorsHash`)
        if (h >= effective) {
          const cert = await chain.getCertificate(h)
          assert.ok(cert !== undefined)
          for (const sig of cert.signatures) assert.ok(remaining.includes(toHex(sig.validator)), `height ${h}: certificate signed by a removed validator`)
        }
      }
      assert.deepEqual(keysOf(chain.validatorSet), remaining)
    }
  })

  it('removal of the last validator refused: a single validator cannot remove itself, and the chain keeps committing', async () => {
    let nodes: SimNode[] = []
    let removeSelf: Tx | undefined
    let landed: Landed | undefined
    const r = await runSimulation({
      validators: 1,
      heights: 10,
      seed: 902,
      setup: (ctx) => {
        nodes = ctx.nodes
        governanceScript(ctx, {
          watch: 0,
          start: (chain) => {
            if (chain.head.height < 2) return undefined
            const self = nodes[0] as SimNode
            removeSelf = validatorTx(self, chain, { type: TxType.ProposeValidator, action: ValidatorAction.Remove, validator: self.signer.publicKey, power: 0 })
            return [removeSelf]
          },
          next: async (_chain, got) => { landed = got[0]; return undefined }
        })
      }
    })
    assertAllHeld(r)
    assert.ok(landed !== undefined && removeSelf !== undefined, `the removal was not committed: ${explain(r)}`)
    assert.equal(landed.receipt.code, 'GOV_LAST_VALIDATOR', `receipt ${JSON.stringify(landed.receipt)}`)
    const node = nodes[0] as SimNode
    const chain = node.chain as Chain
    assert.equal(getProposal(chain.stateView, removeSelf.hash), undefined, 'no proposal opened')
    assert.ok(chain.head.height >= landed.height + 3, `the chain kept committing after the refusal: head ${chain.head.height}, refused at ${landed.height}`)
    assert.ok(r.committed >= 10, explain(r))
    const self = [toHex(node.signer.publicKey)]
    for (let h = 1; h <= chain.head.height; h++) assert.deepEqual(keysOf(await chain.validatorSetAt(h)), self, `height ${h}`)
    assert.deepEqual(keysOf(chain.validatorSet), self)
  })
})
