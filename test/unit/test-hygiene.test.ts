// Rules the test suite holds itself to, checked on its own source.
import { test } from 'node:test'
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
