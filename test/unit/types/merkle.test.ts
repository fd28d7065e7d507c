import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import { leafHash, merkleProof, merkleRoot, nodeHash, verifyMerkleProof, type MerkleProof } from '../../../src/types/merkle.js'
import { sha256 } from '../../../src/crypto/hash.js'
import { concatBytes, toHex, utf8 } from '../../../src/crypto/bytes.js'

const items = (n: number, tag = 'item'): Uint8Array[] => Array.from({ length: n }, (_, i) => utf8(`${tag} ${i}`))

/** Independent reference (RFC 6962 MTH) written with @noble/hashes. */
function referenceRoot (leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return nobleSha256(new Uint8Array(0))
  if (leaves.length === 1) return nobleSha256(concatBytes(new Uint8Array([0]), leaves[0] as Uint8Array))
  let k = 1
  while (k * 2 < leaves.length) k *= 2
  return nobleSha256(concatBytes(new Uint8Array([1]), referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k))))
}

/** Left/right turns from the root down to leaf `index` of a tree of `total` leaves. */
function pathShape (index: number, total: number): string {
  let shape = ''
  let start = 0
  let end = total
  while (end - start > 1) {
    let k = 1
    while (k * 2 < end - start) k *= 2
    if (index < start + k) { shape += 'L'; end = start + k } else { shape += 'R'; start += k }
  }
  return shape
}

void describe('merkle', () => {
  void it('the root of no leaves is sha256("")', () => {
    assert.equal(toHex(merkleRoot([])), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    assert.deepEqual(merkleRoot([]), sha256(new Uint8Array(0)))
  })

  void it('leaf and node hashes are domain-separated (0x00 / 0x01 prefixes)', () => {
    const a = utf8('a')
    assert.deepEqual(leafHash(a), nobleSha256(concatBytes(new Uint8Array([0]), a)))
    const l = sha256(utf8('l'))
    const r = sha256(utf8('r'))
    assert.deepEqual(nodeHash(l, r), nobleSha256(concatBytes(new Uint8Array([1]), l, r)))
    // a one-leaf tree is the leaf hash, never the item's plain hash
    assert.deepEqual(merkleRoot([a]), leafHash(a))
    assert.notDeepEqual(merkleRoot([a]), sha256(a))
  })

  void it('matches an independent RFC 6962 reference for n = 0..70 and around larger powers of two', () => {
    for (const n of [...Array.from({ length: 71 }, (_, i) => i), 127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 1025]) {
      assert.equal(toHex(merkleRoot(items(n))), toHex(referenceRoot(items(n))), `n = ${n}`)
    }
  })

  void it('an inner node cannot pose as a leaf: the two-leaf root differs from a one-leaf tree over the concatenated hashes', () => {
    const two = items(2)
    const forged = concatBytes(leafHash(two[0] as Uint8Array), leafHash(two[1] as Uint8Array))
    assert.notDeepEqual(merkleRoot([forged]), merkleRoot(two))
  })

  void it('for n = 1..40 every index has a proof that verifies, with the expected number of siblings', () => {
    for (let n = 1; n <= 40; n++) {
      const leaves = items(n)
      const root = merkleRoot(leaves)
      for (let i = 0; i < n; i++) {
        const proof = merkleProof(leaves, i)
        assert.deepEqual({ index: proof.index, total: proof.total }, { index: i, total: n })
        assert.equal(proof.siblings.length, pathShape(i, n).length)
        assert.equal(verifyMerkleProof(root, leaves[i] as Uint8Array, proof), true, `n=${n} i=${i}`)
      }
    }
  })

  void it('tampered sibling, wrong item, wrong index, extra or missing sibling → false', () => {
    for (let n = 1; n <= 40; n++) {
      const leaves = items(n)
      const root = merkleRoot(leaves)
      for (let i = 0; i < n; i++) {
        const proof = merkleProof(leaves, i)
        const item = leaves[i] as Uint8Array
        for (let s = 0; s < proof.siblings.length; s++) {
          const siblings = proof.siblings.map((x) => new Uint8Array(x))
          const t = siblings[s] as Uint8Array
          t[0] = (t[0] as number) ^ 1
          assert.equal(verifyMerkleProof(root, item, { ...proof, siblings }), false, `tampered sibling ${s}, n=${n} i=${i}`)
        }
        assert.equal(verifyMerkleProof(root, utf8('not an item'), proof), false)
        for (let j = 0; j < n; j++) {
          if (j !== i) assert.equal(verifyMerkleProof(root, item, { ...proof, index: j }), false, `index ${j} for ${i}, n=${n}`)
        }
        assert.equal(verifyMerkleProof(root, item, { ...proof, siblings: [...proof.siblings, root] }), false, 'extra sibling')
        assert.equal(verifyMerkleProof(root, item, { ...proof, siblings: [root, ...proof.siblings] }), false, 'extra sibling in front')
        if (proof.siblings.length > 0) assert.equal(verifyMerkleProof(root, item, { ...proof, siblings: proof.siblings.slice(1) }), false, 'missing sibling')
        assert.equal(verifyMerkleProof(merkleRoot(items(n, 'other')), item, proof), false, 'other root')
      }
    }
  })

  void it('wrong total → false whenever the path to the leaf changes shape', () => {
    // An RFC 6962 proof does not bind the tree size by itself: a proof for (i, n) also verifies
    // for (i, n') when the path from the root to leaf i has the same turns in both trees (RFC 9162
    // verification behaves the same). Callers must take the total from a trusted header.
    let refused = 0
    for (let n = 1; n <= 40; n++) {
      const leaves = items(n)
      const root = merkleRoot(leaves)
      for (let i = 0; i < n; i++) {
        const proof = merkleProof(leaves, i)
        for (let total = 0; total <= 48; total++) {
          if (total === n) continue
          const sameShape = i < total && pathShape(i, total) === pathShape(i, n)
          assert.equal(verifyMerkleProof(root, leaves[i] as Uint8Array, { ...proof, total }), sameShape, `i=${i} n=${n} total=${total}`)
          if (!sameShape) refused++
        }
      }
    }
    assert.ok(refused > 10_000)
  })

  void it('out-of-range index or total → false; merkleProof refuses an index out of range', () => {
    const leaves = items(5)
    const root = merkleRoot(leaves)
    const proof = merkleProof(leaves, 0)
    const bad: MerkleProof[] = [{ ...proof, index: -1 }, { ...proof, index: 5 }, { ...proof, total: 0 }, { ...proof, total: -3 }]
    for (const p of bad) assert.equal(verifyMerkleProof(root, leaves[0] as Uint8Array, p), false, JSON.stringify({ index: p.index, total: p.total }))
    assert.throws(() => merkleProof(leaves, 5), RangeError)
    assert.throws(() => merkleProof(leaves, -1), RangeError)
    assert.throws(() => merkleProof([], 0), RangeError)
  })

  void it('the root changes with the order, the content and the number of leaves', () => {
    for (let n = 2; n <= 20; n++) {
      const leaves = items(n)
      const root = toHex(merkleRoot(leaves))
      assert.notEqual(toHex(merkleRoot([...leaves].reverse())), root, `reversed n=${n}`)
      const swapped = [...leaves]
      ;[swapped[0], swapped[n - 1]] = [swapped[n - 1] as Uint8Array, swapped[0] as Uint8Array]
      assert.notEqual(toHex(merkleRoot(swapped)), root, `swapped n=${n}`)
      assert.notEqual(toHex(merkleRoot(leaves.slice(0, -1))), root, `shorter n=${n}`)
      assert.notEqual(toHex(merkleRoot([...leaves, utf8('extra')])), root, `longer n=${n}`)
      // duplicating the last leaf (the Bitcoin CVE-2012-2459 pattern) changes the root
      assert.notEqual(toHex(merkleRoot([...leaves, leaves[n - 1] as Uint8Array])), root, `duplicated last n=${n}`)
    }
  })
})
