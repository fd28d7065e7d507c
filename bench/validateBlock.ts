/**
 * Benchmark: block validation throughput — the full import path of a block received from a peer:
 * decode, verify every signature (cold cache: nothing was seen in a mempool), execute, compute the
 * state and results roots, and commit to LevelDB in one synced batch.
 *
 * Fixed, deterministic fixtures: a consortium of 4 hospital validators, 100 doctors, a pharmacy and
 * a lab, 2,000 enrolled patients with one record each; then blocks of 100, 1,000 and 10,000
 * transactions of a realistic mix (25% patient enrolments, 35% record anchors, 20% consent grants,
 * 20% access requests). Each run imports the block into a fresh copy of the same pre-state.
 *
 * Baseline, measured in the same run: the raw ed25519 verify rate of the same signatures on all
 * cores (the same worker pool, no decoding, no execution, no storage).
 *
 *   npm run bench:validate [-- --runs 5] [--sizes 100,1000,10000] [--json] [--profile FILE]
 *
 * --profile writes a V8 CPU profile (sampled every 100 µs) of the measured import path only (the
 * last run of the last size) to FILE, for chrome://inspect or speedscope.
 *
 * --warm imports with every signature already verified, as a validator imports a block of
 * transactions its mempool admitted: the figure is everything BUT the signatures (decode,
 * execute, roots, commit), on one thread with no workers competing, so it is far steadier than
 * the cold figure on a shared machine and is the one to compare when changing that work. Its
 * ratio column compares a different window from the cold one's, so the two do not compare.
 *
 * --no-sync writes the block's batches without fsync: what the import would cost if a validator
 * relied on re-syncing lost blocks from its peers after a crash. A node always syncs; this flag
 * only measures the price of that choice.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, availableParallelism, cpus } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Session } from 'node:inspector/promises'
import { writeFileSync } from 'node:fs'
import { Chain } from '../src/chain/chain.js'
import { decodeBlock, encodeBlock, type CommitCertificate } from '../src/types/block.js'
import { txSignatureJob } from '../src/types/tx.js'
import { accessControlApp } from '../src/contracts/index.js'
import { toHex } from '../src/crypto/bytes.js'
import { VerifyPool } from '../src/crypto/verifyPool.js'
import { ChainHarness, certify } from '../test/utils/chainHarness.js'
import { makeGenesis } from '../test/utils/factories.js'
import { childNodeArgs, missingRuntimeFlags } from '../src/node/runtimeFlags.js'
import { benchArgs } from './args.js'
import { areaTable, asCpuProfile, summarizeProfiles, type AreaShare } from './profileSummary.js'
import { DOCTORS, HOSPITALS, PATIENTS, buildPreState, makeMix, median } from './fixtures.js'

const { json, runs, sizes, profile: profileFile, warm, 'no-sync': noSync } = benchArgs({
  command: 'npm run bench:validate --',
  summary: 'Block validation throughput: decode, verify every signature (cold cache), execute, roots and the\nLevelDB commit of one block, against the raw verify rate of the same signatures on all cores.',
  flags: {
    runs: { type: 'integer', default: 5, min: 1, max: 1000, help: 'runs per block size; the table shows medians' },
    sizes: { type: 'integers', default: [100, 1000, 10000], min: 1, max: 20000, help: 'transactions per block, comma-separated' },
    json: { type: 'boolean', help: 'print only one JSON object (no progress, no table)' },
    profile: { type: 'string', placeholder: 'FILE', help: 'write a V8 CPU profile of the last import to FILE and print where its time went' },
    warm: { type: 'boolean', help: 'every signature already verified (as after mempool admission): times everything else' },
    'no-sync': { type: 'boolean', help: 'commit without fsync (measures the price of the per-block fsync; a node always syncs)' }
  },
  examples: ['npm run bench:validate', 'npm run bench:validate -- --sizes 10000 --runs 9 --json', 'npm run bench:validate -- --sizes 10000 --profile /tmp/import.cpuprofile', 'npm run bench:validate -- --sizes 10000 --warm', 'npm run bench:validate -- --sizes 10000 --no-sync']
})
const log = (msg: string): void => { if (!json) process.stderr.write(msg + '\n') }
// A node runs with NODE_RUNTIME_FLAGS (src/node/runtimeFlags.ts), which V8 reads only at start-up;
// without them this would time another, slower GC configuration, so run again with them.
if (missingRuntimeFlags().length > 0) {
  const again = spawnSync(process.execPath, [...childNodeArgs(), process.argv[1] as string, ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(again.status ?? 1)
}

async function main (): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'medchain-bench-'))
  const template = join(root, 'template')
  const pool = new VerifyPool()
  try {
    log(`building the pre-state (${DOCTORS} doctors, ${PATIENTS} patients with one record each)…`)
    const pre = await buildPreState(template)
    const genesis = makeGenesis(HOSPITALS)
    const rows: Array<{ txs: number, bytes: number, validateMs: number, cpuMs: number, validateTxPerSec: number, verifyMs: number, verifyBaselinePerSec: number, ratio: number, okReceipts: number }> = []
    /** the profiled import summed by area (--profile), printed after the table */
    let profileAreas: AreaShare[] | undefined
    for (const size of sizes) {
      // the block to validate, built by a proposer on the same pre-state
      const h = await ChainHarness.open({ dir: template, hospitals: HOSPITALS })
      const timestamp = h.nextTimestamp()
      const built = await h.build(makeMix(h.chain, size, pre, timestamp), timestamp)
      if (built.skipped.length > 0) throw new Error(`fixture error: ${built.skipped.length} txs not includable: ${built.skipped[0]?.error.message}`)
      const cert: CommitCertificate = certify(h.chain.chainId, built.block, h.validators)
      const blockBytes = encodeBlock(built.block)
      const okReceipts = built.receipts.filter((r) => r.code === 'OK').length
      await h.chain.close()
      const jobs = built.block.txs.map(txSignatureJob)

      const validateMs: number[] = []
      const verifyMs: number[] = []
      const cpuMs: number[] = []
      for (let run = 0; run < runs; run++) {
        // baseline: raw verification of the same signatures on all cores
        let t0 = performance.now()
        const verdicts = await pool.verifyBatch(jobs)
        verifyMs.push(performance.now() - t0)
        if (verdicts.includes(false)) throw new Error('fixture error: a signature does not verify')

        const dir = join(root, `run-${size}-${run}`)
        cpSync(template, dir, { recursive: true })
        const verified = warm ? new Set(built.block.txs.map((tx) => toHex(tx.hash))) : undefined
        const chain = await Chain.open({ app: accessControlApp, dir, genesis, verifier: pool, syncWrites: !noSync, ...(verified !== undefined ? { verifiedTxs: { has: (h: Uint8Array) => verified.has(toHex(h)), add: () => undefined } } : {}) })
        const profiling = profileFile !== undefined && run === runs - 1 && size === sizes[sizes.length - 1]
        const session = profiling ? new Session() : undefined
        if (session !== undefined) { session.connect(); await session.post('Profiler.enable'); await session.post('Profiler.setSamplingInterval', { interval: 100 }); await session.post('Profiler.start') }
        t0 = performance.now()
        const cpu0 = process.cpuUsage()
        const block = decodeBlock(blockBytes)
        const decodeMs = performance.now() - t0
        const result = await chain.importBlock(block, { commit: cert })
        validateMs.push(performance.now() - t0)
        const cpu = process.cpuUsage(cpu0)
        cpuMs.push((cpu.user + cpu.system) / 1000)
        if (session !== undefined && profileFile !== undefined) {
          const { profile } = await session.post('Profiler.stop')
          writeFileSync(profileFile, JSON.stringify(profile))
          profileAreas = summarizeProfiles([asCpuProfile(profile)])
          session.disconnect()
        }
        if (result.height !== built.block.header.height) throw new Error('import failed')
        await chain.close()
        rmSync(dir, { recursive: true, force: true })
        const tm = result.timings
        log(`  ${size} txs, run ${run + 1}/${runs}: validate ${validateMs.at(-1)?.toFixed(1)} ms (decode ${decodeMs.toFixed(0)}, checks ${tm.checksMs.toFixed(0)}, execute ${tm.executeMs.toFixed(0)}, roots ${tm.rootsMs.toFixed(0)}, verify wait ${tm.verifyWaitMs.toFixed(0)}, commit ${tm.commitMs.toFixed(0)}; CPU of all threads ${cpuMs.at(-1)?.toFixed(0)} ms), raw verify ${verifyMs.at(-1)?.toFixed(1)} ms`)
      }
      const v = median(validateMs)
      const b = median(verifyMs)
      rows.push({
        txs: size,
        bytes: blockBytes.length,
        validateMs: v,
        cpuMs: median(cpuMs),
        validateTxPerSec: size / (v / 1000),
        verifyMs: b,
        verifyBaselinePerSec: size / (b / 1000),
        ratio: (size / v) / (size / b),
        okReceipts
      })
    }

    if (!json) {
      console.log(warm
        ? `\nBlock import with every signature verified before (decode → execute → roots → LevelDB commit), median of ${runs} runs; the ratio is not the target's`
        : `\nBlock validation (decode → verify → execute → roots → LevelDB commit), median of ${runs} runs`)
      if (noSync) console.log('without fsync (--no-sync): the price of the per-block fsync, not a node\'s figure')
      console.log(`machine: ${cpus()[0]?.model ?? 'unknown cpu'}, ${availableParallelism()} cores, Node ${process.version}\n`)
      console.log('| txs/block | block bytes | validate ms | CPU ms (all threads) | validate tx/s | raw verify ms | raw verify/s (all cores) | ratio | OK receipts |')
      console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
      for (const r of rows) {
        console.log(`| ${r.txs} | ${r.bytes} | ${r.validateMs.toFixed(1)} | ${r.cpuMs.toFixed(0)} | ${Math.round(r.validateTxPerSec)} | ${r.verifyMs.toFixed(1)} | ${Math.round(r.verifyBaselinePerSec)} | ${r.ratio.toFixed(3)} | ${r.okReceipts} |`)
      }
      console.log('')
      if (profileAreas !== undefined) {
        console.log(`Where the main thread's time went in the profiled import (${profileFile ?? ''}; the workers' signature checks are not in it, waiting for them is idle and left out):\n`)
        for (const line of areaTable(profileAreas, 'ms', 1)) console.log(line)
        console.log('')
      }
    }
    const last = rows.find((r) => r.txs === 10000) ?? rows[rows.length - 1]
    if (last !== undefined) {
      console.log(JSON.stringify({
        txs: last.txs,
        validateTxPerSec: Math.round(last.validateTxPerSec),
        verifyBaselinePerSec: Math.round(last.verifyBaselinePerSec),
        ratio: Number(last.ratio.toFixed(4)),
        runs,
        ...(warm ? { warm: true } : {}),
        ...(noSync ? { sync: false } : {}),
        sizes: rows.map((r) => ({ txs: r.txs, validateTxPerSec: Math.round(r.validateTxPerSec), verifyBaselinePerSec: Math.round(r.verifyBaselinePerSec), ratio: Number(r.ratio.toFixed(4)) }))
      }))
    }
  } finally {
    await pool.close()
    rmSync(root, { recursive: true, force: true })
  }
}

await main()
