// Completes dist/ after tsc built the CommonJS implementation in dist/cjs:
// - dist/cjs/require.js: module.exports is the plugin itself (as with every
//   Fastify plugin), carrying the named exports as properties;
// - dist/cjs/require.d.ts: its types in the `export =` namespace pattern of
//   Fastify's plugins, so that node10 and node16-CommonJS resolution see what
//   require() gives (an `export default` there would make TypeScript ask for
//   a `.default` that a CommonJS app never needs);
// - dist/esm: a thin ES module facade over the same implementation, so an app
//   that mixes import and require still has one plugin and one Session class.
// The facade's names are read from the built CommonJS module, never listed by
// hand, so every name require() gives is also an ES named export.
import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import ts from 'typescript'

writeFileSync('dist/cjs/package.json', JSON.stringify({ type: 'commonjs' }) + '\n')
writeFileSync('dist/cjs/require.js', `'use strict'
const built = require('./index.js')
module.exports = Object.assign(built.default, built)
`)

const required = createRequire(import.meta.url)('../dist/cjs/require.js')
const names = Object.keys(required).filter((name) => name !== 'default' && name !== '__esModule').sort()
const identifier = /^[A-Za-z_$][\w$]*$/
const unusable = names.filter((name) => !identifier.test(name))
if (unusable.length > 0) throw new Error(`CommonJS exports that cannot be ES named exports: ${unusable.join(', ')}`)

writeFileSync('dist/cjs/require.d.ts', commonJsDeclarations(names, typeOnlyExports(names)))

/** The names that index.d.ts exports as types only: every export that require() does not give. */
function typeOnlyExports (valueNames) {
  const file = 'dist/cjs/index.d.ts'
  const program = ts.createProgram([file], { noEmit: true })
  const checker = program.getTypeChecker()
  const exported = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(file))).map((symbol) => symbol.name)
  const undeclared = valueNames.filter((name) => !exported.includes(name))
  if (undeclared.length > 0) throw new Error(`CommonJS exports without a type declaration: ${undeclared.join(', ')}`)
  return exported.filter((name) => name !== 'default' && !valueNames.includes(name)).sort()
}

function commonJsDeclarations (values, types) {
  // The namespace's own name must not be one it exports (TS2440)
  if (values.includes('msm') || types.includes('msm')) throw new Error('rename the namespace of require.d.ts: msm is an export')
  return `// The types of require('fastify-msm'): the plugin, carrying every named export
import { msmPlugin as plugin, ${values.join(', ')} } from './index.js'
import type { ${types.join(', ')} } from './index.js'

declare function msm (...args: Parameters<typeof plugin>): ReturnType<typeof plugin>
declare namespace msm {
  export { plugin as default, ${values.join(', ')} }
  export type { ${types.join(', ')} }
}
export = msm
`
}

mkdirSync('dist/esm', { recursive: true })
writeFileSync('dist/esm/package.json', JSON.stringify({ type: 'module' }) + '\n')
writeFileSync('dist/esm/index.js', `import msm from '../cjs/require.js'
export default msm
export const { ${names.join(', ')} } = msm
`)
// A default import of a CommonJS module is its module.exports; a named import is exact
writeFileSync('dist/esm/index.d.ts', `import { msmPlugin } from '../cjs/index.js'
export * from '../cjs/index.js'
export default msmPlugin
`)
console.log(`dist/cjs/require.d.ts and dist/esm re-export ${names.length} names: ${names.join(', ')}`)
