import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { withTempDir } from '../../utils/tempDir.js'
import fc from 'fast-check'
import { CodecError, encodeCanonical } from '../../../src/types/codec.js'
import { ConsensusError } from '../../../src/types/consensusErrors.js'
import {
  checkCanSign, decodeSignState, encodeSignState, encodeSignStateSlot, SIGN_STATE_FILE_BYTES, SIGN_STATE_SLOT_BYTES,
  SignStateFile, signStateSlotOffset
} from '../../../src/consensus/signState.js'
import { sha256 } from '../../../src/crypto/hash.js'
import { Step, type SignState } from '../../../src/consensus/types.js'
import { bytes32 } from '../../utils/factories.js'

const SEED = 0x5157
const X = bytes32('block X')
const Y = bytes32('block Y')

const withDir = (fn: (dir: string) => void): void => { withTempDir('medchain-signstate-', fn) }

function expectCorrupt (fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConsensusError, `expected ConsensusError, got ${String(err)}`)
    assert.equal(err.code, 'SIGN_STATE_CORRUPT')
    assert.match(err.message, /do not delete it/)
    return true
  })
}

void describe('sign-state', () => {
  void it('encodes and decodes canonically (with and without a block hash)', () => {
    for (const s of [
      { height: 1, round: 0, step: Step.Propose, blockHash: X },
      { height: 9, round: 4, step: Step.Prevote },
      { height: Number.MAX_SAFE_INTEGER, round: 0xffffffff, step: Step.Precommit, blockHash: Y }
    ] as SignState[]) {
      assert.deepEqual(decodeSignState(encodeSignState(s)), s)
    }
    assert.throws(() => decodeSignState(new Uint8Array([0x95, 1, 0xd3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 4, 0xc4, 0])), CodecError) // step 4
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        decodeSignState(bytes)
      } catch (err) {
        if (!(err instanceof CodecError)) throw err
      }
    }), { seed: SEED, numRuns: 1000 })
  })

  void describe('checkCanSign', () => {
    const last: SignState = { height: 10, round: 2, step: Step.Prevote, blockHash: X }
    const table: Array<[string, SignState | undefined, SignState, boolean]> = [
      ['nothing signed yet', undefined, { height: 1, round: 0, step: Step.Propose, blockHash: Y }, true],
      ['same position, same block (re-broadcast)', last, { ...last }, true],
      ['same position, another block', last, { ...last, blockHash: Y }, false],
      ['same position, nil instead of a block', last, { height: 10, round: 2, step: Step.Prevote }, false],
      ['same position, nil again', { height: 10, round: 2, step: Step.Prevote }, { height: 10, round: 2, step: Step.Prevote }, true],
      ['same position, a block instead of nil', { height: 10, round: 2, step: Step.Prevote }, last, false],
      ['later step, another block', last, { height: 10, round: 2, step: Step.Precommit, blockHash: Y }, true],
      ['earlier step (propose after prevote)', last, { height: 10, round: 2, step: Step.Propose, blockHash: X }, false],
      ['later round, earlier step', last, { height: 10, round: 3, step: Step.Propose, blockHash: Y }, true],
      ['earlier round, later step', last, { height: 10, round: 1, step: Step.Precommit, blockHash: X }, false],
      ['later height, round 0', last, { height: 11, round: 0, step: Step.Propose, blockHash: Y }, true],
      ['earlier height, later round', last, { height: 9, round: 50, step: Step.Precommit, blockHash: X }, false]
    ]
    for (const [name, before, next, expected] of table) {
      void it(`${name} → ${expected ? 'may sign' : 'refused'}`, () => {
        assert.equal(checkCanSign(before, next), expected)
      })
    }
  })

  void describe('SignStateFile', () => {
    void it('load gives undefined before the first save, then what was saved last', () => {
      withDir((dir) => {
        const file = new SignStateFile(join(dir, 'sign_state'))
        assert.equal(file.load(), undefined)
        const a: SignState = { height: 3, round: 1, step: Step.Prevote, blockHash: X }
        const b: SignState = { height: 3, round: 1, step: Step.Precommit }
        file.save(a)
        assert.deepEqual(file.load(), a)
        file.save(b)
        assert.deepEqual(new SignStateFile(join(dir, 'sign_state')).load(), b)
        assert.equal(existsSync(join(dir, 'sign_state.tmp')), false, 'the temporary file is renamed away')
        assert.equal(statSync(join(dir, 'sign_state')).mode & 0o077, 0, 'owner-only permissions')
      })
    })

    void it('a torn .tmp left behind by a crash does not break load (nor the next save)', () => {
      withDir((dir) => {
        const path = join(dir, 'sign_state')
        const file = new SignStateFile(path)
        const saved: SignState = { height: 8, round: 0, step: Step.Precommit, blockHash: Y }
        file.save(saved)
        const full = readFileSync(path)
        writeFileSync(`${path}.tmp`, full.subarray(0, 7))
        assert.deepEqual(file.load(), saved)
        // first ever save torn: no main file yet → nothing was signed (the message is sent after the save)
        withDir((dir2) => {
          writeFileSync(join(dir2, 's.tmp'), full.subarray(0, 5))
          assert.equal(new SignStateFile(join(dir2, 's')).load(), undefined)
        })
        const next: SignState = { height: 9, round: 0, step: Step.Propose, blockHash: X }
        file.save(next)
        assert.deepEqual(file.load(), next)
      })
    })

    const states: SignState[] = [
      { height: 8, round: 0, step: Step.Propose, blockHash: X },
      { height: 8, round: 0, step: Step.Prevote, blockHash: X },
      { height: 8, round: 0, step: Step.Precommit },
      { height: 9, round: 2, step: Step.Prevote, blockHash: Y }
    ]

    void it('saves alternate between two slots of a file that keeps its size; the latest wins on load', () => {
      withDir((dir) => {
        const path = join(dir, 'sign_state')
        const file = new SignStateFile(path)
        for (const [i, state] of states.entries()) {
          file.save(state)
          const bytes = readFileSync(path)
          assert.equal(bytes.length, SIGN_STATE_FILE_BYTES)
          // save i+1 sits in its slot, byte for byte; the other slot still holds the save before it
          assert.deepEqual(new Uint8Array(bytes.subarray(signStateSlotOffset(i + 1), signStateSlotOffset(i + 1) + SIGN_STATE_SLOT_BYTES)), encodeSignStateSlot(i + 1, state))
          if (i > 0) assert.deepEqual(new Uint8Array(bytes.subarray(signStateSlotOffset(i), signStateSlotOffset(i) + SIGN_STATE_SLOT_BYTES)), encodeSignStateSlot(i, states[i - 1] as SignState))
          assert.deepEqual(new SignStateFile(path).load(), state)
        }
      })
    })

    /** A file after saving states[0] and states[1], and its bytes. */
    const twoSaves = (dir: string): { path: string, bytes: Buffer } => {
      const path = join(dir, 'sign_state')
      const file = new SignStateFile(path)
      file.save(states[0] as SignState)
      file.save(states[1] as SignState)
      return { path, bytes: readFileSync(path) }
    }

    void it('a save torn at any byte leaves the state before it (the message had not left); the next save overwrites the torn slot', () => {
      withDir((dir) => {
        const { path, bytes: before } = twoSaves(dir)
        const torn = encodeSignStateSlot(3, states[2] as SignState)
        const offset = signStateSlotOffset(3)
        // header 14 B, the state, its sha256: past those the slot is padding, and the save is whole
        const written = 14 + encodeSignState(states[2] as SignState).length + 32
        for (let cut = 0; cut <= written; cut++) {
          const bytes = new Uint8Array(before)
          bytes.set(torn.subarray(0, cut), offset)
          writeFileSync(path, bytes)
          assert.deepEqual(new SignStateFile(path).load(), cut < written ? states[1] : states[2], `torn after ${cut} bytes`)
        }
        // a torn last save, then a restart: the next save goes to the torn slot, never over states[1]
        writeFileSync(path, Buffer.concat([before.subarray(0, offset), torn.subarray(0, written - 1), before.subarray(offset + written - 1)]))
        const restarted = new SignStateFile(path)
        assert.deepEqual(restarted.load(), states[1])
        restarted.save(states[3] as SignState)
        const after = readFileSync(path)
        assert.deepEqual(new Uint8Array(after.subarray(offset, offset + SIGN_STATE_SLOT_BYTES)), encodeSignStateSlot(3, states[3] as SignState))
        assert.deepEqual(new Uint8Array(after.subarray(signStateSlotOffset(2), signStateSlotOffset(2) + SIGN_STATE_SLOT_BYTES)), encodeSignStateSlot(2, states[1] as SignState))
        assert.deepEqual(new SignStateFile(path).load(), states[3])
      })
    })

    void it('a file in the earlier format ([state, sha256]) is read, and the next save rewrites it in slots', () => {
      withDir((dir) => {
        const path = join(dir, 'sign_state')
        const body = encodeSignState(states[2] as SignState)
        writeFileSync(path, encodeCanonical([body, sha256(body)]))
        const file = new SignStateFile(path)
        assert.deepEqual(file.load(), states[2])
        file.save(states[3] as SignState)
        assert.equal(readFileSync(path).length, SIGN_STATE_FILE_BYTES)
        assert.equal(existsSync(`${path}.tmp`), false, 'rewritten by an atomic replace')
        assert.deepEqual(new SignStateFile(path).load(), states[3])
      })
    })

    void it('a save without a load first replaces the file whole, and stays readable', () => {
      withDir((dir) => {
        const path = join(dir, 'sign_state')
        new SignStateFile(path).save(states[0] as SignState)
        new SignStateFile(path).save(states[1] as SignState)
        assert.deepEqual(new SignStateFile(path).load(), states[1])
      })
    })

    void it('a file with no valid slot, of another size, or unreadable makes load throw SIGN_STATE_CORRUPT (never a silent fresh start)', () => {
      withDir((dir) => {
        const { path, bytes: good } = twoSaves(dir)
        const bothFlipped = new Uint8Array(good)
        for (const seq of [1, 2]) bothFlipped[signStateSlotOffset(seq) + 20] = (bothFlipped[signStateSlotOffset(seq) + 20] as number) ^ 1 // inside each state: checksum mismatch
        const legacyBody = encodeSignState(states[0] as SignState)
        const legacy = encodeCanonical([legacyBody, sha256(legacyBody)])
        const legacyFlipped = new Uint8Array(legacy)
        legacyFlipped[legacy.length - 40] = (legacyFlipped[legacy.length - 40] as number) ^ 1
        for (const bad of [
          bothFlipped, new Uint8Array(SIGN_STATE_FILE_BYTES), good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.of(0)]),
          legacy.subarray(0, legacy.length - 1), legacyFlipped, new Uint8Array(0), Buffer.from('not a sign state')
        ]) {
          writeFileSync(path, bad)
          expectCorrupt(() => new SignStateFile(path).load())
        }
        // one damaged slot is not corruption: the other one is read
        const oneFlipped = new Uint8Array(good)
        oneFlipped[signStateSlotOffset(2) + 20] = (oneFlipped[signStateSlotOffset(2) + 20] as number) ^ 1
        writeFileSync(path, oneFlipped)
        assert.deepEqual(new SignStateFile(path).load(), states[0])
        // a directory where the file should be: unreadable
        rmSync(path)
        const asDir = new SignStateFile(dir)
        expectCorrupt(() => asDir.load())
      })
    })
  })
})
