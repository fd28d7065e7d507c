/**
 * The V8 flags a medchain node process runs with, and how a parent passes them to the node
 * processes it starts (`medchain devnet`, `bench:network`).
 *
 * `--max-semi-space-size=64` (MiB; Node 20's default is 16): block import and mempool admission
 * allocate many short-lived objects (decoded transactions, state keys, hashes, receipts), and a
 * larger young generation needs several times fewer scavenges per block, for a faster
 * `bench:validate`; 128 MiB is no better than 64 (figures in bench/RESULTS.md). The cost is at
 * most ~150 MiB more memory in the young generation, little on a validator's machine.
 *
 * V8 sizes its heap when the process starts, so these must be on the command line (or in
 * NODE_OPTIONS): `v8.setFlagsFromString` later does not resize it. `medchain devnet` and
 * `bench:network` give them to the nodes they start, `bench:validate` runs itself again with them,
 * and `medchain start` run by hand logs which are missing and how to pass them. (Not in the executable's shebang: `#!/usr/bin/env -S node …`
 * needs GNU env, and busybox's, on Alpine images, has no -S.) A flag the operator already set,
 * on the command line or in NODE_OPTIONS, is left as they set it.
 */
export const NODE_RUNTIME_FLAGS: readonly string[] = ['--max-semi-space-size=64']

function flagName (flag: string): string {
  const eq = flag.indexOf('=')
  return (eq < 0 ? flag : flag.slice(0, eq)).replace(/_/g, '-')
}

/** The runtime flags that neither `execArgv` nor NODE_OPTIONS sets. */
export function missingRuntimeFlags (execArgv: readonly string[] = process.execArgv, nodeOptions: string | undefined = process.env.NODE_OPTIONS): string[] {
  const set = new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/).filter((a) => a.startsWith('--'))].map(flagName))
  return NODE_RUNTIME_FLAGS.filter((f) => !set.has(flagName(f)))
}

/**
 * The node arguments for a child node process: the parent's own (`execArgv`, e.g. a TypeScript
 * loader), then every runtime flag that neither they nor NODE_OPTIONS set.
 */
export function childNodeArgs (execArgv: readonly string[] = process.execArgv, nodeOptions: string | undefined = process.env.NODE_OPTIONS): string[] {
  return [...execArgv, ...missingRuntimeFlags(execArgv, nodeOptions)]
}
