import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { SparseMerkleTree, EMPTY_TREE_ROOT, type BinaryHash, type TreeChange } from '../../../src/chain/smt.js'
import { verifySmtProof } from '../../../src/types/smtProof.js'
import { sha256, sha256Binary } from '../../../src/crypto/hash.js'
import { bytesOfLatin1, toHex } from '../../../src/crypto/bytes.js'

// the tree takes binary-string hashes; proofs and their verifier are bytes
const kh = (i: number): BinaryHash => sha256Binary(`key-${i}`)
const vh = (i: number, v: number): BinaryHash => sha256Binary(`value-${i}-${v}`)
const khb = (i: number): Uint8Array => bytesOfLatin1(kh(i))
const vhb = (i: number, v: number): Uint8Array => bytesOfLatin1(vh(i, v))

function rebuild (model: Map<number, number>): SparseMerkleTree {
  return SparseMerkleTree.fromLeaves([...model].map(([k, v]) => ({ keyHash: kh(k), valueHash: vh(k, v) })))
}

describe('sparse Merkle tree', () => {
  it('has the empty root when empty, and deleting the last key returns to it', () => {
    assert.deepEqual(SparseMerkleTree.empty().root, EMPTY_TREE_ROOT)
    const one = SparseMerkleTree.empty().update([{ keyHash: kh(1), valueHash: vh(1, 1) }])
    assert.notDeepEqual(one.root, EMPTY_TREE_ROOT)
    assert.equal(one.size, 1)
    assert.deepEqual(one.update([{ keyHash: kh(1), valueHash: null }]).root, EMPTY_TREE_ROOT)
  })

  it('root depends only on the final key/value set, whatever the order and batching of updates', () => {
    fc.assert(fc.property(
      fc.array(fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.option(fc.integer({ min: 0, max: 3 }), { nil: null })), { maxLength: 20 }), { maxLength: 8 }),
      (batches) => {
        let tree = SparseMerkleTree.empty()
        const model = new Map<number, number>()
        for (const batch of batches) {
          const changes: TreeChange[] = batch.map(([k, v]) => ({ keyHash: kh(k), valueHash: v === null ? null : vh(k, v) }))
          tree = tree.update(changes)
          for (const [k, v] of batch) { if (v === null) model.delete(k); else model.set(k, v) }
          assert.equal(tree.size, model.size)
          assert.equal(toHex(tree.root), toHex(rebuild(model).root))
        }
      }
    ), { seed: 42, numRuns: 200 })
  })

  it('leaves the old tree unchanged (copy on write)', () => {
    const a = SparseMerkleTree.fromLeaves([1, 2, 3].map((i) => ({ keyHash: kh(i), valueHash: vh(i, 0) })))
    const rootA = a.root
    const b = a.update([{ keyHash: kh(2), valueHash: vh(2, 9) }, { keyHash: kh(4), valueHash: vh(4, 0) }])
    assert.deepEqual(a.root, rootA)
    assert.notDeepEqual(b.root, rootA)
    assert.equal(a.get(kh(2)), vh(2, 0))
    assert.equal(b.get(kh(2)), vh(2, 9))
    assert.equal(a.get(kh(4)), undefined)
  })

  it('proves inclusion of every key and absence of others; tampered proofs fail', () => {
    const n = 300
    const tree = SparseMerkleTree.fromLeaves(Array.from({ length: n }, (_, i) => ({ keyHash: kh(i), valueHash: vh(i, 0) })))
    for (let i = 0; i < n; i++) {
      const proof = tree.prove(kh(i))
      assert.ok(verifySmtProof(tree.root, khb(i), vhb(i, 0), proof), `inclusion of ${i}`)
      assert.equal(verifySmtProof(tree.root, khb(i), vhb(i, 1), proof), false, 'wrong value')
      assert.equal(verifySmtProof(tree.root, khb(i), undefined, proof), false, 'present key cannot be proven absent')
      assert.ok(proof.siblings.length < 40, 'compressed depth')
    }
    for (let i = n; i < n + 300; i++) {
      const proof = tree.prove(kh(i))
      assert.ok(verifySmtProof(tree.root, khb(i), undefined, proof), `absence of ${i}`)
      assert.equal(verifySmtProof(tree.root, khb(i), vhb(i, 0), proof), false, 'absent key cannot be proven present')
    }
    const proof = tree.prove(kh(7))
    const bad = { ...proof, siblings: proof.siblings.map((s, j) => j === 0 ? sha256(s) : s) }
    assert.equal(verifySmtProof(tree.root, khb(7), vhb(7, 0), bad), false, 'tampered sibling')
    assert.equal(verifySmtProof(tree.root, khb(7), vhb(7, 0), { ...proof, siblings: proof.siblings.slice(1) }), false, 'dropped sibling')
    assert.equal(verifySmtProof(sha256(tree.root), khb(7), vhb(7, 0), proof), false, 'other root')
  })

  it('proves absence in the empty tree, and one key\'s proof never proves another key absent', () => {
    const empty = SparseMerkleTree.empty()
    assert.ok(verifySmtProof(empty.root, khb(1), undefined, empty.prove(kh(1))))
    const tree = SparseMerkleTree.fromLeaves([0, 1, 2, 3].map((i) => ({ keyHash: kh(i), valueHash: vh(i, 0) })))
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 4; b++) {
        if (a !== b) assert.equal(verifySmtProof(tree.root, khb(b), undefined, tree.prove(kh(a))), false)
      }
    }
  })

  it('keeps the roots of the byte-array tree it replaced (pinned: the state root of every existing chain)', () => {
    // computed by the previous implementation, which held every hash as a Uint8Array
    const tree = SparseMerkleTree.fromLeaves(Array.from({ length: 100 }, (_, i) => ({ keyHash: sha256Binary(`key-${i}`), valueHash: sha256Binary(`value-${i}`) })))
    assert.equal(toHex(tree.root), '71ede163c2b787b578bb9098a7fe1a58c65dd47818111c9cf3b3f25e9d21fc06')
    const next = tree.update([{ keyHash: sha256Binary('key-3'), valueHash: null }, { keyHash: sha256Binary('key-200'), valueHash: sha256Binary('v') }])
    assert.equal(toHex(next.root), '6090ff9fe2e5f4b9f59f2483bc18f25446d9683cbdd6223b2dad0e5e8314c0be')
    assert.equal(next.size, 100)
  })

  it('refuses a hash that is not 32 binary characters, and changes nothing', () => {
    const tree = SparseMerkleTree.fromLeaves([1, 2].map((i) => ({ keyHash: kh(i), valueHash: vh(i, 0) })))
    const root = toHex(tree.root)
    assert.throws(() => tree.update([{ keyHash: kh(3), valueHash: vh(3, 0) }, { keyHash: kh(4).slice(1), valueHash: vh(4, 0) }]), RangeError)
    assert.throws(() => tree.update([{ keyHash: kh(3), valueHash: '\u0100' + vh(3, 0).slice(1) }]), RangeError)
    assert.throws(() => SparseMerkleTree.fromLeaves([{ keyHash: toHex(khb(1)), valueHash: vh(1, 0) }]), RangeError)
    assert.equal(toHex(tree.root), root)
    assert.equal(tree.size, 2)
  })

  it('refuses duplicate keys when built from leaves', () => {
    assert.throws(() => SparseMerkleTree.fromLeaves([{ keyHash: kh(1), valueHash: vh(1, 0) }, { keyHash: kh(1), valueHash: vh(1, 1) }]), RangeError)
  })
})
