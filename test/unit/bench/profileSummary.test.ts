import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { areaOf, areaTable, asCpuProfile, ProfileFormatError, summarizeProfiles, type CpuProfile } from '../../../bench/profileSummary.js'

const DIST = 'file:///home/h/medchain/dist/src'
const NM = 'file:///home/h/medchain/node_modules'

/** A profile whose node i has frame frames[i]; `samples` lists [node index, µs] pairs. */
function profile (frames: Array<[string, string]>, samples: Array<[number, number]>): CpuProfile {
  return {
    nodes: frames.map(([functionName, url], i) => ({ id: i + 1, callFrame: { functionName, url } })),
    samples: samples.map(([i]) => i + 1),
    timeDeltas: samples.map(([, us]) => us)
  }
}

describe('bench profile summary: areas', () => {
  it('names each kind of frame by the part of the node it belongs to', () => {
    const cases: Array<[string, string, string]> = [
      ['(garbage collector)', '', 'garbage collection'],
      ['(program)', '', 'V8 (program: compiler, runtime)'],
      ['verifyOneShot', 'node:internal/crypto/sig', 'signatures (OpenSSL ed25519)'],
      ['hash', 'node:internal/crypto/hash', 'SHA-256 (node:crypto)'],
      ['pack', `${NM}/msgpackr/pack.js`, 'msgpack (msgpackr)'],
      ['_put', `${NM}/classic-level/chained-batch.js`, 'LevelDB (classic-level)'],
      ['encrypt', `${NM}/@chainsafe/libp2p-noise/dist/src/crypto.js`, 'libp2p (noise, yamux, gossipsub, multiformats)'],
      ['uint16BEDecode', `${NM}/it-length-prefixed/dist/src/encoder.js`, 'libp2p (noise, yamux, gossipsub, multiformats)'],
      ['validateReceivedMessage', `${NM}/@libp2p/gossipsub/dist/src/gossipsub.js`, 'libp2p (noise, yamux, gossipsub, multiformats)'],
      ['write', `${NM}/pino/lib/proto.js`, 'other dependencies'],
      ['applyChanges', `${DIST}/chain/smt.js`, 'medchain src/chain'],
      ['executeTx', 'file:///x/src/contracts/index.ts', 'medchain src/contracts'],
      ['writeAtomic', `${DIST}/util/atomicFile.js`, 'medchain src/util'],
      ['writev', '', 'socket writes (system calls)'],
      ['fdatasync', '', 'file system calls'],
      ['hexSlice', '', 'other native code'],
      ['compileSourceTextModule', 'node:internal/modules/esm/utils', 'module loading (start-up)'],
      ['processTicksAndRejections', 'node:internal/process/task_queues', 'Node.js internals'],
      ['f', 'file:///elsewhere/x.js', 'other']
    ]
    for (const [functionName, url, area] of cases) assert.equal(areaOf({ functionName, url }), area, `${functionName} ${url}`)
  })

  it('a native frame takes its caller\'s area, except a system call; the profiler is its own area', () => {
    assert.equal(areaOf({ functionName: '(anon)', url: '' }, 'LevelDB (classic-level)'), 'LevelDB (classic-level)')
    assert.equal(areaOf({ functionName: 'oneShotDigest', url: '' }, 'SHA-256 (node:crypto)'), 'SHA-256 (node:crypto)')
    assert.equal(areaOf({ functionName: 'writev', url: '' }, 'medchain src/p2p'), 'socket writes (system calls)')
    assert.equal(areaOf({ functionName: 'post', url: 'node:inspector' }), 'the profiler itself')
  })
})

describe('bench profile summary: sums', () => {
  it('sums self time by area over profiles, leaves idle out, averages ms per profile, sorts by time', () => {
    const frames: Array<[string, string]> = [
      ['(idle)', ''],
      ['verifyOneShot', 'node:internal/crypto/sig'],
      ['applyChanges', `${DIST}/chain/smt.js`],
      ['executeBlockTxs', `${DIST}/chain/execute.js`],
      ['(garbage collector)', '']
    ]
    const a = profile(frames, [[0, 9_000_000], [1, 3000], [2, 1000], [3, 1000], [4, 1000]])
    const b = profile(frames, [[1, 1000], [2, 2000], [0, 5000]])
    const summary = summarizeProfiles([a, b])
    // non-idle: signatures 4,000 µs, chain 4,000 µs (two functions of one area), GC 1,000 µs: 9,000 µs in all
    assert.deepEqual(summary.map((s) => s.area), ['medchain src/chain', 'signatures (OpenSSL ed25519)', 'garbage collection'])
    assert.deepEqual(summary.map((s) => s.ms), [2, 2, 0.5])
    const shares = summary.map((s) => s.share)
    assert.ok(Math.abs((shares[0] as number) - 4 / 9) < 1e-12)
    assert.ok(Math.abs((shares[2] as number) - 1 / 9) < 1e-12)
    assert.ok(Math.abs(shares.reduce((x, y) => x + y, 0) - 1) < 1e-12)
  })

  it('charges native self time to the caller found through the call tree, however deep', () => {
    // (root) → _put (classic-level) → (anon) native → (anon) native; (root) → post (inspector) → dispatch native; (root) → hexSlice
    const p: CpuProfile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '' }, children: [2, 5, 7] },
        { id: 2, callFrame: { functionName: '_put', url: `${NM}/classic-level/chained-batch.js` }, children: [3] },
        { id: 3, callFrame: { functionName: '(anon)', url: '' }, children: [4] },
        { id: 4, callFrame: { functionName: '(anon)', url: '' } },
        { id: 5, callFrame: { functionName: 'post', url: 'node:inspector' }, children: [6] },
        { id: 6, callFrame: { functionName: 'dispatch', url: '' } },
        { id: 7, callFrame: { functionName: 'hexSlice', url: '' } }
      ],
      samples: [4, 3, 2, 6, 7],
      timeDeltas: [4000, 2000, 1000, 500, 250]
    }
    // the profiler's own 0.5 ms is left out, like idle
    assert.deepEqual(summarizeProfiles([p]).map((a) => [a.area, a.ms, a.share]), [['LevelDB (classic-level)', 7, 7 / 7.25], ['other native code', 0.25, 0.25 / 7.25]])
  })

  it('the printed table keeps areas of at least 0.5% and formats share and ms', () => {
    const areas = [{ area: 'a', ms: 12.345, share: 0.9 }, { area: 'b', ms: 0.5, share: 0.005 }, { area: 'c', ms: 0.1, share: 0.0049 }]
    assert.deepEqual(areaTable(areas, 'ms', 1), ['| area | share | ms |', '| --- | ---: | ---: |', '| a | 90.0% | 12.3 |', '| b | 0.5% | 0.5 |'])
    assert.deepEqual(areaTable(areas, 'ms per validator', 0).slice(2), ['| a | 90.0% | 12 |', '| b | 0.5% | 1 |'])
  })

  it('an idle-only or empty profile gives no areas, not a division by zero', () => {
    assert.deepEqual(summarizeProfiles([profile([['(idle)', '']], [[0, 500]])]), [])
    assert.deepEqual(summarizeProfiles([]), [])
  })

  it('refuses a sample that names a node the profile lacks, or a time delta that is not a number', () => {
    const bad = profile([['f', `${DIST}/chain/x.js`]], [[0, 10]])
    assert.throws(() => summarizeProfiles([{ ...bad, samples: [7] }]), (e: unknown) => e instanceof ProfileFormatError && /names node 7/.test(e.message))
    assert.throws(() => summarizeProfiles([{ ...bad, timeDeltas: [Number.NaN] }]), (e: unknown) => e instanceof ProfileFormatError && /not a number/.test(e.message))
  })

  it('a sample V8 recorded out of order (a negative delta, as in real profiles) is put back in time order', () => {
    // samples at t = 1000 (f), 3000 (g), 2000 (f: recorded late, delta -1000), 4000 (g)
    const frames: Array<[string, string]> = [['f', `${DIST}/chain/x.js`], ['g', `${DIST}/rpc/y.js`]]
    const p = profile(frames, [[0, 1000], [1, 2000], [0, -1000], [1, 2000]])
    // in time order: f 1000 since 0, f 1000 since 1000, g 1000 since 2000, g 1000 since 3000
    assert.deepEqual(summarizeProfiles([p]).map((a) => [a.area, a.ms]), [['medchain src/chain', 2], ['medchain src/rpc', 2]])
    // without the reordering f would get 1000 - 1000 = 0 for its late sample and g 4000
  })
})

describe('bench profile summary: file shape', () => {
  it('accepts the shape V8 writes and refuses anything else with a message that says what is wrong', () => {
    const ok = { nodes: [{ id: 1, callFrame: { functionName: 'f', url: '', lineNumber: 0 }, hitCount: 1 }], startTime: 0, endTime: 1, samples: [1], timeDeltas: [1] }
    assert.equal(asCpuProfile(ok), ok)
    const refusals: Array<[unknown, RegExp]> = [
      [null, /not a JSON object/],
      [[1, 2], /no "nodes" array/],
      [{ nodes: [], samples: [] }, /"timeDeltas"/],
      [{ nodes: [], samples: [1], timeDeltas: [] }, /1 samples but 0 time deltas/],
      [{ nodes: [{ id: '1', callFrame: { functionName: 'f', url: '' } }], samples: [], timeDeltas: [] }, /numeric id/],
      [{ nodes: [{ id: 1 }], samples: [], timeDeltas: [] }, /callFrame/],
      [{ nodes: [null], samples: [], timeDeltas: [] }, /numeric id/],
      [{ nodes: [{ id: 1, callFrame: { functionName: 'f', url: '' }, children: ['2'] }], samples: [], timeDeltas: [] }, /"children"/]
    ]
    for (const [value, message] of refusals) {
      assert.throws(() => asCpuProfile(value, 'x.cpuprofile'), (e: unknown) => e instanceof ProfileFormatError && message.test(e.message) && e.message.startsWith('x.cpuprofile'), JSON.stringify(value))
    }
  })
})
