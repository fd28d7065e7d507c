/**
 * Hostile proof files: whatever is done to a valid bundle (a byte of any hex field flipped, a field
 * replaced by another JSON value, removed, or the text cut short), `verify` either accepts it only
 * when nothing that is proven changed, or refuses it with a ProofError — never another exception,
 * never a hang.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { buildRecordProof } from '../../../src/proof/build.js'
import { ProofError } from '../../../src/proof/errors.js'
import type { RecordProof } from '../../../src/proof/types.js'
import { verifyRecordProof } from '../../../src/proof/verify.js'
import { keys } from '../rpc/fixture.js'
import { openProofChain, type ProofFixture } from './fixture.js'

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

/** Every path to a leaf (string, number, boolean, null) of a JSON value. */
function leafPaths (v: Json, path: Array<string | number> = []): Array<Array<string | number>> {
  if (Array.isArray(v)) return v.flatMap((x, i) => leafPaths(x, [...path, i]))
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => leafPaths(x, [...path, k]))
  return [path]
}

function getAt (v: Json, path: ReadonlyArray<string | number>): Json {
  return path.reduce<Json>((o, k) => (o as Record<string | number, Json>)[k] as Json, v)
}

function setAt (v: Json, path: ReadonlyArray<string | number>, value: Json | undefined): void {
  const parent = getAt(v, path.slice(0, -1)) as Record<string | number, Json>
  const last = path[path.length - 1] as string | number
  if (value !== undefined) parent[last] = value
  else if (Array.isArray(parent)) parent.splice(last as number, 1)
  else delete parent[last]
}

/** Runs the verifier; 'accepted', or the ProofError's code. Anything else fails the test. */
function outcome (bundle: unknown, f: ProofFixture): string {
  try {
    verifyRecordProof(bundle, f.h.genesis)
    return 'accepted'
  } catch (err) {
    assert.ok(err instanceof ProofError, `not a ProofError: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
    assert.ok(!err.message.includes('\n'), 'one sentence')
    return err.code
  }
}

describe('proofs: hostile bundles', () => {
  let f: ProofFixture
  let good: Json
  let paths: Array<Array<string | number>>

  before(async () => {
    f = await openProofChain()
    good = JSON.parse(JSON.stringify(await buildRecordProof(f.h.chain, f.world.records.rx, { grantee: keys.pharmacy.publicKey }) as RecordProof)) as Json
    paths = leafPaths(good)
  })
  after(async () => { await f.close() })

  it('a flipped byte in any hex field is refused with a ProofError', () => {
    const hexPaths = paths.filter((p) => { const v = getAt(good, p); return typeof v === 'string' && /^[0-9a-f]+$/.test(v) && v.length >= 2 })
    assert.ok(hexPaths.length > 20, `${hexPaths.length} hex fields`)
    fc.assert(fc.property(fc.constantFrom(...hexPaths), fc.nat(), fc.integer({ min: 1, max: 255 }), (path, at, mask) => {
      const bundle = structuredClone(good)
      const hex = getAt(bundle, path) as string
      const byte = at % (hex.length / 2)
      const flipped = (parseInt(hex.slice(byte * 2, byte * 2 + 2), 16) ^ mask).toString(16).padStart(2, '0')
      setAt(bundle, path, hex.slice(0, byte * 2) + flipped + hex.slice(byte * 2 + 2))
      assert.notEqual(outcome(bundle, f), 'accepted', `flipped byte ${byte} of ${path.join('.')}`)
    }), { numRuns: 400 })
  })

  it('any field replaced by another JSON value, or removed, never crashes the verifier', () => {
    const junk = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string(), fc.constant([]), fc.constant({}), fc.constant('zz'), fc.constant(-1))
    fc.assert(fc.property(fc.constantFrom(...paths), fc.option(junk, { nil: undefined }), (path, value) => {
      const bundle = structuredClone(good)
      setAt(bundle, path, value as Json | undefined)
      outcome(bundle, f) // a ProofError or, for a change nothing depends on, acceptance
    }), { numRuns: 400 })
    // an array with a hole (not JSON, but a caller may build one) is refused, not a crash
    const holed = structuredClone(good) as { state: { entries: Array<{ proof: { siblings: unknown[] } }> } }
    const withSiblings = holed.state.entries.find((e) => e.proof.siblings.length > 0)
    assert.ok(withSiblings !== undefined)
    delete withSiblings.proof.siblings[0]
    assert.equal(outcome(holed, f), 'PROOF_MALFORMED')
  })

  it('text cut short or not a bundle at all is refused as malformed', () => {
    const text = JSON.stringify(good)
    for (const cut of [0, 1, 10, 100, text.length >> 1, text.length - 1]) {
      let parsed: unknown
      try { parsed = JSON.parse(text.slice(0, cut)) } catch { parsed = text.slice(0, cut) }
      assert.notEqual(outcome(parsed, f), 'accepted')
    }
    for (const v of [null, 0, 'x', [], {}, { kind: 'medchain/record-proof' }]) assert.equal(outcome(v, f), 'PROOF_MALFORMED')
  })
})
