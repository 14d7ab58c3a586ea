// Regression test (sticky mode, lib/sticky/sticky-sessions.ts keep()): a
// read-only request that loaded a session from memcached must not replace
// the copy a concurrent request of the same process wrote and holds since.
// Before the fix the slow reader put its older bytes back in the process, the
// process served them, and its next write built on them: a completed write
// was lost. On the in-memory memcached.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { buildApp, CookieClient, drained, startApp, type TestAppOptions, waitFor } from '../helpers/app.js'

const resources = usePerTestCleanup()

test('a slow read-only request does not put older data back over a concurrent write it did not see', async () => {
  const cluster = await startMemoryCluster(2)
  resources.clusters.push(cluster)
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  let waiting = 0
  const build = async (options: TestAppOptions): Promise<FastifyInstance> => {
    const app = await buildApp(options)
    app.get('/slow-read', async (request) => {
      const n = request.session.get('n')
      waiting++
      await gate
      return { n }
    })
    return app
  }
  const options = { sticky: true, operationTimeout: 300 }
  const writer = await startApp(cluster, resources.apps, options)
  const reader = await startApp(cluster, resources.apps, options, { build })
  const client = new CookieClient(writer.base)
  await client.get('/count')
  await drained(writer.app)
  // The second instance does not hold the session: both requests load it from memcached
  client.base = reader.base
  const slow = client.get('/slow-read')
  await waitFor(() => waiting === 1, 'the slow read to load the session')
  assert.equal((await client.get('/count')).body.n, 2, 'a concurrent write')
  await drained(reader.app)
  release()
  assert.equal((await slow).body.n, 1, 'the slow read saw what it loaded')
  await drained(reader.app)
  assert.equal((await client.get('/read')).body.n, 2, 'the process still holds the write')
  assert.equal((await client.get('/count')).body.n, 3, 'and builds on it')
  await drained(reader.app)
  const fresh = await startApp(cluster, resources.apps, options)
  client.base = fresh.base
  assert.equal((await client.get('/read')).body.n, 3, 'memcached has it too')
})
