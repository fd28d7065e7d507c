/**
 * Where a validator's time goes: a V8 CPU profile (`node --cpu-prof`, the format of
 * `Profiler.Profile` in the Chrome DevTools protocol) summed by area of the node — signature
 * checks, SHA-256, GC, msgpack, LevelDB, libp2p, medchain's own modules, system calls. Used by
 * `bench:network --profile DIR` to print one table after the run instead of leaving only raw
 * files; pure, so that the classification is tested (test/unit/bench/profileSummary.test.ts).
 *
 * V8 stamps each sample with the wall time since the previous one. When the process shares a
 * core it is sometimes descheduled between samples, and that time is charged to whatever it ran
 * next. Preemption falls where the CPU is spent, so the shares still estimate shares of CPU time;
 * the milliseconds are sampled wall time, not CPU time. A synchronous system call counts the time
 * it blocks (an fdatasync waits for the disk without using the CPU). Idle samples (the event loop
 * waiting) and the profiler's own work are left out of both.
 */

/** The parts of a V8 CPU profile this summary reads. */
export interface CpuProfile {
  nodes: ReadonlyArray<{ id: number, callFrame: { functionName: string, url: string }, children?: readonly number[] }>
  samples: readonly number[]
  timeDeltas: readonly number[]
}

export interface AreaShare {
  area: string
  /** sampled milliseconds in this area, the mean over the profiles summarised */
  ms: number
  /** fraction of all non-idle samples, 0–1 */
  share: number
}

export class ProfileFormatError extends Error {
  override name = 'ProfileFormatError'
}

/** The inspector's own work (Profiler.stop serialising the profile): left out of the sums, like idle. */
const PROFILER = 'the profiler itself'
const LIBP2P = /\/node_modules\/(@libp2p\/|libp2p\/|@chainsafe\/|@multiformats\/|multiformats\/|protons-runtime\/|uint8arraylist\/|uint8arrays\/|uint8-varint\/|it-[^/]+\/|race-[^/]+\/|p-[^/]+\/|main-event\/)/
const SOCKET_WRITES = new Set(['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String', 'writeAsciiString'])
const FILE_CALLS = new Set(['fdatasync', 'fsync', 'openFileHandle', 'open', 'close', 'read', 'write', 'writeString', 'writeFileUtf8', 'rename', 'unlink', 'fstat', 'stat', 'lstat', 'readFileUtf8'])

/**
 * The area of one stack frame's self time. A native frame (no url: a C++ binding such as
 * LevelDB's batch put or OpenSSL's digest) belongs to its caller's area, given as `callerArea`,
 * except for system calls, which are areas of their own; without a caller it is "other native code".
 */
export function areaOf (frame: { functionName: string, url: string }, callerArea?: string): string {
  const { functionName: fn, url } = frame
  if (fn === '(garbage collector)') return 'garbage collection'
  if (fn === '(program)') return 'V8 (program: compiler, runtime)'
  if (url === 'node:inspector') return PROFILER
  if (url === 'node:internal/crypto/sig') return 'signatures (OpenSSL ed25519)'
  if (url === 'node:internal/crypto/hash') return 'SHA-256 (node:crypto)'
  if (url.includes('/node_modules/msgpackr/')) return 'msgpack (msgpackr)'
  if (/\/node_modules\/(classic-level|abstract-level|level|level-transcoder)\//.test(url)) return 'LevelDB (classic-level)'
  if (LIBP2P.test(url)) return 'libp2p (noise, yamux, gossipsub, multiformats)'
  if (url.includes('/node_modules/')) return 'other dependencies'
  // medchain's own code, compiled (dist/src/…) or through a loader (src/…): a directory, or a top-level file
  const src = /\/src\/([^/]+\/|[^/]+\.[jt]s$)/.exec(url)
  if (src !== null) return `medchain src/${(src[1] as string).replace(/\/$/, '')}`
  if (url === '') {
    if (SOCKET_WRITES.has(fn)) return 'socket writes (system calls)'
    if (FILE_CALLS.has(fn)) return 'file system calls'
    return callerArea ?? 'other native code'
  }
  if (url.startsWith('node:internal/modules/') || url.startsWith('node:internal/bootstrap/')) return 'module loading (start-up)'
  if (url.startsWith('node:')) return 'Node.js internals'
  return 'other'
}

/** Checks that `value` has the shape of a V8 CPU profile; throws ProfileFormatError saying what is wrong. */
export function asCpuProfile (value: unknown, name = 'the profile'): CpuProfile {
  if (typeof value !== 'object' || value === null) throw new ProfileFormatError(`${name} is not a JSON object`)
  const { nodes, samples, timeDeltas } = value as Record<string, unknown>
  if (!Array.isArray(nodes)) throw new ProfileFormatError(`${name} has no "nodes" array; is it a V8 .cpuprofile?`)
  if (!Array.isArray(samples) || !Array.isArray(timeDeltas)) throw new ProfileFormatError(`${name} has no "samples" and "timeDeltas" arrays`)
  if (samples.length !== timeDeltas.length) throw new ProfileFormatError(`${name} has ${samples.length} samples but ${timeDeltas.length} time deltas`)
  for (const n of nodes as unknown[]) {
    const node = n as { id?: unknown, callFrame?: { functionName?: unknown, url?: unknown } } | null
    if (typeof node?.id !== 'number' || typeof node.callFrame?.functionName !== 'string' || typeof node.callFrame.url !== 'string') {
      throw new ProfileFormatError(`${name} has a node without a numeric id and a callFrame with functionName and url`)
    }
    const children = (n as { children?: unknown }).children
    if (children !== undefined && !(Array.isArray(children) && children.every((c) => typeof c === 'number'))) {
      throw new ProfileFormatError(`${name} has a node whose "children" is not an array of node ids`)
    }
  }
  return value as CpuProfile
}

/** Each node's area, native frames taking their caller's (undefined: idle). */
function nodeAreas (p: CpuProfile): Map<number, string | undefined> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const areas = new Map<number, string | undefined>()
  for (const n of p.nodes) {
    // walk up to the nearest ancestor whose area is known, then fill the path back down
    const path: number[] = []
    let id: number | undefined = n.id
    while (id !== undefined && !areas.has(id) && !path.includes(id)) { path.push(id); id = parent.get(id) }
    let above = id === undefined ? undefined : areas.get(id)
    for (let k = path.length - 1; k >= 0; k--) {
      // every id on the path is a node's: the walk starts at one and follows children lists upwards
      const frame = (byId.get(path[k] as number) as CpuProfile['nodes'][number]).callFrame
      const area = frame.functionName === '(idle)' ? undefined : areaOf(frame, frame.functionName === '(root)' ? undefined : above)
      areas.set(path[k] as number, area)
      above = area
    }
  }
  return areas
}

/**
 * Sums profiles by area. Shares are of all non-idle samples of all profiles together; ms is
 * the mean per profile. Sorted by time, largest first. A sample is charged the time since the
 * sample before it. V8 sometimes records a sample slightly out of order (a negative time delta,
 * seen in about one validator profile in four here), so samples are put in time order first, as
 * DevTools does. A sample naming a node the profile does not have is refused (a truncated or
 * edited file), as is a time delta that is not a number.
 */
export function summarizeProfiles (profiles: readonly CpuProfile[]): AreaShare[] {
  const byArea = new Map<string, number>()
  let total = 0
  for (const [i, p] of profiles.entries()) {
    const areas = nodeAreas(p)
    // each sample's time since the profile's start, then the samples in time order
    const at = new Array<number>(p.samples.length)
    let clock = 0
    for (let s = 0; s < p.samples.length; s++) {
      const id = p.samples[s] as number
      const dt = p.timeDeltas[s]
      if (!areas.has(id)) throw new ProfileFormatError(`profile ${i + 1}: sample ${s} names node ${id}, which the profile does not have`)
      if (typeof dt !== 'number' || !Number.isFinite(dt)) throw new ProfileFormatError(`profile ${i + 1}: sample ${s} has a time delta that is not a number`)
      clock += dt
      at[s] = clock
    }
    const order = [...at.keys()].sort((a, b) => (at[a] as number) - (at[b] as number) || a - b)
    let previous = 0
    for (const s of order) {
      const dt = (at[s] as number) - previous
      previous = at[s] as number
      const area = areas.get(p.samples[s] as number)
      if (area === undefined || area === PROFILER) continue
      byArea.set(area, (byArea.get(area) ?? 0) + dt)
      total += dt
    }
  }
  const count = Math.max(1, profiles.length)
  return [...byArea]
    .map(([area, us]) => ({ area, ms: us / 1000 / count, share: total === 0 ? 0 : us / total }))
    .sort((a, b) => b.ms - a.ms || a.area.localeCompare(b.area))
}

/**
 * The summary as the markdown table both benchmarks print: areas with at least 0.5% of the time,
 * their share and their milliseconds under `msHeader`, to `msDigits` decimals.
 */
export function areaTable (areas: readonly AreaShare[], msHeader: string, msDigits: number): string[] {
  return [
    `| area | share | ${msHeader} |`,
    '| --- | ---: | ---: |',
    ...areas.filter((a) => a.share >= 0.005).map((a) => `| ${a.area} | ${(100 * a.share).toFixed(1)}% | ${a.ms.toFixed(msDigits)} |`)
  ]
}
