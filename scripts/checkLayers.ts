/**
 * The import rule of src/ (docs/ARCHITECTURE.md, "Layers"): each folder of src/ may import only
 * the folders listed for it in LAYERS, and no two files may import each other, directly or around
 * a loop. `npm run lint` runs this file; test/unit/layout.test.ts runs the same check in `npm test`.
 *
 *   node --import tsx scripts/checkLayers.ts      prints every violation, exits 1 if there is one
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Which folders of src/ each folder may import (besides itself), bottom layer first. A folder
 * missing here may import nothing, and an import of it is a violation too: adding a folder means
 * placing it in this table.
 */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  util: [],
  crypto: ['util'],
  types: ['util', 'crypto'],
  keystore: ['util', 'crypto'],
  contracts: ['util', 'crypto', 'types'],
  chain: ['util', 'crypto', 'types'],
  consensus: ['util', 'crypto', 'types'],
  blobs: ['util', 'crypto', 'types'],
  records: ['util', 'crypto', 'types', 'contracts'],
  proof: ['util', 'crypto', 'types', 'contracts', 'chain'],
  p2p: ['util', 'crypto', 'types', 'blobs'],
  rpc: ['util', 'crypto', 'types', 'contracts', 'chain', 'proof', 'blobs'],
  node: ['util', 'crypto', 'types', 'keystore', 'contracts', 'chain', 'consensus', 'blobs', 'p2p', 'rpc'],
  sim: ['util', 'crypto', 'types', 'contracts', 'chain', 'consensus', 'p2p', 'node'],
  cli: ['util', 'crypto', 'types', 'keystore', 'contracts', 'chain', 'consensus', 'blobs', 'records', 'proof', 'rpc', 'node']
}

/** One source file: its path relative to the repository root and its text. */
export interface SourceFile { path: string, text: string }

export interface Violation { file: string, imports: string, why: string }

const IMPORT_RE = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^import\s*['"]([^'"]+)['"]/gm

/** The relative specifiers a file imports (static, `export … from`, dynamic), comments excluded. */
export function importsOf (text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
  const out: string[] = []
  for (const m of code.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2] ?? m[3]
    if (spec !== undefined && spec.startsWith('.')) out.push(spec)
  }
  return out
}

/** The src/ folder of a repo-relative path ('src/chain/store/x.ts' → 'chain'), or undefined outside src/. */
function folderOf (path: string): string | undefined {
  const parts = path.split('/')
  return parts[0] === 'src' && parts.length > 2 ? parts[1] : undefined
}

/** Checks the layer table and the absence of file cycles over `files` (paths use '/'). */
export function checkLayers (files: readonly SourceFile[], layers: Readonly<Record<string, readonly string[]>> = LAYERS): Violation[] {
  const violations: Violation[] = []
  const known = new Set(files.map((f) => f.path))
  const graph = new Map<string, string[]>()
  for (const f of files) {
    const from = folderOf(f.path)
    if (f.path.startsWith('src/') && from === undefined) {
      violations.push({ file: f.path, imports: '', why: 'a file directly in src/ belongs to no layer; put it in a folder of LAYERS' })
    }
    const edges: string[] = []
    for (const spec of importsOf(f.text)) {
      const target = join(dirname(f.path), spec).split(sep).join('/').replace(/\.js$/, '.ts')
      if (known.has(target)) edges.push(target)
      const to = folderOf(target)
      if (from === undefined) continue
      if (!target.startsWith('src/')) {
        violations.push({ file: f.path, imports: spec, why: 'src/ may not import from outside src/' })
      } else if (to !== undefined && to !== from) {
        const allowed = layers[from]
        if (allowed === undefined) violations.push({ file: f.path, imports: spec, why: `src/${from} is not in the layer table` })
        else if (!allowed.includes(to)) violations.push({ file: f.path, imports: spec, why: `src/${from} may not import src/${to} (allowed: ${allowed.join(', ') || 'nothing'})` })
      }
    }
    graph.set(f.path, edges)
  }
  for (const cycle of findCycles(graph)) {
    violations.push({ file: cycle[0] as string, imports: '', why: `import cycle: these files import each other in a loop: ${cycle.join(', ')}` })
  }
  return violations
}

/** The strongly connected components of more than one file (Tarjan), each as a list of its files. */
function findCycles (graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const out: string[][] = []
  const visit = (v: string): void => {
    index.set(v, next); low.set(v, next); next++
    stack.push(v); onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v) as number, low.get(w) as number)) } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number))
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = []
      let w: string
      do { w = stack.pop() as string; onStack.delete(w); component.push(w) } while (w !== v)
      if (component.length > 1) out.push(component.sort())
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  return out
}

/** Every .ts file under src/ of the repository at `root`. */
export function readSources (root: string): SourceFile[] {
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((name) => {
    const full = join(dir, name)
    return statSync(full).isDirectory() ? walk(full) : name.endsWith('.ts') ? [full] : []
  })
  return walk(join(root, 'src')).sort().map((full) => ({ path: relative(root, full).split(sep).join('/'), text: readFileSync(full, 'utf8') }))
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
  const violations = checkLayers(readSources(root))
  for (const v of violations) console.error(`${v.file}: ${v.why}${v.imports !== '' ? ` ('${v.imports}')` : ''}`)
  if (violations.length > 0) {
    console.error(`${violations.length} layer violation(s); the rule is in docs/ARCHITECTURE.md ("Layers") and LAYERS in scripts/checkLayers.ts`)
    process.exit(1)
  }
}
