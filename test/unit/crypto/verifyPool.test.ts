import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { verify } from '../../../src/crypto/ed25519.js'
import { hasErrorCode } from '../../../src/util/errors.js'
import { VerifyPool, verifyJobsInline, type VerifyJob } from '../../../src/crypto/verifyPool.js'
import { JOB_HEADER_LENGTH, packVerifyJobs, verifyPackedJobs } from '../../../src/crypto/verifyWorker.js'
import { makeKeys } from '../../utils/factories.js'

const signers = Array.from({ length: 10 }, (_, i) => makeKeys(`verify-pool/${i}`))

function messageOf (i: number): Uint8Array {
  // lengths 0..319, the empty message included
  const digest = createHash('sha256').update(`message ${i}`).digest()
  const out = new Uint8Array(i % 320)
  for (let k = 0; k < out.length; k++) out[k] = digest[k % 32] as number
  return out
}

function validJob (i: number): VerifyJob {
  const signer = signers[i % signers.length]!
  const message = messageOf(i)
  return { publicKey: signer.publicKey, message, signature: signer.sign(message) }
}

/** Ways to break a valid job, each applied at indices `i % every === 0` (i > 0). */
const corruptions: Array<{ name: string, every: number, apply: (job: VerifyJob, i: number) => VerifyJob }> = [
  { name: 'bit flipped in R', every: 97, apply: (j) => { const s = new Uint8Array(j.signature); s[3] = (s[3] as number) ^ 1; return { ...j, signature: s } } },
  { name: 'S >= L', every: 89, apply: (j) => { const s = new Uint8Array(j.signature); s[63] = (s[63] as number) | 0xf0; return { ...j, signature: s } } },
  { name: 'message changed', every: 83, apply: (j) => ({ ...j, message: new Uint8Array([...j.message, 7]) }) },
  { name: 'another signer\'s key', every: 79, apply: (j, i) => ({ ...j, publicKey: signers[(i + 1) % signers.length]!.publicKey }) },
  { name: 'key of 31 bytes', every: 211, apply: (j) => ({ ...j, publicKey: j.publicKey.subarray(0, 31) }) },
  { name: 'signature of 65 bytes', every: 223, apply: (j) => ({ ...j, signature: new Uint8Array([...j.signature, 0]) }) }
]

function mixedJobs (count: number): { jobs: VerifyJob[], corrupted: Set<number> } {
  const jobs: VerifyJob[] = []
  const corrupted = new Set<number>()
  for (let i = 0; i < count; i++) {
    let job = validJob(i)
    for (const c of corruptions) {
      if (i > 0 && i % c.every === 0) {
        job = c.apply(job, i)
        corrupted.add(i)
      }
    }
    jobs.push(job)
  }
  return { jobs, corrupted }
}

const fixture = mixedJobs(2_000)

/** A stand-in worker speaking the pool's protocol: crashes or exits on a marker key, else says "valid". */
const FAKE_WORKER = new URL('data:text/javascript,' + encodeURIComponent(`
import { parentPort } from 'node:worker_threads'
parentPort.on('message', ({ id, count, buffer }) => {
  const key = new Uint8Array(buffer, 0, 32)
  if (key.every((b) => b === 0xee)) throw new Error('injected crash')
  if (key.every((b) => b === 0xef)) process.exit(3)
  const verdicts = new Uint8Array(count).fill(1)
  parentPort.postMessage({ id, verdicts }, [verdicts.buffer])
})
`))

function withMarker (jobs: VerifyJob[], marker: number): VerifyJob[] {
  const publicKey = new Uint8Array(32).fill(marker)
  return [{ ...jobs[0]!, publicKey }, ...jobs.slice(1)]
}

// A regression here tends to hang (a batch that never settles): the timeout turns that into a failure.
describe('VerifyPool', { timeout: 120_000 }, () => {
  it('gives the same verdicts as single-threaded verify on 2,000 valid and corrupted signatures, in order', async () => {
    const { jobs, corrupted } = fixture
    assert.ok(corrupted.size > 50, 'the fixture corrupts enough jobs')
    const expected = jobs.map((j) => verify(j.publicKey, j.message, j.signature))
    // the corruptions really are invalid and everything else really is valid
    expected.forEach((ok, i) => assert.equal(ok, !corrupted.has(i), `job ${i}`))
    const pool = new VerifyPool()
    try {
      const verdicts = await pool.verifyBatch(jobs)
      assert.deepEqual(verdicts, expected)
      assert.equal(pool.threadIds.length, pool.workerCount, 'the batch ran on the workers')
    } finally {
      await pool.close()
    }
  })

  it('keeps the order when the batch splits unevenly over 3 workers', async () => {
    const jobs = fixture.jobs.slice(0, 1_001)
    const pool = new VerifyPool({ workers: 3, inlineBelow: 1 })
    try {
      assert.deepEqual(await pool.verifyBatch(jobs), verifyJobsInline(jobs))
      assert.equal(pool.threadIds.length, 3)
    } finally {
      await pool.close()
    }
  })

  it('resolves an empty batch to [] without starting a worker', async () => {
    const pool = new VerifyPool({ inlineBelow: 0 })
    try {
      assert.deepEqual(await pool.verifyBatch([]), [])
      assert.deepEqual(pool.threadIds, [])
    } finally {
      await pool.close()
    }
  })

  it('verifies a batch below inlineBelow on the calling thread', async () => {
    // the worker script does not exist: only the inline path can answer
    const pool = new VerifyPool({ inlineBelow: 64, workerUrl: new URL('./no-such-worker.js', import.meta.url) })
    const jobs = fixture.jobs.slice(90, 100) // job 97 is corrupted
    try {
      const verdicts = await pool.verifyBatch(jobs)
      assert.deepEqual(verdicts, jobs.map((j) => verify(j.publicKey, j.message, j.signature)))
      assert.equal(verdicts.filter((v) => !v).length, 1)
      assert.deepEqual(pool.threadIds, [])
    } finally {
      await pool.close()
    }
  })

  it('gives false, not a crash, for a wrong-length key or signature, inline and on workers', async () => {
    const good = validJob(1)
    const jobs: VerifyJob[] = [
      good,
      { ...good, publicKey: good.publicKey.subarray(0, 31) },
      { ...good, publicKey: new Uint8Array([...good.publicKey, 0]) },
      { ...good, publicKey: new Uint8Array(0) },
      { ...good, signature: good.signature.subarray(0, 63) },
      good
    ]
    const expected = [true, false, false, false, false, true]
    for (const inlineBelow of [100, 1]) {
      const pool = new VerifyPool({ inlineBelow, workers: 2 })
      try {
        assert.deepEqual(await pool.verifyBatch(jobs), expected, `inlineBelow ${inlineBelow}`)
      } finally {
        await pool.close()
      }
    }
  })

  it('close() can be called twice and stops every worker', async () => {
    const pool = new VerifyPool({ inlineBelow: 1 })
    await pool.verifyBatch(fixture.jobs.slice(0, 10))
    assert.equal(pool.threadIds.length, 2)
    await pool.close()
    await pool.close()
    assert.equal(pool.closed, true)
    assert.deepEqual(pool.threadIds, [])
  })

  it('rejects every batch after close() with VERIFY_POOL_CLOSED', async () => {
    const pool = new VerifyPool({ inlineBelow: 64 })
    await pool.close()
    for (const jobs of [[], fixture.jobs.slice(0, 3), fixture.jobs.slice(0, 100)]) {
      await assert.rejects(pool.verifyBatch(jobs), (err) => hasErrorCode(err, 'VERIFY_POOL_CLOSED'))
    }
  })

  it('rejects a batch still pending when close() is called with VERIFY_POOL_CLOSED', async () => {
    const pool = new VerifyPool({ inlineBelow: 1 })
    const pending = pool.verifyBatch(fixture.jobs)
    const closed = pool.close()
    await assert.rejects(pending, (err) => hasErrorCode(err, 'VERIFY_POOL_CLOSED'))
    await closed
  })

  for (const { marker, how } of [{ marker: 0xee, how: 'throws' }, { marker: 0xef, how: 'exits' }]) {
    it(`rejects the pending batch with VERIFY_WORKER_FAILED when a worker ${how}, then replaces it`, async () => {
      const pool = new VerifyPool({ workers: 1, inlineBelow: 1, workerUrl: FAKE_WORKER })
      const jobs = fixture.jobs.slice(0, 5)
      try {
        await pool.verifyBatch(jobs) // starts the worker
        const [first] = pool.threadIds
        await assert.rejects(pool.verifyBatch(withMarker(jobs, marker)), (err) => hasErrorCode(err, 'VERIFY_WORKER_FAILED'))
        assert.equal(pool.workerFailures, 1)
        assert.deepEqual(await pool.verifyBatch(jobs), [true, true, true, true, true])
        assert.equal(pool.threadIds.length, 1)
        assert.notEqual(pool.threadIds[0], first, 'a fresh worker answered')
      } finally {
        await pool.close()
      }
    })
  }

  it('rejects with VERIFY_WORKER_FAILED, every time, when the worker script cannot load', async () => {
    const pool = new VerifyPool({ workers: 1, inlineBelow: 1, workerUrl: new URL('./no-such-worker.js', import.meta.url) })
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        await assert.rejects(pool.verifyBatch(fixture.jobs.slice(0, 5)), (err) => {
          assert.ok(hasErrorCode(err, 'VERIFY_WORKER_FAILED'))
          assert.match((err as Error).message, /no-such-worker/)
          return true
        })
      }
      assert.equal(pool.workerFailures, 2)
    } finally {
      await pool.close()
    }
  })

  it('neither keeps a process alive when never closed nor lets it exit before an awaited batch', async () => {
    const poolUrl = new URL('../../../src/crypto/verifyPool.ts', import.meta.url).href
    const keyUrl = new URL('../../../src/crypto/ed25519.ts', import.meta.url).href
    const script = `
      const { VerifyPool } = await import(${JSON.stringify(poolUrl)})
      const { createSigner } = await import(${JSON.stringify(keyUrl)})
      const signer = createSigner(new Uint8Array(32).fill(9))
      const message = new Uint8Array([1, 2, 3])
      const job = { publicKey: signer.publicKey, message, signature: signer.sign(message) }
      const pool = new VerifyPool({ inlineBelow: 1, workers: 1 })
      const first = await pool.verifyBatch([job]) // starts the worker
      // the worker is idle (unref'd) now: this batch must hold the process open until it answers
      const second = await pool.verifyBatch([job, { ...job, message: new Uint8Array([1, 2, 4]) }])
      console.log(JSON.stringify([...first, ...second]))
    `
    const root = fileURLToPath(new URL('../../../', import.meta.url))
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000 // a guard against a hang (a kept-alive process), not a speed assertion
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const [code, signal] = await once(child, 'close') as [number | null, string | null]
    assert.equal(signal, null, 'the process had to be killed: something kept it alive')
    assert.equal(code, 0, stderr) // 13 = exited with the awaited batch unsettled
    assert.equal(stdout.trim(), '[true,true,false]')
  })
})

describe('verify worker chunk format', () => {
  it('round-trips packed jobs through verifyPackedJobs', () => {
    const jobs = fixture.jobs.slice(0, 300).filter((j) => j.publicKey.length === 32 && j.signature.length === 64)
    const indices = jobs.map((_, i) => i)
    const verdicts = verifyPackedJobs(packVerifyJobs(jobs, indices, 0, jobs.length), jobs.length)
    assert.deepEqual([...verdicts].map((v) => v === 1), verifyJobsInline(jobs))
    assert.ok(verdicts.includes(0) && verdicts.includes(1))
  })

  it('refuses a chunk that is cut short or has trailing bytes', () => {
    const jobs = fixture.jobs.slice(1, 4)
    const buffer = packVerifyJobs(jobs, [0, 1, 2], 0, 3)
    assert.throws(() => verifyPackedJobs(buffer.slice(0, buffer.byteLength - 1), 3), RangeError)
    assert.throws(() => verifyPackedJobs(buffer.slice(0, JOB_HEADER_LENGTH - 1), 1), RangeError)
    assert.throws(() => verifyPackedJobs(buffer, 2), RangeError)
    assert.equal(verifyPackedJobs(buffer, 3).length, 3)
  })
})
