import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { CodecError } from '../../../src/chain/codec.js'
import { ConsensusError } from '../../../src/consensus/errors.js'
import { checkCanSign, decodeSignState, encodeSignState, SignStateFile } from '../../../src/consensus/signState.js'
import { Step, type SignState } from '../../../src/consensus/types.js'
import { bytes32 } from '../../utils/factories.js'

const SEED = 0x5157
const X = bytes32('block X')
const Y = bytes32('block Y')

function withDir (fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'medchain-signstate-'))
  try {
    fn(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

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

    void it('a corrupt main file makes load throw SIGN_STATE_CORRUPT (never a silent fresh start)', () => {
      withDir((dir) => {
        const path = join(dir, 'sign_state')
        const file = new SignStateFile(path)
        file.save({ height: 8, round: 0, step: Step.Precommit, blockHash: Y })
        const good = readFileSync(path)
        const flipped = new Uint8Array(good)
        flipped[good.length - 40] = (flipped[good.length - 40] as number) ^ 1 // inside the state bytes: checksum mismatch
        for (const bad of [good.subarray(0, good.length - 1), flipped, new Uint8Array(0), Buffer.from('not a sign state')]) {
          writeFileSync(path, bad)
          expectCorrupt(() => file.load())
        }
        // a directory where the file should be: unreadable
        rmSync(path)
        const asDir = new SignStateFile(dir)
        expectCorrupt(() => asDir.load())
      })
    })
  })
})
