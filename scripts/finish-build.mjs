// Marks the two builds' module kinds and adds the CommonJS entry, whose
// module.exports is the plugin itself (as with every Fastify plugin), carrying
// the named exports as properties.
import { writeFileSync } from 'node:fs'

writeFileSync('dist/esm/package.json', JSON.stringify({ type: 'module' }) + '\n')
writeFileSync('dist/cjs/package.json', JSON.stringify({ type: 'commonjs' }) + '\n')
writeFileSync('dist/cjs/require.js', `'use strict'
const built = require('./index.js')
module.exports = Object.assign(built.default, built)
`)
