// Rules the test suite holds itself to, checked on its own source.
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(__dirname, '..')
const files = ['unit', 'integration'].flatMap((dir) => readdirSync(join(root, dir)).filter((name) => name.endsWith('.ts')).map((name) => join(dir, name)))

test('a file that counts memcached operations never counts them on a cluster that other tests share', () => {
  const offenders = files.filter((file) => {
    const source = readFileSync(join(root, file), 'utf8')
    return /operationsDuring|cluster\.operations\(\)/.test(source) && /useSharedCluster\(/.test(source)
  })
  assert.deepEqual(offenders, [], 'use useClusterPerTest (test/helpers/fixtures.ts), or nodes of the test\'s own, so that counts see only the test\'s own traffic')
})

test('every test file takes test, describe and the hooks from test/helpers/node-test.ts, which bounds each test and hook', () => {
  const all = ['unit', 'integration', 'package', 'helpers', 'soak'].flatMap((dir) => readdirSync(join(root, dir))
    .filter((name) => /\.(ts|mjs)$/.test(name) && name !== 'node-test.ts').map((name) => join(dir, name)))
  const source = (file: string): string => readFileSync(join(root, file), 'utf8')
  // An ES module (.mjs) cannot take the TypeScript helper (tsx hands it to c8 as a data: URL): it uses
  // node:test and gives every test a timeout of its own
  const offenders = all.filter((file) => !file.endsWith('.mjs') && /^import [^\n]* from 'node:test'/m.test(source(file)))
  assert.deepEqual(offenders, [], 'import from ../helpers/node-test.js instead: on Node.js 20, `--test-timeout` bounds a whole file, not a test')
  const unbounded = all.filter((file) => file.endsWith('.mjs')).flatMap((file) =>
    source(file).split('\n').filter((line) => /^test\(/.test(line) && !/BOUNDED|timeout/.test(line)).map((line) => `${file}: ${line}`))
  assert.deepEqual(unbounded, [], 'give the test a timeout: test(name, { timeout }, fn)')
})

test('no test waits on one of its own promises without a bound: a held handler is awaited through within()', () => {
  // The pattern that hung the unit run for ten minutes: `await entered` on a promise that a handler
  // resolves, when the handler failed before it did
  const offenders = files.filter((file) => /^\s*await (held\.)?entered\b/m.test(readFileSync(join(root, file), 'utf8')))
  assert.deepEqual(offenders, [], 'await within(entered, ms, "what it waits for") (test/helpers/node-test.ts)')
})
