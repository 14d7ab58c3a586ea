// Regression test (sticky mode, lib/sticky/sticky-sessions.ts keep()): a
// read-only request that loaded a session from memcached must not replace
// the copy a concurrent request of the same process wrote and holds since.
// Before the fix the slow reader put its older bytes back in the process, the
// process served them, and its next write built on them: a completed write
// was lost. The second test is the same race for a read-only request served
// from the process itself. On the in-memory memcached.
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

// Regression: a read-only request served from the process (not loaded from
// memcached) that finished after a concurrent write of the same process
// pointed the held entry back at its own older attributes object
test('a slow read-only request served from the process does not put older data back over a concurrent write', async () => {
  const cluster = await startMemoryCluster(2)
  resources.clusters.push(cluster)
  const gates = [0, 1, 2].map(() => {
    let open: () => void = () => {}
    const promise = new Promise<void>((resolve) => { open = resolve })
    return { promise, resolve: open }
  })
  let entered = 0
  const build = async (options: TestAppOptions): Promise<FastifyInstance> => {
    const app = await buildApp(options)
    app.get('/slow-write', async (request) => {
      request.session.get('n')
      entered++
      await gates[0]?.promise
      request.session.set('who', 'writer')
      return {}
    })
    app.get('/slow-read/:gate', async (request) => {
      const who = request.session.get('who') ?? null
      entered++
      await gates[Number((request.params as { gate: string }).gate)]?.promise
      return { who }
    })
    app.get('/who', async (request) => ({ who: request.session.get('who') ?? null }))
    return app
  }
  const options = { sticky: true, operationTimeout: 300 }
  const first = await startApp(cluster, resources.apps, options)
  const second = await startApp(cluster, resources.apps, options, { build })
  const client = new CookieClient(first.base)
  await client.get('/count')
  await drained(first.app)
  client.base = second.base
  const write = client.get('/slow-write')
  await waitFor(() => entered === 1, 'the slow write to load the session')
  await client.get('/read') // the second instance now holds the session
  const servedLocally = client.get('/slow-read/1')
  // a second local reader keeps the older attributes object alive
  const keepsOldObject = client.get('/slow-read/2')
  await waitFor(() => entered === 3, 'both readers to be served from the process')
  gates[0]?.resolve()
  await write
  await drained(second.app)
  gates[1]?.resolve()
  assert.equal((await servedLocally).body.who, null, 'the slow read saw what it was served')
  await drained(second.app)
  try {
    assert.equal((await client.get('/who')).body.who, 'writer', 'the process still holds the write')
  } finally {
    gates[2]?.resolve()
    await keepsOldObject
  }
  await drained(second.app)
  const fresh = await startApp(cluster, resources.apps, options, { build })
  client.base = fresh.base
  assert.equal((await client.get('/who')).body.who, 'writer', 'memcached has it too')
})
