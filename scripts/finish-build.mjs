// Completes dist/ after tsc built the CommonJS implementation in dist/cjs:
// - dist/cjs/require.js: module.exports is the plugin itself (as with every
//   Fastify plugin), carrying the named exports as properties;
// - dist/esm: a thin ES module facade over the same implementation, so an app
//   that mixes import and require still has one plugin and one Session class.
// The facade's names are read from the built CommonJS module, never listed by
// hand, so every name require() gives is also an ES named export.
import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'

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
console.log(`dist/esm re-exports ${names.length} names: ${names.join(', ')}`)
