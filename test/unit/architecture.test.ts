// The module structure of lib/ as rules that fail the build when broken:
// layers by who does I/O, imports only downward (or within a layer), no
// cycles, and no file much over 300 lines. docs/how-it-works.md#architecture
// explains the layers. The figures are printed for reviews of a change.
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'

const root = join(__dirname, '..', '..')
const lib = join(root, 'lib')

/** Bottom to top. A module may import from its own layer or any layer below. */
const LAYERS: Array<{ name: string, members: string[] }> = [
  { name: 'foundation: public types, errors, ids, counters, utilities', members: ['types/', 'errors.ts', 'ids/', 'stats/', 'util/', 'events/'] },
  { name: 'pure logic: options, serialization, encryption', members: ['options/', 'serialization/', 'crypto/'] },
  { name: 'one memcached node', members: ['memcached/'] },
  { name: 'the node ring: placement and health', members: ['cluster/'] },
  { name: 'sessions in memcached, locks, monitoring', members: ['store/', 'locking/', 'monitoring/'] },
  { name: 'the request: sessions, cookies, persistence, sticky mode', members: ['session/', 'sticky/'] },
  { name: 'the plugin', members: ['plugin.ts', 'index.ts'] }
]
const MAX_LINES = 300

function libFiles (dir = lib): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return libFiles(path)
    return entry.name.endsWith('.ts') ? [relative(lib, path)] : []
  })
}

function layerOf (file: string): number {
  const index = LAYERS.findIndex((layer) => layer.members.some((member) => member.endsWith('/') ? file.startsWith(member) : file === member))
  assert.notEqual(index, -1, `lib/${file} belongs to no layer: add it to LAYERS in test/unit/architecture.test.ts`)
  return index
}

function importsOf (file: string): string[] {
  const text = readFileSync(join(lib, file), 'utf8')
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)]
    .map((match) => normalize(join(dirname(file), (match[1] as string).replace(/\.js$/, '.ts'))))
}

function findCycles (graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = []
  const state = new Map<string, 'visiting' | 'done'>()
  const path: string[] = []
  const visit = (file: string): void => {
    if (state.get(file) === 'done') return
    if (state.get(file) === 'visiting') {
      cycles.push([...path.slice(path.indexOf(file)), file])
      return
    }
    state.set(file, 'visiting')
    path.push(file)
    for (const target of graph.get(file) ?? []) visit(target)
    path.pop()
    state.set(file, 'done')
  }
  for (const file of graph.keys()) visit(file)
  return cycles
}

const files = libFiles()
const graph = new Map(files.map((file) => [file, importsOf(file)]))

test('every relative import in lib/ names a file of lib/', () => {
  for (const [file, targets] of graph) {
    for (const target of targets) assert.ok(graph.has(target), `lib/${file} imports lib/${target}, which does not exist`)
  }
})

test('imports run down the layers, never up', (t) => {
  const upward: string[] = []
  let arrows = 0
  for (const [file, targets] of graph) {
    for (const target of targets) {
      arrows++
      if (layerOf(target) > layerOf(file)) upward.push(`lib/${file} (${LAYERS[layerOf(file)]?.name}) -> lib/${target} (${LAYERS[layerOf(target)]?.name})`)
    }
  }
  t.diagnostic(`${files.length} files, ${LAYERS.length} layers, ${arrows} import arrows, ${upward.length} upward`)
  assert.deepEqual(upward, [])
})

test('no import cycles', () => {
  assert.deepEqual(findCycles(graph).map((cycle) => cycle.join(' -> ')), [])
})

test(`no file in lib/ is over ${MAX_LINES} lines`, (t) => {
  const sizes = files.map((file) => ({ file, lines: readFileSync(join(lib, file), 'utf8').split('\n').length - 1 }))
  const total = sizes.reduce((sum, { lines }) => sum + lines, 0)
  const largest = sizes.reduce((a, b) => (b.lines > a.lines ? b : a))
  t.diagnostic(`largest: lib/${largest.file}, ${largest.lines} of ${total} lines (${(100 * largest.lines / total).toFixed(1)}%)`)
  assert.deepEqual(sizes.filter(({ lines }) => lines > MAX_LINES).map(({ file, lines }) => `lib/${file}: ${lines}`), [])
})
