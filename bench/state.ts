/**
 * Benchmark: state growth. Grows ONE chain with bench:validate's realistic transaction mix
 * (bench/fixtures.ts) in blocks of --block-txs transactions, and at each checkpoint measures what
 * a growing state costs a node:
 *
 * - state keys: the number of state values (counted in the state database);
 * - a fresh open: `Chain.open` of the data directory in a new child process (this file with
 *   `--open-only DIR`, run with `--expose-gc` and the node's V8 flags), its time, and the heap and
 *   RSS after a full GC;
 * - import: `importBlock` of the next --timed-blocks blocks (median), every signature verified
 *   before (as a validator imports what its mempool admitted), fsync on; these follow the
 *   checkpoint's close and reopen, so the same figure for the --timed-blocks blocks before the
 *   checkpoint, imported in continuous growth, is reported next to it (importTxPerSecGrowing);
 * - a record proof: `buildRecordProof` of --proofs records anchored at different heights (median);
 * - disk: the apparent size of every file in the data directory (both databases).
 *
 * At the end, the replay: every block of the grown chain (read with getBlock/getCertificate)
 * imported with its certificate into an empty data directory, every signature verified on the
 * worker pool, as a joining node must today. State sync does not exist yet: stateSyncMs is null.
 *
 * Transactions count from the first block of the mix; the pre-state (3 blocks, 4,102 txs) comes
 * before. Blocks are one day apart (a consortium committing --block-txs a day), so the mix's
 * 30-day consents expire and no patient reaches the cap of live grants per grantee. The blocks
 * timed after the last checkpoint grow the chain past --txs; the replay includes them.
 *
 *   npm run bench:state [-- --txs 1000000] [--checkpoints 10000,100000] [--json]
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { availableParallelism, cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Chain } from '../src/chain/chain.js'
import { BLOCK_STORE_DIR } from '../src/chain/store/blockStore.js'
import { Bucket, prefixRange } from '../src/chain/store/buckets.js'
import { createLevelDb } from '../src/chain/store/db.js'
import { accessControlApp } from '../src/contracts/index.js'
import { equalBytes, toHex } from '../src/crypto/bytes.js'
import { VerifyPool } from '../src/crypto/verifyPool.js'
import { childNodeArgs, missingRuntimeFlags } from '../src/node/runtimeFlags.js'
import { buildRecordProof } from '../src/proof/build.js'
import { TxType, recordIdOf } from '../src/types/tx.js'
import { ChainHarness, certify } from '../test/utils/chainHarness.js'
import { makeGenesis } from '../test/utils/factories.js'
import { benchArgs, type BenchUsage } from './args.js'
import { HOSPITALS, buildPreState, makeMix, median, type PreState } from './fixtures.js'

/** The hidden first argument of the child process that measures a fresh open. */
const OPEN_ONLY = '--open-only'
const DAY_MS = 24 * 3600 * 1000
/** The growing process's heap limit (it holds the grown chain and, at the end, the replayed one). */
const PARENT_HEAP_FLAG = '--max-old-space-size=12288'
const MB = 1024 * 1024

const usage = {
  command: 'npm run bench:state --',
  summary: 'State growth: grows one chain with bench:validate\'s transaction mix and, at each checkpoint, measures\nthe state keys, a fresh Chain.open (time, heap, RSS) in a child process, warm block import, a record\nproof and the disk; then replays every block into an empty data directory.',
  flags: {
    txs: { type: 'integer', default: 100000, min: 1, max: 100_000_000, help: 'transactions to grow the chain by (a multiple of --block-txs)' },
    'block-txs': { type: 'integer', default: 10000, min: 100, max: 20000, help: 'transactions per block' },
    checkpoints: { type: 'integers', default: [10000, 100000, 1000000], min: 1, help: 'transaction counts to measure at, each rounded up to a whole block; those above --txs are skipped and --txs is always one' },
    'timed-blocks': { type: 'integer', default: 3, min: 1, max: 50, help: 'blocks imported and timed after each checkpoint (the median counts)' },
    proofs: { type: 'integer', default: 7, min: 1, max: 100, help: 'record proofs built at each checkpoint (the median counts)' },
    json: { type: 'boolean', help: 'print only one JSON object on stdout (progress still goes to stderr)' }
  },
  examples: ['npm run bench:state', 'npm run bench:state -- --txs 1000000 --json', 'npm run bench:state -- --txs 200000 --checkpoints 10000,50000,100000']
} satisfies BenchUsage

/** What the child process prints: one JSON line. */
interface OpenReport { openMs: number, openHeapMB: number, openRssMB: number, baseHeapMB: number, baseRssMB: number, stateKeys: number, height: number }

interface Row {
  txs: number
  stateKeys: number
  openMs: number
  openHeapMB: number
  openRssMB: number
  importTxPerSec: number
  /** The same for the blocks before the checkpoint (fewer at the first when it comes sooner). */
  importTxPerSecGrowing: number
  recordProofMs: number
  diskMB: number
  blockStoreMB: number
  /** Heap and RSS of the child before it opened the chain (its code loaded, after a full GC). */
  baseHeapMB: number
  baseRssMB: number
}

const round1 = (x: number): number => Math.round(x * 10) / 10
const progress = (msg: string): void => { process.stderr.write(msg + '\n') }
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

function duration (ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`
}

/** Bytes of every file under `dir` (apparent sizes, as `du --apparent-size -b`). */
function dirBytes (dir: string): number {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) total += dirBytes(path)
    else if (entry.isFile()) total += statSync(path).size
  }
  return total
}

/** The child: opens the chain at `dir`, measures, closes it, counts the state values, prints one JSON line. */
async function openOnly (dir: string | undefined): Promise<void> {
  const gc = globalThis.gc
  if (dir === undefined || gc === undefined) throw new Error(`usage: node --expose-gc ${process.argv[1] ?? 'state.js'} ${OPEN_ONLY} DIR`)
  const genesis = makeGenesis(HOSPITALS)
  gc()
  const base = process.memoryUsage()
  const t0 = performance.now()
  const chain = await Chain.open({ app: accessControlApp, dir, genesis })
  const openMs = performance.now() - t0
  gc()
  const mem = process.memoryUsage()
  const height = chain.head.height
  await chain.close()
  // counted in the state database, whatever the chain keeps in memory
  const db = createLevelDb(dir)
  await db.open()
  let stateKeys = 0
  try {
    for await (const _key of db.keys(prefixRange(Uint8Array.of(Bucket.state)))) stateKeys++
  } finally {
    await db.close()
  }
  const report: OpenReport = { openMs, openHeapMB: mem.heapUsed / MB, openRssMB: mem.rss / MB, baseHeapMB: base.heapUsed / MB, baseRssMB: base.rss / MB, stateKeys, height }
  process.stdout.write(JSON.stringify(report) + '\n')
}

/** Runs `openOnly` on `dir` in a fresh node process with a node's V8 flags (not the parent's heap limit). */
function openInChild (dir: string): OpenReport {
  const own = process.execArgv.filter((a) => !a.startsWith('--max-old-space-size') && a !== '--expose-gc')
  const args = [...childNodeArgs(own), '--expose-gc', process.argv[1] as string, OPEN_ONLY, dir]
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 * MB })
  const line = r.stdout.trim().split('\n').at(-1) ?? ''
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`the fresh open of ${dir} failed (exit ${String(r.status ?? r.signal)}): ${r.stderr.trim()}`)
  const report = JSON.parse(line) as OpenReport
  if (!(report.stateKeys > 0)) throw new Error(`the fresh open found no state values under the state bucket of ${dir}: the benchmark counts them in the wrong place`)
  return report
}

/** The checkpoints (in txs, at block boundaries) for `txs` grown in blocks of `blockTxs`. */
function planCheckpoints (wanted: readonly number[], txs: number, blockTxs: number): number[] {
  const atBlocks = wanted.map((c) => Math.ceil(c / blockTxs) * blockTxs).filter((c) => c <= txs)
  return [...new Set([...atBlocks, txs])].sort((a, b) => a - b)
}

function refuse (message: string): never {
  process.stderr.write(`${message} See --help.\n`)
  process.exit(2)
}

async function main (): Promise<void> {
  const args = benchArgs(usage)
  const { txs, 'block-txs': blockTxs, 'timed-blocks': timedBlocks, proofs, json } = args
  if (txs % blockTxs !== 0) refuse(`--txs ${txs} must be a whole number of blocks of --block-txs ${blockTxs}.`)
  const checkpoints = planCheckpoints(args.checkpoints, txs, blockTxs)

  // A node runs with NODE_RUNTIME_FLAGS (src/node/runtimeFlags.ts), which V8 reads only at start-up;
  // this process also needs a larger heap (two chains at the end) and gc() (after each reopen):
  // run again with them.
  const heapSet = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.startsWith('--max-old-space-size'))
  if (missingRuntimeFlags().length > 0 || !heapSet || globalThis.gc === undefined) {
    const extra = [...(heapSet ? [] : [PARENT_HEAP_FLAG]), ...(globalThis.gc === undefined ? ['--expose-gc'] : [])]
    const again = spawnSync(process.execPath, [...childNodeArgs(), ...extra, process.argv[1] as string, ...process.argv.slice(2)], { stdio: 'inherit' })
    process.exit(again.status ?? 1)
  }

  const root = mkdtempSync(join(tmpdir(), 'medchain-bench-state-'))
  const grownDir = join(root, 'grown')
  const replayDir = join(root, 'replay')
  const pool = new VerifyPool()
  const genesis = makeGenesis(HOSPITALS)
  // the txs of the block being imported, verified "before" (as by mempool admission); reported
  // unverified while the block is built, so that the proposer's execution is not kept for the
  // import (blockExecutor keeps it only for a block whose every signature was verified)
  const verified = new Set<string>()
  let building = false
  const verifiedTxs = { has: (hash: Uint8Array) => !building && verified.has(toHex(hash)), add: () => undefined }
  const openGrown = async (): Promise<ChainHarness> => await ChainHarness.open({ dir: grownDir, hospitals: HOSPITALS, genesis, verifier: pool, verifiedTxs, blockIntervalMs: DAY_MS })
  let h: ChainHarness | undefined
  try {
    progress(`bench:state: ${fmt(txs)} txs in blocks of ${fmt(blockTxs)}, checkpoints ${checkpoints.map(fmt).join(', ')}; data in ${root}`)
    progress('building the pre-state (100 doctors, 2,000 patients with one record each)…')
    const pre: PreState = await buildPreState(grownDir)
    h = await openGrown()

    const rows: Row[] = []
    /** Rows whose import is still being timed, with the times so far. */
    const timing: Array<{ row: Row, ms: number[] }> = []
    /** --proofs anchored records of each block of the mix, for the record proofs. */
    const sampleRecords: Uint8Array[] = []
    /** Import times of the latest --timed-blocks blocks. */
    const recentMs: number[] = []
    const refused = new Map<string, number>()
    const growthBlocks = txs / blockTxs + timedBlocks
    let grown = 0
    let seq = 0
    let lastProgress = 0
    const growthStart = performance.now()
    let measuringMs = 0

    while (grown < txs || timing.length > 0) {
      const chain: Chain = h.chain
      const timestamp = h.nextTimestamp()
      const mix = makeMix(chain, blockTxs, pre, timestamp, `g${seq}`)
      building = true
      let built
      try { built = await h.build(mix, timestamp) } finally { building = false }
      if (built.skipped.length > 0) throw new Error(`fixture error: ${built.skipped.length} txs not includable: ${built.skipped[0]?.error.message ?? ''}`)
      const cert = certify(chain.chainId, built.block, h.validators)
      verified.clear()
      for (const tx of built.block.txs) verified.add(toHex(tx.hash))
      const t0 = performance.now()
      const result = await chain.importBlock(built.block, { commit: cert })
      const importMs = performance.now() - t0
      if (result.timings.executeMs === 0) throw new Error('the import reused the proposer\'s execution of the block: its time would leave the execution out')
      h.lastCommit = cert
      seq++
      grown += blockTxs
      for (const r of result.receipts) if (r.code !== 'OK') refused.set(r.code, (refused.get(r.code) ?? 0) + 1)
      const anchors = built.block.txs.filter((tx) => tx.payload.type === TxType.AnchorRecord)
      for (const tx of pickEvenly(anchors, proofs)) sampleRecords.push(recordIdOf(chain.chainId, tx.hash))
      for (const t of timing) t.ms.push(importMs)
      recentMs.push(importMs)
      if (recentMs.length > timedBlocks) recentMs.shift()
      for (const t of timing.filter((x) => x.ms.length >= timedBlocks)) {
        const ms = median(t.ms)
        t.row.importTxPerSec = blockTxs / (ms / 1000)
        timing.splice(timing.indexOf(t), 1)
      }

      const now = performance.now()
      const checkpoint = checkpoints.includes(grown)
      if (checkpoint || now - lastProgress > 2000 || seq === growthBlocks) {
        lastProgress = now
        const perBlock = (now - growthStart - measuringMs) / seq
        progress(`  block ${seq}/${growthBlocks} (${fmt(grown)} txs): import ${importMs.toFixed(0)} ms (${fmt(blockTxs / (importMs / 1000))} tx/s), ${fmt(grown / ((now - growthStart) / 1000))} txs grown per second overall, ETA ${duration(perBlock * (growthBlocks - seq))} before the replay`)
      }
      if (!checkpoint) continue

      // the checkpoint: close, measure the directory and a fresh open, reopen, prove records
      const m0 = performance.now()
      await h.close()
      h = undefined
      const diskBytes = dirBytes(grownDir)
      const blockStoreBytes = dirBytes(join(grownDir, BLOCK_STORE_DIR))
      const open = openInChild(grownDir)
      h = await openGrown()
      const ids = pickEvenly(sampleRecords, proofs)
      await buildRecordProof(h.chain, ids[0] as Uint8Array) // warm-up, not counted
      const proofMs: number[] = []
      for (const id of ids) {
        const p0 = performance.now()
        await buildRecordProof(h.chain, id)
        proofMs.push(performance.now() - p0)
      }
      globalThis.gc?.()
      const row: Row = {
        txs: grown,
        stateKeys: open.stateKeys,
        openMs: open.openMs,
        openHeapMB: open.openHeapMB,
        openRssMB: open.openRssMB,
        importTxPerSec: Number.NaN,
        importTxPerSecGrowing: blockTxs / (median(recentMs) / 1000),
        recordProofMs: median(proofMs),
        diskMB: diskBytes / MB,
        blockStoreMB: blockStoreBytes / MB,
        baseHeapMB: open.baseHeapMB,
        baseRssMB: open.baseRssMB
      }
      rows.push(row)
      timing.push({ row, ms: [] })
      measuringMs += performance.now() - m0
      progress(`  checkpoint ${fmt(grown)} txs: ${fmt(open.stateKeys)} state keys, fresh open ${open.openMs.toFixed(0)} ms, heap ${open.openHeapMB.toFixed(1)} MB, RSS ${open.openRssMB.toFixed(1)} MB, record proof ${row.recordProofMs.toFixed(1)} ms, disk ${row.diskMB.toFixed(1)} MB; timing the next ${timedBlocks} block(s)`)
    }

    // the replay: a joining node imports every block, verifying every signature
    const head = h.chain.head.height
    progress(`replay: ${fmt(head)} blocks (the pre-state's and ${fmt(seq * blockTxs)} txs of the mix) into an empty data directory, every signature verified…`)
    const replay = await Chain.open({ app: accessControlApp, dir: replayDir, genesis, verifier: pool, now: () => Number.MAX_SAFE_INTEGER / 2 })
    let replayMs: number
    let replayTxs = 0
    try {
      const r0 = performance.now()
      lastProgress = r0
      for (let height = 1; height <= head; height++) {
        const block = await h.chain.getBlock(height)
        const cert = await h.chain.getCertificate(height)
        if (block === undefined || cert === undefined) throw new Error(`the grown chain has no block or certificate at height ${height}`)
        await replay.importBlock(block, { commit: cert })
        replayTxs += block.txs.length
        const now = performance.now()
        if (now - lastProgress > 2000) {
          lastProgress = now
          progress(`  replayed ${height}/${head} blocks, ETA ${duration((now - r0) / height * (head - height))}`)
        }
      }
      replayMs = performance.now() - r0
      if (!equalBytes(replay.stateRoot, h.chain.stateRoot)) throw new Error('the replayed chain ends with another state root than the grown one')
    } finally {
      await replay.close()
    }
    progress(`  replayed in ${duration(replayMs)}`)

    const first = rows[0] as Row
    const last = rows[rows.length - 1] as Row
    const diskPerMillion = rows.length > 1 ? (last.diskMB - first.diskMB) / (last.txs - first.txs) * 1e6 : last.diskMB / last.txs * 1e6
    const refusedText = [...refused].map(([code, n]) => `${code} ${fmt(n)}`).join(', ')
    if (!json) {
      console.log(`\nState growth: one chain grown by blocks of ${fmt(blockTxs)} txs of bench:validate's mix, signatures verified before import, fsync on`)
      console.log(`machine: ${cpus()[0]?.model ?? 'unknown cpu'}, ${availableParallelism()} cores, Node ${process.version}\n`)
      console.log('| txs | state keys | open ms | open heap MB | open RSS MB | import tx/s | import tx/s, growing | record proof ms | disk MB (blocks) |')
      console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
      for (const r of rows) {
        console.log(`| ${fmt(r.txs)} | ${fmt(r.stateKeys)} | ${fmt(r.openMs)} | ${r.openHeapMB.toFixed(1)} | ${r.openRssMB.toFixed(1)} | ${fmt(r.importTxPerSec)} | ${fmt(r.importTxPerSecGrowing)} | ${r.recordProofMs.toFixed(1)} | ${r.diskMB.toFixed(1)} (${r.blockStoreMB.toFixed(1)}) |`)
      }
      console.log('')
      console.log(`open: Chain.open in a fresh process, heap and RSS after a full GC (that process before the open: heap ${first.baseHeapMB.toFixed(1)} MB, RSS ${first.baseRssMB.toFixed(1)} MB)`)
      console.log(`import: median of the ${timedBlocks} block(s) after each checkpoint (after its close and reopen); growing: of the ${timedBlocks} before it (continuous growth)`)
      console.log(`record proof: median of ${proofs} records anchored at different heights`)
      console.log(`disk growth: ${diskPerMillion.toFixed(1)} MB per million transactions${rows.length > 1 ? ' (between the first and the last checkpoint)' : ''}`)
      console.log(`replayMs: ${fmt(replayMs)} (${fmt(head)} blocks, ${fmt(replayTxs)} txs with the pre-state's, into an empty data directory, every signature verified on ${availableParallelism()} cores: ${fmt(replayTxs / (replayMs / 1000))} tx/s)`)
      console.log('stateSyncMs: null (state sync does not exist yet: a joining node can only replay every block)')
      console.log(`receipts the contract refused: ${refusedText === '' ? 'none' : refusedText}\n`)
    }
    console.log(JSON.stringify({
      txs,
      stateKeys: last.stateKeys,
      openMs: round1(last.openMs),
      openRssMB: round1(last.openRssMB),
      openHeapMB: round1(last.openHeapMB),
      importTxPerSecSmall: Math.round(first.importTxPerSec),
      importTxPerSecLarge: Math.round(last.importTxPerSec),
      diskMB: round1(last.diskMB),
      stateSyncMs: null,
      replayMs: Math.round(replayMs),
      checkpoints: rows.map((r) => ({
        txs: r.txs,
        stateKeys: r.stateKeys,
        openMs: round1(r.openMs),
        openRssMB: round1(r.openRssMB),
        openHeapMB: round1(r.openHeapMB),
        importTxPerSec: Math.round(r.importTxPerSec),
        importTxPerSecGrowing: Math.round(r.importTxPerSecGrowing),
        recordProofMs: round1(r.recordProofMs),
        diskMB: round1(r.diskMB),
        blockStoreMB: round1(r.blockStoreMB)
      })),
      diskMBPerMillionTxs: round1(diskPerMillion),
      blockTxs,
      replayBlocks: head,
      replayTxs
    }))
  } finally {
    await h?.close()
    await pool.close()
    rmSync(root, { recursive: true, force: true })
  }
}

/** `n` items of `xs` spread evenly from the first to the last (all of them when there are fewer). */
function pickEvenly<T> (xs: readonly T[], n: number): T[] {
  if (xs.length <= n) return [...xs]
  return Array.from({ length: n }, (_, i) => xs[Math.round(i * (xs.length - 1) / (n - 1 || 1))] as T)
}

if (process.argv[2] === OPEN_ONLY) await openOnly(process.argv[3])
else await main()
