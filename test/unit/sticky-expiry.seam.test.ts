// Sticky mode (lib/sticky/sticky-sessions.ts) ends sessions the process holds
// exactly as non-sticky mode does: idle past maxInactiveInterval or past
// maxAge (mocked clock, test/helpers/clock.ts), destroyed, or regenerated.
// The process must not serve them from memory afterwards, and their stored
// copies go too.
// Written for mutants that survived the rest of the suite (test/mutation/REPORT.md).
import { test } from '../helpers/node-test.js'
import assert from 'node:assert/strict'
import { type MemoryCluster, startMemoryCluster } from '../helpers/memory-memcached.js'
import { usePerTestCleanup } from '../helpers/fixtures.js'
import { drained, idOf, startApp, type StartedApp } from '../helpers/app.js'
import { mockedClock } from '../helpers/clock.js'
import { copyOf } from '../helpers/requests.js'

const resources = usePerTestCleanup()

async function sticky (options: Record<string, unknown> = {}): Promise<StartedApp & { cluster: MemoryCluster }> {
  const cluster = await startMemoryCluster(2)
  resources.clusters.push(cluster)
  const started = await startApp(cluster, resources.apps, { sticky: true, operationTimeout: 300, ...options })
  return { cluster, ...started }
}

const stored = (cluster: MemoryCluster, id: string): boolean => cluster.nodes.some((node) => node.server.peek(id) !== undefined || node.server.peek(`bak:${id}`) !== undefined)

test('a held session idle past maxInactiveInterval is a new session, and its stored copies are deleted', async (t) => {
  const advance = mockedClock(t)
  const { app, client, cluster } = await sticky({ maxInactiveInterval: 10, touchInterval: 1 })
  await client.get('/count')
  await drained(app)
  const id = idOf(client)
  await advance(9_000)
  assert.equal((await client.get('/read')).body.n, 1, 'within maxInactiveInterval of the last request')
  await advance(10_100)
  const before = app.msm.stats()
  const late = await client.get('/read')
  assert.equal(late.body.n, null)
  assert.equal(late.body.isNew, true)
  const stats = app.msm.stats()
  assert.equal(stats.expired - before.expired, 1)
  assert.equal(stats.localHits - before.localHits, 0)
  assert.equal(stats.requestsWithoutSession - before.requestsWithoutSession, 1)
  assert.equal(stats.localSessions, 0)
  assert.equal(stored(cluster, id), false, 'no copy left to bring it back')
})

test('a held session past maxAge is a new session, not served from the process', async (t) => {
  const advance = mockedClock(t)
  const { app, client } = await sticky({ maxAge: 1 })
  assert.equal((await client.get('/count')).body.n, 1)
  assert.equal(app.msm.stats().localSessions, 1, 'held in the process')
  await advance(1300)
  const late = await client.get('/read')
  assert.equal(late.body.n, null, 'past maxAge the session is gone, even from the process')
  assert.equal(late.body.isNew, true)
  assert.ok(app.msm.stats().expired >= 1)
  assert.ok(app.msm.stats().localHits === 0, 'the late request was not served from the process')
})

test('a destroyed session is no longer held: its old cookie finds nothing', async () => {
  const { app, client } = await sticky()
  await client.get('/count')
  await drained(app)
  const old = copyOf(client)
  assert.equal((await client.post('/destroy')).status, 200)
  assert.equal(app.msm.stats().localSessions, 0)
  const read = await old.get('/read')
  assert.equal(read.body.n, null)
  assert.equal(read.body.isNew, true)
})

test('a regenerated session is held under its new id only', async () => {
  const { app, client } = await sticky()
  await client.get('/count')
  await drained(app)
  const old = copyOf(client)
  await client.post('/regenerate', { keep: ['n'] })
  await drained(app)
  assert.equal(app.msm.stats().localSessions, 1)
  assert.equal((await client.get('/read')).body.n, 1)
  assert.equal((await old.get('/read')).body.n, null, 'the old id is gone')
})
