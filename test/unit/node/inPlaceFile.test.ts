import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { withTempDir } from '../../utils/tempDir.js'
import { frameInPlace, InPlaceFile, unframeInPlace } from '../../../src/node/inPlaceFile.js'
import { decodeOwnMessages, encodeOwnMessages } from '../../../src/consensus/wal.js'
import { ConsensusError } from '../../../src/types/consensusErrors.js'
import { signVote, VoteType } from '../../../src/types/vote.js'
import type { ConsensusMessage } from '../../../src/types/consensusMessage.js'
import { createSigner } from '../../../src/crypto/ed25519.js'
import { TEST_CHAIN_ID } from '../../utils/factories.js'

const withDir = (fn: (dir: string) => void): void => { withTempDir('medchain-inplace-', fn) }
const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)

describe('InPlaceFile (liveness files rewritten in place)', () => {
  it('reads nothing before the first write; then the last body written, also after a shorter one over a longer one', () => {
    withDir((dir) => {
      const path = join(dir, 'f.bin')
      const file = new InPlaceFile(path)
      assert.equal(file.read(), undefined)
      file.write(bytes(300, 1))
      assert.deepEqual(file.read(), bytes(300, 1))
      file.write(bytes(5, 2))
      assert.deepEqual(file.read(), bytes(5, 2))
      assert.ok(statSync(path).size > 5 + 40, 'the longer frame\'s tail is still there, and ignored')
      file.write(new Uint8Array(0))
      assert.deepEqual(file.read(), new Uint8Array(0))
      file.close()
      // a new instance (a restarted node) reads the same, and writes over the same file
      const again = new InPlaceFile(path)
      assert.deepEqual(again.read(), new Uint8Array(0))
      again.write(bytes(7, 3))
      assert.deepEqual(new InPlaceFile(path).read(), bytes(7, 3))
      again.close()
      assert.equal(statSync(path).mode & 0o777, 0o600)
    })
  })

  it('never renames or replaces the file: the inode stays, and the file shrinks only when much larger than its frame', () => {
    withDir((dir) => {
      const path = join(dir, 'f.bin')
      const file = new InPlaceFile(path)
      file.write(bytes(200_000, 9))
      const ino = statSync(path).ino
      file.write(bytes(60_000, 8)) // over 1/4 of the file: no shrink
      assert.equal(statSync(path).size, 200_000 + 40)
      file.write(bytes(10, 7)) // far smaller: cut back to the frame
      assert.equal(statSync(path).size, 10 + 40)
      assert.equal(statSync(path).ino, ino)
      assert.deepEqual(file.read(), bytes(10, 7))
      file.close()
    })
  })

  it('reads as missing: a file of another format, a flipped byte anywhere in the frame, a frame cut short', () => {
    withDir((dir) => {
      const path = join(dir, 'f.bin')
      writeFileSync(path, 'the raw content the earlier format kept here')
      const file = new InPlaceFile(path)
      assert.equal(file.read(), undefined)
      file.write(bytes(16, 5)) // over the foreign bytes
      assert.deepEqual(file.read(), bytes(16, 5))
      file.close()
      const frame = new Uint8Array(readFileSync(path)).slice(0, 16 + 40)
      for (let i = 0; i < frame.length; i++) {
        const bad = frame.slice()
        bad[i] = (bad[i] as number) ^ 0x01
        assert.equal(unframeInPlace(bad), undefined, `flipped byte ${i}`)
      }
      for (let n = 0; n < frame.length; n++) assert.equal(unframeInPlace(frame.subarray(0, n)), undefined, `cut at ${n}`)
    })
  })

  it('a write torn at any byte (power loss) reads as the old body, the new one, or nothing, never as garbage', () => {
    const oldFrame = frameInPlace(bytes(40, 0xaa))
    const newFrame = frameInPlace(bytes(24, 0xbb))
    for (let n = 0; n <= newFrame.length; n++) {
      const disk = oldFrame.slice()
      disk.set(newFrame.subarray(0, n), 0)
      const body = unframeInPlace(disk)
      assert.ok(body === undefined || body.every((b) => b === 0xaa) || body.every((b) => b === 0xbb), `torn at ${n}`)
      if (n === 0) assert.deepEqual(body, bytes(40, 0xaa))
      if (n === newFrame.length) assert.deepEqual(body, bytes(24, 0xbb))
    }
  })

  it('an unwritable path throws on write, and nothing is created', () => {
    withDir((dir) => {
      const file = new InPlaceFile(join(dir, 'missing', 'f.bin'))
      assert.throws(() => file.write(bytes(1, 1)), /ENOENT/)
      assert.equal(file.read(), undefined)
    })
  })
})

describe('own_messages.bin body', () => {
  const signer = createSigner(bytes(32, 7))
  const vote = (round: number): ConsensusMessage => ({
    kind: 'vote',
    vote: signVote({ chainId: TEST_CHAIN_ID, type: VoteType.Prevote, height: 5, round, blockHash: bytes(32, round), validator: signer.publicKey }, signer)
  })

  it('round-trips a list of votes, and the empty list', () => {
    const list = [vote(0), vote(1), vote(2)]
    assert.deepEqual(decodeOwnMessages(encodeOwnMessages(list)), list)
    assert.deepEqual(decodeOwnMessages(encodeOwnMessages([])), [])
  })

  it('refuses a list cut inside a message or its length, and a bad message, with ConsensusError', () => {
    const enc = encodeOwnMessages([vote(0), vote(1)])
    for (const n of [1, 3, 10, enc.length - 1]) {
      assert.throws(() => decodeOwnMessages(enc.subarray(0, n)), (err: unknown) => err instanceof ConsensusError && err.code === 'MSG_MALFORMED', `cut at ${n}`)
    }
    const garbage = enc.slice()
    garbage[6] = 0xff
    assert.throws(() => decodeOwnMessages(garbage), ConsensusError)
  })
})
