/**
 * The import rule of src/ (scripts/checkLayers.ts, docs/ARCHITECTURE.md "Layers"): the repository
 * keeps it, and the check catches a back-reference, a file outside every layer and an import cycle.
 */
import assert from 'node:assert/strict'
import { resolve } from 'node:path'
import { describe, it } from 'node:test'
import { checkLayers, importsOf, LAYERS, readSources, type SourceFile } from '../../scripts/checkLayers.js'

const ROOT = resolve(import.meta.dirname, '../..')

void describe('layout: the import rule of src/', () => {
  it('every file of src/ keeps the layer table and no files import each other in a loop', () => {
    const files = readSources(ROOT)
    assert.ok(files.length > 100, `found only ${files.length} source files`)
    assert.deepEqual(checkLayers(files), [])
  })

  it('every folder of src/ is in the layer table, and a folder may only import folders listed before it', () => {
    const folders = new Set(readSources(ROOT).map((f) => f.path.split('/')[1] as string))
    for (const folder of folders) assert.ok(LAYERS[folder] !== undefined, `src/${folder} has no entry in LAYERS`)
    const order = Object.keys(LAYERS)
    for (const [folder, allowed] of Object.entries(LAYERS)) {
      for (const lower of allowed) assert.ok(order.indexOf(lower) < order.indexOf(folder), `${folder} may import ${lower}, which is not below it`)
    }
  })

  it('reports a back-reference from a lower layer, naming the file, the import and the rule', () => {
    const files: SourceFile[] = [
      { path: 'src/types/block.ts', text: "import { x } from '../crypto/hash.js'\nimport type { Chain } from '../chain/chain.js'\n" },
      { path: 'src/chain/chain.ts', text: "import { y } from '../types/block.js'\n" },
      { path: 'src/crypto/hash.ts', text: '' }
    ]
    assert.deepEqual(checkLayers(files).filter((v) => !v.why.startsWith('import cycle')), [
      { file: 'src/types/block.ts', imports: '../chain/chain.js', why: 'src/types may not import src/chain (allowed: util, crypto)' }
    ])
  })

  it('reports a cycle between files of one folder, a dynamic import included', () => {
    const files: SourceFile[] = [
      { path: 'src/cli/a.ts', text: "import { b } from './b.js'\n" },
      { path: 'src/cli/b.ts', text: "export async function f () { return await import('./c.js') }\n" },
      { path: 'src/cli/c.ts', text: "export { a } from './a.js'\n" },
      { path: 'src/cli/d.ts', text: "import { a } from './a.js'\n" }
    ]
    const v = checkLayers(files)
    assert.equal(v.length, 1)
    assert.match(v[0]?.why ?? '', /import cycle: .*src\/cli\/a\.ts, src\/cli\/b\.ts, src\/cli\/c\.ts$/)
  })

  it('reports a file directly in src/, an unknown folder, and an import from outside src/', () => {
    const v = checkLayers([
      { path: 'src/loose.ts', text: '' },
      { path: 'src/newthing/x.ts', text: "import { a } from '../util/errors.js'\n" },
      { path: 'src/util/errors.ts', text: "import { t } from '../../test/utils/factories.js'\n" }
    ])
    assert.deepEqual(v.map((x) => x.why), [
      'a file directly in src/ belongs to no layer; put it in a folder of LAYERS',
      'src/newthing is not in the layer table',
      'src/ may not import from outside src/'
    ])
  })

  it('reads static, type-only, re-export, side-effect and dynamic imports, and skips commented ones', () => {
    const text = [
      "import { a } from './a.js'",
      "import type { B } from '../b.js'",
      "export { c } from './c.js'",
      "import './d.js'",
      "const e = await import('./e.js')",
      "// import { f } from './f.js'",
      "/* import { g } from './g.js' */",
      "import { h } from 'node:fs'"
    ].join('\n')
    assert.deepEqual(importsOf(text), ['./a.js', '../b.js', './c.js', './d.js', './e.js'])
  })
})
